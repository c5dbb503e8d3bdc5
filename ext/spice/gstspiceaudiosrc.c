/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
/**
 * SECTION:element-spiceaudiosrc
 * @title: spiceaudiosrc
 * @see_also: spicesrc, spiceaudiosink
 *
 * The audio half of #spicesrc: the sound a SPICE guest plays (its playback
 * channel) as live `audio/x-raw, format=S16LE` at the server's rate and
 * channels.  Applications normally use #spicesrc, which wraps this element
 * and names its pad `audio`; spiceaudiosrc is registered so it can be used
 * (and tested) on its own.
 *
 * Timestamps follow the samples: the first packet after the guest starts
 * playing is stamped with the running time it arrived at, and each later
 * sample follows by sample count, so nothing is lost, repeated or
 * reordered.
 *
 * Jitter (packets held back, then sent in a burst: QEMU's audio timer on a
 * busy host, a loaded network) only delays packets, so the element judges
 * the guest's clock on the lower envelope of their lateness and leaves the
 * samples alone; a packet later than #GstSpiceAudioSrc:latency allows
 * raises the latency reported (up to #GstSpiceAudioSrc:max-latency, with a
 * LATENCY message), and a missing packet is waited for that long before
 * silence fills in.  Drift (a guest clock at another rate than ours) moves
 * the envelope itself: once it does, and the guest's rate measured over
 * the last seconds of packets agrees, the element resamples by that rate
 * (#GstSpiceAudioSrc:drift-correction), smoothly, for the rest of the
 * session.  Only what that cannot absorb (more than 5% off,
 * a clock jump) is resynced, the last resort: a forward jump or a few
 * dropped samples, a DISCONT buffer and a log line, counted in the stats.
 * While the guest plays nothing the element keeps time with gap-flagged
 * silence, so muxers and webrtcbin never stall, and sound that resumes
 * continues the same timeline.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 spiceaudiosrc uri=spice://127.0.0.1:5900 ! audioconvert ! autoaudiosink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>
#include <gst/audio/audio.h>

#include "gstspiceaudiosrc.h"
#include "gstspiceaudioclock.h"

GST_DEBUG_CATEGORY_STATIC (gst_spice_audio_src_debug);
#define GST_CAT_DEFAULT gst_spice_audio_src_debug

#define DEFAULT_LATENCY 40
#define DEFAULT_MAX_LATENCY 250
#define DEFAULT_DRIFT_CORRECTION TRUE
#define DEFAULT_RATE 48000
#define DEFAULT_CHANNELS 2
/* silence goes out in chunks of 10 ms */
#define CHUNKS_PER_SECOND 100
/* at most this much sound waits for the streaming thread; older is
 * dropped (a paused or stalled pipeline) */
#define QUEUE_MAX_US G_USEC_PER_SEC
/* what a packet's lateness needs on top, in the latency reported: the
 * streaming thread's own scheduling */
#define LATENCY_MARGIN (3 * GST_MSECOND)
/* the latency grows in steps of this, with a quarter of headroom */
#define LATENCY_STEP_MS 10
/* with drift correction, resyncs only beyond this (or half the latency):
 * the correction engages well before */
#define RESYNC_MIN (40 * GST_MSECOND)
/* When the guest starts playing, libspice-server sends the packets it
 * buffered before the client was ready in one burst (5 packets, 50 ms, with
 * the test server).  The timeline is anchored once the burst is in and a
 * packet after it could have come: on a busy host the burst reaches the
 * queue spread out (the helper, the IPC, our thread), and an anchor taken
 * on its first packets alone sits up to 50 ms late, the packets after it
 * early, dropped by a resync (a click at the start).  The first sound goes
 * out this much later; its timestamps do not change. */
#define BURST_WAIT_US 20000

#define AUDIO_CAPS "audio/x-raw, format = (string) " GST_AUDIO_NE (S16) \
    ", layout = (string) interleaved, rate = (int) [ 1, MAX ], " \
    "channels = (int) [ 1, 8 ]"

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (AUDIO_CAPS));

enum
{
  PROP_LATENCY = GST_SPICE_PROP_CONNECTION_LAST,
  PROP_STATS,
  PROP_MAX_LATENCY,
  PROP_DRIFT_CORRECTION,
};

typedef struct
{
  GstSpiceConnectionSettings conn;
  guint latency;                /* ms */
  guint max_latency;            /* ms */
  gboolean drift_correction;
} Settings;

typedef enum
{
  ITEM_START,
  ITEM_DATA,
  ITEM_STOP,
} ItemKind;

/* What the spice thread hands the streaming thread, in order */
typedef struct
{
  ItemKind kind;
  GstBuffer *buf;               /* ITEM_DATA */
  gint64 arrival_us;            /* ITEM_DATA: monotonic */
  guint channels, rate;         /* ITEM_START */
} Item;

struct _GstSpiceAudioSrc
{
  GstPushSrc parent;

  Settings settings;            /* GST_OBJECT_LOCK */

  /* start/stop (state change thread) */
  GstSpiceSession *session;
  guint listener_id;
  gchar *address;
  Settings active;

  GMutex lock;                  /* guards `st`, shared with the thread that
                                 * dispatches SPICE events */
  GCond cond;
  struct
  {
    gboolean attached;
    gboolean flushing;
    gboolean idle;              /* nobody downstream: produce nothing */
    Item *idle_start;           /* the guest's format, seen while idle */
    gboolean idle_stopped;      /* ...and then it stopped playing */
    GstSpiceLinkState link;     /* the connection */
    GQueue items;               /* of Item */
    guint64 queued_us;          /* sound in `items` */
    guint rate, channels;       /* of the last ITEM_START queued */
    gboolean overflow;          /* sound was dropped: re-anchor */

    guint64 packets, frames_in, silence_frames, dropped_frames, resyncs;
    guint64 stale_frames, underruns;
    /* copied from the streaming thread's clock */
    gboolean resampling;
    gint drift_ppm;
  } st;

