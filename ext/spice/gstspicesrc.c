/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
/**
 * SECTION:element-spicesrc
 * @title: spicesrc
 *
 * spicesrc connects to a SPICE server (a QEMU/KVM virtual machine, an
 * Android container adapter) and outputs its display as live raw video on
 * its `video` pad: `BGRx` (or `BGRA` for ARGB surfaces, `RGB16`/`RGB15` for
 * 16-bit ones) at the guest's resolution.
 *
 * Frames go out when the guest draws, coalesced to the negotiated framerate
 * (30/1 unless downstream asks for another; on average at most 1/16 above
 * it, to absorb guest/host clock drift); with nothing drawn, the last
 * frame is repeated every #GstSpiceSrc:repeat-interval ms so encoders and
 * live muxers keep going.  Each frame copies only what changed since its
 * buffer last held a frame.  Timestamps are the running time at which the
 * frame was captured.  When the guest changes resolution the caps change
 * mid-stream, without a frame of the wrong size.
 *
 * Several SPICE elements of one process naming the same server share one
 * connection (a SPICE server takes a single client).  spice-client-glib
 * runs on the default GMainContext: in a thread of the plugin's own, or in
 * the application's thread when it runs the default main loop.
 *
 * Errors (malformed URI, refused connection, wrong password, connection
 * lost) are posted as error messages that name the server.  With
 * #GstSpiceSrc:reconnect the element instead reconnects with back-off,
 * keeps the last frame flowing, and posts element messages named
 * `spice-disconnected` and `spice-reconnected`.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 spicesrc uri=spice://127.0.0.1:5900 ! videoconvert ! autovideosink
 * ]| Watch a VM.
 * |[
 * gst-launch-1.0 -e spicesrc uri=spice+unix:///run/vm1/spice.sock ! videoconvert ! \
 *     x264enc tune=zerolatency ! h264parse ! matroskamux ! filesink location=vm.mkv
 * ]| Record a VM's screen.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstspicesrc.h"
#include "gstspicevideosrc.h"

GST_DEBUG_CATEGORY_STATIC (gst_spice_src_debug);
#define GST_CAT_DEFAULT gst_spice_src_debug

static GstStaticPadTemplate video_template = GST_STATIC_PAD_TEMPLATE ("video",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE
        ("{ BGRx, BGRA, xRGB, ARGB, RGB16, RGB15 }")));

struct _GstSpiceSrc
{
  GstBin parent;

  /* the elements that do the work; they hold the settings */
  GstElement *video;
};

static void gst_spice_src_uri_handler_init (gpointer g_iface,
    gpointer iface_data);

#define gst_spice_src_parent_class parent_class
G_DEFINE_TYPE_WITH_CODE (GstSpiceSrc, gst_spice_src, GST_TYPE_BIN,
    G_IMPLEMENT_INTERFACE (GST_TYPE_URI_HANDLER,
        gst_spice_src_uri_handler_init));
GST_ELEMENT_REGISTER_DEFINE (spicesrc, "spicesrc", GST_RANK_PRIMARY,
    GST_TYPE_SPICE_SRC);

static void
gst_spice_src_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstSpiceSrc *self = GST_SPICE_SRC (object);

  /* every property belongs to the source elements inside */
  g_object_set_property (G_OBJECT (self->video), pspec->name, value);
}

static void
gst_spice_src_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstSpiceSrc *self = GST_SPICE_SRC (object);

  g_object_get_property (G_OBJECT (self->video), pspec->name, value);
}

static GstStateChangeReturn
gst_spice_src_change_state (GstElement * element, GstStateChange transition)
{
  GstSpiceSrc *self = GST_SPICE_SRC (element);

  /* check the URI once, here, so the error names spicesrc */
  if (transition == GST_STATE_CHANGE_NULL_TO_READY) {
    gchar *uri = NULL;
    gboolean ok;

    g_object_get (self->video, "uri", &uri, NULL);
    ok = gst_spice_video_src_check_uri (element, uri);
    g_free (uri);
    if (!ok)
      return GST_STATE_CHANGE_FAILURE;
  }
  return GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
}

