/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */

/* Dead links (link-timeout) and bounded stops: a proxy that stops
 * forwarding without closing, a server stopped with SIGSTOP over TCP and
 * over a unix socket, idle links that must survive, reconnection through
 * a link that stays dead for a while, and EOS while stalled or
 * reconnecting. */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include <glib/gstdio.h>
#include <gst/check/gstcheck.h>

#include "spicecheck.h"
#include "spiceproxy.h"

#define APPSINK "appsink name=sink sync=false max-buffers=4 drop=true"
/* a dead link must be noticed within the timeout plus this */
#define NOTICE_SLACK_MS 2500

static gint64
elapsed_ms (gint64 since_us)
{
  return (g_get_monotonic_time () - since_us) / 1000;
}

/* No error on the bus for @ms, frames still coming. */
static void
expect_alive_for (GstElement * p, GstElement * sink, guint ms)
{
  gint64 end = g_get_monotonic_time () + (gint64) ms * 1000;

  while (g_get_monotonic_time () < end) {
    GstMessage *m = gst_bus_pop_filtered (GST_ELEMENT_BUS (p),
        GST_MESSAGE_ERROR);
    GstSample *s;

    if (m) {
      GError *e;
      gchar *dbg;

      gst_message_parse_error (m, &e, &dbg);
      fail ("error on a live link: %s (%s)", e->message, dbg);
    }
    s = pull (p, sink);
    gst_sample_unref (s);
    g_usleep (100 * 1000);
  }
}

/* The error of a dead link: within @timeout_ms + slack of @since_us,
 * naming link-timeout. */
static void
expect_dead_link_error (GstElement * p, gint64 since_us, guint timeout_ms,
    const gchar * needle)
{
  GstMessage *m = wait_error (p, (timeout_ms + NOTICE_SLACK_MS) * GST_MSECOND);
  gint64 ms = elapsed_ms (since_us);

  GST_INFO ("dead link noticed after %" G_GINT64_FORMAT " ms", ms);
  fail_unless (ms >= timeout_ms * 8 / 10, "noticed after %" G_GINT64_FORMAT
      " ms, before the %u ms timeout", ms, timeout_ms);
  assert_error (m, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_READ, needle);
}

/* Every element that connects has link-timeout, 20 s by default. */
GST_START_TEST (test_link_timeout_property)
{
  const gchar *names[] = { "spicesrc", "spicevideosrc", "spiceaudiosrc",
    "spiceaudiosink", "spicedatasink", "spicedatasrc"
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (names); i++) {
    GstElement *e = gst_element_factory_make (names[i], NULL);
    guint v = 0;

    fail_unless (e != NULL, "%s", names[i]);
    g_object_get (e, "link-timeout", &v, NULL);
    fail_unless_equals_int (v, 20000);
    g_object_set (e, "link-timeout", 1500, NULL);
    g_object_get (e, "link-timeout", &v, NULL);
    fail_unless_equals_int (v, 1500);
    gst_object_unref (e);
  }
}

GST_END_TEST;

/* A proxy that stops forwarding both ways (no FIN): the error names the
 * dead link after link-timeout, and NULL comes at once. */
GST_START_TEST (test_stalled_proxy_error)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--size", "160x120",
      "--fps", "30", NULL);
  SpiceProxy *px = spice_proxy_new (test_server_get_port (ts));
  GstElement *p, *sink;
  gint64 t0;

  p = play (&sink, "spicesrc link-timeout=1500 uri=%s ! " APPSINK,
      spice_proxy_get_uri (px));
  expect_alive_for (p, sink, 500);
  t0 = g_get_monotonic_time ();
  spice_proxy_set_stalled (px, TRUE);
  expect_dead_link_error (p, t0, 1500, "link-timeout");
  t0 = g_get_monotonic_time ();
  stop_pipeline (p, sink);
  fail_unless (elapsed_ms (t0) < 2000, "NULL took %" G_GINT64_FORMAT " ms",
      elapsed_ms (t0));
  spice_proxy_free (px);
  test_server_stop (ts);
}