  gint pipeline_latency_ms;     /* atomic: from the LATENCY event, -1 */
  gint latency_ms;              /* atomic: reported, >= settings' latency
                                 * (written by the streaming thread) */

  /* streaming thread only */
  GstAudioInfo info;            /* negotiated */
  gboolean playing;             /* between START and STOP items */
  gboolean need_anchor;         /* the next packet sets the timeline */
  gboolean packet_counted;      /* the clock saw the packet being taken */
  GstClockTime ts_base;         /* running time of sample offset_base */
  guint64 offset_base, offset;  /* samples output */
  GstSpiceAudioClock *clock;    /* the guest's clock and the resampler */
  gint64 anchored_us;           /* monotonic: when the timeline was anchored
                                 * (packets queued by then are its burst) */
  guint64 drop_frames;          /* still to drop to catch up */
  gboolean drop_stale;          /* those are stale (counted apart) */
  gboolean discont;
  gint64 start_us;
};

#define gst_spice_audio_src_parent_class parent_class
G_DEFINE_TYPE (GstSpiceAudioSrc, gst_spice_audio_src, GST_TYPE_PUSH_SRC);
GST_ELEMENT_REGISTER_DEFINE (spiceaudiosrc, "spiceaudiosrc", GST_RANK_NONE,
    GST_TYPE_SPICE_AUDIO_SRC);

static void
item_free (Item * item)
{
  gst_clear_buffer (&item->buf);
  g_free (item);
}

/* ---------------------------------------------------------------------- */
/* Properties                                                             */

static GstStructure *
make_stats (GstSpiceAudioSrc * self)
{
  GstStructure *s;

  g_mutex_lock (&self->lock);
  s = gst_structure_new ("application/x-spice-audio-stats",
      "packets", G_TYPE_UINT64, self->st.packets,
      "frames", G_TYPE_UINT64, self->st.frames_in,
      "silence-frames", G_TYPE_UINT64, self->st.silence_frames,
      "dropped-frames", G_TYPE_UINT64, self->st.dropped_frames,
      "stale-frames", G_TYPE_UINT64, self->st.stale_frames,
      "underruns", G_TYPE_UINT64, self->st.underruns,
      "resyncs", G_TYPE_UINT64, self->st.resyncs,
      "resampling", G_TYPE_BOOLEAN, self->st.resampling,
      "drift-ppm", G_TYPE_INT, self->st.drift_ppm,
      "latency", G_TYPE_UINT, (guint) g_atomic_int_get (&self->latency_ms),
      "rate", G_TYPE_UINT, self->st.rate,
      "channels", G_TYPE_UINT, self->st.channels, NULL);
  g_mutex_unlock (&self->lock);
  return s;
}

static void
gst_spice_audio_src_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstSpiceAudioSrc *self = GST_SPICE_AUDIO_SRC (object);

  GST_OBJECT_LOCK (self);
  if (!gst_spice_connection_set_property (&self->settings.conn, prop_id,
          value)) {
    switch (prop_id) {
      case PROP_LATENCY:
        self->settings.latency = g_value_get_uint (value);
        break;
      case PROP_MAX_LATENCY:
        self->settings.max_latency = g_value_get_uint (value);
        break;
      case PROP_DRIFT_CORRECTION:
        self->settings.drift_correction = g_value_get_boolean (value);
        break;
      default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
        break;
    }
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_spice_audio_src_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstSpiceAudioSrc *self = GST_SPICE_AUDIO_SRC (object);

  if (prop_id == PROP_STATS) {
    g_value_take_boxed (value, make_stats (self));
    return;
  }
  GST_OBJECT_LOCK (self);
  if (!gst_spice_connection_get_property (&self->settings.conn, prop_id,
          value)) {
    switch (prop_id) {
      case PROP_LATENCY:
        g_value_set_uint (value, self->settings.latency);
        break;
      case PROP_MAX_LATENCY:
        g_value_set_uint (value, self->settings.max_latency);
        break;
      case PROP_DRIFT_CORRECTION:
        g_value_set_boolean (value, self->settings.drift_correction);
        break;
      default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
        break;
    }
  }
  GST_OBJECT_UNLOCK (self);
}

/* ---------------------------------------------------------------------- */
/* Session callbacks (the plugin's spice thread)                          */

/* self->lock held; the caller wakes the streaming thread once it let go
 * of the lock (woken under it, that thread would block on it at once) */
static void
push_item_locked (GstSpiceAudioSrc * self, Item * item)
{
  g_queue_push_tail (&self->st.items, item);
}

static void
on_playback_start (gpointer user_data, guint channels, guint rate)
{
  GstSpiceAudioSrc *self = user_data;
  Item *item = g_new0 (Item, 1);

  GST_INFO_OBJECT (self, "guest plays %u Hz, %u channels", rate, channels);
  item->kind = ITEM_START;
  item->channels = channels;
  item->rate = rate;
  g_mutex_lock (&self->lock);
  self->st.rate = rate;
  self->st.channels = channels;
  push_item_locked (self, item);
  g_mutex_unlock (&self->lock);
  g_cond_broadcast (&self->cond);
}

static void
on_playback_data (gpointer user_data, const guint8 * data, gsize size)
{
  GstSpiceAudioSrc *self = user_data;
  Item *item;
  guint bpf;

  g_mutex_lock (&self->lock);
  bpf = self->st.channels * 2;
  if (!self->st.attached || bpf == 0 || size < bpf) {
    g_mutex_unlock (&self->lock);
    return;
  }
  item = g_new0 (Item, 1);
  item->kind = ITEM_DATA;
  item->arrival_us = g_get_monotonic_time ();
  size -= size % bpf;
  item->buf = gst_buffer_new_memdup (data, size);
  self->st.packets++;
  self->st.frames_in += size / bpf;
  self->st.queued_us += gst_util_uint64_scale_int (size / bpf,
      G_USEC_PER_SEC, self->st.rate);
  push_item_locked (self, item);

  /* a stalled or paused pipeline: keep the newest second */
  while (self->st.queued_us > QUEUE_MAX_US) {
    GList *l;

    for (l = self->st.items.head; l; l = l->next) {
      Item *old = l->data;
      if (old->kind == ITEM_DATA) {
        gsize frames = gst_buffer_get_size (old->buf) / bpf;
        self->st.queued_us -= MIN (self->st.queued_us,
            gst_util_uint64_scale_int (frames, G_USEC_PER_SEC,
                self->st.rate));
        self->st.dropped_frames += frames;
        self->st.overflow = TRUE;
        g_queue_delete_link (&self->st.items, l);
        item_free (old);
        break;
      }
    }
    if (!l)
      break;
  }
  g_mutex_unlock (&self->lock);
  g_cond_broadcast (&self->cond);
}

