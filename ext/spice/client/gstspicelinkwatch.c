/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
/* struct ucred */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstspicelinkwatch.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gst/gst.h>

GST_DEBUG_CATEGORY_STATIC (gst_spice_link_watch_debug);
#define GST_CAT_DEFAULT gst_spice_link_watch_debug

/* How often the watch looks, at most and at least */
#define TICK_MAX_MS 1000
#define TICK_MIN_MS 50
/* A tick this many periods late means this process did not run (a loaded
 * host, a stopped helper): what was not read meanwhile is no evidence */
#define LATE_TICKS 3

typedef enum
{
  PEER_UNKNOWN,                 /* not found, not visible, not unix */
  PEER_RUNNING,
  PEER_STOPPED,                 /* T or t: SIGSTOP, a debugger */
  PEER_BLOCKED,                 /* D: uninterruptible sleep */
  PEER_DEAD,                    /* Z or X */
} PeerState;

struct _GstSpiceLinkWatch
{
  /* all fields: the thread dispatching the context the watch runs on */
  SpiceSession *spice;          /* not owned */
  gchar *unix_path;             /* NULL over TCP */
  guint timeout_ms;
  GstSpiceLinkWatchDead dead;
  gpointer user_data;
  GSource *tick;
  guint tick_ms;

  guint64 read_bytes;           /* sum over the session's channels */
  gint64 last_tick_us;
  gint64 last_read_us;          /* the sum last changed */
  gint64 last_alive_us;         /* unix: the peer process last ran */
  pid_t peer_pid;               /* unix: 0 until found */
  PeerState peer_state;
  gboolean fired;
};

static guint64
session_read_bytes (SpiceSession * spice)
{
  GList *channels = spice_session_get_channels (spice), *l;
  guint64 sum = 0;

  for (l = channels; l; l = l->next) {
    gulong n = 0;

    g_object_get (l->data, "total-read-bytes", &n, NULL);
    sum += n;
  }
  g_list_free (channels);
  return sum;
}

static gboolean
same_path (const gchar * a, const gchar * b)
{
  gchar *ra, *rb;
  gboolean same;

  if (g_strcmp0 (a, b) == 0)
    return TRUE;
  ra = realpath (a, NULL);
  rb = realpath (b, NULL);
  same = ra && rb && strcmp (ra, rb) == 0;
  free (ra);
  free (rb);
  return same;
}

/* The pid of the process listening at @path that one of our sockets is
 * connected to (spice-client-glib does not hand its sockets out, so they
 * are found among this process's fds); 0 when none is found or the peer
 * lives in a PID namespace we cannot see. */
static pid_t
find_peer_pid (const gchar * path)
{
  GDir *dir = g_dir_open ("/proc/self/fd", 0, NULL);
  const gchar *name;
  pid_t pid = 0;

  if (!dir)
    return 0;
  while (pid == 0 && (name = g_dir_read_name (dir))) {
    gint fd = atoi (name), domain = 0;
    socklen_t len = sizeof (domain);
    struct sockaddr_un sun = { 0, };
    socklen_t sun_len = sizeof (sun);
    struct ucred cred;
    socklen_t cred_len = sizeof (cred);
    struct stat st;

    if (fstat (fd, &st) < 0 || !S_ISSOCK (st.st_mode))
      continue;
    if (getsockopt (fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 ||
        domain != AF_UNIX)
      continue;
    if (getpeername (fd, (struct sockaddr *) &sun, &sun_len) < 0 ||
        sun_len <= offsetof (struct sockaddr_un, sun_path) ||
        sun.sun_path[0] == '\0')
      continue;
    sun.sun_path[sizeof (sun.sun_path) - 1] = '\0';
    if (!same_path (sun.sun_path, path))
      continue;
    if (getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) == 0)
      pid = cred.pid;
  }
  g_dir_close (dir);
  return pid;
}

static PeerState
peer_state (pid_t pid)
{
  gchar *path = g_strdup_printf ("/proc/%d/stat", (gint) pid);
  gchar *contents = NULL, *paren;
  PeerState state = PEER_UNKNOWN;

  if (g_file_get_contents (path, &contents, NULL, NULL) &&
      (paren = strrchr (contents, ')')) && paren[1] == ' ') {
    switch (paren[2]) {
      case 'T':
      case 't':
        state = PEER_STOPPED;
        break;
      case 'D':
        state = PEER_BLOCKED;
        break;
      case 'Z':
      case 'X':
        state = PEER_DEAD;
        break;
      default:
        state = PEER_RUNNING;
        break;
    }
  }
  g_free (contents);
  g_free (path);
  return state;
}

