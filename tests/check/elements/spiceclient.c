/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */

/* The SPICE client in its own process (gst-spice-client): the
 * application's main loop stays the application's, a dying or stuck helper
 * costs one clear error (or a reconnect), never a hang, an orphan or a
 * leaked fd. */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* memmem */
#endif
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <gio/gio.h>
#include <gst/check/gstcheck.h>

#include "spicecheck.h"

/* /proc/PID/comm is cut at 15 characters */
#define HELPER_COMM "gst-spice-clien"

/* Processes whose parent is @parent and that run the helper. */
static GArray *
helper_pids (pid_t parent)
{
  GArray *pids = g_array_new (FALSE, FALSE, sizeof (pid_t));
  GDir *d = g_dir_open ("/proc", 0, NULL);
  const gchar *n;

  while (d && (n = g_dir_read_name (d))) {
    gchar *path, *text = NULL, *open, *close;
    gchar state;
    gint ppid;

    if (!g_ascii_isdigit (n[0]))
      continue;
    path = g_strdup_printf ("/proc/%s/stat", n);
    if (g_file_get_contents (path, &text, NULL, NULL) &&
        (open = strchr (text, '(')) && (close = strrchr (text, ')')) &&
        sscanf (close + 1, " %c %d", &state, &ppid) == 2 && ppid == parent &&
        state != 'Z' && close - open - 1 == (gint) strlen (HELPER_COMM) &&
        strncmp (open + 1, HELPER_COMM, strlen (HELPER_COMM)) == 0) {
      pid_t pid = atoi (n);
      g_array_append_val (pids, pid);
    }
    g_free (text);
    g_free (path);
  }
  if (d)
    g_dir_close (d);
  return pids;
}

static guint
n_helpers (void)
{
  GArray *pids = helper_pids (getpid ());
  guint n = pids->len;

  g_array_unref (pids);
  return n;
}

/* the one helper of this process, waiting for it up to 5 s */
static pid_t
the_helper (pid_t parent)
{
  gint64 until = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

  for (;;) {
    GArray *pids = helper_pids (parent);
    pid_t pid = pids->len == 1 ? g_array_index (pids, pid_t, 0) : 0;
    guint n = pids->len;

    g_array_unref (pids);
    if (pid)
      return pid;
    fail_unless (n <= 1, "%u helpers", n);
    fail_unless (g_get_monotonic_time () < until, "no helper process");
    g_usleep (5000);
  }
}

/* alive and not a zombie */
static gboolean
process_alive (pid_t pid)
{
  gchar *path = g_strdup_printf ("/proc/%d/stat", (gint) pid);
  gchar *text = NULL, *close;
  gboolean alive = FALSE;

  if (g_file_get_contents (path, &text, NULL, NULL) &&
      (close = strrchr (text, ')')))
    alive = close[1] == ' ' && close[2] != 'Z' && close[2] != 'X';
  g_free (text);
  g_free (path);
  return alive;
}

static guint
count_fds (void)
{
  GDir *d = g_dir_open ("/proc/self/fd", 0, NULL);
  guint n = 0;

  while (g_dir_read_name (d))
    n++;
  g_dir_close (d);
  return n;
}

static guint64
stat_u64 (GstElement * src, const gchar * field)
{
  GstStructure *st;
  guint64 v = 0;

  g_object_get (src, "stats", &st, NULL);
  fail_unless (gst_structure_get_uint64 (st, field, &v), "no %s", field);
  gst_structure_free (st);
  return v;
}

static void
no_core_dumps (void)
{
  struct rlimit r = { 0, 0 };

  /* the helpers killed by SIGSEGV/SIGABRT inherit it */
  setrlimit (RLIMIT_CORE, &r);
}

/* ---------------------------------------------------------------------- */
/* The application's main loop                                            */

typedef struct
{
  GThread *main;
  GMainLoop *loop;
  GstElement *pipeline;
  gint mode;
  guint timeouts, idles, bus_messages;  /* main thread only */
  gint elsewhere;               /* atomic: app callbacks on another thread */
  gint frames;                  /* atomic */
  gboolean error;
  gint64 deadline;
} App;

static void
note_thread (App * a)
{
  if (g_thread_self () != a->main)
    g_atomic_int_inc (&a->elsewhere);
}

static gboolean
app_idle (gpointer data)
{
  App *a = data;

  note_thread (a);
  a->idles++;
  return G_SOURCE_REMOVE;
}

