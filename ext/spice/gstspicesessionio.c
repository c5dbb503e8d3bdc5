/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* memfd_create */
#endif
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gstspicesessionpriv.h"
#include "gstspicememfd.h"

#define GST_CAT_DEFAULT gst_spice_session_debug

/* What goes back to the helper besides subscriptions: port and
 * microphone writes (the shared-memory ring), input, GL draw answers, and
 * 2D frames in shared memory (copies, sync, settle). */

/* s->lock held: the ring space of @w is free again */
void
session_ring_release_locked (GstSpiceSession * s, Write * w)
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

void
session_write_finish (Write * w, const GError * error)
{
  if (w->port_done)
    w->port_done (w->user_data, error);
  if (w->record_done)
    w->record_done (w->user_data);
  if (w->notify)
    w->notify (w->user_data);
  g_free (w);
}

static GQuark
shm_reg_quark (void)
{
  static GQuark q;

  if (!q)
    q = g_quark_from_static_string ("gst-spice-shm-reg");
  return q;
}

/* ---------------------------------------------------------------------- */
/* Writes and input                                                       */

static gboolean
write_failed_idle (gpointer data)
{
  Write *w = data;
  GError *error = g_error_new (GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_WRITE,
      "no SPICE client helper to write through");

  session_write_finish (w, error);
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

    session_send_locked (s, GST_SPICE_IPC_RING_ADD, 0, &b, sizeof (b), NULL,
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
void
session_ring_flush_locked (GstSpiceSession * s)
{
  GBytes *tail;

  if (!s->ring_batch || s->ring_batch->len == 0)
    return;
  tail = g_bytes_new (s->ring_batch->data, s->ring_batch->len *
      sizeof (GstSpiceIpcRingWrite));
  session_send_locked (s, GST_SPICE_IPC_PORT_WRITE_RING, 0, s->ring_batch_port,
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
      session_ring_flush_locked (s);
    if (s->ring_batch->len == 0) {
      g_free (s->ring_batch_port);
      s->ring_batch_port = g_strdup (port_name);
    }
    g_array_append_val (s->ring_batch, e);
    if (s->ring_outstanding == 0)
      session_ring_flush_locked (s);
  } else {
    /* after the ring writes before it: the port's bytes stay in order */
    if (type == GST_SPICE_IPC_PORT_WRITE)
      session_ring_flush_locked (s);
    session_send_locked (s, type, req, port_name, port_name ? strlen (port_name) :
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

  session_send_simple (s, GST_SPICE_IPC_INPUT, 0, &body, sizeof (body));
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
  session_send_to_serial (reg->serial, reg->generation,
      GST_SPICE_IPC_SHM_REMOVE, reg->id);
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
  reg = gst_mini_object_get_qdata (GST_MINI_OBJECT (mem), shm_reg_quark ());
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
    session_send_locked (s, GST_SPICE_IPC_SHM_ADD, reg->id, &add, sizeof (add), NULL,
        &fd, 1);
    g_mutex_unlock (&s->lock);
    /* (the old registration's notify takes the registry lock) */
    gst_mini_object_set_qdata (GST_MINI_OBJECT (mem), shm_reg_quark (), reg,
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
  session_send_locked (s, GST_SPICE_IPC_COPY, 0, &b, sizeof (b), NULL, NULL, 0);
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

    session_send_locked (s, GST_SPICE_IPC_SYNC, 0, NULL, 0, NULL, NULL, 0);
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
  session_send_locked (s, GST_SPICE_IPC_SETTLE, token, NULL, 0, NULL, NULL, 0);
  g_mutex_unlock (&s->lock);
}

/* ---------------------------------------------------------------------- */
/* GL draws held by listeners                                             */

static void
gl_hold_free (gpointer data)
{
  g_free (data);
}

/* s->lock held: @h leaves the list; its timer frees it */
void
session_gl_hold_drop_locked (GstSpiceSession * s, GlHold * h, gboolean answer)
{
  s->holds = g_list_remove (s->holds, h);
  if (answer) {
    GstSpiceIpcGlDrawDoneBody b = { h->channel_id, 0, h->seq };
    session_send_locked (s, GST_SPICE_IPC_GL_DRAW_DONE, 0, &b, sizeof (b), NULL,
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
  session_gl_hold_drop_locked (s, h, TRUE);
  g_mutex_unlock (&s->lock);

  if (first)
    GST_WARNING ("%s display:%d: a GL draw was still held downstream after "
        "%u ms: acknowledged anyway so the guest can go on (the consumer "
        "may read a frame the guest is redrawing; logged once)", s->address,
        h->channel_id, h->hold_ms);
  li = session_listener_begin (s, h->listener);
  if (li) {
    if (li->cb.display.gl_draw_late)
      li->cb.display.gl_draw_late (li->user_data, h->seq);
    session_listener_end (s, li);
  }
  return G_SOURCE_REMOVE;
}

/* spice thread */
void
session_gl_hold_add (GstSpiceSession * s, Listener * li, guint64 seq, guint ms)
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
  session_attach (h->timer);
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
      session_gl_hold_drop_locked (s, h, TRUE);
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
