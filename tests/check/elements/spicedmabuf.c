/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 *
 * spicesrc's DMA-BUF caps with the elements that take them, against the
 * project's SPICE test server in GL mode (its scanout is a memfd): the
 * caps form of this GStreamer (format=DMA_DRM, drm-format=XR24 on >= 1.24,
 * format=BGRx on 1.22), and what negotiates with glupload, dmabufimport,
 * videoconvert and vapostproc, checked pixel by pixel after gldownload.
 *
 * Test cases (CK_RUN_CASE), one meson test each:
 * - "general" (elements_spicedmabuf): everywhere;
 * - "import" (elements_spicedmabuf_egl): spicesrc's frames imported
 *   through EGL by glupload and by dmabufimport (one import per scanout,
 *   each format, the flip);
 *   exits 77 (skipped) where EGL device 0 lacks
 *   EGL_EXT_image_dma_buf_import.  (There GStreamer 1.22's glupload still
 *   offers DMA-BUF caps, fails to import and does not fall back: not
 *   negotiated; 1.24's offers DMA-BUF only where EGL imports.)
 * - "va" (elements_spicedmabuf_va): vapostproc's caps against spicesrc's;
 *   exits 77 where vapostproc is not registered (no VA device).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>

#include <EGL/egl.h>
#include <gst/check/gstcheck.h>
#include <gst/app/gstappsink.h>
#include <gst/gl/egl/gstgldisplay_egl.h>
#include <gst/gl/egl/gstgldisplay_egl_device.h>
#include <gst/video/video.h>

#include "gstdrmformat.h"
#include "spicecheck.h"
#include "test-pattern.h"

#define W 320
#define H 240
#define APPSINK "appsink name=sink sync=false max-buffers=4 drop=false " \
    "enable-last-sample=false"

/* ---------------------------------------------------------------------- */
/* helpers                                                                */

static TestServer *
start_gl_server (const gchar * fourcc, const gchar * y0top)
{
  return start_server (TEST_SERVER_UNIX, "--gl", "--size", "320x240",
      "--fps", "30", "--gl-fourcc", fourcc, "--gl-y0top", y0top, NULL);
}

/* The caps spicesrc's video pad has now */
static GstCaps *
src_caps (GstElement * p)
{
  GstElement *src = get (p, "src");
  GstPad *pad = gst_element_get_static_pad (src, "video");
  GstCaps *caps;

  fail_unless (pad != NULL);
  caps = gst_pad_get_current_caps (pad);
  fail_unless (caps != NULL, "spicesrc's video pad has no caps");
  gst_object_unref (pad);
  gst_object_unref (src);
  return caps;
}

/* What spicesrc must say for a GL scanout of @fourcc (linear), size W x H */
static GstCaps *
expected_dmabuf_caps (const gchar * fourcc)
{
  GstVideoFormat format = gst_spice_drm_fourcc_to_video_format
      (GST_STR_FOURCC (fourcc));
  GstCaps *caps;
  gchar *s;

#if GST_CHECK_VERSION (1, 24, 0)
  s = g_strdup_printf ("video/x-raw(memory:DMABuf), format=DMA_DRM, "
      "drm-format=%s, width=%d, height=%d, framerate=30/1, "
      "pixel-aspect-ratio=1/1", fourcc, W, H);
#else
  s = g_strdup_printf ("video/x-raw(memory:DMABuf), format=%s, width=%d, "
      "height=%d, framerate=30/1, pixel-aspect-ratio=1/1",
      gst_video_format_to_string (format), W, H);
#endif
  fail_if (format == GST_VIDEO_FORMAT_UNKNOWN);
  caps = gst_caps_from_string (s);
  g_free (s);
  return caps;
}

/* An RGBA sample (gldownload's output) against the server's frame: the
 * colour channels of every pixel, upright.  Returns the frame number. */
static guint32
check_rgba (GstSample * s)
{
  GstBuffer *buf = gst_sample_get_buffer (s);
  GstVideoInfo info;
  GstVideoFrame f;
  guint8 *bgrx, *exp;
  guint32 frame = 0;
  guint64 t = 0;
  gint x, y, stride;

  fail_unless (gst_video_info_from_caps (&info, gst_sample_get_caps (s)));
  fail_unless_equals_int (GST_VIDEO_INFO_FORMAT (&info), GST_VIDEO_FORMAT_RGBA);
  fail_unless_equals_int (GST_VIDEO_INFO_WIDTH (&info), W);
  fail_unless_equals_int (GST_VIDEO_INFO_HEIGHT (&info), H);
  fail_unless (gst_video_frame_map (&f, &info, buf, GST_MAP_READ));
  stride = GST_VIDEO_FRAME_PLANE_STRIDE (&f, 0);
  /* the server's pattern is xRGB (B, G, R, X in memory) */
  bgrx = g_malloc ((gsize) W * H * 4);
  for (y = 0; y < H; y++) {
    const guint8 *in = (const guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&f, 0)
        + (gsize) y * stride;
    guint8 *out = bgrx + (gsize) y * W * 4;

    for (x = 0; x < W; x++) {
      out[x * 4] = in[x * 4 + 2];
      out[x * 4 + 1] = in[x * 4 + 1];
      out[x * 4 + 2] = in[x * 4];
      out[x * 4 + 3] = 0xff;
    }
  }
  gst_video_frame_unmap (&f);
  fail_unless (tp_read_strip (bgrx, W * 4, &frame, &t),
      "no readable code strip (upside down?): first pixels %08x %08x, last "
      "row %08x", ((guint32 *) bgrx)[0], ((guint32 *) bgrx)[TP_CELL],
      ((guint32 *) bgrx)[(H - 1) * W]);
  exp = g_malloc ((gsize) W * H * 4);
  tp_render_expected (exp, W * 4, frame, t, W, H, 0, 0);
  for (y = 0; y < H; y++) {
    const guint32 *a = (const guint32 *) (bgrx + (gsize) y * W * 4);
    const guint32 *b = (const guint32 *) (exp + (gsize) y * W * 4);

    for (x = 0; x < W; x++)
      if ((a[x] & 0xffffff) != (b[x] & 0xffffff))
        fail ("frame %u differs at %d,%d: %06x expected %06x", frame, x, y,
            a[x] & 0xffffff, b[x] & 0xffffff);
  }
  g_free (exp);
  g_free (bgrx);
  return frame;
}

/* @n frames pulled and checked; they must advance */
static void
check_frames (GstElement * p, GstElement * sink, guint n)
{
  guint i, first = 0, last = 0;

  for (i = 0; i < n; i++) {
    GstSample *s = pull (p, sink);

    last = check_rgba (s);
    if (i == 0)
      first = last;
    gst_sample_unref (s);
  }
  fail_unless (last >= first + n / 2, "frames %u .. %u", first, last);
}

static guint64
stat_u64 (GstElement * p, const gchar * name, const gchar * field)
{
  GstElement *e = get (p, name);
  GstStructure *st = NULL;
  guint64 v = 0;

  g_object_get (e, "stats", &st, NULL);
  fail_unless (st != NULL);
  fail_unless (gst_structure_get_uint64 (st, field, &v), "no %s", field);
  GST_INFO ("%s %" GST_PTR_FORMAT, name, st);
  gst_structure_free (st);
  gst_object_unref (e);
  return v;
}

static gboolean
caps_are_system_memory (GstCaps * caps)
{
  GstCapsFeatures *f = gst_caps_get_features (caps, 0);

  return !f || gst_caps_features_is_equal (f,
      GST_CAPS_FEATURES_MEMORY_SYSTEM_MEMORY);
}

/* ---------------------------------------------------------------------- */
/* "general"                                                              */

/* The pad template of spicesrc's video pad: this GStreamer's DMA-BUF
 * form first */
GST_START_TEST (test_template)
{
  GstElementFactory *f = gst_element_factory_find ("spicesrc");
  const GList *l;
  GstCaps *caps = NULL, *want, *first;

  fail_unless (f != NULL);
  for (l = gst_element_factory_get_static_pad_templates (f); l; l = l->next) {
    GstStaticPadTemplate *t = l->data;

    if (g_str_equal (t->name_template, "video"))
      caps = gst_static_caps_get (&t->static_caps);
  }
  fail_unless (caps != NULL);
#if GST_CHECK_VERSION (1, 24, 0)
  want = gst_caps_from_string ("video/x-raw(memory:DMABuf), format=DMA_DRM, "
      "drm-format={XR24,AR24,XB24,AB24}, width=[1,2147483647], "
      "height=[1,2147483647], framerate=[0/1,2147483647/1]");
#else
  want = gst_caps_from_string ("video/x-raw(memory:DMABuf), "
      "format={BGRx,BGRA,RGBx,RGBA}, width=[1,2147483647], "
      "height=[1,2147483647], framerate=[0/1,2147483647/1]");
#endif
  first = gst_caps_copy_nth (caps, 0);
  fail_unless (gst_caps_is_equal (first, want), "%" GST_PTR_FORMAT, caps);
  gst_caps_unref (first);
  gst_caps_unref (want);
  gst_caps_unref (caps);
  gst_object_unref (f);
}

GST_END_TEST;

/* What the video pad negotiates for each scanout format when downstream
 * takes DMA-BUFs: exactly this GStreamer's form, linear */
GST_START_TEST (test_caps_form)
{
  static const gchar *const fourccs[] = { "XR24", "AR24", "XB24", "AB24" };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (fourccs); i++) {
    TestServer *ts = start_gl_server (fourccs[i], "1");
    GstElement *p, *sink;
    GstCaps *caps, *want;
    GstVideoInfo info;
    guint32 fourcc = 0;
    guint64 modifier = 1;

    p = play (&sink, "spicesrc name=src uri=%s audio=false "
        "draw-done-timeout=3000 ! capsfilter "
        "caps=\"video/x-raw(memory:DMABuf)\" ! " APPSINK,
        test_server_get_uri (ts));
    gst_sample_unref (pull (p, sink));
    caps = src_caps (p);
    want = expected_dmabuf_caps (fourccs[i]);
    GST_INFO ("%" GST_PTR_FORMAT, caps);
    fail_unless (gst_caps_is_equal (caps, want), "%" GST_PTR_FORMAT, caps);
    fail_unless (gst_spice_video_info_from_caps (&info, &fourcc, &modifier,
            caps));
    fail_unless_equals_int (fourcc, GST_STR_FOURCC (fourccs[i]));
#if GST_CHECK_VERSION (1, 24, 0)
    fail_unless (gst_video_is_dma_drm_caps (caps));
    fail_unless_equals_uint64 (modifier, GST_SPICE_DRM_MOD_LINEAR);
#endif
    gst_caps_unref (want);
    gst_caps_unref (caps);
    stop_pipeline (p, sink);
    test_server_stop (ts);
  }
}