GST_END_TEST;

/* spicesrc with link-timeout=1500 and @props on @ts, alive for @alive_ms;
 * then the server's process is stopped: the error names @why. */
static void
stop_server_expect_dead (TestServer * ts, const gchar * props,
    guint alive_ms, const gchar * why)
{
  GstElement *p, *sink;
  gint64 t0;

  p = play (&sink, "spicesrc link-timeout=1500 %s uri=%s ! " APPSINK, props,
      test_server_get_uri (ts));
  expect_alive_for (p, sink, alive_ms);
  t0 = g_get_monotonic_time ();
  fail_unless (kill (test_server_get_pid (ts), SIGSTOP) == 0);
  expect_dead_link_error (p, t0, 1500, why);
  stop_pipeline (p, sink);
  kill (test_server_get_pid (ts), SIGCONT);
  test_server_stop (ts);
}

/* The server process stopped (SIGSTOP) on TCP: the kernel still answers,
 * nothing else does. */
GST_START_TEST (test_server_stopped_tcp)
{
  stop_server_expect_dead (start_server (TEST_SERVER_TCP, "--size",
          "160x120", "--fps", "30", NULL), "", 500, "nothing received");
}

GST_END_TEST;

/* Over a unix socket the server never pings: an idle link (a still
 * screen) lives on past the timeout; stopping the server's process is
 * noticed. */
GST_START_TEST (test_server_stopped_unix_idle)
{
  stop_server_expect_dead (start_server (TEST_SERVER_UNIX, "--size",
          "160x120", "--fps", "0", NULL), "repeat-interval=100", 4000,
      "was stopped");
}

GST_END_TEST;

/* An idle TCP link (nothing drawn) with an 18 s timeout lives 21 s: the
 * server's pings (every 15 s) are what keeps it. */
GST_START_TEST (test_idle_tcp_link_lives)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--size", "160x120",
      "--fps", "0", NULL);
  GstElement *p, *sink;

  p = play (&sink, "spicesrc link-timeout=18000 repeat-interval=200 uri=%s ! "
      APPSINK, test_server_get_uri (ts));
  expect_alive_for (p, sink, 21000);
  stop_pipeline (p, sink);
  test_server_stop (ts);
}

GST_END_TEST;

/* reconnect=true through a link that stays dead for a while: lost after
 * link-timeout, attempts that get no answer are given up and retried (the
 * proxy sees new connections), and once the link carries data again the
 * stream resumes with new frames. */
GST_START_TEST (test_stalled_proxy_reconnect)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--size", "160x120",
      "--fps", "30", NULL);
  SpiceProxy *px = spice_proxy_new (test_server_get_port (ts));
  GstElement *p, *sink;
  GstSample *s;
  GstMapInfo map;
  guint8 *before;
  gsize size;
  guint accepted, i;
  gboolean changed = FALSE;
  gchar *ev;

  p = play (&sink, "spicesrc reconnect=true link-timeout=1500 "
      "repeat-interval=100 uri=%s ! " APPSINK, spice_proxy_get_uri (px));
  ev = test_server_wait_event (ts, "CLIENT connected", 5000);
  fail_unless (ev != NULL);
  g_free (ev);
  expect_alive_for (p, sink, 500);
  spice_proxy_set_stalled (px, TRUE);
  fail_unless (pop_element_message (p, "spice-disconnected",
          (1500 + NOTICE_SLACK_MS) * GST_MSECOND));
  /* the last frame before: repeated while down */
  s = pull (p, sink);
  gst_buffer_map (gst_sample_get_buffer (s), &map, GST_MAP_READ);
  before = g_memdup2 (map.data, map.size);
  size = map.size;
  gst_buffer_unmap (gst_sample_get_buffer (s), &map);
  gst_sample_unref (s);

  accepted = spice_proxy_get_accepted (px);
  g_usleep (5 * G_USEC_PER_SEC);
  fail_unless (spice_proxy_get_accepted (px) >= accepted + 2,
      "stalled reconnection attempts were not retried (%u -> %u)",
      accepted, spice_proxy_get_accepted (px));

  spice_proxy_set_stalled (px, FALSE);
  fail_unless (pop_element_message (p, "spice-reconnected", 10 * GST_SECOND));
  ev = test_server_wait_event (ts, "CLIENT connected", 5000);
  fail_unless (ev != NULL, "the server saw no second client");
  g_free (ev);
  for (i = 0; i < 60 && !changed; i++) {
    s = pull (p, sink);
    gst_buffer_map (gst_sample_get_buffer (s), &map, GST_MAP_READ);
    changed = map.size != size || memcmp (map.data, before, size) != 0;
    gst_buffer_unmap (gst_sample_get_buffer (s), &map);
    gst_sample_unref (s);
  }
  fail_unless (changed, "no new frame after reconnecting");
  g_free (before);
  stop_pipeline (p, sink);
  spice_proxy_free (px);
  test_server_stop (ts);
}

