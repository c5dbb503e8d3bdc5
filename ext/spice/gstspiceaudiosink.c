/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
/**
 * SECTION:element-spiceaudiosink
 * @title: spiceaudiosink
 * @see_also: spicesrc
 *
 * spiceaudiosink sends the pipeline's audio into a SPICE guest's
 * microphone (the record channel): a voice-chat or cloud-gaming player's
 * microphone, a test signal, a file.
 *
 * While the guest records, each buffer is converted to what the guest asked
 * for (S16 at its rate and channels, resampled and remixed here, so any raw
 * audio can be linked) and handed to the SPICE client without waiting.
 * While the guest does not record, buffers are discarded at once.  At most
 * #GstSpiceAudioSink:buffer-time of audio waits for the network; more is
 * dropped and counted, so a slow connection never blocks the pipeline nor
 * grows a queue.  With the default sync=true the sink plays in real time on
 * the pipeline clock, as a sound card would.
 *
 * It shares the connection with every other SPICE element of the process
 * naming the same server (a SPICE server takes one client).
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 autoaudiosrc ! queue ! spiceaudiosink uri=spice://127.0.0.1:5900
 * ]| The local microphone into the guest's.
 * |[
 * gst-launch-1.0 spicesrc uri=spice://127.0.0.1:5900 name=s s.video ! queue ! videoconvert ! autovideosink \
 *     s.audio ! queue ! autoaudiosink  autoaudiosrc ! queue ! spiceaudiosink uri=spice://127.0.0.1:5900
 * ]| A VM with picture, sound and microphone, on one connection.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>
#include <gst/audio/audio.h>

#include "gstspiceaudiosink.h"

GST_DEBUG_CATEGORY_STATIC (gst_spice_audio_sink_debug);
#define GST_CAT_DEFAULT gst_spice_audio_sink_debug

#define DEFAULT_BUFFER_TIME 200

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_AUDIO_CAPS_MAKE (GST_AUDIO_FORMATS_ALL)
        ", layout = (string) interleaved"));

enum
{
  PROP_BUFFER_TIME = GST_SPICE_PROP_CONNECTION_LAST,
  PROP_STATS,
};

typedef struct
{
  GstSpiceConnectionSettings conn;
  guint buffer_time;            /* ms */
} Settings;

struct _GstSpiceAudioSink
{
  GstBaseSink parent;

  Settings settings;            /* GST_OBJECT_LOCK */

  /* start/stop (state change thread) */
  GstSpiceSession *session;
  guint listener_id;
  gchar *address;
  Settings active;

  GMutex lock;                  /* guards `st`, shared with the thread that
                                 * dispatches SPICE events */
  struct
  {
    gboolean attached;
    GstSpiceLinkState link;     /* the connection */
    gboolean recording;
    guint rate, channels;       /* what the guest asked for */
    guint cookie;               /* changes with every record-start */
    gsize in_flight;            /* bytes handed over, not yet sent */

    guint64 sent_frames, discarded_frames, dropped_frames;
  } st;

  /* streaming thread only */
  GstAudioInfo in_info;
  GstAudioConverter *converter;
  guint converter_cookie;
  guint out_rate, out_channels;
  gint64 start_us;
};

typedef struct
{
  GstSpiceAudioSink *self;
  gsize size;
} Write;

#define gst_spice_audio_sink_parent_class parent_class
G_DEFINE_TYPE (GstSpiceAudioSink, gst_spice_audio_sink, GST_TYPE_BASE_SINK);
GST_ELEMENT_REGISTER_DEFINE (spiceaudiosink, "spiceaudiosink",
    GST_RANK_NONE, GST_TYPE_SPICE_AUDIO_SINK);

/* ---------------------------------------------------------------------- */
/* Properties                                                             */

static GstStructure *
make_stats (GstSpiceAudioSink * self)
{
  GstStructure *s;

  g_mutex_lock (&self->lock);
  s = gst_structure_new ("application/x-spice-record-stats",
      "recording", G_TYPE_BOOLEAN, self->st.recording,
      "rate", G_TYPE_UINT, self->st.rate,
      "channels", G_TYPE_UINT, self->st.channels,
      "sent-frames", G_TYPE_UINT64, self->st.sent_frames,
      "discarded-frames", G_TYPE_UINT64, self->st.discarded_frames,
      "dropped-frames", G_TYPE_UINT64, self->st.dropped_frames, NULL);
  g_mutex_unlock (&self->lock);
  return s;
}

