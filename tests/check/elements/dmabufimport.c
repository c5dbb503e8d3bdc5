/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
/* dmabufimport fed by appsrc with memfd "DMA-BUFs" (GSTREAMER-1.22.md: a
 * memfd wrapped by the DMA-BUF allocator maps like one), read back with
 * gldownload and checked pixel by pixel.
 *
 * Three test cases (CK_RUN_CASE), three meson tests:
 * - "general" (elements_dmabufimport): everywhere.  The CPU path forced
 *   with egl-import=false (pixel-exact for each format, flip, layouts),
 *   caps in this GStreamer's DMA-BUF form, context sharing, the headless
 *   display, the errors, the import cache as a unit;
 * - "import" (elements_dmabufimport_egl): the EGL import path, where EGL
 *   device 0 has EGL_EXT_image_dma_buf_import (Debian 13's llvmpipe
 *   imports a memfd for real): pixel-exact for each format, the flip, the
 *   import cache across frames, buffers and new caps, the import forced
 *   off; exits 77 (skipped) where the display cannot import;
 * - "no-import" (elements_dmabufimport_noimport): what a display without
 *   the extension does (Debian 12's llvmpipe): the fallback's warning and
 *   the error with cpu-fallback=false, both naming the extension; exits 77
 *   where the display can import.
 * Run by hand without CK_RUN_CASE, the binary runs the cases this machine
 * has what they need for, and says which it left out. */
#define _GNU_SOURCE             /* memfd_create */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <EGL/egl.h>
#include <gst/allocators/allocators.h>
#include <gst/app/app.h>
#include <gst/check/gstcheck.h>
#include "gpucheck.h"
#include <gst/gl/egl/gstgldisplay_egl.h>
#include <gst/gl/egl/gstgldisplay_egl_device.h>
#include <gst/gl/gl.h>
#include <gst/video/video.h>

#include "gstdmabufcache.h"
#include "gstdrmformat.h"

#define EXTENSION "EGL_EXT_image_dma_buf_import"
#define WIDTH 7
#define HEIGHT 5
/* larger than WIDTH * 4, and the plane does not start at the fd's start */
#define STRIDE (WIDTH * 4 + 12)
#define OFFSET 64
#define TIMEOUT (10 * GST_SECOND)

static const gchar *const formats[] = { "BGRx", "BGRA", "RGBx", "RGBA" };

/* ---------------------------------------------------------------------- */
/* Frames                                                                 */

/* byte i (memory order) of pixel (x, y) of frame n: all distinct enough
 * that a swapped channel, a wrong row or column or a blend shows */
static guint8
pattern (gint n, gint x, gint y, gint i)
{
  switch (i) {
    case 0:
      return (x * 29 + y * 7 + n * 3) & 0xff;
    case 1:
      return (y * 41 + x * 3 + n * 5 + 1) & 0xff;
    case 2:
      return ((x + y) * 17 + n * 11 + 2) & 0xff;
    default:
      return (0x80 + x * 5 + y * 13 + n) & 0xff;
  }
}

/* the RGBA pixel dmabufimport must produce from pattern's bytes */
static void
expected_rgba (const gchar * format, gint n, gint x, gint y, guint8 out[4])
{
  guint8 b[4];
  gint i;

  for (i = 0; i < 4; i++)
    b[i] = pattern (n, x, y, i);
  if (format[0] == 'B') {
    out[0] = b[2];
    out[1] = b[1];
    out[2] = b[0];
  } else {
    out[0] = b[0];
    out[1] = b[1];
    out[2] = b[2];
  }
  out[3] = format[3] == 'x' ? 0xff : b[3];
}

/* Writes frame n into a memfd at its layout: with a meta STRIDE and
 * OFFSET, with garbage in the padding; without, the default layout. */
static void
paint (gint fd, gint n, gboolean with_meta, gint stride)
{
  gint offset = with_meta ? OFFSET : 0;
  gsize size;
  guint8 *map;
  gint x, y, i;

  size = offset + stride * (gsize) HEIGHT;
  fail_unless (ftruncate (fd, size) == 0);
  map = mmap (NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  fail_unless (map != MAP_FAILED);
  memset (map, 0xee, size);
  for (y = 0; y < HEIGHT; y++)
    for (x = 0; x < WIDTH; x++)
      for (i = 0; i < 4; i++)
        map[offset + y * stride + x * 4 + i] = pattern (n, x, y, i);
  munmap (map, size);
}

/* A buffer of DMA-BUF memory on @fd (taken), as a producer sends it */
static GstBuffer *
wrap_frame (gint fd, const gchar * format, gint n, gboolean with_meta,
    gint stride)
{
  static GstAllocator *alloc;
  gsize size = (with_meta ? OFFSET : 0) + stride * (gsize) HEIGHT;
  GstBuffer *buf;

  if (!alloc)
    alloc = gst_dmabuf_allocator_new ();
  buf = gst_buffer_new ();
  gst_buffer_append_memory (buf, gst_dmabuf_allocator_alloc (alloc, fd, size));
  if (with_meta) {
    gsize offsets[GST_VIDEO_MAX_PLANES] = { OFFSET, };
    gint strides[GST_VIDEO_MAX_PLANES] = { stride, };

    gst_buffer_add_video_meta_full (buf, GST_VIDEO_FRAME_FLAG_NONE,
        gst_video_format_from_string (format), WIDTH, HEIGHT, 1, offsets,
        strides);
  }
  GST_BUFFER_PTS (buf) = n * GST_SECOND / 30;
  GST_BUFFER_DURATION (buf) = GST_SECOND / 30;
  return buf;
}

static gint
new_memfd (void)
{
  gint fd = memfd_create ("dmabufimport-test", MFD_CLOEXEC);

  fail_unless (fd >= 0);
  return fd;
}

/* A new memfd-backed DMA-BUF holding frame n */
static GstBuffer *
make_frame (const gchar * format, gint n, gboolean with_meta, gint stride)
{
  gint fd = new_memfd ();

  if (!with_meta)
    stride = WIDTH * 4;
  paint (fd, n, with_meta, stride);
  return wrap_frame (fd, format, n, with_meta, stride);
}

/* Frame n in the memfd @fd (kept by the caller): the same DMA-BUF again
 * with new content, as a guest redraws its scanout */
static GstBuffer *
reuse_frame (gint fd, const gchar * format, gint n)
{
  paint (fd, n, TRUE, STRIDE);
  return wrap_frame (fcntl (fd, F_DUPFD_CLOEXEC, 3), format, n, TRUE, STRIDE);
}

/* Caps for frames of @format in this GStreamer's DMA-BUF form:
 * format=DMA_DRM, drm-format=XR24 on >= 1.24; format=BGRx on 1.22 */
static GstCaps *
dmabuf_caps (const gchar * format)
{
  GstCaps *caps = gst_spice_dmabuf_caps_new (gst_video_format_from_string
      (format), GST_SPICE_DRM_MOD_LINEAR);

  fail_unless (caps != NULL, "%s", format);
  gst_caps_set_simple (caps, "width", G_TYPE_INT, WIDTH, "height",
      G_TYPE_INT, HEIGHT, "framerate", GST_TYPE_FRACTION, 30, 1, NULL);
  return caps;
}

static void
check_frame (GstSample * sample, const gchar * format, gint n, gboolean flip)
{
  GstVideoInfo info;
  GstVideoFrame frame;
  gint x, y;

  fail_unless (gst_video_info_from_caps (&info, gst_sample_get_caps (sample)));
  fail_unless_equals_int (GST_VIDEO_INFO_FORMAT (&info), GST_VIDEO_FORMAT_RGBA);
  fail_unless_equals_int (GST_VIDEO_INFO_WIDTH (&info), WIDTH);
  fail_unless_equals_int (GST_VIDEO_INFO_HEIGHT (&info), HEIGHT);
  fail_unless (gst_video_frame_map (&frame, &info,
          gst_sample_get_buffer (sample), GST_MAP_READ));
  for (y = 0; y < HEIGHT; y++) {
    const guint8 *row = (const guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&frame,
        0) + y * GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0);
    gint src_y = flip ? HEIGHT - 1 - y : y;

    for (x = 0; x < WIDTH; x++) {
      guint8 want[4];

      expected_rgba (format, n, x, src_y, want);
      if (memcmp (row + x * 4, want, 4) != 0)
        fail ("%s frame %d pixel (%d,%d): got %02x%02x%02x%02x, want "
            "%02x%02x%02x%02x (flip %d)", format, n, x, y, row[x * 4],
            row[x * 4 + 1], row[x * 4 + 2], row[x * 4 + 3], want[0], want[1],
            want[2], want[3], flip);
    }
  }
  gst_video_frame_unmap (&frame);
}

