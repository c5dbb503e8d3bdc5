/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 *
 * Every element of the plugin, cycled through all states against a live
 * test server (as gstreamer's generic/states does for stock elements).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>

#include <gst/check/gstcheck.h>

#include "testserver.h"

static const GstState order[] = {
  GST_STATE_READY, GST_STATE_PAUSED, GST_STATE_PLAYING, GST_STATE_PAUSED,
  GST_STATE_READY, GST_STATE_NULL, GST_STATE_PLAYING, GST_STATE_READY,
  GST_STATE_PLAYING, GST_STATE_NULL, GST_STATE_PAUSED, GST_STATE_NULL,
};

static GList *
plugin_elements_of (const gchar * plugin)
{
  GList *features = gst_registry_get_feature_list_by_plugin
      (gst_registry_get (), plugin);
  GList *names = NULL, *l;

  for (l = features; l; l = l->next)
    if (GST_IS_ELEMENT_FACTORY (l->data))
      names = g_list_prepend (names,
          g_strdup (GST_OBJECT_NAME (l->data)));
  gst_plugin_feature_list_free (features);
  return names;
}

static GList *
plugin_elements (void)
{
  return plugin_elements_of ("spice");
}

/* The element in a pipeline: sources (their pads may be dynamic) into a
 * fakesink that does not wait for a first buffer (spicedatasrc has none
 * until the guest writes), sinks fed by a live audiotestsrc. */
static GstElement *
make_pipeline (const gchar * name, const gchar * uri)
{
  GstElementFactory *f = gst_element_factory_find (name);
  gboolean sink = gst_element_factory_list_is_type (f,
      GST_ELEMENT_FACTORY_TYPE_SINK);
  gchar *desc = sink ?
      g_strdup_printf ("audiotestsrc is-live=true ! %s name=e uri=%s", name,
      uri) : g_strdup_printf ("%s name=e uri=%s ! fakesink async=false",
      name, uri);
  GError *err = NULL;
  GstElement *pipeline = gst_parse_launch (desc, &err);
  GstElement *e;

  fail_unless (pipeline != NULL && err == NULL, "'%s': %s", desc,
      err ? err->message : "");
  e = gst_bin_get_by_name (GST_BIN (pipeline), "e");
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (e), "port-name"))
    g_object_set (e, "port-name", "org.test.port", NULL);
  gst_object_unref (e);
  g_free (desc);
  gst_object_unref (f);
  return pipeline;
}

GST_START_TEST (test_state_changes_up_and_down)
{
  const gchar *args[] = { "--size", "160x120", "--audio", "--port-name",
    "org.test.port", NULL
  };
  TestServer *ts = test_server_start (TEST_SERVER_TCP, args);
  GList *names = plugin_elements (), *l;

  fail_unless (names != NULL, "the spice plugin has no elements");
  for (l = names; l; l = l->next) {
    GstElement *pipeline = make_pipeline (l->data, test_server_get_uri (ts));
    guint i;

    GST_INFO ("element %s", (gchar *) l->data);
    for (i = 0; i < G_N_ELEMENTS (order); i++) {
      gint64 t0 = g_get_monotonic_time ();
      GstStateChangeReturn r = gst_element_set_state (pipeline, order[i]);

      /* quick transitions (a connection torn down before it is up) must
       * not wait for a deadline: the element gives up on a session that
       * does not close within 5 s */
      fail_if (g_get_monotonic_time () - t0 > 2 * G_USEC_PER_SEC,
          "%s took %" G_GINT64_FORMAT " ms to go to %s", (gchar *) l->data,
          (g_get_monotonic_time () - t0) / 1000,
          gst_element_state_get_name (order[i]));
      fail_if (r == GST_STATE_CHANGE_FAILURE, "%s to %s failed",
          (gchar *) l->data, gst_element_state_get_name (order[i]));
      r = gst_element_get_state (pipeline, NULL, NULL, 5 * GST_SECOND);
      fail_if (r == GST_STATE_CHANGE_FAILURE || r == GST_STATE_CHANGE_ASYNC,
          "%s stuck going to %s", (gchar *) l->data,
          gst_element_state_get_name (order[i]));
    }
    fail_unless_equals_int (gst_element_set_state (pipeline, GST_STATE_NULL),
        GST_STATE_CHANGE_SUCCESS);
    fail_if (gst_bus_pop_filtered (GST_ELEMENT_BUS (pipeline),
            GST_MESSAGE_ERROR), "error from %s", (gchar *) l->data);
    gst_object_unref (pipeline);
  }
  g_list_free_full (names, g_free);
  test_server_stop (ts);
}

GST_END_TEST;

