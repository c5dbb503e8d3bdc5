/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
#ifndef __GST_SPICE_VIDEO_SRC_PRIV_H__
#define __GST_SPICE_VIDEO_SRC_PRIV_H__

/* What spicevideosrc's files share: the element and its 2D path
 * (gstspicevideosrc.c), the GL scanout path (gstspicevideosrcgl.c),
 * negotiation (gstspicevideosrccaps.c) and navigation into the guest
 * (gstspicevideosrcinput.c). */

#include <gst/video/navigation.h>
#include <gst/allocators/gstdmabuf.h>

#include "gstspicevideosrc.h"
#include "gstspicesession.h"
#include "gstspicekeymap.h"
#include "gstdamagehistory.h"
#include "gstdrmformat.h"
#include "gstspiceeglstream.h"

G_BEGIN_DECLS

GST_DEBUG_CATEGORY_EXTERN (gst_spice_video_src_debug);

#define DEFAULT_CHANNEL_ID 0
#define DEFAULT_SHOW_CURSOR TRUE
#define DEFAULT_REPEAT_INTERVAL 1000
#define DEFAULT_FPS_N 30
#define DEFAULT_FPS_D 1
/* generations of damage remembered: more than the frames a pipeline keeps
 * in flight, or a returning buffer needs a full copy */
#define DAMAGE_HISTORY_DEPTH 32
/* A 2D frame is taken settle_us after its newest damage at the earliest: the
 * draws of one guest update can reach us a little apart (separate
 * messages), and a frame taken between them ("a split update") spends the
 * framerate's credit on half an update, the rest then waiting for credit
 * (10-13 ms latency spikes in the benchmark).  The settle time starts short,
 * about what the streaming thread takes to wake anyway (50 us: 2.7 context
 * switches per frame in spice-bench, 250 us: 3.0 and 0.2 ms more latency).
 * Each split update (new damage less than SPLIT_WINDOW_US after the newest
 * damage of the frame just taken) raises it to 1.5x the gap that split it,
 * up to SETTLE_MAX_US; it decays back by 1/SETTLE_DECAY of the excess (1 us
 * at least) per frame: ~3 s at 60 fps to halve, 10 s from the top back to
 * the start. */
#define SETTLE_MIN_US 50
#define SETTLE_MAX_US 1000
#define SETTLE_DECAY 256
#define SPLIT_WINDOW_US 2000
/* how long a 2D surface downstream refuses may wait for a GL scanout */
#define REFUSED_2D_GRACE_US (1 * G_USEC_PER_SEC)
/* while reconnecting, the last frame is repeated at least this often */
#define LOST_REPEAT_INTERVAL_MS 1000

/* 0: two frame intervals of the caps framerate, 20 ms at least */
#define DEFAULT_DRAW_DONE_TIMEOUT 0
#define MIN_AUTO_DRAW_DONE_TIMEOUT 20
#define DEFAULT_SCANOUT_TYPE GST_SPICE_SCANOUT_TYPE_AUTO


typedef struct
{
  GstSpiceConnectionSettings conn;
  gint channel_id;
  gboolean show_cursor;
  guint repeat_interval;
  guint draw_done_timeout;
  GstSpiceScanoutType scanout_type;
  GstSpiceSessionFeatures features;
} Settings;

/* What a pooled buffer knows about its own content, kept across recycling
 * as qdata. */
typedef struct
{
  guint64 complete_through;     /* damage generation, 0: nothing valid */
  gboolean has_extra;
  GstVideoRectangle extra;      /* drawn by us (cursor): stale next time */
} FrameAge;

struct _GstSpiceVideoSrc
{
  GstPushSrc parent;

  Settings settings;            /* GST_OBJECT_LOCK */

  /* start/stop (state change thread) */
  GstSpiceSession *session;
  guint listener_id;
  gchar *address;
  Settings active;              /* snapshot of settings taken in start() */

  GMutex lock;                  /* guards everything in `st`, shared with
                                 * the thread that dispatches SPICE events */
  GCond cond;
  struct
  {
    gboolean attached;
    gboolean flushing;
    GstSpiceLinkState link;     /* the connection */
    GstAllocator *dmabuf_allocator;
    GstAllocator *fd_allocator;

    /* the mapping of a GL scanout, copied from here; only read in the
     * spice thread */
    const guint8 *surface;
    /* a 2D primary surface, in the client helper (which copies from it):
     * the session's name for it, 0: none */
    guint remote_surface;
    gboolean gl;                /* the surface is a GL scanout */
    gboolean flip;              /* its rows go bottom-up (y0top FALSE) */
    guint8 *gl_map;             /* NULL when the fd cannot be mapped */
    gsize gl_map_size;
    gchar *gl_map_error;        /* why not */
    GstMemory *gl_mem;          /* the scanout as DMA-BUF memory, or the
                                 * EGLStream's fd memory (own dup) */
    gboolean gl_stream;         /* the scanout is an EGLStream */
    guint64 modifier;           /* the scanout's DRM format modifier */
    gboolean dmabuf;            /* frames are shares of gl_mem
                                 * (memory:DMABuf or memory:EGLStream) */
    guint64 gl_seq;             /* the draw the next DMA-BUF frame shows, 0:
                                 * none held (a replay) */
    GstVideoFormat format;
    gint spice_format;
    guint width, height, stride;
    guint surface_cookie;
    gboolean surface_drawn;     /* an invalidate came since primary_create */
    GstDamageHistory *damage;
    gboolean dirty;
    gint64 damage_time;         /* monotonic us of the newest damage */
    gint64 dirty_since;         /* monotonic us of the oldest damage not
                                 * in a frame yet */
    gint64 frame_damage_time;   /* the newest damage in the last frame
                                 * taken, 0: none */
    gint64 settle_us;           /* see SETTLE_MIN_US */
    guint64 split_updates;

