/* spice-audio-bench: the audio path of the plugin against a bare
 * spice-client-glib client, and A/V sync through spicesrc, on the stream
 * of the project's SPICE test server.
 *
 * The parent starts one spice-test-server (--audio: raw S16 PCM, the
 * "code" signal of tests/server/test-audio.h, 48000 Hz stereo, 480-frame
 * packets; 640x480 video at 30 fps) and runs each mode in a child process
 * of its own (spice-client-glib is a process-wide singleton, and the server
 * takes one client at a time), interleaved baseline, spiceaudiosrc,
 * baseline, spiceaudiosrc..., then av once.  Each child waits for its first
 * sound, lets a warm-up pass, then measures for a fixed window and prints
 * one RESULT line that the parent parses.
 *
 *   baseline       a SpiceSession with enable-audio (no SpiceAudio) that
 *                  connects the playback channel only; on playback-data it
 *                  copies the bytes into a ring of its own and decodes the
 *                  packet.
 *   spiceaudiosrc  spiceaudiosrc uri=... ! fakesink sync=false
 *                  enable-last-sample=false; a buffer probe on the sink's
 *                  pad counts the non-GAP frames and decodes the packets.
 *                  Its session opens main, playback and cursor channels.
 *   av             spicesrc name=s uri=... s.video ! queue ! fakesink
 *                  sync=true s.audio ! queue ! fakesink sync=true, as a
 *                  player would.  Per stream, offset = PTS (running time)
 *                  - the send time the server put in the frame's strip or
 *                  the packet's header; A/V offset = the audio packet's
 *                  offset - the median video offset of the window.
 *
 *   clock          (jitter and drift) spicesrc with the video and audio
 *                  into fakesinks (sync=false), against a server of its
 *                  own playing the "marks" signal (440 Hz sine left, a
 *                  one-sample mark every half second right) held back
 *                  20-80 ms at random (--audio-jitter), or 2% fast or
 *                  slow (--audio-speed); run with spiceaudiosrc's
 *                  drift-correction on (this path) and off (today's:
 *                  resyncs), one after the other.  A discontinuity is a
 *                  DISCONT buffer, a run of GAP silence between sounds, or
 *                  a sine period more than 3 samples off what it should
 *                  be; A/V offset = a mark's PTS - when the server's
 *                  timeline reached it - the median video offset.
 *
 * CPU is the child's user+sys time (all threads) over the window, divided
 * by the seconds of audio delivered in the window.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <gst/audio/audio.h>
#include <gst/video/video.h>
#include <spice-client.h>

#include "testserver.h"
#include "benchutil.h"
#include "test-audio.h"
#include "test-pattern.h"

#ifndef GST_SPICE_PLUGIN_DIR
#error "GST_SPICE_PLUGIN_DIR must be defined by the build"
#endif

#define SERVER_SIZE "640x480"
#define SERVER_FPS "30"
#define WARMUP_MS 1000
#define FIRST_SOUND_TIMEOUT_MS 15000
#define DISCONNECT_TIMEOUT_MS 5000
/* on top of warm-up + window + first-sound timeout */
#define CHILD_GRACE_MS 10000
/* the baseline keeps the last second of sound, as a player's ring would */
#define RING_BYTES (TA_DEFAULT_RATE * TA_BYTES_PER_FRAME)

#define TARGET_AV_MS 20

/* ---------------------------------------------------------------------- */
/* Child: what every mode shares                                          */

typedef struct
{
  GMainLoop *loop;
  guint warmup_ms, window_ms;
  gboolean failed;

  GMutex lock;
  /* guarded by lock: written where sound arrives (the thread dispatching
   * spice-client-glib for the baseline, a streaming thread otherwise) */
  gboolean first_seen;
  gboolean measuring;
  gboolean have_next;
  guint64 next_n;               /* n_first the next packet should have */
  guint rate;
  guint64 frames;               /* sound frames in the window */
  guint64 gap_frames;           /* GAP (silence) frames in the window */
  guint64 packets;              /* code packets decoded in the window */
  guint64 bad;                  /* buffers not one whole code packet */
  guint64 lost;                 /* frames missing between buffers */
  guint64 repeated;             /* frames going back between buffers */
  /* pending timeouts, 0 once fired or removed */
  guint timeout_id, warmup_id, window_id;

  /* set in the window callbacks, which the default context runs one at a
   * time */
  gint64 t0, t1;
  struct rusage r0, r1;
} Meter;

static gboolean
window_end (gpointer data)
{
  Meter *m = data;

  g_mutex_lock (&m->lock);
  m->window_id = 0;
  m->measuring = FALSE;
  m->t1 = g_get_monotonic_time ();
  g_mutex_unlock (&m->lock);
  bench_getrusage (&m->r1);
  g_main_loop_quit (m->loop);
  return G_SOURCE_REMOVE;
}

static gboolean
window_start (gpointer data)
{
  Meter *m = data;

  bench_getrusage (&m->r0);
  g_mutex_lock (&m->lock);
  m->warmup_id = 0;
  m->measuring = TRUE;
  m->t0 = g_get_monotonic_time ();
  m->window_id = g_timeout_add (m->window_ms, window_end, m);
  g_mutex_unlock (&m->lock);
  return G_SOURCE_REMOVE;
}

static gboolean
first_sound_timeout (gpointer data)
{
  Meter *m = data;
  gboolean seen;

  g_mutex_lock (&m->lock);
  m->timeout_id = 0;
  seen = m->first_seen;
  g_mutex_unlock (&m->lock);
  if (!seen) {
    g_printerr ("spice-audio-bench: no sound within %d ms\n",
        FIRST_SOUND_TIMEOUT_MS);
    m->failed = TRUE;
    g_main_loop_quit (m->loop);
  }
  return G_SOURCE_REMOVE;
}

static void
meter_set_rate (Meter * m, guint rate)
{
  g_mutex_lock (&m->lock);
  m->rate = rate;
  g_mutex_unlock (&m->lock);
}

/* Silence a GStreamer source pushed (GAP).  Any thread. */
static void
meter_gap (Meter * m, guint frames)
{
  g_mutex_lock (&m->lock);
  if (m->measuring)
    m->gap_frames += frames;
  g_mutex_unlock (&m->lock);
}

/* @frames frames of sound arrived.  Decodes them when they are one code
 * packet; returns TRUE when they were that and arrived in the window, with
 * the send time in *send_us.  Any thread. */
static gboolean
meter_sound (Meter * m, const gint16 * lr, guint frames, gint64 * send_us)
{
  guint64 n_first = 0;
  gboolean code, counted, placed;

  if (frames == 0)
    return FALSE;
  code = frames == TA_PACKET_FRAMES &&
      ta_decode_code_packet (lr, frames, &n_first, send_us);

  g_mutex_lock (&m->lock);
  if (!m->first_seen) {
    m->first_seen = TRUE;
    /* g_timeout_add attaches to the default context from any thread */
    m->warmup_id = g_timeout_add (m->warmup_ms, window_start, m);
  }
  /* a buffer that is not a whole packet (a source trimmed it) is placed
   * by its first left sample, the frame number's low 16 bits, within
   * 32767 frames of where the last one ended */
  placed = code || m->have_next;
  if (!code && placed)
    n_first = m->next_n + (gint16) ((guint16) lr[0] - (guint16) m->next_n);
  counted = m->measuring;
  if (counted) {
    m->frames += frames;
    if (code)
      m->packets++;
    else
      m->bad++;
    if (placed && m->have_next) {
      /* n_first is sent as 32 bits */
      gint32 d = (gint32) ((guint32) n_first - (guint32) m->next_n);

      if (d > 0)
        m->lost += d;
      else
        m->repeated += -(gint64) d;
    }
  }
  if (placed) {
    m->have_next = TRUE;
    m->next_n = n_first + frames;
  }
  g_mutex_unlock (&m->lock);
  return counted && code;
}

static gint64
tv_us (const struct timeval *tv)
{
  return (gint64) tv->tv_sec * G_USEC_PER_SEC + tv->tv_usec;
}

