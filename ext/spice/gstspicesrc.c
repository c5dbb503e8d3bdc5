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
 * GL displays (QEMU `gl=on`, virgl; unix socket) hand the client a
 * scanout instead of a 2D surface.  The `video` pad offers it without a
 * copy as DMA-BUF frames, in the form of the GStreamer it was built
 * against: since GStreamer 1.24
 * `video/x-raw(memory:DMABuf), format=DMA_DRM, drm-format=XR24` (or
 * `AR24`, `XB24`, `AB24`; linear: the SPICE scanout message carries no
 * modifier), the form glupload, vapostproc, waylandsink and the va
 * encoders negotiate; on 1.22 `video/x-raw(memory:DMABuf), format=BGRx`
 * (`BGRA`, `RGBx`, `RGBA`).  Each frame has a #GstVideoMeta with the
 * scanout's stride.  When downstream takes no DMA-BUF (videoconvert,
 * x264enc) the scanout is copied into system memory instead.  NVIDIA
 * EGLStream scanouts go out as `video/x-raw(memory:EGLStream)` for
 * eglstreamupload.
 *
 * Several SPICE elements of one process naming the same server share one
 * connection (a SPICE server takes a single client).  The SPICE client
 * (spice-client-glib) runs in a helper process of its own per connection,
 * gst-spice-client: the application's default main context is never
 * touched, and a crash of the client library costs an error naming the
 * helper (or a reconnect with a fresh helper), not the application.
 *
 * Errors (malformed URI, refused connection, wrong password, connection
 * lost) are posted as error messages that name the server.  A link that
 * stops carrying data without closing (a dead NAT entry, a stopped
 * server) counts as lost after #GstSpiceSrc:link-timeout (20 s).  With
 * #GstSpiceSrc:reconnect the element instead reconnects with back-off,
 * keeps the last frame flowing, and posts element messages named
 * `spice-disconnected` and `spice-reconnected`; with
 * #GstSpiceSrc:eos-on-disconnect a lost connection ends the streams with
 * EOS, so recordings are finalised.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 spicesrc uri=spice://127.0.0.1:5900 ! videoconvert ! autovideosink
 * ]| Watch a VM.
 * |[
 * gst-launch-1.0 -e spicesrc uri=spice+unix:///run/vm1/spice.sock ! videoconvert ! \
 *     video/x-raw,format=I420 ! x264enc tune=zerolatency ! h264parse ! \
 *     matroskamux ! filesink location=vm.mkv
 * ]| Record a VM's screen.
 * |[
 * gst-launch-1.0 spicesrc uri=spice+unix:///run/vm/spice.sock ! dmabufimport ! nvh264enc ! \
 *     h264parse ! matroskamux ! filesink location=vm.mkv
 * ]| A GL display's DMA-BUF frames into GL textures for NVIDIA's encoder.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstspicesrc.h"
#include "gstspiceuri.h"
#include "gstspicevideosrc.h"
#include "gstspiceaudiosrc.h"

#include <gst/audio/audio.h>

GST_DEBUG_CATEGORY_STATIC (gst_spice_src_debug);
#define GST_CAT_DEFAULT gst_spice_src_debug

#define DEFAULT_AUDIO TRUE

/* Both pads appear when the element first goes to PAUSED (then
 * no-more-pads) and stay, so links made on pad-added survive state
 * cycles: uridecodebin only takes a source with several raw pads when they
 * are dynamic (it looks for fixed caps on static pads before they can have
 * any, and would plug a decoder on one of them). */
static GstStaticPadTemplate video_template = GST_STATIC_PAD_TEMPLATE ("video",
    GST_PAD_SRC, GST_PAD_SOMETIMES,
    GST_STATIC_CAPS (GST_SPICE_VIDEO_SRC_CAPS));