/* Does EGL device 0 (what the element opens) import DMA-BUFs?  Outside
 * tests too (main): no check macros; *@why says what was found. */
static gboolean
display_has_import (gchar ** why)
{
  GstGLDisplayEGLDevice *device = gst_gl_display_egl_device_new (0);
  GstGLDisplayEGL *egl;
  EGLDisplay dpy;
  const gchar *exts, *vendor;
  gboolean has;

  if (!device) {
    *why = g_strdup ("no EGL device 0");
    return FALSE;
  }
  egl = gst_gl_display_egl_from_gl_display (GST_GL_DISPLAY (device));
  dpy = (EGLDisplay) gst_gl_display_get_handle (GST_GL_DISPLAY (egl));
  if (!eglInitialize (dpy, NULL, NULL)) {
    *why = g_strdup ("EGL device 0 does not initialise");
    has = FALSE;
  } else {
    exts = eglQueryString (dpy, EGL_EXTENSIONS);
    vendor = eglQueryString (dpy, EGL_VENDOR);
    has = exts && strstr (exts, EXTENSION) != NULL;
    *why = g_strdup_printf ("EGL device 0 (%s) %s " EXTENSION,
        GST_STR_NULL (vendor), has ? "has" : "lacks");
  }
  gst_object_unref (egl);
  gst_object_unref (device);
  return has;
}

/* ---------------------------------------------------------------------- */
/* Pipelines                                                              */

typedef struct
{
  GstElement *pipeline, *src, *import, *download, *sink;
  GstBus *bus;
  guint warnings;               /* from dmabufimport */
  gchar *warning;               /* the last one */
} Pipe;

/* appsrc (DMA-BUF caps of @format) ! dmabufimport @import_props !
 * gldownload ! appsink, PLAYING */
static void
pipe_start (Pipe * p, const gchar * format, const gchar * import_props)
{
  GstCaps *caps = dmabuf_caps (format);
  gchar *desc;

  memset (p, 0, sizeof (*p));
  desc = g_strdup_printf ("appsrc name=src format=time ! "
      "dmabufimport name=import %s ! gldownload name=dl ! "
      "video/x-raw,format=RGBA ! appsink name=sink sync=false",
      import_props ? import_props : "");
  p->pipeline = gst_parse_launch (desc, NULL);
  g_free (desc);
  fail_unless (p->pipeline != NULL);
  p->src = gst_bin_get_by_name (GST_BIN (p->pipeline), "src");
  p->import = gst_bin_get_by_name (GST_BIN (p->pipeline), "import");
  p->download = gst_bin_get_by_name (GST_BIN (p->pipeline), "dl");
  p->sink = gst_bin_get_by_name (GST_BIN (p->pipeline), "sink");
  p->bus = gst_element_get_bus (p->pipeline);
  g_object_set (p->src, "caps", caps, NULL);
  gst_caps_unref (caps);
  fail_if (gst_element_set_state (p->pipeline, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE);
}

static void
pipe_stop (Pipe * p)
{
  fail_unless (gst_element_set_state (p->pipeline, GST_STATE_NULL) ==
      GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (p->bus);
  gst_object_unref (p->src);
  gst_object_unref (p->import);
  gst_object_unref (p->download);
  gst_object_unref (p->sink);
  gst_object_unref (p->pipeline);
  g_free (p->warning);
}

/* Fails on an error; counts the element's warnings.  (Popping with a
 * filter would discard the other messages.) */
static void
drain_bus (Pipe * p)
{
  GstMessage *msg;

  while ((msg = gst_bus_pop (p->bus))) {
    GError *err = NULL;
    gchar *dbg = NULL;

    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
      gst_message_parse_error (msg, &err, &dbg);
      fail ("error from %s: %s (%s)", GST_OBJECT_NAME (msg->src),
          err->message, dbg);
    }
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_WARNING
        && msg->src == GST_OBJECT (p->import)) {
      gst_message_parse_warning (msg, &err, &dbg);
      GST_INFO ("warning: %s (%s)", err->message, dbg);
      p->warnings++;
      g_free (p->warning);
      p->warning = g_strdup (err->message);
    }
    g_clear_error (&err);
    g_free (dbg);
    gst_message_unref (msg);
  }
}

static GstSample *
pull (Pipe * p)
{
  GstSample *sample =
      gst_app_sink_try_pull_sample (GST_APP_SINK (p->sink), TIMEOUT);

  drain_bus (p);
  fail_unless (sample != NULL, "no frame came out");
  return sample;
}

static void
push (Pipe * p, GstBuffer * buf)
{
  fail_unless_equals_int (gst_app_src_push_buffer (GST_APP_SRC (p->src), buf),
      GST_FLOW_OK);
}

