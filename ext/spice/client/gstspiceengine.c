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

#include "gstspiceenginepriv.h"

#include <gio/gunixsocketaddress.h>

#include "gstspiceuri.h"

GST_DEBUG_CATEGORY (gst_spice_engine_debug);
#define GST_CAT_DEFAULT gst_spice_engine_debug

/* How long a state change may wait for spice-client-glib to finish
 * disconnecting before giving up (and leaking the session, with a
 * warning, rather than hanging the pipeline). */
#define CLOSE_TIMEOUT_US (5 * G_USEC_PER_SEC)
/* how long a release waits for a detached close (see release) */
#define DETACHED_WAIT_US (300 * 1000)
#define LISTENER_WAIT_US (5 * G_USEC_PER_SEC)
/* how long closing waits for channels still linking */
#define CLOSE_LINK_WAIT_US (500 * G_TIME_SPAN_MILLISECOND)
#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 5000
/* With reconnect on, another client that takes the server this many times
 * in a row, each within TAKEOVER_WINDOW_US of our getting (back) in, is
 * one that reconnects too: the two would take it from each other forever
 * (libspice-server keeps the newest client), so we stop. */
#define TAKEOVER_MAX 3
#define TAKEOVER_WINDOW_US (10 * G_USEC_PER_SEC)

/* The registry and the spice thread are process-wide by nature:
 * spice-client-glib itself is a per-process singleton on the default main
 * context. */
static GMutex registry_lock;
static GHashTable *registry;    /* registry_lock: key -> GstSpiceEngine */
static GThread *spice_thread;   /* registry_lock */
static GMainLoop *spice_loop;   /* registry_lock */
static guint spice_thread_users;        /* registry_lock */
static GCond closing_cond;      /* registry_lock: a detached close ended */
static GHashTable *closing_serials;     /* registry_lock: serials of sessions whose
                                         * detached close has not ended */
static guint next_serial;       /* registry_lock */
static gboolean finish_idle (gpointer data);

/* s->lock held, spice thread: no SpiceSession left after release.  Both
 * the "disconnected" handler and close_idle can get here (a connection
 * that failed while the close was deferred): once only. */
static void
mark_closed_locked (GstSpiceEngine * s)
{
  if (s->closed)
    return;
  s->closed = TRUE;
  g_cond_broadcast (&s->cond);
  if (s->detached)
    gst_spice_engine_invoke (s, G_PRIORITY_LOW, finish_idle, s, NULL);
}

static void session_connect (GstSpiceEngine * s);

static void
debug_init (void)
{
  static gsize done = 0;

  if (g_once_init_enter (&done)) {
    GST_DEBUG_CATEGORY_INIT (gst_spice_engine_debug, "spiceengine", 0,
        "SPICE client engine (spice-client-glib, in the client helper)");
    gst_spice_engine_channels_init ();
    g_once_init_leave (&done, 1);
  }
}

/* ---------------------------------------------------------------------- */
/* The spice thread                                                       */

static gpointer
spice_thread_func (gpointer data)
{
  GMainLoop *loop = data;

  /* Runs on the default context on purpose: that is the only context
   * spice-client-glib uses.  When the application runs the default loop
   * itself, this blocks until the application releases the context. */
  g_main_loop_run (loop);
  g_main_loop_unref (loop);
  return NULL;
}

/* registry_lock held */
static void
spice_thread_ref_locked (void)
{
  if (spice_thread_users++ > 0)
    return;
  spice_loop = g_main_loop_new (NULL, FALSE);
  spice_thread = g_thread_new ("spice", spice_thread_func,
      g_main_loop_ref (spice_loop));
}

static void
spice_thread_unref (void)
{
  GThread *thread = NULL;
  GMainLoop *loop = NULL;

  g_mutex_lock (&registry_lock);
  if (--spice_thread_users == 0) {
    thread = spice_thread;
    loop = spice_loop;
    spice_thread = NULL;
    spice_loop = NULL;
  }
  g_mutex_unlock (&registry_lock);

  if (thread) {
    g_main_loop_quit (loop);
    g_main_loop_unref (loop);
    /* from the spice thread itself (a detached close): it returns from its
     * loop after this dispatch and nobody waits for it */
    if (thread == g_thread_self ())
      g_thread_unref (thread);
    else
      g_thread_join (thread);
  }
}

/* Runs @func on the default context, in whichever thread dispatches it.
 * Never g_main_context_invoke(): it runs the function at once in the
 * calling thread when the context happens to be free. */
void
gst_spice_engine_invoke (GstSpiceEngine * s, gint priority,
    GSourceFunc func, gpointer data, GDestroyNotify notify)
{
  GSource *src = g_idle_source_new ();

  g_source_set_priority (src, priority);
  g_source_set_callback (src, func, data, notify);
  g_source_set_name (src, "gst-spice invoke");
  g_source_attach (src, NULL);
  g_source_unref (src);
}

/* Waits until *flag (guarded by s->lock, which the caller holds) turns
 * TRUE or the deadline passes.  If the calling thread owns the default
 * context nobody else can dispatch the work it waits for, so it iterates
 * the context itself. */
static gboolean
wait_flag_locked (GstSpiceEngine * s, gboolean * flag, gint64 deadline)
{
  while (!*flag) {
    if (g_main_context_is_owner (g_main_context_default ())) {
      g_mutex_unlock (&s->lock);
      g_main_context_iteration (NULL, FALSE);
      g_usleep (1000);
      g_mutex_lock (&s->lock);
      if (g_get_monotonic_time () > deadline)
        return *flag;
    } else if (!g_cond_wait_until (&s->cond, &s->lock, deadline)) {
      return *flag;
    }
  }
  return TRUE;
}

/* ---------------------------------------------------------------------- */
/* Listeners                                                              */