/* present unless the audio property is off */
static GstStaticPadTemplate audio_template = GST_STATIC_PAD_TEMPLATE ("audio",
    GST_PAD_SRC, GST_PAD_SOMETIMES,
    GST_STATIC_CAPS ("audio/x-raw, format = (string) " GST_AUDIO_NE (S16)
        ", layout = (string) interleaved, rate = (int) [ 1, MAX ], "
        "channels = (int) [ 1, 8 ]"));

/* after the video element's properties */
enum
{
  PROP_AUDIO = GST_SPICE_VIDEO_SRC_PROP_LAST,
  PROP_AUDIO_LATENCY,
  PROP_AUDIO_STATS,
  PROP_NUM_BUFFERS,
};

struct _GstSpiceSrc
{
  GstBin parent;

  /* the elements that do the work; they hold the settings.  The audio
   * element is kept (and keeps its settings) while audio is off. */
  GstElement *video;
  GstElement *audio;
  /* the ghost pads, from the first READY -> PAUSED on; the audio one
   * only while audio is on (state change thread) */
  GstPad *video_pad;
  GstPad *audio_pad;

  gboolean audio_enabled;       /* GST_OBJECT_LOCK */
  gboolean error_posted;        /* GST_OBJECT_LOCK */
  /* GST_OBJECT_LOCK: what decides whether the audio half produces */
  gboolean audio_linked;
  gboolean video_linked;
  gboolean video_started;       /* the video pad pushed its first frame */
  /* GST_OBJECT_LOCK: what downstream last answered each pad */
  GstFlowReturn video_flow;
  GstFlowReturn audio_flow;
};

static void gst_spice_src_uri_handler_init (gpointer g_iface,
    gpointer iface_data);

#define gst_spice_src_parent_class parent_class
G_DEFINE_TYPE_WITH_CODE (GstSpiceSrc, gst_spice_src, GST_TYPE_BIN,
    G_IMPLEMENT_INTERFACE (GST_TYPE_URI_HANDLER,
        gst_spice_src_uri_handler_init));
GST_ELEMENT_REGISTER_DEFINE (spicesrc, "spicesrc", GST_RANK_PRIMARY,
    GST_TYPE_SPICE_SRC);

/* An unlinked pad must not fail the pipeline (an unlinked audio pad in a
 * video-only pipeline, and the other way round): what would be not-linked
 * is dropped. */
static GstPadProbeReturn
drop_unlinked (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  return gst_pad_is_linked (pad) ? GST_PAD_PROBE_OK : GST_PAD_PROBE_DROP;
}

/* The audio element idles while nobody links the audio pad (a video-only
 * pipeline: no silence produced every 10 ms for nothing), and, when the
 * video pad is linked too, until the first frame went out: a branch that
 * runs (prerolls) while the other waits for the server makes a pipeline
 * that never reaches PLAYING, and there an EOS (gst-launch-1.0 -e and
 * Ctrl-C while connecting) blocked for good in GStreamer's send_event. */
static void
update_audio_idle (GstSpiceSrc * self)
{
  gboolean idle;

  GST_OBJECT_LOCK (self);
  idle = !self->audio_linked || (self->video_linked && !self->video_started);
  GST_OBJECT_UNLOCK (self);
  gst_spice_audio_src_set_idle (GST_SPICE_AUDIO_SRC (self->audio), idle);
}

static void
pad_linked (GstPad * pad, GstPad * peer, gpointer user_data)
{
  GstSpiceSrc *self = user_data;

  /* (by name: this may come before add_ghost() returned) */
  GST_OBJECT_LOCK (self);
  if (g_str_equal (GST_OBJECT_NAME (pad), "video"))
    self->video_linked = TRUE;
  else
    self->audio_linked = TRUE;
  GST_OBJECT_UNLOCK (self);
  update_audio_idle (self);
}

static void
pad_unlinked (GstPad * pad, GstPad * peer, gpointer user_data)
{
  GstSpiceSrc *self = user_data;

  GST_OBJECT_LOCK (self);
  if (g_str_equal (GST_OBJECT_NAME (pad), "video"))
    self->video_linked = FALSE;
  else
    self->audio_linked = FALSE;
  GST_OBJECT_UNLOCK (self);
  update_audio_idle (self);
}