/* Every element of the GPU plugin, behind spicesrc on a GL display (the
 * test server's memfd scanout), cycled through the states while frames
 * flow: no error, no hang. */
static void
cycle (GstElement * pipeline, const gchar * name)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (order); i++) {
    GstStateChangeReturn r = gst_element_set_state (pipeline, order[i]);

    fail_if (r == GST_STATE_CHANGE_FAILURE, "%s to %s failed", name,
        gst_element_state_get_name (order[i]));
    r = gst_element_get_state (pipeline, NULL, NULL, 5 * GST_SECOND);
    fail_if (r == GST_STATE_CHANGE_FAILURE || r == GST_STATE_CHANGE_ASYNC,
        "%s stuck going to %s", name, gst_element_state_get_name (order[i]));
    if (order[i] == GST_STATE_PLAYING)
      g_usleep (50 * 1000);
  }
  fail_unless_equals_int (gst_element_set_state (pipeline, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
}

GST_START_TEST (test_gpu_elements_state_changes)
{
  const gchar *args[] = { "--gl", "--size", "160x120", NULL };
  TestServer *ts = test_server_start (TEST_SERVER_UNIX, args);
  GList *names = plugin_elements_of ("spicegpu"), *l;

#ifdef HAVE_DMABUFIMPORT
  fail_unless (names != NULL, "the spicegpu plugin has no elements");
#endif
  for (l = names; l; l = l->next) {
    gchar *desc = g_strdup_printf ("spicesrc uri=%s audio=false ! %s name=e "
        "! fakesink async=false", test_server_get_uri (ts),
        (gchar *) l->data);
    GstElement *pipeline = gst_parse_launch (desc, NULL);
    GstMessage *m;

    fail_unless (pipeline != NULL, "%s", desc);
    GST_INFO ("element %s", (gchar *) l->data);
    /* eglstreamupload refuses READY where EGL has no streams (any
     * non-NVIDIA machine): with an error naming the extension */
    if (gst_element_set_state (pipeline, GST_STATE_READY) ==
        GST_STATE_CHANGE_FAILURE) {
      GError *err = NULL;

      m = gst_bus_pop_filtered (GST_ELEMENT_BUS (pipeline),
          GST_MESSAGE_ERROR);
      fail_unless (m != NULL, "%s refused READY without an error",
          (gchar *) l->data);
      gst_message_parse_error (m, &err, NULL);
      fail_unless (strstr (err->message, "EGL_KHR_stream") != NULL,
          "%s refused READY: %s", (gchar *) l->data, err->message);
      GST_INFO ("%s: %s (not cycled here)", (gchar *) l->data, err->message);
      g_error_free (err);
      gst_message_unref (m);
      gst_element_set_state (pipeline, GST_STATE_NULL);
      gst_object_unref (pipeline);
      g_free (desc);
      continue;
    }
    cycle (pipeline, l->data);
    while ((m = gst_bus_pop_filtered (GST_ELEMENT_BUS (pipeline),
                GST_MESSAGE_ERROR))) {
      GError *err = NULL;

      gst_message_parse_error (m, &err, NULL);
      fail ("error from %s: %s", (gchar *) l->data, err->message);
    }
    gst_object_unref (pipeline);
    g_free (desc);
  }
  g_list_free_full (names, g_free);
  test_server_stop (ts);
}

GST_END_TEST;

/* Without configuration every element refuses READY with an error
 * message, rather than crashing or hanging. */
GST_START_TEST (test_unconfigured_elements_refuse_ready)
{
  GList *names = plugin_elements (), *l;

  for (l = names; l; l = l->next) {
    GstElement *e = gst_element_factory_make (l->data, NULL);
    GstBus *bus = gst_bus_new ();
    GstMessage *m;

    gst_element_set_bus (e, bus);
    fail_unless_equals_int (gst_element_set_state (e, GST_STATE_READY),
        GST_STATE_CHANGE_FAILURE);
    m = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
    fail_unless (m != NULL, "%s failed without saying why",
        (gchar *) l->data);
    gst_message_unref (m);
    gst_element_set_state (e, GST_STATE_NULL);
    gst_element_set_bus (e, NULL);
    gst_object_unref (bus);
    gst_object_unref (e);
  }
  g_list_free_full (names, g_free);
}

GST_END_TEST;

static Suite *
states_suite (void)
{
  Suite *s = suite_create ("states");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_state_changes_up_and_down);
  tcase_add_test (tc, test_gpu_elements_state_changes);
  tcase_add_test (tc, test_unconfigured_elements_refuse_ready);
  return s;
}

GST_CHECK_MAIN (states);
