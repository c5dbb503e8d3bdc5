/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
/**
 * SECTION:element-spicedatasink
 * @title: spicedatasink
 * @see_also: spicedatasrc, spicesrc
 *
 * spicedatasink writes its buffers into a SPICE port: a named virtio
 * serial port of the guest (QEMU: `-chardev spiceport,id=p0,name=NAME
 * -device virtserialport,chardev=p0,name=NAME`, seen in the guest as
 * `/dev/virtio-ports/NAME`).  Control messages and input of a cloud-gaming
 * or cloud-phone player reach the guest this way.
 *
 * Bytes arrive lossless and in order.  Each buffer stays mapped (no copy)
 * until spice-client-glib has written it to the socket; at most
 * #GstSpiceDataSink:max-in-flight bytes are on their way at any time, so a
 * slow guest slows the pipeline down instead of filling memory.  The sink
 * waits up to #GstSpiceDataSink:open-timeout for the guest to open the
 * port; should the guest close it mid-stream, that is an error, or a wait
 * for it to open again with #GstSpiceDataSink:wait-on-close.  EOS waits
 * until every byte is written, #GstSpiceDataSink:drain-timeout at most.  With `framing=length-prefix` each buffer is
 * sent as one message, preceded by its length (4 bytes, big-endian), so
 * message boundaries survive the byte stream (spicedatasrc undoes it).
 *
 * It shares the connection with every SPICE element of the process naming
 * the same server.  It does not sync on the clock and does not preroll
 * (sync and async are off), so it can sit in one pipeline with live
 * sources such as spicesrc or spicedatasrc.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 fdsrc fd=0 ! spicedatasink uri=spice://127.0.0.1:5900 port-name=org.example.control
 * ]| What is typed goes to the guest's port.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>

#include <gio/gio.h>

#include "gstspicedatasink.h"

GST_DEBUG_CATEGORY_STATIC (gst_spice_data_sink_debug);
#define GST_CAT_DEFAULT gst_spice_data_sink_debug

#define DEFAULT_MAX_IN_FLIGHT (4u << 20)
#define DEFAULT_DRAIN_TIMEOUT 3000
/* a buffer goes out in writes of at most this size (SPICE messages) */
#define CHUNK_SIZE (64u << 10)
/* how long stop() lets writes on their way finish */
#define STOP_DRAIN_US (500 * G_TIME_SPAN_MILLISECOND)

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

enum
{
  PROP_MAX_IN_FLIGHT = GST_SPICE_PORT_PROP_LAST,
  PROP_DRAIN_TIMEOUT,
  PROP_STATS,
};

typedef struct
{
  GstSpicePortSettings port;
  guint max_in_flight;
  guint drain_timeout;          /* ms, 0: as long as it takes */
} Settings;

struct _GstSpiceDataSink
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
  GCond cond;
  struct
  {
    gboolean flushing;
    GstSpiceLinkState link;     /* the connection */
    GError *write_error;        /* a write failed */
    gboolean port_known;        /* the server has the port */
    gboolean opened;            /* the guest has it open */
    gboolean ever_opened;
    gsize in_flight;            /* bytes handed over, not yet written */
    guint waiters;              /* threads in g_cond_wait on cond */

    guint64 bytes_written, writes, messages, lost_bytes;
    guint64 undelivered_bytes;  /* still in flight when EOS gave up */
  } st;
};

/* a mapped buffer, kept until its last write completed */
typedef struct
{
  GstBuffer *buffer;
  GstMapInfo map;
} Mapping;

typedef struct
{
  GstSpiceDataSink *self;
  gsize size;
} Write;

#define gst_spice_data_sink_parent_class parent_class
G_DEFINE_TYPE (GstSpiceDataSink, gst_spice_data_sink, GST_TYPE_BASE_SINK);
GST_ELEMENT_REGISTER_DEFINE (spicedatasink, "spicedatasink", GST_RANK_NONE,
    GST_TYPE_SPICE_DATA_SINK);

/* ---------------------------------------------------------------------- */
/* Properties                                                             */

