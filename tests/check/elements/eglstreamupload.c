/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
/* eglstreamupload without a GPU: registration, caps, negotiation of the
 * memory:EGLStream -> GLMemory features, properties, the headless display
 * it shares with dmabufimport, and the clean failure at READY where the EGL
 * display has no EGLStream extensions (Mesa llvmpipe in CI).  On a display
 * that has them (NVIDIA) the READY tests expect success instead; the tests
 * with a real stream are in tests/gpu. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>

#include <EGL/egl.h>
#include <gst/app/app.h>
#include <gst/check/gstcheck.h>
#include "gpucheck.h"
#include <gst/gl/egl/gstgldisplay_egl.h>
#include <gst/gl/egl/gstgldisplay_egl_device.h>
#include <gst/gl/gl.h>

#include "gstspiceeglstream.h"

#define IN_CAPS "video/x-raw(memory:EGLStream),format=BGRx,width=64," \
    "height=48,framerate=30/1"
/* READY must fail (or succeed) this fast: never a hang */
#define READY_DEADLINE_US (2 * G_USEC_PER_SEC)

/* Does EGL device 0 (what the element opens) have EGLStreams? */
static gboolean
display_has_streams (void)
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
  has = exts && strstr (exts, "EGL_KHR_stream ") != NULL
      && strstr (exts, "EGL_KHR_stream_cross_process_fd") != NULL
      && strstr (exts, "EGL_KHR_stream_consumer_gltexture") != NULL;
  gst_object_unref (egl);
  gst_object_unref (device);
  return has;
}

/* Was the plugin built with CUDA (cuda.h found)?  Its source pad template
 * says so; test_registration checks that template exactly. */
static gboolean
built_with_cuda (void)
{
  GstElementFactory *factory = gst_element_factory_find ("eglstreamupload");
  const GList *l;
  gboolean cuda = FALSE;

  fail_unless (factory != NULL);
  for (l = gst_element_factory_get_static_pad_templates (factory); l;
      l = l->next) {
    GstStaticPadTemplate *t = l->data;
    GstCaps *caps = gst_static_caps_get (&t->static_caps);

    if (t->direction == GST_PAD_SRC)
      cuda = caps_have_cuda (caps);
    gst_caps_unref (caps);
  }
  gst_object_unref (factory);
  return cuda;
}

#define CUDA_TEMPLATE "; video/x-raw(memory:CUDAMemory),format={NV12,RGBA}," \
    "width=[1,2147483647],height=[1,2147483647],framerate=[0/1,2147483647/1]"

/* ---------------------------------------------------------------------- */

GST_START_TEST (test_registration)
{
  GstElementFactory *factory = gst_element_factory_find ("eglstreamupload");
  GstPlugin *plugin;
  const GList *l;
  guint seen = 0;

  fail_unless (factory != NULL);
  plugin = gst_plugin_feature_get_plugin (GST_PLUGIN_FEATURE (factory));
  fail_unless_equals_string (gst_plugin_get_name (plugin), "spicegpu");
  gst_object_unref (plugin);

  for (l = gst_element_factory_get_static_pad_templates (factory); l;
      l = l->next) {
    GstStaticPadTemplate *t = l->data;
    GstCaps *caps = gst_static_caps_get (&t->static_caps);
    GstCaps *want;

    if (t->direction == GST_PAD_SINK) {
      fail_unless_equals_string (t->name_template, "sink");
      want = gst_caps_from_string ("video/x-raw(memory:EGLStream),"
          "format={BGRx,BGRA,RGBx,RGBA},width=[1,2147483647],"
          "height=[1,2147483647],framerate=[0/1,2147483647/1]");
    } else {
      fail_unless_equals_string (t->name_template, "src");
      /* CUDA memory after GL memory when built with cuda.h */
      want = gst_caps_from_string (built_with_cuda ()?
          "video/x-raw(memory:GLMemory),format=RGBA,width=[1,2147483647],"
          "height=[1,2147483647],framerate=[0/1,2147483647/1],"
          "texture-target=2D" CUDA_TEMPLATE :
          "video/x-raw(memory:GLMemory),format=RGBA,width=[1,2147483647],"
          "height=[1,2147483647],framerate=[0/1,2147483647/1],"
          "texture-target=2D");
    }
    fail_unless (t->presence == GST_PAD_ALWAYS);
    fail_unless (gst_caps_is_equal (caps, want), "%s: %" GST_PTR_FORMAT,
        t->name_template, caps);
    gst_caps_unref (caps);
    gst_caps_unref (want);
    seen++;
  }
  fail_unless_equals_int (seen, 2);
  /* the feature name is defined once, in gst/ */
  fail_unless_equals_string (GST_CAPS_FEATURE_MEMORY_EGL_STREAM,
      "memory:EGLStream");
  gst_object_unref (factory);
}

