/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 *
 * spicesrc against the project's real SPICE test server (libspice-server),
 * over loopback TCP and unix sockets.  Most tests never run a main loop
 * (they pop the bus and pull from appsink), so the plugin's own spice
 * thread does the SPICE work; test_default_main_loop runs the default loop
 * the way gst-launch-1.0 does.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/check/gstcheck.h>
#include <gst/app/gstappsink.h>
#include <gst/video/video.h>
#include <gst/allocators/gstdmabuf.h>
#include <sys/stat.h>

#include "gstspiceeglstream.h"
#include "gstdrmformat.h"
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>
#include <dirent.h>

#include "testserver.h"
#include "spicecheck.h"
#include "test-pattern.h"

static guint count_dir (const gchar * path);


/* Compares a BGRx sample with what the server's surface held at the frame
 * in its strip.  In partial mode a frame is two draws (rectangle, then
 * strip) and SPICE has no frame boundaries, so a frame may be taken between
 * them: "rectangles through N+1, strip N" is accepted, and so is "strip N,
 * rectangles through N-1" (libspice-server may send a strip ahead of its
 * rectangle, see tests/server/README.md).  Returns the frame number. */
static guint32
check_frame (GstSample * sample, guint w, guint h, guint dw, guint dh)
{
  GstBuffer *buf = gst_sample_get_buffer (sample);
  GstVideoInfo info;
  GstVideoFrame f;
  guint32 frame;
  guint64 t;
  guint8 *exp;
  gint estride = w * 4, y;
  gboolean ok = TRUE;
  guint attempt;

  fail_unless (gst_spice_video_info_from_caps (&info, NULL, NULL,
          gst_sample_get_caps (sample)));
  fail_unless_equals_int (GST_VIDEO_INFO_WIDTH (&info), w);
  fail_unless_equals_int (GST_VIDEO_INFO_HEIGHT (&info), h);
  fail_unless_equals_int (GST_VIDEO_INFO_FORMAT (&info),
      GST_VIDEO_FORMAT_BGRx);
  fail_unless (gst_video_frame_map (&f, &info, buf, GST_MAP_READ));
  fail_unless (tp_read_strip (GST_VIDEO_FRAME_PLANE_DATA (&f, 0),
          GST_VIDEO_FRAME_PLANE_STRIDE (&f, 0), &frame, &t),
      "no readable code strip");

  exp = g_malloc ((gsize) estride * h);
  for (attempt = 0; attempt < 3; attempt++) {
    if (attempt == 0) {
      tp_render_expected (exp, estride, frame, t, w, h, dw, dh);
    } else if (dw == 0) {
      break;
    } else if (attempt == 1) {
      tp_render_expected (exp, estride, frame + 1, t, w, h, dw, dh);
      tp_paint_strip (exp, estride, frame, t);
    } else {
      if (frame == 0)
        break;
      tp_render_expected (exp, estride, frame - 1, t, w, h, dw, dh);
      tp_paint_strip (exp, estride, frame, t);
    }
    ok = TRUE;
    for (y = 0; y < (gint) h && ok; y++) {
      const guint32 *a = (const guint32 *) ((guint8 *)
          GST_VIDEO_FRAME_PLANE_DATA (&f, 0) +
          y * GST_VIDEO_FRAME_PLANE_STRIDE (&f, 0));
      const guint32 *b = (const guint32 *) (exp + y * estride);
      guint x;
      for (x = 0; x < w; x++) {
        if ((a[x] & 0xffffff) != (b[x] & 0xffffff)) {
          GST_ERROR ("frame %u (attempt %u) differs at %u,%u: %06x "
              "expected %06x", frame, attempt, x, y, a[x] & 0xffffff,
              b[x] & 0xffffff);
          ok = FALSE;
          break;
        }
      }
    }
    if (ok)
      break;
  }
  g_free (exp);
  gst_video_frame_unmap (&f);
  fail_unless (ok, "frame %u does not match the server's surface", frame);
  return frame;
}

static GstStructure *
get_stats (GstElement * pipeline)
{
  GstElement *src = get (pipeline, "src");
  GstStructure *s = NULL;

  g_object_get (src, "stats", &s, NULL);
  gst_object_unref (src);
  fail_unless (s != NULL);
  return s;
}

static guint64
stat_u64 (GstStructure * s, const gchar * field)
{
  guint64 v = 0;
  fail_unless (gst_structure_get_uint64 (s, field, &v), "no %s", field);
  return v;
}

static guint
stat_u32 (GstStructure * s, const gchar * field)
{
  guint v = 0;
  fail_unless (gst_structure_get_uint (s, field, &v), "no %s", field);
  return v;
}

#define APPSINK "appsink name=sink sync=false max-buffers=4 drop=false"

/* ---------------------------------------------------------------------- */
/* content                                                                */

static void
run_content (TestServerTransport transport, guint dw, guint dh)
{
  gchar *damage = g_strdup_printf ("%ux%u", dw, dh);
  TestServer *ts = dw ? start_server (transport, "--size", "320x240",
      "--fps", "30", "--damage", damage, NULL) :
      start_server (transport, "--size", "320x240", "--fps", "30", NULL);
  GstElement *p, *sink;
  guint32 first = 0, last = 0;
  guint i, distinct = 0;
  GstStructure *st;
  guint64 frames0 = 0, bytes0 = 0;

  p = play (&sink, "spicesrc name=src uri=%s ! " APPSINK, test_server_get_uri (ts));
  for (i = 0; i < 30; i++) {
    GstSample *s = pull (p, sink);
    guint32 n = check_frame (s, 320, 240, dw, dh);

    if (i == 10) {
      /* by now every buffer in rotation had its first, full copy */
      st = get_stats (p);
      frames0 = stat_u64 (st, "frames");
      bytes0 = stat_u64 (st, "bytes-copied");
      gst_structure_free (st);
    }
    if (i == 0)
      first = n;
    else if (n != last)
      distinct++;
    last = n;
    gst_sample_unref (s);
  }
  fail_unless (distinct >= 15, "only %u new frames", distinct);
  fail_unless (last > first);

  st = get_stats (p);
  GST_INFO ("stats %" GST_PTR_FORMAT, st);
  if (dw) {
    /* only damage is copied: far less than a full frame per frame */
    guint64 frames = stat_u64 (st, "frames") - frames0;
    guint64 bytes = stat_u64 (st, "bytes-copied") - bytes0;
    fail_unless (frames >= 10);
    fail_unless (bytes < frames * 320 * 240 * 4 / 4,
        "copied %" G_GUINT64_FORMAT " bytes for %" G_GUINT64_FORMAT
        " frames", bytes, frames);
  }
  gst_structure_free (st);
  stop_pipeline (p, sink);
  test_server_stop (ts);
  g_free (damage);
}

GST_START_TEST (test_content_full_tcp)
{
  run_content (TEST_SERVER_TCP, 0, 0);
}

GST_END_TEST;

GST_START_TEST (test_content_full_unix)
{
  run_content (TEST_SERVER_UNIX, 0, 0);
}

GST_END_TEST;

GST_START_TEST (test_content_partial_damage)
{
  run_content (TEST_SERVER_TCP, 64, 64);
}

GST_END_TEST;

/* buffers of the pipeline never change size behind the caps' back, and the
 * new size comes without a restart */
GST_START_TEST (test_resolution_change)
{
  TestServer *ts = start_server (TEST_SERVER_UNIX, "--size", "320x240",
      "--fps", "30", NULL);
  GstElement *p, *sink;
  guint i, big = 0, small = 0;
  gchar *reply;

  p = play (&sink, "spicesrc name=src uri=%s ! " APPSINK, test_server_get_uri (ts));
  for (i = 0; i < 5; i++) {
    GstSample *s = pull (p, sink);
    check_frame (s, 320, 240, 0, 0);
    small++;
    gst_sample_unref (s);
  }
  reply = test_server_command (ts, "resize 640 360", 5000);
  fail_unless (reply != NULL);
  g_free (reply);

  for (i = 0; i < 60 && big < 10; i++) {
    GstSample *s = pull (p, sink);
    GstVideoInfo info;

    fail_unless (gst_spice_video_info_from_caps (&info, NULL, NULL,
            gst_sample_get_caps (s)));
    fail_unless_equals_int (gst_buffer_get_size (gst_sample_get_buffer (s)),
        GST_VIDEO_INFO_SIZE (&info));
    if (GST_VIDEO_INFO_WIDTH (&info) == 640) {
      check_frame (s, 640, 360, 0, 0);
      big++;
    } else {
      /* frames taken before the server's resize reached us */
      fail_unless (big == 0, "a 320x240 frame after the 640x360 ones");
      check_frame (s, 320, 240, 0, 0);
    }
    gst_sample_unref (s);
  }
  fail_unless (big >= 10, "no frames at the new size");
  stop_pipeline (p, sink);
  test_server_stop (ts);
}

GST_END_TEST;

/* nothing drawn: the last frame comes again at repeat-interval, as a new
 * reference to the same memory */
GST_START_TEST (test_repeat_last_frame)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--size", "320x240",
      "--fps", "0", NULL);
  GstElement *p, *sink;
  GstSample *prev = NULL;
  GstClockTime prev_pts = GST_CLOCK_TIME_NONE;
  guint64 repeats = 0;
  GstStructure *st;
  guint i;

  p = play (&sink, "spicesrc name=src repeat-interval=100 uri=%s ! " APPSINK,
      test_server_get_uri (ts));
  /* the surface's first draw can come as two damage events (the attach and
   * the server's own draw), so the first pushes may be new frames; after
   * that only repeats follow.  A repeat keeps its frame's offset. */
  for (i = 0; i < 8; i++) {
    GstSample *s = pull (p, sink);
    GstBuffer *b = gst_sample_get_buffer (s);

    fail_unless_equals_int (check_frame (s, 320, 240, 0, 0), 0);
    if (prev && GST_BUFFER_OFFSET (b) ==
        GST_BUFFER_OFFSET (gst_sample_get_buffer (prev))) {
      GstBuffer *pb = gst_sample_get_buffer (prev);
      fail_unless (gst_buffer_peek_memory (b, 0) ==
          gst_buffer_peek_memory (pb, 0), "a repeat with new memory");
      fail_unless (GST_BUFFER_PTS (b) > prev_pts);
      /* 100 ms apart, give or take scheduling */
      fail_unless (GST_BUFFER_PTS (b) - prev_pts >= 80 * GST_MSECOND);
      repeats++;
    }
    prev_pts = GST_BUFFER_PTS (b);
    if (prev)
      gst_sample_unref (prev);
    prev = s;
  }
  gst_sample_unref (prev);
  fail_unless (repeats >= 5, "only %" G_GUINT64_FORMAT " repeats", repeats);
  /* the repeats copied nothing: at most the two first frames were copied */
  st = get_stats (p);
  fail_unless (stat_u64 (st, "frames") <= 2, "%" G_GUINT64_FORMAT
      " new frames of a still surface", stat_u64 (st, "frames"));
  fail_unless (stat_u64 (st, "repeats") >= repeats);
  fail_unless (stat_u64 (st, "bytes-copied") >= 320 * 240 * 4);
  fail_unless (stat_u64 (st, "bytes-copied") <=
      stat_u64 (st, "frames") * 320 * 240 * 4);
  gst_structure_free (st);
  stop_pipeline (p, sink);
  test_server_stop (ts);
}

GST_END_TEST;

/* spicesrc (video only, no repeats) at @fps into a fakesink that calls
 * @handoff (in the streaming thread) for each frame; PLAYING */
static GstElement *
play_handoff (TestServer * ts, gint fps, GCallback handoff, gpointer data)
{
  GstElement *p, *sink;

  p = launch ("spicesrc name=src uri=%s audio=false repeat-interval=0 ! "
      "video/x-raw,framerate=%d/1 ! fakesink name=sink sync=false "
      "enable-last-sample=false signal-handoffs=true",
      test_server_get_uri (ts), fps);
  sink = get (p, "sink");
  g_signal_connect (sink, "handoff", handoff, data);
  gst_object_unref (sink);
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  return p;
}

/* Push times of a fakesink's handoffs, monotonic us */
typedef struct
{
  GMutex lock;
  GArray *times;
} PushTimes;

static void
on_push_time (GstElement * sink, GstBuffer * buf, GstPad * pad, gpointer data)
{
  PushTimes *t = data;
  gint64 now = g_get_monotonic_time ();

  g_mutex_lock (&t->lock);
  g_array_append_val (t->times, now);
  g_mutex_unlock (&t->lock);
}

