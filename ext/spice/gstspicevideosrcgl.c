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

/* spicevideosrc's GL displays: the scanout (a DMA-BUF, memfd or
 * EGLStream fd) and its draws, frames that share the scanout's memory and
 * hold the guest's draw until downstream lets go of them. */

/* self->lock held; what it drops holds no draw (gst_memory_unref of the
 * scanout memory closes our dup only) */
void
gst_spice_video_src_gl_clear_locked (GstSpiceVideoSrc * self)
{
  if (self->st.gl_map) {
    munmap (self->st.gl_map, self->st.gl_map_size);
    self->st.gl_map = NULL;
    self->st.gl_map_size = 0;
  }
  g_clear_pointer (&self->st.gl_map_error, g_free);
  if (self->st.gl_mem) {
    gst_memory_unref (self->st.gl_mem);
    self->st.gl_mem = NULL;
  }
}

/* Lets go of GL draw @seq if we still hold it: any thread, takes only
 * ack_lock (buffers are freed under self->lock in places). */
void
gst_spice_video_src_release_draw (GstSpiceVideoSrc * self, guint64 seq)
{
  g_mutex_lock (&self->ack_lock);
  if (seq != 0 && self->ack.held == seq) {
    self->ack.held = 0;
    if (self->ack.session)
      gst_spice_session_gl_draw_done (self->ack.session, self->ack.channel_id,
          seq);
  }
  g_mutex_unlock (&self->ack_lock);
}

typedef struct
{
  GstSpiceVideoSrc *self;
  guint64 seq;
} DrawRelease;

/* downstream freed the memory of a DMA-BUF frame */
static void
draw_released (gpointer data, GstMiniObject * obj)
{
  DrawRelease *d = data;

  GST_LOG_OBJECT (d->self, "frame of draw %" G_GUINT64_FORMAT " released",
      d->seq);
  gst_spice_video_src_release_draw (d->self, d->seq);
  gst_object_unref (d->self);
  g_free (d);
}

/* self->lock held: fails the element with a clear error (once) */
static void
gl_fail_locked (GstSpiceVideoSrc * self, GstStreamError code,
    const gchar * message, const gchar * debug)
{
  GError *err = g_error_new_literal (GST_STREAM_ERROR, code, message);

  GST_WARNING_OBJECT (self, "%s (%s)", message, debug);
  gst_spice_link_state_update (&self->st.link, GST_SPICE_SESSION_FAILED,
      err, debug);
  g_error_free (err);
  g_cond_broadcast (&self->cond);
}

/* A GL display's scanout.  It goes downstream as DMA-BUF memory (our own
 * dup of the fd) when downstream takes that; it is also mapped, to copy
 * draws into system-memory frames otherwise. */