GST_END_TEST;

GST_START_TEST (test_caps)
{
  GstElement *e = gst_element_factory_make ("eglstreamupload", NULL);
  GstCaps *in, *out, *want;

  fail_unless (accepts (e, IN_CAPS));
  fail_unless (accepts (e, "video/x-raw(memory:EGLStream),format=RGBA,"
          "width=1920,height=1080,framerate=60/1"));
  fail_if (accepts (e, "video/x-raw,format=BGRx,width=64,height=48,"
          "framerate=30/1"));
  fail_if (accepts (e, "video/x-raw(memory:DMABuf),format=BGRx,width=64,"
          "height=48,framerate=30/1"));
  fail_if (accepts (e, "video/x-raw(memory:EGLStream),format=NV12,width=64,"
          "height=48,framerate=30/1"));

  in = gst_caps_from_string (IN_CAPS);
  out = GST_BASE_TRANSFORM_GET_CLASS (e)->transform_caps (GST_BASE_TRANSFORM
      (e), GST_PAD_SINK, in, NULL);
  /* GL first; CUDA only where it can work */
  want = gst_caps_from_string ("video/x-raw(memory:GLMemory),format=RGBA,"
      "width=64,height=48,framerate=30/1,texture-target=2D");
  if (have_libcuda () && built_with_cuda ()) {
    GstCaps *cuda = gst_caps_from_string ("video/x-raw(memory:CUDAMemory),"
        "format=NV12,width=64,height=48,framerate=30/1,colorimetry=bt601; "
        "video/x-raw(memory:CUDAMemory),format=RGBA,width=64,height=48,"
        "framerate=30/1");

    want = gst_caps_merge (want, cuda);
  }
  fail_unless (gst_caps_is_strictly_equal (out, want), "%" GST_PTR_FORMAT, out);
  gst_caps_unref (in);
  gst_caps_unref (out);
  gst_caps_unref (want);

  /* upstream: EGLStream for GL memory, nothing for system memory */
  in = gst_caps_from_string ("video/x-raw(memory:GLMemory),format=RGBA,"
      "width=64,height=48,texture-target=2D; video/x-raw,format=RGBA");
  out = GST_BASE_TRANSFORM_GET_CLASS (e)->transform_caps (GST_BASE_TRANSFORM
      (e), GST_PAD_SRC, in, NULL);
  want = gst_caps_from_string ("video/x-raw(memory:EGLStream),"
      "format={BGRx,BGRA,RGBx,RGBA},width=64,height=48");
  fail_unless (gst_caps_is_equal (out, want), "%" GST_PTR_FORMAT, out);
  gst_caps_unref (in);
  gst_caps_unref (out);
  gst_caps_unref (want);
  gst_object_unref (e);
}

GST_END_TEST;

/* Negotiation through linked pads (caps queries need no running
 * element): appsrc memory:EGLStream -> eglstreamupload -> capsfilter ->
 * fakesink. */
static void
link_unchecked (GstElement * a, GstElement * b)
{
  GstPad *srcpad = gst_element_get_static_pad (a, "src");
  GstPad *sinkpad = gst_element_get_static_pad (b, "sink");

  fail_unless_equals_int (gst_pad_link_full (srcpad, sinkpad,
          GST_PAD_LINK_CHECK_NOTHING), GST_PAD_LINK_OK);
  gst_object_unref (srcpad);
  gst_object_unref (sinkpad);
}

