/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 *
 * Helpers shared by the gst-check suites: the test server, pipelines from
 * descriptions, pulling with a deadline, error messages.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "spicecheck.h"

/* ---------------------------------------------------------------------- */
/* helpers                                                                */

TestServer *
start_server (TestServerTransport transport, const gchar * first, ...)
{
  GPtrArray *args = g_ptr_array_new ();
  const gchar *a;
  va_list ap;
  TestServer *ts;

  va_start (ap, first);
  for (a = first; a; a = va_arg (ap, const gchar *))
    g_ptr_array_add (args, (gpointer) a);
  va_end (ap);
  g_ptr_array_add (args, NULL);
  ts = test_server_start (transport, (const gchar * const *) args->pdata);
  g_ptr_array_free (args, TRUE);
  return ts;
}

/* Pipelines made by launch() and not finalized yet */
static GMutex live_lock;
static GPtrArray *live_pipelines;

static void
forget_pipeline (gpointer data, GObject * where_the_object_was)
{
  g_mutex_lock (&live_lock);
  g_ptr_array_remove_fast (live_pipelines, where_the_object_was);
  g_mutex_unlock (&live_lock);
}

void
spicecheck_teardown (void)
{
  GPtrArray *left = g_ptr_array_new_with_free_func (gst_object_unref);
  guint i;

  /* a test that failed left these running (the failure jumped out of it):
   * without fork, gst_task_cleanup_all would wait for their streaming
   * threads for ever */
  g_mutex_lock (&live_lock);
  for (i = 0; live_pipelines && i < live_pipelines->len; i++)
    g_ptr_array_add (left, gst_object_ref (g_ptr_array_index (live_pipelines,
                i)));
  g_mutex_unlock (&live_lock);
  for (i = 0; i < left->len; i++) {
    GstElement *p = g_ptr_array_index (left, i);

    GST_WARNING ("%s left by the test, stopping it", GST_OBJECT_NAME (p));
    gst_element_set_state (p, GST_STATE_NULL);
  }
  g_ptr_array_unref (left);
}

GstElement *
launch_valist (const gchar * fmt, va_list ap)
{
  GError *err = NULL;
  GstElement *p;
  gchar *desc = g_strdup_vprintf (fmt, ap);

  GST_INFO ("pipeline: %s", desc);
  p = gst_parse_launch (desc, &err);
  fail_unless (p != NULL && err == NULL, "could not build '%s': %s", desc,
      err ? err->message : "?");
  g_free (desc);
  g_mutex_lock (&live_lock);
  if (!live_pipelines)
    live_pipelines = g_ptr_array_new ();
  g_ptr_array_add (live_pipelines, p);
  g_mutex_unlock (&live_lock);
  g_object_weak_ref (G_OBJECT (p), forget_pipeline, NULL);
  return p;
}

GstElement *
launch (const gchar * fmt, ...)
{
  GstElement *p;
  va_list ap;

  va_start (ap, fmt);
  p = launch_valist (fmt, ap);
  va_end (ap);
  return p;
}

GstElement *
get (GstElement * pipeline, const gchar * name)
{
  GstElement *e = gst_bin_get_by_name (GST_BIN (pipeline), name);
  fail_unless (e != NULL, "no element %s", name);
  return e;
}

/* launch() + the appsink named "sink" + PLAYING */
GstElement *
play (GstElement ** sink, const gchar * fmt, ...)
{
  GstElement *p;
  va_list ap;

  va_start (ap, fmt);
  p = launch_valist (fmt, ap);
  va_end (ap);
  *sink = get (p, "sink");
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  return p;
}

