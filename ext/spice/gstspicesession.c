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
#include "gstspicesessionpriv.h"

GST_DEBUG_CATEGORY (gst_spice_session_debug);
#define GST_CAT_DEFAULT gst_spice_session_debug

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

/* A message for the helper of the session @serial, if it still has the
 * helper @generation (a frame buffer freed after its session, any thread) */
void
session_send_to_serial (guint serial, guint generation, guint32 type,
    guint32 id)
{
  GstSpiceSession *s;

  g_mutex_lock (&registry_lock);
  s = by_serial ? g_hash_table_lookup (by_serial,
      GUINT_TO_POINTER (serial)) : NULL;
  if (s) {
    g_mutex_lock (&s->lock);
    if (s->generation == generation)
      session_send_locked (s, type, id, NULL, 0, NULL, NULL, 0);
    g_mutex_unlock (&s->lock);
  }
  g_mutex_unlock (&registry_lock);
}

static void
debug_init (void)
{
  static gsize done = 0;

  if (g_once_init_enter (&done)) {
    GST_DEBUG_CATEGORY_INIT (gst_spice_session_debug, "spicesession", 0,
        "SPICE session registry, spice thread and client helper");
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

void
session_attach (GSource * src)
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
  session_attach (src);
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
    session_attach (s->out_watch);
  }
}

void
session_send_locked (GstSpiceSession * s, guint32 type, guint32 id,
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

void
session_send_simple (GstSpiceSession * s, guint32 type, guint32 id,
    gconstpointer body, gsize body_size)
{
  g_mutex_lock (&s->lock);
  session_send_locked (s, type, id, body, body_size, NULL, NULL, 0);
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
Listener *
session_listener_begin (GstSpiceSession * s, guint id)
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

void
session_listener_end (GstSpiceSession * s, Listener * li)
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
    session_listener_end (s, arr->pdata[i]);
  g_ptr_array_free (arr, TRUE);
}

/* s->lock held */
static void
subscribe_locked (GstSpiceSession * s, Listener * li)
{
  GstSpiceIpcSubscribeBody b = { li->kind, li->channel_id };
  GBytes *tail = li->port_name ? gst_spice_ipc_strings (1, li->port_name) :
      NULL;

  session_send_locked (s, GST_SPICE_IPC_SUBSCRIBE, li->id, &b, sizeof (b), tail,
      NULL, 0);
  if (tail)
    g_bytes_unref (tail);
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
  Listener *li = session_listener_begin (s, sub);
  guint ms = 0;

  if (!b) {
    if (li)
      session_listener_end (s, li);
    return;
  }
  if (li) {
    if (li->cb.display.gl_draw)
      ms = li->cb.display.gl_draw (li->user_data, b->x, b->y, b->w, b->h,
          b->seq);
    if (b->seq && ms > 0)
      session_gl_hold_add (s, li, b->seq, ms);
    session_listener_end (s, li);
  }
  if (b->seq && ms == 0) {
    GstSpiceIpcGlDrawDoneBody d = { b->channel_id, 0, b->seq };

    session_send_simple (s, GST_SPICE_IPC_GL_DRAW_DONE, 0, &d, sizeof (d));
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
  session_send_simple (s, GST_SPICE_IPC_PLAYBACK_DELAY, li->id, &b, sizeof (b));
}

static void
handle_listener_msg (GstSpiceSession * s, GstSpiceIpcMsg * msg)
{
  Listener *li;

  if (msg->header.type == GST_SPICE_IPC_GL_DRAW) {
    handle_gl_draw (s, msg->header.id, msg);
    return;
  }
  li = session_listener_begin (s, msg->header.id);
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
  session_listener_end (s, li);
}

static void session_fail (GstSpiceSession * s, GError * error,
    gchar * debug);

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
        session_ring_release_locked (s, w);
      }
      session_ring_flush_locked (s);
      g_mutex_unlock (&s->lock);
      if (!w)
        break;
      error = b ? error_from (msg, b->code) : NULL;
      session_write_finish (w, error);
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
          session_ring_release_locked (s, w);
          g_ptr_array_add (done, w);
        }
      }
      session_ring_flush_locked (s);
      g_mutex_unlock (&s->lock);
      for (i = 0; i < done->len; i++)
        session_write_finish (done->pdata[i], NULL);
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
  if (dladdr ((gpointer) find_helper, &info) && info.dli_fname) {
    gchar *dir = g_path_get_dirname (info.dli_fname);

    /* the build tree: beside the plugin */
    path = g_build_filename (dir, "client", HELPER_NAME, NULL);
    if (!g_file_test (path, G_FILE_TEST_IS_EXECUTABLE))
      g_clear_pointer (&path, g_free);
#ifdef GST_SPICE_HELPER_RELDIR
    /* an installed tree, wherever it is now (a DESTDIR, a bundle) */
    if (!path) {
      gchar *rel = g_build_filename (GST_SPICE_HELPER_RELDIR, HELPER_NAME,
          NULL);

      /* without the ..s: it appears in errors and logs */
      path = g_canonicalize_filename (rel, dir);
      g_free (rel);
      if (!g_file_test (path, G_FILE_TEST_IS_EXECUTABLE))
        g_clear_pointer (&path, g_free);
    }
#endif
    g_free (dir);
    if (path)
      return path;
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
  session_attach (s->watch);
  return G_SOURCE_REMOVE;
}