GST_END_TEST;

/* spicesrc ! glupload: DMA-BUF caps (on >= 1.24 glupload takes only
 * DMA_DRM: "Downstream cannot take the SPICE display as raw video" before
 * spicesrc spoke it), imported by glupload, every frame let go.  Not the
 * pixels: glupload 1.26.2 on Mesa 25 llvmpipe makes an all-zero texture of
 * a memfd XR24 DMA-BUF (its DirectDmabuf uploader; the same from appsrc),
 * where dmabufimport's import of the same buffer is exact (below). */
GST_START_TEST (test_glupload)
{
  TestServer *ts = start_gl_server ("XR24", "1");
  GstElement *p, *sink;
  GstCaps *caps, *want;
  GstVideoInfo info;
  guint i;

  /* (glupload's buffer keeps the DMA-BUF it wraps until it is freed: a
   * deadline no slow run reaches; repeats every 200 ms) */
  p = play (&sink, "spicesrc name=src uri=%s audio=false "
      "draw-done-timeout=3000 repeat-interval=200 ! glupload ! gldownload ! "
      "capsfilter caps=video/x-raw,format=RGBA ! " APPSINK,
      test_server_get_uri (ts));
  for (i = 0; i < 10; i++) {
    GstSample *s = pull (p, sink);

    fail_unless (gst_video_info_from_caps (&info, gst_sample_get_caps (s)));
    fail_unless_equals_int (GST_VIDEO_INFO_WIDTH (&info), W);
    fail_unless_equals_int (GST_VIDEO_INFO_HEIGHT (&info), H);
    gst_sample_unref (s);
  }
  caps = src_caps (p);
  want = expected_dmabuf_caps ("XR24");
  fail_unless (gst_caps_is_equal (caps, want), "%" GST_PTR_FORMAT, caps);
  gst_caps_unref (want);
  gst_caps_unref (caps);
  /* glupload keeps the DMA-BUF of its last frame until the next one
   * comes: the guest's next draw waits for a repeat (repeat-interval) */
  fail_unless (stat_u64 (p, "src", "frames") + stat_u64 (p, "src",
          "repeats") >= 10);
  fail_unless (stat_u64 (p, "src", "frames") >= 3);
  fail_unless_equals_uint64 (stat_u64 (p, "src", "bytes-copied"), 0);
  stop_pipeline (p, sink);
  test_server_stop (ts);
}

