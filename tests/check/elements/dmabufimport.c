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
 * gldownload and checked pixel by pixel.  On Mesa llvmpipe (CI) EGL cannot
 * import DMA-BUFs, so this covers the CPU fallback, negotiation, context
 * sharing, the headless display and the errors; where the display has
 * EGL_EXT_image_dma_buf_import the tests expect what a memfd gets there (a
 * failed import and the fallback). */
#define _GNU_SOURCE             /* memfd_create */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

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

/* A memfd-backed DMA-BUF holding frame n.  With a meta: STRIDE and
 * OFFSET, with garbage in the padding; without: the default layout. */
static GstBuffer *
make_frame (const gchar * format, gint n, gboolean with_meta, gint stride)
{
  static GstAllocator *alloc;
  gint offset = with_meta ? OFFSET : 0;
  gsize size;
  guint8 *map;
  GstBuffer *buf;
  gint fd, x, y, i;

  if (!with_meta)
    stride = WIDTH * 4;
  size = offset + stride * (gsize) HEIGHT;
  if (!alloc)
    alloc = gst_dmabuf_allocator_new ();

  fd = memfd_create ("dmabufimport-test", MFD_CLOEXEC);
  fail_unless (fd >= 0);
  fail_unless (ftruncate (fd, size) == 0);
  map = mmap (NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  fail_unless (map != MAP_FAILED);
  memset (map, 0xee, size);
  for (y = 0; y < HEIGHT; y++)
    for (x = 0; x < WIDTH; x++)
      for (i = 0; i < 4; i++)
        map[offset + y * stride + x * 4 + i] = pattern (n, x, y, i);
  munmap (map, size);

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

/* Does EGL device 0 (what the element opens) import DMA-BUFs? */
static gboolean
display_has_import (void)
{
  GstGLDisplayEGLDevice *device = gst_gl_display_egl_device_new (0);
  GstGLDisplayEGL *egl;
  EGLDisplay dpy;
  const gchar *exts;
  gboolean has;

  fail_unless (device != NULL, "no EGL device 0");
  egl = gst_gl_display_egl_from_gl_display (GST_GL_DISPLAY (device));
  dpy = (EGLDisplay) gst_gl_display_get_handle (GST_GL_DISPLAY (egl));
  fail_unless (eglInitialize (dpy, NULL, NULL));
  exts = eglQueryString (dpy, EGL_EXTENSIONS);
  has = exts && strstr (exts, EXTENSION) != NULL;
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

static void
pipe_start (Pipe * p, const gchar * format, const gchar * import_props)
{
  gchar *desc;

  memset (p, 0, sizeof (*p));
  desc = g_strdup_printf ("appsrc name=src format=time "
      "caps=video/x-raw(memory:DMABuf),format=%s,width=%d,height=%d,"
      "framerate=30/1 ! dmabufimport name=import %s ! gldownload name=dl ! "
      "video/x-raw,format=RGBA ! appsink name=sink sync=false", format, WIDTH,
      HEIGHT, import_props ? import_props : "");
  p->pipeline = gst_parse_launch (desc, NULL);
  g_free (desc);
  fail_unless (p->pipeline != NULL);
  p->src = gst_bin_get_by_name (GST_BIN (p->pipeline), "src");
  p->import = gst_bin_get_by_name (GST_BIN (p->pipeline), "import");
  p->download = gst_bin_get_by_name (GST_BIN (p->pipeline), "dl");
  p->sink = gst_bin_get_by_name (GST_BIN (p->pipeline), "sink");
  p->bus = gst_element_get_bus (p->pipeline);
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

/* Push frames 0..n-1 of format, check each one; optionally a tag first. */
static void
run_frames (Pipe * p, const gchar * format, gint n, GstTagList * tags,
    gboolean flip, gboolean with_meta)
{
  gint i;

  if (tags)
    fail_unless (gst_element_send_event (p->src, gst_event_new_tag (tags)));
  for (i = 0; i < n; i++) {
    GstSample *sample;

    fail_unless_equals_int (gst_app_src_push_buffer (GST_APP_SRC (p->src),
            make_frame (format, i, with_meta, STRIDE)), GST_FLOW_OK);
    sample = pull (p);
    check_frame (sample, format, i, flip);
    gst_sample_unref (sample);
  }
}

static void
check_cpu_stats (Pipe * p, guint64 n)
{
  fail_unless_equals_uint64 (stat (p->import, "frames"), n);
  /* a memfd cannot be imported anywhere: every frame went through the CPU */
  fail_unless_equals_uint64 (stat (p->import, "cpu-uploads"), n);
  fail_unless_equals_uint64 (stat (p->import, "bytes-copied"),
      n * WIDTH * HEIGHT * 4);
  fail_unless_equals_uint64 (stat (p->import, "imports"), 0);
  fail_unless_equals_uint64 (stat (p->import, "cache-hits"), 0);
}

/* ---------------------------------------------------------------------- */
/* Tests                                                                  */

GST_START_TEST (test_formats_pixel_exact)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (formats); i++) {
    Pipe p;

    pipe_start (&p, formats[i], NULL);
    run_frames (&p, formats[i], 3, NULL, FALSE, TRUE);
    check_cpu_stats (&p, 3);
    pipe_stop (&p);
  }
}

GST_END_TEST;

GST_START_TEST (test_default_layout)
{
  Pipe p;

  /* no video meta: the default layout of the caps */
  pipe_start (&p, "BGRA", NULL);
  run_frames (&p, "BGRA", 2, NULL, FALSE, FALSE);
  check_cpu_stats (&p, 2);
  pipe_stop (&p);
}

GST_END_TEST;

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

GST_START_TEST (test_flip)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (formats); i++) {
    GstTagList *tags;
    gchar *title = NULL, *orientation = NULL;
    Pipe p;

    pipe_start (&p, formats[i], NULL);
    run_frames (&p, formats[i], 2, gst_tag_list_new (GST_TAG_TITLE, "guest",
            GST_TAG_IMAGE_ORIENTATION, "flip-rotate-180", NULL), TRUE, TRUE);

    /* the flip was applied: its tag stays behind, the others go on */
    tags = sticky_tags (&p);
    fail_unless (tags != NULL, "the title tag was not forwarded");
    fail_unless (gst_tag_list_get_string (tags, GST_TAG_TITLE, &title));
    fail_unless_equals_string (title, "guest");
    fail_if (gst_tag_list_get_string (tags, GST_TAG_IMAGE_ORIENTATION,
            &orientation), "orientation %s forwarded", orientation);
    g_free (title);
    gst_tag_list_unref (tags);

    /* back to top-down */
    run_frames (&p, formats[i], 1, gst_tag_list_new
        (GST_TAG_IMAGE_ORIENTATION, "rotate-0", NULL), FALSE, TRUE);
    pipe_stop (&p);
  }
}

