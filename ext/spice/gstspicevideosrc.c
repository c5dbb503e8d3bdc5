/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
/**
 * SECTION:element-spicevideosrc
 * @title: spicevideosrc
 * @see_also: spicesrc
 *
 * The video half of #spicesrc: the 2D display of a SPICE server as live
 * raw video.  Applications normally use #spicesrc, which wraps this element
 * and names its pad `video`; spicevideosrc is registered so that it can be
 * used (and tested) on its own.  See spicesrc for the properties and
 * the caps (system memory for 2D displays; for GL displays DMA-BUF frames
 * as `format=DMA_DRM, drm-format=XR24` since GStreamer 1.24, as
 * `format=BGRx` on 1.22, or a copy in system memory).
 *
 * ## Example launch line
 * |[
 * gst-launch-1.0 spicevideosrc uri=spice://127.0.0.1:5900 ! videoconvert ! autovideosink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gstspicevideosrcpriv.h"

GST_DEBUG_CATEGORY (gst_spice_video_src_debug);
#define GST_CAT_DEFAULT gst_spice_video_src_debug

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (GST_SPICE_VIDEO_SRC_CAPS));



static GQuark frame_age_quark;

#define gst_spice_video_src_parent_class parent_class
G_DEFINE_TYPE (GstSpiceVideoSrc, gst_spice_video_src, GST_TYPE_PUSH_SRC);
GST_ELEMENT_REGISTER_DEFINE (spicevideosrc, "spicevideosrc", GST_RANK_NONE,
    GST_TYPE_SPICE_VIDEO_SRC);

static void gst_spice_video_src_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec);
static void gst_spice_video_src_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec);
static void gst_spice_video_src_finalize (GObject * object);
static GstStateChangeReturn gst_spice_video_src_change_state (GstElement *
    element, GstStateChange transition);
static gboolean gst_spice_video_src_start (GstBaseSrc * src);
static gboolean gst_spice_video_src_stop (GstBaseSrc * src);
static gboolean gst_spice_video_src_unlock (GstBaseSrc * src);
static gboolean gst_spice_video_src_unlock_stop (GstBaseSrc * src);
static gboolean gst_spice_video_src_query (GstBaseSrc * src, GstQuery * query);
static gboolean gst_spice_video_src_event (GstBaseSrc * src, GstEvent * event);
static GstFlowReturn gst_spice_video_src_create (GstPushSrc * src,
    GstBuffer ** buf);

/* ---------------------------------------------------------------------- */
/* Properties                                                             */

GType
gst_spice_scanout_type_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_SPICE_SCANOUT_TYPE_AUTO, "A scanout fd with a size (lseek) is a "
          "DMA-BUF, one without is an EGLStream", "auto"},
    {GST_SPICE_SCANOUT_TYPE_DMABUF, "Always a DMA-BUF (or memfd)", "dmabuf"},
    {GST_SPICE_SCANOUT_TYPE_EGLSTREAM, "Always an EGLStream (NVIDIA, "
          "eglGetStreamFileDescriptorKHR)", "eglstream"},
    {0, NULL, NULL},
  };

  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstSpiceScanoutType", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