GST_END_TEST;

/* The data elements: a port kept busy (echo) through the proxy; the dead
 * link ends them with the link-timeout error, and NULL does not wait for
 * the bytes the dead link never took. */
GST_START_TEST (test_data_link_timeout)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--port-name",
      "org.test.port", "--port-mode", "echo", NULL);
  SpiceProxy *px = spice_proxy_new (test_server_get_port (ts));
  GstElement *p, *sink;
  GstMessage *m;
  gint64 t0;

  p = play (&sink, "audiotestsrc is-live=true samplesperbuffer=480 ! "
      "spicedatasink uri=%1$s port-name=org.test.port link-timeout=1500 "
      "spicedatasrc uri=%1$s port-name=org.test.port link-timeout=1500 ! "
      APPSINK, spice_proxy_get_uri (px));
  gst_sample_unref (pull (p, sink));
  gst_sample_unref (pull (p, sink));
  t0 = g_get_monotonic_time ();
  spice_proxy_set_stalled (px, TRUE);
  m = wait_error (p, (1500 + NOTICE_SLACK_MS) * GST_MSECOND);
  GST_INFO ("noticed after %" G_GINT64_FORMAT " ms", elapsed_ms (t0));
  fail_unless (elapsed_ms (t0) >= 1200);
  assert_error (m, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_READ, "link-timeout");
  t0 = g_get_monotonic_time ();
  stop_pipeline (p, sink);
  fail_unless (elapsed_ms (t0) < 2000, "NULL took %" G_GINT64_FORMAT " ms",
      elapsed_ms (t0));
  spice_proxy_free (px);
  test_server_stop (ts);
}

GST_END_TEST;

/* EOS sent to the pipeline comes out within 5 s; the appsink is drained
 * meanwhile, as an application does (it holds EOS back until then) */
static void
expect_eos_soon (GstElement * p, GstElement * sink)
{
  gint64 t0 = g_get_monotonic_time ();
  GstMessage *m = NULL;

  fail_unless (gst_element_send_event (p, gst_event_new_eos ()));
  while (!m && elapsed_ms (t0) < 5000) {
    GstSample *s = gst_app_sink_try_pull_sample (GST_APP_SINK (sink),
        20 * GST_MSECOND);

    if (s)
      gst_sample_unref (s);
    m = gst_bus_pop_filtered (GST_ELEMENT_BUS (p),
        GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  }
  fail_unless (m != NULL, "no EOS within 5 s");
  fail_unless (GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS, "%" GST_PTR_FORMAT, m);
  gst_message_unref (m);
  GST_INFO ("EOS after %" G_GINT64_FORMAT " ms", elapsed_ms (t0));
}

/* Every stop is bounded: EOS while the link is stalled (link-timeout off,
 * so it stays stalled), both pads linked. */
GST_START_TEST (test_eos_while_stalled)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--size", "160x120",
      "--fps", "30", "--audio", NULL);
  SpiceProxy *px = spice_proxy_new (test_server_get_port (ts));
  GstElement *p, *sink;

  p = play (&sink, "spicesrc name=s link-timeout=0 uri=%s "
      "s.video ! queue ! " APPSINK " s.audio ! queue ! fakesink sync=false",
      spice_proxy_get_uri (px));
  expect_alive_for (p, sink, 500);
  spice_proxy_set_stalled (px, TRUE);
  g_usleep (G_USEC_PER_SEC);
  expect_eos_soon (p, sink);
  stop_pipeline (p, sink);
  spice_proxy_free (px);
  test_server_stop (ts);
}