GST_END_TEST;

GST_START_TEST (test_other_orientation_forwarded)
{
  GstTagList *tags;
  gchar *orientation = NULL;
  Pipe p;

  /* not ours to apply: forwarded, and the pixels stay as they are */
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

GST_START_TEST (test_fallback_warns_once)
{
  gboolean has_import = display_has_import ();
  Pipe p;

  pipe_start (&p, "BGRx", NULL);
  run_frames (&p, "BGRx", 3, NULL, FALSE, TRUE);
  drain_bus (&p);
  fail_unless_equals_int (p.warnings, 1);
  if (!has_import)
    fail_unless (strstr (p.warning, EXTENSION) != NULL,
        "warning does not name " EXTENSION ": %s", p.warning);
  pipe_stop (&p);
}

GST_END_TEST;

GST_START_TEST (test_no_fallback_errors)
{
  gboolean has_import = display_has_import ();
  GstMessage *msg;
  GError *err;
  gchar *dbg;
  Pipe p;

  pipe_start (&p, "BGRx", "cpu-fallback=false");
  fail_unless_equals_int (gst_app_src_push_buffer (GST_APP_SRC (p.src),
          make_frame ("BGRx", 0, TRUE, STRIDE)), GST_FLOW_OK);
  msg = gst_bus_timed_pop_filtered (p.bus, TIMEOUT, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL, "no error within the timeout");
  fail_unless (msg->src == GST_OBJECT (p.import));
  gst_message_parse_error (msg, &err, &dbg);
  GST_INFO ("error: %s (%s)", err->message, dbg);
  if (has_import)
    /* a memfd is no real DMA-BUF: the import fails */
    fail_unless (strstr (err->message, "import") != NULL, "%s", err->message);
  else
    fail_unless (strstr (err->message, EXTENSION) != NULL,
        "error does not name " EXTENSION ": %s", err->message);
  fail_unless_equals_uint64 (stat (p.import, "cpu-uploads"), 0);
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
  /* what nvh264enc needs: a desktop GL 3 context */
  fail_unless (gst_gl_context_get_gl_api (a) & GST_GL_API_OPENGL3,
      "not a GL3 context");
  gst_object_unref (a);
  gst_object_unref (b);
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

  /* the application's display wins over the element's own */
  unset_window_env (saved);
  mine = GST_GL_DISPLAY (gst_gl_display_egl_device_new (0));
  pipeline = gst_parse_launch ("appsrc name=src format=time "
      "caps=video/x-raw(memory:DMABuf),format=RGBA,width=7,height=5,"
      "framerate=30/1 ! dmabufimport name=import ! gldownload ! "
      "video/x-raw,format=RGBA ! appsink name=sink sync=false", NULL);
  bus = gst_element_get_bus (pipeline);
  gst_bus_set_sync_handler (bus, give_display, mine, NULL);
  src = gst_bin_get_by_name (GST_BIN (pipeline), "src");
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

  if (have_libcuda ())
    return;
  /* (gst_parse_launch would refuse the link import ! capsfilter already:
   * the caps do not intersect; linked without checks, the caps event is) */
  pipeline = gst_parse_launch ("appsrc name=src format=time "
      "caps=video/x-raw(memory:DMABuf),format=BGRx,width=7,height=5,"
      "framerate=30/1 ! dmabufimport name=import", NULL);
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

GST_START_TEST (test_caps)
{
  GstElement *e = gst_element_factory_make ("dmabufimport", NULL);
  GstCaps *in, *out, *want;

  fail_unless (accepts (e, "video/x-raw(memory:DMABuf),format=BGRx,"
          "width=64,height=48,framerate=30/1"));
  fail_if (accepts (e, "video/x-raw,format=BGRx,width=64,height=48,"
          "framerate=30/1"));
  fail_if (accepts (e, "video/x-raw(memory:DMABuf),format=NV12,width=64,"
          "height=48,framerate=30/1"));

  in = gst_caps_from_string ("video/x-raw(memory:DMABuf),format=BGRx,"
      "width=64,height=48,framerate=30/1");
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
  want = gst_caps_from_string ("video/x-raw(memory:DMABuf),"
      "format={BGRx,BGRA,RGBx,RGBA},width=64,height=48");
  fail_unless (gst_caps_is_equal (out, want), "%" GST_PTR_FORMAT, out);
  gst_caps_unref (in);
  gst_caps_unref (out);
  gst_caps_unref (want);
  gst_object_unref (e);
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

static Suite *
dmabufimport_suite (void)
{
  Suite *s = suite_create ("dmabufimport");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_caps);
  tcase_add_test (tc, test_no_cuda_caps_without_driver);
  tcase_add_test (tc, test_cuda_caps_refused);
  tcase_add_test (tc, test_import_cache);
  tcase_add_test (tc, test_formats_pixel_exact);
  tcase_add_test (tc, test_default_layout);
  tcase_add_test (tc, test_flip);
  tcase_add_test (tc, test_other_orientation_forwarded);
  tcase_add_test (tc, test_fallback_warns_once);
  tcase_add_test (tc, test_no_fallback_errors);
  tcase_add_test (tc, test_context_shared);
  tcase_add_test (tc, test_headless_default);
  tcase_add_test (tc, test_headless_bad_device);
  tcase_add_test (tc, test_application_display);
  tcase_add_test (tc, test_bad_stride);
  return s;
}

GST_CHECK_MAIN (dmabufimport);
