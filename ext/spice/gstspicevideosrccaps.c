/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
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

#define GST_CAT_DEFAULT gst_spice_video_src_debug

/* spicevideosrc's negotiation: the caps of the current surface or
 * scanout (system memory, DMA-BUF in this GStreamer's form, EGLStream),
 * the pool, the stream's orientation. */

/* self->lock held: a surface to capture (a GL scanout need not be
 * mappable) */
gboolean
gst_spice_video_src_have_surface_locked (GstSpiceVideoSrc * self)
{
  return HAVE_2D_SOURCE (self) || self->st.gl_mem != NULL;
}

/* self->lock held.  A GL scanout is offered as DMA-BUF first, then (when it
 * can be mapped) as system memory. */
static GstCaps *
surface_caps_locked (GstSpiceVideoSrc * self, gboolean allow_dmabuf)
{
  GstCaps *caps, *sys;

  if (!gst_spice_video_src_have_surface_locked (self)
      || self->st.format == GST_VIDEO_FORMAT_UNKNOWN)
    return NULL;
  sys = gst_caps_new_simple ("video/x-raw",
      "format", G_TYPE_STRING, gst_video_format_to_string (self->st.format),
      "width", G_TYPE_INT, (gint) self->st.width,
      "height", G_TYPE_INT, (gint) self->st.height,
      "framerate", GST_TYPE_FRACTION_RANGE, 1, 1, G_MAXINT, 1,
      "pixel-aspect-ratio", GST_TYPE_FRACTION, 1, 1, NULL);
  if (!self->st.gl_mem)
    return sys;
  caps = gst_caps_new_empty ();
  if (self->st.gl_stream) {
    /* the frames are in the stream, only its consumer can get them */
    gst_caps_set_features_simple (sys,
        gst_caps_features_new (GST_CAPS_FEATURE_MEMORY_EGL_STREAM, NULL));
    gst_caps_append (caps, sys);
    return caps;
  }
  if (allow_dmabuf) {
    /* format=DMA_DRM, drm-format=XR24 on >= 1.24; format=BGRx on 1.22 */
    GstCaps *dma = gst_spice_dmabuf_caps_new (self->st.format,
        self->st.modifier);

    gst_caps_set_simple (dma,
        "width", G_TYPE_INT, (gint) self->st.width,
        "height", G_TYPE_INT, (gint) self->st.height,
        "framerate", GST_TYPE_FRACTION_RANGE, 1, 1, G_MAXINT, 1,
        "pixel-aspect-ratio", GST_TYPE_FRACTION, 1, 1, NULL);
    gst_caps_append (caps, dma);
  }
  if (self->st.surface)
    gst_caps_append (caps, sys);
  else
    gst_caps_unref (sys);
  return caps;
}