static void
gst_spice_audio_sink_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstSpiceAudioSink *self = GST_SPICE_AUDIO_SINK (object);

  GST_OBJECT_LOCK (self);
  if (!gst_spice_connection_set_property (&self->settings.conn, prop_id,
          value)) {
    switch (prop_id) {
      case PROP_BUFFER_TIME:
        self->settings.buffer_time = g_value_get_uint (value);
        break;
      default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
        break;
    }
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_spice_audio_sink_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstSpiceAudioSink *self = GST_SPICE_AUDIO_SINK (object);

  if (prop_id == PROP_STATS) {
    g_value_take_boxed (value, make_stats (self));
    return;
  }
  GST_OBJECT_LOCK (self);
  if (!gst_spice_connection_get_property (&self->settings.conn, prop_id,
          value)) {
    switch (prop_id) {
      case PROP_BUFFER_TIME:
        g_value_set_uint (value, self->settings.buffer_time);
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

static void
on_record_start (gpointer user_data, guint channels, guint rate)
{
  GstSpiceAudioSink *self = user_data;

  GST_INFO_OBJECT (self, "guest records %u Hz, %u channels", rate, channels);
  g_mutex_lock (&self->lock);
  self->st.recording = TRUE;
  self->st.rate = rate;
  self->st.channels = channels;
  self->st.cookie++;
  g_mutex_unlock (&self->lock);
}

static void
on_record_stop (gpointer user_data)
{
  GstSpiceAudioSink *self = user_data;

  GST_INFO_OBJECT (self, "guest stopped recording");
  g_mutex_lock (&self->lock);
  self->st.recording = FALSE;
  g_mutex_unlock (&self->lock);
}

static void
on_state (gpointer user_data, GstSpiceSessionState state,
    const GError * error, const gchar * debug)
{
  GstSpiceAudioSink *self = user_data;

  g_mutex_lock (&self->lock);
  gst_spice_link_state_update (&self->st.link, state, error, debug);
  g_mutex_unlock (&self->lock);
}

static const GstSpiceRecordCallbacks record_callbacks = {
  on_record_start,
  on_record_stop,
  on_state,
};

static void
write_done (gpointer data)
{
  Write *w = data;

  g_mutex_lock (&w->self->lock);
  w->self->st.in_flight -= MIN (w->self->st.in_flight, w->size);
  g_mutex_unlock (&w->self->lock);
  gst_object_unref (w->self);
  g_free (w);
}

/* ---------------------------------------------------------------------- */
/* GstBaseSink                                                            */

static gboolean
gst_spice_audio_sink_start (GstBaseSink * sink)
{
  GstSpiceAudioSink *self = GST_SPICE_AUDIO_SINK (sink);

  GST_OBJECT_LOCK (self);
  gst_spice_connection_settings_clear (&self->active.conn);
  self->active = self->settings;
  gst_spice_connection_settings_copy (&self->active.conn,
      &self->settings.conn);
  GST_OBJECT_UNLOCK (self);

  self->session = gst_spice_connection_acquire (GST_ELEMENT (self),
      &self->active.conn, GST_SPICE_SESSION_FEATURE_AUDIO);
  if (!self->session)
    return FALSE;

  g_mutex_lock (&self->lock);
  memset (&self->st, 0, sizeof (self->st));
  self->st.attached = TRUE;
  g_mutex_unlock (&self->lock);
  self->converter_cookie = 0;
  self->start_us = g_get_monotonic_time ();

  g_free (self->address);
  self->address = g_strdup (gst_spice_session_get_address (self->session));
  self->listener_id = gst_spice_session_add_record_listener (self->session,
      &record_callbacks, gst_object_ref (self), gst_object_unref);
  return TRUE;
}

static gboolean
gst_spice_audio_sink_stop (GstBaseSink * sink)
{
  GstSpiceAudioSink *self = GST_SPICE_AUDIO_SINK (sink);

  if (self->session) {
    gst_spice_session_remove_listener (self->session, self->listener_id);
    gst_spice_session_release (self->session);
    self->session = NULL;
  }
  g_mutex_lock (&self->lock);
  self->st.attached = FALSE;
  self->st.recording = FALSE;
  gst_spice_link_state_clear (&self->st.link);
  g_mutex_unlock (&self->lock);
  g_clear_pointer (&self->converter, gst_audio_converter_free);
  gst_spice_connection_settings_clear (&self->active.conn);
  return TRUE;
}

static gboolean
gst_spice_audio_sink_set_caps (GstBaseSink * sink, GstCaps * caps)
{
  GstSpiceAudioSink *self = GST_SPICE_AUDIO_SINK (sink);

  if (!gst_audio_info_from_caps (&self->in_info, caps)) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("Unusable audio caps"),
        ("%" GST_PTR_FORMAT, caps));
    return FALSE;
  }
  /* rebuilt for the new input at the next buffer */
  g_clear_pointer (&self->converter, gst_audio_converter_free);
  return TRUE;
}

static gboolean
ensure_converter (GstSpiceAudioSink * self, guint cookie, guint rate,
    guint channels)
{
  GstAudioInfo out;

  if (self->converter && self->converter_cookie == cookie)
    return TRUE;
  g_clear_pointer (&self->converter, gst_audio_converter_free);
  gst_audio_info_set_format (&out, GST_AUDIO_FORMAT_S16, rate, channels,
      NULL);
  self->converter = gst_audio_converter_new (GST_AUDIO_CONVERTER_FLAG_NONE,
      &self->in_info, &out, NULL);
  if (!self->converter) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("Cannot convert %s %d Hz %d channels to what the guest records "
            "(S16, %u Hz, %u channels)",
            GST_AUDIO_INFO_NAME (&self->in_info),
            GST_AUDIO_INFO_RATE (&self->in_info),
            GST_AUDIO_INFO_CHANNELS (&self->in_info), rate, channels),
        (NULL));
    return FALSE;
  }
  GST_INFO_OBJECT (self, "converting %s %d Hz %d ch to S16 %u Hz %u ch",
      GST_AUDIO_INFO_NAME (&self->in_info),
      GST_AUDIO_INFO_RATE (&self->in_info),
      GST_AUDIO_INFO_CHANNELS (&self->in_info), rate, channels);
  self->converter_cookie = cookie;
  self->out_rate = rate;
  self->out_channels = channels;
  return TRUE;
}