GST_END_TEST;

/* spicesrc ! dmabufimport, both orientations, each path this display has:
 * DMA-BUF caps, exact frames, upright; the CPU path forced everywhere */
static void
run_dmabufimport (const gchar * fourcc, const gchar * y0top,
    const gchar * import_props)
{
  TestServer *ts = start_gl_server (fourcc, y0top);
  GstElement *p, *sink;
  GstCaps *caps, *want;
  guint64 frames, cpu, imports, hits;

  p = play (&sink, "spicesrc name=src uri=%s audio=false "
      "draw-done-timeout=3000 ! dmabufimport name=imp %s ! gldownload ! "
      "capsfilter caps=video/x-raw,format=RGBA ! " APPSINK,
      test_server_get_uri (ts), import_props);
  check_frames (p, sink, 10);
  caps = src_caps (p);
  want = expected_dmabuf_caps (fourcc);
  fail_unless (gst_caps_is_equal (caps, want), "%" GST_PTR_FORMAT, caps);
  gst_caps_unref (want);
  gst_caps_unref (caps);
  fail_unless_equals_uint64 (stat_u64 (p, "src", "bytes-copied"), 0);
  fail_unless_equals_uint64 (stat_u64 (p, "src", "draws-late"), 0);
  frames = stat_u64 (p, "imp", "frames");
  cpu = stat_u64 (p, "imp", "cpu-uploads");
  imports = stat_u64 (p, "imp", "imports");
  hits = stat_u64 (p, "imp", "cache-hits");
  fail_unless (frames >= 10);
  fail_unless_equals_uint64 (imports + hits + cpu, frames);
  if (g_str_has_prefix (import_props, "egl-import=false")) {
    fail_unless_equals_uint64 (cpu, frames);
  } else if (g_str_has_prefix (import_props, "cpu-fallback=false")) {
    /* one scanout: one import, cache hits after */
    fail_unless_equals_uint64 (imports, 1);
    fail_unless_equals_uint64 (cpu, 0);
  }
  stop_pipeline (p, sink);
  test_server_stop (ts);
}

