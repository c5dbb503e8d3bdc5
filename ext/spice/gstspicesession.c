/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* memfd_create, dladdr */
#endif
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib-unix.h>

#include "gstspicesession.h"
#include "gstspiceipc.h"
#include "gstspicememfd.h"
#include "gstspicelistener.h"

GST_DEBUG_CATEGORY_STATIC (gst_spice_session_debug);
#define GST_CAT_DEFAULT gst_spice_session_debug

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

/* The registry and the spice thread are process-wide. */
static GMutex registry_lock;
static GHashTable *registry;    /* registry_lock: key -> GstSpiceSession */
static GHashTable *by_serial;   /* registry_lock: serial -> GstSpiceSession */
static guint next_serial;       /* registry_lock */
static GCond closing_cond;      /* registry_lock: a session was finished */
static GThread *spice_thread;   /* registry_lock */
static GMainContext *spice_context;     /* registry_lock (set while running) */
static GMainLoop *spice_loop;   /* registry_lock */
static guint spice_thread_users;        /* registry_lock */
static gboolean spice_thread_exiting;   /* registry_lock: to be joined */

static GQuark shm_reg_quark;

static void
debug_init (void)
{
  static gsize done = 0;

  if (g_once_init_enter (&done)) {
    GST_DEBUG_CATEGORY_INIT (gst_spice_session_debug, "spicesession", 0,
        "SPICE session registry, spice thread and client helper");
    shm_reg_quark = g_quark_from_static_string ("gst-spice-shm-reg");
    g_once_init_leave (&done, 1);
  }
}

/* ---------------------------------------------------------------------- */
/* The spice thread: our own context, never the application's default one */

static gpointer
spice_thread_func (gpointer data)
{
  GMainLoop *loop = data;
  GMainContext *ctx = g_main_loop_get_context (loop);

  g_main_context_push_thread_default (ctx);
  g_main_loop_run (loop);
  g_main_context_pop_thread_default (ctx);
  g_main_loop_unref (loop);
  return NULL;
}

/* registry_lock held */
static void
spice_thread_ref_locked (void)
{
  if (spice_thread_users++ > 0)
    return;
  if (spice_thread) {
    /* the last one is on its way out: it does nothing after its loop */
    g_thread_join (spice_thread);
    spice_thread = NULL;
  }
  spice_thread_exiting = FALSE;
  g_clear_pointer (&spice_context, g_main_context_unref);
  spice_context = g_main_context_new ();
  spice_loop = g_main_loop_new (spice_context, FALSE);
  spice_thread = g_thread_new ("spice", spice_thread_func,
      g_main_loop_ref (spice_loop));
}

/* registry_lock held, in the spice thread */
static void
spice_thread_unref_locked (void)
{
  if (--spice_thread_users > 0)
    return;
  g_main_loop_quit (spice_loop);
  g_clear_pointer (&spice_loop, g_main_loop_unref);
  spice_thread_exiting = TRUE;
}

gboolean
gst_spice_session_in_spice_thread (void)
{
  gboolean yes;

  g_mutex_lock (&registry_lock);
  yes = spice_thread == g_thread_self ();
  g_mutex_unlock (&registry_lock);
  return yes;
}

static void
attach (GSource * src)
{
  GMainContext *ctx;

  g_mutex_lock (&registry_lock);
  ctx = spice_context ? g_main_context_ref (spice_context) : NULL;
  g_mutex_unlock (&registry_lock);
  if (ctx) {
    g_source_attach (src, ctx);
    g_main_context_unref (ctx);
  }
}

/**
 * gst_spice_session_invoke:
 *
 * Runs @func in the spice thread (never at once in the caller's, unlike
 * g_main_context_invoke()).
 */
void
gst_spice_session_invoke (GstSpiceSession * s, gint priority,
    GSourceFunc func, gpointer data, GDestroyNotify notify)
{
  GSource *src = g_idle_source_new ();

  g_source_set_priority (src, priority);
  g_source_set_callback (src, func, data, notify);
  g_source_set_name (src, "gst-spice invoke");
  attach (src);
  g_source_unref (src);
}

/* ---------------------------------------------------------------------- */
/* Sending: never blocks (what the socket cannot take waits in s->out)    */

static gboolean flush_out (gint fd, GIOCondition cond, gpointer data);

/* s->lock held; takes @p */
static void
send_packet_locked (GstSpiceSession * s, GstSpiceIpcPacket * p)
{
  gint err;

  if (!p)
    return;
  if (s->sock < 0 || s->broken) {
    gst_spice_ipc_packet_free (p);
    return;
  }
  if (g_queue_is_empty (&s->out)) {
    err = gst_spice_ipc_packet_send (p, s->sock, TRUE);
    if (err == 0) {
      gst_spice_ipc_packet_free (p);
      return;
    }
    if (err != EAGAIN) {
      /* the helper is gone: its socket watch tells the rest */
      GST_DEBUG ("%s: sending to the helper: %s", s->address,
          g_strerror (err));
      s->broken = TRUE;
      g_cond_broadcast (&s->cond);
      gst_spice_ipc_packet_free (p);
      return;
    }
  }
  g_queue_push_tail (&s->out, p);
  if (!s->out_watch) {
    s->out_watch = g_unix_fd_source_new (s->sock, G_IO_OUT);
    g_source_set_callback (s->out_watch, (GSourceFunc) (GCallback) flush_out,
        s, NULL);
    attach (s->out_watch);
  }
}

static void
send_locked (GstSpiceSession * s, guint32 type, guint32 id,
    gconstpointer body, gsize body_size, GBytes * tail, const gint * fds,
    guint n_fds)
{
  GError *error = NULL;
  GstSpiceIpcPacket *p = gst_spice_ipc_packet_new (type, id, body,
      body_size, tail, fds, n_fds, &error);

  if (!p) {
    GST_WARNING ("%s: cannot send message %u: %s", s->address, type,
        error->message);
    g_error_free (error);
    return;
  }
  send_packet_locked (s, p);
}

static void
send_simple (GstSpiceSession * s, guint32 type, guint32 id,
    gconstpointer body, gsize body_size)
{
  g_mutex_lock (&s->lock);
  send_locked (s, type, id, body, body_size, NULL, NULL, 0);
  g_mutex_unlock (&s->lock);
}