static GstFlowReturn
gst_spice_audio_sink_render (GstBaseSink * sink, GstBuffer * buffer)
{
  GstSpiceAudioSink *self = GST_SPICE_AUDIO_SINK (sink);
  gboolean recording, connected;
  guint cookie, rate, channels;
  gsize in_flight, max_bytes, out_size;
  gsize in_frames, out_frames;
  GstMapInfo map;
  gpointer in[1], out[1];
  guint8 *data;
  Write *w;
  GBytes *bytes;

  if (!GST_AUDIO_INFO_IS_VALID (&self->in_info))
    return GST_FLOW_NOT_NEGOTIATED;
  in_frames = gst_buffer_get_size (buffer) /
      GST_AUDIO_INFO_BPF (&self->in_info);

  g_mutex_lock (&self->lock);
  if (self->st.link.error)
    goto session_error;
  connected = self->st.link.connected;
  recording = self->st.recording;
  cookie = self->st.cookie;
  rate = self->st.rate;
  channels = self->st.channels;
  in_flight = self->st.in_flight;
  if (!recording)
    self->st.discarded_frames += in_frames;
  g_mutex_unlock (&self->lock);

  if (!connected && g_get_monotonic_time () > self->start_us +
      (gint64) self->active.conn.connect_timeout * 1000) {
    gst_spice_connection_post_timeout (GST_ELEMENT (self), self->address,
        FALSE, self->active.conn.connect_timeout, "answer");
    return GST_FLOW_ERROR;
  }
  if (!recording || in_frames == 0)
    return GST_FLOW_OK;

  if (!ensure_converter (self, cookie, rate, channels))
    return GST_FLOW_NOT_NEGOTIATED;

  out_frames = gst_audio_converter_get_out_frames (self->converter,
      in_frames);
  out_size = out_frames * channels * 2;
  max_bytes = gst_util_uint64_scale_int (self->active.buffer_time, rate,
      1000) * channels * 2;
  data = g_malloc (MAX (out_size, 1));
  if (!gst_buffer_map (buffer, &map, GST_MAP_READ)) {
    g_free (data);
    GST_ELEMENT_ERROR (self, RESOURCE, READ, ("Could not map a buffer"),
        (NULL));
    return GST_FLOW_ERROR;
  }
  in[0] = map.data;
  out[0] = data;
  /* always through the converter, so the resampler's state stays whole */
  if (!gst_audio_converter_samples (self->converter,
          GST_AUDIO_CONVERTER_FLAG_NONE, in, in_frames, out, out_frames)) {
    gst_buffer_unmap (buffer, &map);
    g_free (data);
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("Audio conversion failed"),
        (NULL));
    return GST_FLOW_ERROR;
  }
  gst_buffer_unmap (buffer, &map);

  if (out_frames == 0) {
    g_free (data);
    return GST_FLOW_OK;
  }
  if (in_flight + out_size > max_bytes) {
    GST_LOG_OBJECT (self, "%" G_GSIZE_FORMAT " bytes still in flight: "
        "dropping %" G_GSIZE_FORMAT " frames", in_flight, out_frames);
    g_free (data);
    g_mutex_lock (&self->lock);
    self->st.dropped_frames += out_frames;
    g_mutex_unlock (&self->lock);
    return GST_FLOW_OK;
  }

  g_mutex_lock (&self->lock);
  self->st.in_flight += out_size;
  self->st.sent_frames += out_frames;
  g_mutex_unlock (&self->lock);
  w = g_new0 (Write, 1);
  w->self = gst_object_ref (self);
  w->size = out_size;
  bytes = g_bytes_new_take (data, out_size);
  gst_spice_session_record_write (self->session, bytes, write_done, w);
  g_bytes_unref (bytes);
  return GST_FLOW_OK;

  /* ERRORS */