GPtrArray *
gst_spice_engine_listeners_begin (GstSpiceEngine * s, ListenerKind kind,
    gint channel_id)
{
  GPtrArray *arr = g_ptr_array_new ();
  GList *l;

  g_mutex_lock (&s->lock);
  for (l = s->listeners; l; l = l->next) {
    Listener *li = l->data;
    if (li->removed || !li->attached)
      continue;
    if (kind != LISTENER_ANY && li->kind != kind)
      continue;
    if (channel_id >= 0 && li->channel_id != channel_id)
      continue;
    li->busy++;
    g_ptr_array_add (arr, gst_spice_listener_ref (li));
  }
  g_mutex_unlock (&s->lock);
  return arr;
}

void
gst_spice_engine_listeners_done (GstSpiceEngine * s, GPtrArray * arr)
{
  guint i;

  g_mutex_lock (&s->lock);
  for (i = 0; i < arr->len; i++)
    ((Listener *) arr->pdata[i])->busy--;
  g_cond_broadcast (&s->cond);
  g_mutex_unlock (&s->lock);
  for (i = 0; i < arr->len; i++)
    gst_spice_listener_unref (arr->pdata[i]);
  g_ptr_array_free (arr, TRUE);
}

void
gst_spice_engine_notify_state (GstSpiceEngine * s, ListenerKind kind,
    gint channel_id, GstSpiceSessionState state, const GError * error,
    const gchar * debug)
{
  FOREACH_LISTENER (s, kind, channel_id, li, {
        GstSpiceStateFunc func = gst_spice_listener_state_func (li);
        if (func)
      func (li->user_data, state, error, debug);}
  );
}

static gboolean
display_wanted (GstSpiceEngine * s, gint id)
{
  gboolean wanted = FALSE;
  GList *l;

  g_mutex_lock (&s->lock);
  for (l = s->listeners; l; l = l->next) {
    Listener *li = l->data;
    if (!li->removed && li->kind == LISTENER_DISPLAY && li->channel_id == id)
      wanted = TRUE;
  }
  g_mutex_unlock (&s->lock);
  return wanted;
}

/* Channels we asked to connect and that have not said how it went.  A
 * session disconnected while one of them is still linking makes its
 * coroutine send the link message with no session (a critical in
 * spice-client-glib 0.42), so closing waits a little for them. */
static void
linking_done (GstSpiceEngine * s, SpiceChannel * ch)
{
  if (g_object_get_data (G_OBJECT (ch), "gst-spice-linking")) {
    g_object_set_data (G_OBJECT (ch), "gst-spice-linking", NULL);
    s->channels_linking--;
  }
}

static void
on_linking_event (SpiceChannel * ch, SpiceChannelEvent ev, gpointer user_data)
{
  linking_done (user_data, ch);
}

static void
channel_start (GstSpiceEngine * s, SpiceChannel * ch)
{
  if (g_object_get_data (G_OBJECT (ch), "gst-spice-connected"))
    return;
  g_object_set_data (G_OBJECT (ch), "gst-spice-connected", GINT_TO_POINTER (1));
  g_object_set_data (G_OBJECT (ch), "gst-spice-linking", GINT_TO_POINTER (1));
  s->channels_linking++;
  g_signal_connect (ch, "channel-event", G_CALLBACK (on_linking_event), s);
  spice_channel_connect (ch);
}

static void
build_error (GstSpiceEngine * s, SpiceChannel * ch, SpiceChannelEvent ev,
    GError ** error, gchar ** debug)
{
  const GError *cerr = spice_channel_get_error (ch);
  const gchar *detail = cerr ? cerr->message : NULL;
  gint code = GST_RESOURCE_ERROR_OPEN_READ;
  gint type = 0;
  gchar *msg;

  switch (ev) {
    case SPICE_CHANNEL_ERROR_AUTH:
      code = GST_RESOURCE_ERROR_NOT_AUTHORIZED;
      msg = g_strdup_printf ("Authentication with SPICE server %s failed: "
          "wrong or missing password", s->address);
      break;
    case SPICE_CHANNEL_ERROR_TLS:
      msg = g_strdup_printf ("TLS connection to SPICE server %s failed "
          "(check ca-file and cert-subject)", s->address);
      break;
    case SPICE_CHANNEL_ERROR_LINK:
      msg = g_strdup_printf ("SPICE server %s refused the link", s->address);
      break;
    case SPICE_CHANNEL_ERROR_CONNECT:
      msg = g_strdup_printf ("Could not connect to SPICE server %s",
          s->address);
      break;
    case SPICE_CHANNEL_ERROR_IO:
    case SPICE_CHANNEL_CLOSED:
    default:
      code = GST_RESOURCE_ERROR_READ;
      msg = g_strdup_printf ("Connection to SPICE server %s lost", s->address);
      break;
  }
  *error = g_error_new_literal (GST_RESOURCE_ERROR, code, msg);
  g_object_get (ch, "channel-type", &type, NULL);
  *debug = g_strdup_printf ("%s channel: %s", spice_channel_type_to_string
      (type), detail ? detail :
      ev == SPICE_CHANNEL_CLOSED ? "closed by the server" : "no detail");
  g_free (msg);
}

static gboolean
closing_now (GstSpiceEngine * s)
{
  gboolean closing;

  g_mutex_lock (&s->lock);
  closing = s->closing;
  g_mutex_unlock (&s->lock);
  return closing;
}

static gboolean
reconnect_on (GstSpiceEngine * s)
{
  gboolean on;

  g_mutex_lock (&s->lock);
  on = s->reconnect;
  g_mutex_unlock (&s->lock);
  return on;
}

/* Whether the server still accepts connections (1 s at most): a server
 * that closed our connection but is still there most likely took another
 * client (libspice-server drops every client when a new one links). */