static GstCaps *
negotiable (const gchar * downstream_caps)
{
  GstElement *bin, *src, *up, *filter, *sink;
  GstCaps *caps, *in, *result;
  GstPad *pad;

  bin = gst_pipeline_new (NULL);
  src = gst_element_factory_make ("appsrc", NULL);
  up = gst_element_factory_make ("eglstreamupload", NULL);
  filter = gst_element_factory_make ("capsfilter", NULL);
  sink = gst_element_factory_make ("fakesink", NULL);
  in = gst_caps_from_string (IN_CAPS);
  g_object_set (src, "caps", in, NULL);
  caps = gst_caps_from_string (downstream_caps);
  g_object_set (filter, "caps", caps, NULL);
  gst_caps_unref (caps);
  gst_bin_add_many (GST_BIN (bin), src, up, filter, sink, NULL);
  /* linked without checks: the caps query below is the test */
  link_unchecked (src, up);
  link_unchecked (up, filter);
  link_unchecked (filter, sink);

  /* what eglstreamupload takes from appsrc, given what downstream wants */
  pad = gst_element_get_static_pad (src, "src");
  caps = gst_pad_peer_query_caps (pad, in);
  gst_object_unref (pad);
  gst_caps_unref (in);
  result = caps;
  gst_object_unref (bin);
  return result;
}

GST_START_TEST (test_negotiation)
{
  GstCaps *caps, *want;
  GstElement *bin, *src, *up;
  GstPad *srcpad, *sinkpad;

  /* GL memory downstream: the EGLStream caps go through */
  caps = negotiable ("video/x-raw(memory:GLMemory),format=RGBA");
  want = gst_caps_from_string (IN_CAPS);
  fail_unless (gst_caps_is_equal (caps, want), "%" GST_PTR_FORMAT, caps);
  gst_caps_unref (caps);
  gst_caps_unref (want);

  /* the size is carried over: another size downstream refuses it */
  caps = negotiable ("video/x-raw(memory:GLMemory),format=RGBA,width=32");
  fail_unless (gst_caps_is_empty (caps), "%" GST_PTR_FORMAT, caps);
  gst_caps_unref (caps);

  /* system memory or another GL format downstream: nothing */
  caps = negotiable ("video/x-raw,format=RGBA");
  fail_unless (gst_caps_is_empty (caps), "%" GST_PTR_FORMAT, caps);
  gst_caps_unref (caps);
  caps = negotiable ("video/x-raw(memory:GLMemory),format=BGRA");
  fail_unless (gst_caps_is_empty (caps), "%" GST_PTR_FORMAT, caps);
  gst_caps_unref (caps);

  /* system-memory input is refused at link time */
  bin = gst_pipeline_new (NULL);
  src = gst_element_factory_make ("videotestsrc", NULL);
  up = gst_element_factory_make ("eglstreamupload", NULL);
  gst_bin_add_many (GST_BIN (bin), src, up, NULL);
  srcpad = gst_element_get_static_pad (src, "src");
  sinkpad = gst_element_get_static_pad (up, "sink");
  fail_unless_equals_int (gst_pad_link (srcpad, sinkpad),
      GST_PAD_LINK_NOFORMAT);
  gst_object_unref (srcpad);
  gst_object_unref (sinkpad);
  gst_object_unref (bin);
}

GST_END_TEST;