GST_START_TEST (test_dmabufimport_cpu)
{
  run_dmabufimport ("XR24", "1", "egl-import=false");
  run_dmabufimport ("XR24", "0", "egl-import=false");
  run_dmabufimport ("AB24", "0", "egl-import=false");
}

GST_END_TEST;

/* (whichever path this display takes by default) */
GST_START_TEST (test_dmabufimport_default)
{
  run_dmabufimport ("XB24", "0", "");
}

GST_END_TEST;

/* spicesrc ! videoconvert: system memory (videoconvert takes no
 * DMA-BUF), frames copied by spicesrc */
GST_START_TEST (test_videoconvert)
{
  static const gchar *const outs[] = { "I420", "RGBA" };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (outs); i++) {
    TestServer *ts = start_gl_server ("XR24", "0");
    GstElement *p, *sink;
    GstCaps *caps;
    GstVideoInfo info;
    guint k;

    p = play (&sink, "spicesrc name=src uri=%s audio=false ! videoconvert ! "
        "capsfilter caps=video/x-raw,format=%s ! " APPSINK,
        test_server_get_uri (ts), outs[i]);
    for (k = 0; k < 5; k++) {
      GstSample *s = pull (p, sink);

      if (g_str_equal (outs[i], "RGBA") && k >= 2)
        check_rgba (s);
      gst_sample_unref (s);
    }
    caps = src_caps (p);
    GST_INFO ("%" GST_PTR_FORMAT, caps);
    fail_unless (caps_are_system_memory (caps), "%" GST_PTR_FORMAT, caps);
    fail_unless (gst_video_info_from_caps (&info, caps));
    fail_unless_equals_int (GST_VIDEO_INFO_FORMAT (&info),
        GST_VIDEO_FORMAT_BGRx);
    gst_caps_unref (caps);
    fail_unless (stat_u64 (p, "src", "bytes-copied") > 0);
    stop_pipeline (p, sink);
    test_server_stop (ts);
  }
}