static gboolean
server_still_there (GstSpiceEngine * s)
{
  GSocketClient *client = g_socket_client_new ();
  GSocketConnectable *addr = NULL;
  GSocketConnection *conn;
  GstSpiceUri p;

  if (!gst_spice_uri_parse (s->params.uri, &p, NULL)) {
    g_object_unref (client);
    return FALSE;
  }
  if (p.transport == GST_SPICE_TRANSPORT_UNIX) {
    g_socket_client_set_family (client, G_SOCKET_FAMILY_UNIX);
    addr = G_SOCKET_CONNECTABLE (g_unix_socket_address_new (p.path));
  } else {
    addr = g_network_address_new (p.host, p.port);
  }
  gst_spice_uri_clear (&p);
  g_socket_client_set_timeout (client, 1);
  conn = g_socket_client_connect (client, addr, NULL, NULL);
  if (conn) {
    g_io_stream_close (G_IO_STREAM (conn), NULL, NULL);
    g_object_unref (conn);
  }
  g_object_unref (addr);
  g_object_unref (client);
  return conn != NULL;
}

/* The connection that was up closed: when the server still runs, say why
 * that probably happened.  TRUE: another client took it. */
static gboolean
explain_closed (GstSpiceEngine * s, GError * error, gchar ** debug)
{
  gchar *msg, *dbg;

  if (!server_still_there (s))
    return FALSE;
  msg = g_strdup_printf ("%s: the server closed it but still accepts "
      "connections; a SPICE server serves one client at a time, so another "
      "client (remote-viewer, another pipeline or process) probably "
      "connected to it", error->message);
  g_free (error->message);
  error->message = msg;
  dbg = g_strdup_printf ("%s; the server still accepts connections", *debug);
  g_free (*debug);
  *debug = dbg;
  return TRUE;
}

/* Another client took the server (reconnect on): TRUE when that has
 * happened TAKEOVER_MAX times in a row, each soon after we got back in,
 * and @error now says so. */
static gboolean
taken_back_and_forth (GstSpiceEngine * s, GError * error)
{
  gchar *msg;

  if (g_get_monotonic_time () - s->opened_us < TAKEOVER_WINDOW_US)
    s->takeovers++;
  else
    s->takeovers = 1;
  GST_INFO ("%s: taken over by another client (%u in a row)", s->address,
      s->takeovers);
  if (s->takeovers < TAKEOVER_MAX)
    return FALSE;
  msg = g_strdup_printf ("%s; it took the server %u times, each within %u s "
      "of our reconnecting: it reconnects too, and two such clients take the "
      "server from each other for ever, so this one stops (give each its own "
      "SPICE server, or reconnect=false to one)", error->message,
      s->takeovers, (guint) (TAKEOVER_WINDOW_US / G_USEC_PER_SEC));
  g_free (error->message);
  error->message = msg;
  return TRUE;
}

static void
session_fail (GstSpiceEngine * s, GError * error, gchar * debug)
{
  GST_WARNING ("%s: %s (%s)", s->address, error->message, debug);
  g_mutex_lock (&s->lock);
  s->phase = SESSION_FAILED;
  if (!s->error) {
    s->error = g_error_copy (error);
    s->error_debug = g_strdup (debug);
  }
  g_mutex_unlock (&s->lock);
  gst_spice_engine_notify_state (s, LISTENER_ANY, -1, GST_SPICE_SESSION_FAILED,
      error, debug);
  g_error_free (error);
  g_free (debug);
  if (s->spice)
    spice_session_disconnect (s->spice);
}

static gboolean
reconnect_timeout (gpointer data)
{
  GstSpiceEngine *s = data;

  g_clear_pointer (&s->reconnect_source, g_source_unref);
  if (closing_now (s))
    return G_SOURCE_REMOVE;
  GST_INFO ("%s: reconnecting", s->address);
  session_connect (s);
  return G_SOURCE_REMOVE;
}

/* After a lost connection (reconnect on): a fresh SpiceSession for every
 * attempt avoids the stale channel pointers an old one keeps. */
static void
schedule_reconnect (GstSpiceEngine * s)
{
  if (s->reconnect_source)
    return;
  s->backoff_ms = s->backoff_ms ? MIN (s->backoff_ms * 2, BACKOFF_MAX_MS) :
      BACKOFF_MIN_MS;
  GST_INFO ("%s: next connection attempt in %u ms", s->address, s->backoff_ms);
  s->reconnect_source = g_timeout_source_new (s->backoff_ms);
  g_source_set_callback (s->reconnect_source, reconnect_timeout, s, NULL);
  g_source_attach (s->reconnect_source, NULL);
}

/* The connection that was up is gone: @error and @debug are taken */
static void
session_lost (GstSpiceEngine * s, GError * error, gchar * debug)
{
  gboolean reconnect, closing;

  g_mutex_lock (&s->lock);
  reconnect = s->reconnect;
  closing = s->closing;
  g_mutex_unlock (&s->lock);

  if (closing) {
    g_error_free (error);
    g_free (debug);
    return;
  }
  if (!reconnect) {
    session_fail (s, error, debug);
    return;
  }
  if (!s->lost) {
    s->lost = TRUE;
    g_mutex_lock (&s->lock);
    s->phase = SESSION_LOST;
    g_mutex_unlock (&s->lock);
    GST_WARNING ("%s: %s (%s); reconnecting", s->address, error->message,
        debug);
    gst_spice_engine_notify_state (s, LISTENER_ANY, -1, GST_SPICE_SESSION_LOST,
        error, debug);
  }
  g_error_free (error);
  g_free (debug);
  /* the rest happens once the old SpiceSession says "disconnected" */
  spice_session_disconnect (s->spice);
}

