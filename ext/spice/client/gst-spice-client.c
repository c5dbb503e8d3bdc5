/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */

/* gst-spice-client: the SPICE client of the gst-spice plugin, one process
 * per server connection.  Started by the plugin with its end of a
 * SOCK_SEQPACKET socket pair on fd 3 (gstspiceipc.h); not meant to be run
 * by hand.  It hosts spice-client-glib on its own default main context
 * (the engine, gstspiceengine.c), mirrors each of the plugin's listeners
 * as a listener of the engine and forwards what they hear; 2D damage is
 * copied here, once, from the primary surface into the plugin's
 * shared-memory frame buffers.  It exits when the plugin closes the socket
 * (the plugin's process died, or it released the session) and dies with
 * its parent (PR_SET_PDEATHSIG). */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* memfd_create, dladdr */
#endif
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib-unix.h>

#include "gstspiceengine.h"
#include "gstspiceipc.h"

GST_DEBUG_CATEGORY_STATIC (gst_spice_client_debug);
#define GST_CAT_DEFAULT gst_spice_client_debug

/* how long exiting may take once the plugin is gone (the engine gives
 * spice-client-glib 5 s to disconnect) */
#define EXIT_WATCHDOG_S 8

typedef struct _Helper Helper;

typedef struct
{
  Helper *helper;
  guint id;                     /* the plugin's listener id */
  GstSpiceIpcSubKind kind;
  gint channel_id;
  guint listener;               /* the engine's */
  guint delay_ms;               /* playback: the plugin's latest answer */
} Sub;

typedef struct
{
  guint8 *map;
  gsize size;
} Shm;

/* a display channel's primary surface, as the engine gave it */
typedef struct
{
  guint id;
  const guint8 *data;
  guint width, height, stride, bpp;
  GstVideoFormat format;
} Surface;

struct _Helper
{
  gint sock;
  GMainLoop *loop;
  GstSpiceEngine *engine;
  guint acquired;               /* references held on the engine */
  GHashTable *subs;             /* id -> Sub */
  GHashTable *shms;             /* id -> Shm */
  GHashTable *surfaces;         /* channel id -> Surface */
  guint next_surface;
  gboolean gone;                /* the plugin's end is closed */
  GSource *watch;               /* the socket */
  guint64 copies;               /* COPY messages handled */
  GArray *done;                 /* guint32: writes done, not told yet */
  guint8 *ring;                 /* the plugin's write ring, read-only */
  gsize ring_size;
  guint done_idle;
};

static Helper helper;

static void stop (void);

/* ---------------------------------------------------------------------- */
/* Sending (blocking: the plugin's spice thread always reads)             */

static void
send_packet (guint32 type, guint32 id, gconstpointer body, gsize body_size,
    GBytes * tail, const gint * fds, guint n_fds)
{
  GstSpiceIpcPacket *p;
  GError *error = NULL;
  gint err;

  if (helper.gone)
    return;
  p = gst_spice_ipc_packet_new (type, id, body, body_size, tail, fds, n_fds,
      &error);
  if (!p) {
    GST_ERROR ("cannot send message %u: %s", type, error->message);
    g_error_free (error);
    return;
  }
  err = gst_spice_ipc_packet_send (p, helper.sock, FALSE);
  gst_spice_ipc_packet_free (p);
  if (err != 0) {
    GST_INFO ("the plugin is gone (%s)", g_strerror (err));
    helper.gone = TRUE;
    stop ();
  }
}

static void
send_simple (guint32 type, guint32 id, gconstpointer body, gsize size)
{
  send_packet (type, id, body, size, NULL, NULL, 0);
}

static GBytes *
error_strings (const GError * error, const gchar * debug)
{
  return gst_spice_ipc_strings (3,
      error ? g_quark_to_string (error->domain) : NULL,
      error ? error->message : NULL, debug);
}

/* ---------------------------------------------------------------------- */
/* Engine listeners -> messages                                           */

static void
on_state (gpointer user_data, GstSpiceSessionState state,
    const GError * error, const gchar * debug)
{
  Sub *sub = user_data;
  GstSpiceIpcStateBody b = { state, error ? error->code : 0 };
  GBytes *tail = error_strings (error, debug);

  send_packet (GST_SPICE_IPC_STATE, sub->id, &b, sizeof (b), tail, NULL, 0);
  g_bytes_unref (tail);
}