GST_END_TEST;

/* ---------------------------------------------------------------------- */
/* "import": dmabufimport's EGL import with spicesrc's frames             */

/* One import per scanout: a guest drawing into one buffer costs one
 * EGLImage, then cache hits; a new scanout (resize) one more. */
GST_START_TEST (test_import_per_scanout)
{
  TestServer *ts = start_gl_server ("XR24", "0");
  GstElement *p, *sink;
  gboolean resized = FALSE;
  gint64 deadline;
  guint i;

  p = play (&sink, "spicesrc name=src uri=%s audio=false "
      "draw-done-timeout=3000 ! dmabufimport name=imp cpu-fallback=false ! "
      "gldownload ! capsfilter caps=video/x-raw,format=RGBA ! " APPSINK,
      test_server_get_uri (ts));
  check_frames (p, sink, 15);
  fail_unless_equals_uint64 (stat_u64 (p, "imp", "imports"), 1);
  fail_unless_equals_uint64 (stat_u64 (p, "imp", "cpu-uploads"), 0);
  fail_unless (stat_u64 (p, "imp", "cache-hits") >= 14);

  /* (refused while a draw is unacknowledged: tried again) */
  deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while (!resized && g_get_monotonic_time () < deadline) {
    gchar *r = test_server_command (ts, "resize 480 360", 2000);

    resized = r && g_str_has_prefix (r, "OK resize");
    g_free (r);
    gst_sample_unref (pull (p, sink));
  }
  fail_unless (resized, "the server did not resize");
  for (i = 0; i < 60; i++) {
    GstSample *s = pull (p, sink);
    GstVideoInfo info;

    fail_unless (gst_video_info_from_caps (&info, gst_sample_get_caps (s)));
    gst_sample_unref (s);
    if (GST_VIDEO_INFO_WIDTH (&info) == 480)
      break;
  }
  fail_unless (i < 60, "no frame of the new size");
  for (i = 0; i < 5; i++)
    gst_sample_unref (pull (p, sink));
  fail_unless_equals_uint64 (stat_u64 (p, "imp", "imports"), 2);
  fail_unless_equals_uint64 (stat_u64 (p, "imp", "cpu-uploads"), 0);
  stop_pipeline (p, sink);
  test_server_stop (ts);
}

GST_END_TEST;

GST_START_TEST (test_import_formats)
{
  run_dmabufimport ("XR24", "1", "cpu-fallback=false");
  run_dmabufimport ("XR24", "0", "cpu-fallback=false");
  run_dmabufimport ("AR24", "1", "cpu-fallback=false");
  run_dmabufimport ("XB24", "0", "cpu-fallback=false");
  run_dmabufimport ("AB24", "1", "cpu-fallback=false");
}

GST_END_TEST;

/* ---------------------------------------------------------------------- */
/* "va": vapostproc, where a VA device registered it                      */

/* vapostproc's sink takes the caps spicesrc gives a GL scanout */
GST_START_TEST (test_vapostproc_caps)
{
  TestServer *ts = start_gl_server ("XR24", "1");
  GstElement *p, *sink, *va;
  GstCaps *caps, *va_caps;
  GstPad *pad;

  p = play (&sink, "spicesrc name=src uri=%s audio=false "
      "draw-done-timeout=3000 ! capsfilter "
      "caps=\"video/x-raw(memory:DMABuf)\" ! " APPSINK,
      test_server_get_uri (ts));
  gst_sample_unref (pull (p, sink));
  caps = src_caps (p);
  stop_pipeline (p, sink);

  va = gst_element_factory_make ("vapostproc", NULL);
  fail_unless (va != NULL);
  fail_unless_equals_int (gst_element_set_state (va, GST_STATE_READY),
      GST_STATE_CHANGE_SUCCESS);
  pad = gst_element_get_static_pad (va, "sink");
  va_caps = gst_pad_query_caps (pad, NULL);
  GST_INFO ("vapostproc takes %" GST_PTR_FORMAT, va_caps);
  fail_unless (gst_caps_can_intersect (caps, va_caps), "vapostproc takes %"
      GST_PTR_FORMAT ", spicesrc gives %" GST_PTR_FORMAT, va_caps, caps);
  fail_unless (gst_pad_query_accept_caps (pad, caps), "%" GST_PTR_FORMAT, caps);
  gst_caps_unref (va_caps);
  gst_caps_unref (caps);
  gst_object_unref (pad);
  gst_element_set_state (va, GST_STATE_NULL);
  gst_object_unref (va);
  test_server_stop (ts);
}