static guint
push_times_count (PushTimes * t, gint64 * last)
{
  guint n;

  g_mutex_lock (&t->lock);
  n = t->times->len;
  if (last)
    *last = n ? g_array_index (t->times, gint64, n - 1) : 0;
  g_mutex_unlock (&t->lock);
  return n;
}

/* A guest drawing without a pause (here 100000 1x1 draws back to back)
 * never lets its damage settle: frames must still go out at the
 * framerate, taken once the oldest damage is a frame interval old, and not
 * only when the flood is over.  (It passes here without that bound too,
 * as long as the server is the slower side and leaves the client a pause
 * now and then; with the settle time raised to 2 ms and no bound, one
 * frame came in the whole flood.) */
GST_START_TEST (test_draw_flood_keeps_frames)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--size", "320x240",
      "--fps", "0", NULL);
  PushTimes t;
  GstElement *p;
  gint64 flood_start, last, end, max_gap = 0, prev;
  guint n, i, first, during;
  gchar *reply;

  g_mutex_init (&t.lock);
  t.times = g_array_new (FALSE, FALSE, sizeof (gint64));
  p = play_handoff (ts, 30, G_CALLBACK (on_push_time), &t);

  /* frame 0 (possibly two pushes: attach and draw), then quiet */
  end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (push_times_count (&t, NULL) == 0 && g_get_monotonic_time () < end)
    g_usleep (10000);
  fail_unless (push_times_count (&t, NULL) > 0, "no first frame");
  g_usleep (300000);

  first = push_times_count (&t, NULL);
  flood_start = g_get_monotonic_time ();
  reply = test_server_command (ts, "flood 100000", 5000);
  fail_unless (reply && g_str_has_prefix (reply, "OK flood"), "%s", reply);
  g_free (reply);
  /* the flood is over once nothing came for 500 ms (no repeats) */
  end = g_get_monotonic_time () + 60 * G_USEC_PER_SEC;
  do {
    g_usleep (100000);
    n = push_times_count (&t, &last);
  } while (g_get_monotonic_time () < MAX (last, flood_start) + 500000 &&
      g_get_monotonic_time () < end);
  fail_unless (g_get_monotonic_time () < end, "frames still flowing 60 s on");
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (p);

  during = n - first;
  fail_unless (during > 0, "no frame during or after the flood");
  fail_unless (last - flood_start >= 300000, "the flood took only %"
      G_GINT64_FORMAT " ms here: too short to tell (make it longer)",
      (last - flood_start) / 1000);
  prev = flood_start;
  for (i = first; i < n; i++) {
    gint64 ts_us = g_array_index (t.times, gint64, i);

    max_gap = MAX (max_gap, ts_us - prev);
    prev = ts_us;
  }
  GST_INFO ("flood: %u frames in %" G_GINT64_FORMAT " ms, longest gap %"
      G_GINT64_FORMAT " ms", during, (last - flood_start) / 1000,
      max_gap / 1000);
  /* 33 ms frames; a loaded or valgrind run stretches them */
  fail_unless (max_gap <= 400000, "a gap of %" G_GINT64_FORMAT " ms between "
      "frames during a draw flood (%u frames in %" G_GINT64_FORMAT " ms)",
      max_gap / 1000, during, (last - flood_start) / 1000);
  g_array_free (t.times, TRUE);
  g_mutex_clear (&t.lock);
  test_server_stop (ts);
}

GST_END_TEST;

/* Frame numbers read from the code strip of each pushed frame */
typedef struct
{
  GMutex lock;
  GArray *numbers;              /* guint32 */
} StripLog;

static void
on_strip_handoff (GstElement * sink, GstBuffer * buf, GstPad * pad,
    gpointer data)
{
  StripLog *l = data;
  GstCaps *caps = gst_pad_get_current_caps (pad);
  GstVideoInfo info;
  GstMapInfo map;
  guint32 frame = G_MAXUINT32;
  guint64 sent;

  if (caps && gst_video_info_from_caps (&info, caps) &&
      gst_buffer_map (buf, &map, GST_MAP_READ)) {
    if (!tp_read_strip (map.data, GST_VIDEO_INFO_PLANE_STRIDE (&info, 0),
            &frame, &sent))
      frame = G_MAXUINT32;
    gst_buffer_unmap (buf, &map);
  }
  gst_clear_caps (&caps);
  g_mutex_lock (&l->lock);
  g_array_append_val (l->numbers, frame);
  g_mutex_unlock (&l->lock);
}

/* Each update as two messages 400 us apart (the rectangle, then the strip),
 * more than the initial settle time: the first updates go out split (the
 * rectangle as a frame of its own, the strip's frame number still the
 * previous one), then the settle time adapts and updates go out whole.
 * (With a fixed 50 us settle time 30 of the last 60 pushes were split.) */
GST_START_TEST (test_split_updates_adapt)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--size", "320x240",
      "--fps", "30", "--damage", "32x32", "--split-us", "400", NULL);
  StripLog l;
  GstElement *p;
  GstStructure *st;
  gint64 end;
  guint n, i, split = 0, bad = 0;

  g_mutex_init (&l.lock);
  l.numbers = g_array_new (FALSE, FALSE, sizeof (guint32));
  /* 60/1 caps on a 30 fps guest: pacing never holds a frame back */
  p = play_handoff (ts, 60, G_CALLBACK (on_strip_handoff), &l);

  end = g_get_monotonic_time () + 30 * G_USEC_PER_SEC;
  do {
    g_usleep (50000);
    g_mutex_lock (&l.lock);
    n = l.numbers->len;
    g_mutex_unlock (&l.lock);
  } while (n < 150 && g_get_monotonic_time () < end);
  st = get_stats (p);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (p);
  fail_unless (n >= 150, "only %u frames in 30 s", n);

  /* the last 60 pushes: a push repeating the previous number is the
   * first half of a split update */
  for (i = n - 60; i < n; i++) {
    guint32 f = g_array_index (l.numbers, guint32, i);

    if (f == G_MAXUINT32)
      bad++;
    else if (f == g_array_index (l.numbers, guint32, i - 1))
      split++;
  }
  GST_INFO ("%u pushes, %u split of the last 60; split-updates %"
      G_GUINT64_FORMAT ", settle-us %u", n, split,
      stat_u64 (st, "split-updates"), stat_u32 (st, "settle-us"));
  fail_unless_equals_int (bad, 0);
  fail_unless (stat_u64 (st, "split-updates") >= 1,
      "no split seen: the test does not split updates");
  fail_unless (stat_u32 (st, "settle-us") > 50, "settle-us %u",
      stat_u32 (st, "settle-us"));
  fail_unless (split <= 6, "%u of the last 60 pushes were half an update "
      "(split-updates %" G_GUINT64_FORMAT ", settle-us %u)", split,
      stat_u64 (st, "split-updates"), stat_u32 (st, "settle-us"));
  gst_structure_free (st);
  g_array_free (l.numbers, TRUE);
  g_mutex_clear (&l.lock);
  test_server_stop (ts);
}

GST_END_TEST;

/* 60 fps of damage into a 10/1 caps: frames are coalesced, timestamps rise */
GST_START_TEST (test_framerate_coalescing)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--size", "160x120",
      "--fps", "60", NULL);
  GstElement *p, *sink;
  GstClockTime first = GST_CLOCK_TIME_NONE, last = 0;
  guint n = 0;
  guint32 f0 = 0, f1 = 0;

  p = play (&sink, "spicesrc name=src uri=%s ! video/x-raw,framerate=10/1 ! "
      APPSINK, test_server_get_uri (ts));
  while (n < 21) {
    GstSample *s = pull (p, sink);
    GstBuffer *b = gst_sample_get_buffer (s);
    GstStructure *cs = gst_caps_get_structure (gst_sample_get_caps (s), 0);
    gint fn, fd;
    guint32 f = check_frame (s, 160, 120, 0, 0);

    fail_unless (gst_structure_get_fraction (cs, "framerate", &fn, &fd));
    fail_unless (fn == 10 && fd == 1);
    if (!GST_CLOCK_TIME_IS_VALID (first)) {
      first = GST_BUFFER_PTS (b);
      f0 = f;
    } else {
      fail_unless (GST_BUFFER_PTS (b) > last);
    }
    last = GST_BUFFER_PTS (b);
    f1 = f;
    n++;
    gst_sample_unref (s);
  }
  /* 20 intervals at 10/1 take about 2 s, at least 1.5 s whatever the
   * jitter allowance; the server drew several frames per output frame */
  fail_unless (last - first >= 1500 * GST_MSECOND,
      "21 frames within %" GST_TIME_FORMAT, GST_TIME_ARGS (last - first));
  fail_unless (f1 - f0 > 2 * 20, "server frames %u..%u not coalesced", f0, f1);
  stop_pipeline (p, sink);
  test_server_stop (ts);
}

GST_END_TEST;

GST_START_TEST (test_framerate_60_negotiable)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--size", "160x120",
      "--fps", "60", NULL);
  GstElement *p, *sink;
  GstSample *s;
  GstStructure *cs;
  gint fn, fd;

  p = play (&sink, "spicesrc name=src uri=%s ! video/x-raw,framerate=60/1 ! "
      APPSINK, test_server_get_uri (ts));
  s = pull (p, sink);
  cs = gst_caps_get_structure (gst_sample_get_caps (s), 0);
  fail_unless (gst_structure_get_fraction (cs, "framerate", &fn, &fd));
  fail_unless (fn == 60 && fd == 1);
  gst_sample_unref (s);

  /* without a preference it is 30/1 */
  stop_pipeline (p, sink);
  p = play (&sink, "spicesrc name=src uri=%s ! " APPSINK, test_server_get_uri (ts));
  s = pull (p, sink);
  cs = gst_caps_get_structure (gst_sample_get_caps (s), 0);
  fail_unless (gst_structure_get_fraction (cs, "framerate", &fn, &fd));
  fail_unless (fn == 30 && fd == 1);
  gst_sample_unref (s);
  stop_pipeline (p, sink);
  test_server_stop (ts);
}

GST_END_TEST;

GST_START_TEST (test_latency_query)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--size", "160x120", NULL);
  GstElement *p, *sink;
  GstPad *pad;
  GstQuery *q;
  gboolean live;
  GstClockTime min, max;

  p = launch ("spicesrc name=src uri=%s ! " APPSINK, test_server_get_uri (ts));
  sink = get (p, "sink");
  fail_unless_equals_int (gst_element_set_state (p, GST_STATE_PLAYING),
      GST_STATE_CHANGE_ASYNC);
  gst_sample_unref (pull (p, sink));
  /* what the source answers upstream of any sink */
  q = gst_query_new_latency ();
  pad = gst_element_get_static_pad (sink, "sink");
  fail_unless (gst_pad_peer_query (pad, q));
  gst_object_unref (pad);
  gst_query_parse_latency (q, &live, &min, &max);
  fail_unless (live);
  fail_unless (min > 0 && min <= GST_SECOND / 10);
  gst_query_unref (q);
  stop_pipeline (p, sink);
  test_server_stop (ts);
}

GST_END_TEST;

/* ARGB surfaces come out as BGRA, 16-bit 555 ones as RGB15 */
GST_START_TEST (test_surface_formats)
{
  const gchar *fmts[][2] = { {"argb", "BGRA"}, {"16_555", "RGB15"} };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (fmts); i++) {
    TestServer *ts = start_server (TEST_SERVER_TCP, "--size", "160x120",
        "--format", fmts[i][0], NULL);
    GstElement *p, *sink;
    GstSample *s;
    GstVideoInfo info;

    p = play (&sink, "spicesrc name=src uri=%s ! " APPSINK,
        test_server_get_uri (ts));
    s = pull (p, sink);
    fail_unless (gst_spice_video_info_from_caps (&info, NULL, NULL,
            gst_sample_get_caps (s)));
    fail_unless_equals_string (gst_video_format_to_string
        (GST_VIDEO_INFO_FORMAT (&info)), fmts[i][1]);
    fail_unless_equals_int (GST_VIDEO_INFO_WIDTH (&info), 160);
    if (i == 0) {
      GstVideoFrame f;
      guint32 n;
      fail_unless (gst_video_frame_map (&f, &info, gst_sample_get_buffer (s),
              GST_MAP_READ));
      fail_unless (tp_read_strip (GST_VIDEO_FRAME_PLANE_DATA (&f, 0),
              GST_VIDEO_FRAME_PLANE_STRIDE (&f, 0), &n, NULL));
      gst_video_frame_unmap (&f);
    }
    gst_sample_unref (s);
    stop_pipeline (p, sink);
    test_server_stop (ts);
  }
}