static GstStructure *
make_stats (GstSpiceDataSink * self)
{
  GstStructure *s;

  g_mutex_lock (&self->lock);
  s = gst_structure_new ("application/x-spice-port-sink-stats",
      "bytes-written", G_TYPE_UINT64, self->st.bytes_written,
      "writes", G_TYPE_UINT64, self->st.writes,
      "messages", G_TYPE_UINT64, self->st.messages,
      "in-flight", G_TYPE_UINT64, (guint64) self->st.in_flight,
      "lost-bytes", G_TYPE_UINT64, self->st.lost_bytes,
      "undelivered-bytes", G_TYPE_UINT64, self->st.undelivered_bytes,
      "opened", G_TYPE_BOOLEAN, self->st.opened, NULL);
  g_mutex_unlock (&self->lock);
  return s;
}

static void
gst_spice_data_sink_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstSpiceDataSink *self = GST_SPICE_DATA_SINK (object);

  GST_OBJECT_LOCK (self);
  if (!gst_spice_port_set_property (&self->settings.port, prop_id, value)) {
    switch (prop_id) {
      case PROP_MAX_IN_FLIGHT:
        self->settings.max_in_flight = g_value_get_uint (value);
        break;
      case PROP_DRAIN_TIMEOUT:
        self->settings.drain_timeout = g_value_get_uint (value);
        break;
      default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
        break;
    }
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_spice_data_sink_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstSpiceDataSink *self = GST_SPICE_DATA_SINK (object);

  if (prop_id == PROP_STATS) {
    g_value_take_boxed (value, make_stats (self));
    return;
  }
  GST_OBJECT_LOCK (self);
  if (!gst_spice_port_get_property (&self->settings.port, prop_id, value)) {
    switch (prop_id) {
      case PROP_MAX_IN_FLIGHT:
        g_value_set_uint (value, self->settings.max_in_flight);
        break;
      case PROP_DRAIN_TIMEOUT:
        g_value_set_uint (value, self->settings.drain_timeout);
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
on_port_opened (gpointer user_data, gboolean opened)
{
  GstSpiceDataSink *self = user_data;

  g_mutex_lock (&self->lock);
  self->st.port_known = TRUE;
  self->st.opened = opened;
  self->st.ever_opened |= opened;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

static void
on_state (gpointer user_data, GstSpiceSessionState state,
    const GError * error, const gchar * debug)
{
  GstSpiceDataSink *self = user_data;

  g_mutex_lock (&self->lock);
  switch (state) {
    case GST_SPICE_SESSION_LOST:
      /* the port goes with the connection; it comes back (reconnect) */
      self->st.port_known = FALSE;
      self->st.opened = FALSE;
      break;
    default:
      break;
  }
  gst_spice_link_state_update (&self->st.link, state, error, debug);
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

static const GstSpicePortCallbacks port_callbacks = {
  on_port_opened,
  NULL,
  on_state,
};

static void
write_done (gpointer user_data, const GError * error)
{
  Write *w = user_data;
  GstSpiceDataSink *self = w->self;

  g_mutex_lock (&self->lock);
  self->st.in_flight -= MIN (self->st.in_flight, w->size);
  if (error) {
    if (!self->st.opened || !self->st.port_known ||
        g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CLOSED)) {
      /* the guest (or the connection) closed the port under it */
      self->st.lost_bytes += w->size;
    } else if (!self->st.write_error) {
      self->st.write_error = g_error_copy (error);
    }
  } else {
    self->st.bytes_written += w->size;
    self->st.writes++;
  }
  /* the streaming thread, when it waits, is woken once half the room is
   * free (not per write), on an error, or when all is written (EOS) */
  if (self->st.waiters > 0 && (self->st.in_flight <=
          self->active.max_in_flight / 2 || self->st.write_error || error))
    g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

static void
write_free (gpointer user_data)
{
  Write *w = user_data;

  gst_object_unref (w->self);
  g_free (w);
}

/* ---------------------------------------------------------------------- */
/* GstBaseSink                                                            */

static gboolean
gst_spice_data_sink_start (GstBaseSink * sink)
{
  GstSpiceDataSink *self = GST_SPICE_DATA_SINK (sink);

  GST_OBJECT_LOCK (self);
  gst_spice_port_settings_clear (&self->active.port);
  self->active = self->settings;
  gst_spice_port_settings_copy (&self->active.port, &self->settings.port);
  GST_OBJECT_UNLOCK (self);

  self->session = gst_spice_connection_acquire (GST_ELEMENT (self),
      &self->active.port.conn, GST_SPICE_SESSION_FEATURE_NONE);
  if (!self->session)
    return FALSE;
  g_mutex_lock (&self->lock);
  memset (&self->st, 0, sizeof (self->st));
  g_mutex_unlock (&self->lock);
  g_free (self->address);
  self->address = g_strdup (gst_spice_session_get_address (self->session));
  self->listener_id = gst_spice_session_add_port_listener (self->session,
      self->active.port.port_name, &port_callbacks, gst_object_ref (self),
      gst_object_unref);
  return TRUE;
}

static gboolean
gst_spice_data_sink_stop (GstBaseSink * sink)
{
  GstSpiceDataSink *self = GST_SPICE_DATA_SINK (sink);

  if (self->session) {
    gint64 deadline = g_get_monotonic_time () + STOP_DRAIN_US;

    /* Let writes on their way finish first (they take milliseconds):
     * spice-client-glib 0.42 complains (criticals) about port messages
     * still queued when its session goes.  Bounded, as a guest that keeps
     * the port closed holds them for good; skipped in the thread that
     * would have to run their callbacks. */
    g_mutex_lock (&self->lock);
    while (self->st.in_flight > 0 && !gst_spice_session_in_spice_thread ()) {
      gboolean woken;

      self->st.waiters++;
      woken = g_cond_wait_until (&self->cond, &self->lock, deadline);
      self->st.waiters--;
      if (!woken) {
        GST_WARNING_OBJECT (self, "%" G_GSIZE_FORMAT " bytes still on their "
            "way to the guest at stop", self->st.in_flight);
        break;
      }
    }
    g_mutex_unlock (&self->lock);
    gst_spice_session_remove_listener (self->session, self->listener_id);
    /* writes still in flight hold a reference to us and end with the
     * connection at the latest */
    gst_spice_session_release (self->session);
    self->session = NULL;
  }
  g_mutex_lock (&self->lock);
  gst_spice_link_state_clear (&self->st.link);
  g_clear_error (&self->st.write_error);
  g_mutex_unlock (&self->lock);
  gst_spice_port_settings_clear (&self->active.port);
  return TRUE;
}

static gboolean
gst_spice_data_sink_unlock (GstBaseSink * sink)
{
  GstSpiceDataSink *self = GST_SPICE_DATA_SINK (sink);

  g_mutex_lock (&self->lock);
  self->st.flushing = TRUE;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  return TRUE;
}

static gboolean
gst_spice_data_sink_unlock_stop (GstBaseSink * sink)
{
  GstSpiceDataSink *self = GST_SPICE_DATA_SINK (sink);

  g_mutex_lock (&self->lock);
  self->st.flushing = FALSE;
  g_mutex_unlock (&self->lock);
  return TRUE;
}

/* Checks what stops writing, with self->lock held: FLUSHING, or an error
 * posted; GST_FLOW_OK when writing may go on (or must wait: *wait). */
static GstFlowReturn
check_locked (GstSpiceDataSink * self, gboolean * wait, gint64 deadline)
{
  const gchar *port = self->active.port.port_name;

  *wait = FALSE;
  if (self->st.flushing)
    return GST_FLOW_FLUSHING;
  if (self->st.link.error) {
    gst_spice_link_state_post_error (GST_ELEMENT (self), &self->st.link,
        &self->lock);
    return GST_FLOW_ERROR;
  }
  if (self->st.ever_opened && !self->st.opened && self->st.port_known &&
      !self->active.port.wait_on_close) {
    g_mutex_unlock (&self->lock);
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
        ("The guest closed SPICE port '%s' on %s", port, self->address),
        ("set wait-on-close=true to wait for it to open again"));
    g_mutex_lock (&self->lock);
    return GST_FLOW_ERROR;
  }
  if (self->st.write_error) {
    GError *err = g_error_copy (self->st.write_error);

    g_mutex_unlock (&self->lock);
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
        ("Could not write to SPICE port '%s' on %s", port, self->address),
        ("%s", err->message));
    g_error_free (err);
    g_mutex_lock (&self->lock);
    return GST_FLOW_ERROR;
  }
  if (!self->st.opened) {
    if (!self->st.ever_opened && deadline > 0 &&
        g_get_monotonic_time () >= deadline) {
      gboolean known = self->st.port_known;
      gboolean connected = self->st.link.connected;
      guint ms = self->active.port.open_timeout;

      g_mutex_unlock (&self->lock);
      /* a server that never answered has no ports to tell of */
      if (!connected)
        GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
            ("Could not connect to SPICE server %s: no answer within %u ms",
                self->address, ms), ("so port '%s' could not be opened",
                port));
      else if (known)
        GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
            ("The guest did not open SPICE port '%s' on %s within %u ms",
                port, self->address, ms),
            ("the port exists; nothing in the guest opened it"));
      else
        GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE,
            ("SPICE server %s has no port '%s' (waited %u ms)",
                self->address, port, ms),
            ("QEMU: -chardev spiceport,name=%s and a virtserialport", port));
      g_mutex_lock (&self->lock);
      return GST_FLOW_ERROR;
    }
    *wait = TRUE;
  }
  return GST_FLOW_OK;
}