/* The link watch found the connection dead (see gstspicelinkwatch.h) */
static void
on_link_dead (gpointer data, const gchar * why)
{
  GstSpiceEngine *s = data;
  GError *error;
  gchar *debug;

  if (s->lost) {
    /* a reconnection attempt that got no answer (a link still dead
     * accepts connections and says nothing): the next attempt follows */
    GST_INFO ("%s: reconnection attempt: %s; trying again", s->address, why);
    spice_session_disconnect (s->spice);
    return;
  }
  error = g_error_new (GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_READ,
      "Connection to SPICE server %s lost: %s (link-timeout)", s->address, why);
  debug = g_strdup (s->unix_path ? "link-timeout: no data on any channel "
      "while the server's process did not run" : "link-timeout: no data on "
      "any channel (libspice-server pings every TCP client at least every "
      "15 s)");
  session_lost (s, error, debug);
}

/* From the first connection on, every SpiceSession is watched while
 * link-timeout is set: the connection, and each reconnection attempt. */
static void
link_watch_start (GstSpiceEngine * s)
{
  guint timeout;

  g_mutex_lock (&s->lock);
  timeout = s->link_timeout;
  g_mutex_unlock (&s->lock);
  if (s->link_watch || !s->spice || timeout == 0)
    return;
  s->link_watch = gst_spice_link_watch_new (s->spice, s->unix_path, timeout,
      on_link_dead, s);
}

static gboolean
link_watch_update_idle (gpointer data)
{
  GstSpiceEngine *s = data;
  guint timeout;

  g_mutex_lock (&s->lock);
  timeout = s->link_timeout;
  g_mutex_unlock (&s->lock);
  if (s->link_watch)
    gst_spice_link_watch_set_timeout (s->link_watch, timeout);
  else if (s->was_connected)
    link_watch_start (s);
  return G_SOURCE_REMOVE;
}

static void
on_main_event (SpiceChannel * ch, SpiceChannelEvent ev, gpointer user_data)
{
  GstSpiceEngine *s = user_data;

  GST_DEBUG ("%s main channel event %d", s->address, ev);
  switch (ev) {
    case SPICE_CHANNEL_OPENED:{
      gboolean was_lost = s->lost;

      gst_spice_engine_main_opened (s, ch);
      s->lost = FALSE;
      s->was_connected = TRUE;
      s->backoff_ms = 0;
      s->opened_us = g_get_monotonic_time ();
      link_watch_start (s);
      g_mutex_lock (&s->lock);
      s->phase = SESSION_CONNECTED;
      g_mutex_unlock (&s->lock);
      gst_spice_engine_notify_state (s, LISTENER_ANY, -1,
          was_lost ? GST_SPICE_SESSION_RECONNECTED :
          GST_SPICE_SESSION_CONNECTED, NULL, NULL);
      break;
    }
    case SPICE_CHANNEL_CLOSED:
    case SPICE_CHANNEL_ERROR_IO:
      if (s->was_connected) {
        GError *error;
        gchar *debug;

        build_error (s, ch, ev, &error, &debug);
        if (!s->lost && !closing_now (s)) {
          if (!explain_closed (s, error, &debug)) {
            s->takeovers = 0;
          } else if (reconnect_on (s) && taken_back_and_forth (s, error)) {
            session_fail (s, error, debug);
            break;
          }
        }
        session_lost (s, error, debug);
        break;
      }
      /* never got in: a connection error */
      G_GNUC_FALLTHROUGH;
    case SPICE_CHANNEL_ERROR_CONNECT:
    case SPICE_CHANNEL_ERROR_TLS:
    case SPICE_CHANNEL_ERROR_LINK:
    case SPICE_CHANNEL_ERROR_AUTH:{
      GError *error;
      gchar *debug;

      if (s->lost && ev != SPICE_CHANNEL_ERROR_AUTH
          && ev != SPICE_CHANNEL_ERROR_TLS) {
        /* still down: keep trying */
        GST_DEBUG ("%s: reconnection attempt failed", s->address);
        spice_session_disconnect (s->spice);
        break;
      }
      build_error (s, ch, ev, &error, &debug);
      session_fail (s, error, debug);
      break;
    }
    default:
      break;
  }
}

static void
on_display_event (SpiceChannel * ch, SpiceChannelEvent ev, gpointer user_data)
{
  GstSpiceEngine *s = user_data;
  gint id;

  id = gst_spice_engine_channel_id (ch);
  GST_DEBUG ("%s display:%d event %d", s->address, id, ev);
  /* Losing the whole connection is reported by the main channel; a display
   * channel refused on its own (a GL server over TCP) is fatal for its
   * listeners only. */
  if (ev == SPICE_CHANNEL_ERROR_LINK || ev == SPICE_CHANNEL_ERROR_TLS ||
      ev == SPICE_CHANNEL_ERROR_AUTH || ev == SPICE_CHANNEL_ERROR_CONNECT) {
    GError *error;
    gchar *debug;

    if (s->lost)
      return;
    build_error (s, ch, ev, &error, &debug);
    gst_spice_engine_notify_state (s, LISTENER_DISPLAY, id,
        GST_SPICE_SESSION_FAILED, error, debug);
    g_error_free (error);
    g_free (debug);
  }
}