GST_END_TEST;

/* ... and while reconnecting to a server that is gone. */
GST_START_TEST (test_eos_while_reconnecting)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--size", "160x120",
      "--fps", "30", "--audio", NULL);
  GstElement *p, *sink;

  p = play (&sink, "spicesrc name=s reconnect=true uri=%s "
      "s.video ! queue ! " APPSINK " s.audio ! queue ! fakesink sync=false",
      test_server_get_uri (ts));
  expect_alive_for (p, sink, 500);
  test_server_stop (ts);
  fail_unless (pop_element_message (p, "spice-disconnected", 5 * GST_SECOND));
  g_usleep (G_USEC_PER_SEC);
  expect_eos_soon (p, sink);
  stop_pipeline (p, sink);
}

GST_END_TEST;

/* The error of a connection that closed, within 5 s; its message */
static gchar *
lost_error_message (GstElement * p)
{
  GstMessage *m = wait_error (p, 5 * GST_SECOND);
  GError *e = NULL;
  gchar *msg;

  gst_message_parse_error (m, &e, NULL);
  fail_unless (g_error_matches (e, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_READ), "%s", e->message);
  msg = g_strdup (e->message);
  g_error_free (e);
  gst_message_unref (m);
  return msg;
}

/* A second client (another process) connects: libspice-server drops the
 * first, whose error says a server takes one client at a time.  A server
 * that went away is not blamed on another client. */
GST_START_TEST (test_other_client_took_over)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--size", "160x120",
      "--fps", "30", NULL);
  gchar *argv[] = { (gchar *) "gst-launch-1.0", (gchar *) "-q",
    (gchar *) "spicesrc", NULL, (gchar *) "!", (gchar *) "fakesink", NULL
  };
  GstElement *p, *sink;
  GPid other;
  gchar *msg;

  p = play (&sink, "spicesrc uri=%s ! " APPSINK, test_server_get_uri (ts));
  expect_alive_for (p, sink, 300);
  argv[3] = g_strdup_printf ("uri=%s", test_server_get_uri (ts));
  fail_unless (g_spawn_async (NULL, argv, NULL, G_SPAWN_SEARCH_PATH |
          G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
          &other, NULL));
  msg = lost_error_message (p);
  GST_INFO ("%s", msg);
  fail_unless (strstr (msg, "one client at a time") != NULL, "%s", msg);
  g_free (msg);
  stop_pipeline (p, sink);
  kill (other, SIGKILL);
  waitpid (other, NULL, 0);
  g_spawn_close_pid (other);
  g_free (argv[3]);

  /* a server of its own: the other client's helper may still be going */
  test_server_stop (ts);
  ts = start_server (TEST_SERVER_TCP, "--size", "160x120", "--fps", "30",
      NULL);
  p = play (&sink, "spicesrc uri=%s ! " APPSINK, test_server_get_uri (ts));
  expect_alive_for (p, sink, 300);
  test_server_stop (ts);
  msg = lost_error_message (p);
  fail_unless (strstr (msg, "one client") == NULL, "%s", msg);
  g_free (msg);
  stop_pipeline (p, sink);
}

GST_END_TEST;

/* Two clients that both reconnect on one server (the other one in another
 * process: one process shares one connection) would take it from each
 * other for ever.  After three takeovers in a row, each soon after getting
 * back in, one of them stops with an error that says why, and the other
 * keeps the server. */