/* The line the parent reads, up to @extra (may be NULL, no newline). */
static void
meter_print_result (Meter * m, const gchar * mode, const gchar * extra)
{
  gint64 cpu_us;

  cpu_us = tv_us (&m->r1.ru_utime) - tv_us (&m->r0.ru_utime) +
      tv_us (&m->r1.ru_stime) - tv_us (&m->r0.ru_stime);
  g_mutex_lock (&m->lock);
  printf ("RESULT mode=%s rate=%u frames=%" G_GUINT64_FORMAT " gap=%"
      G_GUINT64_FORMAT " packets=%" G_GUINT64_FORMAT " bad=%"
      G_GUINT64_FORMAT " lost=%" G_GUINT64_FORMAT " repeated=%"
      G_GUINT64_FORMAT " window_us=%"
      G_GINT64_FORMAT " cpu_us=%" G_GINT64_FORMAT " csw=%ld%s%s\n", mode,
      m->rate, m->frames, m->gap_frames, m->packets, m->bad, m->lost,
      m->repeated,
      m->t1 - m->t0, cpu_us,
      (m->r1.ru_nvcsw + m->r1.ru_nivcsw) - (m->r0.ru_nvcsw + m->r0.ru_nivcsw),
      extra ? " " : "", extra ? extra : "");
  g_mutex_unlock (&m->lock);
  fflush (stdout);
}

static void
meter_init (Meter * m, guint warmup_ms, guint window_ms)
{
  memset (m, 0, sizeof (*m));
  g_mutex_init (&m->lock);
  m->loop = g_main_loop_new (NULL, FALSE);
  m->warmup_ms = warmup_ms;
  m->window_ms = window_ms;
  m->rate = TA_DEFAULT_RATE;
  m->timeout_id = g_timeout_add (FIRST_SOUND_TIMEOUT_MS, first_sound_timeout,
      m);
}

/* No callback may run on the meter after this: call it before tearing
 * down, as the teardown may still dispatch the default context. */
static void
meter_stop (Meter * m)
{
  guint *ids[] = { &m->timeout_id, &m->warmup_id, &m->window_id };
  guint i;

  g_mutex_lock (&m->lock);
  m->measuring = FALSE;
  m->first_seen = TRUE;         /* no new warm-up timer either */
  for (i = 0; i < G_N_ELEMENTS (ids); i++) {
    if (*ids[i])
      g_source_remove (*ids[i]);
    *ids[i] = 0;
  }
  g_mutex_unlock (&m->lock);
}

static void
meter_clear (Meter * m)
{
  g_main_loop_unref (m->loop);
  g_mutex_clear (&m->lock);
}

/* ---------------------------------------------------------------------- */
/* Child: the baseline, a bare spice-client-glib client                   */

typedef struct
{
  Meter meter;
  SpiceSession *session;
  gboolean finishing;
  gboolean disconnected;
  /* the thread dispatching the default context (this one) */
  guint8 *ring;
  gsize ring_pos;
} Baseline;

static void
bl_playback_start (SpicePlaybackChannel * ch, gint format, gint channels,
    gint rate, Baseline * b)
{
  if (format != SPICE_AUDIO_FMT_S16 || channels != TA_CHANNELS) {
    g_printerr ("spice-audio-bench: baseline: unexpected playback format "
        "%d, %d channels\n", format, channels);
    b->meter.failed = TRUE;
    g_main_loop_quit (b->meter.loop);
    return;
  }
  meter_set_rate (&b->meter, rate);
}

static void
bl_playback_data (SpicePlaybackChannel * ch, gpointer data, gint size,
    Baseline * b)
{
  const guint8 *in = data;
  gsize left = size > 0 ? size : 0;

  /* the data is only valid during the signal: keep a copy, as a player
   * must */
  while (left > 0) {
    gsize n = MIN (left, RING_BYTES - b->ring_pos);

    memcpy (b->ring + b->ring_pos, in, n);
    b->ring_pos = (b->ring_pos + n) % RING_BYTES;
    in += n;
    left -= n;
  }
  meter_sound (&b->meter, data, size / TA_BYTES_PER_FRAME, NULL);
}

static void
bl_main_event (SpiceChannel * ch, SpiceChannelEvent event, Baseline * b)
{
  if (event == SPICE_CHANNEL_OPENED)
    return;
  if (!b->finishing) {
    const GError *err = spice_channel_get_error (ch);

    g_printerr ("spice-audio-bench: baseline: main channel event %d%s%s\n",
        event, err ? ": " : "", err ? err->message : "");
    b->meter.failed = TRUE;
    g_main_loop_quit (b->meter.loop);
  }
  spice_session_disconnect (b->session);
}

static void
bl_channel_new (SpiceSession * s, SpiceChannel * ch, Baseline * b)
{
  if (SPICE_IS_MAIN_CHANNEL (ch)) {
    g_signal_connect (ch, "channel-event", G_CALLBACK (bl_main_event), b);
    return;
  }
  if (!SPICE_IS_PLAYBACK_CHANNEL (ch))
    return;
  g_signal_connect (ch, "playback-start", G_CALLBACK (bl_playback_start), b);
  g_signal_connect (ch, "playback-data", G_CALLBACK (bl_playback_data), b);
  spice_channel_connect (ch);
}

static void
bl_disconnected (SpiceSession * s, Baseline * b)
{
  b->disconnected = TRUE;
}

/* bounds the blocking iterations of a wait loop */
static gboolean
keep_waking (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

static gboolean
run_baseline (const gchar * uri, guint warmup_ms, guint window_ms)
{
  Baseline b = { 0, };
  gint64 deadline;
  guint wake;
  gboolean ok;

  meter_init (&b.meter, warmup_ms, window_ms);
  b.ring = g_malloc0 (RING_BYTES);

  /* enable-audio makes the session create the playback channel; without
   * spice_audio_get() nothing plays it but us */
  b.session = spice_session_new ();
  g_object_set (b.session, "uri", uri, "enable-audio", TRUE,
      "enable-usbredir", FALSE, "enable-smartcard", FALSE, NULL);
  g_signal_connect (b.session, "channel-new", G_CALLBACK (bl_channel_new), &b);
  g_signal_connect (b.session, "disconnected", G_CALLBACK (bl_disconnected),
      &b);
  if (!spice_session_connect (b.session)) {
    g_printerr ("spice-audio-bench: baseline: cannot connect to %s\n", uri);
    b.meter.failed = TRUE;
  } else {
    g_main_loop_run (b.meter.loop);
  }

  if (!b.meter.failed)
    meter_print_result (&b.meter, "baseline", NULL);
  ok = !b.meter.failed && b.meter.frames > 0;
  meter_stop (&b.meter);

  b.finishing = TRUE;
  spice_session_disconnect (b.session);
  deadline = g_get_monotonic_time () + DISCONNECT_TIMEOUT_MS * 1000;
  wake = g_timeout_add (50, keep_waking, NULL);
  while (!b.disconnected && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (wake);
  if (!b.disconnected)
    g_printerr ("spice-audio-bench: baseline: no 'disconnected' within "
        "%d ms\n", DISCONNECT_TIMEOUT_MS);
  g_object_unref (b.session);
  g_free (b.ring);
  meter_clear (&b.meter);
  return ok;
}

/* ---------------------------------------------------------------------- */
/* Child: GStreamer pipelines (spiceaudiosrc, av)                         */

typedef struct
{
  Meter meter;
  GstElement *pipeline;
  /* asink's streaming thread */
  GstAudioInfo ainfo;
  gboolean have_audio_buffer;
  /* vsink's streaming thread */
  GstVideoInfo vinfo;
  gboolean have_vinfo;
  /* guarded by meter.lock, in the window only */
  guint64 disconts;             /* DISCONT audio buffers */
  guint64 vframes, vbad;        /* video buffers whose strip decoded / not */
  GArray *voff, *aoff;          /* gint64 ns: PTS - send time */
} PipeRun;

static GstPadProbeReturn
audio_probe (GstPad * pad, GstPadProbeInfo * info, PipeRun * r)
{
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  GstMapInfo map;
  guint frames;
  gint64 send_us;

  if (!r->have_audio_buffer) {
    GstCaps *caps = gst_pad_get_current_caps (pad);
    gboolean ok = caps && gst_audio_info_from_caps (&r->ainfo, caps);

    gst_clear_caps (&caps);
    if (!ok || GST_AUDIO_INFO_FORMAT (&r->ainfo) != GST_AUDIO_FORMAT_S16
        || GST_AUDIO_INFO_CHANNELS (&r->ainfo) != TA_CHANNELS)
      return GST_PAD_PROBE_OK;
    meter_set_rate (&r->meter, GST_AUDIO_INFO_RATE (&r->ainfo));
    r->have_audio_buffer = TRUE;
  } else if (GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DISCONT)) {
    g_mutex_lock (&r->meter.lock);
    if (r->meter.measuring)
      r->disconts++;
    g_mutex_unlock (&r->meter.lock);
  }

  frames = gst_buffer_get_size (buf) / GST_AUDIO_INFO_BPF (&r->ainfo);
  if (GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_GAP)) {
    meter_gap (&r->meter, frames);
    return GST_PAD_PROBE_OK;
  }
  if (!gst_buffer_map (buf, &map, GST_MAP_READ))
    return GST_PAD_PROBE_OK;
  if (meter_sound (&r->meter, (const gint16 *) map.data, frames, &send_us)
      && r->aoff && GST_BUFFER_PTS_IS_VALID (buf)) {
    gint64 off = (gint64) GST_BUFFER_PTS (buf) - send_us * 1000;

    g_mutex_lock (&r->meter.lock);
    g_array_append_val (r->aoff, off);
    g_mutex_unlock (&r->meter.lock);
  }
  gst_buffer_unmap (buf, &map);
  return GST_PAD_PROBE_OK;
}