static void
on_channel_new (SpiceSession * spice, SpiceChannel * ch, gpointer user_data)
{
  GstSpiceEngine *s = user_data;
  gint type, id;

  g_object_get (ch, "channel-type", &type, "channel-id", &id, NULL);
  GST_DEBUG ("%s channel-new %s:%d", s->address,
      spice_channel_type_to_string (type), id);
  gst_spice_engine_hook_channel (s, ch);

  if (SPICE_IS_MAIN_CHANNEL (ch)) {
    s->main = ch;
    g_signal_connect (ch, "channel-event", G_CALLBACK (on_main_event), s);
  } else if (SPICE_IS_DISPLAY_CHANNEL (ch)) {
    g_signal_connect (ch, "channel-event", G_CALLBACK (on_display_event), s);
    if (display_wanted (s, id))
      channel_start (s, ch);
  } else if (SPICE_IS_CURSOR_CHANNEL (ch) || SPICE_IS_PORT_CHANNEL (ch) ||
      SPICE_IS_INPUTS_CHANNEL (ch) || SPICE_IS_PLAYBACK_CHANNEL (ch) ||
      SPICE_IS_RECORD_CHANNEL (ch)) {
    /* A port's name is only known once linked: every port is connected.
     * Both audio channels are connected as soon as they exist, used or
     * not: spice-client-glib creates its own audio backend (playing to the
     * host's speakers, recording the host's microphone) when a guest agent
     * announces volume sync, and that backend takes every audio channel
     * still unconnected. */
    channel_start (s, ch);
  }
}

static void
on_channel_destroy (SpiceSession * spice, SpiceChannel * ch, gpointer user_data)
{
  GstSpiceEngine *s = user_data;

  linking_done (s, ch);
  g_signal_handlers_disconnect_by_data (ch, s);
  if (ch == s->main)
    s->main = NULL;
  gst_spice_engine_unhook_channel (s, ch);
}

static gboolean
drop_spice_session (gpointer data)
{
  SpiceSession *spice = data;

  g_object_unref (spice);
  return G_SOURCE_REMOVE;
}

static void
on_disconnected (SpiceSession * spice, gpointer user_data)
{
  GstSpiceEngine *s = user_data;
  gboolean closing, retry;

  GST_DEBUG ("%s disconnected", s->address);
  g_clear_pointer (&s->link_watch, gst_spice_link_watch_free);
  g_signal_handlers_disconnect_by_data (spice, s);
  s->spice = NULL;
  s->main = NULL;
  s->channels_linking = 0;
  gst_spice_engine_channels_reset (s);
  /* not from inside its own signal emission */
  gst_spice_engine_invoke (s, G_PRIORITY_DEFAULT, drop_spice_session, spice,
      NULL);

  g_mutex_lock (&s->lock);
  closing = s->closing;
  retry = !closing && s->reconnect && s->phase == SESSION_LOST;
  if (closing)
    mark_closed_locked (s);
  g_mutex_unlock (&s->lock);
  if (retry)
    schedule_reconnect (s);
}

static void
session_connect (GstSpiceEngine * s)
{
  GstSpiceUri p;
  SpiceSession *spice;
  gboolean audio;

  if (!gst_spice_uri_parse (s->params.uri, &p, NULL))
    g_assert_not_reached ();    /* checked in acquire */

  g_mutex_lock (&s->lock);
  audio = (s->features & GST_SPICE_SESSION_FEATURE_AUDIO) != 0;
  s->connecting = TRUE;
  s->connect_features = s->features;
  g_mutex_unlock (&s->lock);
  spice = spice_session_new ();
  g_object_set (spice, "enable-usbredir", FALSE, "enable-smartcard", FALSE,
      "enable-audio", audio, NULL);
  switch (p.transport) {
    case GST_SPICE_TRANSPORT_UNIX:
      g_object_set (spice, "unix-path", p.path, NULL);
      break;
    case GST_SPICE_TRANSPORT_TLS:{
      gchar *port = g_strdup_printf ("%d", p.port);
      g_object_set (spice, "host", p.host, "tls-port", port, NULL);
      g_free (port);
      break;
    }
    case GST_SPICE_TRANSPORT_TCP:{
      gchar *port = g_strdup_printf ("%d", p.port);
      g_object_set (spice, "host", p.host, "port", port, NULL);
      g_free (port);
      /* both ports given: a channel the server wants secured moves there
       * (spice-client-glib, on SPICE_LINK_ERR_NEED_SECURED) */
      if (p.tls_port > 0) {
        port = g_strdup_printf ("%d", p.tls_port);
        g_object_set (spice, "tls-port", port, NULL);
        g_free (port);
      }
      break;
    }
  }
  if (s->params.password)
    g_object_set (spice, "password", s->params.password, NULL);
  if (s->params.ca_file)
    g_object_set (spice, "ca-file", s->params.ca_file, NULL);
  if (s->params.cert_subject)
    g_object_set (spice, "cert-subject", s->params.cert_subject,
        "verify", SPICE_SESSION_VERIFY_SUBJECT, NULL);
  gst_spice_uri_clear (&p);

  g_signal_connect (spice, "channel-new", G_CALLBACK (on_channel_new), s);
  g_signal_connect (spice, "channel-destroy", G_CALLBACK (on_channel_destroy),
      s);
  g_signal_connect (spice, "disconnected", G_CALLBACK (on_disconnected), s);
  s->spice = spice;
  if (s->was_connected)
    link_watch_start (s);
  if (!spice_session_connect (spice)) {
    GError *error = g_error_new (GST_RESOURCE_ERROR,
        GST_RESOURCE_ERROR_OPEN_READ,
        "Could not connect to SPICE server %s", s->address);
    session_fail (s, error, g_strdup ("spice_session_connect() failed"));
  }
}

static gboolean
connect_idle (gpointer data)
{
  GstSpiceEngine *s = data;

  if (!closing_now (s))
    session_connect (s);
  return G_SOURCE_REMOVE;
}