void
gst_spice_video_src_install_properties (GObjectClass * gobject_class)
{
  gst_spice_connection_install_properties (gobject_class);
  gst_spice_connection_install_source_properties (gobject_class);
  g_object_class_install_property (gobject_class,
      GST_SPICE_VIDEO_SRC_PROP_CHANNEL_ID, g_param_spec_int ("channel-id",
          "Display channel id",
          "SPICE display channel to capture (one per head on multi-head "
          "virtio-gpu VMs)", 0, 255, DEFAULT_CHANNEL_ID,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class,
      GST_SPICE_VIDEO_SRC_PROP_SHOW_CURSOR, g_param_spec_boolean ("show-cursor",
          "Show cursor",
          "Draw the guest's mouse cursor (cursor channel shape and position) "
          "into the frames", DEFAULT_SHOW_CURSOR,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class,
      GST_SPICE_VIDEO_SRC_PROP_REPEAT_INTERVAL,
      g_param_spec_uint ("repeat-interval", "Repeat interval",
          "Repeat the last frame after this many milliseconds without a "
          "change, so encoders and live muxers keep going (0 = never; a "
          "repeat references the same memory, it copies nothing)", 0, G_MAXINT,
          DEFAULT_REPEAT_INTERVAL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class,
      GST_SPICE_VIDEO_SRC_PROP_STATS, g_param_spec_boxed ("stats", "Statistics",
          "Counters: frames (pushed on damage), repeats, damage-events "
          "(invalidated rectangles or GL draws received), bytes-copied (by "
          "the CPU), reconnects, width, height, dmabuf (frames go out as "
          "DMA-BUFs), eglstream (as memory:EGLStream), draws-held (GL draws "
          "acknowledged only when downstream released the frame), "
          "draws-late (held past draw-done-timeout), split-updates (2D "
          "updates whose draws came far enough apart to go out as two "
          "frames), settle-us (how long after its newest draw a 2D frame "
          "waits for more, adapted to those splits)", GST_TYPE_STRUCTURE,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  /**
   * GstSpiceSrc:draw-done-timeout:
   *
   * On a GL display whose frames go out as DMA-BUFs, the guest may draw
   * into the buffer again once it hears the draw is done, so that is said
   * when downstream releases the frame; after this many milliseconds it is
   * said anyway (a warning is posted once) so that a stuck consumer cannot
   * freeze the guest's display.  0 (the default): two frame intervals of
   * the negotiated framerate, 20 ms at least; an element that keeps the
   * last frame (a video sink redrawing it, glupload's output referencing
   * its input) then costs the guest half the framerate, not more.
   */
  g_object_class_install_property (gobject_class,
      GST_SPICE_VIDEO_SRC_PROP_DRAW_DONE_TIMEOUT,
      g_param_spec_uint ("draw-done-timeout", "Draw done timeout",
          "GL displays sent as DMA-BUFs: the longest time (ms) a frame may "
          "stay with downstream before the guest is told to draw on anyway "
          "(0: two frame intervals, 20 ms at least)",
          0, 60000, DEFAULT_DRAW_DONE_TIMEOUT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  /**
   * GstSpiceSrc:scanout-type:
   *
   * What a GL display's scanout fd is: a DMA-BUF (QEMU virgl) or an NVIDIA
   * EGLStream (some Android-in-container renderers).  EGLStream scanouts go
   * out as `memory:EGLStream` buffers for eglstreamupload.
   */
  g_object_class_install_property (gobject_class,
      GST_SPICE_VIDEO_SRC_PROP_SCANOUT_TYPE,
      g_param_spec_enum ("scanout-type", "Scanout type",
          "What a GL display's scanout fd is (auto: an fd with a size is a "
          "DMA-BUF, one without an EGLStream)", GST_TYPE_SPICE_SCANOUT_TYPE,
          DEFAULT_SCANOUT_TYPE, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
}

static void
settings_copy (Settings * dst, const Settings * src)
{
  *dst = *src;
  gst_spice_connection_settings_copy (&dst->conn, &src->conn);
}

static void
settings_clear (Settings * s)
{
  gst_spice_connection_settings_clear (&s->conn);
}

static GstStructure *
make_stats (GstSpiceVideoSrc * self)
{
  GstStructure *s;

  g_mutex_lock (&self->lock);
  s = gst_structure_new ("application/x-spice-video-stats",
      "frames", G_TYPE_UINT64, self->st.frames,
      "repeats", G_TYPE_UINT64, self->st.repeats,
      "damage-events", G_TYPE_UINT64, self->st.damage_events,
      "bytes-copied", G_TYPE_UINT64, self->st.bytes_copied,
      "reconnects", G_TYPE_UINT64, self->st.reconnects,
      "width", G_TYPE_UINT, self->st.width,
      "height", G_TYPE_UINT, self->st.height,
      "dmabuf", G_TYPE_BOOLEAN, self->st.dmabuf && !self->st.gl_stream,
      "eglstream", G_TYPE_BOOLEAN, self->st.dmabuf && self->st.gl_stream,
      "draws-held", G_TYPE_UINT64, self->st.draws_held,
      "draws-late", G_TYPE_UINT64, self->st.draws_late,
      "split-updates", G_TYPE_UINT64, self->st.split_updates,
      "settle-us", G_TYPE_UINT, (guint) self->st.settle_us, NULL);
  g_mutex_unlock (&self->lock);
  return s;
}

static void
gst_spice_video_src_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstSpiceVideoSrc *self = GST_SPICE_VIDEO_SRC (object);
  Settings *s = &self->settings;

  GST_OBJECT_LOCK (self);
  if (gst_spice_connection_set_property (&s->conn, prop_id, value)) {
    GST_OBJECT_UNLOCK (self);
    return;
  }
  switch (prop_id) {
    case GST_SPICE_VIDEO_SRC_PROP_CHANNEL_ID:
      s->channel_id = g_value_get_int (value);
      break;
    case GST_SPICE_VIDEO_SRC_PROP_SHOW_CURSOR:
      s->show_cursor = g_value_get_boolean (value);
      break;
    case GST_SPICE_VIDEO_SRC_PROP_REPEAT_INTERVAL:
      s->repeat_interval = g_value_get_uint (value);
      break;
    case GST_SPICE_VIDEO_SRC_PROP_DRAW_DONE_TIMEOUT:
      s->draw_done_timeout = g_value_get_uint (value);
      break;
    case GST_SPICE_VIDEO_SRC_PROP_SCANOUT_TYPE:
      s->scanout_type = g_value_get_enum (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_spice_video_src_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstSpiceVideoSrc *self = GST_SPICE_VIDEO_SRC (object);
  Settings *s = &self->settings;

  if (prop_id == GST_SPICE_VIDEO_SRC_PROP_STATS) {
    g_value_take_boxed (value, make_stats (self));
    return;
  }

  GST_OBJECT_LOCK (self);
  if (gst_spice_connection_get_property (&s->conn, prop_id, value)) {
    GST_OBJECT_UNLOCK (self);
    return;
  }
  switch (prop_id) {
    case GST_SPICE_VIDEO_SRC_PROP_CHANNEL_ID:
      g_value_set_int (value, s->channel_id);
      break;
    case GST_SPICE_VIDEO_SRC_PROP_SHOW_CURSOR:
      g_value_set_boolean (value, s->show_cursor);
      break;
    case GST_SPICE_VIDEO_SRC_PROP_REPEAT_INTERVAL:
      g_value_set_uint (value, s->repeat_interval);
      break;
    case GST_SPICE_VIDEO_SRC_PROP_DRAW_DONE_TIMEOUT:
      g_value_set_uint (value, s->draw_done_timeout);
      break;
    case GST_SPICE_VIDEO_SRC_PROP_SCANOUT_TYPE:
      g_value_set_enum (value, s->scanout_type);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* ---------------------------------------------------------------------- */
/* Class                                                                  */

/* one failure, one error message (see
 * gst_spice_connection_is_flow_error_echo()) */
static gboolean
gst_spice_video_src_post_message (GstElement * element, GstMessage * message)
{
  if (gst_spice_connection_is_flow_error_echo (element, message)) {
    gst_message_unref (message);
    return TRUE;
  }
  return GST_ELEMENT_CLASS (parent_class)->post_message (element, message);
}

static void
gst_spice_video_src_class_init (GstSpiceVideoSrcClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSrcClass *basesrc_class = GST_BASE_SRC_CLASS (klass);
  GstPushSrcClass *pushsrc_class = GST_PUSH_SRC_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_spice_video_src_debug, "spicevideosrc", 0,
      "SPICE display source");
  frame_age_quark = g_quark_from_static_string ("gst-spice-frame-age");

  gobject_class->set_property = gst_spice_video_src_set_property;
  gobject_class->get_property = gst_spice_video_src_get_property;
  gobject_class->finalize = gst_spice_video_src_finalize;
  gst_spice_video_src_install_properties (gobject_class);

  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "SPICE display source", "Source/Video/Network",
      "The 2D display of a SPICE server (QEMU/KVM VM, Android container) as "
      "live raw video; the video half of spicesrc", "gst-spice developers");

  element_class->change_state =
      GST_DEBUG_FUNCPTR (gst_spice_video_src_change_state);
  element_class->post_message =
      GST_DEBUG_FUNCPTR (gst_spice_video_src_post_message);
  basesrc_class->start = GST_DEBUG_FUNCPTR (gst_spice_video_src_start);
  basesrc_class->stop = GST_DEBUG_FUNCPTR (gst_spice_video_src_stop);
  basesrc_class->unlock = GST_DEBUG_FUNCPTR (gst_spice_video_src_unlock);
  basesrc_class->unlock_stop =
      GST_DEBUG_FUNCPTR (gst_spice_video_src_unlock_stop);
  basesrc_class->get_caps = GST_DEBUG_FUNCPTR (gst_spice_video_src_get_caps);
  basesrc_class->fixate = GST_DEBUG_FUNCPTR (gst_spice_video_src_fixate);
  basesrc_class->negotiate = GST_DEBUG_FUNCPTR (gst_spice_video_src_negotiate);
  basesrc_class->decide_allocation =
      GST_DEBUG_FUNCPTR (gst_spice_video_src_decide_allocation);
  basesrc_class->query = GST_DEBUG_FUNCPTR (gst_spice_video_src_query);
  basesrc_class->event = GST_DEBUG_FUNCPTR (gst_spice_video_src_event);
  pushsrc_class->create = GST_DEBUG_FUNCPTR (gst_spice_video_src_create);
}

static void
gst_spice_video_src_init (GstSpiceVideoSrc * self)
{
  gst_spice_connection_settings_init (&self->settings.conn);
  self->settings.channel_id = DEFAULT_CHANNEL_ID;
  self->settings.show_cursor = DEFAULT_SHOW_CURSOR;
  self->settings.repeat_interval = DEFAULT_REPEAT_INTERVAL;
  self->settings.draw_done_timeout = DEFAULT_DRAW_DONE_TIMEOUT;
  self->settings.scanout_type = DEFAULT_SCANOUT_TYPE;
  self->st.settle_us = SETTLE_MIN_US;
  /* a latency query can come before start() (matroskamux's aggregator on
   * 1.26 asks while the pipeline goes to PAUSED) */
  self->fps_n = DEFAULT_FPS_N;
  self->fps_d = DEFAULT_FPS_D;
  g_mutex_init (&self->lock);
  g_mutex_init (&self->ack_lock);
  g_cond_init (&self->cond);
  gst_base_src_set_live (GST_BASE_SRC (self), TRUE);
  gst_base_src_set_format (GST_BASE_SRC (self), GST_FORMAT_TIME);
}

static void
gst_spice_video_src_finalize (GObject * object)
{
  GstSpiceVideoSrc *self = GST_SPICE_VIDEO_SRC (object);

  settings_clear (&self->settings);
  g_free (self->address);
  g_mutex_clear (&self->lock);
  g_mutex_clear (&self->ack_lock);
  g_cond_clear (&self->cond);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

void
gst_spice_video_src_set_session_features (GstSpiceVideoSrc * self,
    GstSpiceSessionFeatures features)
{
  GST_OBJECT_LOCK (self);
  self->settings.features = features;
  GST_OBJECT_UNLOCK (self);
}

static GstStateChangeReturn
gst_spice_video_src_change_state (GstElement * element,
    GstStateChange transition)
{
  GstSpiceVideoSrc *self = GST_SPICE_VIDEO_SRC (element);

  if (transition == GST_STATE_CHANGE_NULL_TO_READY &&
      !gst_spice_connection_check (element, &self->settings.conn))
    return GST_STATE_CHANGE_FAILURE;
  return GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
}

/* ---------------------------------------------------------------------- */
/* Copying (self->lock held): 2D damage is copied by the client helper,   */
/* asked from here; a mapped GL scanout is copied here                    */

static FrameAge *
frame_age_get (GstBuffer * buf)
{
  FrameAge *age = gst_mini_object_get_qdata (GST_MINI_OBJECT (buf),
      frame_age_quark);

  if (!age) {
    age = g_new0 (FrameAge, 1);
    gst_mini_object_set_qdata (GST_MINI_OBJECT (buf), frame_age_quark, age,
        g_free);
  }
  return age;
}

void
gst_spice_video_src_copy_rect_locked (GstSpiceVideoSrc * self,
    const GstVideoRectangle * r)
{
  GstVideoFrame *f = &self->st.back_frame;
  GstBuffer *back = self->st.back;
  guint bpp = GST_VIDEO_FRAME_COMP_PSTRIDE (f, 0);
  gint dstride = GST_VIDEO_FRAME_PLANE_STRIDE (f, 0);
  guint8 *dst = GST_VIDEO_FRAME_PLANE_DATA (f, 0);
  const guint8 *src = self->st.surface;
  gint x = CLAMP (r->x, 0, (gint) self->st.width);
  gint y = CLAMP (r->y, 0, (gint) self->st.height);
  gint x2 = CLAMP (r->x + r->w, 0, (gint) self->st.width);
  gint y2 = CLAMP (r->y + r->h, 0, (gint) self->st.height);
  gsize len;
  gint row;

  if (x2 <= x || y2 <= y)
    return;
  len = (gsize) (x2 - x) * bpp;
  if (self->st.remote_surface && !self->st.gl) {
    /* 2D: the helper copies, straight into the buffer's memfd */
    GstVideoRectangle clamped = { x, y, x2 - x, y2 - y };

    if (!gst_spice_session_copy (self->session, self->active.channel_id,
            self->st.remote_surface, gst_buffer_peek_memory (back, 0),
            GST_VIDEO_INFO_PLANE_OFFSET (&self->st.pool_info, 0), dstride,
            &clamped, self->st.flip)) {
      GST_WARNING_OBJECT (self, "frame buffer not in shared memory");
      return;
    }
    self->st.bytes_copied += len * (y2 - y);
    return;
  }
  for (row = y; row < y2; row++) {
    gint src_row = self->st.flip ? (gint) self->st.height - 1 - row : row;
    memcpy (dst + (gsize) row * dstride + (gsize) x * bpp,
        src + (gsize) src_row * self->st.stride + (gsize) x * bpp, len);
  }
  self->st.bytes_copied += len * (y2 - y);
}

/* Makes sure a back buffer exists and holds the current surface, copying
 * only what changed since it last held a frame.  Returns FALSE when there
 * is none to be had (no pool for this surface yet). */
gboolean
gst_spice_video_src_ensure_back_locked (GstSpiceVideoSrc * self)
{
  GstBufferPoolAcquireParams params = { 0, };
  GstBuffer *buf = NULL;
  FrameAge *age;
  GArray *rects;
  guint i;

  if (self->st.back)
    return TRUE;
  if (!HAVE_2D_SOURCE (self) || !self->st.pool
      || self->st.pool_cookie != self->st.surface_cookie)
    return FALSE;

  /* The last frame, when downstream is done with it and nothing shares
   * its memory, is the cheapest buffer to bring up to date: it misses only
   * what changed since.  Repeats cannot be made from it any more, but a
   * new frame is on its way. */
  buf = self->st.last;
  if (buf && buf->pool == self->st.pool &&
      GST_MINI_OBJECT_REFCOUNT_VALUE (buf) == 1 &&
      gst_buffer_n_memory (buf) == 1 &&
      GST_MINI_OBJECT_REFCOUNT_VALUE (gst_buffer_peek_memory (buf, 0)) == 1) {
    self->st.last = NULL;
  } else {
    buf = NULL;
    params.flags = GST_BUFFER_POOL_ACQUIRE_FLAG_DONTWAIT;
    if (gst_buffer_pool_acquire_buffer (self->st.pool, &buf, &params) !=
        GST_FLOW_OK)
      return FALSE;
  }

  /* only we hold it now: drop the read-only mark set when it was pushed */
  for (i = 0; i < gst_buffer_n_memory (buf); i++)
    GST_MINI_OBJECT_FLAG_UNSET (gst_buffer_peek_memory (buf, i),
        GST_MEMORY_FLAG_READONLY);
  if (!gst_video_frame_map (&self->st.back_frame, &self->st.pool_info, buf,
          GST_MAP_WRITE)) {
    GST_WARNING_OBJECT (self, "could not map a pool buffer");
    gst_buffer_unref (buf);
    return FALSE;
  }
  self->st.back = buf;

  age = frame_age_get (buf);
  rects = g_array_new (FALSE, FALSE, sizeof (GstVideoRectangle));
  if (age->has_extra)
    gst_damage_rects_add (rects, &age->extra, 16);
  if (gst_damage_history_collect (self->st.damage, age->complete_through,
          rects)) {
    for (i = 0; i < rects->len; i++)
      gst_spice_video_src_copy_rect_locked (self, &g_array_index (rects,
              GstVideoRectangle, i));
  } else {
    GstVideoRectangle all = { 0, 0, self->st.width, self->st.height };
    gst_spice_video_src_copy_rect_locked (self, &all);
  }
  g_array_free (rects, TRUE);
  age->has_extra = FALSE;
  return TRUE;
}

void
gst_spice_video_src_drop_back_locked (GstSpiceVideoSrc * self)
{
  if (!self->st.back)
    return;
  gst_video_frame_unmap (&self->st.back_frame);
  gst_buffer_unref (self->st.back);
  self->st.back = NULL;
}

/* ---------------------------------------------------------------------- */
/* Session callbacks (the plugin's spice thread)                          */

static void
on_primary_create (gpointer user_data, GstVideoFormat format,
    gint spice_format, guint width, guint height, guint stride, guint surface)
{
  GstSpiceVideoSrc *self = user_data;

  GST_INFO_OBJECT (self, "surface %ux%u %s (SPICE format %d)", width, height,
      gst_video_format_to_string (format), spice_format);
  g_mutex_lock (&self->lock);
  /* a GL display also has a 2D primary, never drawn: the scanout wins */
  if (self->st.attached && !self->st.gl) {
    gst_spice_video_src_drop_back_locked (self);
    self->st.remote_surface = surface;
    self->st.flip = FALSE;
    self->st.format = format;
    self->st.spice_format = spice_format;
    self->st.width = width;
    self->st.height = height;
    self->st.stride = stride;
    self->st.surface_cookie++;
    self->st.surface_drawn = FALSE;
    self->st.dirty = FALSE;
    gst_damage_history_reset (self->st.damage, width, height);
    g_cond_broadcast (&self->cond);
  }
  g_mutex_unlock (&self->lock);
}

static void
on_primary_destroy (gpointer user_data)
{
  GstSpiceVideoSrc *self = user_data;

  GST_DEBUG_OBJECT (self, "surface destroyed");
  g_mutex_lock (&self->lock);
  if (!self->st.gl) {
    gst_spice_video_src_drop_back_locked (self);
    self->st.remote_surface = 0;
  }
  g_mutex_unlock (&self->lock);
}

static gboolean
settle_idle (gpointer data)
{
  GstSpiceVideoSrc *self = data;

  g_mutex_lock (&self->lock);
  self->st.settle_pending = FALSE;
  self->st.settled = TRUE;
  g_mutex_unlock (&self->lock);
  /* after letting go of the lock: woken under it, the streaming thread
   * would block on it at once (one more context switch per frame) */
  g_cond_broadcast (&self->cond);
  return G_SOURCE_REMOVE;
}

/* A guest update often comes as several draws in a row (SPICE 2D has no
 * frame boundaries).  A frame is taken only once the thread handling SPICE
 * has nothing more of higher priority to do: a lower-priority idle marks
 * the damage "settled".  Without it a frame could be taken between two
 * draws of one update, and then spend the framerate's credit the complete
 * frame needed.  A guest that never lets it settle (draws coming faster
 * than they are handled) still gets a frame once its oldest damage is a
 * frame interval old. */
void
gst_spice_video_src_mark_dirty_locked (GstSpiceVideoSrc * self)
{
  self->st.damage_time = g_get_monotonic_time ();
  if (!self->st.dirty) {
    gint64 gap = self->st.damage_time - self->st.frame_damage_time;

    self->st.dirty_since = self->st.damage_time;
    /* within a quarter frame interval at most: faster guests' updates
     * are not splits */
    if (self->st.frame_damage_time > 0 && gap < MIN (SPLIT_WINDOW_US,
            (gint64) self->st.frame_interval_ms * 1000 / 4)) {
      self->st.split_updates++;
      self->st.settle_us = CLAMP (gap * 3 / 2, self->st.settle_us,
          SETTLE_MAX_US);
      GST_LOG_OBJECT (self, "update split %" G_GINT64_FORMAT " us apart, "
          "settle time now %" G_GINT64_FORMAT " us", gap, self->st.settle_us);
    }
    self->st.frame_damage_time = 0;
  }
  self->st.dirty = TRUE;
  self->st.settled = FALSE;
  if (!self->st.settle_pending) {
    self->st.settle_pending = TRUE;
    gst_spice_session_invoke_settled (self->session, settle_idle,
        gst_object_ref (self), gst_object_unref);
  }
}

static void
on_invalidate (gpointer user_data, gint x, gint y, gint w, gint h)
{
  GstSpiceVideoSrc *self = user_data;
  GstVideoRectangle r = { x, y, w, h };
  gboolean had_back;

  g_mutex_lock (&self->lock);
  if (!HAVE_2D_SOURCE (self) || self->st.format == GST_VIDEO_FORMAT_UNKNOWN ||
      self->st.gl) {
    g_mutex_unlock (&self->lock);
    return;
  }
  self->st.damage_events++;
  gst_damage_history_add (self->st.damage, &r);
  had_back = self->st.back != NULL;
  /* a new back buffer is caught up including this rectangle */
  if (gst_spice_video_src_ensure_back_locked (self) && had_back)
    gst_spice_video_src_copy_rect_locked (self, &r);
  self->st.surface_drawn = TRUE;
  /* no wake-up here: settle_idle wakes the streaming thread once the
   * update is complete */
  gst_spice_video_src_mark_dirty_locked (self);
  g_mutex_unlock (&self->lock);
}

static void
on_cursor (gpointer user_data, const GstSpiceCursor * c)
{
  GstSpiceVideoSrc *self = user_data;
  gboolean show;

  GST_OBJECT_LOCK (self);
  show = self->settings.show_cursor;
  GST_OBJECT_UNLOCK (self);

  g_mutex_lock (&self->lock);
  self->st.cursor_visible = c->visible;
  self->st.cursor_x = c->x;
  self->st.cursor_y = c->y;
  self->st.cursor_w = c->width;
  self->st.cursor_h = c->height;
  self->st.cursor_hot_x = c->hot_x;
  self->st.cursor_hot_y = c->hot_y;
  if (self->st.cursor_rgba != c->rgba) {
    g_clear_pointer (&self->st.cursor_rgba, g_bytes_unref);
    if (c->rgba)
      self->st.cursor_rgba = g_bytes_ref (c->rgba);
  }
  /* the frame changes although the surface does not */
  if (show && self->st.surface_drawn) {
    gst_spice_video_src_mark_dirty_locked (self);
    gst_spice_video_src_ensure_back_locked (self);
  }
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
}

static void
on_state (gpointer user_data, GstSpiceSessionState state,
    const GError * error, const gchar * debug)
{
  GstSpiceVideoSrc *self = user_data;
  GstStructure *msg = NULL;

  g_mutex_lock (&self->lock);
  gst_spice_link_state_update (&self->st.link, state, error, debug);
  switch (state) {
    case GST_SPICE_SESSION_CONNECTED:
      msg = gst_structure_new ("spice-connected",
          "address", G_TYPE_STRING, self->address, NULL);
      break;
    case GST_SPICE_SESSION_LOST:
      msg = gst_structure_new ("spice-disconnected",
          "address", G_TYPE_STRING, self->address,
          "reason", G_TYPE_STRING, error ? error->message : "",
          "debug", G_TYPE_STRING, debug ? debug : "", NULL);
      break;
    case GST_SPICE_SESSION_RECONNECTED:
      self->st.reconnects++;
      msg = gst_structure_new ("spice-reconnected",
          "address", G_TYPE_STRING, self->address,
          "reconnects", G_TYPE_UINT64, self->st.reconnects, NULL);
      break;
    default:
      break;
  }
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);

  if (msg)
    gst_element_post_message (GST_ELEMENT (self),
        gst_message_new_element (GST_OBJECT (self), msg));
}

static const GstSpiceDisplayCallbacks display_callbacks = {
  on_primary_create,
  on_primary_destroy,
  on_invalidate,
  on_cursor,
  on_state,
  gst_spice_video_src_on_gl_scanout,
  gst_spice_video_src_on_gl_draw,
  gst_spice_video_src_on_gl_draw_late,
};

/* Asked by the streaming thread when a frame is due but no back buffer
 * could be prepared at damage time (no pool yet for a new surface). */
static gboolean
kick_idle (gpointer data)
{
  GstSpiceVideoSrc *self = data;

  guint64 held = 0;

  g_mutex_lock (&self->lock);
  self->st.kick_pending = FALSE;
  if (self->st.attached && gst_spice_video_src_ensure_back_locked (self)) {
    /* a GL draw that came before the pool is in the copy now */
    held = self->st.gl_seq;
    self->st.gl_seq = 0;
    g_cond_broadcast (&self->cond);
  }
  g_mutex_unlock (&self->lock);
  gst_spice_video_src_release_draw (self, held);
  return G_SOURCE_REMOVE;
}

/* ---------------------------------------------------------------------- */
/* GstBaseSrc                                                             */

static gboolean
gst_spice_video_src_start (GstBaseSrc * src)
{
  GstSpiceVideoSrc *self = GST_SPICE_VIDEO_SRC (src);

  GST_OBJECT_LOCK (self);
  settings_clear (&self->active);
  settings_copy (&self->active, &self->settings);
  GST_OBJECT_UNLOCK (self);

  self->session = gst_spice_connection_acquire (GST_ELEMENT (self),
      &self->active.conn, self->active.features);
  if (!self->session)
    return FALSE;
  g_mutex_lock (&self->lock);
  memset (&self->st, 0, sizeof (self->st));
  self->st.attached = TRUE;
  self->st.settle_us = SETTLE_MIN_US;
  self->st.damage = gst_damage_history_new (DAMAGE_HISTORY_DEPTH);
  self->st.dmabuf_allocator = gst_dmabuf_allocator_new ();
  self->st.fd_allocator = gst_fd_allocator_new ();
  g_mutex_unlock (&self->lock);
  g_mutex_lock (&self->ack_lock);
  self->ack.session = self->session;
  self->ack.channel_id = self->active.channel_id;
  self->ack.held = 0;
  g_mutex_unlock (&self->ack_lock);

  self->last_pts = GST_CLOCK_TIME_NONE;
  self->last_push_us = 0;
  self->credit_us = 0;
  self->credit_time_us = 0;
  self->negotiated_cookie = 0;
  self->fps_n = DEFAULT_FPS_N;
  self->fps_d = DEFAULT_FPS_D;
  self->start_us = g_get_monotonic_time ();
  self->discont = TRUE;
  self->orientation_flipped = FALSE;
  self->refused_cookie = 0;
  self->refused_until = 0;

  g_free (self->address);
  self->address = g_strdup (gst_spice_session_get_address (self->session));
  self->listener_id = gst_spice_session_add_display_listener (self->session,
      self->active.channel_id, &display_callbacks, gst_object_ref (self),
      gst_object_unref);
  return TRUE;
}

static gboolean
gst_spice_video_src_stop (GstBaseSrc * src)
{
  GstSpiceVideoSrc *self = GST_SPICE_VIDEO_SRC (src);
  GstBufferPool *pool;

  if (self->session) {
    GstSpiceSession *session = self->session;

    gst_spice_session_remove_listener (session, self->listener_id);
    /* a draw still held (frames downstream, or one never pushed) is let go
     * now: buffers released later find no session */
    g_mutex_lock (&self->ack_lock);
    if (self->ack.held)
      gst_spice_session_gl_draw_done (session, self->ack.channel_id,
          self->ack.held);
    self->ack.held = 0;
    self->ack.session = NULL;
    g_mutex_unlock (&self->ack_lock);
    g_mutex_lock (&self->lock);
    self->st.attached = FALSE;
    self->st.surface = NULL;
    self->st.remote_surface = 0;
    gst_spice_video_src_gl_clear_locked (self);
    g_mutex_unlock (&self->lock);
    /* navigation events (any thread) look at it under the object lock */
    GST_OBJECT_LOCK (self);
    self->session = NULL;
    GST_OBJECT_UNLOCK (self);
    gst_spice_session_release (session);
  }

  g_mutex_lock (&self->lock);
  gst_spice_video_src_drop_back_locked (self);
  pool = self->st.pool;
  self->st.pool = NULL;
  g_clear_pointer (&self->st.damage, gst_damage_history_free);
  g_clear_pointer (&self->st.cursor_rgba, g_bytes_unref);
  g_clear_pointer (&self->st.unknown_keys, g_hash_table_unref);
  gst_spice_video_src_gl_clear_locked (self);
  gst_clear_object (&self->st.dmabuf_allocator);
  gst_clear_object (&self->st.fd_allocator);
  gst_spice_link_state_clear (&self->st.link);
  gst_clear_buffer (&self->st.last);
  g_mutex_unlock (&self->lock);

  if (pool) {
    gst_buffer_pool_set_active (pool, FALSE);
    gst_object_unref (pool);
  }
  settings_clear (&self->active);
  return TRUE;
}

static gboolean
gst_spice_video_src_unlock (GstBaseSrc * src)
{
  GstSpiceVideoSrc *self = GST_SPICE_VIDEO_SRC (src);

  g_mutex_lock (&self->lock);
  self->st.flushing = TRUE;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  /* a frame waiting for the helper's copies (a stuck helper) */
  if (self->session)
    gst_spice_session_sync_cancel (self->session);
  return TRUE;
}

static gboolean
gst_spice_video_src_unlock_stop (GstBaseSrc * src)
{
  GstSpiceVideoSrc *self = GST_SPICE_VIDEO_SRC (src);

  g_mutex_lock (&self->lock);
  self->st.flushing = FALSE;
  g_mutex_unlock (&self->lock);
  return TRUE;
}

static gboolean
gst_spice_video_src_event (GstBaseSrc * src, GstEvent * event)
{
  GstSpiceVideoSrc *self = GST_SPICE_VIDEO_SRC (src);

  if (GST_EVENT_TYPE (event) == GST_EVENT_NAVIGATION) {
    gboolean handled = FALSE;

    /* input only queues work for the spice thread: cheap under the lock */
    GST_OBJECT_LOCK (self);
    if (self->session)
      handled =
          gst_spice_video_src_navigate_locked (self, self->session, event);
    GST_OBJECT_UNLOCK (self);
    return handled;
  }
  return GST_BASE_SRC_CLASS (parent_class)->event (src, event);
}

static gboolean
gst_spice_video_src_query (GstBaseSrc * src, GstQuery * query)
{
  GstSpiceVideoSrc *self = GST_SPICE_VIDEO_SRC (src);

  if (GST_QUERY_TYPE (query) == GST_QUERY_LATENCY) {
    GstClockTime min;

    /* a frame is taken and pushed at once, but may wait up to one frame
     * interval for its slot when damage comes faster than the framerate */
    min = gst_util_uint64_scale_int (GST_SECOND, self->fps_d, self->fps_n);
    gst_query_set_latency (query, TRUE, min, GST_CLOCK_TIME_NONE);
    GST_DEBUG_OBJECT (self, "latency min %" GST_TIME_FORMAT,
        GST_TIME_ARGS (min));
    return TRUE;
  }
  return GST_BASE_SRC_CLASS (parent_class)->query (src, query);
}

static void
blend_cursor (GstSpiceVideoSrc * self, GstBuffer * buf, const GstVideoInfo *
    info, GBytes * rgba, gint cx, gint cy, guint cw, guint ch,
    GstVideoRectangle * drawn)
{
  const GstVideoFormatInfo *finfo = info->finfo;
  GstVideoFrame frame;
  const guint8 *src = g_bytes_get_data (rgba, NULL);
  gint ro, go, bo, stride;
  gint x0 = MAX (cx, 0), y0 = MAX (cy, 0);
  gint x1 = MIN (cx + (gint) cw, GST_VIDEO_INFO_WIDTH (info));
  gint y1 = MIN (cy + (gint) ch, GST_VIDEO_INFO_HEIGHT (info));
  gint x, y;
  guint8 *data;

  drawn->w = drawn->h = 0;
  /* 16-bit surfaces are rare (old guests); the cursor is not drawn there */
  if (GST_VIDEO_FORMAT_INFO_PSTRIDE (finfo, 0) != 4 || x1 <= x0 || y1 <= y0)
    return;
  if (!gst_video_frame_map (&frame, info, buf, GST_MAP_WRITE))
    return;
  ro = GST_VIDEO_FORMAT_INFO_POFFSET (finfo, GST_VIDEO_COMP_R);
  go = GST_VIDEO_FORMAT_INFO_POFFSET (finfo, GST_VIDEO_COMP_G);
  bo = GST_VIDEO_FORMAT_INFO_POFFSET (finfo, GST_VIDEO_COMP_B);
  stride = GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0);
  data = GST_VIDEO_FRAME_PLANE_DATA (&frame, 0);
  for (y = y0; y < y1; y++) {
    const guint8 *s = src + ((gsize) (y - cy) * cw + (x0 - cx)) * 4;
    guint8 *d = data + (gsize) y * stride + (gsize) x0 * 4;
    for (x = x0; x < x1; x++, s += 4, d += 4) {
      guint a = s[3];
      if (a == 0)
        continue;
      d[ro] = (s[0] * a + d[ro] * (255 - a) + 127) / 255;
      d[go] = (s[1] * a + d[go] * (255 - a) + 127) / 255;
      d[bo] = (s[2] * a + d[bo] * (255 - a) + 127) / 255;
    }
  }
  gst_video_frame_unmap (&frame);
  drawn->x = x0;
  drawn->y = y0;
  drawn->w = x1 - x0;
  drawn->h = y1 - y0;
}

static void
mark_readonly (GstBuffer * buf)
{
  guint i;

  /* downstream elements that write in place get a copy instead of
   * scribbling over content we reuse for the next frames */
  for (i = 0; i < gst_buffer_n_memory (buf); i++)
    GST_MINI_OBJECT_FLAG_SET (gst_buffer_peek_memory (buf, i),
        GST_MEMORY_FLAG_READONLY);
}

/* A new buffer on the same memory: no pixel is copied, whatever flags the
 * pool's allocator put on the memory (gst_buffer_copy() deep-copies
 * NO_SHARE memory). */
static GstBuffer *
make_repeat (GstBuffer * last)
{
  GstBuffer *buf = gst_buffer_new ();
  guint i;

  for (i = 0; i < gst_buffer_n_memory (last); i++)
    gst_buffer_append_memory (buf, gst_buffer_get_memory (last, i));
  gst_buffer_copy_into (buf, last, GST_BUFFER_COPY_METADATA, 0, -1);
  return buf;
}

static GstFlowReturn
gst_spice_video_src_create (GstPushSrc * psrc, GstBuffer ** outbuf)
{
  GstSpiceVideoSrc *self = GST_SPICE_VIDEO_SRC (psrc);
  GstBuffer *buf = NULL;
  gboolean repeat = FALSE;
  gint64 capture_us = 0;
  gboolean draw_cursor = FALSE;
  GBytes *cursor = NULL;
  gint cx = 0, cy = 0;
  guint cw = 0, ch = 0;
  GstVideoInfo info;
  guint repeat_ms, repeat_setting;
  gboolean show_cursor;
  guint64 frame_no = 0;
  gboolean dmabuf_frame = FALSE;
  GstBuffer *dmabuf_last = NULL;

  GST_OBJECT_LOCK (self);
  show_cursor = self->settings.show_cursor;
  repeat_setting = self->settings.repeat_interval;
  GST_OBJECT_UNLOCK (self);

  g_mutex_lock (&self->lock);
  for (;;) {
    gint64 now, deadline, interval_us;
    guint timeout_ms = self->active.conn.connect_timeout;

    if (self->st.flushing)
      goto flushing;
    if (self->st.link.error)
      goto session_error;
    if (HAVE_2D_SOURCE (self) && self->st.format == GST_VIDEO_FORMAT_UNKNOWN)
      goto unsupported;

    if (gst_spice_video_src_have_surface_locked (self) &&
        self->st.surface_cookie != self->negotiated_cookie &&
        (self->st.gl || self->st.surface_drawn)) {
      guint cookie = self->st.surface_cookie;
      gboolean ok, waiting = FALSE, grace;

      now = g_get_monotonic_time ();
      grace = cookie != self->refused_cookie || now < self->refused_until;
      g_mutex_unlock (&self->lock);
      ok = gst_spice_video_src_negotiate_surface (self, grace, &waiting);
      g_mutex_lock (&self->lock);
      if (waiting) {
        if (cookie != self->refused_cookie) {
          self->refused_cookie = cookie;
          self->refused_until = now + REFUSED_2D_GRACE_US;
        }
        if (self->st.surface_cookie == cookie && !self->st.flushing)
          g_cond_wait_until (&self->cond, &self->lock, self->refused_until);
        continue;
      }
      if (!ok)
        goto not_negotiated;
      continue;
    }

    now = g_get_monotonic_time ();
    interval_us = gst_util_uint64_scale_int (G_USEC_PER_SEC, self->fps_d,
        self->fps_n);
    /* Token bucket: a frame costs one interval of credit; credit grows up
     * to 2 intervals, so early (jittery) damage goes at once, and so does
     * the rest of an update whose first draws were taken as a frame of
     * their own (the settle idle cannot see draws still in flight).  It grows
     * 1/16 faster than real time: with damage arriving at exactly the
     * framerate a bucket refilled at exactly that rate keeps, for good, any
     * delay a frame once had to wait (the benchmark showed a constant 0 to
     * 16 ms); the surplus pays such a delay back within 16 frames, at the
     * price of up to 6% more frames than the caps say when the guest draws
     * faster (guest and host clocks drift by that order anyway). */
    self->credit_us = MIN (self->credit_us +
        (now - self->credit_time_us) * 17 / 16, 2 * interval_us);
    self->credit_time_us = now;
    repeat_ms = repeat_setting;
    if (self->st.link.lost && (repeat_ms == 0 || repeat_ms >
            LOST_REPEAT_INTERVAL_MS))
      repeat_ms = LOST_REPEAT_INTERVAL_MS;

    if (self->st.dmabuf && self->st.gl_mem && self->st.dirty &&
        self->credit_us >= interval_us) {
      /* one frame per draw: the guest waits for its release to draw on */
      buf =
          gst_spice_video_src_make_dmabuf_frame_locked (self, self->st.gl_seq);
      /* repeats are fresh shares of the scanout: the last frame is kept
       * only for its timestamps and flags, without memory (keeping the
       * frame itself would hold the draw) */
      dmabuf_last = gst_buffer_new ();
      self->st.gl_seq = 0;
      self->st.dirty = FALSE;
      capture_us = self->st.damage_time;
      frame_no = self->st.frames++;
      dmabuf_frame = TRUE;
      self->credit_us -= interval_us;
      break;
    }
    if (self->st.dirty && self->st.back && self->credit_us >= interval_us &&
        ((self->st.settled && now >= self->st.damage_time +
                self->st.settle_us) ||
            now >= self->st.dirty_since + interval_us)) {
      FrameAge *age;

      buf = self->st.back;
      gst_video_frame_unmap (&self->st.back_frame);
      self->st.back = NULL;
      age = frame_age_get (buf);
      age->complete_through = gst_damage_history_close (self->st.damage);
      self->st.dirty = FALSE;
      self->st.frame_damage_time = self->st.damage_time;
      if (self->st.settle_us > SETTLE_MIN_US)
        self->st.settle_us -= MAX ((self->st.settle_us - SETTLE_MIN_US) /
            SETTLE_DECAY, 1);
      capture_us = self->st.damage_time;
      info = self->st.pool_info;
      frame_no = self->st.frames++;
      if (show_cursor && self->st.cursor_visible && self->st.cursor_rgba) {
        draw_cursor = TRUE;
        cursor = g_bytes_ref (self->st.cursor_rgba);
        cx = self->st.cursor_x - (gint) self->st.cursor_hot_x;
        cy = self->st.cursor_y - (gint) self->st.cursor_hot_y;
        cw = self->st.cursor_w;
        ch = self->st.cursor_h;
      }
      GST_LOG_OBJECT (self, "frame %" G_GUINT64_FORMAT " taken %"
          G_GINT64_FORMAT " us after its damage, credit %" G_GINT64_FORMAT
          " us", frame_no, now - capture_us, self->credit_us);
      self->credit_us -= interval_us;
      break;
    }
    if (self->st.last && repeat_ms > 0 &&
        now >= self->last_push_us + (gint64) repeat_ms * 1000) {
      if (self->st.dmabuf && self->st.gl_mem) {
        /* a fresh share with its own GstVideoMeta (gst_buffer_copy_into
         * does not carry it over here) */
        buf = gst_spice_video_src_make_dmabuf_frame_locked (self, 0);
        gst_buffer_copy_into (buf, self->st.last, GST_BUFFER_COPY_FLAGS |
            GST_BUFFER_COPY_TIMESTAMPS, 0, -1);
      } else {
        buf = make_repeat (self->st.last);
      }
      repeat = TRUE;
      self->st.repeats++;
      break;
    }
    if (self->st.dirty && !self->st.back && self->st.pool &&
        self->st.pool_cookie == self->st.surface_cookie &&
        !self->st.kick_pending) {
      self->st.kick_pending = TRUE;
      gst_spice_session_invoke (self->session, G_PRIORITY_DEFAULT, kick_idle,
          gst_object_ref (self), gst_object_unref);
    }

    deadline = G_MAXINT64;
    if (self->st.dmabuf && self->st.gl_mem && self->st.dirty)
      deadline = now + (interval_us - self->credit_us) * 16 / 17 + 1;
    if (self->st.dirty && self->st.back) {
      /* unsettled damage waits for the settle idle, a frame interval at
       * most */
      gint64 ready = self->st.dirty_since + interval_us;

      if (self->st.settled)
        ready = MIN (ready, self->st.damage_time + self->st.settle_us);
      deadline = MAX (now + (interval_us - self->credit_us) * 16 / 17 + 1,
          ready);
    }
    if (self->st.last && repeat_ms > 0)
      deadline = MIN (deadline, self->last_push_us + (gint64) repeat_ms * 1000);
    if (!self->st.last && !gst_spice_video_src_have_surface_locked (self)) {
      gint64 limit = self->start_us + (gint64) timeout_ms * 1000;
      if (now >= limit)
        goto timed_out;
      deadline = MIN (deadline, limit);
    }
    if (deadline == G_MAXINT64)
      g_cond_wait (&self->cond, &self->lock);
    else
      g_cond_wait_until (&self->cond, &self->lock, deadline);
  }
  g_mutex_unlock (&self->lock);

  if (repeat) {
    GST_BUFFER_PTS (buf) = gst_spice_running_time_of (GST_ELEMENT (self), 0);
    GST_LOG_OBJECT (self, "repeating the last frame");
  } else if (dmabuf_frame) {
    /* the cursor cannot be drawn without touching the pixels */
    GST_BUFFER_PTS (buf) = gst_spice_running_time_of (GST_ELEMENT (self),
        capture_us);
    GST_BUFFER_OFFSET (buf) = frame_no;
    gst_buffer_copy_into (dmabuf_last, buf, GST_BUFFER_COPY_FLAGS |
        GST_BUFFER_COPY_TIMESTAMPS, 0, -1);
    g_mutex_lock (&self->lock);
    gst_clear_buffer (&self->st.last);
    self->st.last = dmabuf_last;
    g_mutex_unlock (&self->lock);
  } else {
    FrameAge *age = frame_age_get (buf);

    /* the helper's copies into this buffer are done before anyone reads
     * it (no lock held: the answer comes through the spice thread) */
    if (!gst_spice_session_sync (self->session, SYNC_TIMEOUT_MS)) {
      gboolean flushing;

      g_mutex_lock (&self->lock);
      flushing = self->st.flushing;
      g_mutex_unlock (&self->lock);
      if (flushing) {
        gst_buffer_unref (buf);
        g_clear_pointer (&cursor, g_bytes_unref);
        return GST_FLOW_FLUSHING;
      }
      GST_WARNING_OBJECT (self, "the client helper did not finish copying "
          "frame %" G_GUINT64_FORMAT " within %d ms", frame_no,
          SYNC_TIMEOUT_MS);
    }
    if (draw_cursor) {
      GstVideoRectangle drawn;
      blend_cursor (self, buf, &info, cursor, cx, cy, cw, ch, &drawn);
      age->has_extra = drawn.w > 0;
      age->extra = drawn;
      g_bytes_unref (cursor);
    }
    mark_readonly (buf);
    GST_BUFFER_PTS (buf) =
        gst_spice_running_time_of (GST_ELEMENT (self), capture_us);
    GST_BUFFER_OFFSET (buf) = frame_no;
    g_mutex_lock (&self->lock);
    gst_clear_buffer (&self->st.last);
    self->st.last = gst_buffer_ref (buf);
    g_mutex_unlock (&self->lock);
  }
  if (GST_CLOCK_TIME_IS_VALID (self->last_pts) &&
      GST_CLOCK_TIME_IS_VALID (GST_BUFFER_PTS (buf)) &&
      GST_BUFFER_PTS (buf) <= self->last_pts)
    GST_BUFFER_PTS (buf) = self->last_pts + 1;
  self->last_pts = GST_BUFFER_PTS (buf);
  GST_BUFFER_DTS (buf) = GST_CLOCK_TIME_NONE;
  GST_BUFFER_DURATION (buf) = GST_CLOCK_TIME_NONE;
  if (self->discont) {
    GST_BUFFER_FLAG_SET (buf, GST_BUFFER_FLAG_DISCONT);
    self->discont = FALSE;
  } else {
    GST_BUFFER_FLAG_UNSET (buf, GST_BUFFER_FLAG_DISCONT);
  }
  self->last_push_us = g_get_monotonic_time ();
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
unsupported:
  {
    gint fmt = self->st.spice_format;

    g_mutex_unlock (&self->lock);
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("The SPICE server's display uses a surface format this element "
            "cannot output (SPICE format %d)", fmt),
        ("supported: 32-bit xRGB/ARGB, 16-bit 565/555"));
    return GST_FLOW_NOT_NEGOTIATED;
  }
not_negotiated:
  {
    g_mutex_unlock (&self->lock);
    return GST_FLOW_NOT_NEGOTIATED;
  }
timed_out:
  {
    gboolean connected = self->st.link.connected;

    g_mutex_unlock (&self->lock);
    gst_spice_connection_post_timeout (GST_ELEMENT (self), self->address,
        connected, self->active.conn.connect_timeout, "display");
    return GST_FLOW_ERROR;
  }
}
