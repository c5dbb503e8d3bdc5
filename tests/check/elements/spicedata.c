/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 *
 * The way back into the guest, against the real SPICE test server:
 * spicedatasink and spicedatasrc over a SPICE port (the server hashes what
 * it receives, echoes it, or sends a known pattern), and navigation events
 * on spicesrc's video pad reaching the server's keyboard, mouse and tablet
 * (which print every event they get).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <gst/check/gstcheck.h>
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/video/navigation.h>
#include <gst/video/video.h>

#include "spicecheck.h"

#define PORT "org.test.data"

static gchar *
command (TestServer * ts, const gchar * line)
{
  gchar *r = test_server_command (ts, line, 10000);
  fail_unless (r != NULL, "server did not answer '%s'", line);
  fail_unless (g_str_has_prefix (r, "OK"), "'%s' -> '%s'", line, r);
  return r;
}

static gchar *
reply_field (const gchar * reply, const gchar * key)
{
  gchar *k = g_strdup_printf (" %s=", key);
  const gchar *at = strstr (reply, k);
  const gchar *end;

  fail_unless (at != NULL, "no %s in '%s'", key, reply);
  at += strlen (k);
  g_free (k);
  end = strchr (at, ' ');
  return end ? g_strndup (at, end - at) : g_strdup (at);
}

static guint64
port_bytes (TestServer * ts)
{
  gchar *r = command (ts, "port stats");
  gchar *v = reply_field (r, "bytes");
  guint64 n = g_ascii_strtoull (v, NULL, 10);

  g_free (v);
  g_free (r);
  return n;
}

/* Waits until the server has received @target bytes from the client (fails
 * after 20 s rather than hang: under valgrind a failed assertion leaves the
 * pipeline running) */
static guint64
wait_port_bytes (TestServer * ts, guint64 target)
{
  gint64 end = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;
  guint64 n;

  while ((n = port_bytes (ts)) < target) {
    fail_unless (g_get_monotonic_time () < end, "the server received %"
        G_GUINT64_FORMAT " bytes, not %" G_GUINT64_FORMAT ", in 20 s", n,
        target);
    g_usleep (20000);
  }
  return n;
}

/* Waits for EOS (or fails on an error) */
static void
wait_eos (GstElement * p, GstClockTime timeout)
{
  GstMessage *m = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (p), timeout,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);

  fail_unless (m != NULL, "no EOS within %" GST_TIME_FORMAT,
      GST_TIME_ARGS (timeout));
  if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR) {
    GError *e;
    gchar *dbg;
    gst_message_parse_error (m, &e, &dbg);
    fail ("error instead of EOS: %s (%s)", e->message, dbg);
  }
  gst_message_unref (m);
}

/* deterministic bytes: a 64-bit xorshift stream */
static void
fill_random (guint8 * data, gsize size, guint64 * state)
{
  gsize i;

  for (i = 0; i < size; i++) {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    data[i] = *state >> 24;
  }
}

/* ---------------------------------------------------------------------- */
/* spicedatasink                                                          */

typedef struct
{
  GChecksum *sha;
  guint64 state;
  guint64 left;
} Feed;

static void
feed_need_data (GstAppSrc * src, guint length, gpointer data)
{
  Feed *f = data;
  gsize size = MIN (f->left, 256 * 1024);
  GstBuffer *buf;
  GstMapInfo map;

  if (size == 0) {
    gst_app_src_end_of_stream (src);
    return;
  }
  buf = gst_buffer_new_allocate (NULL, size, NULL);
  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  fill_random (map.data, size, &f->state);
  g_checksum_update (f->sha, map.data, size);
  gst_buffer_unmap (buf, &map);
  f->left -= size;
  gst_app_src_push_buffer (src, buf);
}