GST_END_TEST;

/* the server's cursor (16x16 at 16,16: left half opaque red, right half
 * blue at alpha 0x80) is drawn on the copy when show-cursor is set */
GST_START_TEST (test_show_cursor)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--size", "160x120",
      "--fps", "0", "--cursor", NULL);
  gboolean show;

  for (show = 0; show <= 1; show++) {
    GstElement *p, *sink;
    GstSample *s = NULL;
    GstMapInfo map;
    guint i;
    const guint32 *px = NULL;
    guint32 red, blue, pat_red, pat_blue;

    p = play (&sink, "spicesrc name=src show-cursor=%d repeat-interval=50 uri=%s ! "
        APPSINK, show, test_server_get_uri (ts));
    /* the cursor arrives on its own channel, shortly after the display */
    for (i = 0; i < 10; i++) {
      if (s)
        gst_sample_unref (s);
      s = pull (p, sink);
    }
    fail_unless (gst_buffer_map (gst_sample_get_buffer (s), &map,
            GST_MAP_READ));
    px = (const guint32 *) map.data;
    red = px[20 * 160 + 18] & 0xffffff;
    blue = px[20 * 160 + 28] & 0xffffff;
    pat_red = tp_pixel (18, 20, 0) & 0xffffff;
    pat_blue = tp_pixel (28, 20, 0) & 0xffffff;
    if (show) {
      guint32 pb = pat_blue & 0xff, pr = (pat_blue >> 16) & 0xff;
      fail_unless_equals_int (red, 0xff0000);
      /* half blue over the pattern */
      fail_unless (ABS ((gint) (blue & 0xff) - (gint) ((0xff * 0x80 +
                      pb * 0x7f) / 0xff)) <= 1, "blue %06x", blue);
      fail_unless (ABS ((gint) ((blue >> 16) & 0xff) - (gint) (pr * 0x7f /
                  0xff)) <= 1, "blue %06x", blue);
    } else {
      fail_unless_equals_int (red, pat_red);
      fail_unless_equals_int (blue, pat_blue);
    }
    gst_buffer_unmap (gst_sample_get_buffer (s), &map);
    gst_sample_unref (s);
    stop_pipeline (p, sink);
  }
  test_server_stop (ts);
}

GST_END_TEST;

/* ---------------------------------------------------------------------- */
/* errors                                                                 */

GST_START_TEST (test_bad_uri)
{
  const gchar *uris[] = { "", "http://127.0.0.1:5900", "spice://127.0.0.1",
    "spice://:5900", "spice+unix://relative/path", "spice+unix:///",
    "spice://127.0.0.1:99999", "spice://127.0.0.1:5900?port=5900",
    "spice://127.0.0.1?tls-port=0", "spice+tls://127.0.0.1:5901?port=5900",
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (uris); i++) {
    GstElement *src = gst_element_factory_make ("spicesrc", NULL);
    GstBus *bus = gst_bus_new ();
    GstMessage *m;

    gst_element_set_bus (src, bus);
    if (*uris[i])
      g_object_set (src, "uri", uris[i], NULL);
    fail_unless_equals_int (gst_element_set_state (src, GST_STATE_READY),
        GST_STATE_CHANGE_FAILURE);
    m = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
    fail_unless (m != NULL, "no error for '%s'", uris[i]);
    assert_error (m, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND,
        *uris[i] ? "URI" : "uri");
    gst_element_set_state (src, GST_STATE_NULL);
    gst_element_set_bus (src, NULL);
    gst_object_unref (bus);
    gst_object_unref (src);
  }
}

GST_END_TEST;

GST_START_TEST (test_uri_handler)
{
  GError *err = NULL;
  GstElement *src = gst_element_make_from_uri (GST_URI_SRC,
      "spice://127.0.0.1:5930", NULL, &err);
  gchar *uri;

  fail_unless (src != NULL, "%s", err ? err->message : "");
  fail_unless_equals_string (GST_OBJECT_NAME (gst_element_get_factory (src)),
      "spicesrc");
  uri = gst_uri_handler_get_uri (GST_URI_HANDLER (src));
  fail_unless_equals_string (uri, "spice://127.0.0.1:5930");
  g_free (uri);
  fail_unless (gst_uri_handler_set_uri (GST_URI_HANDLER (src),
          "spice+unix:///run/vm/spice.sock", NULL));
  fail_if (gst_uri_handler_set_uri (GST_URI_HANDLER (src),
          "http://example.com/", &err));
  g_clear_error (&err);
  /* the pads come in PAUSED (uridecodebin needs dynamic pads) */
  fail_unless (gst_element_get_static_pad (src, "video") == NULL);
  fail_unless (gst_element_class_get_pad_template (GST_ELEMENT_GET_CLASS
          (src), "video") != NULL);
  gst_object_unref (src);
}

GST_END_TEST;

static guint16
free_port (void)
{
  struct sockaddr_in a = { 0, };
  socklen_t len = sizeof (a);
  int fd = socket (AF_INET, SOCK_STREAM, 0);

  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  fail_unless (bind (fd, (struct sockaddr *) &a, sizeof (a)) == 0);
  fail_unless (getsockname (fd, (struct sockaddr *) &a, &len) == 0);
  close (fd);
  return ntohs (a.sin_port);
}

static void
expect_connect_error (const gchar * uri, const gchar * extra, gint code,
    const gchar * needle, GstClockTime within)
{
  GstElement *p;
  gint64 t0 = g_get_monotonic_time ();

  p = launch ("spicesrc name=src connect-timeout=2000 %s uri=%s ! fakesink",
      extra ? extra : "", uri);
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  assert_error (wait_error (p, within), GST_RESOURCE_ERROR, code, needle);
  GST_INFO ("error after %" G_GINT64_FORMAT " ms",
      (g_get_monotonic_time () - t0) / 1000);
  stop_pipeline (p, NULL);
}

GST_START_TEST (test_connection_refused)
{
  guint16 port = free_port ();
  gchar *uri = g_strdup_printf ("spice://127.0.0.1:%u", port);
  gchar *needle = g_strdup_printf ("127.0.0.1:%u", port);

  expect_connect_error (uri, NULL, GST_RESOURCE_ERROR_OPEN_READ, needle,
      3 * GST_SECOND);
  g_free (uri);
  g_free (needle);
}

GST_END_TEST;

GST_START_TEST (test_missing_unix_socket)
{
  gchar *dir = g_dir_make_tmp ("spicesrc-XXXXXX", NULL);
  gchar *uri = g_strdup_printf ("spice+unix://%s/none.sock", dir);
  gchar *needle = g_strdup_printf ("%s/none.sock", dir);

  expect_connect_error (uri, NULL, GST_RESOURCE_ERROR_OPEN_READ, needle,
      3 * GST_SECOND);
  g_rmdir (dir);
  g_free (dir);
  g_free (uri);
  g_free (needle);
}

GST_END_TEST;

/* An unreachable host (a listener that never answers) */
GST_START_TEST (test_unresponsive_host_times_out)
{
  int fd;
  gchar *uri = start_silent_listener (&fd);
  gchar *needle = g_strdup (uri + strlen ("spice://"));

  expect_connect_error (uri, NULL, GST_RESOURCE_ERROR_OPEN_READ, needle,
      4 * GST_SECOND);
  close (fd);
  g_free (uri);
  g_free (needle);
}

GST_END_TEST;

/* The image-orientation tag that reached the appsink, if any */
static GstPadProbeReturn
orientation_probe (GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  GstEvent *ev = GST_PAD_PROBE_INFO_EVENT (info);
  gchar **orientation = data;
  GstTagList *tags;
  gchar *o = NULL;

  if (GST_EVENT_TYPE (ev) == GST_EVENT_TAG) {
    gst_event_parse_tag (ev, &tags);
    if (gst_tag_list_get_string (tags, GST_TAG_IMAGE_ORIENTATION, &o)) {
      g_free (g_atomic_pointer_exchange (orientation, o));
    }
  }
  return GST_PAD_PROBE_OK;
}

static void
watch_orientation (GstElement * sink, gchar ** orientation)
{
  GstPad *pad = gst_element_get_static_pad (sink, "sink");

  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
      orientation_probe, orientation, NULL);
  gst_object_unref (pad);
}

/* A DMA-BUF frame as the pipeline sees it: one fd memory with the stride
 * in its GstVideoMeta; returned as an upright system-memory sample (rows
 * flipped when @flip), for check_frame. */
static GstSample *
dmabuf_sample_upright (GstSample * s, gboolean flip)
{
  GstBuffer *buf = gst_sample_get_buffer (s), *out;
  GstVideoMeta *meta = gst_buffer_get_video_meta (buf);
  GstCaps *caps;
  GstVideoInfo info;
  GstVideoFrame f;
  GstMapInfo map;
  GstSample *ret;
  guint y;

  fail_unless_equals_int (gst_buffer_n_memory (buf), 1);
  fail_unless (gst_is_dmabuf_memory (gst_buffer_peek_memory (buf, 0)));
  fail_unless (gst_dmabuf_memory_get_fd (gst_buffer_peek_memory (buf, 0))
      >= 0);
  fail_unless (meta != NULL, "no GstVideoMeta on DMA-BUF frame %"
      G_GUINT64_FORMAT " %" GST_PTR_FORMAT " n_meta %u", GST_BUFFER_OFFSET (buf),
      buf, gst_buffer_get_n_meta (buf, G_TYPE_NONE));
  fail_unless (gst_caps_features_contains (gst_caps_get_features
          (gst_sample_get_caps (s), 0), GST_CAPS_FEATURE_MEMORY_DMABUF));
  /* (format=DMA_DRM, drm-format=XR24 on >= 1.24: the format's layout) */
  fail_unless (gst_spice_video_info_from_caps (&info, NULL, NULL,
          gst_sample_get_caps (s)));
  caps = gst_video_info_to_caps (&info);
  fail_unless_equals_int (meta->width, GST_VIDEO_INFO_WIDTH (&info));
  fail_unless_equals_int (meta->height, GST_VIDEO_INFO_HEIGHT (&info));
  fail_unless (meta->stride[0] >= (gint) GST_VIDEO_INFO_WIDTH (&info) * 4);

  out = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (&info), NULL);
  fail_unless (gst_video_frame_map (&f, &info, buf, GST_MAP_READ));
  fail_unless (gst_buffer_map (out, &map, GST_MAP_WRITE));
  for (y = 0; y < (guint) GST_VIDEO_INFO_HEIGHT (&info); y++) {
    guint src = flip ? GST_VIDEO_INFO_HEIGHT (&info) - 1 - y : y;
    memcpy (map.data + (gsize) y * GST_VIDEO_INFO_PLANE_STRIDE (&info, 0),
        (guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&f, 0) + (gsize) src *
        GST_VIDEO_FRAME_PLANE_STRIDE (&f, 0), GST_VIDEO_INFO_WIDTH (&info) * 4);
  }
  gst_buffer_unmap (out, &map);
  gst_video_frame_unmap (&f);
  ret = gst_sample_new (out, caps, NULL, NULL);
  gst_buffer_unref (out);
  gst_caps_unref (caps);
  return ret;
}

/* DMA-BUF frames taken at a fakesink's handoff and released at once:
 * appsink keeps the last pulled sample until the next pull (and the last
 * sample when enable-last-sample), which would hold the guest's next draw
 * until draw-done-timeout.  Each frame is checked and copied upright for
 * the test thread; @hold keeps a reference to the next frame. */
typedef struct
{
  GAsyncQueue *samples;         /* upright GstSample */
  gboolean flip;
  gint hold;                    /* atomic: keep the next buffer */
  GstBuffer *held;              /* atomic pointer */
} Collector;

static void
on_handoff (GstElement * sink, GstBuffer * buf, GstPad * pad, gpointer data)
{
  Collector *c = data;
  GstCaps *caps = gst_pad_get_current_caps (pad);
  GstSample *s = gst_sample_new (buf, caps, NULL, NULL);

  g_async_queue_push (c->samples, dmabuf_sample_upright (s, c->flip));
  gst_sample_unref (s);
  gst_caps_unref (caps);
  if (g_atomic_int_compare_and_exchange (&c->hold, 1, 0))
    g_atomic_pointer_set (&c->held, gst_buffer_ref (buf));
}