/* spice thread */
static gboolean
flush_out (gint fd, GIOCondition cond, gpointer data)
{
  GstSpiceSession *s = data;
  GstSpiceIpcPacket *p;
  gboolean again = FALSE;

  g_mutex_lock (&s->lock);
  while ((p = g_queue_peek_head (&s->out))) {
    gint err = s->broken ? EPIPE : gst_spice_ipc_packet_send (p, s->sock,
        TRUE);

    if (err == EAGAIN) {
      again = TRUE;
      break;
    }
    if (err != 0)
      s->broken = TRUE;
    gst_spice_ipc_packet_free (g_queue_pop_head (&s->out));
  }
  if (!again)
    g_clear_pointer (&s->out_watch, g_source_unref);
  g_cond_broadcast (&s->cond);
  g_mutex_unlock (&s->lock);
  return again ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

/* ---------------------------------------------------------------------- */
/* Listeners                                                              */

/* The listener @id if it is still there, marked busy (listener_end). */
static Listener *
listener_begin (GstSpiceSession * s, guint id)
{
  Listener *found = NULL;
  GList *l;

  g_mutex_lock (&s->lock);
  for (l = s->listeners; l; l = l->next) {
    Listener *li = l->data;
    if (li->id == id && !li->removed) {
      li->busy++;
      found = gst_spice_listener_ref (li);
      break;
    }
  }
  g_mutex_unlock (&s->lock);
  return found;
}

static void
listener_end (GstSpiceSession * s, Listener * li)
{
  g_mutex_lock (&s->lock);
  li->busy--;
  g_cond_broadcast (&s->cond);
  g_mutex_unlock (&s->lock);
  gst_spice_listener_unref (li);
}

/* every listener still there, marked busy; listeners_end() */
static GPtrArray *
listeners_begin_all (GstSpiceSession * s)
{
  GPtrArray *arr = g_ptr_array_new ();
  GList *l;

  g_mutex_lock (&s->lock);
  for (l = s->listeners; l; l = l->next) {
    Listener *li = l->data;
    if (li->removed)
      continue;
    li->busy++;
    g_ptr_array_add (arr, gst_spice_listener_ref (li));
  }
  g_mutex_unlock (&s->lock);
  return arr;
}

static void
listeners_end_all (GstSpiceSession * s, GPtrArray * arr)
{
  guint i;

  for (i = 0; i < arr->len; i++)
    listener_end (s, arr->pdata[i]);
  g_ptr_array_free (arr, TRUE);
}

/* s->lock held */
static void
subscribe_locked (GstSpiceSession * s, Listener * li)
{
  GstSpiceIpcSubscribeBody b = { li->kind, li->channel_id };
  GBytes *tail = li->port_name ? gst_spice_ipc_strings (1, li->port_name) :
      NULL;

  send_locked (s, GST_SPICE_IPC_SUBSCRIBE, li->id, &b, sizeof (b), tail,
      NULL, 0);
  if (tail)
    g_bytes_unref (tail);
}

/* ---------------------------------------------------------------------- */
/* GL draws held by listeners                                             */

static void
gl_hold_free (gpointer data)
{
  g_free (data);
}

/* s->lock held: @h leaves the list; its timer frees it */
static void
gl_hold_drop_locked (GstSpiceSession * s, GlHold * h, gboolean answer)
{
  s->holds = g_list_remove (s->holds, h);
  if (answer) {
    GstSpiceIpcGlDrawDoneBody b = { h->channel_id, 0, h->seq };
    send_locked (s, GST_SPICE_IPC_GL_DRAW_DONE, 0, &b, sizeof (b), NULL,
        NULL, 0);
  }
  g_source_destroy (h->timer);
}

static gboolean
gl_hold_expired (gpointer data)
{
  GlHold *h = data;
  GstSpiceSession *s = h->session;
  gboolean first;
  Listener *li;

  g_mutex_lock (&s->lock);
  if (!g_list_find (s->holds, h)) {
    g_mutex_unlock (&s->lock);
    return G_SOURCE_REMOVE;
  }
  first = !s->late_reported;
  s->late_reported = TRUE;
  gl_hold_drop_locked (s, h, TRUE);
  g_mutex_unlock (&s->lock);

  if (first)
    GST_WARNING ("%s display:%d: a GL draw was still held downstream after "
        "%u ms: acknowledged anyway so the guest can go on (the consumer "
        "may read a frame the guest is redrawing; logged once)", s->address,
        h->channel_id, h->hold_ms);
  li = listener_begin (s, h->listener);
  if (li) {
    if (li->cb.display.gl_draw_late)
      li->cb.display.gl_draw_late (li->user_data, h->seq);
    listener_end (s, li);
  }
  return G_SOURCE_REMOVE;
}

/* spice thread */
static void
gl_hold_add (GstSpiceSession * s, Listener * li, guint64 seq, guint ms)
{
  GlHold *h = g_new0 (GlHold, 1);

  h->session = s;
  h->listener = li->id;
  h->channel_id = li->channel_id;
  h->seq = seq;
  h->hold_ms = ms;
  h->timer = g_timeout_source_new (ms);
  g_source_set_callback (h->timer, gl_hold_expired, h, gl_hold_free);
  g_source_set_name (h->timer, "gst-spice gl-draw deadline");
  g_mutex_lock (&s->lock);
  s->holds = g_list_prepend (s->holds, h);
  attach (h->timer);
  g_source_unref (h->timer);
  g_mutex_unlock (&s->lock);
}

typedef struct
{
  GstSpiceSession *session;
  gint channel_id;
  guint64 seq;
} GlRelease;

static gboolean
gl_release_idle (gpointer data)
{
  GlRelease *r = data;
  GstSpiceSession *s = r->session;
  GList *l;

  g_mutex_lock (&s->lock);
  for (l = s->holds; l; l = l->next) {
    GlHold *h = l->data;
    if (h->channel_id == r->channel_id && h->seq == r->seq) {
      gl_hold_drop_locked (s, h, TRUE);
      break;
    }
  }
  g_mutex_unlock (&s->lock);
  return G_SOURCE_REMOVE;
}

/**
 * gst_spice_session_gl_draw_done:
 * @seq: the draw, as given to the gl_draw callback that held it
 *
 * Lets go of a GL draw a display listener held (any thread, never
 * blocks): once every holder did, the server is told the draw is done.
 * Handled in the spice thread, so a release that comes while the gl_draw
 * callback still runs finds the hold.  An answer for a draw that is no
 * longer held (its deadline passed, its listener was removed) does
 * nothing.
 */
void
gst_spice_session_gl_draw_done (GstSpiceSession * s, gint channel_id,
    guint64 seq)
{
  GlRelease *r = g_new (GlRelease, 1);

  r->session = s;
  r->channel_id = channel_id;
  r->seq = seq;
  gst_spice_session_invoke (s, G_PRIORITY_DEFAULT, gl_release_idle, r,
      g_free);
}

/* ---------------------------------------------------------------------- */
/* What the helper says (spice thread)                                    */

static GError *
error_from (const GstSpiceIpcMsg * msg, gint code)
{
  const gchar *domain = gst_spice_ipc_msg_string (msg, 0);
  const gchar *message = gst_spice_ipc_msg_string (msg, 1);

  if (!domain)
    return NULL;
  return g_error_new_literal (g_quark_from_string (domain), code,
      message ? message : "");
}

static void
deliver_state (GstSpiceSession * s, Listener * li, GstSpiceSessionState state,
    const GError * error, const gchar * debug)
{
  GstSpiceStateFunc func = gst_spice_listener_state_func (li);

  if (state == GST_SPICE_SESSION_CONNECTED && li->lost)
    state = GST_SPICE_SESSION_RECONNECTED;
  if (state == GST_SPICE_SESSION_RECONNECTED || state ==
      GST_SPICE_SESSION_FAILED)
    li->lost = FALSE;
  if (state == GST_SPICE_SESSION_LOST)
    li->lost = TRUE;
  if (func)
    func (li->user_data, state, error, debug);
}

static void
handle_display (GstSpiceSession * s, Listener * li, GstSpiceIpcMsg * msg)
{
  const GstSpiceDisplayCallbacks *cb = &li->cb.display;

  switch (msg->header.type) {
    case GST_SPICE_IPC_PRIMARY_CREATE:{
      const GstSpiceIpcPrimaryBody *b = GST_SPICE_IPC_BODY (msg,
          GstSpiceIpcPrimaryBody);
      guint gen;

      g_mutex_lock (&s->lock);
      gen = s->generation;
      g_mutex_unlock (&s->lock);
      /* the element names the surface back in copies: unique across
       * helpers (generation in the top bits) */
      if (b && cb->primary_create)
        cb->primary_create (li->user_data, b->format, b->spice_format,
            b->width, b->height, b->stride, ((gen & 0xfff) << 20) |
            (b->surface & 0xfffff));
      break;
    }
    case GST_SPICE_IPC_PRIMARY_DESTROY:
      if (cb->primary_destroy)
        cb->primary_destroy (li->user_data);
      break;
    case GST_SPICE_IPC_INVALIDATE:{
      const GstSpiceIpcRectBody *b = GST_SPICE_IPC_BODY (msg,
          GstSpiceIpcRectBody);

      if (b && cb->invalidate)
        cb->invalidate (li->user_data, b->x, b->y, b->w, b->h);
      break;
    }
    case GST_SPICE_IPC_CURSOR:{
      const GstSpiceIpcCursorBody *b = GST_SPICE_IPC_BODY (msg,
          GstSpiceIpcCursorBody);
      GstSpiceCursor c;

      if (!b || !cb->cursor)
        break;
      c.visible = b->visible;
      c.x = b->x;
      c.y = b->y;
      c.width = b->width;
      c.height = b->height;
      c.hot_x = b->hot_x;
      c.hot_y = b->hot_y;
      c.rgba = b->has_rgba && msg->tail &&
          g_bytes_get_size (msg->tail) == (gsize) b->width * b->height * 4 ?
          msg->tail : NULL;
      cb->cursor (li->user_data, &c);
      break;
    }
    case GST_SPICE_IPC_GL_SCANOUT:{
      const GstSpiceIpcScanoutBody *b = GST_SPICE_IPC_BODY (msg,
          GstSpiceIpcScanoutBody);

      /* the fd is ours until the message is cleared: valid during the
       * call, as the callback expects */
      if (b && msg->n_fds > 0 && cb->gl_scanout)
        cb->gl_scanout (li->user_data, msg->fds[0], b->width, b->height,
            b->stride, b->fourcc, b->y0top);
      break;
    }
    default:
      break;
  }
}

/* A GL draw: held by the listener (until gl_draw_done or its deadline),
 * or answered at once; a draw nobody listens to any more is answered
 * too, or the helper would hold it until its own deadline. */
static void
handle_gl_draw (GstSpiceSession * s, guint sub, GstSpiceIpcMsg * msg)
{
  const GstSpiceIpcGlDrawBody *b = GST_SPICE_IPC_BODY (msg,
      GstSpiceIpcGlDrawBody);
  Listener *li = listener_begin (s, sub);
  guint ms = 0;

  if (!b) {
    if (li)
      listener_end (s, li);
    return;
  }
  if (li) {
    if (li->cb.display.gl_draw)
      ms = li->cb.display.gl_draw (li->user_data, b->x, b->y, b->w, b->h,
          b->seq);
    if (b->seq && ms > 0)
      gl_hold_add (s, li, b->seq, ms);
    listener_end (s, li);
  }
  if (b->seq && ms == 0) {
    GstSpiceIpcGlDrawDoneBody d = { b->channel_id, 0, b->seq };

    send_simple (s, GST_SPICE_IPC_GL_DRAW_DONE, 0, &d, sizeof (d));
  }
}

static void
answer_delay (GstSpiceSession * s, Listener * li)
{
  GstSpiceIpcDelayBody b;

  if (!li->cb.playback.playback_delay)
    return;
  b.ms = li->cb.playback.playback_delay (li->user_data);
  if (li->delay_known && b.ms == li->delay_sent)
    return;
  li->delay_known = TRUE;
  li->delay_sent = b.ms;
  /* the helper answers the server's delay requests with the largest */
  GST_LOG ("%s playback delay %u ms", s->address, b.ms);
  send_simple (s, GST_SPICE_IPC_PLAYBACK_DELAY, li->id, &b, sizeof (b));
}

static void
handle_listener_msg (GstSpiceSession * s, GstSpiceIpcMsg * msg)
{
  Listener *li;

  if (msg->header.type == GST_SPICE_IPC_GL_DRAW) {
    handle_gl_draw (s, msg->header.id, msg);
    return;
  }
  li = listener_begin (s, msg->header.id);
  if (!li)
    return;
  switch (msg->header.type) {
    case GST_SPICE_IPC_STATE:{
      const GstSpiceIpcStateBody *b = GST_SPICE_IPC_BODY (msg,
          GstSpiceIpcStateBody);
      GError *error;

      if (!b)
        break;
      error = error_from (msg, b->code);
      if (b->state == GST_SPICE_SESSION_CONNECTED ||
          b->state == GST_SPICE_SESSION_RECONNECTED) {
        s->backoff_ms = 0;
        s->lost = FALSE;
      }
      deliver_state (s, li, b->state, error, gst_spice_ipc_msg_string (msg,
              2));
      g_clear_error (&error);
      break;
    }
    case GST_SPICE_IPC_PRIMARY_CREATE:
    case GST_SPICE_IPC_PRIMARY_DESTROY:
    case GST_SPICE_IPC_INVALIDATE:
    case GST_SPICE_IPC_CURSOR:
    case GST_SPICE_IPC_GL_SCANOUT:
      if (li->kind == LISTENER_DISPLAY)
        handle_display (s, li, msg);
      break;
    case GST_SPICE_IPC_PLAYBACK_START:{
      const GstSpiceIpcAudioFormatBody *b = GST_SPICE_IPC_BODY (msg,
          GstSpiceIpcAudioFormatBody);

      if (b && li->kind == LISTENER_PLAYBACK) {
        if (li->cb.playback.playback_start)
          li->cb.playback.playback_start (li->user_data, b->channels,
              b->rate);
        answer_delay (s, li);
      }
      break;
    }
    case GST_SPICE_IPC_PLAYBACK_DATA:
      if (li->kind == LISTENER_PLAYBACK && msg->tail) {
        gsize size;
        const guint8 *data = g_bytes_get_data (msg->tail, &size);

        if (li->cb.playback.playback_data)
          li->cb.playback.playback_data (li->user_data, data, size);
        answer_delay (s, li);
      }
      break;
    case GST_SPICE_IPC_PLAYBACK_STOP:
      if (li->kind == LISTENER_PLAYBACK && li->cb.playback.playback_stop)
        li->cb.playback.playback_stop (li->user_data);
      break;
    case GST_SPICE_IPC_RECORD_START:{
      const GstSpiceIpcAudioFormatBody *b = GST_SPICE_IPC_BODY (msg,
          GstSpiceIpcAudioFormatBody);

      if (b && li->kind == LISTENER_RECORD && li->cb.record.record_start)
        li->cb.record.record_start (li->user_data, b->channels, b->rate);
      break;
    }
    case GST_SPICE_IPC_RECORD_STOP:
      if (li->kind == LISTENER_RECORD && li->cb.record.record_stop)
        li->cb.record.record_stop (li->user_data);
      break;
    case GST_SPICE_IPC_PORT_OPENED:{
      const GstSpiceIpcOpenedBody *b = GST_SPICE_IPC_BODY (msg,
          GstSpiceIpcOpenedBody);

      if (b && li->kind == LISTENER_PORT && li->cb.port.port_opened)
        li->cb.port.port_opened (li->user_data, b->opened);
      break;
    }
    case GST_SPICE_IPC_PORT_DATA:
      if (li->kind == LISTENER_PORT && msg->tail && li->cb.port.port_data) {
        gsize size;
        const guint8 *data = g_bytes_get_data (msg->tail, &size);

        li->cb.port.port_data (li->user_data, data, size);
      }
      break;
    default:
      break;
  }
  listener_end (s, li);
}

/* s->lock held: the ring space of @w is free again */
static void
ring_release_locked (GstSpiceSession * s, Write * w)
{
  RingRegion *r;

  if (!w->region)
    return;
  if (s->ring_outstanding > 0)
    s->ring_outstanding--;
  w->region->done = TRUE;
  w->region = NULL;
  while ((r = g_queue_peek_head (&s->ring_regions)) && r->done)
    g_free (g_queue_pop_head (&s->ring_regions));
  if (g_queue_is_empty (&s->ring_regions))
    s->ring_head = 0;
}

static void
write_finish (Write * w, const GError * error)
{
  if (w->port_done)
    w->port_done (w->user_data, error);
  if (w->record_done)
    w->record_done (w->user_data);
  if (w->notify)
    w->notify (w->user_data);
  g_free (w);
}

static void session_fail (GstSpiceSession * s, GError * error,
    gchar * debug);
static void ring_flush_locked (GstSpiceSession * s);

/* FALSE: the helper cannot be talked to */
static gboolean
handle (GstSpiceSession * s, GstSpiceIpcMsg * msg)
{
  guint32 id = msg->header.id;

  switch (msg->header.type) {
    case GST_SPICE_IPC_WELCOME:{
      const GstSpiceIpcWelcomeBody *b = GST_SPICE_IPC_BODY (msg,
          GstSpiceIpcWelcomeBody);

      if (!b || b->version != GST_SPICE_IPC_VERSION) {
        session_fail (s, g_error_new (GST_RESOURCE_ERROR,
                GST_RESOURCE_ERROR_FAILED, "The SPICE client helper ("
                HELPER_NAME ") is from another build of gst-spice "
                "(protocol %u, the plugin speaks %u): install both from "
                "the same build", b ? b->version : 0, GST_SPICE_IPC_VERSION),
            g_strdup ("WELCOME with another protocol version"));
        return FALSE;
      }
      GST_DEBUG ("%s: helper pid %u ready", s->address, b->pid);
      break;
    }
    case GST_SPICE_IPC_WRITE_DONE:{
      const GstSpiceIpcWriteDoneBody *b = GST_SPICE_IPC_BODY (msg,
          GstSpiceIpcWriteDoneBody);
      Write *w;
      GError *error;

      g_mutex_lock (&s->lock);
      w = g_hash_table_lookup (s->writes, GUINT_TO_POINTER (id));
      if (w) {
        g_hash_table_steal (s->writes, GUINT_TO_POINTER (id));
        ring_release_locked (s, w);
      }
      ring_flush_locked (s);
      g_mutex_unlock (&s->lock);
      if (!w)
        break;
      error = b ? error_from (msg, b->code) : NULL;
      write_finish (w, error);
      g_clear_error (&error);
      break;
    }
    case GST_SPICE_IPC_WRITES_DONE:{
      gsize size = 0;
      const guint32 *reqs = msg->tail ? g_bytes_get_data (msg->tail, &size) :
          NULL;
      GPtrArray *done = g_ptr_array_new ();
      guint i;

      g_mutex_lock (&s->lock);
      for (i = 0; i < size / sizeof (guint32); i++) {
        Write *w = g_hash_table_lookup (s->writes,
            GUINT_TO_POINTER (reqs[i]));
        if (w) {
          g_hash_table_steal (s->writes, GUINT_TO_POINTER (reqs[i]));
          ring_release_locked (s, w);
          g_ptr_array_add (done, w);
        }
      }
      ring_flush_locked (s);
      g_mutex_unlock (&s->lock);
      for (i = 0; i < done->len; i++)
        write_finish (done->pdata[i], NULL);
      g_ptr_array_free (done, TRUE);
      break;
    }
    case GST_SPICE_IPC_SYNCED:{
      const GstSpiceIpcCopiesBody *b = GST_SPICE_IPC_BODY (msg,
          GstSpiceIpcCopiesBody);

      g_mutex_lock (&s->lock);
      if (b && b->copies > s->copy_done)
        s->copy_done = b->copies;
      g_cond_broadcast (&s->cond);
      g_mutex_unlock (&s->lock);
      break;
    }
    case GST_SPICE_IPC_SETTLED:{
      const GstSpiceIpcCopiesBody *b = GST_SPICE_IPC_BODY (msg,
          GstSpiceIpcCopiesBody);
      Settle *st;

      g_mutex_lock (&s->lock);
      st = g_hash_table_lookup (s->settles, GUINT_TO_POINTER (id));
      if (st)
        g_hash_table_steal (s->settles, GUINT_TO_POINTER (id));
      if (b && b->copies > s->copy_done) {
        s->copy_done = b->copies;
        g_cond_broadcast (&s->cond);
      }
      g_mutex_unlock (&s->lock);
      if (st) {
        st->func (st->data);
        if (st->notify)
          st->notify (st->data);
        g_free (st);
      }
      break;
    }
    default:
      handle_listener_msg (s, msg);
      break;
  }
  return TRUE;
}

/* ---------------------------------------------------------------------- */
/* The helper process                                                     */

static gchar *
find_helper (void)
{
  const gchar *env = g_getenv ("GST_SPICE_CLIENT_HELPER");
  Dl_info info;
  gchar *path;

  if (env && *env)
    return g_strdup (env);
  /* the build tree: beside the plugin */
  if (dladdr ((gpointer) find_helper, &info) && info.dli_fname) {
    gchar *dir = g_path_get_dirname (info.dli_fname);

    path = g_build_filename (dir, "client", HELPER_NAME, NULL);
    g_free (dir);
    if (g_file_test (path, G_FILE_TEST_IS_EXECUTABLE))
      return path;
    g_free (path);
  }
  return g_build_filename (GST_SPICE_HELPER_DIR, HELPER_NAME, NULL);
}

static void
child_setup (gpointer data)
{
  /* async-signal-safe only: the helper dies with this thread's process
   * (the spice thread, which outlives every session) */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
  /* a process group of its own: the terminal's Ctrl-C (SIGINT to the
   * foreground group) is for the application, which then stops (or, with
   * gst-launch-1.0 -e, sends EOS) while the helper still serves it */
  setpgid (0, 0);
}

/* Waits until @pid exits, @timeout_us at most, then kills it.  Returns a
 * description of how it ended. */
static gchar *
reap (GPid pid, gint64 timeout_us)
{
  gint64 until = g_get_monotonic_time () + timeout_us;
  gint status = 0;
  pid_t r;

  for (;;) {
    r = waitpid (pid, &status, WNOHANG);
    if (r != 0 || g_get_monotonic_time () > until)
      break;
    g_usleep (1000);
  }
  if (r == 0) {
    kill (pid, SIGKILL);
    do {
      r = waitpid (pid, &status, 0);
    } while (r < 0 && errno == EINTR);
    return g_strdup_printf ("did not exit within %d ms and was killed",
        (gint) (timeout_us / 1000));
  }
  if (r < 0)
    return g_strdup ("ended");  /* reaped by someone else (SIGCHLD ignored) */
  if (WIFSIGNALED (status))
    return g_strdup_printf ("was killed by signal %d (%s)",
        WTERMSIG (status), g_strsignal (WTERMSIG (status)));
  return g_strdup_printf ("exited with status %d", WEXITSTATUS (status));
}

static gboolean on_socket (gint fd, GIOCondition cond, gpointer data);
static void helper_cleanup (GstSpiceSession * s);

/* spice thread: starts the helper on the socket made by start_locked() */
static gboolean
spawn_idle (gpointer data)
{
  GstSpiceSession *s = data;
  gchar *path, *parent;
  const gchar *argv[4];
  gint source_fd, target_fd = GST_SPICE_IPC_HELPER_FD;
  GError *error = NULL;
  GPid pid = 0;
  gboolean ok;

  g_mutex_lock (&s->lock);
  source_fd = s->helper_end;
  s->helper_end = -1;
  if (s->closing || source_fd < 0) {
    g_mutex_unlock (&s->lock);
    if (source_fd >= 0)
      close (source_fd);
    return G_SOURCE_REMOVE;
  }
  g_mutex_unlock (&s->lock);

  path = find_helper ();
  parent = g_strdup_printf ("%d", (gint) getpid ());
  argv[0] = path;
  argv[1] = "--parent-pid";
  argv[2] = parent;
  argv[3] = NULL;
  ok = g_spawn_async_with_pipes_and_fds (NULL, argv, NULL,
      G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL, child_setup,
      NULL, -1, -1, -1, &source_fd, &target_fd, 1, &pid, NULL, NULL, NULL,
      &error);
  close (source_fd);
  g_free (parent);
  if (!ok) {
    session_fail (s, g_error_new (GST_RESOURCE_ERROR,
            GST_RESOURCE_ERROR_FAILED, "Could not start the SPICE client "
            "helper %s: %s", path, error->message),
        g_strdup ("install gst-spice completely, or set "
            "GST_SPICE_CLIENT_HELPER"));
    g_error_free (error);
    g_free (path);
    /* nobody reads the socket: writes fail from now on */
    helper_cleanup (s);
    return G_SOURCE_REMOVE;
  }
  GST_INFO ("%s: client helper %s started, pid %d", s->address, path, pid);
  g_free (path);

  g_mutex_lock (&s->lock);
  s->pid = pid;
  g_mutex_unlock (&s->lock);
  s->watch = g_unix_fd_source_new (s->sock, G_IO_IN | G_IO_HUP | G_IO_ERR);
  g_source_set_callback (s->watch, (GSourceFunc) (GCallback) on_socket, s,
      NULL);
  g_source_set_name (s->watch, "gst-spice helper socket");
  attach (s->watch);
  return G_SOURCE_REMOVE;
}

/* s->lock held: a new socket pair with HELLO and every listener's
 * subscription already in it, the helper to be started by spawn_idle */
static gboolean
start_locked (GstSpiceSession * s, GError ** error)
{
  GstSpiceIpcHelloBody b = { GST_SPICE_IPC_VERSION, s->reconnect,
    s->features, 0
  };
  GBytes *tail;
  gint fds[2];
  GList *l;

  if (!gst_spice_ipc_socket_pair (fds, error))
    return FALSE;
  s->sock = fds[0];
  s->helper_end = fds[1];
  s->generation++;
  s->broken = FALSE;
  s->pid = 0;
  /* the new helper counts its copies from 0 */
  s->copy_seq = s->copy_done = 0;
  /* the password crosses the socket, never a command line or the
   * environment */
  tail = gst_spice_ipc_strings (4, s->params.uri, s->params.password,
      s->params.ca_file, s->params.cert_subject);
  send_locked (s, GST_SPICE_IPC_HELLO, 0, &b, sizeof (b), tail, NULL, 0);
  g_bytes_unref (tail);
  for (l = s->listeners; l; l = l->next)
    if (!((Listener *) l->data)->removed)
      subscribe_locked (s, l->data);
  return TRUE;
}

static gboolean
respawn_timeout (gpointer data)
{
  GstSpiceSession *s = data;
  GError *error = NULL;
  gboolean ok;

  g_clear_pointer (&s->respawn, g_source_unref);
  g_mutex_lock (&s->lock);
  ok = s->closing || start_locked (s, &error);
  g_mutex_unlock (&s->lock);
  if (!ok) {
    session_fail (s, g_error_new (GST_RESOURCE_ERROR,
            GST_RESOURCE_ERROR_FAILED, "Could not start the SPICE client "
            "helper for %s again: %s", s->address, error->message), NULL);
    g_error_free (error);
    return G_SOURCE_REMOVE;
  }
  GST_INFO ("%s: starting a fresh client helper", s->address);
  spawn_idle (s);
  return G_SOURCE_REMOVE;
}

/* spice thread: the helper's socket is closed and its process reaped;
 * what waited for it is let go */
static void
helper_cleanup (GstSpiceSession * s)
{
  GHashTable *writes, *settles;
  GHashTableIter it;
  gpointer v;
  GError *gone;

  if (s->watch) {
    g_source_destroy (s->watch);
    g_clear_pointer (&s->watch, g_source_unref);
  }
  g_mutex_lock (&s->lock);
  s->broken = TRUE;
  if (s->out_watch) {
    g_source_destroy (s->out_watch);
    g_clear_pointer (&s->out_watch, g_source_unref);
  }
  g_queue_clear_full (&s->out, (GDestroyNotify) gst_spice_ipc_packet_free);
  if (s->sock >= 0)
    close (s->sock);
  s->sock = -1;
  while (s->holds)
    gl_hold_drop_locked (s, s->holds->data, FALSE);
  writes = s->writes;
  settles = s->settles;
  g_hash_table_iter_init (&it, writes);
  while (g_hash_table_iter_next (&it, NULL, &v))
    ring_release_locked (s, v);
  /* the next helper maps it anew */
  s->ring_generation = 0;
  if (s->ring_batch)
    g_array_set_size (s->ring_batch, 0);
  s->ring_outstanding = 0;
  s->writes = g_hash_table_new (NULL, NULL);
  s->settles = g_hash_table_new (NULL, NULL);
  /* copies not done are lost with it (their frames are dropped) */
  s->copy_done = s->copy_seq;
  g_cond_broadcast (&s->cond);
  g_mutex_unlock (&s->lock);

  /* "settled": nothing more will come from that helper */
  g_hash_table_iter_init (&it, settles);
  while (g_hash_table_iter_next (&it, NULL, &v)) {
    Settle *st = v;
    st->func (st->data);
    if (st->notify)
      st->notify (st->data);
    g_free (st);
  }
  g_hash_table_unref (settles);
  gone = g_error_new (GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_WRITE,
      "the SPICE client helper for %s is gone", s->address);
  g_hash_table_iter_init (&it, writes);
  while (g_hash_table_iter_next (&it, NULL, &v))
    write_finish (v, gone);
  g_hash_table_unref (writes);
  g_error_free (gone);
}

/* spice thread: @error is taken */
static void
session_fail (GstSpiceSession * s, GError * error, gchar * debug)
{
  GPtrArray *arr;
  guint i;

  GST_WARNING ("%s: %s (%s)", s->address, error->message,
      debug ? debug : "");
  g_mutex_lock (&s->lock);
  if (!s->error) {
    s->error = g_error_copy (error);
    s->error_debug = g_strdup (debug);
  }
  g_mutex_unlock (&s->lock);
  arr = listeners_begin_all (s);
  for (i = 0; i < arr->len; i++)
    deliver_state (s, arr->pdata[i], GST_SPICE_SESSION_FAILED, error, debug);
  listeners_end_all (s, arr);
  g_error_free (error);
  g_free (debug);
}

/* spice thread: the helper's socket closed or failed */
static void
helper_gone (GstSpiceSession * s, gint err)
{
  GPid pid;
  gboolean closing, reconnect;
  gchar *how, *debug;
  GError *error;

  g_mutex_lock (&s->lock);
  pid = s->pid;
  s->pid = 0;
  closing = s->closing;
  reconnect = s->reconnect;
  g_mutex_unlock (&s->lock);
  how = pid > 0 ? reap (pid, HELPER_REAP_WAIT_US) : g_strdup ("ended");
  helper_cleanup (s);
  if (closing) {
    g_free (how);
    return;
  }
  error = g_error_new (GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_READ,
      "The SPICE client helper for %s (" HELPER_NAME ", pid %d) %s",
      s->address, (gint) pid, how);
  debug = g_strdup_printf ("the helper's socket: %s", err == ECONNRESET ?
      "closed" : g_strerror (err));
  g_free (how);
  if (!reconnect) {
    session_fail (s, error, debug);
    return;
  }
  GST_WARNING ("%s: %s; starting a fresh one", s->address, error->message);
  if (!s->lost) {
    GPtrArray *arr = listeners_begin_all (s);
    guint i;

    s->lost = TRUE;
    for (i = 0; i < arr->len; i++)
      deliver_state (s, arr->pdata[i], GST_SPICE_SESSION_LOST, error, debug);
    listeners_end_all (s, arr);
  }
  g_error_free (error);
  g_free (debug);
  s->backoff_ms = s->backoff_ms ? MIN (s->backoff_ms * 2, BACKOFF_MAX_MS) :
      BACKOFF_MIN_MS;
  s->respawn = g_timeout_source_new (s->backoff_ms);
  g_source_set_callback (s->respawn, respawn_timeout, s, NULL);
  attach (s->respawn);
}

static gboolean
on_socket (gint fd, GIOCondition cond, gpointer data)
{
  GstSpiceSession *s = data;
  guint i;

  /* a bounded batch per dispatch: other sessions get their turn */
  for (i = 0; i < 64; i++) {
    GstSpiceIpcMsg msg;
    gint err = gst_spice_ipc_recv (fd, &msg);
    gboolean ok;

    if (err == EAGAIN) {
      gst_spice_ipc_msg_clear (&msg);
      return G_SOURCE_CONTINUE;
    }
    if (err != 0) {
      gst_spice_ipc_msg_clear (&msg);
      if (err == EPROTO)
        GST_ERROR ("%s: malformed message from the client helper",
            s->address);
      /* the watch is destroyed there */
      helper_gone (s, err);
      return G_SOURCE_REMOVE;
    }
    ok = handle (s, &msg);
    gst_spice_ipc_msg_clear (&msg);
    if (!ok) {
      helper_cleanup (s);
      return G_SOURCE_REMOVE;
    }
  }
  return G_SOURCE_CONTINUE;
}

/* ---------------------------------------------------------------------- */
/* Public API                                                             */

const gchar *
gst_spice_session_get_address (GstSpiceSession * s)
{
  return s->address;
}

/**
 * gst_spice_session_acquire:
 * @params: checked with gst_spice_session_params_parse() before
 * @reconnect: whether this user wants a lost connection re-established
 * @features: the channels this user needs besides the display
 *
 * Returns the session for @params, creating it and starting its client
 * helper (which connects) when it is the first user.  Never blocks on the
 * network or on the helper.
 */
GstSpiceSession *
gst_spice_session_acquire (const GstSpiceSessionParams * params,
    gboolean reconnect, GstSpiceSessionFeatures features)
{
  GstSpiceSession *s;
  GstSpiceUri p;
  GError *error = NULL;
  gchar *key;
  gboolean ok;

  debug_init ();
  if (!gst_spice_uri_parse (params->uri, &p, NULL))
    return NULL;
  key = gst_spice_uri_make_key (params, &p);

  g_mutex_lock (&registry_lock);
  if (!registry) {
    registry = g_hash_table_new (g_str_hash, g_str_equal);
    by_serial = g_hash_table_new (NULL, NULL);
  }
  s = g_hash_table_lookup (registry, key);
  if (s) {
    s->refcount++;
    g_mutex_unlock (&registry_lock);
    g_mutex_lock (&s->lock);
    if ((reconnect && !s->reconnect) || (features & ~s->features)) {
      GstSpiceIpcFeaturesBody b;

      s->reconnect |= reconnect;
      s->features |= features;
      b.reconnect = s->reconnect;
      b.features = s->features;
      send_locked (s, GST_SPICE_IPC_FEATURES, 0, &b, sizeof (b), NULL, NULL,
          0);
    }
    g_mutex_unlock (&s->lock);
    g_free (key);
    gst_spice_uri_clear (&p);
    GST_DEBUG ("sharing session %s", s->address);
    return s;
  }

  s = g_new0 (GstSpiceSession, 1);
  s->refcount = 1;
  s->serial = ++next_serial;
  s->key = key;
  s->params.uri = g_strdup (params->uri);
  s->params.password = g_strdup (params->password);
  s->params.ca_file = g_strdup (params->ca_file);
  s->params.cert_subject = g_strdup (params->cert_subject);
  s->address = gst_spice_uri_describe (&p);
  s->reconnect = reconnect;
  s->features = features;
  s->next_listener_id = 1;
  s->sock = -1;
  s->helper_end = -1;
  s->ring_fd = -1;
  g_queue_init (&s->ring_regions);
  g_mutex_init (&s->lock);
  g_cond_init (&s->cond);
  g_queue_init (&s->out);
  s->writes = g_hash_table_new (NULL, NULL);
  s->settles = g_hash_table_new (NULL, NULL);
  g_hash_table_insert (registry, s->key, s);
  g_hash_table_insert (by_serial, GUINT_TO_POINTER (s->serial), s);
  spice_thread_ref_locked ();
  g_mutex_unlock (&registry_lock);
  gst_spice_uri_clear (&p);

  GST_INFO ("new session %s", s->address);
  g_mutex_lock (&s->lock);
  ok = start_locked (s, &error);
  g_mutex_unlock (&s->lock);
  if (ok) {
    /* from the spice thread: PR_SET_PDEATHSIG follows the thread that
     * forked, and the caller's may end long before the session */
    gst_spice_session_invoke (s, G_PRIORITY_DEFAULT, spawn_idle, s, NULL);
  } else {
    g_mutex_lock (&s->lock);
    s->error = g_error_new (GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_FAILED,
        "Could not start the SPICE client helper for %s: %s", s->address,
        error->message);
    g_mutex_unlock (&s->lock);
    g_error_free (error);
  }
  return s;
}

static void
session_free (GstSpiceSession * s)
{
  if (s->ring)
    munmap (s->ring, RING_SIZE);
  if (s->ring_fd >= 0)
    close (s->ring_fd);
  g_queue_clear_full (&s->ring_regions, g_free);
  if (s->ring_batch)
    g_array_unref (s->ring_batch);
  g_free (s->ring_batch_port);
  g_hash_table_unref (s->writes);
  g_hash_table_unref (s->settles);
  gst_spice_session_params_clear (&s->params);
  g_clear_error (&s->error);
  g_free (s->error_debug);
  g_free (s->address);
  g_free (s->key);
  g_mutex_clear (&s->lock);
  g_cond_clear (&s->cond);
  g_free (s);
}

/* spice thread: the last of a released session */
static gboolean
finish_idle (gpointer data)
{
  GstSpiceSession *s = data;
  guint serial = s->serial;
  GPid pid;
  gint end;

  if (s->respawn) {
    g_source_destroy (s->respawn);
    g_clear_pointer (&s->respawn, g_source_unref);
  }
  g_mutex_lock (&s->lock);
  pid = s->pid;
  s->pid = 0;
  end = s->helper_end;
  s->helper_end = -1;
  g_mutex_unlock (&s->lock);
  if (end >= 0)
    close (end);
  if (pid > 0) {
    /* it disconnects from the server and exits on CLOSE */
    gchar *how = reap (pid, HELPER_EXIT_WAIT_US);
    GST_DEBUG ("%s: client helper %d %s", s->address, (gint) pid, how);
    g_free (how);
  }
  helper_cleanup (s);
  GST_INFO ("session %s closed", s->address);
  session_free (s);

  g_mutex_lock (&registry_lock);
  g_hash_table_remove (by_serial, GUINT_TO_POINTER (serial));
  spice_thread_unref_locked ();
  g_cond_broadcast (&closing_cond);
  g_mutex_unlock (&registry_lock);
  return G_SOURCE_REMOVE;
}

/**
 * gst_spice_session_release:
 *
 * Drops a reference.  The last one closes the session: the helper is told
 * to disconnect and exit (and killed when it has not within 2 s), and the
 * spice thread stops when no session is left.  Waits for that, a bounded
 * time, unless called from the spice thread itself.
 */
void
gst_spice_session_release (GstSpiceSession * s)
{
  guint serial = s->serial;
  gint64 until;
  gboolean done;
  GThread *join = NULL;

  g_mutex_lock (&registry_lock);
  if (--s->refcount > 0) {
    g_mutex_unlock (&registry_lock);
    return;
  }
  g_hash_table_remove (registry, s->key);
  g_mutex_unlock (&registry_lock);

  g_mutex_lock (&s->lock);
  s->closing = TRUE;
  send_locked (s, GST_SPICE_IPC_CLOSE, 0, NULL, 0, NULL, NULL, 0);
  g_mutex_unlock (&s->lock);
  gst_spice_session_invoke (s, G_PRIORITY_DEFAULT, finish_idle, s, NULL);
  if (gst_spice_session_in_spice_thread ())
    return;

  until = g_get_monotonic_time () + FINISH_WAIT_US;
  g_mutex_lock (&registry_lock);
  while (!(done = !g_hash_table_contains (by_serial,
              GUINT_TO_POINTER (serial))))
    if (!g_cond_wait_until (&closing_cond, &registry_lock, until))
      break;
  if (done && spice_thread_exiting && spice_thread_users == 0) {
    join = spice_thread;
    spice_thread = NULL;
    spice_thread_exiting = FALSE;
  }
  g_mutex_unlock (&registry_lock);
  if (!done)
    GST_WARNING ("session %s: the spice thread did not let go within %d ms",
        s->address, (gint) (FINISH_WAIT_US / 1000));
  if (join)
    g_thread_join (join);
}

/* spice thread: a listener added after the session failed for good */
typedef struct
{
  GstSpiceSession *session;
  guint id;
} Replay;

static gboolean
replay_failure_idle (gpointer data)
{
  Replay *r = data;
  GstSpiceSession *s = r->session;
  Listener *li = listener_begin (s, r->id);
  GError *error = NULL;
  gchar *debug = NULL;

  if (!li)
    return G_SOURCE_REMOVE;
  g_mutex_lock (&s->lock);
  if (s->error) {
    error = g_error_copy (s->error);
    debug = g_strdup (s->error_debug);
  }
  g_mutex_unlock (&s->lock);
  if (error)
    deliver_state (s, li, GST_SPICE_SESSION_FAILED, error, debug);
  listener_end (s, li);
  g_clear_error (&error);
  g_free (debug);
  return G_SOURCE_REMOVE;
}

static guint
add_listener (GstSpiceSession * s, Listener * li)
{
  gboolean failed;
  guint id;

  li->owner = s;
  g_mutex_lock (&s->lock);
  id = gst_spice_listener_add (&s->listeners, &s->next_listener_id, li);
  failed = s->error != NULL;
  subscribe_locked (s, li);
  g_mutex_unlock (&s->lock);

  if (failed) {
    Replay *r = g_new0 (Replay, 1);

    r->session = s;
    r->id = id;
    gst_spice_session_invoke (s, G_PRIORITY_DEFAULT, replay_failure_idle, r,
        g_free);
  }
  return id;
}

/**
 * gst_spice_session_add_display_listener:
 * @channel_id: the display channel (head) to follow
 * @notify: called on @user_data once no callback can run any more
 *
 * Returns: an id for gst_spice_session_remove_listener().  Callbacks start
 * in the spice thread, first with what the session already has (state,
 * primary surface and a full invalidate, cursor).
 */
guint
gst_spice_session_add_display_listener (GstSpiceSession * s,
    gint channel_id, const GstSpiceDisplayCallbacks * callbacks,
    gpointer user_data, GDestroyNotify notify)
{
  return add_listener (s, gst_spice_listener_new (LISTENER_DISPLAY,
          channel_id, NULL, callbacks, sizeof (*callbacks), user_data,
          notify));
}

/**
 * gst_spice_session_add_playback_listener:
 *
 * The guest's sound.  The session must have been acquired with
 * GST_SPICE_SESSION_FEATURE_AUDIO.  Like display listeners, callbacks start
 * in the spice thread with what the session already has.
 */
guint
gst_spice_session_add_playback_listener (GstSpiceSession * s,
    const GstSpicePlaybackCallbacks * callbacks, gpointer user_data,
    GDestroyNotify notify)
{
  return add_listener (s, gst_spice_listener_new (LISTENER_PLAYBACK, -1,
          NULL, callbacks, sizeof (*callbacks), user_data, notify));
}

guint
gst_spice_session_add_record_listener (GstSpiceSession * s,
    const GstSpiceRecordCallbacks * callbacks, gpointer user_data,
    GDestroyNotify notify)
{
  return add_listener (s, gst_spice_listener_new (LISTENER_RECORD, -1,
          NULL, callbacks, sizeof (*callbacks), user_data, notify));
}

/**
 * gst_spice_session_add_port_listener:
 *
 * The SPICE port named @port_name: whether the guest has it open, and what
 * the guest writes.  Callbacks start in the spice thread with what the
 * session already knows.
 */
guint
gst_spice_session_add_port_listener (GstSpiceSession * s,
    const gchar * port_name, const GstSpicePortCallbacks * callbacks,
    gpointer user_data, GDestroyNotify notify)
{
  return add_listener (s, gst_spice_listener_new (LISTENER_PORT, -1,
          port_name, callbacks, sizeof (*callbacks), user_data, notify));
}

/**
 * gst_spice_session_remove_listener:
 *
 * After it returns no callback of the listener runs any more (unless the
 * caller is itself inside one, in the spice thread).  GL draws it still
 * held are let go.
 */
void
gst_spice_session_remove_listener (GstSpiceSession * s, guint id)
{
  Listener *li;
  GList *l, *next;
  gint64 deadline = g_get_monotonic_time () + LISTENER_WAIT_US;
  gboolean wait = !gst_spice_session_in_spice_thread ();

  g_mutex_lock (&s->lock);
  li = gst_spice_listener_take (&s->listeners, id);
  if (!li) {
    g_mutex_unlock (&s->lock);
    return;
  }
  send_locked (s, GST_SPICE_IPC_UNSUBSCRIBE, id, NULL, 0, NULL, NULL, 0);
  for (l = s->holds; l; l = next) {
    GlHold *h = l->data;
    next = l->next;
    if (h->listener == id)
      gl_hold_drop_locked (s, h, TRUE);
  }
  if (wait && !gst_spice_listener_wait_idle (li, &s->lock, &s->cond,
          deadline))
    GST_WARNING ("listener %u still busy after %d s", id,
        (gint) (LISTENER_WAIT_US / G_USEC_PER_SEC));
  g_mutex_unlock (&s->lock);
  gst_spice_listener_unref (li);
}

/* ---------------------------------------------------------------------- */
/* Writes and input                                                       */

static gboolean
write_failed_idle (gpointer data)
{
  Write *w = data;
  GError *error = g_error_new (GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_WRITE,
      "no SPICE client helper to write through");

  write_finish (w, error);
  g_error_free (error);
  return G_SOURCE_REMOVE;
}

/* s->lock held: @n contiguous bytes of the ring, shared with the current
 * helper; FALSE when there is no room (the write goes inline) */
static gboolean
ring_alloc_locked (GstSpiceSession * s, gsize n, RingRegion ** out)
{
  RingRegion *first, *r;
  gsize offset;

  if (n > RING_SIZE / 2)
    return FALSE;
  if (!s->ring) {
    gint fd = memfd_create ("gst-spice-port-ring", MFD_CLOEXEC);
    gpointer map;

    if (fd < 0)
      return FALSE;
    if (ftruncate (fd, RING_SIZE) < 0 || (map = mmap (NULL, RING_SIZE,
                PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
      close (fd);
      return FALSE;
    }
    s->ring_fd = fd;
    s->ring = map;
  }
  first = g_queue_peek_head (&s->ring_regions);
  if (!first) {
    offset = 0;
  } else if (s->ring_head > first->offset) {
    /* in use: [first, head) */
    if (RING_SIZE - s->ring_head >= n) {
      offset = s->ring_head;
    } else if (first->offset >= n) {
      /* wrap; the end is skipped */
      r = g_new0 (RingRegion, 1);
      r->offset = s->ring_head;
      r->size = RING_SIZE - s->ring_head;
      r->done = TRUE;
      g_queue_push_tail (&s->ring_regions, r);
      offset = 0;
    } else {
      return FALSE;
    }
  } else {
    /* wrapped: in use [first, end) and [0, head) */
    if (first->offset - s->ring_head < n)
      return FALSE;
    offset = s->ring_head;
  }
  if (s->ring_generation != s->generation) {
    GstSpiceIpcRingAddBody b = { RING_SIZE };

    send_locked (s, GST_SPICE_IPC_RING_ADD, 0, &b, sizeof (b), NULL,
        &s->ring_fd, 1);
    s->ring_generation = s->generation;
  }
  r = g_new0 (RingRegion, 1);
  r->offset = offset;
  r->size = n;
  g_queue_push_tail (&s->ring_regions, r);
  s->ring_head = offset + n;
  *out = r;
  return TRUE;
}

/* s->lock held: the ring writes waiting go to the helper */
static void
ring_flush_locked (GstSpiceSession * s)
{
  GBytes *tail;

  if (!s->ring_batch || s->ring_batch->len == 0)
    return;
  tail = g_bytes_new (s->ring_batch->data, s->ring_batch->len *
      sizeof (GstSpiceIpcRingWrite));
  send_locked (s, GST_SPICE_IPC_PORT_WRITE_RING, 0, s->ring_batch_port,
      MIN (strlen (s->ring_batch_port), GST_SPICE_IPC_MAX_BODY), tail, NULL,
      0);
  g_bytes_unref (tail);
  s->ring_outstanding += s->ring_batch->len;
  g_array_set_size (s->ring_batch, 0);
}

static void
write_start (GstSpiceSession * s, Write * w, guint32 type,
    const gchar * port_name, GBytes * bytes)
{
  gsize size = bytes ? g_bytes_get_size (bytes) : 0;
  RingRegion *r = NULL;
  guint req;

  g_mutex_lock (&s->lock);
  if (s->sock < 0 || s->broken) {
    g_mutex_unlock (&s->lock);
    /* in the spice thread, as the callback would be */
    gst_spice_session_invoke (s, G_PRIORITY_DEFAULT, write_failed_idle, w,
        NULL);
    return;
  }
  req = ++s->next_req;
  g_hash_table_insert (s->writes, GUINT_TO_POINTER (req), w);
  if (type == GST_SPICE_IPC_PORT_WRITE && size >= RING_MIN_WRITE &&
      ring_alloc_locked (s, size, &r)) {
    GstSpiceIpcRingWrite e = { req, 0, r->offset, size };

    memcpy (s->ring + r->offset, g_bytes_get_data (bytes, NULL), size);
    w->region = r;
    if (!s->ring_batch)
      s->ring_batch = g_array_new (FALSE, FALSE, sizeof (e));
    if (s->ring_batch->len > 0 && g_strcmp0 (s->ring_batch_port,
            port_name) != 0)
      ring_flush_locked (s);
    if (s->ring_batch->len == 0) {
      g_free (s->ring_batch_port);
      s->ring_batch_port = g_strdup (port_name);
    }
    g_array_append_val (s->ring_batch, e);
    if (s->ring_outstanding == 0)
      ring_flush_locked (s);
  } else {
    /* after the ring writes before it: the port's bytes stay in order */
    if (type == GST_SPICE_IPC_PORT_WRITE)
      ring_flush_locked (s);
    send_locked (s, type, req, port_name, port_name ? strlen (port_name) :
        0, bytes, NULL, 0);
  }
  g_mutex_unlock (&s->lock);
}

/**
 * gst_spice_session_port_write:
 * @done: called in the spice thread once @bytes are on the socket, or with
 *   the error (G_IO_ERROR_CLOSED: the guest had closed the port, which the
 *   port_opened callback may tell only later); then @notify (@user_data)
 *
 * Never blocks; the caller bounds what it has in flight.
 */
void
gst_spice_session_port_write (GstSpiceSession * s, const gchar * port_name,
    GBytes * bytes, GstSpicePortWriteDone done, gpointer user_data,
    GDestroyNotify notify)
{
  Write *w = g_new0 (Write, 1);

  w->port_done = done;
  w->user_data = user_data;
  w->notify = notify;
  write_start (s, w, GST_SPICE_IPC_PORT_WRITE, port_name, bytes);
}

/**
 * gst_spice_session_record_write:
 * @samples: S16 interleaved, in the format of the last record_start
 * @done: (nullable): called with @done_data, in the spice thread, once the
 *   samples were handed to the record channel (or dropped: not recording)
 *
 * Never blocks; the caller bounds what it has in flight.
 */
void
gst_spice_session_record_write (GstSpiceSession * s, GBytes * samples,
    GDestroyNotify done, gpointer done_data)
{
  Write *w = g_new0 (Write, 1);

  w->record_done = done;
  w->user_data = done_data;
  write_start (s, w, GST_SPICE_IPC_RECORD_WRITE, NULL, samples);
}

static void
send_input (GstSpiceSession * s, GstSpiceIpcInputKind kind, gint channel_id,
    gint a, gint b)
{
  GstSpiceIpcInputBody body = { kind, channel_id, a, b };

  send_simple (s, GST_SPICE_IPC_INPUT, 0, &body, sizeof (body));
}

void
gst_spice_session_send_key (GstSpiceSession * s, guint scancode,
    gboolean press)
{
  send_input (s, GST_SPICE_IPC_INPUT_KEY, 0, scancode, press);
}

/* Client mouse mode: an absolute position; server mode: the motion from
 * the last position sent (the helper keeps it). */
void
gst_spice_session_send_pointer (GstSpiceSession * s, gint channel_id, gint x,
    gint y)
{
  send_input (s, GST_SPICE_IPC_INPUT_POINTER, channel_id, x, y);
}

void
gst_spice_session_send_button (GstSpiceSession * s, gint channel_id,
    gint button, gboolean press)
{
  g_return_if_fail (button >= 1 && button <= 7);
  send_input (s, GST_SPICE_IPC_INPUT_BUTTON, channel_id, button, press);
}

/* ---------------------------------------------------------------------- */
/* 2D frames in shared memory                                             */

GstAllocator *
gst_spice_session_get_allocator (void)
{
  static GstAllocator *allocator;

  if (g_once_init_enter (&allocator)) {
    GstAllocator *a = gst_spice_memfd_allocator_new ();
    /* process-wide, like the system allocator */
    GST_OBJECT_FLAG_SET (a, GST_OBJECT_FLAG_MAY_BE_LEAKED);
    g_once_init_leave (&allocator, a);
  }
  return gst_object_ref (allocator);
}

/* a frame buffer freed: its helper (if it still has it) lets go too */
static void
shm_reg_free (gpointer data)
{
  ShmReg *reg = data;
  GstSpiceSession *s;

  g_mutex_lock (&registry_lock);
  s = by_serial ? g_hash_table_lookup (by_serial,
      GUINT_TO_POINTER (reg->serial)) : NULL;
  if (s) {
    g_mutex_lock (&s->lock);
    if (s->generation == reg->generation)
      send_locked (s, GST_SPICE_IPC_SHM_REMOVE, reg->id, NULL, 0, NULL, NULL,
          0);
    g_mutex_unlock (&s->lock);
  }
  g_mutex_unlock (&registry_lock);
  g_free (reg);
}

/**
 * gst_spice_session_copy:
 * @surface: as given by primary_create
 * @mem: memory of gst_spice_session_get_allocator()
 * @offset: of the plane in @mem
 *
 * Asks the helper to copy @rect of the primary surface into @mem (any
 * thread, never blocks).  The copy is done once gst_spice_session_sync()
 * returned TRUE.  FALSE: @mem is not shared memory.
 */
gboolean
gst_spice_session_copy (GstSpiceSession * s, gint channel_id, guint surface,
    GstMemory * mem, gsize offset, gint stride,
    const GstVideoRectangle * rect, gboolean flip)
{
  ShmReg *reg;
  GstSpiceIpcCopyBody b;
  gsize mem_offset, maxsize;

  if (!gst_is_fd_memory (mem))
    return FALSE;
  gst_memory_get_sizes (mem, &mem_offset, &maxsize);
  reg = gst_mini_object_get_qdata (GST_MINI_OBJECT (mem), shm_reg_quark);
  g_mutex_lock (&s->lock);
  /* a surface of an earlier helper: that frame is dropped anyway */
  if ((surface >> 20) != (s->generation & 0xfff)) {
    g_mutex_unlock (&s->lock);
    return TRUE;
  }
  if (!reg || reg->serial != s->serial || reg->generation != s->generation) {
    GstSpiceIpcShmAddBody add = { maxsize };
    gint fd = gst_fd_memory_get_fd (mem);

    reg = g_new0 (ShmReg, 1);
    reg->serial = s->serial;
    reg->generation = s->generation;
    reg->id = ++s->next_shm;
    send_locked (s, GST_SPICE_IPC_SHM_ADD, reg->id, &add, sizeof (add), NULL,
        &fd, 1);
    g_mutex_unlock (&s->lock);
    /* (the old registration's notify takes the registry lock) */
    gst_mini_object_set_qdata (GST_MINI_OBJECT (mem), shm_reg_quark, reg,
        shm_reg_free);
    g_mutex_lock (&s->lock);
  }
  b.channel_id = channel_id;
  b.surface = surface & 0xfffff;
  b.shm = reg->id;
  b.flip = flip;
  b.offset = mem_offset + offset;
  b.stride = stride;
  b.x = rect->x;
  b.y = rect->y;
  b.w = rect->w;
  b.h = rect->h;
  b.pad = 0;
  send_locked (s, GST_SPICE_IPC_COPY, 0, &b, sizeof (b), NULL, NULL, 0);
  s->copy_seq++;
  g_mutex_unlock (&s->lock);
  return TRUE;
}

/**
 * gst_spice_session_sync:
 *
 * Waits (@timeout_ms at most) until the helper has done every copy asked
 * for so far.  Never call it with a lock a listener callback takes: the
 * answer comes through the spice thread.
 */
gboolean
gst_spice_session_sync (GstSpiceSession * s, guint timeout_ms)
{
  gint64 until = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  gboolean ok = TRUE;

  g_mutex_lock (&s->lock);
  /* usually a SETTLED answered already: no round trip */
  if (s->copy_done < s->copy_seq && s->sock >= 0 && !s->broken) {
    guint64 target = s->copy_seq;
    guint cancels = s->sync_cancels, gen = s->generation;

    send_locked (s, GST_SPICE_IPC_SYNC, 0, NULL, 0, NULL, NULL, 0);
    while (s->copy_done < target && !s->broken && s->generation == gen &&
        s->sync_cancels == cancels)
      if (!g_cond_wait_until (&s->cond, &s->lock, until))
        break;
    ok = s->generation == gen && s->copy_done >= target;
  }
  g_mutex_unlock (&s->lock);
  return ok;
}

/**
 * gst_spice_session_sync_cancel:
 *
 * Lets every gst_spice_session_sync() in progress return (FALSE) at once:
 * for a flush (the helper may be stuck).
 */
void
gst_spice_session_sync_cancel (GstSpiceSession * s)
{
  g_mutex_lock (&s->lock);
  s->sync_cancels++;
  g_cond_broadcast (&s->cond);
  g_mutex_unlock (&s->lock);
}

void
gst_spice_session_invoke_settled (GstSpiceSession * s, GSourceFunc func,
    gpointer data, GDestroyNotify notify)
{
  Settle *st;
  guint token;

  g_mutex_lock (&s->lock);
  if (s->sock < 0 || s->broken) {
    g_mutex_unlock (&s->lock);
    gst_spice_session_invoke (s, G_PRIORITY_DEFAULT_IDLE, func, data, notify);
    return;
  }
  st = g_new0 (Settle, 1);
  st->func = func;
  st->data = data;
  st->notify = notify;
  token = ++s->next_token;
  g_hash_table_insert (s->settles, GUINT_TO_POINTER (token), st);
  send_locked (s, GST_SPICE_IPC_SETTLE, token, NULL, 0, NULL, NULL, 0);
  g_mutex_unlock (&s->lock);
}