static gboolean
app_timeout (gpointer data)
{
  App *a = data;

  note_thread (a);
  a->timeouts++;
  /* idles all along, without spinning */
  g_idle_add (app_idle, a);
  if (g_atomic_int_get (&a->frames) >= 30 && a->timeouts >= 20)
    g_main_loop_quit (a->loop);
  if (g_get_monotonic_time () > a->deadline)
    g_main_loop_quit (a->loop);
  return G_SOURCE_CONTINUE;
}

static gboolean
app_bus (GstBus * bus, GstMessage * m, gpointer data)
{
  App *a = data;

  note_thread (a);
  a->bus_messages++;
  if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR) {
    a->error = TRUE;
    g_main_loop_quit (a->loop);
  }
  return G_SOURCE_CONTINUE;
}

static gboolean
app_play (gpointer data)
{
  App *a = data;

  note_thread (a);
  fail_unless (gst_element_set_state (a->pipeline, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  return G_SOURCE_REMOVE;
}

static void
app_frame (GstElement * sink, GstBuffer * buf, GstPad * pad, gpointer data)
{
  App *a = data;

  g_atomic_int_inc (&a->frames);
}

/* An application with its own GLib main loop (timeouts, idles, a bus
 * watch on the default context), the pipeline set to PLAYING before the
 * loop runs, from inside it, and a while after it started: every one of
 * the application's callbacks runs on its own thread (with the SPICE
 * client in the application's process, its thread dispatched them). */
GST_START_TEST (test_app_main_loop)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--audio", "--size",
      "160x120", "--fps", "60", NULL);
  gint mode;

  for (mode = 0; mode < 3; mode++) {
    App a = { 0, };
    GstElement *vsink;
    GstBus *bus;
    guint bus_watch, timer;

    a.main = g_thread_self ();
    a.mode = mode;
    a.loop = g_main_loop_new (NULL, FALSE);
    a.deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;
    a.pipeline = launch ("spicesrc name=s uri=%s s.video ! queue ! fakesink "
        "name=vsink signal-handoffs=true s.audio ! queue ! fakesink "
        "sync=false", test_server_get_uri (ts));
    vsink = get (a.pipeline, "vsink");
    g_signal_connect (vsink, "handoff", G_CALLBACK (app_frame), &a);
    bus = gst_element_get_bus (a.pipeline);
    bus_watch = gst_bus_add_watch (bus, app_bus, &a);
    timer = g_timeout_add (5, app_timeout, &a);

    switch (mode) {
      case 0:                  /* before the loop runs */
        app_play (&a);
        break;
      case 1:                  /* from inside it */
        g_idle_add (app_play, &a);
        break;
      default:                 /* a while after it started */
        g_timeout_add (200, app_play, &a);
        break;
    }
    g_main_loop_run (a.loop);
    /* stopped from the loop's thread, as gst-launch-1.0 does */
    fail_unless_equals_int (gst_element_set_state (a.pipeline,
            GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
    g_source_remove (timer);
    g_source_remove (bus_watch);
    while (g_main_context_iteration (NULL, FALSE));

    GST_INFO ("mode %d: %u timeouts, %u idles, %u bus messages, %d frames, "
        "%d callbacks elsewhere", mode, a.timeouts, a.idles, a.bus_messages,
        g_atomic_int_get (&a.frames), g_atomic_int_get (&a.elsewhere));
    fail_if (a.error, "mode %d: an error", mode);
    fail_unless (g_atomic_int_get (&a.frames) >= 30, "mode %d: %d frames",
        mode, g_atomic_int_get (&a.frames));
    fail_unless (a.timeouts >= 20 && a.idles >= 20 && a.bus_messages > 0,
        "mode %d: %u timeouts, %u idles, %u bus messages", mode, a.timeouts,
        a.idles, a.bus_messages);
    fail_unless_equals_int (g_atomic_int_get (&a.elsewhere), 0);
    gst_object_unref (bus);
    gst_object_unref (vsink);
    gst_object_unref (a.pipeline);
    g_main_loop_unref (a.loop);
    fail_unless (wait_spice_thread_gone (), "the spice thread stays");
  }
  test_server_stop (ts);
}

GST_END_TEST;

/* Two servers: two helper processes, each with its own frames. */
GST_START_TEST (test_parallel_sessions)
{
  TestServer *a = start_server (TEST_SERVER_TCP, "--size", "160x120", NULL);
  TestServer *b = start_server (TEST_SERVER_TCP, "--size", "200x100", NULL);
  GstElement *p = launch ("spicesrc uri=%s audio=false ! appsink name=sink "
      "spicesrc uri=%s audio=false ! appsink name=sink2",
      test_server_get_uri (a), test_server_get_uri (b));
  GstElement *s1 = get (p, "sink"), *s2 = get (p, "sink2");
  GstSample *x, *y;

  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  x = pull (p, s1);
  y = pull (p, s2);
  fail_unless_equals_int (n_helpers (), 2);
  gst_sample_unref (x);
  gst_sample_unref (y);
  gst_object_unref (s2);
  stop_pipeline (p, s1);
  fail_unless (wait_spice_thread_gone (), "the spice thread stays");
  fail_unless_equals_int (n_helpers (), 0);
  test_server_stop (a);
  test_server_stop (b);
}

GST_END_TEST;

/* ---------------------------------------------------------------------- */
/* Faults                                                                 */

static const gint kill_signals[] = { SIGKILL, SIGSEGV, SIGABRT };

/* The helper killed mid-stream (SIGKILL, SIGSEGV, SIGABRT), 20 times: one
 * error naming it within a second; afterwards no helper process and no fd
 * left behind. */
GST_START_TEST (test_helper_killed)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--size", "160x120",
      "--fps", "30", NULL);
  guint fds0 = 0, i;

  no_core_dumps ();
  for (i = 0; i < 21; i++) {
    gint sig = kill_signals[i % G_N_ELEMENTS (kill_signals)];
    GstElement *sink, *p = play (&sink, "spicesrc uri=%s audio=false ! "
        "appsink name=sink max-buffers=2 drop=true", test_server_get_uri (ts));
    GstMessage *m;
    gint64 t0, waited;
    gchar *needle;
    pid_t pid;

    gst_sample_unref (pull (p, sink));
    pid = the_helper (getpid ());
    t0 = g_get_monotonic_time ();
    fail_unless (kill (pid, sig) == 0);
    m = wait_error (p, GST_SECOND);
    waited = g_get_monotonic_time () - t0;
    needle = g_strdup_printf ("signal %d", sig);
    GST_INFO ("run %u: signal %d, error after %" G_GINT64_FORMAT " us", i,
        sig, waited);
    fail_unless (waited < G_USEC_PER_SEC, "error after %" G_GINT64_FORMAT
        " us", waited);
    {
      GError *err = NULL;
      gst_message_parse_error (m, &err, NULL);
      fail_unless (strstr (err->message, "client helper") &&
          strstr (err->message, needle), "error: %s", err->message);
      g_error_free (err);
    }
    gst_message_unref (m);
    g_free (needle);
    /* exactly one error */
    stop_pipeline (p, sink);
    fail_unless (wait_spice_thread_gone (), "the spice thread stays");
    fail_unless_equals_int (n_helpers (), 0);
    fail_if (process_alive (pid));
    /* the first run makes GLib's lazily made things */
    if (i == 0)
      fds0 = count_fds ();
    else
      fail_unless_equals_int (count_fds (), fds0);
  }
  test_server_stop (ts);
}