static void
on_playback_stop (gpointer user_data)
{
  GstSpiceAudioSrc *self = user_data;
  Item *item = g_new0 (Item, 1);

  GST_INFO_OBJECT (self, "guest stopped playing");
  item->kind = ITEM_STOP;
  g_mutex_lock (&self->lock);
  push_item_locked (self, item);
  g_mutex_unlock (&self->lock);
  g_cond_broadcast (&self->cond);
}

static guint
on_playback_delay (gpointer user_data)
{
  GstSpiceAudioSrc *self = user_data;
  gint ms = g_atomic_int_get (&self->pipeline_latency_ms);

  if (ms < 0)
    ms = g_atomic_int_get (&self->latency_ms);
  return ms;
}

static void
on_state (gpointer user_data, GstSpiceSessionState state,
    const GError * error, const gchar * debug)
{
  GstSpiceAudioSrc *self = user_data;

  /* on LOST the session stops playback too; silence keeps time */
  g_mutex_lock (&self->lock);
  gst_spice_link_state_update (&self->st.link, state, error, debug);
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

static const GstSpicePlaybackCallbacks playback_callbacks = {
  on_playback_start,
  on_playback_data,
  on_playback_stop,
  on_playback_delay,
  on_state,
};

/**
 * gst_spice_audio_src_set_idle:
 *
 * spicesrc says so while its audio pad is not linked: the element then
 * produces nothing (no silence every 10 ms for nobody) and drops what the
 * guest plays.
 */
void
gst_spice_audio_src_set_idle (GstSpiceAudioSrc * self, gboolean idle)
{
  g_mutex_lock (&self->lock);
  self->st.idle = idle;
  g_mutex_unlock (&self->lock);
  g_cond_broadcast (&self->cond);
}

/* ---------------------------------------------------------------------- */
/* GstBaseSrc                                                             */

static gboolean
gst_spice_audio_src_start (GstBaseSrc * src)
{
  GstSpiceAudioSrc *self = GST_SPICE_AUDIO_SRC (src);
  gboolean idle;

  GST_OBJECT_LOCK (self);
  gst_spice_connection_settings_clear (&self->active.conn);
  self->active = self->settings;
  gst_spice_connection_settings_copy (&self->active.conn,
      &self->settings.conn);
  GST_OBJECT_UNLOCK (self);
  self->active.max_latency = MAX (self->active.max_latency,
      self->active.latency);

  self->session = gst_spice_connection_acquire (GST_ELEMENT (self),
      &self->active.conn, GST_SPICE_SESSION_FEATURE_AUDIO);
  if (!self->session)
    return FALSE;

  g_mutex_lock (&self->lock);
  idle = self->st.idle;
  memset (&self->st, 0, sizeof (self->st));
  g_queue_init (&self->st.items);
  self->st.idle = idle;
  self->st.attached = TRUE;
  self->st.rate = DEFAULT_RATE;
  self->st.channels = DEFAULT_CHANNELS;
  g_mutex_unlock (&self->lock);

  gst_audio_info_init (&self->info);
  self->playing = FALSE;
  self->need_anchor = TRUE;
  self->packet_counted = FALSE;
  self->ts_base = GST_CLOCK_TIME_NONE;
  self->offset_base = self->offset = 0;
  self->drop_frames = 0;
  self->discont = TRUE;
  self->start_us = g_get_monotonic_time ();
  self->anchored_us = 0;
  g_atomic_int_set (&self->pipeline_latency_ms, -1);
  g_atomic_int_set (&self->latency_ms, self->active.latency);
  g_clear_pointer (&self->clock, gst_spice_audio_clock_free);
  self->clock = gst_spice_audio_clock_new (GST_OBJECT (self),
      self->active.drift_correction);

  g_free (self->address);
  self->address = g_strdup (gst_spice_session_get_address (self->session));
  self->listener_id = gst_spice_session_add_playback_listener (self->session,
      &playback_callbacks, gst_object_ref (self), gst_object_unref);
  return TRUE;
}

static gboolean
gst_spice_audio_src_stop (GstBaseSrc * src)
{
  GstSpiceAudioSrc *self = GST_SPICE_AUDIO_SRC (src);

  if (self->session) {
    gst_spice_session_remove_listener (self->session, self->listener_id);
    g_mutex_lock (&self->lock);
    self->st.attached = FALSE;
    g_mutex_unlock (&self->lock);
    gst_spice_session_release (self->session);
    self->session = NULL;
  }
  g_mutex_lock (&self->lock);
  g_queue_clear_full (&self->st.items, (GDestroyNotify) item_free);
  g_clear_pointer (&self->st.idle_start, item_free);
  gst_spice_link_state_clear (&self->st.link);
  g_mutex_unlock (&self->lock);
  g_clear_pointer (&self->clock, gst_spice_audio_clock_free);
  gst_spice_connection_settings_clear (&self->active.conn);
  return TRUE;
}

static gboolean
gst_spice_audio_src_unlock (GstBaseSrc * src)
{
  GstSpiceAudioSrc *self = GST_SPICE_AUDIO_SRC (src);

  g_mutex_lock (&self->lock);
  self->st.flushing = TRUE;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  return TRUE;
}

static gboolean
gst_spice_audio_src_unlock_stop (GstBaseSrc * src)
{
  GstSpiceAudioSrc *self = GST_SPICE_AUDIO_SRC (src);

  g_mutex_lock (&self->lock);
  self->st.flushing = FALSE;
  g_mutex_unlock (&self->lock);
  return TRUE;
}

static gboolean
gst_spice_audio_src_query (GstBaseSrc * src, GstQuery * query)
{
  GstSpiceAudioSrc *self = GST_SPICE_AUDIO_SRC (src);

  if (GST_QUERY_TYPE (query) == GST_QUERY_LATENCY) {
    GstClockTime min, max;

    /* Silence is pushed half the latency after its start, sound as soon
     * as it arrives, stamped with the earliest arrival its clock allows:
     * min covers the silence lag and the arrival jitter (and grows with
     * the jitter seen); up to a second of sound can wait here. */
    min = g_atomic_int_get (&self->latency_ms) * GST_MSECOND;
    max = min + QUEUE_MAX_US * GST_USECOND;
    gst_query_set_latency (query, TRUE, min, max);
    GST_DEBUG_OBJECT (self, "latency min %" GST_TIME_FORMAT,
        GST_TIME_ARGS (min));
    return TRUE;
  }
  return GST_BASE_SRC_CLASS (parent_class)->query (src, query);
}

static gboolean
gst_spice_audio_src_event (GstBaseSrc * src, GstEvent * event)
{
  GstSpiceAudioSrc *self = GST_SPICE_AUDIO_SRC (src);

  if (GST_EVENT_TYPE (event) == GST_EVENT_LATENCY) {
    GstClockTime latency;

    /* what the sinks add: the delay the server asks about */
    gst_event_parse_latency (event, &latency);
    g_atomic_int_set (&self->pipeline_latency_ms,
        GST_TIME_AS_MSECONDS (latency));
    GST_DEBUG_OBJECT (self, "pipeline latency %" GST_TIME_FORMAT,
        GST_TIME_ARGS (latency));
  }
  return GST_BASE_SRC_CLASS (parent_class)->event (src, event);
}

/* Streaming thread.  Sets caps for S16 at @rate/@channels if they differ
 * from the current ones. */
static gboolean
set_format (GstSpiceAudioSrc * self, guint rate, guint channels)
{
  GstAudioInfo info;
  GstCaps *caps;
  gboolean ok;

  if (GST_AUDIO_INFO_IS_VALID (&self->info) &&
      (guint) GST_AUDIO_INFO_RATE (&self->info) == rate &&
      (guint) GST_AUDIO_INFO_CHANNELS (&self->info) == channels)
    return TRUE;

  gst_audio_info_set_format (&info, GST_AUDIO_FORMAT_S16, rate, channels,
      NULL);
  caps = gst_audio_info_to_caps (&info);
  /* asked first: a refused caps event would only show as a not-negotiated
   * flow later, without saying what was refused */
  ok = gst_pad_peer_query_accept_caps (GST_BASE_SRC_PAD (self), caps) &&
      gst_base_src_set_caps (GST_BASE_SRC (self), caps);
  GST_INFO_OBJECT (self, "caps %" GST_PTR_FORMAT ": %s", caps,
      ok ? "accepted" : "refused");
  gst_caps_unref (caps);
  if (!ok) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("Downstream cannot take the SPICE guest's sound (S16, %u Hz, %u "
            "channels)", rate, channels), (NULL));
    return FALSE;
  }
  /* a new timeline base at the same running time */
  if (GST_AUDIO_INFO_IS_VALID (&self->info) &&
      GST_CLOCK_TIME_IS_VALID (self->ts_base)) {
    self->ts_base += gst_util_uint64_scale_int (self->offset -
        self->offset_base, GST_SECOND, GST_AUDIO_INFO_RATE (&self->info));
    self->offset_base = self->offset;
  }
  self->info = info;
  if (self->clock)
    gst_spice_audio_clock_set_format (self->clock, rate, channels);
  return TRUE;
}

