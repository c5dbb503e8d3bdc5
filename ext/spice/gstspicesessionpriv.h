/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
#ifndef __GST_SPICE_SESSION_PRIV_H__
#define __GST_SPICE_SESSION_PRIV_H__

/* What gstspicesession.c (registry, spice thread, helper process,
 * listeners, what the helper says) and gstspicesessionio.c (what goes
 * back: writes, input, GL draw answers, shared-memory frames) share;
 * internal to the plugin. */

#include "gstspicesession.h"
#include "gstspiceipc.h"
#include "gstspicelistener.h"

G_BEGIN_DECLS

GST_DEBUG_CATEGORY_EXTERN (gst_spice_session_debug);

/* how long the helper may take to disconnect and exit once told to close,
 * before it is killed */
#define HELPER_EXIT_WAIT_US (1 * G_USEC_PER_SEC)
/* a helper whose socket closed is dead or about to be */
#define HELPER_REAP_WAIT_US (500 * G_TIME_SPAN_MILLISECOND)
/* how long a release waits for the spice thread to let go of the session */
#define FINISH_WAIT_US (HELPER_EXIT_WAIT_US + 500 * G_TIME_SPAN_MILLISECOND)
#define LISTENER_WAIT_US (5 * G_USEC_PER_SEC)
#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 5000
#define HELPER_NAME "gst-spice-client"
/* the port write ring, and what goes inline instead (small writes) */
#define RING_SIZE (8u << 20)
#define RING_MIN_WRITE 4096

/* the listener registry is shared with the helper's engine; a listener's
 * id is also the helper's subscription id */
typedef GstSpiceListener Listener;
#define LISTENER_DISPLAY GST_SPICE_LISTENER_DISPLAY
#define LISTENER_PLAYBACK GST_SPICE_LISTENER_PLAYBACK
#define LISTENER_RECORD GST_SPICE_LISTENER_RECORD
#define LISTENER_PORT GST_SPICE_LISTENER_PORT
G_STATIC_ASSERT ((gint) GST_SPICE_LISTENER_PORT ==
    (gint) GST_SPICE_IPC_SUB_PORT);

/* A GL draw a display listener holds (see gl_draw in the header). */
typedef struct
{
  GstSpiceSession *session;
  guint listener;
  gint channel_id;
  guint64 seq;
  guint hold_ms;
  GSource *timer;               /* attached; frees this when destroyed */
} GlHold;

/* A piece of the port write ring, in the order taken. */
typedef struct
{
  gsize offset, size;
  gboolean done;
} RingRegion;

typedef struct
{
  GstSpicePortWriteDone port_done;
  GDestroyNotify record_done;
  gpointer user_data;
  GDestroyNotify notify;
  RingRegion *region;           /* the bytes in the ring, or NULL */
} Write;

typedef struct
{
  GSourceFunc func;
  gpointer data;
  GDestroyNotify notify;
} Settle;

/* A frame buffer's registration with a helper (qdata on its memory). */
typedef struct
{
  guint serial;                 /* of the session */
  guint generation;             /* of its helper */
  guint id;
} ShmReg;

struct _GstSpiceSession
{
  gint refcount;                /* registry_lock */
  guint serial;                 /* const */
  gchar *key;                   /* const */
  GstSpiceSessionParams params; /* const */
  gchar *address;               /* const */

  GMutex lock;
  GCond cond;
  GList *listeners;             /* lock */
  guint next_listener_id;       /* lock */
  gboolean reconnect;           /* lock */
  guint link_timeout;           /* lock: ms, the shortest asked for; 0 off */
  GstSpiceSessionFeatures features;     /* lock */
  gint sock;                    /* lock: our end, -1: none */
  gint helper_end;              /* lock: the helper's end until spawned */
  GPid pid;                     /* lock: 0 until spawned */
  guint generation;             /* lock: helpers started so far */
  gboolean broken;              /* lock: the helper's socket failed */
  GQueue out;                   /* lock: GstSpiceIpcPacket not sent yet */
  GSource *out_watch;           /* lock */
  GHashTable *writes;           /* lock: req -> Write */
  guint next_req;               /* lock */
  GHashTable *settles;          /* lock: token -> Settle */
  guint next_token;             /* lock */
  guint next_shm;               /* lock */
  /* Copies of this helper, counted on both sides: the helper handles
   * messages in order and its SYNCED and SETTLED answers say how many it
   * has done (also those that came after SETTLE, before its idle ran). */
  guint64 copy_seq;             /* lock: COPY messages sent */
  guint64 copy_done;            /* lock: of those, known done */
  guint sync_cancels;           /* lock: gst_spice_session_sync_cancel() */
  GList *holds;                 /* lock: GlHold */
  /* lock: port writes go through a shared-memory ring the helper maps
   * (one copy into it, none through the socket) */
  gint ring_fd;
  guint8 *ring;
  guint ring_generation;        /* the helper that has it, 0: none */
  gsize ring_head;              /* where the next region starts */
  GQueue ring_regions;          /* RingRegion, oldest first */
  /* Ring writes wait in a batch while earlier ones are with the helper
   * (one message, one wake-up of the helper per batch); the first answer
   * sends the batch. */
  GArray *ring_batch;           /* GstSpiceIpcRingWrite */
  gchar *ring_batch_port;
  guint ring_outstanding;       /* ring writes with the helper */
  gboolean late_reported;       /* lock */
  gboolean closing;             /* lock */
  GError *error;                /* lock: the session failed for good */
  gchar *error_debug;           /* lock */

  /* spice thread only */
  GSource *watch;
  GSource *respawn;
  guint backoff_ms;
  gboolean lost;
};

/* s->lock held: queued when the socket cannot take it (never blocks) */
G_GNUC_INTERNAL void session_send_locked        (GstSpiceSession * s,
                                                 guint32 type, guint32 id,
                                                 gconstpointer body,
                                                 gsize body_size,
                                                 GBytes * tail,
                                                 const gint * fds,
                                                 guint n_fds);
G_GNUC_INTERNAL void session_send_simple        (GstSpiceSession * s,
                                                 guint32 type, guint32 id,
                                                 gconstpointer body,
                                                 gsize body_size);
G_GNUC_INTERNAL void session_send_to_serial     (guint serial,
                                                 guint generation,
                                                 guint32 type, guint32 id);
/* a write answered (or failed): its callbacks, then freed */
G_GNUC_INTERNAL void session_write_finish       (Write * w,
                                                 const GError * error);
G_GNUC_INTERNAL void session_ring_release_locked (GstSpiceSession * s,
                                                 Write * w);
G_GNUC_INTERNAL void session_ring_flush_locked  (GstSpiceSession * s);

/* a source on the spice thread's context */
G_GNUC_INTERNAL void session_attach             (GSource * src);
/* the listener @id if it is still there, marked busy: then _end */
G_GNUC_INTERNAL Listener *session_listener_begin (GstSpiceSession * s,
                                                 guint id);
G_GNUC_INTERNAL void session_listener_end       (GstSpiceSession * s,
                                                 Listener * li);
/* GL draws a display listener holds (gstspicesessionio.c) */
G_GNUC_INTERNAL void session_gl_hold_add        (GstSpiceSession * s,
                                                 Listener * li, guint64 seq,
                                                 guint ms);
/* s->lock held: @h leaves the list, answered when @answer */
G_GNUC_INTERNAL void session_gl_hold_drop_locked (GstSpiceSession * s,
                                                 GlHold * h,
                                                 gboolean answer);

G_END_DECLS

#endif /* __GST_SPICE_SESSION_PRIV_H__ */