static void
gst_spice_src_class_init (GstSpiceSrcClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_spice_src_debug, "spicesrc", 0,
      "SPICE source");

  gobject_class->set_property = gst_spice_src_set_property;
  gobject_class->get_property = gst_spice_src_get_property;
  gst_spice_video_src_install_properties (gobject_class);

  gst_element_class_add_static_pad_template (element_class, &video_template);
  gst_element_class_set_static_metadata (element_class, "SPICE source",
      "Source/Video/Network",
      "Connects to a SPICE server (QEMU/KVM VM, Android container) and "
      "outputs its display as live raw video on the 'video' pad",
      "gst-spice developers");
  element_class->change_state = GST_DEBUG_FUNCPTR (gst_spice_src_change_state);
}

static void
gst_spice_src_init (GstSpiceSrc * self)
{
  GstPad *target, *ghost;

  self->video = g_object_new (GST_TYPE_SPICE_VIDEO_SRC, "name", "video_src",
      NULL);
  gst_bin_add (GST_BIN (self), self->video);

  target = gst_element_get_static_pad (self->video, "src");
  ghost = gst_ghost_pad_new_from_template ("video", target,
      gst_element_class_get_pad_template (GST_ELEMENT_GET_CLASS (self),
          "video"));
  gst_object_unref (target);
  gst_element_add_pad (GST_ELEMENT (self), ghost);

  /* a live source: no preroll, whatever the children say */
  GST_OBJECT_FLAG_SET (self, GST_ELEMENT_FLAG_SOURCE);
}

/* GstURIHandler */

static GstURIType
gst_spice_src_uri_get_type (GType type)
{
  return GST_URI_SRC;
}

static const gchar *const *
gst_spice_src_uri_get_protocols (GType type)
{
  static const gchar *protocols[] = { "spice", "spice+unix", "spice+tls",
    NULL
  };
  return protocols;
}

static gchar *
gst_spice_src_uri_get_uri (GstURIHandler * handler)
{
  GstSpiceSrc *self = GST_SPICE_SRC (handler);
  gchar *uri = NULL;

  g_object_get (self->video, "uri", &uri, NULL);
  return uri;
}

static gboolean
gst_spice_src_uri_set_uri (GstURIHandler * handler, const gchar * uri,
    GError ** error)
{
  GstSpiceSrc *self = GST_SPICE_SRC (handler);
  GstState state;

  GST_OBJECT_LOCK (self);
  state = GST_STATE (self);
  GST_OBJECT_UNLOCK (self);
  if (state != GST_STATE_NULL && state != GST_STATE_READY) {
    g_set_error (error, GST_URI_ERROR, GST_URI_ERROR_BAD_STATE,
        "Changing the URI of spicesrc while it runs is not supported");
    return FALSE;
  }
  if (!gst_uri_has_protocol (uri, "spice") &&
      !gst_uri_has_protocol (uri, "spice+unix") &&
      !gst_uri_has_protocol (uri, "spice+tls")) {
    g_set_error (error, GST_URI_ERROR, GST_URI_ERROR_UNSUPPORTED_PROTOCOL,
        "Not a SPICE URI: %s", uri);
    return FALSE;
  }
  g_object_set (self->video, "uri", uri, NULL);
  return TRUE;
}

static void
gst_spice_src_uri_handler_init (gpointer g_iface, gpointer iface_data)
{
  GstURIHandlerInterface *iface = (GstURIHandlerInterface *) g_iface;

  iface->get_type = gst_spice_src_uri_get_type;
  iface->get_protocols = gst_spice_src_uri_get_protocols;
  iface->get_uri = gst_spice_src_uri_get_uri;
  iface->set_uri = gst_spice_src_uri_set_uri;
}