GST_END_TEST;

/* With reconnect=true a killed helper is replaced: spice-disconnected,
 * spice-reconnected, new frames, a new helper process. */
GST_START_TEST (test_helper_killed_reconnect)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--size", "160x120",
      "--fps", "30", NULL);
  GstElement *sink, *src, *p = play (&sink, "spicesrc name=src uri=%s "
      "audio=false reconnect=true ! appsink name=sink max-buffers=2 "
      "drop=true", test_server_get_uri (ts));
  GstBus *bus = gst_element_get_bus (p);
  gboolean disconnected = FALSE, reconnected = FALSE;
  gint64 until;
  guint64 frames;
  pid_t pid, pid2;
  guint round;

  no_core_dumps ();
  src = get (p, "src");
  gst_sample_unref (pull (p, sink));
  for (round = 0; round < 2; round++) {
    pid = the_helper (getpid ());
    fail_unless (kill (pid, round ? SIGSEGV : SIGKILL) == 0);
    disconnected = reconnected = FALSE;
    until = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
    while (!reconnected && g_get_monotonic_time () < until) {
      GstMessage *m = gst_bus_timed_pop_filtered (bus, 100 * GST_MSECOND,
          GST_MESSAGE_ELEMENT | GST_MESSAGE_ERROR);

      if (!m)
        continue;
      fail_if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR, "an error");
      if (gst_message_has_name (m, "spice-disconnected"))
        disconnected = TRUE;
      if (gst_message_has_name (m, "spice-reconnected"))
        reconnected = TRUE;
      gst_message_unref (m);
    }
    fail_unless (disconnected && reconnected);
    pid2 = the_helper (getpid ());
    fail_if (pid2 == pid);
    fail_if (process_alive (pid));
    /* frames flow again: new ones, not repeats */
    frames = stat_u64 (src, "frames");
    until = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
    while (stat_u64 (src, "frames") < frames + 10) {
      fail_unless (g_get_monotonic_time () < until, "no new frames");
      g_usleep (10000);
    }
  }
  gst_object_unref (src);
  gst_object_unref (bus);
  stop_pipeline (p, sink);
  fail_unless (wait_spice_thread_gone (), "the spice thread stays");
  fail_unless_equals_int (n_helpers (), 0);
  test_server_stop (ts);
}