static guint
bytes_per_pixel (GstVideoFormat format)
{
  switch (format) {
    case GST_VIDEO_FORMAT_RGB16:
    case GST_VIDEO_FORMAT_RGB15:
      return 2;
    default:
      return 4;
  }
}

static void
on_primary_create (gpointer user_data, GstVideoFormat format,
    gint spice_format, guint width, guint height, guint stride,
    const guint8 * data)
{
  Sub *sub = user_data;
  Surface *sf = g_hash_table_lookup (helper.surfaces,
      GINT_TO_POINTER (sub->channel_id));
  GstSpiceIpcPrimaryBody b;

  /* every listener of the channel hears of the same primary: one id */
  if (!sf || sf->data != data || sf->width != width || sf->height != height
      || sf->stride != stride || sf->format != format) {
    sf = g_new0 (Surface, 1);
    sf->id = ++helper.next_surface;
    sf->data = data;
    sf->width = width;
    sf->height = height;
    sf->stride = stride;
    sf->format = format;
    sf->bpp = bytes_per_pixel (format);
    g_hash_table_replace (helper.surfaces, GINT_TO_POINTER (sub->channel_id),
        sf);
  }
  b.format = format;
  b.spice_format = spice_format;
  b.width = width;
  b.height = height;
  b.stride = stride;
  b.surface = sf->id;
  send_simple (GST_SPICE_IPC_PRIMARY_CREATE, sub->id, &b, sizeof (b));
}

static void
on_primary_destroy (gpointer user_data)
{
  Sub *sub = user_data;

  g_hash_table_remove (helper.surfaces, GINT_TO_POINTER (sub->channel_id));
  send_simple (GST_SPICE_IPC_PRIMARY_DESTROY, sub->id, NULL, 0);
}

static void
on_invalidate (gpointer user_data, gint x, gint y, gint w, gint h)
{
  Sub *sub = user_data;
  GstSpiceIpcRectBody b = { x, y, w, h };

  send_simple (GST_SPICE_IPC_INVALIDATE, sub->id, &b, sizeof (b));
}

static void
on_cursor (gpointer user_data, const GstSpiceCursor * c)
{
  Sub *sub = user_data;
  GstSpiceIpcCursorBody b = { c->visible, c->x, c->y, c->width, c->height,
    c->hot_x, c->hot_y, c->rgba != NULL
  };

  send_packet (GST_SPICE_IPC_CURSOR, sub->id, &b, sizeof (b), c->rgba, NULL,
      0);
}

static void
on_gl_scanout (gpointer user_data, gint fd, guint width, guint height,
    guint stride, guint32 fourcc, gboolean y0top)
{
  Sub *sub = user_data;
  GstSpiceIpcScanoutBody b = { width, height, stride, fourcc, y0top };

  send_packet (GST_SPICE_IPC_GL_SCANOUT, sub->id, &b, sizeof (b), NULL, &fd,
      1);
}

static guint
on_gl_draw (gpointer user_data, guint x, guint y, guint w, guint h,
    guint64 seq)
{
  Sub *sub = user_data;
  GstSpiceIpcGlDrawBody b = { x, y, w, h, seq, sub->channel_id, 0 };

  send_simple (GST_SPICE_IPC_GL_DRAW, sub->id, &b, sizeof (b));
  /* the plugin answers with GL_DRAW_DONE (at its listener's deadline at
   * the latest) */
  return seq ? GST_SPICE_IPC_GL_HOLD_MS : 0;
}

static const GstSpiceEngineDisplayCallbacks display_callbacks = {
  on_primary_create,
  on_primary_destroy,
  on_invalidate,
  on_cursor,
  on_state,
  on_gl_scanout,
  on_gl_draw,
  NULL,
};

static void
on_playback_start (gpointer user_data, guint channels, guint rate)
{
  Sub *sub = user_data;
  GstSpiceIpcAudioFormatBody b = { channels, rate };

  send_simple (GST_SPICE_IPC_PLAYBACK_START, sub->id, &b, sizeof (b));
}

