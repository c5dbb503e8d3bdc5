/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 *
 * examples/spice-rtsp-server ($SPICE_RTSP_SERVER) against the test server
 * playing a 440 Hz sine: two rtspsrc viewers at once, one over UDP and one
 * over TCP, each get H.264 4:2:0 frames (a keyframe among them) and the
 * sine decoded from Opus, from one pipeline (the shared media), and the
 * SPICE server sees one client.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/check/gstcheck.h>
#include <gst/app/gstappsink.h>
#include <gst/audio/audio.h>
#include <gio/gio.h>
#include <math.h>

#include "spicecheck.h"
#include "test-audio.h"

typedef struct
{
  GMutex lock;
  guint frames, keyframes;
  guint audio_buffers, loud_buffers;    /* loud: RMS of the sine */
  GstCaps *video_caps;
} Viewer;

static GstFlowReturn
on_video (GstAppSink * sink, gpointer data)
{
  Viewer *v = data;
  GstSample *s = gst_app_sink_pull_sample (sink);
  GstBuffer *buf = gst_sample_get_buffer (s);

  g_mutex_lock (&v->lock);
  v->frames++;
  if (!GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DELTA_UNIT))
    v->keyframes++;
  gst_caps_replace (&v->video_caps, gst_sample_get_caps (s));
  g_mutex_unlock (&v->lock);
  gst_sample_unref (s);
  return GST_FLOW_OK;
}

static GstFlowReturn
on_audio (GstAppSink * sink, gpointer data)
{
  Viewer *v = data;
  GstSample *s = gst_app_sink_pull_sample (sink);
  GstMapInfo map;
  gdouble sum = 0;
  gsize i, n;

  gst_buffer_map (gst_sample_get_buffer (s), &map, GST_MAP_READ);
  n = map.size / sizeof (gint16);
  for (i = 0; i < n; i++) {
    gdouble x = ((const gint16 *) map.data)[i];
    sum += x * x;
  }
  gst_buffer_unmap (gst_sample_get_buffer (s), &map);
  g_mutex_lock (&v->lock);
  v->audio_buffers++;
  /* the sine's RMS is TA_SINE_AMPLITUDE / sqrt (2), 11585 */
  if (n > 0 && sqrt (sum / n) > TA_SINE_AMPLITUDE / 2)
    v->loud_buffers++;
  g_mutex_unlock (&v->lock);
  gst_sample_unref (s);
  return GST_FLOW_OK;
}

static GstElement *
start_viewer (const gchar * url, const gchar * protocols, Viewer * v)
{
  GstAppSinkCallbacks vcb = { NULL, NULL, on_video, };
  GstAppSinkCallbacks acb = { NULL, NULL, on_audio, };
  GstElement *p, *sink;

  p = launch ("rtspsrc location=%s protocols=%s latency=200 name=r "
      "r. ! rtph264depay ! h264parse ! appsink name=v sync=false "
      "r. ! rtpopusdepay ! opusdec ! audioconvert ! "
      "audio/x-raw,format=S16LE ! appsink name=a sync=false", url, protocols);
  sink = get (p, "v");
  gst_app_sink_set_callbacks (GST_APP_SINK (sink), &vcb, v, NULL);
  gst_object_unref (sink);
  sink = get (p, "a");
  gst_app_sink_set_callbacks (GST_APP_SINK (sink), &acb, v, NULL);
  gst_object_unref (sink);
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  return p;
}

static gboolean
viewer_done (Viewer * v)
{
  gboolean done;

  g_mutex_lock (&v->lock);
  /* 1 s of video at 30 fps, 1 s of sound in 20 ms Opus frames */
  done = v->frames >= 30 && v->keyframes >= 1 && v->loud_buffers >= 50;
  g_mutex_unlock (&v->lock);
  return done;
}

static void
check_no_error (GstElement * p, const gchar * which)
{
  GstMessage *m = gst_bus_pop_filtered (GST_ELEMENT_BUS (p),
      GST_MESSAGE_ERROR);

  if (m) {
    GError *e;
    gchar *dbg;

    gst_message_parse_error (m, &e, &dbg);
    fail ("viewer %s: %s (%s)", which, e->message, dbg);
  }
}

static void
check_viewer (Viewer * v, const gchar * which)
{
  GstStructure *st;
  const gchar *chroma, *profile;

  GST_INFO ("viewer %s: %u frames (%u key), %u audio buffers (%u loud), %"
      GST_PTR_FORMAT, which, v->frames, v->keyframes, v->audio_buffers,
      v->loud_buffers, v->video_caps);
  fail_unless (v->frames >= 30 && v->keyframes >= 1,
      "viewer %s: %u frames, %u keyframes", which, v->frames, v->keyframes);
  fail_unless (v->loud_buffers >= 50, "viewer %s: %u audio buffers, %u "
      "with the sine", which, v->audio_buffers, v->loud_buffers);
  fail_unless (v->video_caps != NULL);
  st = gst_caps_get_structure (v->video_caps, 0);
  chroma = gst_structure_get_string (st, "chroma-format");
  profile = gst_structure_get_string (st, "profile");
  fail_unless_equals_string (chroma, "4:2:0");
  fail_unless (profile && !g_str_has_prefix (profile, "high-4:4:4"),
      "profile %s", profile);
}

