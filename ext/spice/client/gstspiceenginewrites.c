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

#define GST_CAT_DEFAULT gst_spice_engine_debug

/* What goes to the server: port writes, input events, record samples.
 * Callable from any thread; the work is marshalled into the thread that
 * dispatches the default context. */

typedef struct
{
  GstSpiceEngine *session;
  gchar *port_name;
  GBytes *bytes;
  GstSpicePortWriteDone done;
  gpointer user_data;
  GDestroyNotify notify;
} PortWrite;

static void
port_write_free (PortWrite * w)
{
  g_free (w->port_name);
  g_bytes_unref (w->bytes);
  if (w->notify)
    w->notify (w->user_data);
  g_free (w);
}

static void
port_write_finish (PortWrite * w, const GError * error)
{
  if (w->done)
    w->done (w->user_data, error);
  port_write_free (w);
}

static void port_writes_drain (GstSpiceEngine * s);

static void
port_write_cb (GObject * source, GAsyncResult * res, gpointer data)
{
  PortWrite *w = data;
  GstSpiceEngine *s = w->session;
  GError *err = NULL;

  if (spice_port_channel_write_finish (SPICE_PORT_CHANNEL (source), res,
          &err) < 0) {
    gboolean opened = FALSE;

    /* spice-client-glib fails writes once the guest closed the port, but
     * tells "port-opened" listeners from an idle, which may come after
     * this: the failure is marked for what it is */
    g_object_get (source, "port-opened", &opened, NULL);
    if (!opened) {
      g_clear_error (&err);
      err = g_error_new (G_IO_ERROR, G_IO_ERROR_CLOSED,
          "the guest closed port '%s'", w->port_name);
    } else if (!err) {
      err = g_error_new (GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_WRITE,
          "write to port '%s' failed", w->port_name);
    }
  }
  port_write_finish (w, err);
  g_clear_error (&err);
  g_mutex_lock (&s->lock);
  s->port_writes_active--;
  g_mutex_unlock (&s->lock);
  /* writes queued meanwhile go on from here, without waking anyone */
  port_writes_drain (s);
}

static void
port_write_start (PortWrite * w)
{
  GstSpiceEngine *s = w->session;
  SpiceChannel *ch = g_hash_table_lookup (s->ports, w->port_name);
  gsize size;
  gconstpointer bytes = g_bytes_get_data (w->bytes, &size);

  if (!ch) {
    GError *err = g_error_new (GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_WRITE,
        "SPICE server %s has no port '%s' (now)", s->address, w->port_name);
    port_write_finish (w, err);
    g_error_free (err);
    return;
  }
  /* the buffer is referenced, not copied, until the callback: w keeps
   * the GBytes */
  g_mutex_lock (&s->lock);
  s->port_writes_active++;
  g_mutex_unlock (&s->lock);
  spice_port_channel_write_async (SPICE_PORT_CHANNEL (ch), bytes, size, NULL,
      port_write_cb, w);
}

/* Starts every write queued so far (spice thread). */
static void
port_writes_drain (GstSpiceEngine * s)
{
  GQueue writes = G_QUEUE_INIT;
  PortWrite *w;

  g_mutex_lock (&s->lock);
  writes = s->port_writes;
  g_queue_init (&s->port_writes);
  g_mutex_unlock (&s->lock);
  while ((w = g_queue_pop_head (&writes)))
    port_write_start (w);
}

static gboolean
port_write_idle (gpointer data)
{
  GstSpiceEngine *s = data;

  g_mutex_lock (&s->lock);
  s->port_writes_pending = FALSE;
  g_mutex_unlock (&s->lock);
  port_writes_drain (s);
  return G_SOURCE_REMOVE;
}

/**
 * gst_spice_engine_port_write:
 * @done: called in the spice thread once @bytes are on the socket, or with
 *   the error (G_IO_ERROR_CLOSED: the guest had closed the port, which the
 *   port_opened callback may tell only later); then @notify (@user_data)
 *
 * Never blocks; the caller bounds what it has in flight.
 */
void
gst_spice_engine_port_write (GstSpiceEngine * s, const gchar * port_name,
    GBytes * bytes, GstSpicePortWriteDone done, gpointer user_data,
    GDestroyNotify notify)
{
  PortWrite *w = g_new0 (PortWrite, 1);
  gboolean schedule;

  w->session = s;
  w->port_name = g_strdup (port_name);
  w->bytes = g_bytes_ref (bytes);
  w->done = done;
  w->user_data = user_data;
  w->notify = notify;
  /* While writes are on their way, the next callback starts this one: the
   * spice thread is woken only when it has nothing in flight. */
  g_mutex_lock (&s->lock);
  g_queue_push_tail (&s->port_writes, w);
  schedule = !s->port_writes_pending && s->port_writes_active == 0;
  if (schedule)
    s->port_writes_pending = TRUE;
  g_mutex_unlock (&s->lock);
  if (schedule)
    gst_spice_engine_invoke (s, G_PRIORITY_DEFAULT, port_write_idle, s, NULL);
}

typedef enum
{
  INPUT_KEY,
  INPUT_POINTER,
  INPUT_BUTTON,
} InputKind;

typedef struct
{
  GstSpiceEngine *session;
  InputKind kind;
  gint channel_id;
  gint a, b;                    /* key: scancode, press; pointer: x, y;
                                 * button: button, press */
} Input;