GST_START_TEST (test_property_defaults)
{
  GstElement *e = gst_element_factory_make ("eglstreamupload", NULL);
  GstStructure *stats = NULL;
  guint device = 42, timeout = 0;
  gboolean error_on_disconnect = TRUE;
  gint consumer = -1;
  guint64 v;
  GParamSpec *pspec;

  g_object_get (e, "device", &device, "consumer", &consumer,
      "error-on-disconnect", &error_on_disconnect, "timeout", &timeout,
      "stats", &stats, NULL);
  fail_unless_equals_int (device, 0);
  fail_unless_equals_int (consumer, 0);
  fail_unless (!error_on_disconnect);
  fail_unless_equals_int (timeout, 1000);

  pspec = g_object_class_find_property (G_OBJECT_GET_CLASS (e), "consumer");
  fail_unless (G_IS_PARAM_SPEC_ENUM (pspec));
  fail_unless (g_enum_get_value_by_nick (G_PARAM_SPEC_ENUM (pspec)->enum_class,
          "auto") != NULL);
  fail_unless (g_enum_get_value_by_nick (G_PARAM_SPEC_ENUM (pspec)->enum_class,
          "gl") != NULL);
  fail_unless (g_enum_get_value_by_nick (G_PARAM_SPEC_ENUM (pspec)->enum_class,
          "cuda") != NULL);
  /* the same device property as dmabufimport */
  fail_unless ((g_object_class_find_property (G_OBJECT_GET_CLASS (e),
              "device")->flags & GST_PARAM_MUTABLE_READY) != 0);

  fail_unless (stats != NULL);
  fail_unless (gst_structure_get_uint64 (stats, "frames", &v) && v == 0);
  fail_unless (gst_structure_get_uint64 (stats, "frames-dropped", &v)
      && v == 0);
  fail_unless (gst_structure_get_uint64 (stats, "acquire-timeouts", &v)
      && v == 0);
  fail_unless_equals_string (gst_structure_get_string (stats, "consumer"),
      "none");
  gst_structure_free (stats);

  g_object_set (e, "consumer", 1, "error-on-disconnect", TRUE, "timeout",
      250, "device", 3, NULL);
  g_object_get (e, "device", &device, "consumer", &consumer,
      "error-on-disconnect", &error_on_disconnect, "timeout", &timeout, NULL);
  fail_unless_equals_int (device, 3);
  fail_unless_equals_int (consumer, 1);
  fail_unless (error_on_disconnect);
  fail_unless_equals_int (timeout, 250);
  gst_object_unref (e);
}

GST_END_TEST;

/* Sets @e to READY alone; returns the error's message (NULL if READY
 * succeeded) and checks it came fast. */
static gchar *
ready_error (GstElement * e)
{
  GstBus *bus = gst_bus_new ();
  GstStateChangeReturn ret;
  GstMessage *msg;
  GError *err = NULL;
  gchar *dbg = NULL, *text = NULL;
  gint64 start = g_get_monotonic_time ();

  gst_element_set_bus (e, bus);
  ret = gst_element_set_state (e, GST_STATE_READY);
  fail_unless (g_get_monotonic_time () - start < READY_DEADLINE_US,
      "READY took %" G_GINT64_FORMAT " us", g_get_monotonic_time () - start);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  if (ret == GST_STATE_CHANGE_FAILURE) {
    fail_unless (msg != NULL, "failed without an error message");
    fail_unless (msg->src == GST_OBJECT (e));
    gst_message_parse_error (msg, &err, &dbg);
    text = g_strdup_printf ("%s\n%s", err->message, dbg);
    g_error_free (err);
    g_free (dbg);
  } else {
    fail_unless (msg == NULL, "error at READY: %" GST_PTR_FORMAT, msg);
  }
  if (msg)
    gst_message_unref (msg);
  gst_element_set_state (e, GST_STATE_NULL);
  gst_element_set_bus (e, NULL);
  gst_object_unref (bus);
  return text;
}

GST_START_TEST (test_ready_fails_without_streams)
{
  gboolean has = display_has_streams ();
  GstElement *e = gst_element_factory_make ("eglstreamupload", NULL);
  gchar *text;
  gint i;

  /* twice: a failed READY leaves the element ready to try again */
  for (i = 0; i < 2; i++) {
    text = ready_error (e);
    if (has) {
      fail_unless (text == NULL, "%s", text);
      continue;
    }
    fail_unless (text != NULL, "READY succeeded without EGL_KHR_stream");
    GST_INFO ("%s", text);
    fail_unless (g_str_has_prefix (text, "Cannot consume EGLStreams: the "
            "EGL display lacks EGL_KHR_stream"), "%s", text);
    fail_unless (strstr (text, "EGL_KHR_stream_cross_process_fd") != NULL,
        "%s", text);
    fail_unless (strstr (text, "EGL_KHR_stream_consumer_gltexture") != NULL,
        "%s", text);
    /* names the device and the driver */
    fail_unless (strstr (text, "EGL vendor ") != NULL, "%s", text);
    fail_unless (strstr (text, "GL display") != NULL
        || strstr (text, "EGL device") != NULL, "%s", text);
    g_free (text);
  }
  gst_object_unref (e);
}