/* Hands @bytes to the port once it is open and the bytes in flight leave
 * room (or none are in flight). */
static GstFlowReturn
write_bytes (GstSpiceDataSink * self, GBytes * bytes, gint64 deadline)
{
  gsize size = g_bytes_get_size (bytes);
  GstFlowReturn ret;
  gboolean wait;
  Write *w;

  g_mutex_lock (&self->lock);
  for (;;) {
    ret = check_locked (self, &wait, deadline);
    if (ret != GST_FLOW_OK)
      break;
    if (!wait && (self->st.in_flight == 0 ||
            self->st.in_flight + size <= self->active.max_in_flight))
      break;
    /* a port that is not open yet, or back-pressure */
    self->st.waiters++;
    if (wait && !self->st.ever_opened && deadline > 0)
      g_cond_wait_until (&self->cond, &self->lock, deadline);
    else
      g_cond_wait (&self->cond, &self->lock);
    self->st.waiters--;
  }
  if (ret == GST_FLOW_OK)
    self->st.in_flight += size;
  g_mutex_unlock (&self->lock);
  if (ret != GST_FLOW_OK)
    return ret;

  w = g_new0 (Write, 1);
  w->self = gst_object_ref (self);
  w->size = size;
  gst_spice_session_port_write (self->session, self->active.port.port_name,
      bytes, write_done, w, write_free);
  return GST_FLOW_OK;
}