/* pushes @buf (frame n of @format), checks what comes out */
static void
push_check (Pipe * p, GstBuffer * buf, const gchar * format, gint n,
    gboolean flip)
{
  GstSample *sample;

  push (p, buf);
  sample = pull (p);
  check_frame (sample, format, n, flip);
  gst_sample_unref (sample);
}

static guint64
stat (GstElement * import, const gchar * name)
{
  GstStructure *s;
  guint64 v = 0;

  g_object_get (import, "stats", &s, NULL);
  fail_unless (gst_structure_get_uint64 (s, name, &v), "no %s in stats", name);
  gst_structure_free (s);
  return v;
}

/* Push frames 0..n-1 of format (new DMA-BUFs), check each one; optionally
 * a tag first. */
static void
run_frames (Pipe * p, const gchar * format, gint n, GstTagList * tags,
    gboolean flip, gboolean with_meta)
{
  gint i;

  if (tags)
    fail_unless (gst_element_send_event (p->src, gst_event_new_tag (tags)));
  for (i = 0; i < n; i++)
    push_check (p, make_frame (format, i, with_meta, STRIDE), format, i, flip);
}

/* @n frames, all copied by the CPU */
static void
check_cpu_stats (Pipe * p, guint64 n)
{
  fail_unless_equals_uint64 (stat (p->import, "frames"), n);
  fail_unless_equals_uint64 (stat (p->import, "cpu-uploads"), n);
  fail_unless_equals_uint64 (stat (p->import, "bytes-copied"),
      n * WIDTH * HEIGHT * 4);
  fail_unless_equals_uint64 (stat (p->import, "imports"), 0);
  fail_unless_equals_uint64 (stat (p->import, "cache-hits"), 0);
}

/* @n frames, all imported through EGL: @imports EGLImages made, the rest
 * cache hits, nothing copied by the CPU */
static void
check_import_stats (Pipe * p, guint64 n, guint64 imports)
{
  fail_unless_equals_uint64 (stat (p->import, "frames"), n);
  fail_unless_equals_uint64 (stat (p->import, "imports"), imports);
  fail_unless_equals_uint64 (stat (p->import, "cache-hits"), n - imports);
  fail_unless_equals_uint64 (stat (p->import, "cpu-uploads"), 0);
  fail_unless_equals_uint64 (stat (p->import, "bytes-copied"), 0);
}

static GstTagList *
sticky_tags (Pipe * p)
{
  GstPad *pad = gst_element_get_static_pad (p->sink, "sink");
  GstEvent *event = gst_pad_get_sticky_event (pad, GST_EVENT_TAG, 0);
  GstTagList *tags = NULL;

  gst_object_unref (pad);
  if (event) {
    gst_event_parse_tag (event, &tags);
    tags = gst_tag_list_ref (tags);
    gst_event_unref (event);
  }
  return tags;
}

/* Frames with the flip tag (and a title), then back to top-down: the
 * flip applied and its tag not passed on, the title passed on */
static void
run_flip (Pipe * p, const gchar * format)
{
  GstTagList *tags;
  gchar *title = NULL, *orientation = NULL;

  run_frames (p, format, 2, gst_tag_list_new (GST_TAG_TITLE, "guest",
          GST_TAG_IMAGE_ORIENTATION, "flip-rotate-180", NULL), TRUE, TRUE);
  tags = sticky_tags (p);
  fail_unless (tags != NULL, "the title tag was not forwarded");
  fail_unless (gst_tag_list_get_string (tags, GST_TAG_TITLE, &title));
  fail_unless_equals_string (title, "guest");
  fail_if (gst_tag_list_get_string (tags, GST_TAG_IMAGE_ORIENTATION,
          &orientation), "orientation %s forwarded", orientation);
  g_free (title);
  gst_tag_list_unref (tags);

  run_frames (p, format, 1, gst_tag_list_new (GST_TAG_IMAGE_ORIENTATION,
          "rotate-0", NULL), FALSE, TRUE);
}

/* ---------------------------------------------------------------------- */
/* Tests: the CPU path, forced (everywhere)                               */

#define CPU "egl-import=false"

GST_START_TEST (test_cpu_formats_pixel_exact)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (formats); i++) {
    Pipe p;

    pipe_start (&p, formats[i], CPU);
    run_frames (&p, formats[i], 3, NULL, FALSE, TRUE);
    check_cpu_stats (&p, 3);
    /* asked for: no warning */
    fail_unless_equals_int (p.warnings, 0);
    pipe_stop (&p);
  }
}

GST_END_TEST;

GST_START_TEST (test_cpu_default_layout)
{
  Pipe p;

  /* no video meta: the default layout of the caps */
  pipe_start (&p, "BGRA", CPU);
  run_frames (&p, "BGRA", 2, NULL, FALSE, FALSE);
  check_cpu_stats (&p, 2);
  pipe_stop (&p);
}

GST_END_TEST;

GST_START_TEST (test_cpu_flip)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (formats); i++) {
    Pipe p;

    pipe_start (&p, formats[i], CPU);
    run_flip (&p, formats[i]);
    check_cpu_stats (&p, 3);
    pipe_stop (&p);
  }
}

GST_END_TEST;

GST_START_TEST (test_other_orientation_forwarded)
{
  GstTagList *tags;
  gchar *orientation = NULL;
  Pipe p;

  /* not ours to apply: forwarded, and the pixels stay as they are (on
   * whichever path this display takes) */
  pipe_start (&p, "RGBA", NULL);
  run_frames (&p, "RGBA", 1, gst_tag_list_new (GST_TAG_IMAGE_ORIENTATION,
          "rotate-90", NULL), FALSE, TRUE);
  tags = sticky_tags (&p);
  fail_unless (tags != NULL);
  fail_unless (gst_tag_list_get_string (tags, GST_TAG_IMAGE_ORIENTATION,
          &orientation));
  fail_unless_equals_string (orientation, "rotate-90");
  g_free (orientation);
  gst_tag_list_unref (tags);
  pipe_stop (&p);
}

GST_END_TEST;

/* egl-import=false and cpu-fallback=false: nothing left, one error */
GST_START_TEST (test_nothing_left_errors)
{
  GstMessage *msg;
  GError *err;
  gchar *dbg;
  Pipe p;

  pipe_start (&p, "BGRx", "egl-import=false cpu-fallback=false");
  push (&p, make_frame ("BGRx", 0, TRUE, STRIDE));
  msg = gst_bus_timed_pop_filtered (p.bus, TIMEOUT, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL, "no error within the timeout");
  fail_unless (msg->src == GST_OBJECT (p.import));
  gst_message_parse_error (msg, &err, &dbg);
  fail_unless (strstr (err->message, "egl-import and cpu-fallback are both "
          "disabled") != NULL, "%s", err->message);
  fail_unless_equals_uint64 (stat (p.import, "frames"), 0);
  g_error_free (err);
  g_free (dbg);
  gst_message_unref (msg);
  pipe_stop (&p);
}