static GstSample *
collector_pop (Collector * c)
{
  GstSample *s = g_async_queue_timeout_pop (c->samples, 5 * G_USEC_PER_SEC);

  fail_unless (s != NULL, "no DMA-BUF frame within 5 s");
  return s;
}

static GstElement *
play_collector (Collector * c, const gchar * uri, const gchar * props,
    gboolean flip)
{
  GstElement *p, *sink;

  c->samples = g_async_queue_new_full ((GDestroyNotify) gst_sample_unref);
  c->flip = flip;
  c->hold = 0;
  c->held = NULL;
  p = launch ("spicesrc name=src uri=%s audio=false %s ! capsfilter "
      "caps=\"video/x-raw(memory:DMABuf)\" ! fakesink name=sink sync=false "
      "enable-last-sample=false signal-handoffs=true", uri, props);
  sink = get (p, "sink");
  g_signal_connect (sink, "handoff", G_CALLBACK (on_handoff), c);
  gst_object_unref (sink);
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  return p;
}

static void
collector_stop (Collector * c, GstElement * p)
{
  fail_unless (gst_element_set_state (p, GST_STATE_NULL) ==
      GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (p);
  g_async_queue_unref (c->samples);
  gst_clear_buffer (&c->held);
}

/* A GL display (QEMU gl=on, virgl): the scanout (a memfd here, a DMA-BUF
 * in a VM) goes out as DMA-BUF frames when downstream takes them (a
 * bottom-up scanout as it is, with an image-orientation tag), or is copied
 * into system memory, upright; pixel-exact either way, every draw
 * acknowledged. */
static void
run_gl (const gchar * y0top, const gchar * fourcc, GstVideoFormat format,
    gboolean dmabuf)
{
  TestServer *ts = start_server (TEST_SERVER_UNIX, "--gl", "--size",
      "320x240", "--fps", "30", "--gl-y0top", y0top, "--gl-fourcc", fourcc,
      NULL);
  GstElement *p, *sink = NULL;
  GstVideoInfo info;
  GstStructure *st;
  guint i, first_no = 0, last = 0;
  gchar *r, *orientation = NULL;
  gboolean flipped = g_str_equal (y0top, "0");
  Collector c;

  if (dmabuf) {
    /* a deadline no slow run (valgrind) reaches: draws-late counts only
     * frames not released */
    p = play_collector (&c, test_server_get_uri (ts),
        "draw-done-timeout=2000", flipped);
    sink = get (p, "sink");
    watch_orientation (sink, &orientation);
    gst_clear_object (&sink);
  } else {
    /* a dropping appsink: a slow reader (valgrind) must not back the
     * pipeline up into the copies of the draws, whose release this counts */
    p = launch ("spicesrc name=src uri=%s audio=false "
        "draw-done-timeout=2000 ! capsfilter caps=video/x-raw ! "
        "appsink name=sink sync=false max-buffers=4 drop=true",
        test_server_get_uri (ts));
    sink = get (p, "sink");
    watch_orientation (sink, &orientation);
    fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
        GST_STATE_CHANGE_FAILURE);
  }
  /* System memory: a listener that comes after the display's (blank) 2D
   * primary was drawn but before its scanout sees that primary first: one
   * such BGRx frame without a code strip may lead (seen under load).  With
   * DMA-BUF caps that primary is refused and never pushed. */
  for (i = 0; i < 3 && !dmabuf; i++) {
    GstSample *s = pull (p, sink);
    GstVideoFrame f;
    guint32 n;
    guint64 t;
    gboolean primary;

    fail_unless (gst_spice_video_info_from_caps (&info, NULL, NULL,
            gst_sample_get_caps (s)));
    fail_unless (gst_video_frame_map (&f, &info, gst_sample_get_buffer (s),
            GST_MAP_READ));
    primary = GST_VIDEO_INFO_FORMAT (&info) == GST_VIDEO_FORMAT_BGRx &&
        !tp_read_strip (GST_VIDEO_FRAME_PLANE_DATA (&f, 0),
        GST_VIDEO_FRAME_PLANE_STRIDE (&f, 0), &n, &t);
    gst_video_frame_unmap (&f);
    gst_sample_unref (s);
    if (!primary)
      break;
  }
  for (i = 0; i < 20; i++) {
    GstSample *s = dmabuf ? collector_pop (&c) : pull (p, sink);

    fail_unless (gst_spice_video_info_from_caps (&info, NULL, NULL,
            gst_sample_get_caps (s)));
    fail_unless_equals_int (GST_VIDEO_INFO_FORMAT (&info), format);
    if (dmabuf) {
      /* the orientation tag comes before the first frame */
      fail_unless_equals_string (g_atomic_pointer_get (&orientation),
          flipped ? "flip-rotate-180" : NULL);
    } else {
      fail_if (gst_caps_features_contains (gst_caps_get_features
              (gst_sample_get_caps (s), 0), GST_CAPS_FEATURE_MEMORY_DMABUF));
      fail_unless (orientation == NULL, "orientation %s", orientation);
    }
    if (format == GST_VIDEO_FORMAT_BGRx) {
      guint32 n = check_frame (s, 320, 240, 0, 0);
      if (i == 0)
        first_no = n;
      last = n;
    }
    gst_sample_unref (s);
  }
  if (format == GST_VIDEO_FORMAT_BGRx)
    fail_unless (last >= first_no + 10, "frames %u .. %u", first_no, last);
  st = get_stats (p);
  fail_unless_equals_int (stat_u64 (st, "draws-late"), 0);
  if (dmabuf) {
    fail_unless (stat_u64 (st, "draws-held") >= 19, "%" GST_PTR_FORMAT, st);
    fail_unless_equals_int (stat_u64 (st, "bytes-copied"), 0);
  } else {
    fail_unless (stat_u64 (st, "bytes-copied") >= 20 * 320 * 240 * 4);
  }
  gst_structure_free (st);
  if (dmabuf)
    collector_stop (&c, p);
  else
    stop_pipeline (p, sink);
  r = test_server_command (ts, "gl stats", 2000);
  GST_INFO ("%s", r);
  fail_unless (r && g_str_has_prefix (r, "OK gl stats"), "%s", r);
  g_free (r);
  g_free (orientation);
  test_server_stop (ts);
}

GST_START_TEST (test_gl_scanout)
{
  run_gl ("1", "XR24", GST_VIDEO_FORMAT_BGRx, FALSE);
  run_gl ("0", "XR24", GST_VIDEO_FORMAT_BGRx, FALSE);
  run_gl ("1", "AB24", GST_VIDEO_FORMAT_RGBA, FALSE);
}

GST_END_TEST;

GST_START_TEST (test_gl_dmabuf)
{
  run_gl ("1", "XR24", GST_VIDEO_FORMAT_BGRx, TRUE);
  run_gl ("0", "XR24", GST_VIDEO_FORMAT_BGRx, TRUE);
  run_gl ("1", "AB24", GST_VIDEO_FORMAT_RGBA, TRUE);
  run_gl ("1", "XB24", GST_VIDEO_FORMAT_RGBx, TRUE);
}

GST_END_TEST;

static guint64
gl_done (TestServer * ts)
{
  gchar *r = test_server_command (ts, "gl stats", 2000);
  const gchar *d = r ? strstr (r, " done=") : NULL;
  guint64 v;

  fail_unless (d != NULL, "%s", r);
  v = g_ascii_strtoull (d + 6, NULL, 10);
  g_free (r);
  return v;
}

/* The guest hears a draw is done when downstream releases the frame: while
 * the application holds a sample the server completes no draw; at
 * draw-done-timeout it is told anyway, with one warning. */
GST_START_TEST (test_gl_dmabuf_draw_done_on_release)
{
  TestServer *ts = start_server (TEST_SERVER_UNIX, "--gl", "--size",
      "160x120", "--fps", "100", NULL);
  GstElement *p, *src;
  GstStructure *st;
  GstBus *bus;
  GstMessage *m;
  guint64 done0, done1, late;
  guint i, warnings = 0;
  Collector c;

  p = play_collector (&c, test_server_get_uri (ts), "draw-done-timeout=5000",
      FALSE);
  for (i = 0; i < 10; i++)
    gst_sample_unref (collector_pop (&c));

  /* holding a frame holds the guest */
  g_atomic_int_set (&c.hold, 1);
  while (!g_atomic_pointer_get (&c.held))
    gst_sample_unref (collector_pop (&c));
  g_usleep (100 * 1000);
  done0 = gl_done (ts);
  g_usleep (400 * 1000);
  done1 = gl_done (ts);
  fail_unless (done1 <= done0 + 1, "draws completed while the frame was "
      "held: %" G_GUINT64_FORMAT " -> %" G_GUINT64_FORMAT, done0, done1);
  gst_buffer_unref (g_atomic_pointer_exchange (&c.held, NULL));
  for (i = 0; i < 10; i++)
    gst_sample_unref (collector_pop (&c));
  fail_unless (gl_done (ts) >= done1 + 9);
  st = get_stats (p);
  fail_unless_equals_int (stat_u64 (st, "draws-late"), 0);
  gst_structure_free (st);

  /* a consumer that holds on past the deadline: the guest goes on at
   * that pace, one warning */
  src = get (p, "src");
  g_object_set (src, "draw-done-timeout", 100, NULL);
  gst_object_unref (src);
  /* the deadline is taken when the guest draws: from the next draw on */
  for (i = 0; i < 2; i++)
    gst_sample_unref (collector_pop (&c));
  g_atomic_int_set (&c.hold, 1);
  while (!g_atomic_pointer_get (&c.held))
    gst_sample_unref (collector_pop (&c));
  g_usleep (700 * 1000);
  gst_buffer_unref (g_atomic_pointer_exchange (&c.held, NULL));
  st = get_stats (p);
  late = stat_u64 (st, "draws-late");
  gst_structure_free (st);
  fail_unless_equals_int (late, 1);
  for (i = 0; i < 5; i++)
    gst_sample_unref (collector_pop (&c));
  bus = gst_element_get_bus (p);
  while ((m = gst_bus_pop_filtered (bus, GST_MESSAGE_WARNING))) {
    GError *err = NULL;

    gst_message_parse_warning (m, &err, NULL);
    fail_unless (strstr (err->message, "longer than 100 ms") != NULL, "%s",
        err->message);
    warnings++;
    g_error_free (err);
    gst_message_unref (m);
  }
  gst_object_unref (bus);
  fail_unless_equals_int (warnings, 1);
  collector_stop (&c, p);
  test_server_stop (ts);
}

GST_END_TEST;

/* Caps downstream refuses for the scanout (here a size it is not): a
 * clear not-negotiated error after the grace a 2D primary gets, no hang. */
GST_START_TEST (test_gl_caps_refused)
{
  TestServer *ts = start_server (TEST_SERVER_UNIX, "--gl", "--size",
      "160x120", NULL);
  GstElement *p, *sink;

  p = play (&sink, "spicesrc uri=%s audio=false ! capsfilter "
      "caps=\"video/x-raw(memory:DMABuf),width=100\" ! " APPSINK,
      test_server_get_uri (ts));
  assert_error (wait_error (p, 5 * GST_SECOND), GST_STREAM_ERROR,
      GST_STREAM_ERROR_FORMAT, "raw video");
  stop_pipeline (p, sink);
  test_server_stop (ts);
}

GST_END_TEST;

#ifdef HAVE_DMABUFIMPORT
/* The zero-copy chain as far as this machine's GL goes: spicesrc's
 * DMA-BUF frames -> dmabufimport (GL texture; on llvmpipe its CPU
 * fallback) -> gldownload: pixel-exact, the bottom-up scanout upright. */