void
stop_pipeline (GstElement * p, GstElement * sink)
{
  if (sink)
    gst_object_unref (sink);
  fail_unless_equals_int (gst_element_set_state (p, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (p);
}

/* Fails the test on an error message while waiting. */
GstSample *
pull (GstElement * pipeline, GstElement * sink)
{
  GstSample *s = gst_app_sink_try_pull_sample (GST_APP_SINK (sink),
      PULL_TIMEOUT);

  if (!s) {
    GstMessage *m = gst_bus_pop_filtered (GST_ELEMENT_BUS (pipeline),
        GST_MESSAGE_ERROR);
    if (m) {
      GError *e;
      gchar *dbg;
      gst_message_parse_error (m, &e, &dbg);
      fail ("error instead of a frame: %s (%s)", e->message, dbg);
    }
    fail ("no frame within %" GST_TIME_FORMAT, GST_TIME_ARGS (PULL_TIMEOUT));
  }
  return s;
}

/* Waits for an error message and returns it (caller unrefs). */
GstMessage *
wait_error (GstElement * pipeline, GstClockTime timeout)
{
  GstMessage *m = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (pipeline),
      timeout, GST_MESSAGE_ERROR);
  fail_unless (m != NULL, "no error message within %" GST_TIME_FORMAT,
      GST_TIME_ARGS (timeout));
  return m;
}

void
assert_error (GstMessage * m, GQuark domain, gint code, const gchar * needle)
{
  GError *e = NULL;
  gchar *dbg = NULL;

  gst_message_parse_error (m, &e, &dbg);
  GST_INFO ("error: %s (%s)", e->message, dbg);
  fail_unless (e->domain == domain && e->code == code,
      "unexpected error %s:%d '%s'", g_quark_to_string (e->domain), e->code,
      e->message);
  if (needle)
    fail_unless (strstr (e->message, needle) != NULL,
        "error '%s' does not mention '%s'", e->message, needle);
  g_error_free (e);
  g_free (dbg);
  gst_message_unref (m);
}

/* Fails the test on an error message while waiting. */
gboolean
pop_element_message (GstElement * p, const gchar * name, GstClockTime timeout)
{
  GstBus *bus = GST_ELEMENT_BUS (p);
  gint64 end = g_get_monotonic_time () + timeout / GST_USECOND;

  while (g_get_monotonic_time () < end) {
    GstMessage *m = gst_bus_timed_pop_filtered (bus, 100 * GST_MSECOND,
        GST_MESSAGE_ELEMENT | GST_MESSAGE_ERROR);
    if (!m)
      continue;
    fail_if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR,
        "error while reconnecting");
    if (gst_message_has_name (m, name)) {
      gst_message_unref (m);
      return TRUE;
    }
    gst_message_unref (m);
  }
  return FALSE;
}

/* A loopback listener that never accepts: the TCP handshake completes in
 * the kernel, the SPICE link never does.  Stands for an unreachable host
 * without sending a packet off this machine.  Close *fd when done. */
gchar *
start_silent_listener (int *fd)
{
  struct sockaddr_in a = { 0, };
  socklen_t len = sizeof (a);

  *fd = socket (AF_INET, SOCK_STREAM, 0);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  fail_unless (bind (*fd, (struct sockaddr *) &a, sizeof (a)) == 0);
  fail_unless (listen (*fd, 16) == 0);
  fail_unless (getsockname (*fd, (struct sockaddr *) &a, &len) == 0);
  return g_strdup_printf ("spice://127.0.0.1:%u", ntohs (a.sin_port));
}

static gboolean
spice_thread_running (void)
{
  GDir *d = g_dir_open ("/proc/self/task", 0, NULL);
  const gchar *tid;
  gboolean found = FALSE;

  while (d && !found && (tid = g_dir_read_name (d))) {
    gchar *path = g_strdup_printf ("/proc/self/task/%s/comm", tid);
    gchar *comm = NULL;

    if (g_file_get_contents (path, &comm, NULL, NULL))
      found = g_str_equal (g_strstrip (comm), "spice");
    g_free (comm);
    g_free (path);
  }
  if (d)
    g_dir_close (d);
  return found;
}

gboolean
wait_spice_thread_gone (void)
{
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

  while (spice_thread_running ()) {
    if (g_get_monotonic_time () > deadline)
      return FALSE;
    g_usleep (5000);
  }
  return TRUE;
}