static GstPadProbeReturn
video_probe (GstPad * pad, GstPadProbeInfo * info, PipeRun * r)
{
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  GstVideoFrame frame;
  guint32 no = 0;
  guint64 sent = 0;
  gboolean ok, measuring;

  g_mutex_lock (&r->meter.lock);
  measuring = r->meter.measuring;
  g_mutex_unlock (&r->meter.lock);
  if (!measuring)
    return GST_PAD_PROBE_OK;

  if (!r->have_vinfo) {
    GstCaps *caps = gst_pad_get_current_caps (pad);

    r->have_vinfo = caps && gst_video_info_from_caps (&r->vinfo, caps);
    gst_clear_caps (&caps);
  }
  /* tp_read_strip reads B, G, R from bytes 0..2 of each pixel */
  ok = r->have_vinfo && GST_BUFFER_PTS_IS_VALID (buf) &&
      (GST_VIDEO_INFO_FORMAT (&r->vinfo) == GST_VIDEO_FORMAT_BGRx ||
      GST_VIDEO_INFO_FORMAT (&r->vinfo) == GST_VIDEO_FORMAT_BGRA) &&
      GST_VIDEO_INFO_WIDTH (&r->vinfo) >= TP_STRIP_W &&
      GST_VIDEO_INFO_HEIGHT (&r->vinfo) >= TP_STRIP_H &&
      gst_video_frame_map (&frame, &r->vinfo, buf, GST_MAP_READ);
  if (ok) {
    ok = tp_read_strip (GST_VIDEO_FRAME_PLANE_DATA (&frame, 0),
        GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0), &no, &sent);
    gst_video_frame_unmap (&frame);
  }

  g_mutex_lock (&r->meter.lock);
  if (!ok) {
    r->vbad++;
  } else if (no > 0) {
    /* frame 0 is drawn at server start-up, not when it is sent */
    gint64 off = (gint64) GST_BUFFER_PTS (buf) - (gint64) sent * 1000;

    g_array_append_val (r->voff, off);
    r->vframes++;
  }
  g_mutex_unlock (&r->meter.lock);
  return GST_PAD_PROBE_OK;
}

static gboolean
pipe_bus (GstBus * bus, GstMessage * msg, PipeRun * r)
{
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    GError *err = NULL;
    gchar *debug = NULL;

    gst_message_parse_error (msg, &err, &debug);
    g_printerr ("spice-audio-bench: error from %s: %s (%s)\n",
        GST_OBJECT_NAME (GST_MESSAGE_SRC (msg)), err->message,
        debug ? debug : "");
    g_clear_error (&err);
    g_free (debug);
    r->meter.failed = TRUE;
    g_main_loop_quit (r->meter.loop);
  } else if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS) {
    g_printerr ("spice-audio-bench: unexpected EOS\n");
    r->meter.failed = TRUE;
    g_main_loop_quit (r->meter.loop);
  }
  return G_SOURCE_CONTINUE;
}

static gboolean
add_probe (GstElement * pipeline, const gchar * sink_name,
    GstPadProbeCallback cb, PipeRun * r)
{
  GstElement *sink = gst_bin_get_by_name (GST_BIN (pipeline), sink_name);
  GstPad *pad = sink ? gst_element_get_static_pad (sink, "sink") : NULL;

  if (sink)
    gst_object_unref (sink);
  if (!pad) {
    g_printerr ("spice-audio-bench: no sink pad on %s\n", sink_name);
    return FALSE;
  }
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, cb, r, NULL);
  gst_object_unref (pad);
  return TRUE;
}

/* A/V figures for the RESULT line: offsets as "PTS + base time - send
 * time" when the pipeline clock is the monotonic system clock (then it is
 * how long after its sending a buffer is due, before the pipeline latency),
 * else as PTS - send time. */
static gchar *
av_result (PipeRun * r)
{
  GstClock *clock = gst_pipeline_get_clock (GST_PIPELINE (r->pipeline));
  GstClockType type = GST_CLOCK_TYPE_REALTIME;
  GstClockTime min_lat = GST_CLOCK_TIME_NONE, max_lat;
  GArray *av, *av_abs;
  gint64 base = 0, vmed;
  gboolean live, mono = FALSE;
  GstQuery *q;
  gchar *s;
  guint i, over = 0;

  if (clock && GST_IS_SYSTEM_CLOCK (clock)) {
    g_object_get (clock, "clock-type", &type, NULL);
    mono = type == GST_CLOCK_TYPE_MONOTONIC;
  }
  gst_clear_object (&clock);
  if (mono)
    base = gst_element_get_base_time (r->pipeline);
  q = gst_query_new_latency ();
  if (gst_element_query (r->pipeline, q))
    gst_query_parse_latency (q, &live, &min_lat, &max_lat);
  gst_query_unref (q);

  g_mutex_lock (&r->meter.lock);
  bench_sort_gint64 (r->voff);
  bench_sort_gint64 (r->aoff);
  vmed = bench_percentile (r->voff, 50);
  av = g_array_sized_new (FALSE, FALSE, sizeof (gint64), r->aoff->len);
  av_abs = g_array_sized_new (FALSE, FALSE, sizeof (gint64), r->aoff->len);
  for (i = 0; i < r->aoff->len; i++) {
    gint64 d = g_array_index (r->aoff, gint64, i) - vmed;
    gint64 a = ABS (d);

    g_array_append_val (av, d);
    g_array_append_val (av_abs, a);
    if (a > TARGET_AV_MS * GST_MSECOND)
      over++;
  }
  bench_sort_gint64 (av);
  bench_sort_gint64 (av_abs);
  s = g_strdup_printf ("vframes=%" G_GUINT64_FORMAT " vbad=%"
      G_GUINT64_FORMAT " apackets=%u disconts=%" G_GUINT64_FORMAT
      " av_abs_p50_us=%" G_GINT64_FORMAT " av_abs_p99_us=%" G_GINT64_FORMAT
      " av_abs_max_us=%" G_GINT64_FORMAT " av_over=%u av_min_us=%"
      G_GINT64_FORMAT " av_p1_us=%" G_GINT64_FORMAT " av_p50_us=%"
      G_GINT64_FORMAT " av_p99_us=%" G_GINT64_FORMAT " av_max_us=%"
      G_GINT64_FORMAT " clock_mono=%d v_p1_us=%" G_GINT64_FORMAT " v_p50_us=%"
      G_GINT64_FORMAT " v_p99_us=%" G_GINT64_FORMAT " a_p1_us=%" G_GINT64_FORMAT
      " a_p50_us=%" G_GINT64_FORMAT " a_p99_us=%" G_GINT64_FORMAT
      " latency_us=%" G_GINT64_FORMAT, r->vframes, r->vbad, r->aoff->len,
      r->disconts, bench_percentile (av_abs, 50) / 1000, bench_percentile (av_abs,
          99) / 1000, bench_percentile (av_abs, 100) / 1000, over, bench_percentile (av,
          0) / 1000, bench_percentile (av, 1) / 1000, bench_percentile (av, 50) / 1000,
      bench_percentile (av, 99) / 1000, bench_percentile (av, 100) / 1000, mono,
      (bench_percentile (r->voff, 1) + base) / 1000, (vmed + base) / 1000,
      (bench_percentile (r->voff, 99) + base) / 1000, (bench_percentile (r->aoff,
              1) + base) / 1000, (bench_percentile (r->aoff, 50) + base) / 1000,
      (bench_percentile (r->aoff, 99) + base) / 1000,
      GST_CLOCK_TIME_IS_VALID (min_lat) ? (gint64) (min_lat / 1000) : -1);
  g_mutex_unlock (&r->meter.lock);
  g_array_unref (av);
  g_array_unref (av_abs);
  return s;
}