/* Before the first sample: the format the guest plays in, if known, else
 * 48000 Hz stereo (what QEMU and most servers use). */
static gboolean
gst_spice_audio_src_negotiate (GstBaseSrc * src)
{
  GstSpiceAudioSrc *self = GST_SPICE_AUDIO_SRC (src);
  guint rate, channels;

  g_mutex_lock (&self->lock);
  rate = self->st.rate;
  channels = self->st.channels;
  g_mutex_unlock (&self->lock);
  if (GST_AUDIO_INFO_IS_VALID (&self->info)) {
    rate = GST_AUDIO_INFO_RATE (&self->info);
    channels = GST_AUDIO_INFO_CHANNELS (&self->info);
    /* downstream asked again: set the same caps again */
    gst_audio_info_init (&self->info);
  }
  return set_format (self, rate, channels);
}

static GstClockTime
next_ts (GstSpiceAudioSrc * self)
{
  return self->ts_base + gst_util_uint64_scale_int (self->offset -
      self->offset_base, GST_SECOND, GST_AUDIO_INFO_RATE (&self->info));
}

/* Moves the timeline to @ts (a resync), keeping the sample offset. */
static void
rebase (GstSpiceAudioSrc * self, GstClockTime ts)
{
  self->ts_base = ts;
  self->offset_base = self->offset;
}

static GstBuffer *
make_silence (GstSpiceAudioSrc * self, guint64 frames)
{
  GstBuffer *buf;
  GstMapInfo map;
  gsize size = frames * GST_AUDIO_INFO_BPF (&self->info);

  buf = gst_buffer_new_allocate (NULL, size, NULL);
  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  memset (map.data, 0, map.size);
  gst_buffer_unmap (buf, &map);
  GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_GAP);
  g_mutex_lock (&self->lock);
  self->st.silence_frames += frames;
  g_mutex_unlock (&self->lock);
  return buf;
}