static void
run_gl_import (const gchar * y0top, const gchar * fourcc)
{
  TestServer *ts = start_server (TEST_SERVER_UNIX, "--gl", "--size",
      "320x240", "--fps", "30", "--gl-y0top", y0top, "--gl-fourcc", fourcc,
      NULL);
  GstElement *p, *sink, *src;
  GstStructure *st;
  guint i, first_no = 0, last = 0;
  gboolean dmabuf = FALSE;

  /* (a long deadline: the GL context is made with the first frame) */
  p = play (&sink, "spicesrc name=src uri=%s audio=false "
      "draw-done-timeout=3000 ! dmabufimport name=imp ! "
      "gldownload ! capsfilter caps=video/x-raw,format=RGBA ! " APPSINK,
      test_server_get_uri (ts));
  for (i = 0; i < 15; i++) {
    GstSample *s = pull (p, sink), *bgrx;
    GstBuffer *buf = gst_sample_get_buffer (s), *out;
    GstCaps *caps;
    GstMapInfo in, o;
    gsize k;

    /* RGBA -> BGRx for check_frame (the test pattern's layout) */
    fail_unless (gst_buffer_map (buf, &in, GST_MAP_READ));
    fail_unless_equals_int (in.size, 320 * 240 * 4);
    out = gst_buffer_new_allocate (NULL, in.size, NULL);
    fail_unless (gst_buffer_map (out, &o, GST_MAP_WRITE));
    for (k = 0; k < in.size; k += 4) {
      o.data[k] = in.data[k + 2];
      o.data[k + 1] = in.data[k + 1];
      o.data[k + 2] = in.data[k];
      o.data[k + 3] = 0xff;
    }
    gst_buffer_unmap (out, &o);
    gst_buffer_unmap (buf, &in);
    caps = gst_caps_from_string ("video/x-raw,format=BGRx,width=320,"
        "height=240,framerate=30/1");
    bgrx = gst_sample_new (out, caps, NULL, NULL);
    last = check_frame (bgrx, 320, 240, 0, 0);
    if (i == 0)
      first_no = last;
    gst_sample_unref (bgrx);
    gst_buffer_unref (out);
    gst_caps_unref (caps);
    gst_sample_unref (s);
  }
  fail_unless (last >= first_no + 8, "frames %u .. %u", first_no, last);
  st = get_stats (p);
  fail_unless (gst_structure_get_boolean (st, "dmabuf", &dmabuf) && dmabuf);
  fail_unless_equals_int (stat_u64 (st, "bytes-copied"), 0);
  fail_unless_equals_int (stat_u64 (st, "draws-late"), 0);
  gst_structure_free (st);
  src = get (p, "imp");
  g_object_get (src, "stats", &st, NULL);
  GST_INFO ("dmabufimport %" GST_PTR_FORMAT, st);
  fail_unless (stat_u64 (st, "frames") >= 15);
  gst_structure_free (st);
  gst_object_unref (src);
  stop_pipeline (p, sink);
  test_server_stop (ts);
}

GST_START_TEST (test_gl_dmabufimport)
{
  run_gl_import ("1", "XR24");
  run_gl_import ("0", "XR24");
  run_gl_import ("0", "AB24");
}

GST_END_TEST;
#endif

/* fd hygiene on the DMA-BUF path: after 10,000 frames and 100 new
 * scanouts the process has the fds it started with, and streaming does
 * not accumulate any. */
GST_START_TEST (test_gl_dmabuf_fds)
{
  TestServer *ts = start_server (TEST_SERVER_UNIX, "--gl", "--size",
      "64x64", "--fps", "1000", NULL);
  GstElement *p, *src, *sink;
  GstStructure *st;
  guint fds0, fds_mid = 0, resizes = 0, next_resize = 100;
  guint64 frames = 0;
  gint64 deadline = g_get_monotonic_time () + 120 * G_USEC_PER_SEC;

  /* a first short run: GLib's lazily made contexts and threads exist
   * (two eventfds) before counting */
  p = launch ("spicesrc name=src uri=%s audio=false ! capsfilter "
      "caps=\"video/x-raw(memory:DMABuf)\" ! " APPSINK
      " enable-last-sample=false", test_server_get_uri (ts));
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  sink = get (p, "sink");
  gst_sample_unref (pull (p, sink));
  stop_pipeline (p, sink);
  fail_unless (wait_spice_thread_gone (), "the spice thread stays");

  fds0 = count_dir ("/proc/self/fd");
  p = launch ("spicesrc name=src uri=%s audio=false ! capsfilter "
      "caps=\"video/x-raw(memory:DMABuf),framerate=1000/1\" ! fakesink "
      "sync=false enable-last-sample=false", test_server_get_uri (ts));
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  src = get (p, "src");
  while (frames < 10000 || resizes < 100) {
    GstMessage *m = gst_bus_pop_filtered (GST_ELEMENT_BUS (p),
        GST_MESSAGE_ERROR);

    fail_unless (m == NULL, "error after %" G_GUINT64_FORMAT " frames",
        frames);
    fail_unless (g_get_monotonic_time () < deadline, "only %"
        G_GUINT64_FORMAT " frames and %u resizes in 120 s", frames, resizes);
    g_object_get (src, "stats", &st, NULL);
    frames = stat_u64 (st, "frames");
    gst_structure_free (st);
    if (frames >= 1000 && fds_mid == 0)
      fds_mid = count_dir ("/proc/self/fd");
    if (frames >= next_resize && resizes < 100) {
      gchar *cmd = g_strdup_printf ("resize %u %u", resizes % 2 ? 64 : 96,
          resizes % 2 ? 64 : 48);
      gchar *r = test_server_command (ts, cmd, 2000);

      /* refused while a draw is unacknowledged: try again later */
      if (r && g_str_has_prefix (r, "OK resize")) {
        resizes++;
        next_resize = frames + 100;
      }
      g_free (r);
      g_free (cmd);
    }
    g_usleep (2000);
  }
  /* a mapping or a dup per frame or per scanout would show here */
  fail_unless (count_dir ("/proc/self/fd") <= fds_mid + 2, "fds %u -> %u",
      fds_mid, count_dir ("/proc/self/fd"));
  gst_object_unref (src);
  fail_unless (gst_element_set_state (p, GST_STATE_NULL) ==
      GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (p);
  fail_unless (wait_spice_thread_gone (), "the spice thread stays");
  if (count_dir ("/proc/self/fd") != fds0) {
    GDir *d = g_dir_open ("/proc/self/fd", 0, NULL);
    const gchar *n;
    while ((n = g_dir_read_name (d))) {
      gchar *path = g_strdup_printf ("/proc/self/fd/%s", n);
      gchar *l = g_file_read_link (path, NULL);
      g_printerr ("fd %s -> %s\n", n, l);
      g_free (l);
      g_free (path);
    }
    g_dir_close (d);
  }
  fail_unless_equals_int (count_dir ("/proc/self/fd"), fds0);
  test_server_stop (ts);
}

GST_END_TEST;

/* The guest changes resolution: a new scanout, new caps, frames of the
 * new size only. */
GST_START_TEST (test_gl_scanout_resize)
{
  TestServer *ts = start_server (TEST_SERVER_UNIX, "--gl", "--size",
      "320x240", "--fps", "30", NULL);
  GstElement *p, *sink;
  GstVideoInfo info;
  gboolean resized = FALSE;
  guint i;
  gchar *r;

  p = play (&sink, "spicesrc uri=%s audio=false ! " APPSINK,
      test_server_get_uri (ts));
  gst_sample_unref (pull (p, sink));
  r = test_server_command (ts, "resize 480 360", 5000);
  fail_unless (r && g_str_has_prefix (r, "OK resize"), "%s", r);
  g_free (r);
  for (i = 0; i < 60; i++) {
    GstSample *s = pull (p, sink);

    fail_unless (gst_spice_video_info_from_caps (&info, NULL, NULL,
            gst_sample_get_caps (s)));
    if (GST_VIDEO_INFO_WIDTH (&info) == 480) {
      /* from the first frame of the new size on, exact content */
      check_frame (s, 480, 360, 0, 0);
      resized = TRUE;
    } else {
      fail_if (resized, "a 320x240 frame after the new size");
    }
    gst_sample_unref (s);
    if (resized && i > 10)
      break;
  }
  fail_unless (resized, "no frame of the new size");
  stop_pipeline (p, sink);
  test_server_stop (ts);
}

GST_END_TEST;

/* A scanout in a format nobody maps: a clear error. */
GST_START_TEST (test_gl_scanout_bad_format)
{
  TestServer *ts = start_server (TEST_SERVER_UNIX, "--gl", "--size",
      "160x120", "--gl-fourcc", "BAD", NULL);
  GstElement *p, *sink;

  p = play (&sink, "spicesrc uri=%s audio=false ! " APPSINK,
      test_server_get_uri (ts));
  assert_error (wait_error (p, 5 * GST_SECOND), GST_STREAM_ERROR,
      GST_STREAM_ERROR_FORMAT, "DRM fourcc");
  stop_pipeline (p, sink);
  test_server_stop (ts);
}

GST_END_TEST;

/* Broken scanouts: a clear error each, in DMA-BUF and in system memory */
static void
run_gl_bad (const gchar * kind, const gchar * caps, const gchar * needle)
{
  TestServer *ts = start_server (TEST_SERVER_UNIX, "--gl", "--size",
      "160x120", "--gl-bad", kind, NULL);
  GstElement *p, *sink;

  /* (auto would take an fd without a size for an EGLStream) */
  p = play (&sink, "spicesrc uri=%s audio=false scanout-type=dmabuf ! "
      "capsfilter caps=\"%s\" ! " APPSINK, test_server_get_uri (ts), caps);
  assert_error (wait_error (p, 5 * GST_SECOND), GST_STREAM_ERROR,
      GST_STREAM_ERROR_FORMAT, needle);
  stop_pipeline (p, sink);
  test_server_stop (ts);
}

GST_START_TEST (test_gl_scanout_bad_fd)
{
  run_gl_bad ("pipe", "video/x-raw(memory:DMABuf)", "not a buffer");
  run_gl_bad ("pipe", "video/x-raw", "not a buffer");
  run_gl_bad ("short", "video/x-raw(memory:DMABuf)", "smaller than");
  run_gl_bad ("short", "video/x-raw", "smaller than");
  run_gl_bad ("stride", "video/x-raw(memory:DMABuf)", "malformed");
}

GST_END_TEST;

/* An EGLStream scanout (here a socket standing in for the stream's fd):
 * memory:EGLStream frames carrying the fd, one per draw, each draw let go
 * when its frame is freed; forced to DMA-BUF it is no buffer (error). */
static void
on_stream_handoff (GstElement * sink, GstBuffer * buf, GstPad * pad,
    gpointer data)
{
  GstCaps *caps = gst_pad_get_current_caps (pad);
  gint fd = gst_spice_egl_stream_buffer_get_fd (buf);
  struct stat st;
  gboolean ok;

  ok = caps && gst_caps_features_contains (gst_caps_get_features (caps, 0),
      GST_CAPS_FEATURE_MEMORY_EGL_STREAM) && fd >= 0 && fstat (fd, &st) == 0
      && S_ISSOCK (st.st_mode);
  gst_clear_caps (&caps);
  g_atomic_int_inc (ok ? &((gint *) data)[0] : &((gint *) data)[1]);
}

GST_START_TEST (test_gl_eglstream_scanout)
{
  TestServer *ts = start_server (TEST_SERVER_UNIX, "--gl", "--size",
      "160x120", "--fps", "60", "--gl-stream-stub", NULL);
  GstElement *p, *sink;
  GstStructure *st;
  gint counts[2] = { 0, 0 };
  gboolean stream = FALSE;
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

  p = launch ("spicesrc name=src uri=%s audio=false draw-done-timeout=2000 "
      "! capsfilter caps=\"video/x-raw(memory:EGLStream),format=BGRx,width=160,"
      "height=120\" ! fakesink name=sink sync=false enable-last-sample=false "
      "signal-handoffs=true", test_server_get_uri (ts));
  sink = get (p, "sink");
  g_signal_connect (sink, "handoff", G_CALLBACK (on_stream_handoff), counts);
  gst_object_unref (sink);
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  /* at 30 frames/s (the caps default), 20 frames need the draws let go */
  while (g_atomic_int_get (&counts[0]) < 20 &&
      g_get_monotonic_time () < deadline) {
    fail_if (gst_bus_pop_filtered (GST_ELEMENT_BUS (p), GST_MESSAGE_ERROR));
    g_usleep (10000);
  }
  fail_unless (g_atomic_int_get (&counts[0]) >= 20, "%d stream frames",
      g_atomic_int_get (&counts[0]));
  fail_unless_equals_int (g_atomic_int_get (&counts[1]), 0);
  st = get_stats (p);
  fail_unless (gst_structure_get_boolean (st, "eglstream", &stream) && stream);
  fail_unless_equals_int (stat_u64 (st, "draws-late"), 0);
  fail_unless_equals_int (stat_u64 (st, "bytes-copied"), 0);
  gst_structure_free (st);
  fail_unless (gst_element_set_state (p, GST_STATE_NULL) ==
      GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (p);

  /* forced to DMA-BUF: no buffer */
  p = play (&sink, "spicesrc uri=%s audio=false scanout-type=dmabuf ! "
      APPSINK, test_server_get_uri (ts));
  assert_error (wait_error (p, 5 * GST_SECOND), GST_STREAM_ERROR,
      GST_STREAM_ERROR_FORMAT, "not a buffer");
  stop_pipeline (p, sink);
  test_server_stop (ts);
}

GST_END_TEST;

GST_START_TEST (test_wrong_password)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--size", "160x120",
      "--password", "s3cret", NULL);
  GstElement *p, *sink;

  expect_connect_error (test_server_get_uri (ts), "password=wrong",
      GST_RESOURCE_ERROR_NOT_AUTHORIZED, "password", 3 * GST_SECOND);
  expect_connect_error (test_server_get_uri (ts), NULL,
      GST_RESOURCE_ERROR_NOT_AUTHORIZED, "password", 3 * GST_SECOND);

  /* the right one works, given as a property or in the URI */
  p = play (&sink, "spicesrc name=src password=s3cret uri=%s ! " APPSINK,
      test_server_get_uri (ts));
  gst_sample_unref (pull (p, sink));
  stop_pipeline (p, sink);
  p = play (&sink, "spicesrc name=src uri=%s?password=s3cret ! " APPSINK,
      test_server_get_uri (ts));
  gst_sample_unref (pull (p, sink));
  stop_pipeline (p, sink);
  test_server_stop (ts);
}