/* The audio element's own counters (whole run) for the RESULT line. */
static gchar *
element_stats (GstElement * pipeline, const gchar * name)
{
  GstElement *e = gst_bin_get_by_name (GST_BIN (pipeline), name);
  guint64 dropped = 0, stale = 0, silence = 0, resyncs = 0;
  GstStructure *st = NULL;

  if (e && g_object_class_find_property (G_OBJECT_GET_CLASS (e), "stats"))
    g_object_get (e, "stats", &st, NULL);
  gst_clear_object (&e);
  if (!st)
    return g_strdup ("el_stats=0");
  gst_structure_get_uint64 (st, "dropped-frames", &dropped);
  gst_structure_get_uint64 (st, "stale-frames", &stale);
  gst_structure_get_uint64 (st, "silence-frames", &silence);
  gst_structure_get_uint64 (st, "resyncs", &resyncs);
  gst_structure_free (st);
  return g_strdup_printf ("el_stats=1 el_dropped=%" G_GUINT64_FORMAT
      " el_stale=%" G_GUINT64_FORMAT " el_silence=%" G_GUINT64_FORMAT
      " el_resyncs=%" G_GUINT64_FORMAT, dropped, stale, silence, resyncs);
}

/* mode "spiceaudiosrc" or "av" */
static gboolean
run_pipeline (const gchar * mode, const gchar * uri, guint warmup_ms,
    guint window_ms)
{
  PipeRun r = { 0, };
  gboolean av = g_str_equal (mode, "av");
  GError *err = NULL;
  gchar *desc, *extra = NULL;
  GstBus *bus;
  guint watch;
  gboolean ok;

  if (av)
    desc = g_strdup_printf ("spicesrc name=s uri=\"%s\" s.video ! queue ! "
        "fakesink name=vsink sync=true enable-last-sample=false s.audio ! "
        "queue ! fakesink name=asink sync=true enable-last-sample=false", uri);
  else
    desc = g_strdup_printf ("spiceaudiosrc name=asrc uri=\"%s\" ! fakesink "
        "name=asink " "sync=false enable-last-sample=false", uri);
  r.pipeline = gst_parse_launch (desc, &err);
  g_free (desc);
  if (!r.pipeline) {
    g_printerr ("spice-audio-bench: %s: %s (is the plugin built in %s?)\n",
        mode, err->message, GST_SPICE_PLUGIN_DIR);
    g_clear_error (&err);
    return FALSE;
  }

  meter_init (&r.meter, warmup_ms, window_ms);
  if (av) {
    r.voff = g_array_new (FALSE, FALSE, sizeof (gint64));
    r.aoff = g_array_new (FALSE, FALSE, sizeof (gint64));
  }
  /* spicesrc's pads appear in PAUSED (gst_parse_launch links them then):
   * the probes go on the sinks' static pads */
  if (!add_probe (r.pipeline, "asink", (GstPadProbeCallback) audio_probe,
          &r) || (av && !add_probe (r.pipeline, "vsink",
              (GstPadProbeCallback) video_probe, &r))) {
    r.meter.failed = TRUE;
    goto done;
  }

  /* the default main loop runs in this thread, as in gst-launch-1.0: then
   * this thread and the plugin's spice thread take turns at the default
   * context, and whichever holds it dispatches spice-client-glib */
  bus = gst_element_get_bus (r.pipeline);
  watch = gst_bus_add_watch (bus, (GstBusFunc) pipe_bus, &r);
  gst_object_unref (bus);

  if (gst_element_set_state (r.pipeline, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE) {
    g_printerr ("spice-audio-bench: %s: cannot start the pipeline\n", mode);
    r.meter.failed = TRUE;
  } else {
    g_main_loop_run (r.meter.loop);
  }

  if (!r.meter.failed) {
    /* spicesrc names its audio element audio_src */
    gchar *stats = element_stats (r.pipeline, av ? "audio_src" : "asrc");
    gchar *avs = av ? av_result (&r) : NULL;

    extra = g_strjoin (" ", stats, avs, NULL);
    meter_print_result (&r.meter, mode, extra);
    g_free (stats);
    g_free (avs);
    g_free (extra);
  }
  meter_stop (&r.meter);
  gst_element_set_state (r.pipeline, GST_STATE_NULL);
  g_source_remove (watch);

done:
  meter_stop (&r.meter);
  ok = !r.meter.failed && r.meter.frames > 0 && (!av || r.aoff->len > 0);
  gst_object_unref (r.pipeline);
  if (r.voff)
    g_array_unref (r.voff);
  if (r.aoff)
    g_array_unref (r.aoff);
  meter_clear (&r.meter);
  return ok;
}

/* ---------------------------------------------------------------------- */
/* Child: jitter and drift (clock)                                        */

typedef struct
{
  PipeRun pipe;
  gint64 t0_us;                 /* the server's timeline origin */
  gint ppm;
  gdouble ideal, native;        /* sine period, samples */
  /* asink's streaming thread */
  gint16 prev;
  gboolean have_prev, in_gap, seen_sound, in_mark;
  gdouble pos, last_cross, mark_best;
  gint64 mark_pts;
  /* guarded by pipe.meter.lock, in the window only */
  guint64 glitches;             /* periods off, gaps between sounds */
  GArray *marks;                /* gint64 ns: the marks' PTS */
} ClockRun;

static GstPadProbeReturn
clock_audio_probe (GstPad * pad, GstPadProbeInfo * info, ClockRun * c)
{
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  PipeRun *r = &c->pipe;
  GstMapInfo map;
  const gint16 *lr;
  guint frames, j, glitches = 0;
  gboolean measuring;
  gdouble step;

  if (!r->have_audio_buffer) {
    GstCaps *caps = gst_pad_get_current_caps (pad);
    gboolean ok = caps && gst_audio_info_from_caps (&r->ainfo, caps);

    gst_clear_caps (&caps);
    if (!ok || GST_AUDIO_INFO_CHANNELS (&r->ainfo) != TA_CHANNELS)
      return GST_PAD_PROBE_OK;
    meter_set_rate (&r->meter, GST_AUDIO_INFO_RATE (&r->ainfo));
    r->have_audio_buffer = TRUE;
  }
  g_mutex_lock (&r->meter.lock);
  measuring = r->meter.measuring;
  if (measuring && GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DISCONT))
    r->disconts++;
  g_mutex_unlock (&r->meter.lock);

  frames = gst_buffer_get_size (buf) / GST_AUDIO_INFO_BPF (&r->ainfo);
  if (GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_GAP)) {
    meter_gap (&r->meter, frames);
    c->in_gap = c->seen_sound;
    return GST_PAD_PROBE_OK;
  }
  if (c->in_gap)
    glitches++;
  c->in_gap = FALSE;
  c->seen_sound = TRUE;
  if (!gst_buffer_map (buf, &map, GST_MAP_READ))
    return GST_PAD_PROBE_OK;
  lr = (const gint16 *) map.data;
  step = (gdouble) GST_SECOND / GST_AUDIO_INFO_RATE (&r->ainfo);
  for (j = 0; j < frames; j++) {
    gint16 left = lr[2 * j], right = lr[2 * j + 1];
    gdouble pos = GST_BUFFER_PTS (buf) + j * step;

    if (c->have_prev && c->prev < 0 && left >= 0) {
      gdouble cross = c->pos + step * (-c->prev) / (gdouble) (left - c->prev);

      if (c->last_cross > 0) {
        gdouble period = (cross - c->last_cross) / step;
        if (period < MIN (c->ideal, c->native) - 3 ||
            period > MAX (c->ideal, c->native) + 3)
          glitches++;
      }
      c->last_cross = cross;
    }
    c->prev = left;
    c->pos = pos;
    c->have_prev = TRUE;
    if (right > TA_SINE_AMPLITUDE / 2) {
      if (!c->in_mark || right > c->mark_best) {
        c->mark_best = right;
        c->mark_pts = (gint64) pos;
      }
      c->in_mark = TRUE;
    } else if (c->in_mark) {
      c->in_mark = FALSE;
      g_mutex_lock (&r->meter.lock);
      if (r->meter.measuring)
        g_array_append_val (c->marks, c->mark_pts);
      g_mutex_unlock (&r->meter.lock);
    }
  }
  /* counts the frames and opens the window (they are no code packets) */
  meter_sound (&r->meter, lr, frames, NULL);
  gst_buffer_unmap (buf, &map);
  if (glitches) {
    g_mutex_lock (&r->meter.lock);
    if (measuring)
      c->glitches += glitches;
    g_mutex_unlock (&r->meter.lock);
  }
  return GST_PAD_PROBE_OK;
}