static void
mapping_free (gpointer data)
{
  Mapping *m = data;

  gst_buffer_unmap (m->buffer, &m->map);
  gst_buffer_unref (m->buffer);
  g_free (m);
}

static GstFlowReturn
gst_spice_data_sink_render (GstBaseSink * sink, GstBuffer * buffer)
{
  GstSpiceDataSink *self = GST_SPICE_DATA_SINK (sink);
  gint64 deadline = self->active.port.open_timeout > 0 ?
      g_get_monotonic_time () + (gint64) self->active.port.open_timeout *
      1000 : 0;
  GstFlowReturn ret = GST_FLOW_OK;
  Mapping *m = g_new0 (Mapping, 1);
  GBytes *whole;
  gsize off;

  m->buffer = gst_buffer_ref (buffer);
  if (!gst_buffer_map (buffer, &m->map, GST_MAP_READ)) {
    gst_buffer_unref (m->buffer);
    g_free (m);
    GST_ELEMENT_ERROR (self, RESOURCE, READ, ("Could not map a buffer"),
        (NULL));
    return GST_FLOW_ERROR;
  }
  /* no copy: the mapping lives until the last chunk is written */
  whole = g_bytes_new_with_free_func (m->map.data, m->map.size, mapping_free,
      m);

  if (self->active.port.framing == GST_SPICE_PORT_FRAMING_LENGTH_PREFIX) {
    guint8 header[4];
    GBytes *h;
    gsize size = g_bytes_get_size (whole);

    if (size > GST_SPICE_PORT_MAX_MESSAGE) {
      /* (frees the mapping, m with it) */
      g_bytes_unref (whole);
      GST_ELEMENT_ERROR (self, STREAM, FAILED,
          ("A message of %" G_GSIZE_FORMAT " bytes is over the framing "
              "limit of %u", size, GST_SPICE_PORT_MAX_MESSAGE), (NULL));
      return GST_FLOW_ERROR;
    }
    GST_WRITE_UINT32_BE (header, (guint32) g_bytes_get_size (whole));
    h = g_bytes_new (header, sizeof (header));
    ret = write_bytes (self, h, deadline);
    g_bytes_unref (h);
  }
  for (off = 0; ret == GST_FLOW_OK && off < g_bytes_get_size (whole);
      off += CHUNK_SIZE) {
    GBytes *chunk = g_bytes_new_from_bytes (whole, off,
        MIN (CHUNK_SIZE, g_bytes_get_size (whole) - off));
    ret = write_bytes (self, chunk, deadline);
    g_bytes_unref (chunk);
  }
  g_bytes_unref (whole);
  if (ret == GST_FLOW_OK) {
    g_mutex_lock (&self->lock);
    self->st.messages++;
    g_mutex_unlock (&self->lock);
  }
  return ret;
}