/* Delivers what a late listener missed, then lets events through. */
static gboolean
attach_idle (gpointer data)
{
  Listener *li = data;
  GstSpiceEngine *s = li->owner;
  SpiceChannel *display;
  GstSpiceStateFunc state;
  SessionPhase phase;
  GError *error = NULL;
  gchar *debug = NULL;
  gboolean removed;

  g_mutex_lock (&s->lock);
  removed = li->removed;
  phase = s->phase;
  if (s->error) {
    error = g_error_copy (s->error);
    debug = g_strdup (s->error_debug);
  }
  if (!removed) {
    li->attached = TRUE;
    li->busy++;
  }
  g_mutex_unlock (&s->lock);
  if (removed)
    goto done;

  state = gst_spice_listener_state_func (li);
  if (phase == SESSION_FAILED && state)
    state (li->user_data, GST_SPICE_SESSION_FAILED, error, debug);
  else if (phase == SESSION_CONNECTED && state)
    state (li->user_data, GST_SPICE_SESSION_CONNECTED, NULL, NULL);

  display = li->kind == LISTENER_DISPLAY ?
      g_hash_table_lookup (s->displays, GINT_TO_POINTER (li->channel_id)) :
      NULL;
  if (display)
    channel_start (s, display);
  gst_spice_engine_replay (s, li, display);

  g_mutex_lock (&s->lock);
  li->busy--;
  g_cond_broadcast (&s->cond);
  g_mutex_unlock (&s->lock);
done:
  g_clear_error (&error);
  g_free (debug);
  return G_SOURCE_REMOVE;
}

/* ---------------------------------------------------------------------- */
/* Public API                                                             */

const gchar *
gst_spice_engine_get_address (GstSpiceEngine * s)
{
  return s->address;
}

/**
 * gst_spice_engine_add_wishes:
 *
 * What another user of the connection asks for: reconnection, a shorter
 * link-timeout, channels (from the next connection on when it is made
 * already).
 */
void
gst_spice_engine_add_wishes (GstSpiceEngine * s, gboolean reconnect,
    guint link_timeout, GstSpiceSessionFeatures features)
{
  gboolean shorter;

  g_mutex_lock (&s->lock);
  s->reconnect |= reconnect;
  shorter = link_timeout > 0 && (s->link_timeout == 0 ||
      link_timeout < s->link_timeout);
  if (shorter)
    s->link_timeout = link_timeout;
  if (s->connecting && (features & ~s->connect_features) != 0)
    GST_WARNING ("%s: the connection was made without %s; it is used from "
        "the next reconnection on", s->address, "audio");
  s->features |= features;
  g_mutex_unlock (&s->lock);
  if (shorter)
    gst_spice_engine_invoke (s, G_PRIORITY_DEFAULT, link_watch_update_idle, s,
        NULL);
}

/**
 * gst_spice_engine_acquire:
 * @params: checked with gst_spice_engine_params_parse() before
 * @reconnect: whether this user wants a lost connection re-established
 * @link_timeout: ms of silence after which the link counts as dead (see
 *   gstspicelinkwatch.h), 0 for never; the shortest of all users applies
 * @features: the channels this user needs besides the display
 *
 * Returns the session for @params, creating and connecting it (in the
 * spice thread) when it is the first user.  Never blocks on the network.
 */
GstSpiceEngine *
gst_spice_engine_acquire (const GstSpiceSessionParams * params,
    gboolean reconnect, guint link_timeout, GstSpiceSessionFeatures features)
{
  GstSpiceEngine *s;
  GstSpiceUri p;
  gchar *key;

  debug_init ();
  if (!gst_spice_uri_parse (params->uri, &p, NULL))
    return NULL;
  key = gst_spice_uri_make_key (params, &p);

  g_mutex_lock (&registry_lock);
  if (!registry)
    registry = g_hash_table_new (g_str_hash, g_str_equal);
  s = g_hash_table_lookup (registry, key);
  if (s) {
    s->refcount++;
    g_mutex_unlock (&registry_lock);
    gst_spice_engine_add_wishes (s, reconnect, link_timeout, features);
    g_free (key);
    gst_spice_uri_clear (&p);
    GST_DEBUG ("sharing session %s", s->address);
    return s;
  }

  s = g_new0 (GstSpiceEngine, 1);
  s->refcount = 1;
  s->serial = ++next_serial;
  s->key = key;
  s->params.uri = g_strdup (params->uri);
  s->params.password = g_strdup (params->password);
  s->params.ca_file = g_strdup (params->ca_file);
  s->params.cert_subject = g_strdup (params->cert_subject);
  s->address = gst_spice_uri_describe (&p);
  if (p.transport == GST_SPICE_TRANSPORT_UNIX)
    s->unix_path = g_strdup (p.path);
  s->reconnect = reconnect;
  s->link_timeout = link_timeout;
  s->features = features;
  s->next_listener_id = 1;
  g_mutex_init (&s->lock);
  g_cond_init (&s->cond);
  s->displays = g_hash_table_new (NULL, NULL);
  s->cursors = g_hash_table_new_full (NULL, NULL, NULL,
      (GDestroyNotify) gst_spice_engine_cursor_state_free);
  s->ports = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_hash_table_insert (registry, s->key, s);
  spice_thread_ref_locked ();
  g_mutex_unlock (&registry_lock);
  gst_spice_uri_clear (&p);

  GST_INFO ("new session %s", s->address);
  gst_spice_engine_invoke (s, G_PRIORITY_DEFAULT, connect_idle, s, NULL);
  return s;
}