static void
on_playback_data (gpointer user_data, const guint8 * data, gsize size)
{
  Sub *sub = user_data;
  GBytes *tail = g_bytes_new_static (data, size);

  send_packet (GST_SPICE_IPC_PLAYBACK_DATA, sub->id, NULL, 0, tail, NULL, 0);
  g_bytes_unref (tail);
}

static void
on_playback_stop (gpointer user_data)
{
  Sub *sub = user_data;

  send_simple (GST_SPICE_IPC_PLAYBACK_STOP, sub->id, NULL, 0);
}

static guint
on_playback_delay (gpointer user_data)
{
  Sub *sub = user_data;

  return sub->delay_ms;
}

static const GstSpicePlaybackCallbacks playback_callbacks = {
  on_playback_start,
  on_playback_data,
  on_playback_stop,
  on_playback_delay,
  on_state,
};

static void
on_record_start (gpointer user_data, guint channels, guint rate)
{
  Sub *sub = user_data;
  GstSpiceIpcAudioFormatBody b = { channels, rate };

  send_simple (GST_SPICE_IPC_RECORD_START, sub->id, &b, sizeof (b));
}

static void
on_record_stop (gpointer user_data)
{
  Sub *sub = user_data;

  send_simple (GST_SPICE_IPC_RECORD_STOP, sub->id, NULL, 0);
}

static const GstSpiceRecordCallbacks record_callbacks = {
  on_record_start,
  on_record_stop,
  on_state,
};

static void
on_port_opened (gpointer user_data, gboolean opened)
{
  Sub *sub = user_data;
  GstSpiceIpcOpenedBody b = { opened };

  send_simple (GST_SPICE_IPC_PORT_OPENED, sub->id, &b, sizeof (b));
}

static void
on_port_data (gpointer user_data, const guint8 * data, gsize size)
{
  Sub *sub = user_data;
  GBytes *tail = g_bytes_new_static (data, size);

  send_packet (GST_SPICE_IPC_PORT_DATA, sub->id, NULL, 0, tail, NULL, 0);
  g_bytes_unref (tail);
}

static const GstSpicePortCallbacks port_callbacks = {
  on_port_opened,
  on_port_data,
  on_state,
};

/* ---------------------------------------------------------------------- */
/* Requests from the plugin                                               */

static void
subscribe (guint id, const GstSpiceIpcSubscribeBody * b, const gchar * port)
{
  Sub *sub = g_new0 (Sub, 1);

  sub->helper = &helper;
  sub->id = id;
  sub->kind = b->kind;
  sub->channel_id = b->channel_id;
  switch (b->kind) {
    case GST_SPICE_IPC_SUB_DISPLAY:
      sub->listener = gst_spice_engine_add_display_listener (helper.engine,
          b->channel_id, &display_callbacks, sub, NULL);
      break;
    case GST_SPICE_IPC_SUB_PLAYBACK:
      sub->listener = gst_spice_engine_add_playback_listener (helper.engine,
          &playback_callbacks, sub, NULL);
      break;
    case GST_SPICE_IPC_SUB_RECORD:
      sub->listener = gst_spice_engine_add_record_listener (helper.engine,
          &record_callbacks, sub, NULL);
      break;
    case GST_SPICE_IPC_SUB_PORT:
      sub->listener = gst_spice_engine_add_port_listener (helper.engine,
          port ? port : "", &port_callbacks, sub, NULL);
      break;
    default:
      GST_WARNING ("unknown subscription kind %u", b->kind);
      g_free (sub);
      return;
  }
  g_hash_table_replace (helper.subs, GUINT_TO_POINTER (id), sub);
}

static void
sub_free (gpointer data)
{
  Sub *sub = data;

  /* called in the thread that dispatches the engine: no callback of it
   * runs now, and none will */
  gst_spice_engine_remove_listener (helper.engine, sub->listener);
  g_free (sub);
}

static void
shm_free (gpointer data)
{
  Shm *m = data;

  munmap (m->map, m->size);
  g_free (m);
}