    GstBufferPool *pool;
    GstVideoInfo pool_info;
    guint pool_cookie;
    GstBuffer *back;            /* kept complete while not taken */
    GstBuffer *last;            /* the last frame pushed, for repeats */
    GstVideoFrame back_frame;
    gboolean kick_pending;
    gboolean settled;           /* no SPICE message is waiting to be handled
                                 * since the newest damage */
    gboolean settle_pending;

    gboolean cursor_visible;
    gint cursor_x, cursor_y;
    guint cursor_w, cursor_h, cursor_hot_x, cursor_hot_y;
    GBytes *cursor_rgba;

    guint64 frames, repeats, damage_events, bytes_copied, reconnects;
    guint64 draws_held, draws_late;
    guint frame_interval_ms;    /* of the negotiated framerate */
    guint hold_ms;              /* the deadline of the draw held last */
    GHashTable *unknown_keys;   /* key names already warned about */
  } st;

  /* Draw acknowledgements: buffers of the DMA-BUF path call back from any
   * thread when downstream frees them.  Never taken before self->lock. */
  GMutex ack_lock;
  struct
  {
    GstSpiceSession *session;   /* NULL once stopping */
    gint channel_id;
    guint64 held;               /* the GL draw we hold, 0: none */
  } ack;

  /* streaming thread only */
  GstClockTime last_pts;
  gboolean orientation_flipped; /* the last orientation tag sent */
  guint refused_cookie;         /* a 2D surface downstream refused... */
  gint64 refused_until;         /* ...is an error from then on */
  gint64 last_push_us;
  gint64 credit_us;              /* frame-rate token bucket */
  gint64 credit_time_us;
  guint negotiated_cookie;
  gint fps_n, fps_d;
  gint64 start_us;
  gboolean discont;
};


/* a 2D surface to copy from: the helper's primary, or a mapped scanout */
#define HAVE_2D_SOURCE(self) \
  ((self)->st.surface != NULL || (self)->st.remote_surface != 0)
/* how long a frame waits for the helper's copies at most */
#define SYNC_TIMEOUT_MS 1000

/* gstspicevideosrc.c */
void gst_spice_video_src_drop_back_locked (GstSpiceVideoSrc * self);
gboolean gst_spice_video_src_ensure_back_locked (GstSpiceVideoSrc * self);
void gst_spice_video_src_copy_rect_locked (GstSpiceVideoSrc * self,
    const GstVideoRectangle * r);
void gst_spice_video_src_mark_dirty_locked (GstSpiceVideoSrc * self);

/* gstspicevideosrcgl.c */
void gst_spice_video_src_on_gl_scanout (gpointer user_data, gint fd,
    guint width, guint height, guint stride, guint32 fourcc, gboolean y0top);
void gst_spice_video_src_on_gl_draw_late (gpointer user_data, guint64 seq);
guint gst_spice_video_src_on_gl_draw (gpointer user_data, guint x, guint y,
    guint w, guint h, guint64 seq);
void gst_spice_video_src_gl_clear_locked (GstSpiceVideoSrc * self);
void gst_spice_video_src_release_draw (GstSpiceVideoSrc * self, guint64 seq);
GstBuffer *gst_spice_video_src_make_dmabuf_frame_locked
    (GstSpiceVideoSrc * self, guint64 seq);

/* gstspicevideosrccaps.c */
gboolean gst_spice_video_src_have_surface_locked (GstSpiceVideoSrc * self);
gboolean gst_spice_video_src_negotiate_surface (GstSpiceVideoSrc * self,
    gboolean grace, gboolean * waiting);
GstCaps *gst_spice_video_src_get_caps (GstBaseSrc * src, GstCaps * filter);
GstCaps *gst_spice_video_src_fixate (GstBaseSrc * src, GstCaps * caps);
gboolean gst_spice_video_src_decide_allocation (GstBaseSrc * src,
    GstQuery * query);
gboolean gst_spice_video_src_negotiate (GstBaseSrc * src);

/* gstspicevideosrcinput.c */
gboolean gst_spice_video_src_navigate_locked (GstSpiceVideoSrc * self,
    GstSpiceSession * session, GstEvent * event);

G_END_DECLS

#endif /* __GST_SPICE_VIDEO_SRC_PRIV_H__ */