static gboolean
close_idle (gpointer data)
{
  GstSpiceEngine *s = data;

  /* spice-client-glib starts a channel's connection from a g_idle_add()
   * (G_PRIORITY_DEFAULT_IDLE) in spice_channel_connect().  Disconnecting
   * before that idle ran removes it and loses the channel reference the
   * coroutine would have dropped: the channel is never finalized and
   * "disconnected" never comes (seen when a pipeline goes to NULL right
   * after PAUSED).  One more trip at a lower priority lets such an idle run
   * first. */
  if (s->spice && !s->close_deferred) {
    s->close_deferred = TRUE;
    gst_spice_engine_invoke (s, G_PRIORITY_LOW, close_idle, s, NULL);
    return G_SOURCE_REMOVE;
  }
  /* channels still linking: a little longer (see linking_done) */
  if (s->spice && s->channels_linking > 0) {
    gint64 now = g_get_monotonic_time ();

    if (s->close_wait_until == 0)
      s->close_wait_until = now + CLOSE_LINK_WAIT_US;
    if (now < s->close_wait_until) {
      GSource *src = g_timeout_source_new (10);

      g_source_set_callback (src, close_idle, s, NULL);
      g_source_attach (src, NULL);
      g_source_unref (src);
      return G_SOURCE_REMOVE;
    }
    GST_DEBUG ("%s: closing with %u channels still linking", s->address,
        s->channels_linking);
  }
  if (s->reconnect_source) {
    g_source_destroy (s->reconnect_source);
    g_clear_pointer (&s->reconnect_source, g_source_unref);
  }
  if (s->spice) {
    spice_session_disconnect (s->spice);
  } else {
    g_mutex_lock (&s->lock);
    mark_closed_locked (s);
    g_mutex_unlock (&s->lock);
  }
  return G_SOURCE_REMOVE;
}

static void session_free (GstSpiceEngine * s);

/* A detached close ended (closed or given up): its releaser may return. */
static void
detached_close_ended (guint serial)
{
  g_mutex_lock (&registry_lock);
  g_hash_table_remove (closing_serials, GUINT_TO_POINTER (serial));
  g_cond_broadcast (&closing_cond);
  g_mutex_unlock (&registry_lock);
}

static gboolean
finish_idle (gpointer data)
{
  GstSpiceEngine *s = data;
  gboolean detached;

  /* the last idle that touches the session (see gst_spice_engine_release) */
  g_mutex_lock (&s->lock);
  s->finished = TRUE;
  detached = s->detached;
  g_cond_broadcast (&s->cond);
  g_mutex_unlock (&s->lock);
  if (detached) {
    guint serial = s->serial;

    GST_INFO ("session %s closed", s->address);
    if (s->close_timeout) {
      g_source_destroy (s->close_timeout);
      g_source_unref (s->close_timeout);
    }
    session_free (s);
    spice_thread_unref ();
    detached_close_ended (serial);
  }
  return G_SOURCE_REMOVE;
}

/* A detached close that spice-client-glib never finished: leak the session
 * rather than free memory its callbacks may still reach, but let the spice
 * thread go. */
static gboolean
close_timeout_cb (gpointer data)
{
  GstSpiceEngine *s = data;

  GST_WARNING ("session %s did not close within %d s; leaking it",
      s->address, (gint) (CLOSE_TIMEOUT_US / G_USEC_PER_SEC));
  g_clear_pointer (&s->close_timeout, g_source_unref);
  g_mutex_lock (&s->lock);
  /* finish_idle, should it still come, must not free it */
  s->detached = FALSE;
  g_mutex_unlock (&s->lock);
  spice_thread_unref ();
  detached_close_ended (s->serial);
  return G_SOURCE_REMOVE;
}

static gboolean
detached_close_idle (gpointer data)
{
  GstSpiceEngine *s = data;

  s->close_timeout = g_timeout_source_new (CLOSE_TIMEOUT_US / 1000);
  g_source_set_callback (s->close_timeout, close_timeout_cb, s, NULL);
  g_source_attach (s->close_timeout, NULL);
  return close_idle (s);
}

static void
session_free (GstSpiceEngine * s)
{
  g_hash_table_unref (s->displays);
  g_hash_table_unref (s->cursors);
  g_hash_table_unref (s->ports);
  g_queue_clear_full (&s->pending_inputs, g_free);
  gst_spice_link_watch_free (s->link_watch);
  g_free (s->unix_path);
  gst_spice_session_params_clear (&s->params);
  g_clear_error (&s->error);
  g_free (s->error_debug);
  g_free (s->address);
  g_free (s->key);
  g_mutex_clear (&s->lock);
  g_cond_clear (&s->cond);
  g_free (s);
}

/**
 * gst_spice_engine_release:
 *
 * Drops a reference.  The last one disconnects from the server.  Called
 * from a thread that dispatches the default context, it waits (at most
 * 5 s, dispatching) for spice-client-glib to finish, then stops the spice
 * thread if no session is left.  From any other thread it returns at once
 * and the session closes in the spice thread, which frees it and stops
 * itself when it was the last: that thread dispatches everything on the
 * default context, the application's sources too (gst-launch-1.0's bus
 * watch, which takes the pipeline's state lock while the caller, changing
 * state, holds it), so waiting for it here could wait forever.
 */