/* One clock run: spicesrc, drift-correction @correct. */
static gboolean
run_clock (const gchar * uri, gboolean correct, gint ppm, gint64 t0_us,
    guint warmup_ms, guint window_ms)
{
  ClockRun c = { 0, };
  PipeRun *r = &c.pipe;
  GError *err = NULL;
  GstElement *audio;
  GstStructure *st = NULL;
  gchar *desc, *extra;
  GstBus *bus;
  guint watch, i;
  gint64 vmed, av_p99 = 0;
  gint est = 0;
  gboolean ok;

  c.ppm = ppm;
  c.t0_us = t0_us;
  c.native = (gdouble) TA_DEFAULT_RATE / TA_SINE_HZ;
  c.ideal = c.native / (1 + ppm / 1e6);
  desc = g_strdup_printf ("spicesrc name=s uri=\"%s\" s.video ! queue ! "
      "fakesink name=vsink sync=false enable-last-sample=false s.audio ! "
      "queue ! fakesink name=asink sync=false enable-last-sample=false", uri);
  r->pipeline = gst_parse_launch (desc, &err);
  g_free (desc);
  if (!r->pipeline) {
    g_printerr ("spice-audio-bench: clock: %s\n", err->message);
    g_clear_error (&err);
    return FALSE;
  }
  /* spicesrc names its audio element audio_src */
  audio = gst_bin_get_by_name (GST_BIN (r->pipeline), "audio_src");
  if (!audio || !g_object_class_find_property (G_OBJECT_GET_CLASS (audio),
          "drift-correction")) {
    g_printerr ("spice-audio-bench: clock: no drift-correction on "
        "spicesrc's audio element\n");
    gst_clear_object (&audio);
    gst_object_unref (r->pipeline);
    return FALSE;
  }
  g_object_set (audio, "drift-correction", correct, NULL);

  meter_init (&r->meter, warmup_ms, window_ms);
  r->voff = g_array_new (FALSE, FALSE, sizeof (gint64));
  c.marks = g_array_new (FALSE, FALSE, sizeof (gint64));
  if (!add_probe (r->pipeline, "asink", (GstPadProbeCallback)
          clock_audio_probe, (PipeRun *) & c) || !add_probe (r->pipeline,
          "vsink", (GstPadProbeCallback) video_probe, r)) {
    r->meter.failed = TRUE;
    goto done;
  }
  bus = gst_element_get_bus (r->pipeline);
  watch = gst_bus_add_watch (bus, (GstBusFunc) pipe_bus, r);
  gst_object_unref (bus);
  if (gst_element_set_state (r->pipeline, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE)
    r->meter.failed = TRUE;
  else
    g_main_loop_run (r->meter.loop);

  if (!r->meter.failed) {
    g_object_get (audio, "stats", &st, NULL);
    if (st)
      gst_structure_get_int (st, "drift-ppm", &est);
    g_mutex_lock (&r->meter.lock);
    bench_sort_gint64 (r->voff);
    vmed = r->voff->len ? bench_percentile (r->voff, 50) : 0;
    /* a mark at PTS p is frame m * ta_mark_frames () of the server's
     * timeline: the m whose due time (+ the video's offset) is nearest;
     * the offset left is the A/V offset (aliases beyond 250 ms) */
    for (i = 0; i < c.marks->len; i++) {
      gdouble rate = TA_DEFAULT_RATE * (1 + c.ppm / 1e6);
      gint64 pts = g_array_index (c.marks, gint64, i);
      gdouble n = (pts - vmed - t0_us * 1000) / 1e9 * rate;
      gdouble m = floor (n / ta_mark_frames (TA_DEFAULT_RATE) + 0.5);
      gint64 due = t0_us * 1000 + (gint64) (m *
          ta_mark_frames (TA_DEFAULT_RATE) / rate * 1e9);

      g_array_index (c.marks, gint64, i) = ABS (pts - due - vmed);
    }
    bench_sort_gint64 (c.marks);
    if (c.marks->len)
      av_p99 = bench_percentile (c.marks, 99);
    extra = g_strdup_printf ("disconts=%" G_GUINT64_FORMAT " glitches=%"
        G_GUINT64_FORMAT " marks=%u vframes=%" G_GUINT64_FORMAT
        " av_abs_p99_us=%" G_GINT64_FORMAT " est_ppm=%d resyncs=%"
        G_GUINT64_FORMAT, r->disconts, c.glitches, c.marks->len, r->vframes,
        av_p99 / 1000, est, st && gst_structure_has_field (st, "resyncs") ?
        g_value_get_uint64 (gst_structure_get_value (st, "resyncs")) : 0);
    g_mutex_unlock (&r->meter.lock);
    meter_print_result (&r->meter, "clock", extra);
    g_free (extra);
    if (st)
      gst_structure_free (st);
  }
  meter_stop (&r->meter);
  gst_element_set_state (r->pipeline, GST_STATE_NULL);
  g_source_remove (watch);

done:
  meter_stop (&r->meter);
  ok = !r->meter.failed && r->meter.frames > 0 && c.marks->len > 0;
  gst_object_unref (audio);
  gst_object_unref (r->pipeline);
  g_array_unref (r->voff);
  g_array_unref (c.marks);
  meter_clear (&r->meter);
  return ok;
}

/* ---------------------------------------------------------------------- */
/* Parent: runs, tables                                                   */

typedef enum
{
  MODE_BASELINE = 0,
  MODE_AUDIOSRC = 1,
  N_CPU_MODES
} Mode;

static const gchar *mode_names[N_CPU_MODES] = { "baseline", "spiceaudiosrc" };

typedef enum
{
  M_CPU,                        /* ms per second of audio */
  M_SPEED,                      /* seconds of audio per second */
  M_CSW,                        /* context switches per second of audio */
  M_PACKETS,                    /* per run */
  M_LOST,                       /* frames, per run */
  M_REPEATED,                   /* frames, per run */
  M_BAD,                        /* buffers not one whole packet, per run */
  M_GAP,                        /* seconds of GAP silence, per run */
  N_METRICS
} Metric;

/* Runs one child, killed after its window plus a grace period.  Returns
 * its RESULT line as key=value tokens, NULL when it failed. */
static gchar **
run_child (const gchar * self_exe, const gchar * mode, const gchar * uri,
    guint warmup_ms, guint window_ms)
{
  gchar warmup_s[32], window_s[32];
  const gchar *argv[] = { self_exe, "--mode", mode, "--uri", uri,
    "--warmup-ms", warmup_s, "--window-ms", window_s, NULL
  };
  gboolean ok;
  gchar *out;
  gchar **kv = NULL;

  g_snprintf (warmup_s, sizeof (warmup_s), "%u", warmup_ms);
  g_snprintf (window_s, sizeof (window_s), "%u", window_ms);
  out = bench_run_child ("spice-audio-bench", mode, argv,
      FIRST_SOUND_TIMEOUT_MS + warmup_ms + window_ms + CHILD_GRACE_MS, &ok);
  if (ok) {
    kv = bench_result_line (out);
    if (!kv)
      g_printerr ("spice-audio-bench: %s child printed no result\n", mode);
  }
  g_free (out);
  return kv;
}

/* Waits until the server has seen the last client go: the next one must
 * not race its teardown. */
static void
wait_client_gone (TestServer * ts)
{
  gchar *ev;

  ev = test_server_wait_event (ts, "CLIENT disconnected", 3000);
  if (!ev)
    g_printerr ("spice-audio-bench: the server saw no 'CLIENT "
        "disconnected' within 3 s\n");
  g_free (ev);
  ev = test_server_wait_event (ts, "CLIENT connected", 0);
  g_free (ev);
}

/* Fills v[] from a CPU mode's RESULT; FALSE when it delivered no sound. */
static gboolean
parse_cpu_result (gchar ** kv, gdouble * v)
{
  gdouble rate = bench_kv_double (kv, "rate");
  gdouble frames = bench_kv_double (kv, "frames");
  gdouble window_us = bench_kv_double (kv, "window_us");
  gdouble audio_s;

  if (!(rate > 0 && frames > 0 && window_us > 0))
    return FALSE;
  audio_s = frames / rate;
  v[M_CPU] = bench_kv_double (kv, "cpu_us") / 1000.0 / audio_s;
  v[M_SPEED] = audio_s * 1e6 / window_us;
  v[M_CSW] = bench_kv_double (kv, "csw") / audio_s;
  v[M_PACKETS] = bench_kv_double (kv, "packets");
  v[M_LOST] = bench_kv_double (kv, "lost");
  v[M_REPEATED] = bench_kv_double (kv, "repeated");
  v[M_BAD] = bench_kv_double (kv, "bad");
  v[M_GAP] = bench_kv_double (kv, "gap") / rate;
  return TRUE;
}

/* What the audio element itself counted over the whole run, if it says. */
static gchar *
element_summary (gchar ** kv)
{
  if (bench_kv_double (kv, "el_stats") != 1)
    return g_strdup ("");
  return g_strdup_printf ("  element (whole run): silence %.0f, stale "
      "%.0f, dropped %.0f frames, %.0f resyncs", bench_kv_double (kv,
          "el_silence"), bench_kv_double (kv, "el_stale"), bench_kv_double (kv,
          "el_dropped"), bench_kv_double (kv, "el_resyncs"));
}

/* The CPU modes: rounds x (baseline, spiceaudiosrc) and their table.
 * FALSE when a run failed. */
static gboolean
run_cpu_modes (const gchar * self_exe, TestServer * ts, guint rounds,
    guint window_ms)
{
  gdouble vals[N_CPU_MODES][N_METRICS][16];
  gdouble med[N_CPU_MODES][N_METRICS];
  guint n[N_CPU_MODES] = { 0, 0 };
  gboolean ok = TRUE;
  guint round, k;
  gint mode;

  printf ("\n== CPU of the audio path: %u round(s) of baseline then "
      "spiceaudiosrc, %u ms warm-up after the first sound, %u ms window "
      "==\n", rounds, WARMUP_MS, window_ms);
  fflush (stdout);
  for (round = 0; round < rounds; round++) {
    for (mode = 0; mode < N_CPU_MODES; mode++) {
      gdouble v[N_METRICS];
      gchar **kv, *el;

      kv = run_child (self_exe, mode_names[mode], test_server_get_uri (ts),
          WARMUP_MS, window_ms);
      wait_client_gone (ts);
      if (!kv || !parse_cpu_result (kv, v)) {
        printf ("  round %u %-13s  FAILED\n", round + 1, mode_names[mode]);
        g_strfreev (kv);
        ok = FALSE;
        continue;
      }
      el = element_summary (kv);
      printf ("  round %u %-13s  %6.2f s of audio (%.3f s/s)  cpu %.3f ms "
          "per s of audio  %.0f csw/s  %.0f packets  lost %.0f, repeated "
          "%.0f frames  not whole packets %.0f  GAP %.3f s%s\n", round + 1,
          mode_names[mode], v[M_SPEED] * window_ms / 1000.0, v[M_SPEED],
          v[M_CPU], v[M_CSW], v[M_PACKETS], v[M_LOST], v[M_REPEATED],
          v[M_BAD], v[M_GAP], el);
      fflush (stdout);
      g_free (el);
      g_strfreev (kv);
      for (k = 0; k < N_METRICS; k++)
        vals[mode][k][n[mode]] = v[k];
      n[mode]++;
    }
  }

  if (n[MODE_BASELINE] == 0 || n[MODE_AUDIOSRC] == 0) {
    printf ("  no table: a mode has no successful run\n");
    return FALSE;
  }
  for (mode = 0; mode < N_CPU_MODES; mode++)
    for (k = 0; k < N_METRICS; k++)
      med[mode][k] = bench_median (vals[mode][k], n[mode]);

  {
    gdouble *b = med[MODE_BASELINE], *s = med[MODE_AUDIOSRC];

    printf ("\n  %-34s %10s %13s %8s %10s\n", "metric (median of runs)",
        "baseline", "spiceaudiosrc", "ratio", "added");
    printf ("  %-34s %10.3f %13.3f %7.2fx %+10.3f\n",
        "CPU per s of audio (ms)", b[M_CPU], s[M_CPU], s[M_CPU] / b[M_CPU],
        s[M_CPU] - b[M_CPU]);
    printf ("  %-34s %10.1f %13.1f %7.2fx %+10.1f\n",
        "context switches per s of audio", b[M_CSW], s[M_CSW],
        s[M_CSW] / b[M_CSW], s[M_CSW] - b[M_CSW]);
    printf ("  %-34s %10.3f %13.3f %7.2fx\n", "audio per s of wall time (s)",
        b[M_SPEED], s[M_SPEED], s[M_SPEED] / b[M_SPEED]);
    printf ("  %-34s %10.0f %13.0f\n", "code packets decoded (per run)",
        b[M_PACKETS], s[M_PACKETS]);
    printf ("  %-34s %10.0f %13.0f\n", "frames lost (per run)", b[M_LOST],
        s[M_LOST]);
    printf ("  %-34s %10.0f %13.0f\n", "frames repeated (per run)",
        b[M_REPEATED], s[M_REPEATED]);
    printf ("  %-34s %10.0f %13.0f\n", "buffers not one whole packet",
        b[M_BAD], s[M_BAD]);
    printf ("  %-34s %10s %13.3f\n", "GAP silence pushed (s per run)", "-",
        s[M_GAP]);
    printf ("  \"added\" is what the GStreamer path costs on top of the bare "
        "client per second of audio.\n  The baseline connects main + "
        "playback; spiceaudiosrc's session also connects the cursor "
        "channel.\n");
    fflush (stdout);
  }
  return ok;
}

/* The av mode and its report.  FALSE when the run failed. */
static gboolean
run_av_mode (const gchar * self_exe, TestServer * ts, guint window_ms,
    gint * pass, gint * miss)
{
  gchar **kv;
  gdouble p99;
  gboolean mono;
  const gchar *what;
  gchar *el;

  printf ("\n== A/V sync: spicesrc video + audio into synced fakesinks, "
      "%u ms warm-up after the first sound, %u ms window ==\n", WARMUP_MS,
      window_ms);
  fflush (stdout);
  kv = run_child (self_exe, "av", test_server_get_uri (ts), WARMUP_MS,
      window_ms);
  wait_client_gone (ts);
  if (!kv || !(bench_kv_double (kv, "vframes") > 0)
      || !(bench_kv_double (kv, "apackets") > 0)) {
    printf ("  FAILED%s\n", kv ? ": no decodable video frame or audio "
        "packet in the window" : "");
    g_strfreev (kv);
    return FALSE;
  }

  p99 = bench_kv_double (kv, "av_abs_p99_us") / 1000.0;
  mono = bench_kv_double (kv, "clock_mono") == 1;
  what = mono ? "PTS + base time - send" : "PTS - send";
  el = element_summary (kv);
  printf ("  in the window: %.0f video frames decoded (%.0f buffers without "
      "a strip); %.0f audio packets decoded, %.0f buffers not one whole "
      "packet, %.0f frames lost, %.0f repeated, %.0f DISCONT buffers, %.3f "
      "s of GAP silence\n%s%s", bench_kv_double (kv, "vframes"), bench_kv_double (kv,
          "vbad"), bench_kv_double (kv, "apackets"), bench_kv_double (kv, "bad"),
      bench_kv_double (kv, "lost"), bench_kv_double (kv, "repeated"), bench_kv_double (kv,
          "disconts"), bench_kv_double (kv, "gap") / bench_kv_double (kv, "rate"), el,
      *el ? "\n" : "");
  g_free (el);
  printf ("  A/V offset = audio packet's (PTS - send) - median video (PTS - "
      "send)\n");
  printf ("  %-34s %9s %9s %9s  %-12s\n", "(ms)", "p50", "p99", "max",
      "target");
  printf ("  %-34s %9.2f %9.2f %9.2f  %-12s %s\n", "|A/V offset|",
      bench_kv_double (kv, "av_abs_p50_us") / 1000.0, p99,
      bench_kv_double (kv, "av_abs_max_us") / 1000.0,
      "p99 <= " G_STRINGIFY (TARGET_AV_MS) " ms",
      p99 <= TARGET_AV_MS ? "PASS" : "MISS");
  if (p99 <= TARGET_AV_MS)
    (*pass)++;
  else
    (*miss)++;
  printf ("  %-34s %9.2f %9.2f   (min %.2f, p1 %.2f, max %.2f; %.0f of "
      "%.0f packets beyond %d ms)\n", "A/V offset, signed",
      bench_kv_double (kv, "av_p50_us") / 1000.0,
      bench_kv_double (kv, "av_p99_us") / 1000.0,
      bench_kv_double (kv, "av_min_us") / 1000.0,
      bench_kv_double (kv, "av_p1_us") / 1000.0,
      bench_kv_double (kv, "av_max_us") / 1000.0, bench_kv_double (kv, "av_over"),
      bench_kv_double (kv, "apackets"), TARGET_AV_MS);
  printf ("  %-34s %9.2f %9.2f   (p1 %.2f)\n", "video offset", bench_kv_double (kv,
          "v_p50_us") / 1000.0, bench_kv_double (kv, "v_p99_us") / 1000.0,
      bench_kv_double (kv, "v_p1_us") / 1000.0);
  printf ("  %-34s %9.2f %9.2f   (p1 %.2f)\n", "audio offset", bench_kv_double (kv,
          "a_p50_us") / 1000.0, bench_kv_double (kv, "a_p99_us") / 1000.0,
      bench_kv_double (kv, "a_p1_us") / 1000.0);
  printf ("  per-stream offsets are %s%s; pipeline latency %.1f ms is added "
      "at the sinks\n", what, mono ? " (the pipeline clock is the monotonic "
      "system clock: how long after sending a buffer is stamped)" : "",
      bench_kv_double (kv, "latency_us") / 1000.0);
  printf ("  CPU of the whole A/V pipeline (video included): %.1f ms per s "
      "of audio, %.0f context switches per s\n",
      bench_kv_double (kv, "cpu_us") / 1000.0 / (bench_kv_double (kv, "frames") /
          bench_kv_double (kv, "rate")), bench_kv_double (kv, "csw") /
      (bench_kv_double (kv, "frames") / bench_kv_double (kv, "rate")));
  fflush (stdout);
  g_strfreev (kv);
  return TRUE;
}

/* The jitter and drift scenarios: a server each, this path then today's
 * (drift-correction off) against it.  FALSE when a run failed. */
static gboolean
run_clock_modes (const gchar * self_exe, guint window_ms, gint * pass,
    gint * miss)
{
  static const struct
  {
    const gchar *name;
    const gchar *option, *value;
    gint ppm;
  } scenarios[] = {
    {"jitter 20-80 ms", "--audio-jitter", "20-80", 0},
    {"drift +2%", "--audio-speed", "20000", 20000},
    {"drift -2%", "--audio-speed", "-20000", -20000},
  };
  gboolean ok = TRUE;
  guint k, corr;

  printf ("\n== Jitter and drift: spicesrc against a server playing the "
      "marks signal, drift-correction on (this path) and off (today's: "
      "resyncs), %u ms warm-up after the first sound, %u ms window ==\n",
      WARMUP_MS, window_ms);
  printf ("  %-16s %-6s %10s %12s %10s %12s %9s  %s\n", "scenario", "path",
      "discont/min", "A/V p99 ms", "resyncs", "CPU ms/s aud", "est. ppm",
      "targets: 0 discont/min, A/V p99 <= 20 ms");
  fflush (stdout);
  for (k = 0; k < G_N_ELEMENTS (scenarios); k++) {
    const gchar *args[] = { "--audio", "--audio-signal", "marks", "--size",
      "160x120", "--fps", "30", scenarios[k].option, scenarios[k].value, NULL
    };
    TestServer *ts = test_server_start (TEST_SERVER_TCP, args);
    gchar *reply = test_server_command (ts, "audio stats", 2000);
    const gchar *at = reply ? strstr (reply, " t0=") : NULL;
    gint64 t0 = at ? g_ascii_strtoll (at + 4, NULL, 10) : 0;
    gdouble cpu[2] = { 0, 0 };

    g_free (reply);
    for (corr = 0; corr < 2; corr++) {
      gboolean correct = corr == 0;
      gchar warmup_s[32], window_s[32], ppm_s[32], t0_s[32];
      const gchar *argv[] = { self_exe, "--mode", "clock", "--uri",
        test_server_get_uri (ts), "--warmup-ms", warmup_s, "--window-ms",
        window_s, "--ppm", ppm_s, "--t0", t0_s, "--correction",
        correct ? "1" : "0", NULL
      };
      gchar *out, **kv = NULL;
      gboolean child_ok;
      gdouble minutes, disc, p99;

      g_snprintf (warmup_s, sizeof (warmup_s), "%u", WARMUP_MS);
      g_snprintf (window_s, sizeof (window_s), "%u", window_ms);
      g_snprintf (ppm_s, sizeof (ppm_s), "%d", scenarios[k].ppm);
      g_snprintf (t0_s, sizeof (t0_s), "%" G_GINT64_FORMAT, t0);
      out = bench_run_child ("spice-audio-bench", "clock", argv,
          FIRST_SOUND_TIMEOUT_MS + WARMUP_MS + window_ms + CHILD_GRACE_MS,
          &child_ok);
      if (child_ok)
        kv = bench_result_line (out);
      g_free (out);
      wait_client_gone (ts);
      if (!kv || !(bench_kv_double (kv, "frames") > 0)) {
        printf ("  %-16s %-6s FAILED\n", scenarios[k].name,
            correct ? "this" : "today");
        g_strfreev (kv);
        ok = FALSE;
        continue;
      }
      minutes = bench_kv_double (kv, "window_us") / 60e6;
      disc = (bench_kv_double (kv, "disconts") +
          bench_kv_double (kv, "glitches")) / minutes;
      p99 = bench_kv_double (kv, "av_abs_p99_us") / 1000.0;
      cpu[corr] = bench_kv_double (kv, "cpu_us") / 1000.0 /
          (bench_kv_double (kv, "frames") / bench_kv_double (kv, "rate"));
      printf ("  %-16s %-6s %10.1f %12.2f %10.0f %12.2f %9.0f  %s\n",
          scenarios[k].name, correct ? "this" : "today", disc, p99,
          bench_kv_double (kv, "resyncs"), cpu[corr],
          bench_kv_double (kv, "est_ppm"), correct ? (disc == 0 &&
              p99 <= TARGET_AV_MS ? "PASS" : "MISS") : "(reference)");
      if (correct) {
        if (disc == 0 && p99 <= TARGET_AV_MS)
          (*pass)++;
        else
          (*miss)++;
      }
      fflush (stdout);
      g_strfreev (kv);
    }
    if (cpu[0] > 0 && cpu[1] > 0)
      printf ("  %-16s CPU this / today: %.2fx (whole pipeline, video "
          "included)\n", scenarios[k].name, cpu[0] / cpu[1]);
    test_server_stop (ts);
  }
  fflush (stdout);
  return ok;
}

static int
run_parent (gchar ** argv, gboolean quick, guint seconds, guint av_seconds,
    guint rounds, guint clock_seconds)
{
  const gchar *args[] = { "--audio", "--size", SERVER_SIZE, "--fps",
    SERVER_FPS, NULL
  };
  gchar *self_exe, *cmdline, *model, *registry_dir = NULL;
  gchar *registry = NULL, *stats;
  guint window_ms = (quick ? 2 : seconds) * 1000;
  guint av_window_ms = (quick ? 3 : av_seconds) * 1000;
  guint clock_window_ms = (quick ? 2 : clock_seconds) * 1000;
  gint pass = 0, miss = 0;
  guint major, minor, micro, nano;
  TestServer *ts;
  gboolean ok = TRUE;

  self_exe = g_file_read_link ("/proc/self/exe", NULL);
  if (!self_exe)
    self_exe = g_strdup (argv[0]);
  if (quick)
    rounds = 1;

  /* the children load the plugin: keep their registry out of ~/.cache */
  if (!g_getenv ("GST_REGISTRY_1_0")) {
    registry_dir = g_dir_make_tmp ("spice-audio-bench-XXXXXX", NULL);
    if (registry_dir) {
      registry = g_build_filename (registry_dir, "registry.bin", NULL);
      g_setenv ("GST_REGISTRY_1_0", registry, TRUE);
    }
  }

  cmdline = g_strjoinv (" ", argv);
  model = bench_cpu_model ();
  printf ("spice-audio-bench: the plugin's audio path vs a bare "
      "spice-client-glib client, and A/V sync through spicesrc\n");
  printf ("command: %s\n", cmdline);
  gst_version (&major, &minor, &micro, &nano);
  printf ("machine: %ld CPUs online (%s), GStreamer %u.%u.%u, "
      "spice-client-glib %s\n", sysconf (_SC_NPROCESSORS_ONLN), model,
      major, minor, micro, spice_util_get_version_string ());
  printf ("server: spice-test-server --audio --size " SERVER_SIZE " --fps "
      SERVER_FPS " (raw S16 PCM, the code signal, %d Hz stereo, %d-frame "
      "packets)\n", TA_DEFAULT_RATE, TA_PACKET_FRAMES);
  printf ("each run in its own process; CPU = user+sys of all its threads "
      "(getrusage), per second of audio delivered in the window\n");
  g_free (cmdline);
  g_free (model);
  fflush (stdout);

  ts = test_server_start (TEST_SERVER_TCP, args);
  if (!run_cpu_modes (self_exe, ts, rounds, window_ms))
    ok = FALSE;
  if (av_window_ms > 0 && !run_av_mode (self_exe, ts, av_window_ms, &pass,
          &miss))
    ok = FALSE;
  stats = test_server_command (ts, "audio stats", 2000);
  printf ("\n  server: %s\n", stats ? stats : "(no audio stats)");
  g_free (stats);
  test_server_stop (ts);
  if (clock_window_ms > 0 && !run_clock_modes (self_exe, clock_window_ms,
          &pass, &miss))
    ok = FALSE;

  printf ("\ntargets: %d PASS, %d MISS (informational: the exit status "
      "only reflects failed runs)\n", pass, miss);
  printf ("%s\n", ok ? "spice-audio-bench: all runs delivered sound" :
      "spice-audio-bench: FAILED: some runs failed or delivered no sound");

  if (registry) {
    g_unlink (registry);
    g_rmdir (registry_dir);
  }
  g_free (registry);
  g_free (registry_dir);
  g_free (self_exe);
  return ok ? 0 : 1;
}

int
main (int argc, char **argv)
{
  gboolean quick = FALSE;
  gint seconds = 10, av_seconds = 60, rounds = 2, clock_seconds = 30;
  gint ppm = 0, correction = 1;
  gint64 t0 = 0;
  gint warmup_ms = WARMUP_MS, window_ms = 10000;
  gchar *mode = NULL, *uri = NULL;
  gchar **argv_copy;
  GOptionContext *ctx;
  GError *err = NULL;
  gboolean ok;
  GOptionEntry entries[] = {
    {"quick", 0, 0, G_OPTION_ARG_NONE, &quick,
          "Smoke run (~30 s): one round, 2 s windows, 3 s of A/V, 2 s of "
          "each jitter and drift run", NULL},
    {"seconds", 0, 0, G_OPTION_ARG_INT, &seconds,
        "Measurement window of the CPU runs (default 10)", "N"},
    {"av-seconds", 0, 0, G_OPTION_ARG_INT, &av_seconds,
        "Measurement window of the A/V run (default 60; 0: no A/V run)", "N"},
    {"rounds", 0, 0, G_OPTION_ARG_INT, &rounds,
        "Rounds of baseline + spiceaudiosrc (default 2)", "N"},
    {"clock-seconds", 0, 0, G_OPTION_ARG_INT, &clock_seconds,
          "Measurement window of each jitter and drift run (default 30; 0: "
          "none)", "N"},
    {"ppm", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_INT, &ppm,
        "Child (clock): the server's --audio-speed", "PPM"},
    {"t0", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_INT64, &t0,
        "Child (clock): the server's timeline origin", "US"},
    {"correction", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_INT, &correction,
        "Child (clock): drift-correction 1 or 0", "B"},
    {"mode", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_STRING, &mode,
        "Child: baseline, spiceaudiosrc, av or clock", "MODE"},
    {"uri", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_STRING, &uri,
        "Child: the server", "URI"},
    {"warmup-ms", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_INT, &warmup_ms,
        "Child: warm-up after the first sound", "MS"},
    {"window-ms", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_INT, &window_ms,
        "Child: measurement window", "MS"},
    {NULL}
  };

  argv_copy = g_strdupv (argv);
  ctx = g_option_context_new ("- the audio path of gst-spice against a "
      "bare spice-client-glib client, and A/V sync");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &err)) {
    g_printerr ("spice-audio-bench: %s\n", err->message);
    return 2;
  }
  g_option_context_free (ctx);
  if (seconds < 1 || seconds > 600 || av_seconds < 0 || av_seconds > 600
      || rounds < 1 || rounds > 16 || warmup_ms < 0 || window_ms < 100
      || clock_seconds < 0 || clock_seconds > 600) {
    g_printerr ("spice-audio-bench: --seconds wants 1..600, --av-seconds "
        "0..600, --rounds 1..16, --clock-seconds 0..600\n");
    return 2;
  }

  if (!mode) {
    ok = run_parent (argv_copy, quick, seconds, av_seconds, rounds,
        clock_seconds) == 0;
  } else if (uri && g_str_equal (mode, "baseline")) {
    ok = run_baseline (uri, warmup_ms, window_ms);
  } else if (uri && (g_str_equal (mode, "spiceaudiosrc")
          || g_str_equal (mode, "av") || g_str_equal (mode, "clock"))) {
    const gchar *old = g_getenv ("GST_PLUGIN_PATH");
    gchar *path = old && *old ?
        g_strconcat (GST_SPICE_PLUGIN_DIR, G_SEARCHPATH_SEPARATOR_S, old,
        NULL) : g_strdup (GST_SPICE_PLUGIN_DIR);

    g_setenv ("GST_PLUGIN_PATH", path, TRUE);
    g_free (path);
    gst_init (NULL, NULL);
    if (g_str_equal (mode, "clock"))
      ok = run_clock (uri, correction != 0, ppm, t0, warmup_ms, window_ms);
    else
      ok = run_pipeline (mode, uri, warmup_ms, window_ms);
  } else {
    g_printerr ("spice-audio-bench: --mode wants baseline, spiceaudiosrc or "
        "av, with --uri\n");
    return 2;
  }

  g_strfreev (argv_copy);
  g_free (mode);
  g_free (uri);
  return ok ? 0 : 1;
}