GST_END_TEST;

/* ---------------------------------------------------------------------- */

/* Does EGL device 0 (what dmabufimport opens) import DMA-BUFs? */
static gboolean
display_has_import (gchar ** why)
{
  GstGLDisplayEGLDevice *device = gst_gl_display_egl_device_new (0);
  GstGLDisplayEGL *egl;
  EGLDisplay dpy;
  const gchar *exts;
  gboolean has = FALSE;

  if (!device) {
    *why = g_strdup ("no EGL device 0");
    return FALSE;
  }
  egl = gst_gl_display_egl_from_gl_display (GST_GL_DISPLAY (device));
  dpy = (EGLDisplay) gst_gl_display_get_handle (GST_GL_DISPLAY (egl));
  if (eglInitialize (dpy, NULL, NULL)) {
    exts = eglQueryString (dpy, EGL_EXTENSIONS);
    has = exts && strstr (exts, "EGL_EXT_image_dma_buf_import") != NULL;
  }
  *why = g_strdup_printf ("EGL device 0 (%s) %s EGL_EXT_image_dma_buf_import",
      GST_STR_NULL (eglQueryString (dpy, EGL_VENDOR)), has ? "has" : "lacks");
  gst_object_unref (egl);
  gst_object_unref (device);
  return has;
}

static Suite *
spicedmabuf_suite (void)
{
  Suite *s = suite_create ("spicedmabuf");
  TCase *tc = tcase_create ("general");

  tcase_add_checked_fixture (tc, NULL, spicecheck_teardown);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_template);
  tcase_add_test (tc, test_caps_form);
  tcase_add_test (tc, test_dmabufimport_cpu);
  tcase_add_test (tc, test_dmabufimport_default);
  tcase_add_test (tc, test_videoconvert);

  tc = tcase_create ("import");
  tcase_set_tags (tc, "import");
  tcase_add_checked_fixture (tc, NULL, spicecheck_teardown);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_glupload);
  tcase_add_test (tc, test_import_formats);
  tcase_add_test (tc, test_import_per_scanout);

  tc = tcase_create ("va");
  tcase_set_tags (tc, "va");
  tcase_add_checked_fixture (tc, NULL, spicecheck_teardown);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_vapostproc_caps);
  return s;
}

int
main (int argc, char **argv)
{
  const gchar *run_case = g_getenv ("CK_RUN_CASE");
  GstElementFactory *va;
  gboolean has_import, has_va;
  gchar *why = NULL, *exclude = NULL;
  int ret;

  gst_check_init (&argc, &argv);
  has_import = display_has_import (&why);
  va = gst_element_factory_find ("vapostproc");
  has_va = va != NULL;
  gst_clear_object (&va);
  /* a case this machine cannot run is skipped, and says why (meson shows
   * exit status 77 as SKIP) */
  if (g_strcmp0 (run_case, "import") == 0 && !has_import) {
    g_print ("SKIP: test case \"import\": %s\n", why);
    g_free (why);
    return 77;
  }
  if (g_strcmp0 (run_case, "va") == 0 && !has_va) {
    g_print ("SKIP: test case \"va\": vapostproc is not registered (no VA "
        "device: the va plugin registers its elements per DRM render "
        "node)\n");
    g_free (why);
    return 77;
  }
  if (!run_case) {
    /* by hand: every case this machine can run */
    exclude = g_strjoin (" ", has_import ? "" : "import",
        has_va ? "" : "va", NULL);
    g_print ("%s; vapostproc %s: not running \"%s\"\n", why,
        has_va ? "registered" : "not registered", exclude);
    g_setenv ("CK_EXCLUDE_TAGS", exclude, TRUE);
  }
  g_free (why);
  ret = gst_check_run_suite (spicedmabuf_suite (), "spicedmabuf", __FILE__);
  g_free (exclude);
  return ret;
}