/* 256 MiB into the guest's port, byte-exact (SHA-256 at the server). */
GST_START_TEST (test_port_256mib)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--port-name", PORT, NULL);
  Feed f = { g_checksum_new (G_CHECKSUM_SHA256), 0x9e3779b97f4a7c15ull,
    256u << 20
  };
  GstAppSrcCallbacks cb = { feed_need_data, NULL, NULL, };
  GstElement *p, *src, *sink;
  GstStructure *st;
  gchar *r, *sha;
  guint64 written = 0;
  gint64 t0;

  p = launch ("appsrc name=src block=true max-bytes=1048576 ! spicedatasink "
      "name=sink uri=%s port-name=" PORT, test_server_get_uri (ts));
  src = get (p, "src");
  gst_app_src_set_callbacks (GST_APP_SRC (src), &cb, &f, NULL);
  t0 = g_get_monotonic_time ();
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  wait_eos (p, 300 * GST_SECOND);
  GST_INFO ("256 MiB in %.2f s", (g_get_monotonic_time () - t0) / 1e6);
  sink = get (p, "sink");
  g_object_get (sink, "stats", &st, NULL);
  fail_unless (gst_structure_get_uint64 (st, "bytes-written", &written));
  fail_unless_equals_uint64 (written, 256u << 20);
  gst_structure_free (st);

  /* EOS: every write is on the socket; the server may still be reading
   * (a loaded run compared the hash of a prefix) */
  wait_port_bytes (ts, 256u << 20);
  r = command (ts, "port stats");
  sha = reply_field (r, "sha256");
  fail_unless_equals_string (sha, g_checksum_get_string (f.sha));
  g_free (sha);
  sha = reply_field (r, "bytes");
  fail_unless_equals_uint64 (g_ascii_strtoull (sha, NULL, 10), 256u << 20);
  g_free (sha);
  g_free (r);

  fail_unless_equals_int (gst_element_set_state (p, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  g_checksum_free (f.sha);
  gst_object_unref (src);
  gst_object_unref (sink);
  gst_object_unref (p);
  test_server_stop (ts);
}

GST_END_TEST;

static const gsize message_sizes[] = {
  1, 2, 3, 4, 5, 7, 100, 1000, 4095, 4096, 4097, 65535, 65536, 65537,
  100000, 262144, 1048575, 1048576, 0, 17, 1048576, 1, 333333
};

static GstBuffer *
make_message (guint i)
{
  guint64 state = 0x1234567ull + i;
  GstBuffer *buf = gst_buffer_new_allocate (NULL, message_sizes[i], NULL);
  GstMapInfo map;

  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  fill_random (map.data, map.size, &state);
  gst_buffer_unmap (buf, &map);
  return buf;
}

/* Messages of 1 byte to 1 MiB (and empty) through sink -> guest echo ->
 * src, framed: each comes back whole, as one buffer, in order. */
GST_START_TEST (test_port_framing_roundtrip)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--port-name", PORT,
      "--port-mode", "echo", NULL);
  GstElement *p, *src, *sink;
  guint i;

  p = launch ("appsrc name=src ! spicedatasink framing=length-prefix uri=%s "
      "port-name=" PORT " spicedatasrc framing=length-prefix uri=%s "
      "port-name=" PORT " ! appsink name=sink sync=false",
      test_server_get_uri (ts), test_server_get_uri (ts));
  src = get (p, "src");
  sink = get (p, "sink");
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  for (i = 0; i < G_N_ELEMENTS (message_sizes); i++)
    fail_unless_equals_int (gst_app_src_push_buffer (GST_APP_SRC (src),
            make_message (i)), GST_FLOW_OK);
  for (i = 0; i < G_N_ELEMENTS (message_sizes); i++) {
    GstSample *s = pull (p, sink);
    GstBuffer *got = gst_sample_get_buffer (s);
    GstBuffer *want = make_message (i);

    fail_unless_equals_uint64 (gst_buffer_get_size (got), message_sizes[i]);
    if (message_sizes[i] > 0) {
      GstMapInfo map;
      gst_buffer_map (want, &map, GST_MAP_READ);
      fail_unless (gst_buffer_memcmp (got, 0, map.data, map.size) == 0,
          "message %u (%" G_GSIZE_FORMAT " bytes) differs", i,
          message_sizes[i]);
      gst_buffer_unmap (want, &map);
    }
    gst_buffer_unref (want);
    gst_sample_unref (s);
  }
  stop_pipeline (p, sink);
  gst_object_unref (src);
  test_server_stop (ts);
}

GST_END_TEST;

/* The guest never opens the port: a clear error after open-timeout. */
/* EOS with bytes a stalled server never takes (SIGSTOP): EOS goes on after
 * drain-timeout, with one warning and the bytes counted undelivered. */