GST_END_TEST;

GST_START_TEST (test_context_shared)
{
  GstGLContext *a = NULL, *b = NULL;
  Pipe p;

  pipe_start (&p, "RGBx", NULL);
  run_frames (&p, "RGBx", 1, NULL, FALSE, TRUE);
  g_object_get (p.import, "context", &a, NULL);
  g_object_get (p.download, "context", &b, NULL);
  fail_unless (a != NULL && b != NULL);
  fail_unless (a == b, "dmabufimport and gldownload use different contexts");
  /* what nvh264enc needs: a desktop GL 3 context (GStreamer >= 1.24 makes
   * GLES on EGL unless told otherwise) */
  fail_unless (gst_gl_context_get_gl_api (a) & GST_GL_API_OPENGL3,
      "not a GL3 context: %s", gst_gl_api_to_string
      (gst_gl_context_get_gl_api (a)));
  gst_object_unref (a);
  gst_object_unref (b);
  pipe_stop (&p);
}

GST_END_TEST;

/* ---------------------------------------------------------------------- */
/* Tests: the EGL import path ("import": where the display can import)    */

GST_START_TEST (test_import_formats_pixel_exact)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (formats); i++) {
    Pipe p;

    pipe_start (&p, formats[i], "cpu-fallback=false");
    /* three new DMA-BUFs: three imports, no CPU copy */
    run_frames (&p, formats[i], 3, NULL, FALSE, TRUE);
    check_import_stats (&p, 3, 3);
    fail_unless_equals_int (p.warnings, 0);
    pipe_stop (&p);
  }
}

GST_END_TEST;

GST_START_TEST (test_import_default_layout)
{
  Pipe p;

  pipe_start (&p, "BGRA", "cpu-fallback=false");
  run_frames (&p, "BGRA", 2, NULL, FALSE, FALSE);
  check_import_stats (&p, 2, 2);
  pipe_stop (&p);
}

GST_END_TEST;

GST_START_TEST (test_import_flip)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (formats); i++) {
    Pipe p;

    pipe_start (&p, formats[i], "cpu-fallback=false");
    run_flip (&p, formats[i]);
    check_import_stats (&p, 3, 3);
    pipe_stop (&p);
  }
}

GST_END_TEST;

/* A guest drawing into two scanout buffers in turn: each imported once,
 * then cache hits only, and every frame shows what the buffer holds now
 * (the EGLImage is the buffer, not a copy made at import). */
GST_START_TEST (test_import_cache_across_frames)
{
  gint fds[2] = { new_memfd (), new_memfd () };
  gint i;
  Pipe p;

  pipe_start (&p, "BGRx", "cpu-fallback=false");
  for (i = 0; i < 10; i++)
    push_check (&p, reuse_frame (fds[i % 2], "BGRx", i), "BGRx", i, FALSE);
  check_import_stats (&p, 10, 2);
  /* with the flip: the same imports */
  fail_unless (gst_element_send_event (p.src, gst_event_new_tag
          (gst_tag_list_new (GST_TAG_IMAGE_ORIENTATION, "flip-rotate-180",
                  NULL))));
  for (i = 10; i < 14; i++)
    push_check (&p, reuse_frame (fds[i % 2], "BGRx", i), "BGRx", i, TRUE);
  check_import_stats (&p, 14, 2);
  pipe_stop (&p);
  close (fds[0]);
  close (fds[1]);
}

GST_END_TEST;

/* More buffers than the cache holds (8), used in turn: the least recently
 * used goes first, so each comes back evicted; fewer buffers stay. */
GST_START_TEST (test_import_cache_eviction)
{
  gint fds[9], i;
  Pipe p;

  for (i = 0; i < 9; i++)
    fds[i] = new_memfd ();
  pipe_start (&p, "RGBA", "cpu-fallback=false");
  for (i = 0; i < 18; i++)
    push_check (&p, reuse_frame (fds[i % 9], "RGBA", i), "RGBA", i, FALSE);
  check_import_stats (&p, 18, 18);
  /* the eight used last stay cached: hits only */
  for (i = 18; i < 34; i++)
    push_check (&p, reuse_frame (fds[1 + i % 8], "RGBA", i), "RGBA", i, FALSE);
  check_import_stats (&p, 34, 18);
  /* the ninth went */
  push_check (&p, reuse_frame (fds[0], "RGBA", 34), "RGBA", 34, FALSE);
  check_import_stats (&p, 35, 19);
  pipe_stop (&p);
  for (i = 0; i < 9; i++)
    close (fds[i]);
}

GST_END_TEST;

/* New caps (a new scanout format): the cache is emptied, the same buffer
 * is imported again, in the new format. */
GST_START_TEST (test_import_cache_new_caps)
{
  gint fd = new_memfd ();
  GstCaps *caps;
  Pipe p;

  pipe_start (&p, "RGBx", "cpu-fallback=false");
  push_check (&p, reuse_frame (fd, "RGBx", 0), "RGBx", 0, FALSE);
  push_check (&p, reuse_frame (fd, "RGBx", 1), "RGBx", 1, FALSE);
  check_import_stats (&p, 2, 1);
  caps = dmabuf_caps ("BGRA");
  g_object_set (p.src, "caps", caps, NULL);
  gst_caps_unref (caps);
  push_check (&p, reuse_frame (fd, "BGRA", 2), "BGRA", 2, FALSE);
  push_check (&p, reuse_frame (fd, "BGRA", 3), "BGRA", 3, FALSE);
  check_import_stats (&p, 4, 2);
  pipe_stop (&p);
  close (fd);
}

GST_END_TEST;

/* Forced off where it would work: the CPU does it, and says nothing */
GST_START_TEST (test_import_forced_off)
{
  Pipe p;

  pipe_start (&p, "RGBA", CPU);
  run_frames (&p, "RGBA", 2, NULL, FALSE, TRUE);
  check_cpu_stats (&p, 2);
  fail_unless_equals_int (p.warnings, 0);
  pipe_stop (&p);
}

GST_END_TEST;

GST_START_TEST (test_headless_default)
{
  gchar *saved[N_WINDOW_VARS];
  GstGLContext *a = NULL, *b = NULL;
  GstGLDisplay *display;
  Pipe p;

  /* gldownload reaches READY first and asks its neighbours: without the
   * element's own display it would create an X11 one and fail */
  unset_window_env (saved);
  pipe_start (&p, "BGRA", NULL);
  run_frames (&p, "BGRA", 2, NULL, FALSE, TRUE);
  g_object_get (p.import, "context", &a, NULL);
  g_object_get (p.download, "context", &b, NULL);
  fail_unless (a != NULL && a == b);
  display = gst_gl_context_get_display (a);
  fail_unless_equals_int (gst_gl_display_get_handle_type (display),
      GST_GL_DISPLAY_TYPE_EGL_DEVICE);
  gst_object_unref (display);
  gst_object_unref (a);
  gst_object_unref (b);
  pipe_stop (&p);
  restore_window_env (saved);
}

