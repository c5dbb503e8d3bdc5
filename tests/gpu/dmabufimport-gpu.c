/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 *
 * dmabufimport on an NVIDIA GPU (exits 77, meson's "skipped", elsewhere):
 * spicesrc on the test server's GL display (a memfd scanout, bottom-up)
 * -> dmabufimport -> gldownload -> appsink.  Checks that the output lives
 * in a desktop OpenGL >= 3 context on the NVIDIA renderer (what nvh264enc
 * takes), that every frame is the server's pattern pixel for pixel and
 * upright, and reports which path dmabufimport took (stats): the EGL
 * import where the driver can import DMA-BUFs (needs nvidia-drm), its CPU
 * upload otherwise (HARDWARE.md: the H100 test machine has no nvidia-drm).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gst/app/app.h>
#include <gst/gl/gl.h>
#include <gst/gl/gstglfuncs.h>
#include <gst/gst.h>

#include "testserver.h"
#include "test-pattern.h"

#define SKIP 77
#define WIDTH 320
#define HEIGHT 240
#define FRAMES 30

#define CHECK(cond, ...) do { \
    if (!(cond)) { \
      fprintf (stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      fprintf (stderr, __VA_ARGS__); \
      fprintf (stderr, "\n"); \
      exit (1); \
    } \
  } while (0)

/* The frame in RGBA (gldownload's output) against the pattern in BGRx */
static guint32
check_pixels (GstSample * s)
{
  GstMapInfo map;
  GstBuffer *buf = gst_sample_get_buffer (s);
  guint8 *bgrx = g_malloc ((gsize) WIDTH * HEIGHT * 4);
  guint8 *exp = g_malloc ((gsize) WIDTH * HEIGHT * 4);
  guint32 frame = 0;
  guint64 t = 0;
  gsize i;

  CHECK (gst_buffer_map (buf, &map, GST_MAP_READ), "map");
  CHECK (map.size >= (gsize) WIDTH * HEIGHT * 4, "size %" G_GSIZE_FORMAT,
      map.size);
  for (i = 0; i < (gsize) WIDTH * HEIGHT * 4; i += 4) {
    bgrx[i] = map.data[i + 2];
    bgrx[i + 1] = map.data[i + 1];
    bgrx[i + 2] = map.data[i];
    bgrx[i + 3] = 0xff;
  }
  gst_buffer_unmap (buf, &map);
  CHECK (tp_read_strip (bgrx, WIDTH * 4, &frame, &t), "no code strip "
      "(upside down?)");
  tp_render_expected (exp, WIDTH * 4, frame, t, WIDTH, HEIGHT, 0, 0);
  for (i = 0; i < (gsize) WIDTH * HEIGHT * 4; i += 4)
    CHECK ((bgrx[i] == exp[i] && bgrx[i + 1] == exp[i + 1] &&
            bgrx[i + 2] == exp[i + 2]), "frame %u differs at pixel %"
        G_GSIZE_FORMAT, frame, i / 4);
  g_free (bgrx);
  g_free (exp);
  return frame;
}

static void
get_renderer (GstGLContext * ctx, gpointer data)
{
  const GstGLFuncs *gl = ctx->gl_vtable;

  *(gchar **) data = g_strdup ((const gchar *) gl->GetString (GL_RENDERER));
}

int
main (int argc, char **argv)
{
  const gchar *server = g_getenv ("SPICE_TEST_SERVER");
  const gchar *args[] = { "--gl", "--size", "320x240", "--fps", "30",
    "--gl-y0top", "0", NULL
  };
  TestServer *ts;
  GstElement *p, *sink, *imp;
  GstGLContext *ctx = NULL;
  GstStructure *st = NULL;
  gchar *renderer = NULL, *stats;
  gint major = 0, minor = 0;
  guint32 first = 0, last = 0;
  guint i;
  gchar *desc;

  if (!g_file_test ("/dev/nvidia0", G_FILE_TEST_EXISTS)) {
    printf ("SKIP: no NVIDIA GPU (/dev/nvidia0 missing)\n");
    return SKIP;
  }
  CHECK (server != NULL, "SPICE_TEST_SERVER unset");
  gst_init (&argc, &argv);
  ts = test_server_start (TEST_SERVER_UNIX, args);
  CHECK (ts != NULL, "the test server did not start");
  desc = g_strdup_printf ("spicesrc uri=%s audio=false ! dmabufimport "
      "name=imp ! gldownload ! video/x-raw,format=RGBA ! appsink name=sink "
      "sync=false max-buffers=4", test_server_get_uri (ts));
  p = gst_parse_launch (desc, NULL);
  g_free (desc);
  CHECK (p != NULL, "pipeline");
  sink = gst_bin_get_by_name (GST_BIN (p), "sink");
  imp = gst_bin_get_by_name (GST_BIN (p), "imp");
  gst_element_set_state (p, GST_STATE_PLAYING);
  for (i = 0; i < FRAMES; i++) {
    GstSample *s = gst_app_sink_try_pull_sample (GST_APP_SINK (sink),
        10 * GST_SECOND);
    GstMessage *m = gst_bus_pop_filtered (GST_ELEMENT_BUS (p),
        GST_MESSAGE_ERROR);

    if (m) {
      GError *err = NULL;
      gst_message_parse_error (m, &err, NULL);
      CHECK (FALSE, "error: %s", err->message);
    }
    CHECK (s != NULL, "no frame %u within 10 s", i);
    last = check_pixels (s);
    if (i == 0)
      first = last;
    gst_sample_unref (s);
  }
  CHECK (last >= first + FRAMES / 2, "frames %u .. %u", first, last);

  g_object_get (imp, "context", &ctx, "stats", &st, NULL);
  CHECK (ctx != NULL, "no GL context");
  CHECK (gst_gl_context_get_gl_api (ctx) & GST_GL_API_OPENGL3,
      "not a desktop GL 3 context");
  gst_gl_context_get_gl_version (ctx, &major, &minor);
  CHECK (major >= 3, "GL %d.%d", major, minor);
  gst_gl_context_thread_add (ctx, get_renderer, &renderer);
  CHECK (renderer && strstr (renderer, "NVIDIA"), "renderer %s", renderer);
  stats = gst_structure_to_string (st);
  printf ("dmabufimport on the GPU: %s, GL %d.%d, %d frames pixel-exact, %s\n",
      renderer, major, minor, FRAMES, stats);
  g_free (stats);
  g_free (renderer);
  gst_structure_free (st);
  gst_object_unref (ctx);

  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (imp);
  gst_object_unref (sink);
  gst_object_unref (p);
  test_server_stop (ts);
  printf ("PASS\n");
  return 0;
}