GST_END_TEST;

/* A stuck helper (SIGSTOP) holds no state change longer than the
 * deadlines: NULL within 2.5 s (the helper gets 1 s to exit), the helper
 * killed and reaped. */
GST_START_TEST (test_helper_stuck)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--size", "160x120",
      "--fps", "30", NULL);
  GstElement *sink, *p = play (&sink, "spicesrc uri=%s audio=false ! "
      "appsink name=sink max-buffers=2 drop=true", test_server_get_uri (ts));
  gint64 t0;
  pid_t pid;

  gst_sample_unref (pull (p, sink));
  pid = the_helper (getpid ());
  fail_unless (kill (pid, SIGSTOP) == 0);
  g_usleep (200 * 1000);
  t0 = g_get_monotonic_time ();
  stop_pipeline (p, sink);
  fail_unless (wait_spice_thread_gone (), "the spice thread stays");
  GST_INFO ("NULL after %" G_GINT64_FORMAT " us",
      g_get_monotonic_time () - t0);
  fail_unless (g_get_monotonic_time () - t0 < 5 * G_USEC_PER_SEC / 2);
  fail_if (process_alive (pid));
  fail_unless_equals_int (n_helpers (), 0);
  test_server_stop (ts);
}

GST_END_TEST;

/* The helper dies with its parent: gst-launch-1.0 killed with SIGKILL
 * (no chance to clean up) leaves no SPICE client behind. */
GST_START_TEST (test_helper_dies_with_parent)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--size", "160x120",
      NULL);
  gchar *uri = g_strdup_printf ("uri=%s", test_server_get_uri (ts));
  GError *err = NULL;
  GSubprocess *proc = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
      G_SUBPROCESS_FLAGS_STDERR_SILENCE, &err, "gst-launch-1.0",
      "spicesrc", uri, "audio=false", "!", "fakesink", NULL);
  pid_t launch_pid, pid;
  gint64 until;

  fail_unless (proc != NULL, "gst-launch-1.0: %s", err ? err->message : "");
  launch_pid = atoi (g_subprocess_get_identifier (proc));
  pid = the_helper (launch_pid);
  g_subprocess_force_exit (proc);
  g_subprocess_wait (proc, NULL, NULL);
  until = g_get_monotonic_time () + 2 * G_USEC_PER_SEC;
  while (process_alive (pid) && g_get_monotonic_time () < until)
    g_usleep (10000);
  fail_if (process_alive (pid), "helper %d outlived its parent", (gint) pid);
  g_object_unref (proc);
  g_free (uri);
  test_server_stop (ts);
}

GST_END_TEST;

/* The password travels over the socket: neither the helper's command line
 * nor its environment has it. */
GST_START_TEST (test_password_not_exposed)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--password",
      "s3cret-Pa55", "--size", "160x120", NULL);
  GstElement *sink, *p = play (&sink, "spicesrc uri=%s password=s3cret-Pa55 "
      "audio=false ! appsink name=sink max-buffers=2 drop=true",
      test_server_get_uri (ts));
  const gchar *files[] = { "cmdline", "environ" };
  pid_t pid;
  guint i;

  gst_sample_unref (pull (p, sink));
  pid = the_helper (getpid ());
  for (i = 0; i < G_N_ELEMENTS (files); i++) {
    gchar *path = g_strdup_printf ("/proc/%d/%s", (gint) pid, files[i]);
    gchar *text = NULL;
    gsize len = 0;

    fail_unless (g_file_get_contents (path, &text, &len, NULL));
    fail_if (memmem (text, len, "s3cret-Pa55", 11) != NULL, "in %s", path);
    g_free (text);
    g_free (path);
  }
  stop_pipeline (p, sink);
  fail_unless (wait_spice_thread_gone (), "the spice thread stays");
  test_server_stop (ts);
}

GST_END_TEST;