GST_END_TEST;

GST_START_TEST (test_headless_bad_device)
{
  gchar *saved[N_WINDOW_VARS];
  GstElement *e;
  GstBus *bus;
  GstMessage *msg;
  GError *err;
  gchar *dbg;

  unset_window_env (saved);
  e = gst_element_factory_make ("dmabufimport", NULL);
  g_object_set (e, "device", 4242, NULL);
  bus = gst_bus_new ();
  gst_element_set_bus (e, bus);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_READY),
      GST_STATE_CHANGE_FAILURE);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL);
  gst_message_parse_error (msg, &err, &dbg);
  fail_unless (strstr (err->message, "EGL device 4242") != NULL, "%s",
      err->message);
  g_error_free (err);
  g_free (dbg);
  gst_message_unref (msg);
  gst_element_set_state (e, GST_STATE_NULL);
  gst_element_set_bus (e, NULL);
  gst_object_unref (bus);
  gst_object_unref (e);
  restore_window_env (saved);
}

GST_END_TEST;

static GstBusSyncReply
give_display (GstBus * bus, GstMessage * msg, gpointer data)
{
  const gchar *type;

  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_NEED_CONTEXT
      && gst_message_parse_context_type (msg, &type)
      && g_strcmp0 (type, GST_GL_DISPLAY_CONTEXT_TYPE) == 0) {
    GstContext *context = gst_context_new (GST_GL_DISPLAY_CONTEXT_TYPE, TRUE);

    gst_context_set_gl_display (context, data);
    gst_element_set_context (GST_ELEMENT (msg->src), context);
    gst_context_unref (context);
  }
  return GST_BUS_PASS;
}

