/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
/**
 * SECTION:element-spicedatasrc
 * @title: spicedatasrc
 * @see_also: spicedatasink, spicesrc
 *
 * spicedatasrc pushes what the guest writes into a SPICE port (a named
 * virtio serial port: QEMU `-chardev spiceport,id=p0,name=NAME -device
 * virtserialport,chardev=p0,name=NAME`): replies and events of a guest
 * application, for a cloud-gaming or cloud-phone service to read.
 *
 * It is a live source: buffers are stamped with the running time they
 * arrived at.  With `framing=length-prefix` the stream is cut back into
 * the messages spicedatasink (or the guest) framed with a 4-byte
 * big-endian length, one buffer each.  When the guest closes the port the
 * stream ends (EOS), or with #GstSpiceDataSrc:wait-on-close waits for it
 * to open again.  The caps are #GstSpiceDataSrc:caps
 * (`application/octet-stream` unless set).
 *
 * It shares the connection with every SPICE element of the process naming
 * the same server.
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 spicedatasrc uri=spice://127.0.0.1:5900 port-name=org.example.control ! fdsink fd=1
 * ]| What the guest writes, on stdout.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>
#include <gst/base/gstadapter.h>

#include "gstspicedatasrc.h"

GST_DEBUG_CATEGORY_STATIC (gst_spice_data_src_debug);
#define GST_CAT_DEFAULT gst_spice_data_src_debug

/* what the guest may have written ahead of the pipeline; more is dropped
 * (spice-client-glib cannot be paused) */
#define MAX_QUEUED (16u << 20)

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS_ANY);

enum
{
  PROP_CAPS = GST_SPICE_PORT_PROP_LAST,
  PROP_STATS,
};

typedef struct
{
  GstSpicePortSettings port;
  GstCaps *caps;
} Settings;

struct _GstSpiceDataSrc
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
    GstSpiceLinkState link;     /* the connection */
    gboolean port_known;
    gboolean opened;
    gboolean ever_opened;
    GQueue chunks;              /* GBytes, what the guest wrote */
    gsize queued;

    guint64 bytes_read, messages, dropped_bytes;
  } st;

  /* streaming thread only */
  GstAdapter *adapter;
  gint64 start_us;
};

#define gst_spice_data_src_parent_class parent_class
G_DEFINE_TYPE (GstSpiceDataSrc, gst_spice_data_src, GST_TYPE_PUSH_SRC);
GST_ELEMENT_REGISTER_DEFINE (spicedatasrc, "spicedatasrc", GST_RANK_NONE,
    GST_TYPE_SPICE_DATA_SRC);

/* ---------------------------------------------------------------------- */
/* Properties                                                             */

static GstStructure *
make_stats (GstSpiceDataSrc * self)
{
  GstStructure *s;

  g_mutex_lock (&self->lock);
  s = gst_structure_new ("application/x-spice-port-src-stats",
      "bytes-read", G_TYPE_UINT64, self->st.bytes_read,
      "messages", G_TYPE_UINT64, self->st.messages,
      "dropped-bytes", G_TYPE_UINT64, self->st.dropped_bytes,
      "opened", G_TYPE_BOOLEAN, self->st.opened, NULL);
  g_mutex_unlock (&self->lock);
  return s;
}

