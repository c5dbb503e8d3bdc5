/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* accept4 */
#endif
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "spiceproxy.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct
{
  gint client;
  gint server;                  /* -1: waits for a resume */
} Pair;

struct _SpiceProxy
{
  guint target_port;
  guint port;
  gchar *uri;
  gint listen_fd;
  gint wake_fd;                 /* eventfd: the lock's fields changed */
  GThread *thread;

  GMutex lock;
  gboolean stalled;             /* lock */
  gboolean quit;                /* lock */
  guint accepted;               /* lock */

  GArray *pairs;                /* proxy thread only */
};

static gint
connect_target (guint port)
{
  struct sockaddr_in sa = { 0, };
  gint fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

  sa.sin_family = AF_INET;
  sa.sin_port = htons (port);
  sa.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (fd >= 0 && connect (fd, (struct sockaddr *) &sa, sizeof (sa)) == 0) {
    setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof (one));
    return fd;
  }
  if (fd >= 0)
    close (fd);
  return -1;
}

static void
pair_close (Pair * p)
{
  close (p->client);
  if (p->server >= 0)
    close (p->server);
  p->client = p->server = -1;
}

static gboolean
send_all (gint fd, const gchar * buf, gssize len)
{
  while (len > 0) {
    gssize n = send (fd, buf, len, MSG_NOSIGNAL);

    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return FALSE;
    buf += n;
    len -= n;
  }
  return TRUE;
}

/* FALSE: the pair is finished (EOF or error on either side) */
static gboolean
forward (gint from, gint to)
{
  gchar buf[65536];
  gssize n = recv (from, buf, sizeof (buf), 0);

  if (n < 0 && errno == EINTR)
    return TRUE;
  return n > 0 && send_all (to, buf, n);
}

static void
connect_waiting (SpiceProxy * px)
{
  guint i;

  for (i = 0; i < px->pairs->len; i++) {
    Pair *p = &g_array_index (px->pairs, Pair, i);

    if (p->client >= 0 && p->server < 0) {
      p->server = connect_target (px->target_port);
      if (p->server < 0)
        pair_close (p);
    }
  }
}

static void
drop_closed (SpiceProxy * px)
{
  guint i = 0;

  while (i < px->pairs->len) {
    if (g_array_index (px->pairs, Pair, i).client < 0)
      g_array_remove_index_fast (px->pairs, i);
    else
      i++;
  }
}

static gpointer
proxy_thread (gpointer data)
{
  SpiceProxy *px = data;
  GArray *pfds = g_array_new (FALSE, TRUE, sizeof (struct pollfd));
  gboolean stalled = FALSE;

  for (;;) {
    struct pollfd *fds;
    guint i, n;

    g_array_set_size (pfds, 2);
    fds = (struct pollfd *) pfds->data;
    fds[0].fd = px->wake_fd;
    fds[0].events = POLLIN;
    fds[1].fd = px->listen_fd;
    fds[1].events = POLLIN;
    /* stalled: the pairs' sockets are not even looked at */
    for (i = 0; !stalled && i < px->pairs->len; i++) {
      Pair *p = &g_array_index (px->pairs, Pair, i);
      struct pollfd a = { p->client, POLLIN, 0 }, b = { p->server, POLLIN, 0 };

      g_array_append_val (pfds, a);
      g_array_append_val (pfds, b);
    }
    fds = (struct pollfd *) pfds->data;
    n = pfds->len;
    if (poll (fds, n, -1) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }

    if (fds[0].revents) {
      guint64 v;
      gboolean quit;

      if (read (px->wake_fd, &v, sizeof (v)) < 0 && errno != EAGAIN)
        break;
      g_mutex_lock (&px->lock);
      quit = px->quit;
      stalled = px->stalled;
      g_mutex_unlock (&px->lock);
      if (quit)
        break;
      if (!stalled)
        connect_waiting (px);
      continue;
    }
    if (fds[1].revents) {
      Pair p = { accept4 (px->listen_fd, NULL, NULL, SOCK_CLOEXEC), -1 };

      if (p.client >= 0) {
        gint one = 1;

        setsockopt (p.client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof (one));
        g_mutex_lock (&px->lock);
        px->accepted++;
        g_mutex_unlock (&px->lock);
        g_array_append_val (px->pairs, p);
        if (!stalled)
          connect_waiting (px);
      }
      continue;
    }
    for (i = 2; i + 1 < n; i += 2) {
      Pair *p = &g_array_index (px->pairs, Pair, (i - 2) / 2);
      gboolean ok = TRUE;

      if (p->client < 0)
        continue;
      if (fds[i].revents)
        ok = p->server >= 0 && forward (p->client, p->server);
      if (ok && fds[i + 1].revents)
        ok = forward (p->server, p->client);
      if (!ok)
        pair_close (p);
    }
    drop_closed (px);
  }

  g_array_free (pfds, TRUE);
  return NULL;
}