GST_END_TEST;

GST_START_TEST (test_pipeline_error_without_streams)
{
  GstElement *pipeline;
  GstBus *bus;
  GstMessage *msg;
  GError *err = NULL;
  gint64 start;

  if (display_has_streams ())
    return;
  pipeline = gst_parse_launch ("appsrc caps=\"" IN_CAPS "\" ! "
      "eglstreamupload name=up ! fakesink", NULL);
  fail_unless (pipeline != NULL);
  bus = gst_element_get_bus (pipeline);
  start = g_get_monotonic_time ();
  fail_unless_equals_int (gst_element_set_state (pipeline, GST_STATE_PLAYING),
      GST_STATE_CHANGE_FAILURE);
  msg = gst_bus_timed_pop_filtered (bus, 0, GST_MESSAGE_ERROR);
  fail_unless (g_get_monotonic_time () - start < READY_DEADLINE_US);
  fail_unless (msg != NULL);
  fail_unless_equals_string (GST_OBJECT_NAME (msg->src), "up");
  gst_message_parse_error (msg, &err, NULL);
  fail_unless (g_error_matches (err, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_SETTINGS), "%s", err->message);
  fail_unless (strstr (err->message, "EGL_KHR_stream") != NULL);
  g_error_free (err);
  gst_message_unref (msg);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
}

GST_END_TEST;

/* Without libcuda.so.1 (CI) no CUDA caps are offered, whatever the build:
 * negotiation can never pick CUDA memory there. */
GST_START_TEST (test_no_cuda_caps_without_driver)
{
  GstElement *e;
  GstPad *pad;
  GstCaps *caps, *in;

  if (have_libcuda ()) {
    GST_INFO ("libcuda.so.1 present: the CUDA caps are tested in tests/gpu");
    return;
  }
  e = gst_element_factory_make ("eglstreamupload", NULL);
  /* (READY fails on displays without EGLStreams: the pads answer anyway) */
  pad = gst_element_get_static_pad (e, "src");
  caps = gst_pad_query_caps (pad, NULL);
  fail_if (gst_caps_is_empty (caps));
  fail_if (caps_have_cuda (caps), "%" GST_PTR_FORMAT, caps);
  gst_caps_unref (caps);
  gst_object_unref (pad);

  /* CUDA memory downstream maps to nothing upstream */
  in = gst_caps_from_string ("video/x-raw(memory:CUDAMemory),format=NV12,"
      "width=64,height=48");
  caps = GST_BASE_TRANSFORM_GET_CLASS (e)->transform_caps (GST_BASE_TRANSFORM
      (e), GST_PAD_SRC, in, NULL);
  fail_unless (gst_caps_is_empty (caps), "%" GST_PTR_FORMAT, caps);
  gst_caps_unref (caps);
  gst_caps_unref (in);
  gst_object_unref (e);

  caps = negotiable ("video/x-raw(memory:CUDAMemory)");
  fail_unless (gst_caps_is_empty (caps), "%" GST_PTR_FORMAT, caps);
  gst_caps_unref (caps);
  caps = negotiable ("video/x-raw(memory:CUDAMemory),format=RGBA");
  fail_unless (gst_caps_is_empty (caps), "%" GST_PTR_FORMAT, caps);
  gst_caps_unref (caps);
}

GST_END_TEST;

/* consumer=cuda without CUDA: READY fails at once, naming what is missing
 * (before the EGL check, which would name EGL extensions instead). */