static void
shm_add (guint id, const GstSpiceIpcShmAddBody * b, gint fd)
{
  Shm *m;
  gpointer map;

  map = mmap (NULL, b->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) {
    GST_WARNING ("cannot map frame buffer %u (%" G_GUINT64_FORMAT
        " bytes): %s", id, b->size, g_strerror (errno));
    return;
  }
  m = g_new0 (Shm, 1);
  m->map = map;
  m->size = b->size;
  g_hash_table_replace (helper.shms, GUINT_TO_POINTER (id), m);
}

/* The one copy of 2D damage: the primary surface into a frame buffer. */
static void
copy_rect (const GstSpiceIpcCopyBody * b)
{
  Surface *sf = g_hash_table_lookup (helper.surfaces,
      GINT_TO_POINTER (b->channel_id));
  Shm *m = g_hash_table_lookup (helper.shms, GUINT_TO_POINTER (b->shm));
  gint x, y, x2, y2, row;
  gsize len;

  /* a surface gone or replaced since: the plugin drops that frame */
  if (!sf || sf->id != b->surface || !m || b->stride <= 0)
    return;
  x = CLAMP (b->x, 0, (gint) sf->width);
  y = CLAMP (b->y, 0, (gint) sf->height);
  x2 = CLAMP (b->x + b->w, 0, (gint) sf->width);
  y2 = CLAMP (b->y + b->h, 0, (gint) sf->height);
  if (x2 <= x || y2 <= y)
    return;
  len = (gsize) (x2 - x) * sf->bpp;
  if (b->offset + (guint64) (y2 - 1) * b->stride + (gsize) x2 * sf->bpp >
      m->size) {
    GST_WARNING ("copy outside frame buffer %u: ignored", b->shm);
    return;
  }
  for (row = y; row < y2; row++) {
    gint src_row = b->flip ? (gint) sf->height - 1 - row : row;
    memcpy (m->map + b->offset + (gsize) row * b->stride + (gsize) x *
        sf->bpp, sf->data + (gsize) src_row * sf->stride +
        (gsize) x * sf->bpp, len);
  }
}

static gboolean
settle_idle (gpointer data)
{
  GstSpiceIpcCopiesBody b = { helper.copies };

  /* the copies asked for in the same batch as SETTLE, or before this idle
   * ran, are done too: one round trip less per frame for the plugin */
  send_simple (GST_SPICE_IPC_SETTLED, GPOINTER_TO_UINT (data), &b,
      sizeof (b));
  return G_SOURCE_REMOVE;
}

/* Successful writes are answered in batches (one WRITES_DONE for up to
 * DONE_BATCH of them, or whatever is done once this process is idle): one
 * wake-up of the plugin's spice thread per batch instead of per 64 KiB. */
#define DONE_BATCH 16

static void
flush_done (void)
{
  GBytes *tail;

  if (!helper.done || helper.done->len == 0)
    return;
  tail = g_bytes_new (helper.done->data, helper.done->len * sizeof (guint32));
  g_array_set_size (helper.done, 0);
  send_packet (GST_SPICE_IPC_WRITES_DONE, 0, NULL, 0, tail, NULL, 0);
  g_bytes_unref (tail);
}

static gboolean
flush_done_idle (gpointer data)
{
  helper.done_idle = 0;
  flush_done ();
  return G_SOURCE_REMOVE;
}

static void
write_done (guint req, const GError * error)
{
  GstSpiceIpcWriteDoneBody b;
  GBytes *tail;
  guint32 r = req;

  if (!error) {
    if (!helper.done)
      helper.done = g_array_new (FALSE, FALSE, sizeof (guint32));
    g_array_append_val (helper.done, r);
    if (helper.done->len >= DONE_BATCH)
      flush_done ();
    else if (!helper.done_idle)
      helper.done_idle = g_idle_add_full (G_PRIORITY_DEFAULT_IDLE,
          flush_done_idle, NULL, NULL);
    return;
  }
  /* in order: what succeeded before goes first */
  flush_done ();
  b.code = error->code;
  tail = error_strings (error, NULL);
  send_packet (GST_SPICE_IPC_WRITE_DONE, req, &b, sizeof (b), tail, NULL, 0);
  g_bytes_unref (tail);
}

static void
port_write_done (gpointer user_data, const GError * error)
{
  write_done (GPOINTER_TO_UINT (user_data), error);
}

