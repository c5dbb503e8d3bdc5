/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 *
 * dmabufimport's CUDA output on an NVIDIA GPU (exits 77, meson's
 * "skipped", without /dev/nvidia0, a loadable libcuda.so.1, cudadownload
 * or a CUDA-enabled build).  Same approach as dmabufimport-gpu.c: spicesrc
 * on the test server's GL display (a memfd scanout, bottom-up), then
 *
 *   tee -> dmabufimport -> gldownload -> appsink "gl"     (reference)
 *       -> dmabufimport -> CUDAMemory NV12 -> cudadownload -> appsink "nv12"
 *       -> dmabufimport -> CUDAMemory RGBA -> cudadownload -> appsink "rgba"
 *
 * Every frame of the GL branch is the server's pattern pixel for pixel
 * (it carries the frame number); the RGBA CUDA frame must equal it
 * exactly, and the NV12 frame's Y plane must be its BT.601 limited-range
 * luma within +-2 (GstGLColorConvert's matrix, what the caps say). */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gst/app/app.h>
#include <gst/video/video.h>
#include <gst/gst.h>

#include "testserver.h"
#include "test-pattern.h"

#define SKIP 77
#define WIDTH 320
#define HEIGHT 240
#define FRAMES 30
#define Y_TOLERANCE 2

#define CHECK(cond, ...) do { \
    if (!(cond)) { \
      fprintf (stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      fprintf (stderr, __VA_ARGS__); \
      fprintf (stderr, "\n"); \
      exit (1); \
    } \
  } while (0)

static void
skip_without_cuda (void)
{
  GstElementFactory *f;
  const GList *l;
  GstCaps *caps;
  gchar *str;
  gboolean cuda = FALSE;
  void *lib;

  if (!g_file_test ("/dev/nvidia0", G_FILE_TEST_EXISTS)) {
    printf ("SKIP: no NVIDIA GPU (/dev/nvidia0 missing)\n");
    exit (SKIP);
  }
  lib = dlopen ("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (!lib) {
    printf ("SKIP: libcuda.so.1 does not load: %s\n", dlerror ());
    exit (SKIP);
  }
  dlclose (lib);
  f = gst_element_factory_find ("cudadownload");
  if (!f) {
    printf ("SKIP: no cudadownload (nvcodec plugin)\n");
    exit (SKIP);
  }
  gst_object_unref (f);
  f = gst_element_factory_find ("dmabufimport");
  CHECK (f != NULL, "no dmabufimport");
  for (l = gst_element_factory_get_static_pad_templates (f); l; l = l->next) {
    GstStaticPadTemplate *t = l->data;

    if (t->direction != GST_PAD_SRC)
      continue;
    caps = gst_static_caps_get (&t->static_caps);
    str = gst_caps_to_string (caps);
    cuda = strstr (str, "memory:CUDAMemory") != NULL;
    g_free (str);
    gst_caps_unref (caps);
  }
  if (!cuda) {
    printf ("SKIP: dmabufimport was built without CUDA (no cuda.h)\n");
    exit (SKIP);
  }
  gst_object_unref (f);
}

/* RGBA (gldownload's output) against the pattern; returns the frame */
static guint32
check_reference (GstSample * s, guint8 * rgba)
{
  GstMapInfo map;
  GstBuffer *buf = gst_sample_get_buffer (s);
  guint8 *bgrx = g_malloc ((gsize) WIDTH * HEIGHT * 4);
  guint8 *exp = g_malloc ((gsize) WIDTH * HEIGHT * 4);
  guint32 frame = 0;
  guint64 t = 0;
  gsize i;

  CHECK (gst_buffer_map (buf, &map, GST_MAP_READ), "map");
  CHECK (map.size >= (gsize) WIDTH * HEIGHT * 4, "size");
  memcpy (rgba, map.data, (gsize) WIDTH * HEIGHT * 4);
  gst_buffer_unmap (buf, &map);
  for (i = 0; i < (gsize) WIDTH * HEIGHT * 4; i += 4) {
    bgrx[i] = rgba[i + 2];
    bgrx[i + 1] = rgba[i + 1];
    bgrx[i + 2] = rgba[i];
    bgrx[i + 3] = 0xff;
  }
  CHECK (tp_read_strip (bgrx, WIDTH * 4, &frame, &t), "no code strip");
  tp_render_expected (exp, WIDTH * 4, frame, t, WIDTH, HEIGHT, 0, 0);
  for (i = 0; i < (gsize) WIDTH * HEIGHT * 4; i += 4)
    CHECK (bgrx[i] == exp[i] && bgrx[i + 1] == exp[i + 1]
        && bgrx[i + 2] == exp[i + 2], "GL frame %u differs at pixel %"
        G_GSIZE_FORMAT, frame, i / 4);
  g_free (bgrx);
  g_free (exp);
  return frame;
}

/* CUDA RGBA, read back with cudadownload: the reference exactly */
static void
check_rgba (GstSample * s, const guint8 * rgba, guint32 frame)
{
  GstVideoInfo info;
  GstVideoFrame f;
  gint y;

  CHECK (gst_video_info_from_caps (&info, gst_sample_get_caps (s)), "caps");
  CHECK (GST_VIDEO_INFO_FORMAT (&info) == GST_VIDEO_FORMAT_RGBA, "format");
  CHECK (gst_video_frame_map (&f, &info, gst_sample_get_buffer (s),
          GST_MAP_READ), "map");
  for (y = 0; y < HEIGHT; y++) {
    const guint8 *row = (const guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&f, 0)
        + y * GST_VIDEO_FRAME_PLANE_STRIDE (&f, 0);
    gint x;

    for (x = 0; x < WIDTH * 4; x++)
      CHECK (row[x] == rgba[(gsize) y * WIDTH * 4 + x], "CUDA RGBA frame %u "
          "differs at (%d,%d): %u, want %u", frame, x / 4, y, row[x],
          rgba[(gsize) y * WIDTH * 4 + x]);
  }
  gst_video_frame_unmap (&f);
}

/* CUDA NV12: Y is BT.601 limited-range luma of the reference */
static void
check_nv12 (GstSample * s, const guint8 * rgba, guint32 frame)
{
  GstVideoInfo info;
  GstVideoFrame f;
  gint x, y;

  CHECK (gst_video_info_from_caps (&info, gst_sample_get_caps (s)), "caps");
  CHECK (GST_VIDEO_INFO_FORMAT (&info) == GST_VIDEO_FORMAT_NV12, "format");
  CHECK (gst_video_colorimetry_matches (&info.colorimetry, "bt601"),
      "colorimetry %s", gst_video_colorimetry_to_string (&info.colorimetry));
  CHECK (gst_video_frame_map (&f, &info, gst_sample_get_buffer (s),
          GST_MAP_READ), "map");
  for (y = 0; y < HEIGHT; y++) {
    const guint8 *row = (const guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&f, 0)
        + y * GST_VIDEO_FRAME_PLANE_STRIDE (&f, 0);

    for (x = 0; x < WIDTH; x++) {
      const guint8 *p = rgba + ((gsize) y * WIDTH + x) * 4;
      gdouble want = 16.0 + (65.481 * p[0] + 128.553 * p[1] +
          24.966 * p[2]) / 255.0;

      CHECK (ABS ((gdouble) row[x] - want) <= Y_TOLERANCE, "NV12 frame %u: "
          "Y at (%d,%d) is %u, want %.1f (RGB %u,%u,%u)", frame, x, y,
          row[x], want, p[0], p[1], p[2]);
    }
  }
  gst_video_frame_unmap (&f);
}

static GstSample *
pull (GstElement * p, const gchar * name, guint i)
{
  GstElement *sink = gst_bin_get_by_name (GST_BIN (p), name);
  GstSample *s = gst_app_sink_try_pull_sample (GST_APP_SINK (sink),
      10 * GST_SECOND);
  GstMessage *m = gst_bus_pop_filtered (GST_ELEMENT_BUS (p),
      GST_MESSAGE_ERROR);

  if (m) {
    GError *err = NULL;
    gchar *dbg = NULL;

    gst_message_parse_error (m, &err, &dbg);
    CHECK (FALSE, "error from %s: %s (%s)", GST_OBJECT_NAME (m->src),
        err->message, dbg);
  }
  CHECK (s != NULL, "no frame %u on %s within 10 s", i, name);
  gst_object_unref (sink);
  return s;
}

int
main (int argc, char **argv)
{
  const gchar *server = g_getenv ("SPICE_TEST_SERVER");
  const gchar *args[] = { "--gl", "--size", "320x240", "--fps", "30",
    "--gl-y0top", "0", NULL
  };
  guint8 *rgba = g_malloc ((gsize) WIDTH * HEIGHT * 4);
  TestServer *ts;
  GstElement *p;
  guint32 first = 0, last = 0;
  guint i;
  gchar *desc;

  gst_init (&argc, &argv);
  skip_without_cuda ();
  CHECK (server != NULL, "SPICE_TEST_SERVER unset");
  ts = test_server_start (TEST_SERVER_UNIX, args);
  CHECK (ts != NULL, "the test server did not start");
  /* appsinks keep every frame (no drop): the three branches stay in step */
  desc = g_strdup_printf ("spicesrc uri=%s audio=false ! tee name=t "
      "t. ! queue ! dmabufimport ! gldownload ! video/x-raw,format=RGBA ! "
      "appsink name=gl sync=false "
      "t. ! queue ! dmabufimport name=nv12imp ! "
      "video/x-raw(memory:CUDAMemory),format=NV12 ! cudadownload ! "
      "video/x-raw,format=NV12 ! appsink name=nv12 sync=false "
      "t. ! queue ! dmabufimport ! "
      "video/x-raw(memory:CUDAMemory),format=RGBA ! cudadownload ! "
      "video/x-raw,format=RGBA ! appsink name=rgba sync=false",
      test_server_get_uri (ts));
  p = gst_parse_launch (desc, NULL);
  g_free (desc);
  CHECK (p != NULL, "pipeline");
  CHECK (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE, "PLAYING");
  for (i = 0; i < FRAMES; i++) {
    GstSample *ref = pull (p, "gl", i);
    GstSample *nv12 = pull (p, "nv12", i);
    GstSample *out = pull (p, "rgba", i);

    last = check_reference (ref, rgba);
    if (i == 0)
      first = last;
    check_rgba (out, rgba, last);
    check_nv12 (nv12, rgba, last);
    gst_sample_unref (ref);
    gst_sample_unref (nv12);
    gst_sample_unref (out);
  }
  CHECK (last >= first + FRAMES / 2, "frames %u .. %u", first, last);
  printf ("dmabufimport CUDA output: %d frames, RGBA exact, NV12 Y within "
      "+-%d\n", FRAMES, Y_TOLERANCE);

  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (p);
  test_server_stop (ts);
  g_free (rgba);
  printf ("PASS\n");
  return 0;
}