static void
wake (SpiceProxy * px)
{
  guint64 one = 1;

  if (write (px->wake_fd, &one, sizeof (one)) < 0)
    g_warning ("spice proxy: could not wake its thread: %s",
        g_strerror (errno));
}

/**
 * spice_proxy_new:
 * @target_port: a TCP port on 127.0.0.1
 *
 * Returns: a proxy forwarding to @target_port, listening on a port of its
 * own (spice_proxy_get_port()).
 */
SpiceProxy *
spice_proxy_new (guint target_port)
{
  SpiceProxy *px = g_new0 (SpiceProxy, 1);
  struct sockaddr_in sa = { 0, };
  socklen_t len = sizeof (sa);

  px->target_port = target_port;
  px->listen_fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  g_assert (px->listen_fd >= 0);
  g_assert (bind (px->listen_fd, (struct sockaddr *) &sa, sizeof (sa)) == 0);
  g_assert (listen (px->listen_fd, 16) == 0);
  g_assert (getsockname (px->listen_fd, (struct sockaddr *) &sa, &len) == 0);
  px->port = ntohs (sa.sin_port);
  px->uri = g_strdup_printf ("spice://127.0.0.1:%u", px->port);
  px->wake_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  g_assert (px->wake_fd >= 0);
  g_mutex_init (&px->lock);
  px->pairs = g_array_new (FALSE, FALSE, sizeof (Pair));
  px->thread = g_thread_new ("spice-proxy", proxy_thread, px);
  return px;
}

guint
spice_proxy_get_port (SpiceProxy * px)
{
  return px->port;
}

const gchar *
spice_proxy_get_uri (SpiceProxy * px)
{
  return px->uri;
}

void
spice_proxy_set_stalled (SpiceProxy * px, gboolean stalled)
{
  g_mutex_lock (&px->lock);
  px->stalled = stalled;
  g_mutex_unlock (&px->lock);
  wake (px);
}

guint
spice_proxy_get_accepted (SpiceProxy * px)
{
  guint n;

  g_mutex_lock (&px->lock);
  n = px->accepted;
  g_mutex_unlock (&px->lock);
  return n;
}

/* Closes everything: the clients see the connections end. */
void
spice_proxy_free (SpiceProxy * px)
{
  guint i;

  g_mutex_lock (&px->lock);
  px->quit = TRUE;
  g_mutex_unlock (&px->lock);
  wake (px);
  g_thread_join (px->thread);
  for (i = 0; i < px->pairs->len; i++) {
    Pair *p = &g_array_index (px->pairs, Pair, i);

    if (p->client >= 0)
      pair_close (p);
  }
  g_array_free (px->pairs, TRUE);
  close (px->listen_fd);
  close (px->wake_fd);
  g_mutex_clear (&px->lock);
  g_free (px->uri);
  g_free (px);
}