static void
record_write_done (gpointer user_data)
{
  write_done (GPOINTER_TO_UINT (user_data), NULL);
}

static void
input (const GstSpiceIpcInputBody * b)
{
  switch (b->kind) {
    case GST_SPICE_IPC_INPUT_KEY:
      gst_spice_engine_send_key (helper.engine, b->a, b->b);
      break;
    case GST_SPICE_IPC_INPUT_POINTER:
      gst_spice_engine_send_pointer (helper.engine, b->channel_id, b->a, b->b);
      break;
    case GST_SPICE_IPC_INPUT_BUTTON:
      if (b->a >= 1 && b->a <= 7)
        gst_spice_engine_send_button (helper.engine, b->channel_id, b->a,
            b->b);
      break;
    default:
      break;
  }
}

static gboolean
hello (const GstSpiceIpcMsg * msg)
{
  const GstSpiceIpcHelloBody *b = GST_SPICE_IPC_BODY (msg,
      GstSpiceIpcHelloBody);
  GstSpiceIpcWelcomeBody w = { GST_SPICE_IPC_VERSION, getpid () };
  GstSpiceSessionParams params = { 0, };

  send_simple (GST_SPICE_IPC_WELCOME, 0, &w, sizeof (w));
  if (!b || b->version != GST_SPICE_IPC_VERSION) {
    g_printerr ("gst-spice-client: protocol version %u, expected %u\n",
        b ? b->version : 0, GST_SPICE_IPC_VERSION);
    return FALSE;
  }
  params.uri = g_strdup (gst_spice_ipc_msg_string (msg, 0));
  params.password = g_strdup (gst_spice_ipc_msg_string (msg, 1));
  params.ca_file = g_strdup (gst_spice_ipc_msg_string (msg, 2));
  params.cert_subject = g_strdup (gst_spice_ipc_msg_string (msg, 3));
  helper.engine = gst_spice_engine_acquire (&params, b->reconnect,
      b->link_timeout, b->features);
  gst_spice_session_params_clear (&params);
  if (!helper.engine) {
    g_printerr ("gst-spice-client: invalid connection parameters\n");
    return FALSE;
  }
  helper.acquired = 1;
  return TRUE;
}