GST_START_TEST (test_port_drain_timeout)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--port-name", PORT, NULL);
  GstElement *p, *src, *sink;
  GstMessage *m;
  GstStructure *st;
  guint64 undelivered = 0;
  gint64 t0;
  guint i;
  gboolean warned = FALSE;

  /* more than the sockets on the way can hold, less than max-in-flight
   * (render does not wait: EOS is what waits) */
  p = launch ("appsrc name=src ! spicedatasink name=sink drain-timeout=500 "
      "max-in-flight=100000000 uri=%s port-name=" PORT,
      test_server_get_uri (ts));
  src = get (p, "src");
  sink = get (p, "sink");
  gst_element_set_state (p, GST_STATE_PLAYING);
  gst_app_src_push_buffer (GST_APP_SRC (src), gst_buffer_new_allocate (NULL,
          1000, NULL));
  wait_port_bytes (ts, 1000);
  fail_unless (kill (test_server_get_pid (ts), SIGSTOP) == 0);
  for (i = 0; i < 64; i++) {
    GstBuffer *b = gst_buffer_new_allocate (NULL, 1 << 20, NULL);

    gst_buffer_memset (b, 0, i, 1 << 20);
    gst_app_src_push_buffer (GST_APP_SRC (src), b);
  }
  t0 = g_get_monotonic_time ();
  gst_app_src_end_of_stream (GST_APP_SRC (src));
  for (;;) {
    m = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (p), 10 * GST_SECOND,
        GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_WARNING);
    fail_unless (m != NULL, "no EOS within 10 s");
    fail_if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR, "an error");
    if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_WARNING) {
      fail_if (warned, "two warnings");
      warned = TRUE;
      gst_message_unref (m);
      continue;
    }
    gst_message_unref (m);
    break;
  }
  GST_INFO ("EOS %" G_GINT64_FORMAT " ms after end-of-stream",
      (g_get_monotonic_time () - t0) / 1000);
  fail_unless (warned, "no warning");
  g_object_get (sink, "stats", &st, NULL);
  fail_unless (gst_structure_get_uint64 (st, "undelivered-bytes",
          &undelivered));
  gst_structure_free (st);
  fail_unless (undelivered > 0);
  kill (test_server_get_pid (ts), SIGCONT);
  fail_unless_equals_int (gst_element_set_state (p, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (src);
  gst_object_unref (sink);
  gst_object_unref (p);
  test_server_stop (ts);
}

GST_END_TEST;

GST_START_TEST (test_port_not_opened)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--port-name", PORT,
      "--port-closed", NULL);
  GstElement *p;
  gint64 t0 = g_get_monotonic_time ();

  p = launch ("fakesrc num-buffers=3 sizetype=fixed sizemax=100 filltype=zero "
      "! spicedatasink open-timeout=800 uri=%s port-name=" PORT,
      test_server_get_uri (ts));
  gst_element_set_state (p, GST_STATE_PLAYING);
  assert_error (wait_error (p, 5 * GST_SECOND), GST_RESOURCE_ERROR,
      GST_RESOURCE_ERROR_OPEN_WRITE, "did not open");
  fail_unless (g_get_monotonic_time () - t0 >= 700000);
  fail_unless_equals_int (gst_element_set_state (p, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (p);

  /* a port that does not exist at all */
  p = launch ("fakesrc num-buffers=3 sizetype=fixed sizemax=100 "
      "filltype=zero ! spicedatasink open-timeout=800 uri=%s "
      "port-name=org.test.none", test_server_get_uri (ts));
  gst_element_set_state (p, GST_STATE_PLAYING);
  assert_error (wait_error (p, 5 * GST_SECOND), GST_RESOURCE_ERROR,
      GST_RESOURCE_ERROR_OPEN_WRITE, "no port 'org.test.none'");
  fail_unless_equals_int (gst_element_set_state (p, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (p);

  p = launch ("spicedatasrc open-timeout=800 uri=%s port-name=org.test.none "
      "! fakesink", test_server_get_uri (ts));
  gst_element_set_state (p, GST_STATE_PLAYING);
  assert_error (wait_error (p, 5 * GST_SECOND), GST_RESOURCE_ERROR,
      GST_RESOURCE_ERROR_OPEN_READ, "no port 'org.test.none'");
  fail_unless_equals_int (gst_element_set_state (p, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (p);

  /* a server that never answers: the error says so, not "no port" */
  {
    int fd;
    gchar *silent = start_silent_listener (&fd);
    GstMessage *m;
    GError *err = NULL;

    p = launch ("fakesrc num-buffers=3 sizetype=fixed sizemax=100 "
        "filltype=zero ! spicedatasink open-timeout=800 uri=%s port-name="
        PORT, silent);
    gst_element_set_state (p, GST_STATE_PLAYING);
    m = wait_error (p, 5 * GST_SECOND);
    gst_message_parse_error (m, &err, NULL);
    fail_if (strstr (err->message, "no port") != NULL, "%s", err->message);
    g_clear_error (&err);
    assert_error (m, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_OPEN_WRITE,
        "no answer within 800 ms");
    gst_element_set_state (p, GST_STATE_NULL);
    gst_object_unref (p);
    p = launch ("spicedatasrc open-timeout=800 uri=%s port-name=" PORT
        " ! fakesink", silent);
    gst_element_set_state (p, GST_STATE_PLAYING);
    assert_error (wait_error (p, 5 * GST_SECOND), GST_RESOURCE_ERROR,
        GST_RESOURCE_ERROR_OPEN_READ, "no answer within 800 ms");
    gst_element_set_state (p, GST_STATE_NULL);
    gst_object_unref (p);
    close (fd);
    g_free (silent);
  }

  /* no port name: at READY */
  p = launch ("fakesrc ! spicedatasink uri=%s", test_server_get_uri (ts));
  fail_unless_equals_int (gst_element_set_state (p, GST_STATE_READY),
      GST_STATE_CHANGE_FAILURE);
  assert_error (wait_error (p, GST_SECOND), GST_RESOURCE_ERROR,
      GST_RESOURCE_ERROR_NOT_FOUND, "port-name");
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (p);
  test_server_stop (ts);
}

GST_END_TEST;

/* The guest opens the port late: the sink waits, then writes. */
GST_START_TEST (test_port_opened_late)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--port-name", PORT,
      "--port-closed", NULL);
  GstElement *p;

  p = launch ("fakesrc num-buffers=10 sizetype=fixed sizemax=1000 "
      "filltype=zero ! spicedatasink uri=%s port-name=" PORT,
      test_server_get_uri (ts));
  gst_element_set_state (p, GST_STATE_PLAYING);
  {
    GstMessage *m = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (p),
        500 * GST_MSECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
    fail_unless (m == NULL, "%" GST_PTR_FORMAT " before the port opened", m);
  }
  fail_unless_equals_uint64 (port_bytes (ts), 0);
  g_free (command (ts, "port open"));
  wait_eos (p, 5 * GST_SECOND);
  /* EOS: on the socket; the server may not have read them yet */
  fail_unless_equals_uint64 (wait_port_bytes (ts, 10000), 10000);
  fail_unless_equals_int (gst_element_set_state (p, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (p);
  test_server_stop (ts);
}

GST_END_TEST;

typedef struct
{
  gint pushed;
} Ticker;

static void
tick_need_data (GstAppSrc * src, guint length, gpointer data)
{
  Ticker *t = data;
  GstBuffer *buf = gst_buffer_new_allocate (NULL, 1000, NULL);

  gst_buffer_memset (buf, 0, 'x', 1000);
  g_usleep (5000);
  g_atomic_int_inc (&t->pushed);
  gst_app_src_push_buffer (src, buf);
}

/* The guest closes the port mid-stream: an error, or (wait-on-close) a
 * wait until it opens again. */
GST_START_TEST (test_port_closed_mid_stream)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--port-name", PORT, NULL);
  GstAppSrcCallbacks cb = { tick_need_data, NULL, NULL, };
  Ticker t = { 0 };
  GstElement *p, *src;
  GstMessage *m;
  guint64 before;

  p = launch ("appsrc name=src ! spicedatasink uri=%s port-name=" PORT,
      test_server_get_uri (ts));
  src = get (p, "src");
  gst_app_src_set_callbacks (GST_APP_SRC (src), &cb, &t, NULL);
  gst_element_set_state (p, GST_STATE_PLAYING);
  wait_port_bytes (ts, 20000);
  g_free (command (ts, "port close"));
  assert_error (wait_error (p, 5 * GST_SECOND), GST_RESOURCE_ERROR,
      GST_RESOURCE_ERROR_WRITE, "closed SPICE port");
  fail_unless_equals_int (gst_element_set_state (p, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (src);
  gst_object_unref (p);
  g_free (command (ts, "port open"));

  p = launch ("appsrc name=src ! spicedatasink wait-on-close=true uri=%s "
      "port-name=" PORT, test_server_get_uri (ts));
  src = get (p, "src");
  gst_app_src_set_callbacks (GST_APP_SRC (src), &cb, &t, NULL);
  gst_element_set_state (p, GST_STATE_PLAYING);
  before = port_bytes (ts);
  wait_port_bytes (ts, before + 20000);
  g_free (command (ts, "port close"));
  m = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (p), 700 * GST_MSECOND,
      GST_MESSAGE_ERROR);
  if (m) {
    GError *err = NULL;
    gchar *dbg = NULL;

    gst_message_parse_error (m, &err, &dbg);
    fail ("error although wait-on-close is set: %s (%s)", err->message, dbg);
  }
  before = port_bytes (ts);
  g_usleep (300000);
  fail_unless_equals_uint64 (port_bytes (ts), before);
  g_free (command (ts, "port open"));
  wait_port_bytes (ts, before + 20000);
  fail_unless_equals_int (gst_element_set_state (p, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (src);
  gst_object_unref (p);
  test_server_stop (ts);
}

GST_END_TEST;

/* ---------------------------------------------------------------------- */
/* spicedatasrc                                                           */

static guint8
pattern_byte (guint64 i)
{
  return (i * 131 + (i >> 8)) & 0xff;
}

/* What the guest writes arrives in order and complete; the guest closing
 * the port ends the stream. */
GST_START_TEST (test_port_src_pattern)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--port-name", PORT, NULL);
  GstElement *p, *sink;
  GstMessage *m;
  guint64 got = 0;
  gchar *ev;

  p = play (&sink, "spicedatasrc uri=%s port-name=" PORT " "
      "caps=application/x-test ! appsink name=sink sync=false",
      test_server_get_uri (ts));
  ev = test_server_wait_event (ts, "PORT connected", 5000);
  fail_unless (ev != NULL);
  g_free (ev);
  g_free (command (ts, "port send-pattern 3000000"));
  while (got < 3000000) {
    GstSample *s = pull (p, sink);
    GstBuffer *buf = gst_sample_get_buffer (s);
    GstMapInfo map;
    gsize i;

    fail_unless (gst_structure_has_name (gst_caps_get_structure
            (gst_sample_get_caps (s), 0), "application/x-test"));
    fail_unless (GST_BUFFER_PTS_IS_VALID (buf));
    gst_buffer_map (buf, &map, GST_MAP_READ);
    for (i = 0; i < map.size; i++)
      if (map.data[i] != pattern_byte (got + i))
        fail ("byte %" G_GUINT64_FORMAT " is %u, expected %u", got + i,
            map.data[i], pattern_byte (got + i));
    got += map.size;
    gst_buffer_unmap (buf, &map);
    gst_sample_unref (s);
  }
  fail_unless_equals_uint64 (got, 3000000);

  g_free (command (ts, "port close"));
  m = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (p), 5 * GST_SECOND,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless (m && GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS,
      "no EOS when the guest closed the port");
  gst_message_unref (m);
  stop_pipeline (p, sink);
  test_server_stop (ts);
}

GST_END_TEST;

/* Framing errors: a length no message can have, each way. */
GST_START_TEST (test_port_bad_frames)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--port-name", PORT, NULL);
  GstElement *p, *src;
  gchar *ev;

  /* the guest sends garbage where a length should be */
  p = launch ("spicedatasrc framing=length-prefix uri=%s port-name=" PORT
      " ! fakesink async=false", test_server_get_uri (ts));
  gst_element_set_state (p, GST_STATE_PLAYING);
  ev = test_server_wait_event (ts, "PORT connected", 5000);
  fail_unless (ev != NULL);
  g_free (ev);
  g_free (command (ts, "port send ffffffff00"));
  assert_error (wait_error (p, 5 * GST_SECOND), GST_STREAM_ERROR,
      GST_STREAM_ERROR_DECODE, "not length-prefixed");
  fail_unless_equals_int (gst_element_set_state (p, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (p);

  /* a message over the 64 MiB limit is refused, not sent */
  p = launch ("appsrc name=src ! spicedatasink framing=length-prefix uri=%s "
      "port-name=" PORT, test_server_get_uri (ts));
  src = get (p, "src");
  gst_element_set_state (p, GST_STATE_PLAYING);
  gst_app_src_push_buffer (GST_APP_SRC (src),
      gst_buffer_new_allocate (NULL, (64u << 20) + 1, NULL));
  assert_error (wait_error (p, 5 * GST_SECOND), GST_STREAM_ERROR,
      GST_STREAM_ERROR_FAILED, "over the framing limit");
  fail_unless_equals_uint64 (port_bytes (ts), 0);
  fail_unless_equals_int (gst_element_set_state (p, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (src);
  gst_object_unref (p);
  test_server_stop (ts);
}

GST_END_TEST;

/* spicesrc + spicedatasink + spicedatasrc: one connection. */
GST_START_TEST (test_port_one_connection)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--port-name", PORT,
      "--port-mode", "echo", "--size", "160x120", NULL);
  GstElement *p, *vsink, *sink;
  gchar *ev;
  GstSample *s;

  p = launch ("spicesrc uri=%s ! appsink name=vsink sync=false max-buffers=2 "
      "drop=true fakesrc num-buffers=1 sizetype=fixed sizemax=64 "
      "filltype=zero ! spicedatasink uri=%s port-name=" PORT " "
      "spicedatasrc uri=%s port-name=" PORT " ! appsink name=sink "
      "sync=false", test_server_get_uri (ts), test_server_get_uri (ts),
      test_server_get_uri (ts));
  vsink = get (p, "vsink");
  sink = get (p, "sink");
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  gst_sample_unref (pull (p, vsink));
  s = pull (p, sink);
  gst_sample_unref (s);
  ev = test_server_wait_event (ts, "CLIENT connected", 1000);
  fail_unless (ev != NULL);
  g_free (ev);
  /* a second client would have thrown the first off */
  ev = test_server_wait_event (ts, "CLIENT", 500);
  fail_unless (ev == NULL, "the server saw '%s'", ev);
  gst_object_unref (vsink);
  stop_pipeline (p, sink);
  test_server_stop (ts);
}

GST_END_TEST;

/* ---------------------------------------------------------------------- */
/* Input                                                                  */

/* X keysym names and the set-1 bytes a PC keyboard sends for them (make;
 * break is make | 0x80 on the last byte), written from the IBM PC/AT
 * set-1 table, independently of the element's. */
/* *INDENT-OFF* */
static const struct { const gchar *name; const gchar *make; } keys[] = {
  {"Escape", "01"}, {"1", "02"}, {"exclam", "02"}, {"2", "03"}, {"at", "03"},
  {"3", "04"}, {"numbersign", "04"}, {"4", "05"}, {"dollar", "05"},
  {"5", "06"}, {"percent", "06"}, {"6", "07"}, {"asciicircum", "07"},
  {"7", "08"}, {"ampersand", "08"}, {"8", "09"}, {"asterisk", "09"},
  {"9", "0a"}, {"parenleft", "0a"}, {"0", "0b"}, {"parenright", "0b"},
  {"minus", "0c"}, {"underscore", "0c"}, {"equal", "0d"}, {"plus", "0d"},
  {"BackSpace", "0e"}, {"Tab", "0f"}, {"ISO_Left_Tab", "0f"},
  {"q", "10"}, {"w", "11"}, {"e", "12"}, {"r", "13"}, {"t", "14"},
  {"y", "15"}, {"u", "16"}, {"i", "17"}, {"o", "18"}, {"p", "19"},
  {"bracketleft", "1a"}, {"braceleft", "1a"}, {"bracketright", "1b"},
  {"braceright", "1b"}, {"Return", "1c"}, {"Control_L", "1d"},
  {"a", "1e"}, {"s", "1f"}, {"d", "20"}, {"f", "21"}, {"g", "22"},
  {"h", "23"}, {"j", "24"}, {"k", "25"}, {"l", "26"},
  {"semicolon", "27"}, {"colon", "27"}, {"apostrophe", "28"},
  {"quotedbl", "28"}, {"grave", "29"}, {"asciitilde", "29"},
  {"Shift_L", "2a"}, {"backslash", "2b"}, {"bar", "2b"},
  {"z", "2c"}, {"x", "2d"}, {"c", "2e"}, {"v", "2f"}, {"b", "30"},
  {"n", "31"}, {"m", "32"}, {"comma", "33"}, {"less", "33"},
  {"period", "34"}, {"greater", "34"}, {"slash", "35"}, {"question", "35"},
  {"Shift_R", "36"}, {"KP_Multiply", "37"}, {"Alt_L", "38"},
  {"Meta_L", "38"}, {"space", "39"}, {"Caps_Lock", "3a"},
  {"F1", "3b"}, {"F2", "3c"}, {"F3", "3d"}, {"F4", "3e"}, {"F5", "3f"},
  {"F6", "40"}, {"F7", "41"}, {"F8", "42"}, {"F9", "43"}, {"F10", "44"},
  {"Num_Lock", "45"}, {"Scroll_Lock", "46"},
  {"KP_7", "47"}, {"KP_Home", "47"}, {"KP_8", "48"}, {"KP_Up", "48"},
  {"KP_9", "49"}, {"KP_Prior", "49"}, {"KP_Page_Up", "49"},
  {"KP_Subtract", "4a"}, {"KP_4", "4b"}, {"KP_Left", "4b"},
  {"KP_5", "4c"}, {"KP_Begin", "4c"}, {"KP_6", "4d"}, {"KP_Right", "4d"},
  {"KP_Add", "4e"}, {"KP_1", "4f"}, {"KP_End", "4f"}, {"KP_2", "50"},
  {"KP_Down", "50"}, {"KP_3", "51"}, {"KP_Next", "51"},
  {"KP_Page_Down", "51"}, {"KP_0", "52"}, {"KP_Insert", "52"},
  {"KP_Decimal", "53"}, {"KP_Delete", "53"}, {"F11", "57"}, {"F12", "58"},
  {"KP_Enter", "e01c"}, {"Control_R", "e01d"}, {"KP_Divide", "e035"},
  {"Print", "e037"}, {"Sys_Req", "e037"}, {"Alt_R", "e038"},
  {"Meta_R", "e038"}, {"ISO_Level3_Shift", "e038"}, {"Home", "e047"},
  {"Up", "e048"}, {"Prior", "e049"}, {"Page_Up", "e049"},
  {"Left", "e04b"}, {"Right", "e04d"}, {"End", "e04f"}, {"Down", "e050"},
  {"Next", "e051"}, {"Page_Down", "e051"}, {"Insert", "e052"},
  {"Delete", "e053"}, {"Super_L", "e05b"}, {"Super_R", "e05c"},
  {"Menu", "e05d"},
  /* capitals: the letter's key (the user's Shift is theirs) */
  {"A", "1e"}, {"Q", "10"}, {"Z", "2c"},
};
/* *INDENT-ON* */

static void
expect_kbd (TestServer * ts, const gchar * hex, gboolean release,
    const gchar * name)
{
  gsize n = strlen (hex) / 2, i;

  for (i = 0; i < n; i++) {
    gchar want[8], *ev;
    guint byte;

    sscanf (hex + 2 * i, "%2x", &byte);
    if (release && i == n - 1)
      byte |= 0x80;
    g_snprintf (want, sizeof (want), "KBD %02x", byte);
    ev = test_server_wait_event (ts, "KBD", 3000);
    fail_unless (ev != NULL, "%s: no scan byte (expected %s)", name, want);
    fail_unless_equals_string (ev, want);
    g_free (ev);
  }
}

static GstElement *
play_video (TestServer * ts, GstElement ** sink, const gchar * middle)
{
  GstElement *p = play (sink, "spicesrc uri=%s %s ! appsink name=sink "
      "sync=false max-buffers=2 drop=true", test_server_get_uri (ts),
      middle ? middle : "");

  gst_sample_unref (pull (p, *sink));
  return p;
}

/* Every key of the table reaches the server's keyboard as its set-1
 * bytes, press and release; an unknown key sends nothing. */
GST_START_TEST (test_keys)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--size", "160x120", NULL);
  GstElement *p, *sink;
  gchar *ev;
  guint i;

  p = play_video (ts, &sink, NULL);
  for (i = 0; i < G_N_ELEMENTS (keys); i++) {
    fail_unless (gst_element_send_event (sink,
            gst_navigation_event_new_key_press (keys[i].name,
                GST_NAVIGATION_MODIFIER_NONE)), "%s not handled",
        keys[i].name);
    expect_kbd (ts, keys[i].make, FALSE, keys[i].name);
    fail_unless (gst_element_send_event (sink,
            gst_navigation_event_new_key_release (keys[i].name,
                GST_NAVIGATION_MODIFIER_NONE)));
    expect_kbd (ts, keys[i].make, TRUE, keys[i].name);
  }
  gst_element_send_event (sink, gst_navigation_event_new_key_press
      ("XF86Launch9", GST_NAVIGATION_MODIFIER_NONE));
  ev = test_server_wait_event (ts, "KBD", 300);
  fail_unless (ev == NULL, "an unknown key sent %s", ev);
  stop_pipeline (p, sink);
  test_server_stop (ts);
}

GST_END_TEST;

/* The next line of the device `want` names ("TABLET ...", "MOUSE ..."),
 * in order; the tablet's size lines (each new surface) do not count. */
static void
expect_event (TestServer * ts, const gchar * want)
{
  gchar *prefix = g_strndup (want, strchr (want, ' ') - want + 1);
  gchar *ev;

  for (;;) {
    ev = test_server_wait_event (ts, prefix, 3000);
    fail_unless (ev != NULL, "no '%s'", want);
    if (!g_str_has_prefix (ev, "TABLET size"))
      break;
    g_free (ev);
  }
  fail_unless_equals_string (ev, want);
  g_free (ev);
  g_free (prefix);
}

static void
wait_mouse_mode (TestServer * ts, const gchar * mode)
{
  gint i;

  for (i = 0; i < 100; i++) {
    gchar *r = command (ts, "mouse-mode");
    gboolean ok = strstr (r, mode) != NULL;
    g_free (r);
    if (ok)
      return;
    g_usleep (20000);
  }
  fail ("the server did not switch to %s mouse mode", mode);
}

/* Client mouse mode (a tablet): positions on the surface, buttons, the
 * wheel; after a resolution change positions follow the new size, and
 * through videoscale they are scaled back to the surface. */
GST_START_TEST (test_mouse_client_mode)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--size", "320x240",
      "--tablet", NULL);
  GstElement *p, *sink;
  GstSample *s;
  GstVideoInfo info;
  guint i;

  p = play_video (ts, &sink, NULL);
  wait_mouse_mode (ts, "client");
  gst_element_send_event (sink, gst_navigation_event_new_mouse_move (100, 50,
          GST_NAVIGATION_MODIFIER_NONE));
  expect_event (ts, "TABLET position 100 50 0");
  gst_element_send_event (sink, gst_navigation_event_new_mouse_button_press
      (1, 10, 20, GST_NAVIGATION_MODIFIER_NONE));
  expect_event (ts, "TABLET position 10 20 0");
  expect_event (ts, "TABLET wheel 0 1");
  gst_element_send_event (sink, gst_navigation_event_new_mouse_button_release
      (1, 10, 20, GST_NAVIGATION_MODIFIER_NONE));
  expect_event (ts, "TABLET position 10 20 1");
  expect_event (ts, "TABLET buttons 0");
  /* right: libspice-server hands the device QEMU's mask (right = 2) */
  gst_element_send_event (sink, gst_navigation_event_new_mouse_button_press
      (3, 11, 20, GST_NAVIGATION_MODIFIER_NONE));
  expect_event (ts, "TABLET position 11 20 0");
  expect_event (ts, "TABLET wheel 0 2");
  gst_element_send_event (sink, gst_navigation_event_new_mouse_button_release
      (3, 11, 20, GST_NAVIGATION_MODIFIER_NONE));
  expect_event (ts, "TABLET position 11 20 2");
  expect_event (ts, "TABLET buttons 0");
  /* one notch up, then down: a press and release of the wheel button */
  gst_element_send_event (sink, gst_navigation_event_new_mouse_scroll (12,
          20, 0, 1, GST_NAVIGATION_MODIFIER_NONE));
  expect_event (ts, "TABLET position 12 20 0");
  expect_event (ts, "TABLET wheel -1 0");
  expect_event (ts, "TABLET buttons 0");
  gst_element_send_event (sink, gst_navigation_event_new_mouse_scroll (12,
          20, 0, -1, GST_NAVIGATION_MODIFIER_NONE));
  expect_event (ts, "TABLET position 12 20 0");
  expect_event (ts, "TABLET wheel 1 0");
  expect_event (ts, "TABLET buttons 0");

  /* the guest goes to 640x480: positions beyond the old size arrive */
  g_free (command (ts, "resize 640 480"));
  for (i = 0; i < 100; i++) {
    s = pull (p, sink);
    fail_unless (gst_video_info_from_caps (&info, gst_sample_get_caps (s)));
    gst_sample_unref (s);
    if (GST_VIDEO_INFO_WIDTH (&info) == 640)
      break;
  }
  fail_unless_equals_int (GST_VIDEO_INFO_WIDTH (&info), 640);
  gst_element_send_event (sink, gst_navigation_event_new_mouse_move (600,
          400, GST_NAVIGATION_MODIFIER_NONE));
  expect_event (ts, "TABLET position 600 400 0");
  stop_pipeline (p, sink);

  /* downstream shows it at twice the size: videoscale maps back */
  g_free (command (ts, "resize 320 240"));
  p = play_video (ts, &sink,
      "! videoscale ! video/x-raw,width=640,height=480");
  gst_element_send_event (sink, gst_navigation_event_new_mouse_move (200,
          100, GST_NAVIGATION_MODIFIER_NONE));
  expect_event (ts, "TABLET position 100 50 0");
  stop_pipeline (p, sink);
  test_server_stop (ts);
}

GST_END_TEST;

/* Server mouse mode (no tablet): relative motion. */
GST_START_TEST (test_mouse_server_mode)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--size", "320x240", NULL);
  GstElement *p, *sink;

  p = play_video (ts, &sink, NULL);
  wait_mouse_mode (ts, "server");
  gst_element_send_event (sink, gst_navigation_event_new_mouse_move (100, 50,
          GST_NAVIGATION_MODIFIER_NONE));
  gst_element_send_event (sink, gst_navigation_event_new_mouse_move (110, 45,
          GST_NAVIGATION_MODIFIER_NONE));
  expect_event (ts, "MOUSE motion 10 -5 0 0");
  /* libspice-server passes a press as a motion with the new state */
  gst_element_send_event (sink, gst_navigation_event_new_mouse_button_press
      (1, 110, 45, GST_NAVIGATION_MODIFIER_NONE));
  expect_event (ts, "MOUSE motion 0 0 0 1");
  gst_element_send_event (sink, gst_navigation_event_new_mouse_button_release
      (1, 110, 45, GST_NAVIGATION_MODIFIER_NONE));
  expect_event (ts, "MOUSE buttons 0");
  stop_pipeline (p, sink);
  test_server_stop (ts);
}

GST_END_TEST;

static Suite *
spicedata_suite (void)
{
  Suite *s = suite_create ("spicedata");
  TCase *tc = tcase_create ("general");

  tcase_add_checked_fixture (tc, NULL, spicecheck_teardown);

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_port_256mib);
  tcase_add_test (tc, test_port_framing_roundtrip);
  tcase_add_test (tc, test_port_not_opened);
  tcase_add_test (tc, test_port_opened_late);
  tcase_add_test (tc, test_port_closed_mid_stream);
  tcase_add_test (tc, test_port_src_pattern);
  tcase_add_test (tc, test_port_bad_frames);
  tcase_add_test (tc, test_port_drain_timeout);
  tcase_add_test (tc, test_port_one_connection);
  tcase_add_test (tc, test_keys);
  tcase_add_test (tc, test_mouse_client_mode);
  tcase_add_test (tc, test_mouse_server_mode);
  return s;
}

GST_CHECK_MAIN (spicedata);
