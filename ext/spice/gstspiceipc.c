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

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <gio/gio.h>

#include "gstspiceipc.h"

/* The wire side of gstspiceipc.h, shared by the plugin and the helper. */

struct _GstSpiceIpcPacket
{
  /* header and body, contiguous */
  guint8 head[sizeof (GstSpiceIpcHeader) + GST_SPICE_IPC_MAX_BODY];
  gsize head_size;
  GBytes *tail;                 /* inline tail, or NULL */
  gint fds[GST_SPICE_IPC_MAX_FDS];
  guint n_fds;
};

static gint
tail_memfd (GBytes * tail, GError ** error)
{
  gsize size;
  const guint8 *data = g_bytes_get_data (tail, &size);
  gint fd = memfd_create ("gst-spice-ipc", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  gsize done = 0;

  if (fd < 0)
    goto failed;
  while (done < size) {
    gssize n = write (fd, data + done, size - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      close (fd);
      goto failed;
    }
    done += n;
  }
  fcntl (fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE |
      F_SEAL_SEAL);
  return fd;

failed:
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno),
      "memfd for %" G_GSIZE_FORMAT " bytes: %s", size, g_strerror (errno));
  return -1;
}

GstSpiceIpcPacket *
gst_spice_ipc_packet_new (guint32 type, guint32 id, gconstpointer body,
    gsize body_size, GBytes * tail, const gint * fds, guint n_fds,
    GError ** error)
{
  GstSpiceIpcPacket *p;
  /* the body padded to 8 bytes: the tail (structs too) stays aligned */
  gsize padded = (body_size + 7) & ~(gsize) 7;
  GstSpiceIpcHeader h = { type, id, padded, 0,
    tail ? g_bytes_get_size (tail) : 0
  };
  guint i;

  g_return_val_if_fail (padded <= GST_SPICE_IPC_MAX_BODY, NULL);
  g_return_val_if_fail (n_fds < GST_SPICE_IPC_MAX_FDS, NULL);

  p = g_new0 (GstSpiceIpcPacket, 1);
  for (i = 0; i < n_fds; i++) {
    p->fds[i] = fcntl (fds[i], F_DUPFD_CLOEXEC, 3);
    if (p->fds[i] < 0) {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno),
          "dup of fd %d: %s", fds[i], g_strerror (errno));
      p->n_fds = i;
      gst_spice_ipc_packet_free (p);
      return NULL;
    }
  }
  p->n_fds = n_fds;
  if (h.tail_size > GST_SPICE_IPC_MAX_INLINE) {
    gint fd = tail_memfd (tail, error);

    if (fd < 0) {
      gst_spice_ipc_packet_free (p);
      return NULL;
    }
    p->fds[p->n_fds++] = fd;
    h.flags |= GST_SPICE_IPC_FLAG_TAIL_FD;
  } else if (h.tail_size > 0) {
    p->tail = g_bytes_ref (tail);
  }
  memcpy (p->head, &h, sizeof (h));
  if (body_size)
    memcpy (p->head + sizeof (h), body, body_size);
  memset (p->head + sizeof (h) + body_size, 0, padded - body_size);
  p->head_size = sizeof (h) + padded;
  return p;
}