/* Stamps @buf (a whole number of frames) at the timeline's next sample. */
static void
stamp (GstSpiceAudioSrc * self, GstBuffer * buf)
{
  guint64 frames = gst_buffer_get_size (buf) /
      GST_AUDIO_INFO_BPF (&self->info);
  GstClockTime ts = next_ts (self);

  GST_BUFFER_PTS (buf) = ts;
  GST_BUFFER_DTS (buf) = GST_CLOCK_TIME_NONE;
  GST_BUFFER_OFFSET (buf) = self->offset;
  self->offset += frames;
  GST_BUFFER_OFFSET_END (buf) = self->offset;
  GST_BUFFER_DURATION (buf) = next_ts (self) - ts;
  if (self->discont) {
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
    self->discont = FALSE;
  }
}

/* Streaming thread: the jitter seen says the latency reported is too
 * small for a packet that came @late after its place on the timeline.
 * It grows (up to max-latency) and the pipeline is told. */
static void
raise_latency (GstSpiceAudioSrc * self, GstClockTimeDiff late)
{
  gint cur = g_atomic_int_get (&self->latency_ms);
  gint max = self->active.max_latency;
  GstClockTimeDiff need = late + LATENCY_MARGIN;
  gint ms;

  if (need <= (GstClockTimeDiff) cur * GST_MSECOND || cur >= max)
    return;
  ms = (gint) ((need + need / 4) / GST_MSECOND);
  ms = MIN ((ms + LATENCY_STEP_MS - 1) / LATENCY_STEP_MS * LATENCY_STEP_MS,
      max);
  g_atomic_int_set (&self->latency_ms, ms);
  GST_INFO_OBJECT (self, "a packet came %" G_GINT64_FORMAT " ms after its "
      "place on the timeline: latency %d -> %d ms", late / GST_MSECOND, cur,
      ms);
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_latency (GST_OBJECT (self)));
}

static void
count_resync (GstSpiceAudioSrc * self)
{
  self->discont = TRUE;
  g_mutex_lock (&self->lock);
  self->st.resyncs++;
  g_mutex_unlock (&self->lock);
}

/* Drops what is left of drop_frames from the start of *@buf (input
 * frames); *@buf becomes NULL when nothing is left of it. */
static void
drop_input (GstSpiceAudioSrc * self, GstBuffer ** buf)
{
  guint bpf = GST_AUDIO_INFO_BPF (&self->info);
  guint64 frames = gst_buffer_get_size (*buf) / bpf;
  guint64 drop = MIN (frames, self->drop_frames);

  if (drop == 0)
    return;
  self->drop_frames -= drop;
  g_mutex_lock (&self->lock);
  if (self->drop_stale)
    self->st.stale_frames += drop;
  else
    self->st.dropped_frames += drop;
  g_mutex_unlock (&self->lock);
  if (drop == frames) {
    gst_clear_buffer (buf);
    return;
  }
  *buf = gst_buffer_make_writable (*buf);
  gst_buffer_resize (*buf, drop * bpf, -1);
}

/* A packet of sound (*@packet) that arrived at running time @arrival:
 * anchors the timeline after a start, follows the guest's clock, and
 * returns the buffer to push (NULL: nothing this time).  *@packet is set
 * to NULL once taken; it stays when silence must go before it (the
 * returned buffer), to be given again. */
static GstBuffer *
take_packet (GstSpiceAudioSrc * self, GstBuffer ** packet,
    GstClockTime arrival, GstClockTime real_arrival, gboolean in_anchor_burst)
{
  guint rate = GST_AUDIO_INFO_RATE (&self->info);
  GstClockTimeDiff threshold = self->active.latency * GST_MSECOND / 2;
  GstClockTimeDiff late, excess = 0;
  GstClockTime pending;
  GstBuffer *buf, *out;

  if (!GST_CLOCK_TIME_IS_VALID (self->ts_base))
    rebase (self, arrival);

  if (self->need_anchor) {
    GstClockTime ts = next_ts (self);

    self->need_anchor = FALSE;
    self->drop_frames = 0;
    gst_spice_audio_clock_anchor (self->clock, arrival);
    if (arrival > ts) {
      /* silence up to the anchor keeps the timeline whole */
      guint64 gap = gst_util_uint64_scale (arrival - ts, rate, GST_SECOND);
      if (gap > 0) {
        GstBuffer *silence = make_silence (self, gap);
        GST_DEBUG_OBJECT (self, "%" G_GUINT64_FORMAT " frames of silence "
            "before the sound", gap);
        stamp (self, silence);
        /* the caller gives the packet again */
        return silence;
      }
    } else {
      /* the sound should have started before the silence already pushed:
       * what cannot be placed any more is stale */
      self->drop_frames = gst_util_uint64_scale (ts - arrival, rate,
          GST_SECOND);
      self->drop_stale = TRUE;
      if (self->drop_frames > 0)
        GST_INFO_OBJECT (self, "dropping %" G_GUINT64_FORMAT " frames the "
            "server had buffered before we could play them",
            self->drop_frames);
    }
  }

  /* what the guest sent, against when it came (once a packet, whatever
   * happens to it) */
  if (!self->packet_counted) {
    gst_spice_audio_clock_input (self->clock, real_arrival,
        gst_buffer_get_size (*packet) / GST_AUDIO_INFO_BPF (&self->info));
    self->packet_counted = TRUE;
  }

  buf = *packet;
  *packet = NULL;
  if (self->drop_frames > 0) {
    drop_input (self, &buf);
    if (!buf)
      return NULL;
  }

  /* how late the packet came after its place on the timeline: its lower
   * envelope is the guest's clock, the rest is jitter */
  pending = gst_spice_audio_clock_pending (self->clock);
  late = GST_CLOCK_DIFF (next_ts (self) + pending, arrival);
  GST_LOG_OBJECT (self, "packet at %" GST_TIME_FORMAT " arrived %"
      G_GINT64_FORMAT " us late", GST_TIME_ARGS (next_ts (self) + pending),
      late / 1000);
  if (self->active.drift_correction)
    threshold = MAX (threshold, RESYNC_MIN);
  switch (gst_spice_audio_clock_observe (self->clock, arrival, late,
          threshold, &excess)) {
    case GST_SPICE_AUDIO_CLOCK_RESYNC_LATE:{
      guint64 gap = gst_util_uint64_scale (excess, rate, GST_SECOND);
      GstBuffer *silence;

      GST_WARNING_OBJECT (self, "sound arrives %" G_GINT64_FORMAT " ms "
          "later than its timestamps: resync (%" G_GUINT64_FORMAT " frames "
          "of silence)", excess / GST_MSECOND, gap);
      count_resync (self);
      if (gap == 0)
        break;
      /* the timeline jumps ahead, filled with silence: the packet is
       * given again and lands after it */
      silence = make_silence (self, gap);
      stamp (self, silence);
      *packet = buf;
      return silence;
    }
    case GST_SPICE_AUDIO_CLOCK_RESYNC_EARLY:
      self->drop_frames = gst_util_uint64_scale (-excess, rate, GST_SECOND);
      self->drop_stale = FALSE;
      GST_WARNING_OBJECT (self, "sound arrives %" G_GINT64_FORMAT " ms "
          "ahead of its timestamps: resync (dropping %" G_GUINT64_FORMAT
          " frames)", -excess / GST_MSECOND, self->drop_frames);
      count_resync (self);
      break;
    case GST_SPICE_AUDIO_CLOCK_OK:
      break;
  }
  /* the anchor's own burst was late by design (it waited to be placed) */
  if (!in_anchor_burst)
    raise_latency (self, late + pending);

  out = gst_spice_audio_clock_process (self->clock, buf);
  g_mutex_lock (&self->lock);
  self->st.resampling = gst_spice_audio_clock_is_resampling (self->clock);
  self->st.drift_ppm = gst_spice_audio_clock_get_drift_ppm (self->clock);
  g_mutex_unlock (&self->lock);
  if (out)
    stamp (self, out);
  return out;
}