/* EOS: every byte written first */
static gboolean
gst_spice_data_sink_event (GstBaseSink * sink, GstEvent * event)
{
  GstSpiceDataSink *self = GST_SPICE_DATA_SINK (sink);

  if (GST_EVENT_TYPE (event) == GST_EVENT_EOS) {
    GstFlowReturn ret = GST_FLOW_OK;
    gboolean wait;
    guint timeout = self->active.drain_timeout;
    gint64 deadline = timeout > 0 ?
        g_get_monotonic_time () + (gint64) timeout * 1000 : G_MAXINT64;
    gsize undelivered = 0;

    g_mutex_lock (&self->lock);
    while (self->st.in_flight > 0) {
      gboolean woken;

      ret = check_locked (self, &wait, 0);
      if (ret != GST_FLOW_OK)
        break;
      self->st.waiters++;
      woken = g_cond_wait_until (&self->cond, &self->lock, deadline);
      self->st.waiters--;
      if (!woken && self->st.in_flight > 0) {
        /* a stalled link (or guest) would hold EOS for good */
        undelivered = self->st.in_flight;
        self->st.undelivered_bytes += undelivered;
        break;
      }
    }
    if (ret == GST_FLOW_OK && !undelivered)
      ret = check_locked (self, &wait, 0);
    GST_DEBUG_OBJECT (self, "EOS after %" G_GUINT64_FORMAT " bytes written",
        self->st.bytes_written);
    g_mutex_unlock (&self->lock);
    if (undelivered)
      GST_ELEMENT_WARNING (self, RESOURCE, WRITE,
          ("%" G_GSIZE_FORMAT " bytes were still on their way to SPICE port "
              "'%s' on %s after %u ms: EOS without them", undelivered,
              self->active.port.port_name, self->address, timeout),
          ("drain-timeout expired; the link or the guest does not take "
              "them"));
    if (ret != GST_FLOW_OK) {
      gst_event_unref (event);
      return FALSE;
    }
  }
  return GST_BASE_SINK_CLASS (parent_class)->event (sink, event);
}