static void
gst_spice_data_src_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstSpiceDataSrc *self = GST_SPICE_DATA_SRC (object);

  GST_OBJECT_LOCK (self);
  if (!gst_spice_port_set_property (&self->settings.port, prop_id, value)) {
    switch (prop_id) {
      case PROP_CAPS:
        gst_caps_replace (&self->settings.caps,
            (GstCaps *) gst_value_get_caps (value));
        break;
      default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
        break;
    }
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_spice_data_src_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstSpiceDataSrc *self = GST_SPICE_DATA_SRC (object);

  if (prop_id == PROP_STATS) {
    g_value_take_boxed (value, make_stats (self));
    return;
  }
  GST_OBJECT_LOCK (self);
  if (!gst_spice_port_get_property (&self->settings.port, prop_id, value)) {
    switch (prop_id) {
      case PROP_CAPS:
        gst_value_set_caps (value, self->settings.caps);
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
  GstSpiceDataSrc *self = user_data;

  g_mutex_lock (&self->lock);
  self->st.port_known = TRUE;
  self->st.opened = opened;
  self->st.ever_opened |= opened;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

static void
on_port_data (gpointer user_data, const guint8 * data, gsize size)
{
  GstSpiceDataSrc *self = user_data;

  g_mutex_lock (&self->lock);
  if (!self->st.attached) {
    g_mutex_unlock (&self->lock);
    return;
  }
  if (self->st.queued + size > MAX_QUEUED) {
    if (self->st.dropped_bytes == 0)
      GST_WARNING_OBJECT (self, "the pipeline does not keep up: dropping "
          "what the guest writes (more than %u bytes waiting)", MAX_QUEUED);
    self->st.dropped_bytes += size;
  } else {
    g_queue_push_tail (&self->st.chunks, g_bytes_new (data, size));
    self->st.queued += size;
    self->st.bytes_read += size;
    g_cond_broadcast (&self->cond);
  }
  g_mutex_unlock (&self->lock);
}

static void
on_state (gpointer user_data, GstSpiceSessionState state,
    const GError * error, const gchar * debug)
{
  GstSpiceDataSrc *self = user_data;

  g_mutex_lock (&self->lock);
  switch (state) {
    case GST_SPICE_SESSION_LOST:
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
  on_port_data,
  on_state,
};

/* ---------------------------------------------------------------------- */
/* GstBaseSrc                                                             */

static gboolean
gst_spice_data_src_start (GstBaseSrc * src)
{
  GstSpiceDataSrc *self = GST_SPICE_DATA_SRC (src);

  GST_OBJECT_LOCK (self);
  gst_spice_port_settings_clear (&self->active.port);
  gst_caps_replace (&self->active.caps, NULL);
  self->active = self->settings;
  gst_spice_port_settings_copy (&self->active.port, &self->settings.port);
  if (self->settings.caps)
    gst_caps_ref (self->settings.caps);
  GST_OBJECT_UNLOCK (self);

  self->session = gst_spice_connection_acquire (GST_ELEMENT (self),
      &self->active.port.conn, GST_SPICE_SESSION_FEATURE_NONE);
  if (!self->session)
    return FALSE;
  g_mutex_lock (&self->lock);
  memset (&self->st, 0, sizeof (self->st));
  g_queue_init (&self->st.chunks);
  self->st.attached = TRUE;
  g_mutex_unlock (&self->lock);
  gst_adapter_clear (self->adapter);
  self->start_us = g_get_monotonic_time ();
  g_free (self->address);
  self->address = g_strdup (gst_spice_session_get_address (self->session));
  self->listener_id = gst_spice_session_add_port_listener (self->session,
      self->active.port.port_name, &port_callbacks, gst_object_ref (self),
      gst_object_unref);
  return TRUE;
}

static gboolean
gst_spice_data_src_stop (GstBaseSrc * src)
{
  GstSpiceDataSrc *self = GST_SPICE_DATA_SRC (src);

  if (self->session) {
    gst_spice_session_remove_listener (self->session, self->listener_id);
    gst_spice_session_release (self->session);
    self->session = NULL;
  }
  g_mutex_lock (&self->lock);
  self->st.attached = FALSE;
  g_queue_clear_full (&self->st.chunks, (GDestroyNotify) g_bytes_unref);
  gst_spice_link_state_clear (&self->st.link);
  g_mutex_unlock (&self->lock);
  gst_adapter_clear (self->adapter);
  gst_spice_port_settings_clear (&self->active.port);
  gst_caps_replace (&self->active.caps, NULL);
  return TRUE;
}

static gboolean
gst_spice_data_src_unlock (GstBaseSrc * src)
{
  GstSpiceDataSrc *self = GST_SPICE_DATA_SRC (src);

  g_mutex_lock (&self->lock);
  self->st.flushing = TRUE;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  return TRUE;
}

static gboolean
gst_spice_data_src_unlock_stop (GstBaseSrc * src)
{
  GstSpiceDataSrc *self = GST_SPICE_DATA_SRC (src);

  g_mutex_lock (&self->lock);
  self->st.flushing = FALSE;
  g_mutex_unlock (&self->lock);
  return TRUE;
}

static GstCaps *
gst_spice_data_src_get_caps (GstBaseSrc * src, GstCaps * filter)
{
  GstSpiceDataSrc *self = GST_SPICE_DATA_SRC (src);
  GstCaps *caps;

  GST_OBJECT_LOCK (self);
  caps = self->settings.caps ? gst_caps_ref (self->settings.caps) :
      gst_caps_new_empty_simple ("application/octet-stream");
  GST_OBJECT_UNLOCK (self);
  if (filter) {
    GstCaps *tmp = gst_caps_intersect_full (filter, caps,
        GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref (caps);
    caps = tmp;
  }
  return caps;
}

/* A whole message from the adapter, or NULL; an impossible length is an
 * error (*bad). */
static GstBuffer *
take_message (GstSpiceDataSrc * self, gboolean * bad)
{
  guint8 header[4];
  guint32 len;

  *bad = FALSE;
  if (gst_adapter_available (self->adapter) < 4)
    return NULL;
  gst_adapter_copy (self->adapter, header, 0, 4);
  len = GST_READ_UINT32_BE (header);
  if (len > GST_SPICE_PORT_MAX_MESSAGE) {
    *bad = TRUE;
    return NULL;
  }
  if (gst_adapter_available (self->adapter) < 4 + (gsize) len)
    return NULL;
  gst_adapter_flush (self->adapter, 4);
  return len ? gst_adapter_take_buffer (self->adapter, len) :
      gst_buffer_new ();
}

static GstFlowReturn
gst_spice_data_src_create (GstPushSrc * psrc, GstBuffer ** outbuf)
{
  GstSpiceDataSrc *self = GST_SPICE_DATA_SRC (psrc);
  gboolean framed = self->active.port.framing ==
      GST_SPICE_PORT_FRAMING_LENGTH_PREFIX;
  gint64 deadline = self->active.port.open_timeout > 0 ?
      self->start_us + (gint64) self->active.port.open_timeout * 1000 : 0;
  GstBuffer *buf = NULL;

  g_mutex_lock (&self->lock);
  for (;;) {
    GBytes *chunk;
    gboolean bad;

    if (self->st.flushing)
      goto flushing;
    if (self->st.link.error)
      goto session_error;

    /* what came, into the adapter (this thread's own) */
    while ((chunk = g_queue_pop_head (&self->st.chunks))) {
      self->st.queued -= g_bytes_get_size (chunk);
      gst_adapter_push (self->adapter, gst_buffer_new_wrapped_bytes (chunk));
      g_bytes_unref (chunk);
    }
    if (framed) {
      buf = take_message (self, &bad);
      if (bad)
        goto bad_frame;
    } else if (gst_adapter_available (self->adapter) > 0) {
      buf = gst_adapter_take_buffer (self->adapter,
          gst_adapter_available (self->adapter));
    }
    if (buf)
      break;

    if (self->st.ever_opened && !self->st.opened && self->st.port_known &&
        !self->active.port.wait_on_close)
      goto closed;
    if (!self->st.port_known && !self->st.ever_opened && deadline > 0 &&
        g_get_monotonic_time () >= deadline)
      goto no_port;
    if (!self->st.port_known && !self->st.ever_opened && deadline > 0)
      g_cond_wait_until (&self->cond, &self->lock, deadline);
    else
      g_cond_wait (&self->cond, &self->lock);
  }
  self->st.messages++;
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
    gst_spice_link_state_post_error (GST_ELEMENT (self), &self->st.link,
        &self->lock);
    g_mutex_unlock (&self->lock);
    return GST_FLOW_ERROR;
  }
bad_frame:
  {
    g_mutex_unlock (&self->lock);
    GST_ELEMENT_ERROR (self, STREAM, DECODE,
        ("SPICE port '%s' sent a message length over %u bytes: not "
            "length-prefixed data", self->active.port.port_name,
            GST_SPICE_PORT_MAX_MESSAGE), (NULL));
    return GST_FLOW_ERROR;
  }
closed:
  {
    gsize partial = gst_adapter_available (self->adapter);

    g_mutex_unlock (&self->lock);
    if (partial)
      GST_WARNING_OBJECT (self, "port closed in the middle of a message: "
          "%" G_GSIZE_FORMAT " bytes dropped", partial);
    GST_INFO_OBJECT (self, "the guest closed port '%s': EOS",
        self->active.port.port_name);
    return GST_FLOW_EOS;
  }
no_port:
  {
    gboolean connected = self->st.link.connected;

    g_mutex_unlock (&self->lock);
    /* a server that never answered has no ports to tell of */
    if (!connected)
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
          ("Could not connect to SPICE server %s: no answer within %u ms",
              self->address, self->active.port.open_timeout),
          ("so port '%s' could not be opened", self->active.port.port_name));
    else
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
          ("SPICE server %s has no port '%s' (waited %u ms)", self->address,
              self->active.port.port_name, self->active.port.open_timeout),
          ("QEMU: -chardev spiceport,name=%s and a virtserialport",
              self->active.port.port_name));
    return GST_FLOW_ERROR;
  }
}

static GstStateChangeReturn
gst_spice_data_src_change_state (GstElement * element,
    GstStateChange transition)
{
  GstSpiceDataSrc *self = GST_SPICE_DATA_SRC (element);

  if (transition == GST_STATE_CHANGE_NULL_TO_READY &&
      !gst_spice_port_check (element, &self->settings.port))
    return GST_STATE_CHANGE_FAILURE;
  return GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
}

/* ---------------------------------------------------------------------- */
/* Class                                                                  */

static void
gst_spice_data_src_finalize (GObject * object)
{
  GstSpiceDataSrc *self = GST_SPICE_DATA_SRC (object);

  gst_spice_port_settings_clear (&self->settings.port);
  gst_caps_replace (&self->settings.caps, NULL);
  g_object_unref (self->adapter);
  g_free (self->address);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

/* one failure, one error message (see
 * gst_spice_connection_is_flow_error_echo()) */
static gboolean
gst_spice_data_src_post_message (GstElement * element, GstMessage * message)
{
  if (gst_spice_connection_is_flow_error_echo (element, message)) {
    gst_message_unref (message);
    return TRUE;
  }
  return GST_ELEMENT_CLASS (parent_class)->post_message (element, message);
}

static void
gst_spice_data_src_class_init (GstSpiceDataSrcClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSrcClass *basesrc_class = GST_BASE_SRC_CLASS (klass);
  GstPushSrcClass *pushsrc_class = GST_PUSH_SRC_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_spice_data_src_debug, "spicedatasrc", 0,
      "SPICE port source");

  gobject_class->set_property = gst_spice_data_src_set_property;
  gobject_class->get_property = gst_spice_data_src_get_property;
  gobject_class->finalize = gst_spice_data_src_finalize;

  gst_spice_port_install_properties (gobject_class,
      "When the guest closes the port, wait for it to open again instead "
      "of ending the stream (EOS)");
  g_object_class_install_property (gobject_class, PROP_CAPS,
      g_param_spec_boxed ("caps", "Caps",
          "Caps of the output (application/octet-stream when unset)",
          GST_TYPE_CAPS, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_STATS,
      g_param_spec_boxed ("stats", "Statistics",
          "bytes-read, messages (buffers pushed), dropped-bytes (beyond "
          "16 MiB waiting for the pipeline), opened", GST_TYPE_STRUCTURE,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "SPICE port source", "Source/Network",
      "Reads what the guest writes into a named SPICE port (virtio serial)",
      "gst-spice developers");

  element_class->change_state =
      GST_DEBUG_FUNCPTR (gst_spice_data_src_change_state);
  element_class->post_message =
      GST_DEBUG_FUNCPTR (gst_spice_data_src_post_message);
  basesrc_class->start = GST_DEBUG_FUNCPTR (gst_spice_data_src_start);
  basesrc_class->stop = GST_DEBUG_FUNCPTR (gst_spice_data_src_stop);
  basesrc_class->unlock = GST_DEBUG_FUNCPTR (gst_spice_data_src_unlock);
  basesrc_class->unlock_stop =
      GST_DEBUG_FUNCPTR (gst_spice_data_src_unlock_stop);
  basesrc_class->get_caps = GST_DEBUG_FUNCPTR (gst_spice_data_src_get_caps);
  pushsrc_class->create = GST_DEBUG_FUNCPTR (gst_spice_data_src_create);
}

static void
gst_spice_data_src_init (GstSpiceDataSrc * self)
{
  gst_spice_port_settings_init (&self->settings.port);
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  g_queue_init (&self->st.chunks);
  self->adapter = gst_adapter_new ();
  gst_base_src_set_live (GST_BASE_SRC (self), TRUE);
  gst_base_src_set_format (GST_BASE_SRC (self), GST_FORMAT_TIME);
  gst_base_src_set_do_timestamp (GST_BASE_SRC (self), TRUE);
}