/* input sent before the inputs channel opened waits for it, within
 * reason: a start-up's worth of key strokes */
#define MAX_PENDING_INPUTS 256

static void
apply_input (GstSpiceEngine * s, Input * in)
{
  SpiceInputsChannel *inputs = SPICE_INPUTS_CHANNEL (s->inputs);

  switch (in->kind) {
    case INPUT_KEY:
      if (in->b)
        spice_inputs_channel_key_press (inputs, in->a);
      else
        spice_inputs_channel_key_release (inputs, in->a);
      break;
    case INPUT_POINTER:
      if (s->mouse_mode == SPICE_MOUSE_MODE_CLIENT)
        spice_inputs_channel_position (inputs, in->a, in->b, in->channel_id,
            s->button_state);
      else if (s->have_pointer && (in->a != s->pointer_x ||
              in->b != s->pointer_y))
        spice_inputs_channel_motion (inputs, in->a - s->pointer_x,
            in->b - s->pointer_y, s->button_state);
      s->have_pointer = TRUE;
      s->pointer_x = in->a;
      s->pointer_y = in->b;
      break;
    case INPUT_BUTTON:{
      guint mask = 1u << (in->a - 1);
      /* the state before the event; the library adds the change */
      if (in->b) {
        spice_inputs_channel_button_press (inputs, in->a, s->button_state);
        s->button_state |= mask;
      } else {
        spice_inputs_channel_button_release (inputs, in->a, s->button_state);
        s->button_state &= ~mask;
      }
      break;
    }
  }
}

void
gst_spice_engine_flush_inputs (GstSpiceEngine * s)
{
  Input *in;

  while ((in = g_queue_pop_head (&s->pending_inputs))) {
    apply_input (s, in);
    g_free (in);
  }
}

static gboolean
input_idle (gpointer data)
{
  Input *in = data;
  GstSpiceEngine *s = in->session;

  if (s->inputs && s->inputs_open) {
    apply_input (s, in);
    g_free (in);
    return G_SOURCE_REMOVE;
  }
  g_queue_push_tail (&s->pending_inputs, in);
  if (g_queue_get_length (&s->pending_inputs) > MAX_PENDING_INPUTS) {
    GST_DEBUG ("%s: inputs channel not open, dropping old input", s->address);
    g_free (g_queue_pop_head (&s->pending_inputs));
  }
  return G_SOURCE_REMOVE;
}

static void
send_input (GstSpiceEngine * s, InputKind kind, gint channel_id, gint a, gint b)
{
  Input *in = g_new0 (Input, 1);

  in->session = s;
  in->kind = kind;
  in->channel_id = channel_id;
  in->a = a;
  in->b = b;
  /* input_idle takes it */
  gst_spice_engine_invoke (s, G_PRIORITY_DEFAULT, input_idle, in, NULL);
}

void
gst_spice_engine_send_key (GstSpiceEngine * s, guint scancode, gboolean press)
{
  send_input (s, INPUT_KEY, 0, scancode, press);
}

/* Client mouse mode: an absolute position; server mode: the motion from
 * the last position sent. */
void
gst_spice_engine_send_pointer (GstSpiceEngine * s, gint channel_id, gint x,
    gint y)
{
  send_input (s, INPUT_POINTER, channel_id, x, y);
}

void
gst_spice_engine_send_button (GstSpiceEngine * s, gint channel_id,
    gint button, gboolean press)
{
  g_return_if_fail (button >= 1 && button <= 7);
  send_input (s, INPUT_BUTTON, channel_id, button, press);
}

typedef struct
{
  GstSpiceEngine *session;
  GBytes *samples;
  GDestroyNotify done;
  gpointer done_data;
} RecordWrite;

static void
record_write_free (gpointer data)
{
  RecordWrite *w = data;

  g_bytes_unref (w->samples);
  if (w->done)
    w->done (w->done_data);
  g_free (w);
}

static gboolean
record_write_idle (gpointer data)
{
  RecordWrite *w = data;
  GstSpiceEngine *s = w->session;
  gsize size;
  gconstpointer bytes = g_bytes_get_data (w->samples, &size);

  /* spice_record_channel_send_data() queues the message without blocking;
   * time 0 as spice-gtk does (servers ignore it) */
  if (s->record && s->record_active && size > 0)
    spice_record_channel_send_data (SPICE_RECORD_CHANNEL (s->record),
        (gpointer) bytes, size, 0);
  return G_SOURCE_REMOVE;
}

/**
 * gst_spice_engine_record_write:
 * @samples: S16 interleaved, in the format of the last record_start
 * @done: (nullable): called with @done_data, in the spice thread, once the
 *   samples were handed to the record channel (or dropped: not recording)
 *
 * Never blocks; the caller bounds what it has in flight.
 */
void
gst_spice_engine_record_write (GstSpiceEngine * s, GBytes * samples,
    GDestroyNotify done, gpointer done_data)
{
  RecordWrite *w = g_new0 (RecordWrite, 1);

  w->session = s;
  w->samples = g_bytes_ref (samples);
  w->done = done;
  w->done_data = done_data;
  gst_spice_engine_invoke (s, G_PRIORITY_DEFAULT, record_write_idle, w,
      record_write_free);
}