GST_START_TEST (test_reconnecting_clients_stop_taking_turns)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--size", "160x120",
      "--fps", "30", NULL);
  gchar *log = NULL, *cmd, *text = NULL;
  gchar *argv[] = { (gchar *) "/bin/sh", (gchar *) "-c", NULL, NULL };
  GstElement *p, *sink;
  GstMessage *m = NULL;
  GPid other;
  gint fd, status = 0;
  gboolean other_done = FALSE;
  gint64 t0;

  fd = g_file_open_tmp ("gst-spice-turns-XXXXXX", &log, NULL);
  fail_unless (fd >= 0);
  close (fd);
  p = play (&sink, "spicesrc reconnect=true uri=%s ! " APPSINK,
      test_server_get_uri (ts));
  expect_alive_for (p, sink, 300);
  cmd = g_strdup_printf ("exec gst-launch-1.0 -q spicesrc reconnect=true "
      "uri=%s ! fakesink 2>%s", test_server_get_uri (ts), log);
  argv[2] = cmd;
  fail_unless (g_spawn_async (NULL, argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD |
          G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, &other, NULL));
  t0 = g_get_monotonic_time ();
  while (elapsed_ms (t0) < 30000) {
    m = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (p), 100 * GST_MSECOND,
        GST_MESSAGE_ERROR);
    if (m)
      break;
    if (waitpid (other, &status, WNOHANG) == other) {
      other_done = TRUE;
      break;
    }
  }
  fail_unless (m || other_done, "still taking the server in turns after "
      "30 s");
  GST_INFO ("one gave up after %" G_GINT64_FORMAT " ms: %s",
      elapsed_ms (t0), m ? "this pipeline" : "the other process");
  if (m) {
    assert_error (m, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_READ,
        "from each other");
    /* the other keeps the server */
    g_usleep (G_USEC_PER_SEC);
    fail_unless_equals_int (waitpid (other, &status, WNOHANG), 0);
    kill (other, SIGKILL);
    waitpid (other, NULL, 0);
  } else {
    fail_unless (WIFEXITED (status) && WEXITSTATUS (status) != 0,
        "the other client ended with status %d", status);
    fail_unless (g_file_get_contents (log, &text, NULL, NULL));
    GST_INFO ("the other client said: %s", text);
    fail_unless (strstr (text, "from each other") != NULL, "%s", text);
    /* this one keeps the server */
    expect_alive_for (p, sink, 1000);
  }
  g_spawn_close_pid (other);
  stop_pipeline (p, sink);
  test_server_stop (ts);
  g_unlink (log);
  g_free (log);
  g_free (text);
  g_free (cmd);
}

GST_END_TEST;

/* One failure, one ERROR message, from every source element (GstBaseSrc's
 * own "Internal data stream error" is not posted on top of ours). */
GST_START_TEST (test_one_error_per_failure)
{
  const gchar *srcs[] = { "spicesrc", "spicevideosrc", "spiceaudiosrc",
    "spicedatasrc port-name=org.test.port"
  };
  gint fd;
  gchar *uri = start_silent_listener (&fd);
  guint i;

  close (fd);                   /* now refused */
  for (i = 0; i < G_N_ELEMENTS (srcs); i++) {
    GstElement *p = launch ("%s uri=%s ! fakesink", srcs[i], uri);
    GstMessage *m;
    guint errors = 0;

    fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
        GST_STATE_CHANGE_FAILURE);
    assert_error (wait_error (p, 3 * GST_SECOND), GST_RESOURCE_ERROR,
        GST_RESOURCE_ERROR_OPEN_READ, "Could not connect");
    errors++;
    while ((m = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (p),
                500 * GST_MSECOND, GST_MESSAGE_ERROR))) {
      GError *e;

      gst_message_parse_error (m, &e, NULL);
      GST_INFO ("%s: another error: %s", srcs[i], e->message);
      g_error_free (e);
      gst_message_unref (m);
      errors++;
    }
    fail_unless_equals_int (errors, 1);
    stop_pipeline (p, NULL);
  }
  g_free (uri);
}

GST_END_TEST;