GST_END_TEST;

GST_START_TEST (test_server_gone)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--size", "160x120", NULL);
  GstElement *p, *sink;
  gchar *needle = g_strdup_printf ("127.0.0.1:%u", test_server_get_port (ts));

  p = play (&sink, "spicesrc name=src uri=%s ! " APPSINK, test_server_get_uri (ts));
  gst_sample_unref (pull (p, sink));
  test_server_stop (ts);
  assert_error (wait_error (p, 5 * GST_SECOND), GST_RESOURCE_ERROR,
      GST_RESOURCE_ERROR_READ, needle);
  stop_pipeline (p, sink);
  g_free (needle);
}

GST_END_TEST;

static void
count_handoff (guint * frames)
{
  (*frames)++;
}

/* Count the video frames of a Matroska file, its duration and whether it
 * can be seeked (a finalised file has its duration and cues) */
static guint
mkv_frames (const gchar * path, GstClockTime * duration, gboolean * seekable)
{
  /* (queues: one streaming thread feeds both sinks, which preroll) */
  GstElement *p = launch ("filesrc location=%s ! matroskademux name=d "
      "d.video_0 ! queue ! fakesink name=v signal-handoffs=true sync=false "
      "d.audio_0 ! queue ! fakesink sync=false", path);
  GstElement *v = get (p, "v");
  GstMessage *m;
  guint frames = 0;
  GstQuery *q;

  g_signal_connect_swapped (v, "handoff", G_CALLBACK (count_handoff),
      &frames);
  fail_unless (gst_element_set_state (p, GST_STATE_PAUSED) !=
      GST_STATE_CHANGE_FAILURE);
  fail_unless (gst_element_get_state (p, NULL, NULL, 10 * GST_SECOND) ==
      GST_STATE_CHANGE_SUCCESS);
  fail_unless (gst_element_query_duration (p, GST_FORMAT_TIME,
          (gint64 *) duration));
  q = gst_query_new_seeking (GST_FORMAT_TIME);
  *seekable = gst_element_query (p, q) && (gst_query_parse_seeking (q, NULL,
          seekable, NULL, NULL), *seekable);
  gst_query_unref (q);
  gst_element_set_state (p, GST_STATE_PLAYING);
  m = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (p), 10 * GST_SECOND,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless (m && GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS,
      "reading %s back failed", path);
  gst_message_unref (m);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (v);
  gst_object_unref (p);
  return frames;
}

/* The server goes away (the VM shut down): the recording @p made with
 * eos-on-disconnect ends with EOS, not an error; then stopped, unreffed */
static void
stop_server_expect_eos (TestServer * ts, GstElement * p)
{
  GstMessage *m;

  test_server_stop (ts);
  m = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (p), 10 * GST_SECOND,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless (m != NULL, "neither EOS nor an error");
  fail_unless (GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS, "%" GST_PTR_FORMAT,
      m);
  gst_message_unref (m);
  fail_unless_equals_int (gst_element_set_state (p, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (p);
}

/* eos-on-disconnect: the server killed mid-recording, both pads end with
 * EOS (no error) and the Matroska file is complete: duration, frames,
 * seekable. */
GST_START_TEST (test_eos_on_disconnect)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--audio", "--size",
      "160x120", "--fps", "30", NULL);
  gchar *dir = g_dir_make_tmp ("spice-eos-XXXXXX", NULL);
  gchar *path = g_build_filename (dir, "rec.mkv", NULL);
  GstElement *p = launch ("spicesrc name=s eos-on-disconnect=true uri=%s "
      "s.video ! queue ! videoconvert ! video/x-raw,format=I420 ! "
      "matroskamux name=mux ! filesink location=%s s.audio ! queue ! "
      "audioconvert ! mux.", test_server_get_uri (ts), path);
  GstClockTime duration = 0;
  gboolean seekable = FALSE;
  guint frames;

  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  g_usleep (2 * G_USEC_PER_SEC);
  stop_server_expect_eos (ts, p);

  frames = mkv_frames (path, &duration, &seekable);
  GST_INFO ("%u frames, %" GST_TIME_FORMAT ", seekable %d", frames,
      GST_TIME_ARGS (duration), seekable);
  /* ~2 s at 30 frames/s */
  fail_unless (frames >= 40, "%u frames", frames);
  fail_unless (duration >= GST_SECOND && duration < 5 * GST_SECOND);
  fail_unless (seekable);
  g_unlink (path);
  g_rmdir (dir);
  g_free (path);
  g_free (dir);
}

GST_END_TEST;

/* The recording recipe of docs/spicesrc.md: a fixed size after
 * videoscale add-borders=true keeps one playable file across a guest
 * resolution change (matroskamux refuses new caps mid-stream), and
 * eos-on-disconnect finalises it when the server goes. */
GST_START_TEST (test_recording_survives_resize)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--audio", "--size",
      "320x240", "--fps", "30", NULL);
  gchar *dir = g_dir_make_tmp ("spice-rec-XXXXXX", NULL);
  gchar *path = g_build_filename (dir, "rec.mkv", NULL);
  GstElement *p = launch ("spicesrc name=s eos-on-disconnect=true uri=%s "
      "s.video ! queue ! videoconvert ! videoscale add-borders=true ! "
      "video/x-raw,width=320,height=240,format=I420,pixel-aspect-ratio=1/1 "
      "! matroskamux name=mux ! filesink location=%s s.audio ! queue ! "
      "audioconvert ! mux.", test_server_get_uri (ts), path);
  GstClockTime duration = 0;
  gboolean seekable = FALSE;
  gchar *r;
  guint frames;

  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  g_usleep (G_USEC_PER_SEC);
  r = test_server_command (ts, "resize 400 200", 5000);
  fail_unless (r != NULL);
  g_free (r);
  g_usleep (G_USEC_PER_SEC);
  r = test_server_command (ts, "resize 200 300", 5000);
  fail_unless (r != NULL);
  g_free (r);
  g_usleep (G_USEC_PER_SEC);
  stop_server_expect_eos (ts, p);

  frames = mkv_frames (path, &duration, &seekable);
  GST_INFO ("%u frames, %" GST_TIME_FORMAT ", seekable %d", frames,
      GST_TIME_ARGS (duration), seekable);
  /* ~3 s at 30 frames/s, through two resolution changes */
  fail_unless (frames >= 60, "%u frames", frames);
  fail_unless (duration >= 2 * GST_SECOND && duration < 6 * GST_SECOND);
  fail_unless (seekable);
  g_unlink (path);
  g_rmdir (dir);
  g_free (path);
  g_free (dir);
}

GST_END_TEST;

/* connected, but the display channel asked for does not exist */
GST_START_TEST (test_no_display_times_out)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--size", "160x120", NULL);

  expect_connect_error (test_server_get_uri (ts), "channel-id=1",
      GST_RESOURCE_ERROR_OPEN_READ, "sent no display", 4 * GST_SECOND);
  test_server_stop (ts);
}

GST_END_TEST;

/* downstream takes none of the formats this surface can give */
GST_START_TEST (test_not_negotiated)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--size", "160x120", NULL);
  GstElement *p;
  GstMessage *m;
  GError *e = NULL;

  p = launch ("spicesrc name=src uri=%s ! video/x-raw,format=RGB16 ! fakesink",
      test_server_get_uri (ts));
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  m = wait_error (p, 5 * GST_SECOND);
  gst_message_parse_error (m, &e, NULL);
  fail_unless (e->domain == GST_STREAM_ERROR, "%s", e->message);
  fail_unless (strstr (e->message, "Downstream cannot take") != NULL,
      "%s", e->message);
  g_error_free (e);
  gst_message_unref (m);
  stop_pipeline (p, NULL);
  test_server_stop (ts);
}

GST_END_TEST;

/* A test server that also listens for TLS, with a fresh CA and server
 * certificate (tests/server/make-test-certs.sh) in *dir; returns the
 * spice+tls:// URI. */
static TestServer *
start_tls_server (gchar ** dir, gchar ** uri, const gchar * secured)
{
  const gchar *script = g_getenv ("SPICE_TEST_CERTS_SCRIPT");
  gchar *argv[3], *line, **parts;
  GError *err = NULL;
  gint status = 0;
  TestServer *ts;

  fail_unless (script != NULL, "SPICE_TEST_CERTS_SCRIPT not set");
  *dir = g_dir_make_tmp ("spicesrc-tls-XXXXXX", NULL);
  argv[0] = (gchar *) script;
  argv[1] = *dir;
  argv[2] = NULL;
  fail_unless (g_spawn_sync (NULL, argv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
          NULL, NULL, &status, &err), "%s", err ? err->message : "");
  fail_unless (g_spawn_check_wait_status (status, NULL),
      "could not make test certificates");
  ts = start_server (TEST_SERVER_TCP, "--size", "160x120", "--tls-dir", *dir,
      secured ? "--tls-channel" : NULL, secured, NULL);
  line = test_server_wait_event (ts, "TLS ", 1000);
  fail_unless (line != NULL, "the server announced no TLS port");
  parts = g_strsplit (line, " ", 3);
  *uri = g_strdup_printf ("spice+tls://%s:%s", parts[1], parts[2]);
  g_strfreev (parts);
  g_free (line);
  return ts;
}

static void
remove_dir (gchar * dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  const gchar *name;

  while (d && (name = g_dir_read_name (d))) {
    gchar *path = g_build_filename (dir, name, NULL);
    g_unlink (path);
    g_free (path);
  }
  if (d)
    g_dir_close (d);
  g_rmdir (dir);
  g_free (dir);
}

GST_START_TEST (test_tls)
{
  gchar *dir, *uri;
  TestServer *ts = start_tls_server (&dir, &uri, NULL);
  GstElement *p, *sink;
  GstSample *s;

  /* the CA that signed it; then also the certificate's subject */
  p = play (&sink, "spicesrc name=src ca-file=%s/ca-cert.pem uri=%s ! "
      APPSINK, dir, uri);
  s = pull (p, sink);
  check_frame (s, 160, 120, 0, 0);
  gst_sample_unref (s);
  stop_pipeline (p, sink);
  p = play (&sink, "spicesrc name=src ca-file=%s/ca-cert.pem "
      "cert-subject=\"O=gst-spice test,CN=localhost\" uri=%s ! " APPSINK,
      dir, uri);
  s = pull (p, sink);
  check_frame (s, 160, 120, 0, 0);
  gst_sample_unref (s);
  stop_pipeline (p, sink);
  test_server_stop (ts);
  remove_dir (dir);
  g_free (uri);
}

GST_END_TEST;