gint
gst_spice_ipc_packet_send (GstSpiceIpcPacket * p, gint sock,
    gboolean nonblock)
{
  struct iovec iov[2];
  struct msghdr mh = { 0, };
  union
  {
    struct cmsghdr align;
    gchar buf[CMSG_SPACE (sizeof (gint) * GST_SPICE_IPC_MAX_FDS)];
  } cmsg;
  gssize n;

  iov[0].iov_base = p->head;
  iov[0].iov_len = p->head_size;
  mh.msg_iov = iov;
  mh.msg_iovlen = 1;
  if (p->tail) {
    gsize size;
    iov[1].iov_base = (gpointer) g_bytes_get_data (p->tail, &size);
    iov[1].iov_len = size;
    mh.msg_iovlen = 2;
  }
  if (p->n_fds > 0) {
    struct cmsghdr *c;

    memset (&cmsg, 0, sizeof (cmsg));
    mh.msg_control = cmsg.buf;
    mh.msg_controllen = CMSG_SPACE (sizeof (gint) * p->n_fds);
    c = CMSG_FIRSTHDR (&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN (sizeof (gint) * p->n_fds);
    memcpy (CMSG_DATA (c), p->fds, sizeof (gint) * p->n_fds);
  }
  do {
    n = sendmsg (sock, &mh, MSG_NOSIGNAL | (nonblock ? MSG_DONTWAIT : 0));
  } while (n < 0 && errno == EINTR);
  if (n < 0)
    return errno == EWOULDBLOCK ? EAGAIN : errno;
  return 0;
}

void
gst_spice_ipc_packet_free (GstSpiceIpcPacket * p)
{
  guint i;

  if (!p)
    return;
  for (i = 0; i < p->n_fds; i++)
    close (p->fds[i]);
  if (p->tail)
    g_bytes_unref (p->tail);
  g_free (p);
}

typedef struct
{
  gpointer map;
  gsize size;
} TailMap;

static void
tail_unmap (gpointer data)
{
  TailMap *m = data;

  munmap (m->map, m->size);
  g_free (m);
}

gint
gst_spice_ipc_recv (gint sock, GstSpiceIpcMsg * msg)
{
  struct iovec iov;
  struct msghdr mh = { 0, };
  union
  {
    struct cmsghdr align;
    gchar buf[CMSG_SPACE (sizeof (gint) * GST_SPICE_IPC_MAX_FDS)];
  } cmsg;
  struct cmsghdr *c;
  guint8 peek;
  gssize len, n;
  guint8 *data;
  guint i;

  memset (msg, 0, sizeof (*msg));
  for (i = 0; i < GST_SPICE_IPC_MAX_FDS; i++)
    msg->fds[i] = -1;

  /* the packet's real size first (MSG_TRUNC on a seqpacket socket) */
  do {
    len = recv (sock, &peek, 1, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
  } while (len < 0 && errno == EINTR);
  if (len < 0)
    return errno == EWOULDBLOCK ? EAGAIN : errno;
  if (len == 0)
    return ECONNRESET;

  data = g_malloc (MAX (len, (gssize) sizeof (GstSpiceIpcHeader)));
  iov.iov_base = data;
  iov.iov_len = len;
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = cmsg.buf;
  mh.msg_controllen = sizeof (cmsg.buf);
  do {
    n = recvmsg (sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    gint err = errno;
    g_free (data);
    return err == EWOULDBLOCK ? EAGAIN : err;
  }
  for (c = CMSG_FIRSTHDR (&mh); c; c = CMSG_NXTHDR (&mh, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      guint count = (c->cmsg_len - CMSG_LEN (0)) / sizeof (gint);
      gint *fds = (gint *) CMSG_DATA (c);

      for (i = 0; i < count; i++) {
        if (msg->n_fds < GST_SPICE_IPC_MAX_FDS)
          msg->fds[msg->n_fds++] = fds[i];
        else
          close (fds[i]);
      }
    }
  }
  msg->data = g_bytes_new_take (data, n);
  if (n < (gssize) sizeof (GstSpiceIpcHeader) || (mh.msg_flags & MSG_CTRUNC))
    return EPROTO;
  memcpy (&msg->header, data, sizeof (GstSpiceIpcHeader));
  if (msg->header.body_size > n - sizeof (GstSpiceIpcHeader))
    return EPROTO;
  msg->body = data + sizeof (GstSpiceIpcHeader);

  if (msg->header.flags & GST_SPICE_IPC_FLAG_TAIL_FD) {
    gint fd;
    TailMap *m;

    if (msg->n_fds == 0)
      return EPROTO;
    fd = msg->fds[--msg->n_fds];
    msg->fds[msg->n_fds] = -1;
    m = g_new0 (TailMap, 1);
    m->size = msg->header.tail_size;
    m->map = m->size ? mmap (NULL, m->size, PROT_READ, MAP_SHARED, fd, 0) :
        NULL;
    close (fd);
    if (m->map == MAP_FAILED) {
      g_free (m);
      return EPROTO;
    }
    msg->tail = g_bytes_new_with_free_func (m->map, m->size, tail_unmap, m);
  } else if (msg->header.tail_size > 0) {
    gsize off = sizeof (GstSpiceIpcHeader) + msg->header.body_size;

    if (msg->header.tail_size != (guint64) (n - off))
      return EPROTO;
    msg->tail = g_bytes_new_from_bytes (msg->data, off,
        msg->header.tail_size);
  }
  return 0;
}

void
gst_spice_ipc_msg_clear (GstSpiceIpcMsg * msg)
{
  guint i;

  for (i = 0; i < GST_SPICE_IPC_MAX_FDS; i++)
    if (msg->fds[i] >= 0)
      close (msg->fds[i]);
  g_clear_pointer (&msg->tail, g_bytes_unref);
  g_clear_pointer (&msg->data, g_bytes_unref);
  msg->n_fds = 0;
}

gconstpointer
gst_spice_ipc_msg_body (const GstSpiceIpcMsg * msg, gsize size)
{
  return msg->header.body_size >= size ? msg->body : NULL;
}

/* offset after the @n-th string of the tail, or -1 */
static gssize
skip_strings (const GstSpiceIpcMsg * msg, guint n, const gchar ** nth)
{
  gsize size, off = 0;
  const gchar *p;
  guint i;

  if (!msg->tail)
    return -1;
  p = g_bytes_get_data (msg->tail, &size);
  for (i = 0; i <= n; i++) {
    const gchar *end = memchr (p + off, '\0', size - off);

    if (!end)
      return -1;
    if (i == n && nth)
      *nth = p + off;
    off = end - p + 1;
  }
  return off;
}

const gchar *
gst_spice_ipc_msg_string (const GstSpiceIpcMsg * msg, guint n)
{
  const gchar *s = NULL;

  if (skip_strings (msg, n, &s) < 0 || !s || !*s)
    return NULL;
  return s;
}

GBytes *
gst_spice_ipc_msg_bytes_after (const GstSpiceIpcMsg * msg, guint n)
{
  gssize off = n > 0 ? skip_strings (msg, n - 1, NULL) : 0;

  if (off < 0 || !msg->tail)
    return g_bytes_new (NULL, 0);
  return g_bytes_new_from_bytes (msg->tail, off,
      g_bytes_get_size (msg->tail) - off);
}

GBytes *
gst_spice_ipc_strings (guint n, ...)
{
  GString *s = g_string_new (NULL);
  va_list args;
  guint i;

  va_start (args, n);
  for (i = 0; i < n; i++) {
    const gchar *str = va_arg (args, const gchar *);
    g_string_append (s, str ? str : "");
    g_string_append_c (s, '\0');
  }
  va_end (args);
  return g_string_free_to_bytes (s);
}

gboolean
gst_spice_ipc_socket_pair (gint fds[2], GError ** error)
{
  gint size = GST_SPICE_IPC_SOCKET_BUFFER;
  guint i;

  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) < 0) {
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno),
        "socketpair: %s", g_strerror (errno));
    return FALSE;
  }
  for (i = 0; i < 2; i++) {
    setsockopt (fds[i], SOL_SOCKET, SO_SNDBUF, &size, sizeof (size));
    setsockopt (fds[i], SOL_SOCKET, SO_RCVBUF, &size, sizeof (size));
  }
  return TRUE;
}