/* A password given in the URI works, and is never shown again: not by the
 * uri property (of spicesrc and of its halves), not in a pipeline graph
 * dump, not in the error about a malformed URI. */
GST_START_TEST (test_password_in_uri_hidden)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--password",
      "Uri-s3cret", "--size", "160x120", NULL);
  gchar *uri = g_strdup_printf ("%s?password=Uri-s3cret",
      test_server_get_uri (ts));
  GstElement *sink, *src, *p = play (&sink, "spicesrc name=src uri=%s "
      "audio=false ! appsink name=sink max-buffers=2 drop=true", uri);
  GstElement *child;
  gchar *shown = NULL, *dot;
  GstMessage *m;
  GError *err = NULL;

  /* it took effect: frames */
  gst_sample_unref (pull (p, sink));
  src = get (p, "src");
  g_object_get (src, "uri", &shown, NULL);
  fail_unless_equals_string (shown, test_server_get_uri (ts));
  g_free (shown);
  child = gst_bin_get_by_name (GST_BIN (src), "video_src");
  fail_unless (child != NULL);
  g_object_get (child, "uri", &shown, NULL);
  fail_if (strstr (shown, "s3cret") != NULL, "%s", shown);
  g_free (shown);
  gst_object_unref (child);
  shown = gst_uri_handler_get_uri (GST_URI_HANDLER (src));
  fail_if (strstr (shown, "s3cret") != NULL, "%s", shown);
  g_free (shown);
  dot = gst_debug_bin_to_dot_data (GST_BIN (p), GST_DEBUG_GRAPH_SHOW_ALL);
  fail_if (strstr (dot, "s3cret") != NULL, "in the graph dump");
  g_free (dot);
  gst_object_unref (src);
  stop_pipeline (p, sink);

  /* a malformed URI's error quotes it without the password */
  p = launch ("spicesrc uri=\"spice://127.0.0.1?password=Uri-s3cret\" ! "
      "fakesink");
  fail_unless_equals_int (gst_element_set_state (p, GST_STATE_PLAYING),
      GST_STATE_CHANGE_FAILURE);
  m = gst_bus_pop_filtered (GST_ELEMENT_BUS (p), GST_MESSAGE_ERROR);
  fail_unless (m != NULL);
  gst_message_parse_error (m, &err, &shown);
  GST_INFO ("error: %s (%s)", err->message, shown);
  fail_unless (strstr (err->message, "Invalid SPICE URI") != NULL);
  fail_if (strstr (err->message, "s3cret") != NULL, "%s", err->message);
  fail_if (shown && strstr (shown, "s3cret") != NULL, "%s", shown);
  g_error_free (err);
  g_free (shown);
  gst_message_unref (m);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (p);
  fail_unless (wait_spice_thread_gone (), "the spice thread stays");
  g_free (uri);
  test_server_stop (ts);
}

GST_END_TEST;

/* A helper that cannot be started: one clear error, no hang. */
GST_START_TEST (test_helper_missing)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--size", "160x120",
      NULL);
  GstElement *sink, *p;
  GstMessage *m;

  g_setenv ("GST_SPICE_CLIENT_HELPER", "/nonexistent/gst-spice-client",
      TRUE);
  p = play (&sink, "spicesrc uri=%s audio=false ! appsink name=sink",
      test_server_get_uri (ts));
  m = wait_error (p, 5 * GST_SECOND);
  assert_error (m, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_FAILED,
      "Could not start the SPICE client helper /nonexistent/gst-spice-client");
  g_unsetenv ("GST_SPICE_CLIENT_HELPER");
  stop_pipeline (p, sink);
  fail_unless (wait_spice_thread_gone (), "the spice thread stays");
  test_server_stop (ts);
}

GST_END_TEST;

static Suite *
spiceclient_suite (void)
{
  Suite *s = suite_create ("spiceclient");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_checked_fixture (tc, NULL, spicecheck_teardown);
  tcase_set_timeout (tc, 120);
  tcase_add_test (tc, test_app_main_loop);
  tcase_add_test (tc, test_parallel_sessions);
  tcase_add_test (tc, test_helper_killed);
  tcase_add_test (tc, test_helper_killed_reconnect);
  tcase_add_test (tc, test_helper_stuck);
  tcase_add_test (tc, test_helper_dies_with_parent);
  tcase_add_test (tc, test_password_not_exposed);
  tcase_add_test (tc, test_password_in_uri_hidden);
  tcase_add_test (tc, test_helper_missing);
  return s;
}

GST_CHECK_MAIN (spiceclient);