/* FALSE: stop */
static gboolean
handle (GstSpiceIpcMsg * msg)
{
  guint32 id = msg->header.id;

  if (!helper.engine)
    return msg->header.type == GST_SPICE_IPC_HELLO && hello (msg);

  switch (msg->header.type) {
    case GST_SPICE_IPC_FEATURES:{
      const GstSpiceIpcFeaturesBody *b = GST_SPICE_IPC_BODY (msg,
          GstSpiceIpcFeaturesBody);

      if (!b)
        return FALSE;
      gst_spice_engine_add_wishes (helper.engine, b->reconnect,
          b->link_timeout, b->features);
      break;
    }
    case GST_SPICE_IPC_SUBSCRIBE:{
      const GstSpiceIpcSubscribeBody *b = GST_SPICE_IPC_BODY (msg,
          GstSpiceIpcSubscribeBody);

      if (!b)
        return FALSE;
      subscribe (id, b, gst_spice_ipc_msg_string (msg, 0));
      break;
    }
    case GST_SPICE_IPC_UNSUBSCRIBE:
      g_hash_table_remove (helper.subs, GUINT_TO_POINTER (id));
      break;
    case GST_SPICE_IPC_SHM_ADD:{
      const GstSpiceIpcShmAddBody *b = GST_SPICE_IPC_BODY (msg,
          GstSpiceIpcShmAddBody);

      if (!b || msg->n_fds < 1)
        return FALSE;
      shm_add (id, b, msg->fds[0]);
      break;
    }
    case GST_SPICE_IPC_SHM_REMOVE:
      g_hash_table_remove (helper.shms, GUINT_TO_POINTER (id));
      break;
    case GST_SPICE_IPC_COPY:{
      const GstSpiceIpcCopyBody *b = GST_SPICE_IPC_BODY (msg,
          GstSpiceIpcCopyBody);

      if (!b)
        return FALSE;
      copy_rect (b);
      helper.copies++;
      break;
    }
    case GST_SPICE_IPC_SYNC:{
      GstSpiceIpcCopiesBody b = { helper.copies };

      send_simple (GST_SPICE_IPC_SYNCED, id, &b, sizeof (b));
      break;
    }
    case GST_SPICE_IPC_SETTLE:
      g_idle_add_full (G_PRIORITY_DEFAULT_IDLE, settle_idle,
          GUINT_TO_POINTER (id), NULL);
      break;
    case GST_SPICE_IPC_GL_DRAW_DONE:{
      const GstSpiceIpcGlDrawDoneBody *b = GST_SPICE_IPC_BODY (msg,
          GstSpiceIpcGlDrawDoneBody);

      if (!b)
        return FALSE;
      gst_spice_engine_gl_draw_done (helper.engine, b->channel_id, b->seq);
      break;
    }
    case GST_SPICE_IPC_INPUT:{
      const GstSpiceIpcInputBody *b = GST_SPICE_IPC_BODY (msg,
          GstSpiceIpcInputBody);

      if (!b)
        return FALSE;
      input (b);
      break;
    }
    case GST_SPICE_IPC_PORT_WRITE:{
      GBytes *bytes = msg->tail ? g_bytes_ref (msg->tail) :
          g_bytes_new (NULL, 0);
      gchar *name = g_strndup ((const gchar *) msg->body,
          msg->header.body_size);

      gst_spice_engine_port_write (helper.engine, name, bytes,
          port_write_done, GUINT_TO_POINTER (id), NULL);
      g_free (name);
      g_bytes_unref (bytes);
      break;
    }
    case GST_SPICE_IPC_RING_ADD:{
      const GstSpiceIpcRingAddBody *b = GST_SPICE_IPC_BODY (msg,
          GstSpiceIpcRingAddBody);
      gpointer map;

      if (!b || msg->n_fds < 1)
        return FALSE;
      map = mmap (NULL, b->size, PROT_READ, MAP_SHARED, msg->fds[0], 0);
      if (map == MAP_FAILED) {
        GST_ERROR ("cannot map the write ring: %s", g_strerror (errno));
        return FALSE;
      }
      if (helper.ring)
        munmap (helper.ring, helper.ring_size);
      helper.ring = map;
      helper.ring_size = b->size;
      break;
    }
    case GST_SPICE_IPC_PORT_WRITE_RING:{
      gsize size = 0;
      const GstSpiceIpcRingWrite *w = msg->tail ?
          g_bytes_get_data (msg->tail, &size) : NULL;
      gchar *name = g_strndup ((const gchar *) msg->body,
          msg->header.body_size);
      guint i;

      for (i = 0; i < size / sizeof (*w); i++) {
        GBytes *bytes;

        if (!helper.ring || w[i].offset > helper.ring_size ||
            w[i].size > helper.ring_size - w[i].offset) {
          g_free (name);
          return FALSE;
        }
        /* by reference: the plugin leaves the bytes alone until answered */
        bytes = g_bytes_new_static (helper.ring + w[i].offset, w[i].size);
        gst_spice_engine_port_write (helper.engine, name, bytes,
            port_write_done, GUINT_TO_POINTER (w[i].req), NULL);
        g_bytes_unref (bytes);
      }
      g_free (name);
      break;
    }
    case GST_SPICE_IPC_RECORD_WRITE:{
      GBytes *bytes = msg->tail ? g_bytes_ref (msg->tail) :
          g_bytes_new (NULL, 0);

      gst_spice_engine_record_write (helper.engine, bytes, record_write_done,
          GUINT_TO_POINTER (id));
      g_bytes_unref (bytes);
      break;
    }
    case GST_SPICE_IPC_PLAYBACK_DELAY:{
      const GstSpiceIpcDelayBody *b = GST_SPICE_IPC_BODY (msg,
          GstSpiceIpcDelayBody);
      Sub *sub = g_hash_table_lookup (helper.subs, GUINT_TO_POINTER (id));

      if (!b)
        return FALSE;
      if (sub)
        sub->delay_ms = b->ms;
      break;
    }
    case GST_SPICE_IPC_CLOSE:
      return FALSE;
    default:
      GST_WARNING ("unknown message %u", msg->header.type);
      break;
  }
  return TRUE;
}