static GstPadProbeReturn
first_video_frame (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  GstSpiceSrc *self = user_data;
  gboolean first;

  GST_OBJECT_LOCK (self);
  first = !self->video_started;
  self->video_started = TRUE;
  GST_OBJECT_UNLOCK (self);
  if (first)
    update_audio_idle (self);
  return GST_PAD_PROBE_OK;
}

/* Not-linked from one pad is fatal only when the other pad gets it too, as
 * demuxers combine their pads' flows (GstFlowCombiner): uridecodebin,
 * uridecodebin3 and urisourcebin link both pads and expose both, and an
 * application that plays only the video leaves the audio one unlinked
 * downstream of them (and the other way round).  Only not-linked is
 * combined: an EOS or an error from one branch still stops that half, as
 * it did (GstFlowCombiner would keep a half pushing into a branch that
 * returned EOS, and so that branch's EOS event would never come). */
static GstFlowReturn
combine_flow (GstSpiceSrc * self, GstPad * ghost, GstFlowReturn ret)
{
  GstFlowReturn other;

  GST_OBJECT_LOCK (self);
  if (ghost == self->video_pad) {
    self->video_flow = ret;
    /* audio off: video is the only pad */
    other = self->audio_pad ? self->audio_flow : GST_FLOW_NOT_LINKED;
  } else {
    self->audio_flow = ret;
    other = self->video_flow;
  }
  GST_OBJECT_UNLOCK (self);
  if (ret == GST_FLOW_NOT_LINKED && other != GST_FLOW_NOT_LINKED) {
    GST_LOG_OBJECT (self, "%s:%s not linked, the other pad is: going on",
        GST_DEBUG_PAD_NAME (ghost));
    ret = GST_FLOW_OK;
  }
  return ret;
}

/* on the ghost pads' internal pads, what the children push into */
static GstFlowReturn
internal_chain (GstPad * pad, GstObject * parent, GstBuffer * buffer)
{
  GstSpiceSrc *self = gst_pad_get_element_private (pad);

  return combine_flow (self, GST_PAD (parent),
      gst_proxy_pad_chain_default (pad, parent, buffer));
}

static GstFlowReturn
internal_chain_list (GstPad * pad, GstObject * parent, GstBufferList * list)
{
  GstSpiceSrc *self = gst_pad_get_element_private (pad);

  return combine_flow (self, GST_PAD (parent),
      gst_proxy_pad_chain_list_default (pad, parent, list));
}

static GstPad *
add_ghost (GstSpiceSrc * self, GstElement * child, const gchar * name)
{
  GstPad *target, *ghost;
  GstProxyPad *internal;

  target = gst_element_get_static_pad (child, "src");
  ghost = gst_ghost_pad_new_from_template (name, target,
      gst_element_class_get_pad_template (GST_ELEMENT_GET_CLASS (self),
          name));
  gst_object_unref (target);
  internal = gst_proxy_pad_get_internal (GST_PROXY_PAD (ghost));
  gst_pad_set_element_private (GST_PAD (internal), self);
  gst_pad_set_chain_function (GST_PAD (internal),
      GST_DEBUG_FUNCPTR (internal_chain));
  gst_pad_set_chain_list_function (GST_PAD (internal),
      GST_DEBUG_FUNCPTR (internal_chain_list));
  gst_object_unref (internal);
  gst_pad_add_probe (ghost, GST_PAD_PROBE_TYPE_BUFFER |
      GST_PAD_PROBE_TYPE_BUFFER_LIST, drop_unlinked, NULL, NULL);
  if (child == self->video)
    gst_pad_add_probe (ghost, GST_PAD_PROBE_TYPE_BUFFER |
        GST_PAD_PROBE_TYPE_BUFFER_LIST, first_video_frame, self, NULL);
  /* before it is added: pad-added handlers link it at once */
  g_signal_connect (ghost, "linked", G_CALLBACK (pad_linked), self);
  g_signal_connect (ghost, "unlinked", G_CALLBACK (pad_unlinked), self);
  gst_pad_set_active (ghost, TRUE);
  gst_element_add_pad (GST_ELEMENT (self), ghost);
  return ghost;
}