void
gst_spice_engine_release (GstSpiceEngine * s)
{
  gint64 deadline;
  gboolean ok, detached;

  g_mutex_lock (&registry_lock);
  if (--s->refcount > 0) {
    g_mutex_unlock (&registry_lock);
    return;
  }
  g_hash_table_remove (registry, s->key);
  g_mutex_unlock (&registry_lock);

  GST_INFO ("closing session %s", s->address);
  deadline = g_get_monotonic_time () + CLOSE_TIMEOUT_US;
  detached = !g_main_context_is_owner (g_main_context_default ());
  g_mutex_lock (&s->lock);
  s->closing = TRUE;
  s->detached = detached;
  g_mutex_unlock (&s->lock);
  if (detached) {
    guint serial = s->serial;
    gint64 until = g_get_monotonic_time () + DETACHED_WAIT_US;
    /* s may be freed by the spice thread as soon as the close is queued */
    gchar *address = g_strdup (s->address);

    g_mutex_lock (&registry_lock);
    if (!closing_serials)
      closing_serials = g_hash_table_new (NULL, NULL);
    g_hash_table_add (closing_serials, GUINT_TO_POINTER (serial));
    g_mutex_unlock (&registry_lock);
    gst_spice_engine_invoke (s, G_PRIORITY_LOW, detached_close_idle, s, NULL);
    /* Usually the close takes milliseconds: waiting for it keeps an
     * application that exits right after from tearing libraries down
     * under the spice thread.  Not longer: the spice thread may be stuck
     * in the application's own callback, waiting for a lock we hold. */
    g_mutex_lock (&registry_lock);
    while (g_hash_table_contains (closing_serials, GUINT_TO_POINTER (serial)))
      if (!g_cond_wait_until (&closing_cond, &registry_lock, until)) {
        GST_INFO ("session %s still closing; not waiting for it", address);
        break;
      }
    g_mutex_unlock (&registry_lock);
    g_free (address);
    return;
  }

  gst_spice_engine_invoke (s, G_PRIORITY_LOW, close_idle, s, NULL);
  g_mutex_lock (&s->lock);
  ok = wait_flag_locked (s, &s->closed, deadline);
  g_mutex_unlock (&s->lock);
  if (ok) {
    /* G_PRIORITY_LOW: after close_idle's own deferred run and after
     * drop_spice_session, which both still use the session */
    gst_spice_engine_invoke (s, G_PRIORITY_LOW, finish_idle, s, NULL);
    g_mutex_lock (&s->lock);
    ok = wait_flag_locked (s, &s->finished, deadline);
    g_mutex_unlock (&s->lock);
  }
  if (!ok) {
    /* spice-client-glib never finished: leak rather than free memory its
     * callbacks may still reach */
    GST_WARNING ("session %s did not close within %d s; leaking it",
        s->address, (gint) (CLOSE_TIMEOUT_US / G_USEC_PER_SEC));
    spice_thread_unref ();
    return;
  }
  session_free (s);
  spice_thread_unref ();
}

/**
 * gst_spice_engine_add_display_listener:
 * @channel_id: the display channel (head) to follow
 * @notify: called on @user_data once no callback can run any more
 *
 * Returns: an id for gst_spice_engine_remove_listener().  Callbacks start
 * in the spice thread, first with what the session already has (state,
 * primary surface and a full invalidate, cursor).
 */
static guint
add_listener (GstSpiceEngine * s, Listener * li)
{
  guint id;

  li->owner = s;
  g_mutex_lock (&s->lock);
  id = gst_spice_listener_add (&s->listeners, &s->next_listener_id, li);
  g_mutex_unlock (&s->lock);

  gst_spice_engine_invoke (s, G_PRIORITY_DEFAULT, attach_idle,
      gst_spice_listener_ref (li), (GDestroyNotify) gst_spice_listener_unref);
  return id;
}

guint
gst_spice_engine_add_display_listener (GstSpiceEngine * s,
    gint channel_id, const GstSpiceEngineDisplayCallbacks * callbacks,
    gpointer user_data, GDestroyNotify notify)
{
  return add_listener (s, gst_spice_listener_new (LISTENER_DISPLAY,
          channel_id, NULL, callbacks, sizeof (*callbacks), user_data, notify));
}

/**
 * gst_spice_engine_add_playback_listener:
 *
 * The guest's sound.  The session must have been acquired with
 * GST_SPICE_SESSION_FEATURE_AUDIO.  Like display listeners, callbacks start
 * in the spice thread with what the session already has.
 */
guint
gst_spice_engine_add_playback_listener (GstSpiceEngine * s,
    const GstSpicePlaybackCallbacks * callbacks, gpointer user_data,
    GDestroyNotify notify)
{
  return add_listener (s, gst_spice_listener_new (LISTENER_PLAYBACK, -1,
          NULL, callbacks, sizeof (*callbacks), user_data, notify));
}

guint
gst_spice_engine_add_record_listener (GstSpiceEngine * s,
    const GstSpiceRecordCallbacks * callbacks, gpointer user_data,
    GDestroyNotify notify)
{
  return add_listener (s, gst_spice_listener_new (LISTENER_RECORD, -1,
          NULL, callbacks, sizeof (*callbacks), user_data, notify));
}

/**
 * gst_spice_engine_add_port_listener:
 *
 * The SPICE port named @port_name: whether the guest has it open, and what
 * the guest writes.  Callbacks start in the spice thread with what the
 * session already knows.
 */
guint
gst_spice_engine_add_port_listener (GstSpiceEngine * s,
    const gchar * port_name, const GstSpicePortCallbacks * callbacks,
    gpointer user_data, GDestroyNotify notify)
{
  return add_listener (s, gst_spice_listener_new (LISTENER_PORT, -1,
          port_name, callbacks, sizeof (*callbacks), user_data, notify));
}

/**
 * gst_spice_engine_remove_listener:
 *
 * After it returns no callback of the listener runs any more (unless the
 * caller is itself inside one, in the thread that dispatches them).
 */
void
gst_spice_engine_remove_listener (GstSpiceEngine * s, guint id)
{
  Listener *li;
  gint64 deadline = g_get_monotonic_time () + LISTENER_WAIT_US;

  g_mutex_lock (&s->lock);
  li = gst_spice_listener_take (&s->listeners, id);
  if (li && !g_main_context_is_owner (g_main_context_default ()) &&
      !gst_spice_listener_wait_idle (li, &s->lock, &s->cond, deadline))
    GST_WARNING ("listener %u still busy after %d s", id,
        (gint) (LISTENER_WAIT_US / G_USEC_PER_SEC));
  g_mutex_unlock (&s->lock);
  if (li)
    gst_spice_listener_unref (li);
}