session_error:
  {
    gst_spice_link_state_post_error (GST_ELEMENT (self), &self->st.link,
        &self->lock);
    g_mutex_unlock (&self->lock);
    return GST_FLOW_ERROR;
  }
}

static GstStateChangeReturn
gst_spice_audio_sink_change_state (GstElement * element,
    GstStateChange transition)
{
  GstSpiceAudioSink *self = GST_SPICE_AUDIO_SINK (element);

  if (transition == GST_STATE_CHANGE_NULL_TO_READY &&
      !gst_spice_connection_check (element, &self->settings.conn))
    return GST_STATE_CHANGE_FAILURE;
  return GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
}

/* ---------------------------------------------------------------------- */
/* Class                                                                  */

static void
gst_spice_audio_sink_finalize (GObject * object)
{
  GstSpiceAudioSink *self = GST_SPICE_AUDIO_SINK (object);

  gst_spice_connection_settings_clear (&self->settings.conn);
  g_free (self->address);
  g_mutex_clear (&self->lock);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_spice_audio_sink_class_init (GstSpiceAudioSinkClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSinkClass *basesink_class = GST_BASE_SINK_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_spice_audio_sink_debug, "spiceaudiosink", 0,
      "SPICE record (guest microphone) sink");

  gobject_class->set_property = gst_spice_audio_sink_set_property;
  gobject_class->get_property = gst_spice_audio_sink_get_property;
  gobject_class->finalize = gst_spice_audio_sink_finalize;

  gst_spice_connection_install_properties (gobject_class);
  g_object_class_install_property (gobject_class, PROP_BUFFER_TIME,
      g_param_spec_uint ("buffer-time", "Buffer time",
          "Milliseconds of audio that may wait for the network; what comes "
          "beyond is dropped (and counted) instead of blocking", 10, 10000,
          DEFAULT_BUFFER_TIME, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_STATS,
      g_param_spec_boxed ("stats", "Statistics",
          "recording (whether the guest records now), rate and channels it "
          "asked for, sent-frames, discarded-frames (while it did not "
          "record), dropped-frames (beyond buffer-time)", GST_TYPE_STRUCTURE,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_set_static_metadata (element_class,
      "SPICE microphone sink", "Sink/Audio/Network",
      "Sends audio into a SPICE guest's microphone (record channel), "
      "converted to what the guest records", "gst-spice developers");

  element_class->change_state =
      GST_DEBUG_FUNCPTR (gst_spice_audio_sink_change_state);
  basesink_class->start = GST_DEBUG_FUNCPTR (gst_spice_audio_sink_start);
  basesink_class->stop = GST_DEBUG_FUNCPTR (gst_spice_audio_sink_stop);
  basesink_class->set_caps = GST_DEBUG_FUNCPTR (gst_spice_audio_sink_set_caps);
  basesink_class->render = GST_DEBUG_FUNCPTR (gst_spice_audio_sink_render);
}

static void
gst_spice_audio_sink_init (GstSpiceAudioSink * self)
{
  gst_spice_connection_settings_init (&self->settings.conn);
  self->settings.buffer_time = DEFAULT_BUFFER_TIME;
  g_mutex_init (&self->lock);
  gst_base_sink_set_sync (GST_BASE_SINK (self), TRUE);
}