GST_START_TEST (test_consumer_cuda_refused)
{
  GstElement *e;
  gchar *text;
  gint i;

  if (have_libcuda ()) {
    GST_INFO ("libcuda.so.1 present: consumer=cuda is tested in tests/gpu");
    return;
  }
  e = gst_element_factory_make ("eglstreamupload", NULL);
  gst_util_set_object_arg (G_OBJECT (e), "consumer", "cuda");
  for (i = 0; i < 2; i++) {
    text = ready_error (e);
    fail_unless (text != NULL, "READY succeeded with consumer=cuda and no "
        "libcuda.so.1");
    GST_INFO ("%s", text);
    fail_unless (g_str_has_prefix (text, "Cannot use the CUDA EGLStream "
            "consumer (consumer=cuda): "), "%s", text);
    if (built_with_cuda ())
      fail_unless (strstr (text, "libcuda.so.1 could not be loaded") != NULL,
          "%s", text);
    else
      fail_unless (strstr (text, "has no CUDA support") != NULL, "%s", text);
    fail_unless (strstr (text, "EGL_KHR_stream") == NULL, "%s", text);
    g_free (text);
  }

  /* gl and auto fail on the EGL extensions as before, not on CUDA */
  gst_util_set_object_arg (G_OBJECT (e), "consumer", "auto");
  text = ready_error (e);
  if (text) {
    fail_unless (strstr (text, "CUDA") == NULL, "%s", text);
    g_free (text);
  }
  gst_object_unref (e);
}

GST_END_TEST;

/* With no window system in the environment, the element opens EGL device
 * `device` itself, and says so in its error. */
GST_START_TEST (test_ready_headless)
{
  gchar *saved[N_WINDOW_VARS];
  GstElement *e;
  gchar *text;

  unset_window_env (saved);
  e = gst_element_factory_make ("eglstreamupload", NULL);
  text = ready_error (e);
  if (!display_has_streams ()) {
    fail_unless (text != NULL);
    fail_unless (strstr (text, "(EGL device 0, EGL vendor") != NULL, "%s",
        text);
    g_free (text);
  } else {
    fail_unless (text == NULL, "%s", text);
  }

  g_object_set (e, "device", 4242, NULL);
  text = ready_error (e);
  fail_unless (text != NULL);
  fail_unless (g_str_has_prefix (text, "Could not open EGL device 4242"),
      "%s", text);
  g_free (text);
  gst_object_unref (e);
  restore_window_env (saved);
}

GST_END_TEST;

/* A GL neighbour asking for a display (GL elements downstream reach READY
 * first) gets the element's headless EGL device display: the same choice
 * as dmabufimport's, from the same code. */
GST_START_TEST (test_headless_display_shared)
{
  static const gchar *const names[] = { "eglstreamupload", "dmabufimport" };
  gchar *saved[N_WINDOW_VARS];
  guint i;

  unset_window_env (saved);
  for (i = 0; i < G_N_ELEMENTS (names); i++) {
    GstElement *e = gst_element_factory_make (names[i], NULL);
    GstPad *pad = gst_element_get_static_pad (e, "src");
    GstQuery *query = gst_query_new_context (GST_GL_DISPLAY_CONTEXT_TYPE);
    GstContext *context = NULL;
    GstGLDisplay *display = NULL;

    fail_unless (e != NULL, "%s missing", names[i]);
    fail_unless (gst_pad_query (pad, query), "%s did not answer", names[i]);
    gst_query_parse_context (query, &context);
    fail_unless (context != NULL);
    fail_unless (gst_context_get_gl_display (context, &display));
    fail_unless (GST_IS_GL_DISPLAY_EGL_DEVICE (display), "%s: %s", names[i],
        G_OBJECT_TYPE_NAME (display));
    gst_object_unref (display);
    gst_query_unref (query);
    gst_object_unref (pad);
    gst_object_unref (e);
  }
  restore_window_env (saved);
}

GST_END_TEST;

static Suite *
eglstreamupload_suite (void)
{
  Suite *s = suite_create ("eglstreamupload");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_registration);
  tcase_add_test (tc, test_caps);
  tcase_add_test (tc, test_negotiation);
  tcase_add_test (tc, test_property_defaults);
  tcase_add_test (tc, test_ready_fails_without_streams);
  tcase_add_test (tc, test_pipeline_error_without_streams);
  tcase_add_test (tc, test_no_cuda_caps_without_driver);
  tcase_add_test (tc, test_consumer_cuda_refused);
  tcase_add_test (tc, test_ready_headless);
  tcase_add_test (tc, test_headless_display_shared);
  return s;
}

GST_CHECK_MAIN (eglstreamupload);