/* Where the sound that starts at the head of the queue belongs: the
 * earliest time consistent with every packet queued behind it (a burst
 * arrives at once, its first packets late), as monotonic us. */
static gint64
burst_anchor_locked (GstSpiceAudioSrc * self)
{
  guint bpf = GST_AUDIO_INFO_BPF (&self->info);
  guint rate = GST_AUDIO_INFO_RATE (&self->info);
  gint64 anchor = G_MAXINT64;
  guint64 frames = 0;
  GList *l;

  for (l = self->st.items.head; l; l = l->next) {
    Item *item = l->data;

    if (item->kind != ITEM_DATA)
      break;
    anchor = MIN (anchor, item->arrival_us -
        (gint64) gst_util_uint64_scale_int (frames, G_USEC_PER_SEC, rate));
    frames += gst_buffer_get_size (item->buf) / bpf;
  }
  if (frames > 0)
    GST_DEBUG_OBJECT (self, "anchoring on %" G_GUINT64_FORMAT " queued "
        "frames, %" G_GINT64_FORMAT " us before the first arrived", frames,
        ((Item *) self->st.items.head->data)->arrival_us - anchor);
  return anchor;
}

static GstFlowReturn
gst_spice_audio_src_create (GstPushSrc * psrc, GstBuffer ** outbuf)
{
  GstSpiceAudioSrc *self = GST_SPICE_AUDIO_SRC (psrc);
  GstBuffer *buf = NULL;
  GstClockTime anchor = GST_CLOCK_TIME_NONE;

  if (!GST_AUDIO_INFO_IS_VALID (&self->info)) {
    guint rate, channels;

    g_mutex_lock (&self->lock);
    rate = self->st.rate;
    channels = self->st.channels;
    g_mutex_unlock (&self->lock);
    if (!set_format (self, rate, channels))
      return GST_FLOW_NOT_NEGOTIATED;
  }

  g_mutex_lock (&self->lock);
  while (!buf) {
    Item *item;
    GstClockTime now, ts, lag;
    gint64 now_us, deadline;
    guint rate, chunk;

    if (self->st.flushing)
      goto flushing;
    if (self->st.link.error)
      goto session_error;

    if (self->st.idle) {
      /* spicesrc's audio pad is unlinked: what comes is dropped (formats
       * kept), and the timeline starts afresh when it is linked */
      while ((item = g_queue_pop_head (&self->st.items))) {
        if (item->kind == ITEM_START) {
          /* kept: the caps must follow once the pad runs again */
          if (self->st.idle_start)
            item_free (self->st.idle_start);
          self->st.idle_start = item;
          self->st.idle_stopped = FALSE;
          continue;
        }
        if (item->kind == ITEM_STOP)
          self->st.idle_stopped = TRUE;
        item_free (item);
      }
      self->st.queued_us = 0;
      self->ts_base = GST_CLOCK_TIME_NONE;
      self->need_anchor = TRUE;
      self->packet_counted = FALSE;
      self->discont = TRUE;
      g_cond_wait (&self->cond, &self->lock);
      continue;
    }
    if (self->st.idle_start) {
      /* the format the guest announced while we idled, and whether it
       * stopped since: handled as if it had just come */
      if (self->st.idle_stopped) {
        Item *stop = g_new0 (Item, 1);

        stop->kind = ITEM_STOP;
        g_queue_push_head (&self->st.items, stop);
      }
      g_queue_push_head (&self->st.items, self->st.idle_start);
      self->st.idle_start = NULL;
      self->st.idle_stopped = FALSE;
    }

    item = g_queue_peek_head (&self->st.items);
    if (item && item->kind == ITEM_DATA && self->need_anchor) {
      gint64 wait_until = item->arrival_us + BURST_WAIT_US;
      gint64 anchor_us;

      if (g_get_monotonic_time () < wait_until) {
        g_cond_wait_until (&self->cond, &self->lock, wait_until);
        continue;
      }
      anchor_us = burst_anchor_locked (self);
      self->anchored_us = g_get_monotonic_time ();
      g_mutex_unlock (&self->lock);
      anchor = gst_spice_running_time_of (GST_ELEMENT (self), anchor_us);
      g_mutex_lock (&self->lock);
    }
    item = g_queue_pop_head (&self->st.items);
    if (item) {
      if (item->kind == ITEM_DATA) {
        self->st.queued_us -= MIN (self->st.queued_us,
            gst_util_uint64_scale_int (gst_buffer_get_size (item->buf) /
                GST_AUDIO_INFO_BPF (&self->info), G_USEC_PER_SEC,
                GST_AUDIO_INFO_RATE (&self->info)));
        if (self->st.overflow) {
          self->st.overflow = FALSE;
          self->need_anchor = TRUE;
          self->discont = TRUE;
        }
      }
      g_mutex_unlock (&self->lock);

      switch (item->kind) {
        case ITEM_START:
          if (!set_format (self, item->rate, item->channels)) {
            item_free (item);
            return GST_FLOW_NOT_NEGOTIATED;
          }
          self->playing = TRUE;
          self->need_anchor = TRUE;
          break;
        case ITEM_STOP:
          self->playing = FALSE;
          /* the end of the sound, still in the resampler */
          buf = gst_spice_audio_clock_drain (self->clock);
          if (buf)
            stamp (self, buf);
          break;
        case ITEM_DATA:{
          GstClockTime real = gst_spice_running_time_of (GST_ELEMENT (self),
              item->arrival_us);

          buf = take_packet (self, &item->buf, self->need_anchor ? anchor :
              real, real, item->arrival_us <= self->anchored_us);
          if (!item->buf)
            self->packet_counted = FALSE;
          if (item->buf) {
            /* silence went before the packet: keep the packet */
            g_mutex_lock (&self->lock);
            g_queue_push_head (&self->st.items, item);
            self->st.queued_us += gst_util_uint64_scale_int
                (gst_buffer_get_size (item->buf) /
                GST_AUDIO_INFO_BPF (&self->info), G_USEC_PER_SEC,
                GST_AUDIO_INFO_RATE (&self->info));
            g_mutex_unlock (&self->lock);
            item = NULL;
          }
          break;
        }
      }
      if (item)
        item_free (item);
      g_mutex_lock (&self->lock);
      continue;
    }

    /* Nothing queued: keep time with silence, half the latency behind
     * real time so it is never late downstream. */
    g_mutex_unlock (&self->lock);
    now = gst_spice_running_time_of (GST_ELEMENT (self), 0);
    g_mutex_lock (&self->lock);
    now_us = g_get_monotonic_time ();
    if (!self->st.link.connected &&
        now_us >= self->start_us +
        (gint64) self->active.conn.connect_timeout * 1000)
      goto timed_out;
    if (!GST_CLOCK_TIME_IS_VALID (now)) {
      /* no clock yet: look again soon */
      g_cond_wait_until (&self->cond, &self->lock, now_us + 10000);
      continue;
    }
    if (!GST_CLOCK_TIME_IS_VALID (self->ts_base))
      rebase (self, now);
    rate = GST_AUDIO_INFO_RATE (&self->info);
    chunk = MAX (rate / CHUNKS_PER_SECOND, 1);
    lag = MAX ((guint64) g_atomic_int_get (&self->latency_ms) * GST_MSECOND / 2,
        gst_util_uint64_scale_int (chunk, GST_SECOND, rate));
    /* while the guest plays, a late packet is waited for up to
     * max-latency (the latency then grows to cover it): a busy host costs
     * latency, not a gap in the sound */
    if (self->playing && !self->need_anchor)
      lag = MAX (lag, self->active.max_latency * GST_MSECOND);
    ts = next_ts (self);
    if (now >= ts + lag) {
      guint64 frames = gst_util_uint64_scale (now - lag - ts, rate,
          GST_SECOND);

      frames = CLAMP (frames, chunk, (guint64) rate);
      if (self->playing && !self->need_anchor) {
        GstBuffer *tail;

        g_mutex_unlock (&self->lock);
        tail = gst_spice_audio_clock_drain (self->clock);
        g_mutex_lock (&self->lock);
        if (tail) {
          /* the sound the resampler still held goes first */
          stamp (self, tail);
          buf = tail;
          break;
        }
        /* a late packet, or a guest clock slower than ours: the sound
         * resumes at its arrival, after the silence */
        self->st.underruns++;
        GST_INFO_OBJECT (self, "no sound from the guest for %" GST_TIME_FORMAT
            " while it plays: silence, re-anchoring on the next packet",
            GST_TIME_ARGS (lag));
      }
      g_mutex_unlock (&self->lock);
      /* sound after a gap starts a new anchor (whatever the guest says) */
      self->need_anchor = TRUE;
      buf = make_silence (self, frames);
      stamp (self, buf);
      g_mutex_lock (&self->lock);
      break;
    }
    deadline = now_us + (gint64) ((ts + lag - now) / GST_USECOND) + 1;
    if (!self->st.link.connected)
      deadline = MIN (deadline, self->start_us +
          (gint64) self->active.conn.connect_timeout * 1000);
    g_cond_wait_until (&self->cond, &self->lock, deadline);
  }
  g_mutex_unlock (&self->lock);

  *outbuf = buf;
  return GST_FLOW_OK;

  /* ERRORS */
flushing:
  {
    g_mutex_unlock (&self->lock);
    return GST_FLOW_FLUSHING;
  }
session_error:
  {
    GstFlowReturn ret = gst_spice_link_state_finish (GST_ELEMENT (self),
        &self->st.link, &self->lock, self->active.conn.eos_on_disconnect);

    g_mutex_unlock (&self->lock);
    return ret;
  }
timed_out:
  {
    g_mutex_unlock (&self->lock);
    gst_spice_connection_post_timeout (GST_ELEMENT (self), self->address,
        FALSE, self->active.conn.connect_timeout, "answer");
    return GST_FLOW_ERROR;
  }
}