/* s->lock held: a new socket pair with HELLO and every listener's
 * subscription already in it, the helper to be started by spawn_idle */
static gboolean
start_locked (GstSpiceSession * s, GError ** error)
{
  GstSpiceIpcHelloBody b = { GST_SPICE_IPC_VERSION, s->reconnect,
    s->features, s->link_timeout
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
  session_send_locked (s, GST_SPICE_IPC_HELLO, 0, &b, sizeof (b), tail, NULL, 0);
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
    session_gl_hold_drop_locked (s, s->holds->data, FALSE);
  writes = s->writes;
  settles = s->settles;
  g_hash_table_iter_init (&it, writes);
  while (g_hash_table_iter_next (&it, NULL, &v))
    session_ring_release_locked (s, v);
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
    session_write_finish (v, gone);
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
  session_attach (s->respawn);
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
 * @link_timeout: ms of silence after which the link counts as lost, 0 for
 *   never; the shortest of all users applies
 * @features: the channels this user needs besides the display
 *
 * Returns the session for @params, creating it and starting its client
 * helper (which connects) when it is the first user.  Never blocks on the
 * network or on the helper.
 */
GstSpiceSession *
gst_spice_session_acquire (const GstSpiceSessionParams * params,
    gboolean reconnect, guint link_timeout, GstSpiceSessionFeatures features)
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
    gboolean shorter = link_timeout > 0 && (s->link_timeout == 0 ||
        link_timeout < s->link_timeout);

    if ((reconnect && !s->reconnect) || (features & ~s->features) ||
        shorter) {
      GstSpiceIpcFeaturesBody b = { 0, };

      s->reconnect |= reconnect;
      s->features |= features;
      if (shorter)
        s->link_timeout = link_timeout;
      b.reconnect = s->reconnect;
      b.features = s->features;
      b.link_timeout = s->link_timeout;
      session_send_locked (s, GST_SPICE_IPC_FEATURES, 0, &b, sizeof (b), NULL, NULL,
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
  s->link_timeout = link_timeout;
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
  session_send_locked (s, GST_SPICE_IPC_CLOSE, 0, NULL, 0, NULL, NULL, 0);
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
  Listener *li = session_listener_begin (s, r->id);
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
  session_listener_end (s, li);
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
  session_send_locked (s, GST_SPICE_IPC_UNSUBSCRIBE, id, NULL, 0, NULL, NULL, 0);
  for (l = s->holds; l; l = next) {
    GlHold *h = l->data;
    next = l->next;
    if (h->listener == id)
      session_gl_hold_drop_locked (s, h, TRUE);
  }
  if (wait && !gst_spice_listener_wait_idle (li, &s->lock, &s->cond,
          deadline))
    GST_WARNING ("listener %u still busy after %d s", id,
        (gint) (LISTENER_WAIT_US / G_USEC_PER_SEC));
  g_mutex_unlock (&s->lock);
  gst_spice_listener_unref (li);
}