void
gst_spice_video_src_on_gl_scanout (gpointer user_data, gint fd, guint width,
    guint height, guint stride, guint32 fourcc, gboolean y0top)
{
  GstSpiceVideoSrc *self = user_data;
  GstVideoFormat format = gst_spice_drm_fourcc_to_video_format (fourcc);
  off_t size = lseek (fd, 0, SEEK_END);
  int seek_errno = errno;
  gsize need = (gsize) stride * height;
  gchar *msg = NULL, *debug = NULL;
  void *map;
  int dup_fd;
  gboolean stream;
  guint64 held = 0;

  /* an EGLStream fd is no buffer: it has no size */
  stream = self->active.scanout_type == GST_SPICE_SCANOUT_TYPE_EGLSTREAM ||
      (self->active.scanout_type == GST_SPICE_SCANOUT_TYPE_AUTO && size < 0);
  GST_INFO_OBJECT (self, "GL scanout fd %d %ux%u stride %u fourcc %"
      GST_FOURCC_FORMAT " y0top %d (%s)", fd, width, height, stride,
      GST_FOURCC_ARGS (fourcc), y0top, stream ? "EGLStream" : "DMA-BUF");
  g_mutex_lock (&self->lock);
  if (!self->st.attached)
    goto done;
  if (stream) {
    if (format == GST_VIDEO_FORMAT_UNKNOWN || width == 0 || height == 0) {
      msg = g_strdup_printf ("The SPICE server's EGLStream scanout has a "
          "format or size this element cannot output (%ux%u, DRM fourcc %"
          GST_FOURCC_FORMAT ")", width, height, GST_FOURCC_ARGS (fourcc));
      debug = g_strdup_printf ("supported: %s",
          gst_spice_drm_fourcc_supported ());
      gl_fail_locked (self, GST_STREAM_ERROR_FORMAT, msg, debug);
      goto done;
    }
    dup_fd = fcntl (fd, F_DUPFD_CLOEXEC, 3);
    if (dup_fd < 0) {
      msg = g_strdup_printf ("Could not keep the SPICE server's GL scanout: "
          "%s", g_strerror (errno));
      gl_fail_locked (self, GST_STREAM_ERROR_FAILED, msg, "dup of the fd");
      goto done;
    }
    gst_spice_video_src_drop_back_locked (self);
    gst_spice_video_src_gl_clear_locked (self);
    self->st.gl_mem = gst_spice_egl_stream_memory_new (self->st.fd_allocator,
        dup_fd);
    self->st.gl_stream = TRUE;
    map = NULL;
    goto new_surface;
  }
  if (format == GST_VIDEO_FORMAT_UNKNOWN) {
    msg = g_strdup_printf ("The SPICE server's GL scanout uses a format "
        "this element cannot output (DRM fourcc %" GST_FOURCC_FORMAT ")",
        GST_FOURCC_ARGS (fourcc));
    debug =
        g_strdup_printf ("supported: %s", gst_spice_drm_fourcc_supported ());
  } else if (width == 0 || height == 0 || stride < width * 4) {
    msg = g_strdup_printf ("The SPICE server's GL scanout is malformed "
        "(%ux%u, stride %u)", width, height, stride);
    debug = g_strdup ("the stride must hold a row of 4-byte pixels");
  } else if (size < 0) {
    msg = g_strdup_printf ("The SPICE server's GL scanout is not a buffer "
        "(%ux%u): its fd has no size", width, height);
    debug = g_strdup_printf ("lseek (SEEK_END) on the scanout fd: %s "
        "(a DMA-BUF or memfd answers with its size)", g_strerror (seek_errno));
  } else if ((gsize) size < need) {
    msg = g_strdup_printf ("The SPICE server's GL scanout is smaller than "
        "its size says (%" G_GSIZE_FORMAT " bytes for %ux%u, stride %u)",
        (gsize) size, width, height, stride);
    debug = g_strdup ("fd size < stride x height");
  }
  if (msg) {
    gl_fail_locked (self, GST_STREAM_ERROR_FORMAT, msg, debug);
    goto done;
  }
  dup_fd = fcntl (fd, F_DUPFD_CLOEXEC, 3);
  if (dup_fd < 0) {
    msg = g_strdup_printf ("Could not keep the SPICE server's GL scanout: %s",
        g_strerror (errno));
    gl_fail_locked (self, GST_STREAM_ERROR_FAILED, msg, "dup of the fd");
    goto done;
  }
  gst_spice_video_src_drop_back_locked (self);
  gst_spice_video_src_gl_clear_locked (self);
  self->st.gl_mem = gst_dmabuf_allocator_alloc (self->st.dmabuf_allocator,
      dup_fd, size);
  self->st.gl_stream = FALSE;
  /* real DMA-BUFs may refuse mmap: then only DMA-BUF output is possible */
  map = mmap (NULL, need, PROT_READ, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) {
    self->st.gl_map_error = g_strdup_printf ("mmap of the scanout fd: %s",
        g_strerror (errno));
    GST_INFO_OBJECT (self, "scanout not mappable (%s): DMA-BUF output only",
        self->st.gl_map_error);
    map = NULL;
  }
  /* The SPICE scanout message (spice-client-glib 0.42's SpiceGlScanout)
   * carries no modifier: the buffer is linear, as the EGL import without
   * a modifier has always taken it (and a memfd is) */
  self->st.modifier = GST_SPICE_DRM_MOD_LINEAR;
new_surface:
  self->st.gl = TRUE;
  self->st.gl_map = map;
  self->st.gl_map_size = map ? need : 0;
  self->st.surface = map;
  self->st.flip = !y0top;
  self->st.format = format;
  self->st.spice_format = 0;
  self->st.width = width;
  self->st.height = height;
  self->st.stride = stride;
  self->st.surface_cookie++;
  self->st.surface_drawn = FALSE;
  self->st.dirty = FALSE;
  /* a draw of the old scanout not shown yet will not be: let it go (it
   * was left held until the deadline, 1 late draw in a loaded test run) */
  held = self->st.gl_seq;
  self->st.gl_seq = 0;
  gst_damage_history_reset (self->st.damage, width, height);
  g_cond_broadcast (&self->cond);
done:
  g_mutex_unlock (&self->lock);
  gst_spice_video_src_release_draw (self, held);
  g_free (msg);
  g_free (debug);
}

/* A draw of the GL scanout.  Copied at once when frames go out in system
 * memory; otherwise held (the guest must not draw into the buffer yet)
 * until downstream releases the DMA-BUF frame showing it, or until the
 * copy once the new scanout is negotiated. */