GstCaps *
gst_spice_video_src_get_caps (GstBaseSrc * src, GstCaps * filter)
{
  GstSpiceVideoSrc *self = GST_SPICE_VIDEO_SRC (src);
  GstCaps *caps;

  g_mutex_lock (&self->lock);
  caps = surface_caps_locked (self, TRUE);
  g_mutex_unlock (&self->lock);
  if (!caps)
    caps = gst_pad_get_pad_template_caps (GST_BASE_SRC_PAD (src));
  if (filter) {
    GstCaps *tmp = gst_caps_intersect_full (filter, caps,
        GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref (caps);
    caps = tmp;
  }
  return caps;
}

GstCaps *
gst_spice_video_src_fixate (GstBaseSrc * src, GstCaps * caps)
{
  GstStructure *s;

  caps = gst_caps_make_writable (caps);
  caps = gst_caps_truncate (caps);
  s = gst_caps_get_structure (caps, 0);
  gst_structure_fixate_field_nearest_fraction (s, "framerate", DEFAULT_FPS_N,
      DEFAULT_FPS_D);
  return
      GST_BASE_SRC_CLASS (g_type_class_peek (GST_TYPE_PUSH_SRC))->fixate (src,
      caps);
}

/* Own pool, whatever downstream proposes: its buffers keep their content
 * from frame to frame, which is what makes damage-only copies possible. */
gboolean
gst_spice_video_src_decide_allocation (GstBaseSrc * src, GstQuery * query)
{
  while (gst_query_get_n_allocation_pools (query) > 0)
    gst_query_remove_nth_allocation_pool (query, 0);
  return TRUE;
}

/* Whether downstream reads strides from GstVideoMeta (a DMA-BUF frame
 * cannot be repacked without a copy). */
static gboolean
peer_takes_video_meta (GstSpiceVideoSrc * self, GstCaps * caps)
{
  GstQuery *query = gst_query_new_allocation (caps, FALSE);
  gboolean ok = FALSE;

  if (gst_pad_peer_query (GST_BASE_SRC_PAD (self), query))
    ok = gst_query_find_allocation_meta (query, GST_VIDEO_META_API_TYPE, NULL);
  gst_query_unref (query);
  return ok;
}

/* Sends the stream's orientation when it changes: DMA-BUF frames of a
 * bottom-up scanout go out as they are, and say so (system-memory frames
 * are flipped by the copy).  Streaming thread. */
static void
send_orientation (GstSpiceVideoSrc * self, gboolean flipped)
{
  GstTagList *tags;

  if (flipped == self->orientation_flipped)
    return;
  self->orientation_flipped = flipped;
  tags = gst_tag_list_new (GST_TAG_IMAGE_ORIENTATION,
      flipped ? "flip-rotate-180" : "rotate-0", NULL);
  gst_tag_list_set_scope (tags, GST_TAG_SCOPE_STREAM);
  GST_INFO_OBJECT (self, "orientation %" GST_PTR_FORMAT, tags);
  /* GstBaseSrc pushes it after the segment, before the next buffer */
  gst_element_send_event (GST_ELEMENT (self), gst_event_new_tag (tags));
}

/* Negotiates caps for the current surface and makes a pool for them (none
 * for DMA-BUF frames).  Streaming thread, no lock held.  With @grace, a 2D
 * surface downstream refuses is not an error yet (*@waiting): a GL
 * display's 2D primary can be drawn (a blank image) before its scanout
 * comes, and downstream may take only the scanout's DMA-BUFs. */
gboolean
gst_spice_video_src_negotiate_surface (GstSpiceVideoSrc * self, gboolean grace,
    gboolean * waiting)
{
  GstBaseSrc *bsrc = GST_BASE_SRC (self);
  GstCaps *ours, *peer, *caps, *current;
  GstBufferPool *pool = NULL, *old_pool = NULL;
  GstStructure *config;
  GstVideoInfo info;
  guint cookie, stride;
  gboolean same, dmabuf, allow_dmabuf = TRUE, flip, was_gl, stream;
  gchar *map_error;

again:
  g_mutex_lock (&self->lock);
  /* a 2D surface is negotiated once drawn: a GL display's 2D primary
   * never is, and must not pin caps its scanout cannot have */
  ours = self->st.gl || self->st.surface_drawn ?
      surface_caps_locked (self, allow_dmabuf) : NULL;
  cookie = self->st.surface_cookie;
  was_gl = self->st.gl;
  stride = self->st.stride;
  flip = self->st.flip;
  stream = self->st.gl_stream;
  g_mutex_unlock (&self->lock);
  if (!ours)
    return TRUE;                /* nothing to negotiate yet */

  peer = gst_pad_peer_query_caps (GST_BASE_SRC_PAD (bsrc), ours);
  if (gst_caps_is_empty (peer)) {
    gst_caps_unref (ours);
    gst_caps_unref (peer);
    goto not_negotiated;
  }
  /* our order of preference (DMA-BUF before a copy), not the peer's */
  {
    GstCaps *pick = NULL;
    guint i;

    for (i = 0; i < gst_caps_get_size (ours) && !pick; i++) {
      GstCaps *one = gst_caps_copy_nth (ours, i);

      if (gst_caps_can_intersect (one, peer))
        pick = gst_caps_intersect_full (peer, one, GST_CAPS_INTERSECT_FIRST);
      gst_caps_unref (one);
    }
    gst_caps_unref (ours);
    if (pick) {
      gst_caps_unref (peer);
      peer = pick;
    }
  }
  caps = gst_spice_video_src_fixate (bsrc, peer);
  /* (DMA_DRM caps have no layout: the one of the scanout's format) */
  if (!gst_spice_video_info_from_caps (&info, NULL, NULL, caps)) {
    gst_caps_unref (caps);
    goto not_negotiated;
  }
  dmabuf = gst_caps_features_contains (gst_caps_get_features (caps, 0),
      GST_CAPS_FEATURE_MEMORY_DMABUF) ||
      gst_caps_features_contains (gst_caps_get_features (caps, 0),
      GST_CAPS_FEATURE_MEMORY_EGL_STREAM);
  if (dmabuf && !stream &&
      stride != (guint) GST_VIDEO_INFO_PLANE_STRIDE (&info, 0) &&
      !peer_takes_video_meta (self, caps)) {
    GST_INFO_OBJECT (self, "downstream takes DMA-BUF but not GstVideoMeta, "
        "and the scanout's stride %u is not the packed one: copying", stride);
    gst_caps_unref (caps);
    allow_dmabuf = FALSE;
    goto again;
  }

  current = gst_pad_get_current_caps (GST_BASE_SRC_PAD (bsrc));
  same = current && gst_caps_is_equal (current, caps);
  if (current)
    gst_caps_unref (current);
  if (!same && !gst_base_src_set_caps (bsrc, caps)) {
    gst_caps_unref (caps);
    goto not_negotiated;
  }
  GST_INFO_OBJECT (self, "negotiated %" GST_PTR_FORMAT, caps);

  self->fps_n = info.fps_n > 0 ? info.fps_n : DEFAULT_FPS_N;
  self->fps_d = info.fps_n > 0 ? info.fps_d : DEFAULT_FPS_D;

  if (!dmabuf) {
    pool = gst_video_buffer_pool_new ();
    config = gst_buffer_pool_get_config (pool);
    gst_buffer_pool_config_set_params (config, caps, info.size, 0, 0);
    /* 2D frames are written by the client helper: shared memory */
    if (!was_gl) {
      GstAllocator *shm = gst_spice_session_get_allocator ();
      gst_buffer_pool_config_set_allocator (config, shm, NULL);
      gst_object_unref (shm);
    }
    gst_buffer_pool_config_add_option (config,
        GST_BUFFER_POOL_OPTION_VIDEO_META);
    if (!gst_buffer_pool_set_config (pool, config)
        || !gst_buffer_pool_set_active (pool, TRUE)) {
      gst_object_unref (pool);
      gst_caps_unref (caps);
      GST_ELEMENT_ERROR (self, RESOURCE, NO_SPACE_LEFT,
          ("Could not allocate video frames of %ux%u", info.width,
              info.height), (NULL));
      return FALSE;
    }
  }
  gst_caps_unref (caps);

  g_mutex_lock (&self->lock);
  gst_spice_video_src_drop_back_locked (self);
  old_pool = self->st.pool;
  self->st.pool = pool;
  self->st.pool_info = info;
  self->st.pool_cookie = cookie;
  self->st.dmabuf = dmabuf;
  self->st.frame_interval_ms = (guint) gst_util_uint64_scale_int_ceil (1000,
      self->fps_d, self->fps_n);
  /* whatever the old buffers hold is of no use in the new pool */
  gst_damage_history_reset (self->st.damage, self->st.width, self->st.height);
  /* the first frame in the new caps; a blank surface waits for its first
   * draw */
  self->st.dirty = self->st.surface_drawn;
  self->st.dirty_since = g_get_monotonic_time ();
  /* never repeat a frame of the old size after new caps */
  gst_clear_buffer (&self->st.last);
  g_mutex_unlock (&self->lock);

  if (old_pool) {
    gst_buffer_pool_set_active (old_pool, FALSE);
    gst_object_unref (old_pool);
  }
  self->negotiated_cookie = cookie;
  send_orientation (self, dmabuf && flip);
  return TRUE;

not_negotiated:
  g_mutex_lock (&self->lock);
  map_error = self->st.gl_mem && !self->st.surface ?
      g_strdup (self->st.gl_map_error) : NULL;
  /* (a scanout may have come since the caps were made) */
  if (!was_gl && (grace || cookie != self->st.surface_cookie)) {
    g_mutex_unlock (&self->lock);
    GST_INFO_OBJECT (self, "downstream refuses the 2D surface; waiting "
        "for a GL scanout before failing");
    *waiting = TRUE;
    return FALSE;
  }
  g_mutex_unlock (&self->lock);
  if (map_error) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("Downstream does not take the SPICE server's GL scanout as DMA-BUF, "
            "and it cannot be mapped to copy it"), ("%s", map_error));
    g_free (map_error);
    return FALSE;
  }
  GST_ELEMENT_ERROR (self, STREAM, FORMAT,
      ("Downstream cannot take the SPICE display as raw video"),
      ("no common caps with the peer for the surface format"));
  return FALSE;
}

gboolean
gst_spice_video_src_negotiate (GstBaseSrc * src)
{
  gboolean waiting = FALSE;

  /* a refused 2D surface: create() waits for a scanout, then fails */
  return gst_spice_video_src_negotiate_surface (GST_SPICE_VIDEO_SRC (src), TRUE,
      &waiting)
      || waiting;
}