/* The URI forms remote-viewer takes and `virsh domdisplay` prints, against
 * a server with a plain and a TLS port: ?port= alone and with tls-port
 * connect to the plain port (spice-client-glib's first choice: no CA is
 * needed), ?tls-port= alone over TLS (it fails without the CA).  Then IPv6
 * literals, against a server that listens on ::1 only. */
static void
play_uri_form (const gchar * uri, const gchar * extra)
{
  GstElement *p, *sink;
  GstSample *s;

  GST_INFO ("%s %s", uri, extra ? extra : "");
  p = play (&sink, "spicesrc name=src connect-timeout=3000 %s uri=\"%s\" ! "
      APPSINK, extra ? extra : "", uri);
  s = pull (p, sink);
  check_frame (s, 160, 120, 0, 0);
  gst_sample_unref (s);
  stop_pipeline (p, sink);
}

GST_START_TEST (test_uri_forms)
{
  gchar *dir, *tls_uri, *uri, *ca;
  TestServer *ts = start_tls_server (&dir, &tls_uri, NULL);
  guint port = test_server_get_port (ts);
  guint tls_port = atoi (strrchr (tls_uri, ':') + 1);

  ca = g_strdup_printf ("ca-file=%s/ca-cert.pem", dir);
  uri = g_strdup_printf ("spice://127.0.0.1?port=%u", port);
  play_uri_form (uri, NULL);
  g_free (uri);
  uri = g_strdup_printf ("spice://127.0.0.1?port=%u&tls-port=%u", port,
      tls_port);
  play_uri_form (uri, NULL);
  g_free (uri);
  uri = g_strdup_printf ("spice://127.0.0.1:%u?tls-port=%u", port, tls_port);
  play_uri_form (uri, NULL);
  g_free (uri);
  uri = g_strdup_printf ("spice://127.0.0.1?tls-port=%u", tls_port);
  play_uri_form (uri, ca);
  expect_connect_error (uri, NULL, GST_RESOURCE_ERROR_OPEN_READ, "TLS",
      3 * GST_SECOND);
  g_free (uri);
  test_server_stop (ts);
  remove_dir (dir);
  g_free (tls_uri);
  g_free (ca);

  /* a server that serves its display over TLS only: with both ports the
   * display channel moves to the TLS port; with the plain one alone it
   * cannot */
  ts = start_tls_server (&dir, &tls_uri, "display");
  port = test_server_get_port (ts);
  tls_port = atoi (strrchr (tls_uri, ':') + 1);
  ca = g_strdup_printf ("ca-file=%s/ca-cert.pem", dir);
  uri = g_strdup_printf ("spice://127.0.0.1:%u?tls-port=%u", port, tls_port);
  play_uri_form (uri, ca);
  g_free (uri);
  uri = g_strdup_printf ("spice://127.0.0.1:%u", port);
  expect_connect_error (uri, ca, GST_RESOURCE_ERROR_OPEN_READ, NULL,
      5 * GST_SECOND);
  g_free (uri);
  test_server_stop (ts);
  remove_dir (dir);
  g_free (tls_uri);
  g_free (ca);

  ts = start_server (TEST_SERVER_TCP, "--size", "160x120", "--ipv6", NULL);
  port = test_server_get_port (ts);
  uri = g_strdup_printf ("spice://[::1]:%u", port);
  fail_unless_equals_string (test_server_get_uri (ts), uri);
  play_uri_form (uri, NULL);
  g_free (uri);
  uri = g_strdup_printf ("spice://[::1]?port=%u", port);
  play_uri_form (uri, NULL);
  g_free (uri);
  /* nothing listens on 127.0.0.1 there */
  uri = g_strdup_printf ("spice://127.0.0.1:%u", port);
  expect_connect_error (uri, NULL, GST_RESOURCE_ERROR_OPEN_READ,
      "Could not connect", 3 * GST_SECOND);
  g_free (uri);
  test_server_stop (ts);
}

GST_END_TEST;

GST_START_TEST (test_tls_untrusted)
{
  gchar *dir, *uri, *extra;
  TestServer *ts = start_tls_server (&dir, &uri, NULL);

  /* no CA, a CA that did not sign it, the wrong subject */
  expect_connect_error (uri, NULL, GST_RESOURCE_ERROR_OPEN_READ, "TLS",
      3 * GST_SECOND);
  extra = g_strdup_printf ("ca-file=%s/other-ca-cert.pem", dir);
  expect_connect_error (uri, extra, GST_RESOURCE_ERROR_OPEN_READ, "TLS",
      3 * GST_SECOND);
  g_free (extra);
  extra = g_strdup_printf ("ca-file=%s/ca-cert.pem cert-subject=CN=wrong",
      dir);
  expect_connect_error (uri, extra, GST_RESOURCE_ERROR_OPEN_READ, "TLS",
      3 * GST_SECOND);
  g_free (extra);
  test_server_stop (ts);
  remove_dir (dir);
  g_free (uri);
}

GST_END_TEST;

/* reconnect=true: the server drops us, frames keep coming (repeats of the
 * last one), messages announce both events, and new frames resume */
GST_START_TEST (test_reconnect)
{
  TestServer *ts = start_server (TEST_SERVER_UNIX, "--size", "160x120",
      "--fps", "20", NULL);
  GstElement *p, *sink;
  GstStructure *st;
  gchar *reply;
  guint32 before, after = 0;
  guint i;

  p = play (&sink, "spicesrc name=src reconnect=true repeat-interval=100 uri=%s ! "
      APPSINK, test_server_get_uri (ts));
  for (i = 0; i < 3; i++) {
    GstSample *s = pull (p, sink);
    before = check_frame (s, 160, 120, 0, 0);
    gst_sample_unref (s);
  }
  reply = test_server_command (ts, "drop", 5000);
  fail_unless (reply != NULL);
  g_free (reply);
  fail_unless (pop_element_message (p, "spice-disconnected", 5 * GST_SECOND));
  fail_unless (pop_element_message (p, "spice-reconnected", 10 * GST_SECOND));

  /* frames never stopped; new ones come from the new connection */
  for (i = 0; i < 40; i++) {
    GstSample *s = pull (p, sink);
    after = check_frame (s, 160, 120, 0, 0);
    gst_sample_unref (s);
    if (after > before + 5)
      break;
  }
  fail_unless (after > before + 5, "no new frames after reconnecting");
  st = get_stats (p);
  fail_unless (stat_u64 (st, "reconnects") >= 1);
  gst_structure_free (st);
  stop_pipeline (p, sink);
  test_server_stop (ts);
}

GST_END_TEST;

/* A GL display whose server goes away while a DMA-BUF frame is held:
 * with reconnect, frames resume from the new connection's scanout (the
 * old draw, let go late, disturbs nothing); without, an error, no hang. */
GST_START_TEST (test_gl_dmabuf_reconnect_and_gone)
{
  TestServer *ts = start_server (TEST_SERVER_UNIX, "--gl", "--size",
      "160x120", "--fps", "30", NULL);
  GstElement *p;
  GstStructure *st;
  gchar *reply, *needle;
  guint32 before = 0, after = 0;
  guint i;
  Collector c;

  /* the frames read are the guest's own memory: a reader slower than the
   * automatic draw-done timeout (2 frame intervals: a busy host) would
   * read one the guest already draws into */
  p = play_collector (&c, test_server_get_uri (ts),
      "reconnect=true repeat-interval=100 draw-done-timeout=2000", FALSE);
  for (i = 0; i < 3; i++) {
    GstSample *s = collector_pop (&c);
    before = check_frame (s, 160, 120, 0, 0);
    gst_sample_unref (s);
  }
  g_atomic_int_set (&c.hold, 1);
  while (!g_atomic_pointer_get (&c.held))
    gst_sample_unref (collector_pop (&c));
  reply = test_server_command (ts, "drop", 5000);
  fail_unless (reply != NULL);
  g_free (reply);
  fail_unless (pop_element_message (p, "spice-disconnected", 5 * GST_SECOND));
  fail_unless (pop_element_message (p, "spice-reconnected", 10 * GST_SECOND));
  /* the frame of the old connection goes now */
  gst_buffer_unref (g_atomic_pointer_exchange (&c.held, NULL));
  for (i = 0; i < 60; i++) {
    GstSample *s = collector_pop (&c);
    after = check_frame (s, 160, 120, 0, 0);
    gst_sample_unref (s);
    if (after > before + 10)
      break;
  }
  fail_unless (after > before + 10, "no new frames after reconnecting");
  fail_if (gst_bus_pop_filtered (GST_ELEMENT_BUS (p), GST_MESSAGE_ERROR));
  st = get_stats (p);
  fail_unless (stat_u64 (st, "reconnects") >= 1);
  gst_structure_free (st);
  collector_stop (&c, p);

  /* gone for good, a frame held */
  needle = g_strdup (test_server_get_unix_path (ts));
  p = play_collector (&c, test_server_get_uri (ts), "", FALSE);
  gst_sample_unref (collector_pop (&c));
  g_atomic_int_set (&c.hold, 1);
  while (!g_atomic_pointer_get (&c.held))
    gst_sample_unref (collector_pop (&c));
  test_server_stop (ts);
  assert_error (wait_error (p, 5 * GST_SECOND), GST_RESOURCE_ERROR,
      GST_RESOURCE_ERROR_READ, needle);
  collector_stop (&c, p);
  g_free (needle);
}

GST_END_TEST;

/* The guest resizes while frames go out as DMA-BUFs: a new scanout, new
 * caps, frames of the new size only, pixel-exact. */
GST_START_TEST (test_gl_dmabuf_resize)
{
  TestServer *ts = start_server (TEST_SERVER_UNIX, "--gl", "--size",
      "320x240", "--fps", "30", NULL);
  GstElement *p;
  GstVideoInfo info;
  gboolean resized = FALSE;
  gchar *r;
  guint i;
  Collector c;

  /* frames checked pixel by pixel: see test_gl_dmabuf_reconnect_and_gone */
  p = play_collector (&c, test_server_get_uri (ts), "draw-done-timeout=2000",
      FALSE);
  gst_sample_unref (collector_pop (&c));
  r = test_server_command (ts, "resize 480 360", 5000);
  fail_unless (r && g_str_has_prefix (r, "OK resize"), "%s", r);
  g_free (r);
  for (i = 0; i < 60; i++) {
    GstSample *s = collector_pop (&c);

    fail_unless (gst_spice_video_info_from_caps (&info, NULL, NULL,
            gst_sample_get_caps (s)));
    if (GST_VIDEO_INFO_WIDTH (&info) == 480) {
      check_frame (s, 480, 360, 0, 0);
      resized = TRUE;
    } else {
      fail_if (resized, "a 320x240 frame after the new size");
    }
    gst_sample_unref (s);
    if (resized && i > 10)
      break;
  }
  fail_unless (resized, "no frame of the new size");
  collector_stop (&c, p);
  test_server_stop (ts);
}

GST_END_TEST;

/* Waits (@timeout_us at most) for @proc to exit, else kills it; reaped
 * either way.  No main loop here: polls (GLib's worker thread reaps). */
static gboolean
subprocess_exited_within (GSubprocess * proc, gint64 timeout_us)
{
  gint64 deadline = g_get_monotonic_time () + timeout_us;
  gboolean exited = FALSE;

  while (g_get_monotonic_time () < deadline) {
    if (g_subprocess_get_identifier (proc) == NULL) {
      exited = TRUE;
      break;
    }
    g_usleep (20000);
  }
  if (!exited)
    g_subprocess_force_exit (proc);
  g_subprocess_wait (proc, NULL, NULL);
  return exited;
}

/* Ctrl-C with gst-launch-1.0 -e while the server has not answered yet
 * (both pads linked): EOS ends the pipeline at once.  When the audio pad
 * ran (prerolled) while video waited, GStreamer's EOS blocked for good. */