GST_START_TEST (test_rtsp_two_viewers)
{
  const gchar *exe = g_getenv ("SPICE_RTSP_SERVER");
  TestServer *ts = start_server (TEST_SERVER_TCP, "--audio",
      "--audio-signal", "sine", "--size", "320x240", "--fps", "30", NULL);
  GSubprocess *server;
  GDataInputStream *out;
  GError *err = NULL;
  gchar *line, *url, *event;
  GstElement *p1, *p2;
  Viewer v1 = { 0, }, v2 = { 0, };
  gint64 deadline;
  guint pipelines = 0;

  fail_unless (exe != NULL, "SPICE_RTSP_SERVER not set");
  server = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, &err, exe,
      test_server_get_uri (ts), "--port", "0", "--mount", "vm", NULL);
  fail_unless (server != NULL, "%s", err ? err->message : "");
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (server));
  line = g_data_input_stream_read_line (out, NULL, NULL, &err);
  fail_unless (line != NULL, "spice-rtsp-server said nothing: %s",
      err ? err->message : "it exited");
  GST_INFO ("%s", line);
  fail_unless (g_str_has_prefix (line, "serving rtsp://127.0.0.1:"), "%s",
      line);
  url = g_strndup (line + strlen ("serving "),
      strcspn (line + strlen ("serving "), " "));
  fail_unless (g_str_has_suffix (url, "/vm"), "%s", url);
  g_free (line);

  g_mutex_init (&v1.lock);
  g_mutex_init (&v2.lock);
  p1 = start_viewer (url, "udp", &v1);
  p2 = start_viewer (url, "tcp", &v2);
  deadline = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;
  while ((!viewer_done (&v1) || !viewer_done (&v2)) &&
      g_get_monotonic_time () < deadline) {
    check_no_error (p1, "udp");
    check_no_error (p2, "tcp");
    g_usleep (50000);
  }
  check_viewer (&v1, "udp");
  check_viewer (&v2, "tcp");

  /* one SPICE client for both viewers */
  event = test_server_wait_event (ts, "CLIENT connected", 0);
  fail_unless (event != NULL, "the SPICE server saw no client");
  g_free (event);
  event = test_server_wait_event (ts, "CLIENT connected", 500);
  fail_unless (event == NULL, "the SPICE server saw a second client");
  event = test_server_wait_event (ts, "CLIENT disconnected", 0);
  fail_unless (event == NULL, "the SPICE client was dropped");

  stop_pipeline (p1, NULL);
  stop_pipeline (p2, NULL);
  g_subprocess_force_exit (server);
  fail_unless (g_subprocess_wait (server, NULL, NULL));
  /* one pipeline (one encoder) for both viewers: the shared media */
  while ((line = g_data_input_stream_read_line (out, NULL, NULL, NULL))) {
    GST_INFO ("%s", line);
    if (g_str_equal (line, "pipeline started"))
      pipelines++;
    g_free (line);
  }
  fail_unless_equals_int (pipelines, 1);
  g_object_unref (out);
  g_object_unref (server);
  gst_caps_replace (&v1.video_caps, NULL);
  gst_caps_replace (&v2.video_caps, NULL);
  g_mutex_clear (&v1.lock);
  g_mutex_clear (&v2.lock);
  g_free (url);
  test_server_stop (ts);
}

GST_END_TEST;

/* A URI or an encoder the server cannot use is said at once, before any
 * viewer. */
GST_START_TEST (test_rtsp_bad_arguments)
{
  const gchar *exe = g_getenv ("SPICE_RTSP_SERVER");
  GSubprocess *server;
  GError *err = NULL;
  gchar *err_out = NULL;

  fail_unless (exe != NULL, "SPICE_RTSP_SERVER not set");
  server = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
      G_SUBPROCESS_FLAGS_STDERR_PIPE, &err, exe, "spice://127.0.0.1",
      "--port", "0", NULL);
  fail_unless (server != NULL, "%s", err ? err->message : "");
  fail_unless (g_subprocess_communicate_utf8 (server, NULL, NULL, NULL,
          &err_out, &err), "%s", err ? err->message : "");
  fail_unless_equals_int (g_subprocess_get_exit_status (server), 1);
  fail_unless (strstr (err_out, "Invalid SPICE URI") != NULL, "%s", err_out);
  g_free (err_out);
  g_object_unref (server);

  server = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
      G_SUBPROCESS_FLAGS_STDERR_PIPE, &err, exe, "spice://127.0.0.1:5900",
      "--encoder", "h265", NULL);
  fail_unless (g_subprocess_communicate_utf8 (server, NULL, NULL, NULL,
          &err_out, &err), "%s", err ? err->message : "");
  fail_unless_equals_int (g_subprocess_get_exit_status (server), 1);
  fail_unless (strstr (err_out, "no H.264 encoder 'h265'") != NULL, "%s",
      err_out);
  g_free (err_out);
  g_object_unref (server);

  /* an encoder asked for by name that is not registered (no device) */
  if (!gst_registry_check_feature_version (gst_registry_get (), "nvh264enc",
          0, 0, 0)) {
    server = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
        G_SUBPROCESS_FLAGS_STDERR_PIPE, &err, exe, "spice://127.0.0.1:5900",
        "--encoder", "nvh264", NULL);
    fail_unless (g_subprocess_communicate_utf8 (server, NULL, NULL, NULL,
            &err_out, &err), "%s", err ? err->message : "");
    fail_unless_equals_int (g_subprocess_get_exit_status (server), 1);
    fail_unless (strstr (err_out, "encoder nvh264 needs nvh264enc") != NULL,
        "%s", err_out);
    g_free (err_out);
    g_object_unref (server);
  }
}

GST_END_TEST;

static Suite *
spicertsp_suite (void)
{
  Suite *s = suite_create ("spicertsp");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_checked_fixture (tc, NULL, spicecheck_teardown);
  tcase_add_test (tc, test_rtsp_two_viewers);
  tcase_add_test (tc, test_rtsp_bad_arguments);
  return s;
}

GST_CHECK_MAIN (spicertsp);