static void
add_pads (GstSpiceSrc * self)
{
  gboolean audio, added = FALSE;

  GST_OBJECT_LOCK (self);
  audio = self->audio_enabled;
  GST_OBJECT_UNLOCK (self);
  if (!self->video_pad) {
    self->video_pad = add_ghost (self, self->video, "video");
    added = TRUE;
  }
  if (audio && !self->audio_pad) {
    update_audio_idle (self);
    self->audio_pad = add_ghost (self, self->audio, "audio");
    added = TRUE;
  }
  if (added)
    gst_element_no_more_pads (GST_ELEMENT (self));
}

/* the audio element is in the bin only while audio is on */
static void
add_audio (GstSpiceSrc * self)
{
  /* set_parent adds its own reference: ours stays */
  gst_bin_add (GST_BIN (self), self->audio);
  gst_element_sync_state_with_parent (self->audio);
  gst_spice_video_src_set_session_features (GST_SPICE_VIDEO_SRC
      (self->video), GST_SPICE_SESSION_FEATURE_AUDIO);
}

static void
remove_audio (GstSpiceSrc * self)
{
  if (self->audio_pad) {
    gst_pad_set_active (self->audio_pad, FALSE);
    gst_element_remove_pad (GST_ELEMENT (self), self->audio_pad);
    self->audio_pad = NULL;
  }
  gst_bin_remove (GST_BIN (self), self->audio);
  gst_element_set_state (self->audio, GST_STATE_NULL);
  gst_spice_video_src_set_session_features (GST_SPICE_VIDEO_SRC
      (self->video), GST_SPICE_SESSION_FEATURE_NONE);
}

static void
set_audio (GstSpiceSrc * self, gboolean enabled)
{
  GstState state;

  GST_OBJECT_LOCK (self);
  state = GST_STATE (self);
  if (state > GST_STATE_READY || GST_STATE_PENDING (self) >
      GST_STATE_READY) {
    GST_OBJECT_UNLOCK (self);
    g_warning ("spicesrc: the audio property can only change in the NULL "
        "and READY states");
    return;
  }
  if (self->audio_enabled == enabled) {
    GST_OBJECT_UNLOCK (self);
    return;
  }
  self->audio_enabled = enabled;
  GST_OBJECT_UNLOCK (self);
  if (enabled)
    add_audio (self);
  else
    remove_audio (self);
}

static void
gst_spice_src_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstSpiceSrc *self = GST_SPICE_SRC (object);

  switch (prop_id) {
    case PROP_AUDIO:
      set_audio (self, g_value_get_boolean (value));
      break;
    case PROP_AUDIO_LATENCY:
      g_object_set_property (G_OBJECT (self->audio), "latency", value);
      break;
    case PROP_NUM_BUFFERS:
      g_object_set_property (G_OBJECT (self->video), "num-buffers", value);
      break;
    default:
      /* the video element has every other property; the connection ones
       * go to the audio element too */
      g_object_set_property (G_OBJECT (self->video), pspec->name, value);
      if (prop_id < GST_SPICE_PROP_CONNECTION_LAST)
        g_object_set_property (G_OBJECT (self->audio), pspec->name, value);
      break;
  }
}