GST_START_TEST (test_application_display)
{
  gchar *saved[N_WINDOW_VARS];
  GstGLDisplay *mine, *used;
  GstGLContext *a = NULL;
  GstElement *pipeline, *src, *import, *sink;
  GstBus *bus;
  GstSample *sample;
  GstCaps *caps;

  /* the application's display wins over the element's own */
  unset_window_env (saved);
  mine = GST_GL_DISPLAY (gst_gl_display_egl_device_new (0));
  pipeline = gst_parse_launch ("appsrc name=src format=time ! "
      "dmabufimport name=import ! gldownload ! "
      "video/x-raw,format=RGBA ! appsink name=sink sync=false", NULL);
  bus = gst_element_get_bus (pipeline);
  gst_bus_set_sync_handler (bus, give_display, mine, NULL);
  src = gst_bin_get_by_name (GST_BIN (pipeline), "src");
  caps = dmabuf_caps ("RGBA");
  g_object_set (src, "caps", caps, NULL);
  gst_caps_unref (caps);
  import = gst_bin_get_by_name (GST_BIN (pipeline), "import");
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  fail_if (gst_element_set_state (pipeline, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE);
  fail_unless_equals_int (gst_app_src_push_buffer (GST_APP_SRC (src),
          make_frame ("RGBA", 0, TRUE, STRIDE)), GST_FLOW_OK);
  sample = gst_app_sink_try_pull_sample (GST_APP_SINK (sink), TIMEOUT);
  fail_unless (sample != NULL);
  check_frame (sample, "RGBA", 0, FALSE);
  gst_sample_unref (sample);
  g_object_get (import, "context", &a, NULL);
  used = gst_gl_context_get_display (a);
  fail_unless (used == mine, "the application's display was not used");
  gst_object_unref (used);
  gst_object_unref (a);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_bus_set_sync_handler (bus, NULL, NULL, NULL);
  gst_object_unref (bus);
  gst_object_unref (src);
  gst_object_unref (import);
  gst_object_unref (sink);
  gst_object_unref (pipeline);
  gst_object_unref (mine);
  restore_window_env (saved);
}

GST_END_TEST;

GST_START_TEST (test_bad_stride)
{
  GstMessage *msg;
  Pipe p;

  pipe_start (&p, "BGRx", NULL);
  fail_unless_equals_int (gst_app_src_push_buffer (GST_APP_SRC (p.src),
          make_frame ("BGRx", 0, TRUE, WIDTH * 4 - 4)), GST_FLOW_OK);
  msg = gst_bus_timed_pop_filtered (p.bus, TIMEOUT, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL && msg->src == GST_OBJECT (p.import));
  gst_message_unref (msg);
  pipe_stop (&p);
}

GST_END_TEST;

/* ---------------------------------------------------------------------- */
/* CUDA output: what CI can check is its absence without a driver         */

/* The source pad template: GL memory, then CUDA memory when the plugin was
 * built with cuda.h.  Returns whether it was. */
static gboolean
check_src_template (void)
{
  GstElementFactory *factory = gst_element_factory_find ("dmabufimport");
  GstCaps *gl, *cuda, *caps = NULL;
  const GList *l;
  gboolean built_with_cuda;

  fail_unless (factory != NULL);
  for (l = gst_element_factory_get_static_pad_templates (factory); l;
      l = l->next) {
    GstStaticPadTemplate *t = l->data;

    if (t->direction == GST_PAD_SRC)
      caps = gst_static_caps_get (&t->static_caps);
  }
  fail_unless (caps != NULL);
  gl = gst_caps_from_string ("video/x-raw(memory:GLMemory),format=RGBA,"
      "width=[1,2147483647],height=[1,2147483647],"
      "framerate=[0/1,2147483647/1],texture-target=2D");
  cuda = gst_caps_from_string ("video/x-raw(memory:GLMemory),format=RGBA,"
      "width=[1,2147483647],height=[1,2147483647],"
      "framerate=[0/1,2147483647/1],texture-target=2D; "
      "video/x-raw(memory:CUDAMemory),format={NV12,RGBA},"
      "width=[1,2147483647],height=[1,2147483647],"
      "framerate=[0/1,2147483647/1]");
  built_with_cuda = caps_have_cuda (caps);
  fail_unless (gst_caps_is_strictly_equal (caps, built_with_cuda ? cuda : gl),
      "%" GST_PTR_FORMAT, caps);
  gst_caps_unref (gl);
  gst_caps_unref (cuda);
  gst_caps_unref (caps);
  gst_object_unref (factory);
  return built_with_cuda;
}

/* Without libcuda.so.1, after READY (display and all), the source pad
 * offers no CUDA memory, and CUDA memory downstream maps to nothing. */
GST_START_TEST (test_no_cuda_caps_without_driver)
{
  GstElement *e;
  GstPad *pad;
  GstCaps *caps, *in;

  check_src_template ();
  if (have_libcuda ()) {
    GST_INFO ("libcuda.so.1 present: the CUDA output is tested in tests/gpu");
    return;
  }
  e = gst_element_factory_make ("dmabufimport", NULL);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_READY),
      GST_STATE_CHANGE_SUCCESS);
  pad = gst_element_get_static_pad (e, "src");
  caps = gst_pad_query_caps (pad, NULL);
  fail_if (gst_caps_is_empty (caps));
  fail_if (caps_have_cuda (caps), "%" GST_PTR_FORMAT, caps);
  gst_caps_unref (caps);
  gst_object_unref (pad);

  in = gst_caps_from_string ("video/x-raw(memory:CUDAMemory),format=NV12,"
      "width=64,height=48; video/x-raw(memory:CUDAMemory),format=RGBA");
  caps = GST_BASE_TRANSFORM_GET_CLASS (e)->transform_caps (GST_BASE_TRANSFORM
      (e), GST_PAD_SRC, in, NULL);
  fail_unless (gst_caps_is_empty (caps), "%" GST_PTR_FORMAT, caps);
  gst_caps_unref (caps);
  gst_caps_unref (in);
  fail_unless_equals_int (gst_element_set_state (e, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (e);
}

GST_END_TEST;

/* A pipeline whose downstream takes CUDA memory only, without CUDA: an
 * error from dmabufimport that says CUDA is missing and why, rather than
 * only a bare not-negotiated. */
GST_START_TEST (test_cuda_caps_refused)
{
  GstElement *pipeline, *src, *import, *filter, *sink;
  GstPad *srcpad, *sinkpad;
  GstBus *bus;
  GstMessage *msg;
  gboolean built_with_cuda = check_src_template ();
  gchar *text = NULL;
  gint64 deadline;
  GstCaps *caps;

  if (have_libcuda ())
    return;
  /* (gst_parse_launch would refuse the link import ! capsfilter already:
   * the caps do not intersect; linked without checks, the caps event is) */
  pipeline = gst_parse_launch ("appsrc name=src format=time ! "
      "dmabufimport name=import", NULL);
  fail_unless (pipeline != NULL);
  filter = gst_element_factory_make ("capsfilter", NULL);
  sink = gst_element_factory_make ("fakesink", NULL);
  gst_util_set_object_arg (G_OBJECT (filter), "caps",
      "video/x-raw(memory:CUDAMemory)");
  gst_bin_add_many (GST_BIN (pipeline), filter, sink, NULL);
  import = gst_bin_get_by_name (GST_BIN (pipeline), "import");
  srcpad = gst_element_get_static_pad (import, "src");
  sinkpad = gst_element_get_static_pad (filter, "sink");
  fail_unless_equals_int (gst_pad_link_full (srcpad, sinkpad,
          GST_PAD_LINK_CHECK_NOTHING), GST_PAD_LINK_OK);
  gst_object_unref (srcpad);
  gst_object_unref (sinkpad);
  gst_object_unref (import);
  fail_unless (gst_element_link_pads_full (filter, "src", sink, "sink",
          GST_PAD_LINK_CHECK_NOTHING));
  src = gst_bin_get_by_name (GST_BIN (pipeline), "src");
  caps = dmabuf_caps ("BGRx");
  g_object_set (src, "caps", caps, NULL);
  gst_caps_unref (caps);
  bus = gst_element_get_bus (pipeline);
  fail_if (gst_element_set_state (pipeline, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE);
  gst_app_src_push_buffer (GST_APP_SRC (src), make_frame ("BGRx", 0, FALSE, 0));

  deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (!text && g_get_monotonic_time () < deadline) {
    msg = gst_bus_timed_pop_filtered (bus, 100 * GST_MSECOND,
        GST_MESSAGE_ERROR);
    if (msg && g_str_equal (GST_OBJECT_NAME (msg->src), "import")) {
      GError *err = NULL;

      gst_message_parse_error (msg, &err, NULL);
      fail_unless (g_error_matches (err, GST_CORE_ERROR,
              GST_CORE_ERROR_NEGOTIATION), "%s", err->message);
      text = g_strdup (err->message);
      g_error_free (err);
    }
    if (msg)
      gst_message_unref (msg);
  }
  fail_unless (text != NULL, "no error from dmabufimport");
  GST_INFO ("%s", text);
  fail_unless (g_str_has_prefix (text, "Downstream takes CUDA memory only, "
          "and CUDA is not available: "), "%s", text);
  fail_unless (strstr (text, built_with_cuda ? "libcuda.so.1" :
          "has no CUDA support") != NULL, "%s", text);
  g_free (text);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (src);
  gst_object_unref (pipeline);
}

GST_END_TEST;

static gboolean
accepts_caps (GstElement * e, GstCaps * caps)
{
  GstPad *pad = gst_element_get_static_pad (e, "sink");
  gboolean ret = gst_pad_query_accept_caps (pad, caps);

  gst_object_unref (pad);
  return ret;
}

/* The DMA-BUF caps of this GStreamer: DMA_DRM with a linear drm-format on
 * >= 1.24 (what glupload and vapostproc take; the 1.22 form refused, as
 * they refuse it), format=BGRx etc. on 1.22 */
GST_START_TEST (test_caps)
{
  GstElement *e = gst_element_factory_make ("dmabufimport", NULL);
  GstCaps *in, *out, *want;
  guint i;

  for (i = 0; i < G_N_ELEMENTS (formats); i++) {
    in = dmabuf_caps (formats[i]);
    fail_unless (accepts_caps (e, in), "%" GST_PTR_FORMAT, in);
    gst_caps_unref (in);
  }
  fail_if (accepts (e, "video/x-raw,format=BGRx,width=64,height=48,"
          "framerate=30/1"));
#if GST_CHECK_VERSION (1, 24, 0)
  fail_unless (accepts (e, "video/x-raw(memory:DMABuf),format=DMA_DRM,"
          "drm-format=XR24,width=64,height=48,framerate=30/1"));
  fail_unless (accepts (e, "video/x-raw(memory:DMABuf),format=DMA_DRM,"
          "drm-format=AB24,width=64,height=48,framerate=30/1"));
  /* a tiled modifier, a format outside the table, the 1.22 form */
  fail_if (accepts (e, "video/x-raw(memory:DMABuf),format=DMA_DRM,"
          "drm-format=XR24:0x0100000000000001,width=64,height=48,"
          "framerate=30/1"));
  fail_if (accepts (e, "video/x-raw(memory:DMABuf),format=DMA_DRM,"
          "drm-format=NV12,width=64,height=48,framerate=30/1"));
  fail_if (accepts (e, "video/x-raw(memory:DMABuf),format=BGRx,"
          "width=64,height=48,framerate=30/1"));
  in = gst_caps_from_string ("video/x-raw(memory:DMABuf),format=DMA_DRM,"
      "drm-format=XR24,width=64,height=48,framerate=30/1");
#else
  fail_unless (accepts (e, "video/x-raw(memory:DMABuf),format=BGRx,"
          "width=64,height=48,framerate=30/1"));
  fail_if (accepts (e, "video/x-raw(memory:DMABuf),format=NV12,width=64,"
          "height=48,framerate=30/1"));
  in = gst_caps_from_string ("video/x-raw(memory:DMABuf),format=BGRx,"
      "width=64,height=48,framerate=30/1");
#endif

  out = GST_BASE_TRANSFORM_GET_CLASS (e)->transform_caps (GST_BASE_TRANSFORM
      (e), GST_PAD_SINK, in, NULL);
  want = gst_caps_from_string ("video/x-raw(memory:GLMemory),format=RGBA,"
      "width=64,height=48,framerate=30/1,texture-target=2D");
  /* CUDA after GL, only where CUDA can work */
  if (have_libcuda () && check_src_template ())
    want = gst_caps_merge (want,
        gst_caps_from_string ("video/x-raw(memory:CUDAMemory),format=NV12,"
            "width=64,height=48,framerate=30/1,colorimetry=bt601; "
            "video/x-raw(memory:CUDAMemory),format=RGBA,width=64,height=48,"
            "framerate=30/1"));
  fail_unless (gst_caps_is_strictly_equal (out, want), "%" GST_PTR_FORMAT, out);
  gst_caps_unref (in);
  gst_caps_unref (out);
  gst_caps_unref (want);

  /* upstream: DMA-BUF for GL memory, nothing for system memory */
  in = gst_caps_from_string ("video/x-raw(memory:GLMemory),format=RGBA,"
      "width=64,height=48,texture-target=2D; video/x-raw,format=RGBA");
  out = GST_BASE_TRANSFORM_GET_CLASS (e)->transform_caps (GST_BASE_TRANSFORM
      (e), GST_PAD_SRC, in, NULL);
#if GST_CHECK_VERSION (1, 24, 0)
  want = gst_caps_from_string ("video/x-raw(memory:DMABuf),format=DMA_DRM,"
      "drm-format={XR24,AR24,XB24,AB24},width=64,height=48");
#else
  want = gst_caps_from_string ("video/x-raw(memory:DMABuf),"
      "format={BGRx,BGRA,RGBx,RGBA},width=64,height=48");
#endif
  fail_unless (gst_caps_is_equal (out, want), "%" GST_PTR_FORMAT, out);
  gst_caps_unref (in);
  gst_caps_unref (out);
  gst_caps_unref (want);
  gst_object_unref (e);
}

GST_END_TEST;

/* The project's DRM table and caps helpers (gst/gstdrmformat.c), on which
 * spicesrc and dmabufimport agree: GStreamer's own mapping where it has
 * one, and a round trip through this GStreamer's DMA-BUF caps. */
GST_START_TEST (test_drm_format_helpers)
{
  static const struct
  {
    const gchar *format, *fourcc;
  } table[] = {
    {"BGRx", "XR24"}, {"BGRA", "AR24"}, {"RGBx", "XB24"}, {"RGBA", "AB24"},
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (table); i++) {
    GstVideoFormat format = gst_video_format_from_string (table[i].format);
    guint32 fourcc = GST_STR_FOURCC (table[i].fourcc), f = 0;
    guint64 modifier = 1;
    GstCaps *caps;
    GstVideoInfo info;

    fail_unless_equals_int (gst_spice_drm_fourcc_to_video_format (fourcc),
        format);
    fail_unless_equals_int (gst_spice_video_format_to_drm_fourcc (format),
        fourcc);
#if GST_CHECK_VERSION (1, 24, 0)
    fail_unless_equals_int (gst_video_dma_drm_fourcc_to_format (fourcc),
        format);
    fail_unless_equals_int (gst_video_dma_drm_fourcc_from_format (format),
        fourcc);
#endif
    caps = dmabuf_caps (table[i].format);
    GST_INFO ("%" GST_PTR_FORMAT, caps);
    fail_unless (gst_spice_caps_are_dmabuf (caps));
    fail_unless (gst_spice_video_info_from_caps (&info, &f, &modifier, caps));
    fail_unless_equals_int (GST_VIDEO_INFO_FORMAT (&info), format);
    fail_unless_equals_int (GST_VIDEO_INFO_WIDTH (&info), WIDTH);
    fail_unless_equals_int (GST_VIDEO_INFO_HEIGHT (&info), HEIGHT);
    fail_unless_equals_int (GST_VIDEO_INFO_FPS_N (&info), 30);
    fail_unless_equals_int (GST_VIDEO_INFO_PLANE_STRIDE (&info, 0), WIDTH * 4);
    fail_unless_equals_int (f, fourcc);
#if GST_CHECK_VERSION (1, 24, 0)
    fail_unless (gst_video_is_dma_drm_caps (caps));
    fail_unless_equals_string (gst_structure_get_string
        (gst_caps_get_structure (caps, 0), "drm-format"), table[i].fourcc);
    fail_unless_equals_uint64 (modifier, GST_SPICE_DRM_MOD_LINEAR);
#else
    fail_unless_equals_string (gst_structure_get_string
        (gst_caps_get_structure (caps, 0), "format"), table[i].format);
    fail_unless_equals_uint64 (modifier, GST_SPICE_DRM_MOD_INVALID);
#endif
    gst_caps_unref (caps);
  }
  fail_unless_equals_int (gst_spice_drm_fourcc_to_video_format
      (GST_STR_FOURCC ("NV12")), GST_VIDEO_FORMAT_UNKNOWN);
  fail_unless (gst_spice_dmabuf_caps_new (GST_VIDEO_FORMAT_NV12,
          GST_SPICE_DRM_MOD_LINEAR) == NULL);
}

GST_END_TEST;

/* ---------------------------------------------------------------------- */
/* The import cache (the part of the import path testable without a GPU) */

static void
count_free (gpointer data)
{
  (*(guint *) data)++;
}

GST_START_TEST (test_import_cache)
{
  GstDmabufCache *cache;
  GstDmabufCacheKey k1, k1_dup, k1_other_offset, k2;
  guint freed[10] = { 0, };
  gint fd1, fd1_dup, fd2, i;

  fd1 = memfd_create ("a", MFD_CLOEXEC);
  fd2 = memfd_create ("b", MFD_CLOEXEC);
  fd1_dup = dup (fd1);
  fail_unless (fd1 >= 0 && fd2 >= 0 && fd1_dup >= 0);

  /* the same file under another fd number is the same key */
  fail_unless (gst_dmabuf_cache_key_init (&k1, fd1, 0, 256, 1, 2, 64, 48));
  fail_unless (gst_dmabuf_cache_key_init (&k1_dup, fd1_dup, 0, 256, 1, 2, 64,
          48));
  fail_unless (gst_dmabuf_cache_key_init (&k1_other_offset, fd1, 4096, 256,
          1, 2, 64, 48));
  fail_unless (gst_dmabuf_cache_key_init (&k2, fd2, 0, 256, 1, 2, 64, 48));
  fail_if (gst_dmabuf_cache_key_init (&k2, -1, 0, 256, 1, 2, 64, 48));
  fail_unless (gst_dmabuf_cache_key_init (&k2, fd2, 0, 256, 1, 2, 64, 48));

  cache = gst_dmabuf_cache_new (2, count_free);
  gst_dmabuf_cache_insert (cache, &k1, &freed[0]);
  fail_unless (gst_dmabuf_cache_lookup (cache, &k1_dup) == &freed[0]);
  fail_unless (gst_dmabuf_cache_lookup (cache, &k1_other_offset) == NULL);
  fail_unless (gst_dmabuf_cache_lookup (cache, &k2) == NULL);

  /* least recently used goes first */
  gst_dmabuf_cache_insert (cache, &k2, &freed[1]);
  fail_unless (gst_dmabuf_cache_lookup (cache, &k1) == &freed[0]);
  gst_dmabuf_cache_insert (cache, &k1_other_offset, &freed[2]);
  fail_unless_equals_int (gst_dmabuf_cache_size (cache), 2);
  fail_unless_equals_int (freed[1], 1);
  fail_unless_equals_int (freed[0], 0);
  fail_unless (gst_dmabuf_cache_lookup (cache, &k2) == NULL);
  fail_unless (gst_dmabuf_cache_lookup (cache, &k1) == &freed[0]);

  gst_dmabuf_cache_clear (cache);
  fail_unless_equals_int (gst_dmabuf_cache_size (cache), 0);
  for (i = 0; i < 3; i++)
    fail_unless_equals_int (freed[i], 1);
  gst_dmabuf_cache_free (cache);

  close (fd1);
  close (fd1_dup);
  close (fd2);
}

GST_END_TEST;

/* ---------------------------------------------------------------------- */
/* Tests: a display without EGL_EXT_image_dma_buf_import ("no-import")    */

GST_START_TEST (test_fallback_warns_once)
{
  Pipe p;

  pipe_start (&p, "BGRx", NULL);
  run_frames (&p, "BGRx", 3, NULL, FALSE, TRUE);
  drain_bus (&p);
  check_cpu_stats (&p, 3);
  fail_unless_equals_int (p.warnings, 1);
  fail_unless (strstr (p.warning, EXTENSION) != NULL,
      "warning does not name " EXTENSION ": %s", p.warning);
  pipe_stop (&p);
}

GST_END_TEST;

GST_START_TEST (test_no_fallback_errors)
{
  GstMessage *msg;
  GError *err;
  gchar *dbg;
  Pipe p;

  pipe_start (&p, "BGRx", "cpu-fallback=false");
  push (&p, make_frame ("BGRx", 0, TRUE, STRIDE));
  msg = gst_bus_timed_pop_filtered (p.bus, TIMEOUT, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL, "no error within the timeout");
  fail_unless (msg->src == GST_OBJECT (p.import));
  gst_message_parse_error (msg, &err, &dbg);
  GST_INFO ("error: %s (%s)", err->message, dbg);
  fail_unless (strstr (err->message, EXTENSION) != NULL,
      "error does not name " EXTENSION ": %s", err->message);
  fail_unless_equals_uint64 (stat (p.import, "cpu-uploads"), 0);
  g_error_free (err);
  g_free (dbg);
  gst_message_unref (msg);
  pipe_stop (&p);
}

GST_END_TEST;

static Suite *
dmabufimport_suite (void)
{
  Suite *s = suite_create ("dmabufimport");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_caps);
  tcase_add_test (tc, test_drm_format_helpers);
  tcase_add_test (tc, test_no_cuda_caps_without_driver);
  tcase_add_test (tc, test_cuda_caps_refused);
  tcase_add_test (tc, test_import_cache);
  tcase_add_test (tc, test_cpu_formats_pixel_exact);
  tcase_add_test (tc, test_cpu_default_layout);
  tcase_add_test (tc, test_cpu_flip);
  tcase_add_test (tc, test_other_orientation_forwarded);
  tcase_add_test (tc, test_nothing_left_errors);
  tcase_add_test (tc, test_context_shared);
  tcase_add_test (tc, test_headless_default);
  tcase_add_test (tc, test_headless_bad_device);
  tcase_add_test (tc, test_application_display);
  tcase_add_test (tc, test_bad_stride);

  tc = tcase_create ("import");
  tcase_set_tags (tc, "import");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_import_formats_pixel_exact);
  tcase_add_test (tc, test_import_default_layout);
  tcase_add_test (tc, test_import_flip);
  tcase_add_test (tc, test_import_cache_across_frames);
  tcase_add_test (tc, test_import_cache_eviction);
  tcase_add_test (tc, test_import_cache_new_caps);
  tcase_add_test (tc, test_import_forced_off);

  tc = tcase_create ("no-import");
  tcase_set_tags (tc, "no-import");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_fallback_warns_once);
  tcase_add_test (tc, test_no_fallback_errors);
  return s;
}

int
main (int argc, char **argv)
{
  const gchar *run_case = g_getenv ("CK_RUN_CASE");
  gboolean has_import;
  gchar *why = NULL;
  Suite *s;
  int ret;

  gst_check_init (&argc, &argv);
  has_import = display_has_import (&why);
  /* a case this display cannot run is skipped, and says why (meson shows
   * exit status 77 as SKIP) */
  if ((g_strcmp0 (run_case, "import") == 0 && !has_import)
      || (g_strcmp0 (run_case, "no-import") == 0 && has_import)) {
    g_print ("SKIP: test case \"%s\": %s\n", run_case, why);
    g_free (why);
    return 77;
  }
  s = dmabufimport_suite ();
  if (!run_case) {
    /* by hand: every case this display can run */
    g_print ("%s: not running test case \"%s\"\n", why,
        has_import ? "no-import" : "import");
    g_setenv ("CK_EXCLUDE_TAGS", has_import ? "no-import" : "import", TRUE);
  }
  g_free (why);
  ret = gst_check_run_suite (s, "dmabufimport", __FILE__);
  return ret;
}