static GstStateChangeReturn
gst_spice_audio_src_change_state (GstElement * element,
    GstStateChange transition)
{
  GstSpiceAudioSrc *self = GST_SPICE_AUDIO_SRC (element);

  if (transition == GST_STATE_CHANGE_NULL_TO_READY &&
      !gst_spice_connection_check (element, &self->settings.conn))
    return GST_STATE_CHANGE_FAILURE;
  return GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
}

/* ---------------------------------------------------------------------- */
/* Class                                                                  */

static void
gst_spice_audio_src_finalize (GObject * object)
{
  GstSpiceAudioSrc *self = GST_SPICE_AUDIO_SRC (object);

  gst_spice_connection_settings_clear (&self->settings.conn);
  g_free (self->address);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

/* one failure, one error message (see
 * gst_spice_connection_is_flow_error_echo()) */
static gboolean
gst_spice_audio_src_post_message (GstElement * element, GstMessage * message)
{
  if (gst_spice_connection_is_flow_error_echo (element, message)) {
    gst_message_unref (message);
    return TRUE;
  }
  return GST_ELEMENT_CLASS (parent_class)->post_message (element, message);
}

static void
gst_spice_audio_src_class_init (GstSpiceAudioSrcClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSrcClass *basesrc_class = GST_BASE_SRC_CLASS (klass);
  GstPushSrcClass *pushsrc_class = GST_PUSH_SRC_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_spice_audio_src_debug, "spiceaudiosrc", 0,
      "SPICE playback (guest sound) source");

  gobject_class->set_property = gst_spice_audio_src_set_property;
  gobject_class->get_property = gst_spice_audio_src_get_property;
  gobject_class->finalize = gst_spice_audio_src_finalize;

  gst_spice_connection_install_properties (gobject_class);
  gst_spice_connection_install_source_properties (gobject_class);
  g_object_class_install_property (gobject_class, PROP_LATENCY,
      g_param_spec_uint ("latency", "Latency",
          "Milliseconds of latency reported for the sound, at least: how "
          "late a packet may arrive (network jitter, a busy guest) without "
          "being late downstream; it grows with the jitter seen, up to "
          "max-latency; silence is produced half of it behind real time, "
          "and what drift correction cannot absorb beyond half of it (40 "
          "ms at least with drift-correction) is resynced", 10, 1000,
          DEFAULT_LATENCY, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  /**
   * GstSpiceAudioSrc:max-latency:
   *
   * How far the latency may grow when packets come later than it allows
   * (a guest whose audio timer fires late on a busy host, then catches
   * up), and how long a missing packet is waited for while the guest
   * plays before silence fills in (an underrun).
   *
   * Since: 0.1
   */
  g_object_class_install_property (gobject_class, PROP_MAX_LATENCY,
      g_param_spec_uint ("max-latency", "Maximum latency",
          "Milliseconds the latency may grow to with the jitter seen, and "
          "how long sound is waited for while the guest plays before "
          "silence fills in", 10, 5000, DEFAULT_MAX_LATENCY,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  /**
   * GstSpiceAudioSrc:drift-correction:
   *
   * Whether a guest whose audio clock runs at another rate than ours is
   * followed by resampling (smoothly, once the drift shows), rather than
   * by resyncs (a click each).  Off, the samples always pass untouched.
   *
   * Since: 0.1
   */
  g_object_class_install_property (gobject_class, PROP_DRIFT_CORRECTION,
      g_param_spec_boolean ("drift-correction", "Drift correction",
          "Follow a guest clock that drifts by resampling (once the drift "
          "shows; the sound passes untouched until then) instead of "
          "resyncing", DEFAULT_DRIFT_CORRECTION,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_STATS,
      g_param_spec_boxed ("stats", "Statistics",
          "Counters: packets and frames received from the guest, "
          "silence-frames (produced while it plays nothing), "
          "dropped-frames (to catch up, or a stalled pipeline), "
          "stale-frames (buffered by the server before playback started), "
          "underruns (sound ran dry while the guest played), resyncs, "
          "resampling (drift correction engaged), drift-ppm (the guest "
          "clock's rate error as estimated), latency (ms, as reported now), "
          "rate, channels", GST_TYPE_STRUCTURE,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "SPICE sound source", "Source/Audio/Network",
      "The sound a SPICE guest plays (QEMU/KVM VM, Android container) as "
      "live raw audio; the audio half of spicesrc", "gst-spice developers");

  element_class->change_state =
      GST_DEBUG_FUNCPTR (gst_spice_audio_src_change_state);
  element_class->post_message =
      GST_DEBUG_FUNCPTR (gst_spice_audio_src_post_message);
  basesrc_class->start = GST_DEBUG_FUNCPTR (gst_spice_audio_src_start);
  basesrc_class->stop = GST_DEBUG_FUNCPTR (gst_spice_audio_src_stop);
  basesrc_class->unlock = GST_DEBUG_FUNCPTR (gst_spice_audio_src_unlock);
  basesrc_class->unlock_stop =
      GST_DEBUG_FUNCPTR (gst_spice_audio_src_unlock_stop);
  basesrc_class->query = GST_DEBUG_FUNCPTR (gst_spice_audio_src_query);
  basesrc_class->negotiate = GST_DEBUG_FUNCPTR (gst_spice_audio_src_negotiate);
  basesrc_class->event = GST_DEBUG_FUNCPTR (gst_spice_audio_src_event);
  pushsrc_class->create = GST_DEBUG_FUNCPTR (gst_spice_audio_src_create);
}

static void
gst_spice_audio_src_init (GstSpiceAudioSrc * self)
{
  gst_spice_connection_settings_init (&self->settings.conn);
  self->settings.latency = DEFAULT_LATENCY;
  self->settings.max_latency = DEFAULT_MAX_LATENCY;
  self->settings.drift_correction = DEFAULT_DRIFT_CORRECTION;
  g_atomic_int_set (&self->latency_ms, DEFAULT_LATENCY);
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  g_queue_init (&self->st.items);
  gst_base_src_set_live (GST_BASE_SRC (self), TRUE);
  gst_base_src_set_format (GST_BASE_SRC (self), GST_FORMAT_TIME);
}