static void
gst_spice_src_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstSpiceSrc *self = GST_SPICE_SRC (object);

  switch (prop_id) {
    case PROP_AUDIO:
      GST_OBJECT_LOCK (self);
      g_value_set_boolean (value, self->audio_enabled);
      GST_OBJECT_UNLOCK (self);
      break;
    case PROP_AUDIO_LATENCY:
      g_object_get_property (G_OBJECT (self->audio), "latency", value);
      break;
    case PROP_AUDIO_STATS:
      g_object_get_property (G_OBJECT (self->audio), "stats", value);
      break;
    case PROP_NUM_BUFFERS:
      g_object_get_property (G_OBJECT (self->video), "num-buffers", value);
      break;
    default:
      g_object_get_property (G_OBJECT (self->video), pspec->name, value);
      break;
  }
}

/* Both halves see a failure of the shared connection; the application
 * gets it once.  The connection's element messages (spice-connected,
 * -disconnected, -reconnected, from the video half) come from spicesrc,
 * the element the application made. */
static void
gst_spice_src_handle_message (GstBin * bin, GstMessage * message)
{
  GstSpiceSrc *self = GST_SPICE_SRC (bin);

  if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_ELEMENT &&
      GST_MESSAGE_SRC (message) == GST_OBJECT (self->video) &&
      g_str_has_prefix (gst_structure_get_name (gst_message_get_structure
              (message)), "spice-")) {
    GstMessage *own = gst_message_new_element (GST_OBJECT (self),
        gst_structure_copy (gst_message_get_structure (message)));

    gst_message_unref (message);
    GST_BIN_CLASS (parent_class)->handle_message (bin, own);
    return;
  }
  if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_ERROR) {
    gboolean first;

    GST_OBJECT_LOCK (self);
    first = !self->error_posted;
    self->error_posted = TRUE;
    GST_OBJECT_UNLOCK (self);
    if (!first) {
      GST_DEBUG_OBJECT (self, "dropping a second error: %" GST_PTR_FORMAT,
          message);
      gst_message_unref (message);
      return;
    }
  }
  GST_BIN_CLASS (parent_class)->handle_message (bin, message);
}

static GstStateChangeReturn
gst_spice_src_change_state (GstElement * element, GstStateChange transition)
{
  GstSpiceSrc *self = GST_SPICE_SRC (element);
  GstStateChangeReturn ret;

  switch (transition) {
    case GST_STATE_CHANGE_NULL_TO_READY:{
      gchar *uri = NULL;
      gboolean ok;

      /* check the URI once, here, so the error names spicesrc */
      g_object_get (self->video, "uri", &uri, NULL);
      ok = gst_spice_connection_check_uri (element, uri);
      g_free (uri);
      if (!ok)
        return GST_STATE_CHANGE_FAILURE;
      break;
    }
    case GST_STATE_CHANGE_READY_TO_PAUSED:
      GST_OBJECT_LOCK (self);
      self->error_posted = FALSE;
      self->video_started = FALSE;
      self->video_flow = GST_FLOW_OK;
      self->audio_flow = GST_FLOW_OK;
      GST_OBJECT_UNLOCK (self);
      if (self->audio_pad)
        update_audio_idle (self);
      /* nothing flows before PLAYING (live), so linking can happen now */
      add_pads (self);
      break;
    default:
      break;
  }
  ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
  return ret;
}

static void
gst_spice_src_dispose (GObject * object)
{
  GstSpiceSrc *self = GST_SPICE_SRC (object);

  gst_clear_object (&self->audio);
  G_OBJECT_CLASS (parent_class)->dispose (object);
}