GST_START_TEST (test_eos_while_connecting)
{
  int fd;
  gchar *uri = start_silent_listener (&fd);
  gchar *prop = g_strdup_printf ("uri=%s", uri);
  guint i;

  for (i = 0; i < 20; i++) {
    GError *err = NULL;
    GSubprocess *proc = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
        G_SUBPROCESS_FLAGS_STDERR_SILENCE, &err, "gst-launch-1.0", "-e",
        "spicesrc", "name=s", prop, "s.video", "!", "queue", "!", "fakesink",
        "s.audio", "!", "queue", "!", "fakesink", NULL);

    fail_unless (proc != NULL, "gst-launch-1.0: %s", err ? err->message : "");
    /* from 100 ms (starting) to 2 s (connecting) */
    g_usleep ((100 + i * 100) * 1000);
    g_subprocess_send_signal (proc, SIGINT);
    fail_unless (subprocess_exited_within (proc, 5 * G_USEC_PER_SEC),
        "gst-launch-1.0 -e hung on Ctrl-C (run %u)", i);
    fail_unless (g_subprocess_get_if_exited (proc) &&
        g_subprocess_get_exit_status (proc) == 0, "run %u", i);
    g_object_unref (proc);
  }
  close (fd);
  g_free (prop);
  g_free (uri);
}

GST_END_TEST;

/* The same from an application: an EOS event sent to the pipeline while
 * connecting gives EOS within 5 s. */
GST_START_TEST (test_eos_event_while_connecting)
{
  int fd;
  gchar *uri = start_silent_listener (&fd);
  GstElement *p = launch ("spicesrc name=s uri=%s s.video ! queue ! "
      "fakesink s.audio ! queue ! fakesink", uri);
  GstMessage *m;

  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  g_usleep (G_USEC_PER_SEC);
  fail_unless (gst_element_send_event (p, gst_event_new_eos ()));
  m = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (p), 5 * GST_SECOND,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless (m != NULL && GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS,
      "no EOS within 5 s");
  gst_message_unref (m);
  fail_unless_equals_int (gst_element_set_state (p, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  gst_object_unref (p);
  close (fd);
  g_free (uri);
}

GST_END_TEST;

/* gst-launch-1.0 itself, on a connection that fails at once: its bus
 * watch sits on the default context before it runs its own loop, so the
 * spice thread dispatches it, and its LATENCY handling takes the
 * pipeline's state lock.  Going to NULL must not wait for the spice thread
 * (it hung in 5 runs out of 6 until session 3). */
GST_START_TEST (test_gst_launch_refused)
{
  guint i;

  for (i = 0; i < 6; i++) {
    GError *err = NULL;
    GSubprocess *proc = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
        G_SUBPROCESS_FLAGS_STDERR_SILENCE, &err, "gst-launch-1.0",
        "spicesrc", "uri=spice://127.0.0.1:1", "!", "fakesink", NULL);

    fail_unless (proc != NULL, "gst-launch-1.0: %s", err ? err->message : "");
    fail_unless (subprocess_exited_within (proc, 10 * G_USEC_PER_SEC),
        "gst-launch-1.0 hung (run %u)", i);
    /* an error, reported: exit status 1 */
    fail_unless (g_subprocess_get_if_exited (proc) &&
        g_subprocess_get_exit_status (proc) == 1, "run %u", i);
    g_object_unref (proc);
  }
}

GST_END_TEST;

/* ---------------------------------------------------------------------- */
/* threads, sessions, lifecycle                                           */

static guint
count_dir (const gchar * path)
{
  GDir *d = g_dir_open (path, 0, NULL);
  guint n = 0;

  fail_unless (d != NULL);
  while (g_dir_read_name (d))
    n++;
  g_dir_close (d);
  return n;
}

/* 20 cycles NULL -> PLAYING -> NULL leave no thread or fd behind (memory:
 * the valgrind test setup runs this test too) */
GST_START_TEST (test_state_cycles_leave_nothing)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--size", "160x120", NULL);
  GstElement *p, *sink;
  guint i, threads0 = 0, fds0 = 0;

  p = launch ("spicesrc name=src uri=%s ! " APPSINK, test_server_get_uri (ts));
  sink = get (p, "sink");
  for (i = 0; i < 21; i++) {
    fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
        GST_STATE_CHANGE_FAILURE);
    gst_sample_unref (pull (p, sink));
    fail_unless_equals_int (gst_element_set_state (p, GST_STATE_NULL),
        GST_STATE_CHANGE_SUCCESS);
    /* the session closes in the spice thread, which then exits */
    fail_unless (wait_spice_thread_gone (), "the spice thread stays");
    if (i == 0) {
      /* after a first cycle: GLib's and GStreamer's lazy threads exist */
      threads0 = count_dir ("/proc/self/task");
      fds0 = count_dir ("/proc/self/fd");
    }
  }
  /* GLib's thread pool (GstTask threads) keeps up to two idle workers
   * alive for a while: with two streaming threads (video and audio) one
   * more or less may be parked there.  A thread left per cycle would be
   * 20 more. */
  fail_unless (count_dir ("/proc/self/task") <= threads0 + 1,
      "%u threads after 20 cycles, %u after the first",
      count_dir ("/proc/self/task"), threads0);
  fail_unless_equals_int (count_dir ("/proc/self/fd"), fds0);
  gst_object_unref (sink);
  gst_object_unref (p);
  test_server_stop (ts);
}

GST_END_TEST;

/* Two elements naming the same server share one connection: with two they
 * would kick each other off (a SPICE server takes one client). */
GST_START_TEST (test_shared_session)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--size", "160x120",
      "--fps", "30", NULL);
  GstElement *p, *s1, *s2;
  gchar *reply;
  guint i;

  p = launch ("spicesrc name=src uri=%s ! appsink name=a sync=false "
      "max-buffers=2 drop=true  spicevideosrc uri=%s ! appsink name=b "
      "sync=false max-buffers=2 drop=true", test_server_get_uri (ts),
      test_server_get_uri (ts));
  s1 = get (p, "a");
  s2 = get (p, "b");
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  for (i = 0; i < 10; i++) {
    GstSample *a = pull (p, s1), *b = pull (p, s2);
    check_frame (a, 160, 120, 0, 0);
    check_frame (b, 160, 120, 0, 0);
    gst_sample_unref (a);
    gst_sample_unref (b);
  }
  fail_if (gst_bus_pop_filtered (GST_ELEMENT_BUS (p), GST_MESSAGE_ERROR));
  /* one client connected during all this, and stayed */
  reply = test_server_wait_event (ts, "CLIENT connected", 1000);
  fail_unless (reply != NULL);
  g_free (reply);
  fail_if (test_server_wait_event (ts, "CLIENT connected", 0) != NULL);
  fail_if (test_server_wait_event (ts, "CLIENT disconnected", 0) != NULL);
  gst_object_unref (s1);
  gst_object_unref (s2);
  stop_pipeline (p, NULL);
  test_server_stop (ts);
}

GST_END_TEST;

typedef struct
{
  GMainLoop *loop;
  GstElement *pipeline;
  guint frames;
  gboolean error;
} LoopCtx;

static GstFlowReturn
on_new_sample (GstAppSink * sink, gpointer data)
{
  LoopCtx *c = data;
  GstSample *s = gst_app_sink_pull_sample (sink);

  check_frame (s, 160, 120, 0, 0);
  gst_sample_unref (s);
  if (g_atomic_int_add (&c->frames, 1) == 9)
    g_main_loop_quit (c->loop);
  return GST_FLOW_OK;
}

static gboolean
on_bus (GstBus * bus, GstMessage * m, gpointer data)
{
  LoopCtx *c = data;

  if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_ERROR) {
    c->error = TRUE;
    g_main_loop_quit (c->loop);
  }
  return G_SOURCE_CONTINUE;
}

static gboolean
play_from_loop (gpointer data)
{
  LoopCtx *c = data;

  /* as gst-launch-1.0 does: state changes from inside the default loop */
  gst_element_set_state (c->pipeline, GST_STATE_PLAYING);
  return G_SOURCE_REMOVE;
}

static gboolean
loop_timeout (gpointer data)
{
  LoopCtx *c = data;
  c->error = TRUE;
  g_main_loop_quit (c->loop);
  return G_SOURCE_REMOVE;
}

/* The application runs the default main loop (gst-launch-1.0 style): the
 * SPICE work is dispatched there, and stopping from inside it must not
 * deadlock. */
GST_START_TEST (test_default_main_loop)
{
  TestServer *ts = start_server (TEST_SERVER_TCP, "--size", "160x120",
      "--fps", "30", NULL);
  LoopCtx c = { 0, };
  GstElement *sink;
  GstAppSinkCallbacks cb = { NULL, NULL, on_new_sample, };
  GstBus *bus;
  guint watch, timeout;

  c.loop = g_main_loop_new (NULL, FALSE);
  c.pipeline = launch ("spicesrc name=src uri=%s ! " APPSINK,
      test_server_get_uri (ts));
  sink = get (c.pipeline, "sink");
  gst_app_sink_set_callbacks (GST_APP_SINK (sink), &cb, &c, NULL);
  bus = gst_element_get_bus (c.pipeline);
  watch = gst_bus_add_watch (bus, on_bus, &c);
  g_idle_add (play_from_loop, &c);
  timeout = g_timeout_add_seconds (10, loop_timeout, &c);
  g_main_loop_run (c.loop);
  fail_if (c.error, "error or timeout with the default loop running");
  fail_unless (c.frames >= 10);

  /* stop while this thread owns the default context */
  g_main_context_acquire (NULL);
  fail_unless_equals_int (gst_element_set_state (c.pipeline, GST_STATE_NULL),
      GST_STATE_CHANGE_SUCCESS);
  g_main_context_release (NULL);

  g_source_remove (timeout);
  g_source_remove (watch);
  gst_object_unref (bus);
  gst_object_unref (sink);
  gst_object_unref (c.pipeline);
  g_main_loop_unref (c.loop);
  test_server_stop (ts);
}

GST_END_TEST;

static Suite *
spicesrc_suite (void)
{
  Suite *s = suite_create ("spicesrc");
  TCase *tc = tcase_create ("general");

  tcase_add_checked_fixture (tc, NULL, spicecheck_teardown);

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_content_full_tcp);
  tcase_add_test (tc, test_content_full_unix);
  tcase_add_test (tc, test_content_partial_damage);
  tcase_add_test (tc, test_resolution_change);
  tcase_add_test (tc, test_repeat_last_frame);
  tcase_add_test (tc, test_framerate_coalescing);
  tcase_add_test (tc, test_draw_flood_keeps_frames);
  tcase_add_test (tc, test_split_updates_adapt);
  tcase_add_test (tc, test_framerate_60_negotiable);
  tcase_add_test (tc, test_latency_query);
  tcase_add_test (tc, test_surface_formats);
  tcase_add_test (tc, test_show_cursor);
  tcase_add_test (tc, test_bad_uri);
  tcase_add_test (tc, test_uri_handler);
  tcase_add_test (tc, test_connection_refused);
  tcase_add_test (tc, test_missing_unix_socket);
  tcase_add_test (tc, test_unresponsive_host_times_out);
  tcase_add_test (tc, test_gl_scanout);
  tcase_add_test (tc, test_gl_dmabuf);
  tcase_add_test (tc, test_gl_dmabuf_draw_done_on_release);
  tcase_add_test (tc, test_gl_caps_refused);
  tcase_add_test (tc, test_gl_scanout_bad_fd);
  tcase_add_test (tc, test_gl_eglstream_scanout);
  tcase_add_test (tc, test_gl_dmabuf_reconnect_and_gone);
  tcase_add_test (tc, test_gl_dmabuf_resize);
  tcase_add_test (tc, test_gst_launch_refused);
  tcase_add_test (tc, test_eos_while_connecting);
  tcase_add_test (tc, test_eos_event_while_connecting);
  tcase_add_test (tc, test_gl_dmabuf_fds);
#ifdef HAVE_DMABUFIMPORT
  tcase_add_test (tc, test_gl_dmabufimport);
#endif
  tcase_add_test (tc, test_gl_scanout_resize);
  tcase_add_test (tc, test_gl_scanout_bad_format);
  tcase_add_test (tc, test_wrong_password);
  tcase_add_test (tc, test_server_gone);
  tcase_add_test (tc, test_eos_on_disconnect);
  tcase_add_test (tc, test_recording_survives_resize);
  tcase_add_test (tc, test_no_display_times_out);
  tcase_add_test (tc, test_not_negotiated);
  tcase_add_test (tc, test_tls);
  tcase_add_test (tc, test_tls_untrusted);
  tcase_add_test (tc, test_uri_forms);
  tcase_add_test (tc, test_reconnect);
  tcase_add_test (tc, test_state_cycles_leave_nothing);
  tcase_add_test (tc, test_shared_session);
  tcase_add_test (tc, test_default_main_loop);
  return s;
}

GST_CHECK_MAIN (spicesrc);