static gchar *
describe_death (GstSpiceLinkWatch * w)
{
  const gchar *what;

  if (!w->unix_path)
    return g_strdup_printf ("nothing received for %u ms", w->timeout_ms);
  switch (w->peer_state) {
    case PEER_STOPPED:
      what = "stopped";
      break;
    case PEER_BLOCKED:
      what = "blocked in uninterruptible sleep";
      break;
    default:
      what = "not running";
      break;
  }
  return g_strdup_printf ("nothing received for %u ms while the server "
      "process (pid %d) was %s", w->timeout_ms, (gint) w->peer_pid, what);
}

static gboolean
on_tick (gpointer data)
{
  GstSpiceLinkWatch *w = data;
  gint64 now = g_get_monotonic_time ();
  gint64 late_us = (gint64) w->tick_ms * LATE_TICKS * G_TIME_SPAN_MILLISECOND;
  gint64 timeout_us = (gint64) w->timeout_ms * G_TIME_SPAN_MILLISECOND;
  guint64 bytes;
  gchar *why;

  if (now - w->last_tick_us > late_us) {
    GST_DEBUG ("watch ran %" G_GINT64_FORMAT " ms late; starting over",
        (now - w->last_tick_us) / 1000);
    w->last_read_us = w->last_alive_us = now;
  }
  w->last_tick_us = now;

  bytes = session_read_bytes (w->spice);
  if (bytes != w->read_bytes) {
    w->read_bytes = bytes;
    w->last_read_us = now;
    return G_SOURCE_CONTINUE;
  }

  if (w->unix_path) {
    /* silence over a unix socket is only suspicious while the server
     * process does not run */
    if (w->peer_pid == 0)
      w->peer_pid = find_peer_pid (w->unix_path);
    w->peer_state = w->peer_pid ? peer_state (w->peer_pid) : PEER_UNKNOWN;
    if (w->peer_state == PEER_RUNNING || w->peer_state == PEER_UNKNOWN)
      w->last_alive_us = now;
    if (now - MAX (w->last_read_us, w->last_alive_us) < timeout_us)
      return G_SOURCE_CONTINUE;
  } else if (now - w->last_read_us < timeout_us) {
    return G_SOURCE_CONTINUE;
  }

  w->fired = TRUE;
  g_clear_pointer (&w->tick, g_source_unref);
  why = describe_death (w);
  GST_INFO ("link dead: %s", why);
  w->dead (w->user_data, why);
  g_free (why);
  return G_SOURCE_REMOVE;
}

static void
start_tick (GstSpiceLinkWatch * w)
{
  if (w->tick) {
    g_source_destroy (w->tick);
    g_source_unref (w->tick);
  }
  w->tick_ms = CLAMP (w->timeout_ms / 5, TICK_MIN_MS, TICK_MAX_MS);
  w->tick = g_timeout_source_new (w->tick_ms);
  g_source_set_callback (w->tick, on_tick, w, NULL);
  g_source_set_name (w->tick, "gst-spice link-timeout");
  g_source_attach (w->tick, g_main_context_get_thread_default ());
}

/**
 * gst_spice_link_watch_new:
 * @unix_path: the server's socket path for a unix-socket session, else NULL
 * @timeout_ms: more than 0
 *
 * Starts watching @spice, which must outlive the watch.
 */
GstSpiceLinkWatch *
gst_spice_link_watch_new (SpiceSession * spice, const gchar * unix_path,
    guint timeout_ms, GstSpiceLinkWatchDead dead, gpointer user_data)
{
  static gsize debug_once = 0;
  GstSpiceLinkWatch *w;
  gint64 now = g_get_monotonic_time ();

  g_return_val_if_fail (timeout_ms > 0, NULL);
  if (g_once_init_enter (&debug_once)) {
    GST_DEBUG_CATEGORY_INIT (gst_spice_link_watch_debug, "spicelinkwatch", 0,
        "SPICE link-timeout");
    g_once_init_leave (&debug_once, 1);
  }
  w = g_new0 (GstSpiceLinkWatch, 1);
  w->spice = spice;
  w->unix_path = g_strdup (unix_path);
  w->timeout_ms = timeout_ms;
  w->dead = dead;
  w->user_data = user_data;
  w->read_bytes = session_read_bytes (spice);
  w->last_tick_us = w->last_read_us = w->last_alive_us = now;
  start_tick (w);
  GST_DEBUG ("watching the link, timeout %u ms, every %u ms", timeout_ms,
      w->tick_ms);
  return w;
}

/* A new timeout (> 0) counts from the last data already seen. */
void
gst_spice_link_watch_set_timeout (GstSpiceLinkWatch * w, guint timeout_ms)
{
  g_return_if_fail (timeout_ms > 0);
  if (w->fired || timeout_ms == w->timeout_ms)
    return;
  w->timeout_ms = timeout_ms;
  start_tick (w);
}

void
gst_spice_link_watch_free (GstSpiceLinkWatch * w)
{
  if (!w)
    return;
  if (w->tick) {
    g_source_destroy (w->tick);
    g_source_unref (w->tick);
  }
  g_free (w->unix_path);
  g_free (w);
}