static void
gst_spice_src_class_init (GstSpiceSrcClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBinClass *bin_class = GST_BIN_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_spice_src_debug, "spicesrc", 0,
      "SPICE source");

  gobject_class->set_property = gst_spice_src_set_property;
  gobject_class->get_property = gst_spice_src_get_property;
  gobject_class->dispose = gst_spice_src_dispose;
  gst_spice_video_src_install_properties (gobject_class);
  g_object_class_install_property (gobject_class, PROP_AUDIO,
      g_param_spec_boolean ("audio", "Audio",
          "Offer the guest's sound on the 'audio' pad (and open the SPICE "
          "audio channels); off: no audio pad, no audio traffic.  Only "
          "changes in the NULL and READY states", DEFAULT_AUDIO,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_AUDIO_LATENCY,
      g_param_spec_uint ("audio-latency", "Audio latency",
          "Milliseconds of latency reported for the sound, at least: how "
          "late a packet may arrive (network jitter) without being late "
          "downstream; it grows with the jitter seen (up to 250 ms); "
          "silence is produced half of it behind real time; a drifting "
          "guest clock is resampled, and what that cannot absorb beyond "
          "half of it (40 ms at least) is resynced", 10, 1000, 40,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_AUDIO_STATS,
      g_param_spec_boxed ("audio-stats", "Audio statistics",
          "Counters of the audio pad: packets and frames received from the "
          "guest, silence-frames (produced while it plays nothing), "
          "dropped-frames, stale-frames, underruns, resyncs, rate, "
          "channels, resampling (drift correction engaged), drift-ppm (the "
          "guest clock's rate error as measured), latency (ms, as reported "
          "now)", GST_TYPE_STRUCTURE,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_NUM_BUFFERS,
      g_param_spec_int ("num-buffers", "Number of buffers",
          "Number of video frames to output before both pads end with EOS "
          "(-1 = unlimited)", -1, G_MAXINT, -1,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  gst_element_class_add_static_pad_template (element_class, &video_template);
  gst_element_class_add_static_pad_template (element_class, &audio_template);
  gst_element_class_set_static_metadata (element_class, "SPICE source",
      "Source/Audio/Video/Network",
      "Connects to a SPICE server (QEMU/KVM VM, Android container) and "
      "outputs its display as live raw video on the 'video' pad and its "
      "sound as live raw audio on the 'audio' pad", "gst-spice developers");
  element_class->change_state = GST_DEBUG_FUNCPTR (gst_spice_src_change_state);
  bin_class->handle_message = GST_DEBUG_FUNCPTR (gst_spice_src_handle_message);
}

/* The video half ended (num-buffers, say): the audio half ends too, so a
 * pipeline with both pads reaches EOS. */
static GstPadProbeReturn
video_eos_probe (GstPad * pad, GstPadProbeInfo * info, gpointer user_data)
{
  GstSpiceSrc *self = user_data;
  gboolean audio;

  if (GST_EVENT_TYPE (GST_PAD_PROBE_INFO_EVENT (info)) != GST_EVENT_EOS)
    return GST_PAD_PROBE_OK;
  GST_OBJECT_LOCK (self);
  audio = self->audio_enabled;
  GST_OBJECT_UNLOCK (self);
  if (audio) {
    GST_DEBUG_OBJECT (self, "video ended: ending the audio too");
    gst_element_send_event (self->audio, gst_event_new_eos ());
  }
  return GST_PAD_PROBE_OK;
}

static void
gst_spice_src_init (GstSpiceSrc * self)
{
  GstPad *pad;

  self->video = g_object_new (GST_TYPE_SPICE_VIDEO_SRC, "name", "video_src",
      NULL);
  gst_bin_add (GST_BIN (self), self->video);
  pad = gst_element_get_static_pad (self->video, "src");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM,
      video_eos_probe, self, NULL);
  gst_object_unref (pad);

  self->audio = gst_object_ref_sink (g_object_new (GST_TYPE_SPICE_AUDIO_SRC,
          "name", "audio_src", NULL));
  self->audio_enabled = DEFAULT_AUDIO;
  if (self->audio_enabled)
    add_audio (self);

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
    gchar *shown = gst_spice_uri_strip_password (uri, NULL);

    g_set_error (error, GST_URI_ERROR, GST_URI_ERROR_UNSUPPORTED_PROTOCOL,
        "Not a SPICE URI: %s", shown);
    g_free (shown);
    return FALSE;
  }
  g_object_set (self, "uri", uri, NULL);
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