static GstStateChangeReturn
gst_spice_data_sink_change_state (GstElement * element,
    GstStateChange transition)
{
  GstSpiceDataSink *self = GST_SPICE_DATA_SINK (element);

  if (transition == GST_STATE_CHANGE_NULL_TO_READY &&
      !gst_spice_port_check (element, &self->settings.port))
    return GST_STATE_CHANGE_FAILURE;
  return GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
}

/* ---------------------------------------------------------------------- */
/* Class                                                                  */

static void
gst_spice_data_sink_finalize (GObject * object)
{
  GstSpiceDataSink *self = GST_SPICE_DATA_SINK (object);

  gst_spice_port_settings_clear (&self->settings.port);
  g_free (self->address);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_spice_data_sink_class_init (GstSpiceDataSinkClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSinkClass *basesink_class = GST_BASE_SINK_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_spice_data_sink_debug, "spicedatasink", 0,
      "SPICE port sink");

  gobject_class->set_property = gst_spice_data_sink_set_property;
  gobject_class->get_property = gst_spice_data_sink_get_property;
  gobject_class->finalize = gst_spice_data_sink_finalize;

  gst_spice_port_install_properties (gobject_class,
      "When the guest closes the port mid-stream, wait for it to open again "
      "(writes in flight complete then) instead of failing with an error");
  g_object_class_install_property (gobject_class, PROP_MAX_IN_FLIGHT,
      g_param_spec_uint ("max-in-flight", "Max in flight",
          "Bytes handed to the SPICE client and not yet written to the "
          "socket, at most (a buffer larger than this goes alone)", 1,
          G_MAXINT, DEFAULT_MAX_IN_FLIGHT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_DRAIN_TIMEOUT,
      g_param_spec_uint ("drain-timeout", "Drain timeout",
          "How long EOS waits (ms) for bytes still on their way to the "
          "guest (a stalled link or guest never takes them); then EOS goes "
          "on with a warning and the bytes count as undelivered-bytes in "
          "stats.  0: as long as it takes", 0, G_MAXINT,
          DEFAULT_DRAIN_TIMEOUT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_STATS,
      g_param_spec_boxed ("stats", "Statistics",
          "bytes-written (on the socket), writes, messages (buffers), "
          "in-flight, lost-bytes (writes that failed after the guest closed "
          "the port), undelivered-bytes (still on their way when EOS stopped "
          "waiting, see drain-timeout), opened", GST_TYPE_STRUCTURE,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_set_static_metadata (element_class,
      "SPICE port sink", "Sink/Network",
      "Writes bytes into a named SPICE port of the guest (virtio serial)",
      "gst-spice developers");

  element_class->change_state =
      GST_DEBUG_FUNCPTR (gst_spice_data_sink_change_state);
  basesink_class->start = GST_DEBUG_FUNCPTR (gst_spice_data_sink_start);
  basesink_class->stop = GST_DEBUG_FUNCPTR (gst_spice_data_sink_stop);
  basesink_class->unlock = GST_DEBUG_FUNCPTR (gst_spice_data_sink_unlock);
  basesink_class->unlock_stop =
      GST_DEBUG_FUNCPTR (gst_spice_data_sink_unlock_stop);
  basesink_class->render = GST_DEBUG_FUNCPTR (gst_spice_data_sink_render);
  basesink_class->event = GST_DEBUG_FUNCPTR (gst_spice_data_sink_event);
}

static void
gst_spice_data_sink_init (GstSpiceDataSink * self)
{
  gst_spice_port_settings_init (&self->settings.port);
  self->settings.max_in_flight = DEFAULT_MAX_IN_FLIGHT;
  self->settings.drain_timeout = DEFAULT_DRAIN_TIMEOUT;
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  /* bytes go when they come, not on a clock; and no preroll, so that a
   * pipeline that also holds a live source (spicesrc, spicedatasrc) does
   * not wait for this branch to reach PLAYING */
  gst_base_sink_set_sync (GST_BASE_SINK (self), FALSE);
  gst_base_sink_set_async_enabled (GST_BASE_SINK (self), FALSE);
}