guint
gst_spice_video_src_on_gl_draw (gpointer user_data, guint x, guint y, guint w,
    guint h, guint64 seq)
{
  GstSpiceVideoSrc *self = user_data;
  GstVideoRectangle r;
  guint timeout;
  gboolean hold;

  GST_OBJECT_LOCK (self);
  timeout = self->settings.draw_done_timeout;
  GST_OBJECT_UNLOCK (self);

  g_mutex_lock (&self->lock);
  if (!self->st.gl || !self->st.gl_mem) {
    g_mutex_unlock (&self->lock);
    return 0;
  }
  /* the draw's rectangle is in scanout rows; the frame's go top-down */
  r.x = x;
  r.w = w;
  r.h = h;
  r.y = self->st.flip ? (gint) self->st.height - (gint) (y + h) : (gint) y;
  self->st.damage_events++;
  gst_damage_history_add (self->st.damage, &r);
  self->st.surface_drawn = TRUE;
  if (self->st.pool && self->st.pool_cookie == self->st.surface_cookie) {
    gboolean had_back = self->st.back != NULL;

    /* system memory: a new back buffer is caught up including this
     * rectangle */
    if (gst_spice_video_src_ensure_back_locked (self) && had_back)
      gst_spice_video_src_copy_rect_locked (self, &r);
    hold = self->st.back == NULL;
    gst_spice_video_src_mark_dirty_locked (self);
  } else {
    /* DMA-BUF frames, or not negotiated yet: nothing is copied here */
    hold = TRUE;
    self->st.dirty = TRUE;
    self->st.damage_time = g_get_monotonic_time ();
    self->st.settled = TRUE;
    g_cond_broadcast (&self->cond);
  }
  if (!hold || seq == 0) {
    self->st.gl_seq = 0;
    g_mutex_unlock (&self->lock);
    return 0;
  }
  if (timeout == 0)
    timeout = MAX (MIN_AUTO_DRAW_DONE_TIMEOUT, 2 * self->st.frame_interval_ms);
  self->st.hold_ms = timeout;
  self->st.gl_seq = seq;
  self->st.draws_held++;
  g_mutex_lock (&self->ack_lock);
  self->ack.held = seq;
  g_mutex_unlock (&self->ack_lock);
  g_mutex_unlock (&self->lock);
  return timeout;
}

void
gst_spice_video_src_on_gl_draw_late (gpointer user_data, guint64 seq)
{
  GstSpiceVideoSrc *self = user_data;
  gboolean first;
  guint timeout;

  g_mutex_lock (&self->lock);
  first = self->st.draws_late++ == 0;
  timeout = self->st.hold_ms;
  g_mutex_unlock (&self->lock);
  g_mutex_lock (&self->ack_lock);
  if (self->ack.held == seq)
    self->ack.held = 0;
  g_mutex_unlock (&self->ack_lock);
  if (first)
    GST_ELEMENT_WARNING (self, STREAM, FAILED,
        ("Downstream kept a frame of the guest's GL display longer than "
            "%u ms; the guest was told to draw on anyway (it may draw into "
            "a frame still being read)", timeout),
        ("draw-done-timeout expired for draw %" G_GUINT64_FORMAT " (posted "
            "once, counted in stats draws-late).  The guest draws its next "
            "frame only after this one is released: a sink that keeps the "
            "last frame (enable-last-sample) or a queue holds it back; "
            "dmabufimport or a copy releases it at once", seq));
}

/* A frame of the GL scanout as DMA-BUF: a share of our scanout memory,
 * whose release lets go of draw @seq (0: nothing to let go of). */
GstBuffer *
gst_spice_video_src_make_dmabuf_frame_locked (GstSpiceVideoSrc * self,
    guint64 seq)
{
  GstBuffer *buf = gst_buffer_new ();
  GstMemory *mem = gst_memory_share (self->st.gl_mem, 0, -1);
  gsize offset[GST_VIDEO_MAX_PLANES] = { 0, };
  gint stride[GST_VIDEO_MAX_PLANES] = { (gint) self->st.stride, };

  if (seq) {
    DrawRelease *d = g_new (DrawRelease, 1);

    d->self = gst_object_ref (self);
    d->seq = seq;
    gst_mini_object_weak_ref (GST_MINI_OBJECT (mem), draw_released, d);
  }
  gst_buffer_append_memory (buf, mem);
  /* an EGLStream's fd holds no pixels to describe */
  if (!self->st.gl_stream)
    gst_buffer_add_video_meta_full (buf, GST_VIDEO_FRAME_FLAG_NONE,
        self->st.format, self->st.width, self->st.height, 1, offset, stride);
  return buf;
}