/* Disconnects and quits, from a dispatch of the default context: the
 * engine's release then waits for spice-client-glib itself (5 s at most),
 * dispatching. */
static gboolean
stop_idle (gpointer data)
{
  alarm (EXIT_WATCHDOG_S);
  if (helper.watch) {
    g_source_destroy (helper.watch);
    g_clear_pointer (&helper.watch, g_source_unref);
  }
  g_hash_table_remove_all (helper.subs);
  while (helper.engine && helper.acquired > 0) {
    helper.acquired--;
    gst_spice_engine_release (helper.engine);
  }
  g_main_loop_quit (helper.loop);
  return G_SOURCE_REMOVE;
}

static void
stop (void)
{
  static gboolean stopping = FALSE;

  if (stopping)
    return;
  stopping = TRUE;
  g_idle_add_full (G_PRIORITY_HIGH, stop_idle, NULL, NULL);
}

static gboolean
on_socket (gint fd, GIOCondition cond, gpointer data)
{
  /* a bounded batch per dispatch: SPICE's own sockets get their turn */
  guint i;

  for (i = 0; i < 64; i++) {
    GstSpiceIpcMsg msg;
    gint err = gst_spice_ipc_recv (fd, &msg);
    gboolean go_on;

    if (err == EAGAIN) {
      gst_spice_ipc_msg_clear (&msg);
      return G_SOURCE_CONTINUE;
    }
    if (err != 0) {
      if (err != ECONNRESET)
        GST_WARNING ("reading from the plugin: %s", g_strerror (err));
      gst_spice_ipc_msg_clear (&msg);
      helper.gone = TRUE;
      stop ();
      return G_SOURCE_REMOVE;
    }
    go_on = handle (&msg);
    gst_spice_ipc_msg_clear (&msg);
    if (!go_on) {
      stop ();
      return G_SOURCE_REMOVE;
    }
  }
  return G_SOURCE_CONTINUE;
}

int
main (int argc, char **argv)
{
  pid_t parent = argc > 2 && strcmp (argv[1], "--parent-pid") == 0 ?
      (pid_t) atoi (argv[2]) : 0;

  /* die with the plugin's process (also set by the plugin before exec;
   * it may have died before that took effect) */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
  if (parent > 0 && getppid () != parent)
    return 1;
  signal (SIGPIPE, SIG_IGN);

  /* GStreamer for its debug log and error domains only: no registry */
  g_setenv ("GST_REGISTRY_DISABLE", "yes", TRUE);
  gst_init (NULL, NULL);
  GST_DEBUG_CATEGORY_INIT (gst_spice_client_debug, "spiceclient", 0,
      "gst-spice-client, the SPICE client helper");

  helper.sock = GST_SPICE_IPC_HELPER_FD;
  if (fcntl (helper.sock, F_SETFD, FD_CLOEXEC) < 0) {
    g_printerr ("gst-spice-client: started without its socket on fd %d; it "
        "is run by the gst-spice plugin, not by hand\n",
        GST_SPICE_IPC_HELPER_FD);
    return 2;
  }
  helper.loop = g_main_loop_new (NULL, FALSE);
  helper.subs = g_hash_table_new_full (NULL, NULL, NULL, sub_free);
  helper.shms = g_hash_table_new_full (NULL, NULL, NULL, shm_free);
  helper.surfaces = g_hash_table_new_full (NULL, NULL, NULL, g_free);

  /* the default context: the one spice-client-glib runs on, dispatched by
   * this thread */
  helper.watch = g_unix_fd_source_new (helper.sock, G_IO_IN | G_IO_HUP |
      G_IO_ERR);
  g_source_set_callback (helper.watch, (GSourceFunc) (GCallback) on_socket,
      NULL, NULL);
  g_source_attach (helper.watch, NULL);
  g_main_loop_run (helper.loop);

  g_hash_table_unref (helper.subs);
  g_hash_table_unref (helper.shms);
  g_hash_table_unref (helper.surfaces);
  g_main_loop_unref (helper.loop);
  close (helper.sock);
  return 0;
}