/* The next element message named @name: its source's name */
static gchar *
element_message_source (GstElement * p, const gchar * name)
{
  gint64 end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;

  while (g_get_monotonic_time () < end) {
    GstMessage *m = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (p),
        100 * GST_MSECOND, GST_MESSAGE_ELEMENT | GST_MESSAGE_ERROR);
    gchar *src;

    if (!m)
      continue;
    if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR) {
      GError *e = NULL;
      gchar *dbg = NULL;

      gst_message_parse_error (m, &e, &dbg);
      fail ("an error while waiting for %s: %s (%s)", name, e->message, dbg);
    }
    if (!gst_message_has_name (m, name)) {
      gst_message_unref (m);
      continue;
    }
    src = gst_object_get_name (GST_MESSAGE_SRC (m));
    gst_message_unref (m);
    return src;
  }
  fail ("no %s message", name);
  return NULL;
}

/* spice-connected, -disconnected and -reconnected come from the spicesrc
 * the application made, not from its inner video half. */
GST_START_TEST (test_connection_messages_from_spicesrc)
{
  TestServer *ts = start_server (TEST_SERVER_UNIX, "--size", "160x120",
      "--fps", "20", NULL);
  const gchar *names[] = { "spice-connected", "spice-disconnected",
    "spice-reconnected"
  };
  GstElement *p, *sink;
  guint i;

  p = play (&sink, "spicesrc name=app_src reconnect=true uri=%s ! " APPSINK,
      test_server_get_uri (ts));
  for (i = 0; i < G_N_ELEMENTS (names); i++) {
    gchar *src;

    if (i == 1)
      g_free (test_server_command (ts, "drop", 5000));
    src = element_message_source (p, names[i]);
    fail_unless_equals_string (src, "app_src");
    g_free (src);
  }
  stop_pipeline (p, sink);
  test_server_stop (ts);
}

GST_END_TEST;

/* num-buffers on spicesrc: that many video frames, then EOS on both pads
 * (the pipeline ends). */
static void
count_frames (GstElement * sink, GstBuffer * buf, GstPad * pad,
    guint * frames)
{
  (*frames)++;
}

GST_START_TEST (test_num_buffers)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--size", "160x120",
      "--fps", "30", "--audio", NULL);
  GstElement *p, *v;
  GstMessage *m;
  guint frames = 0;

  p = launch ("spicesrc name=s num-buffers=15 uri=%s "
      "s.video ! queue ! fakesink name=v signal-handoffs=true sync=false "
      "s.audio ! queue ! fakesink sync=false", test_server_get_uri (ts));
  v = get (p, "v");
  g_signal_connect (v, "handoff", G_CALLBACK (count_frames), &frames);
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  m = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (p), 10 * GST_SECOND,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless (m && GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS, "%"
      GST_PTR_FORMAT, m);
  gst_message_unref (m);
  fail_unless_equals_int (frames, 15);
  gst_object_unref (v);
  stop_pipeline (p, NULL);
  test_server_stop (ts);
}

GST_END_TEST;

static Suite *
spicelink_suite (void)
{
  Suite *s = suite_create ("spicelink");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 120);
  tcase_add_checked_fixture (tc, NULL, spicecheck_teardown);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_link_timeout_property);
  tcase_add_test (tc, test_stalled_proxy_error);
  tcase_add_test (tc, test_server_stopped_tcp);
  tcase_add_test (tc, test_server_stopped_unix_idle);
  tcase_add_test (tc, test_idle_tcp_link_lives);
  tcase_add_test (tc, test_stalled_proxy_reconnect);
  tcase_add_test (tc, test_data_link_timeout);
  tcase_add_test (tc, test_eos_while_stalled);
  tcase_add_test (tc, test_eos_while_reconnecting);
  tcase_add_test (tc, test_other_client_took_over);
  tcase_add_test (tc, test_reconnecting_clients_stop_taking_turns);
  tcase_add_test (tc, test_one_error_per_failure);
  tcase_add_test (tc, test_connection_messages_from_spicesrc);
  tcase_add_test (tc, test_num_buffers);
  return s;
}

GST_CHECK_MAIN (spicelink);
