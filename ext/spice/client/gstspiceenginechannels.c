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

/* What the channels of a session say, handed to the listeners: the
 * display (2D surface and damage, GL scanouts and draws), the cursor,
 * playback and record streams, ports, the inputs channel's state.  All in
 * the thread dispatching the default context. */

static GQuark channel_id_quark;
static GQuark gl_draw_quark;
static GQuark drawn_quark;      /* display channel: an invalidate came */

void
gst_spice_engine_channels_init (void)
{
  channel_id_quark = g_quark_from_static_string ("gst-spice-channel-id");
  gl_draw_quark = g_quark_from_static_string ("gst-spice-gl-draw");
  drawn_quark = g_quark_from_static_string ("gst-spice-drawn");
}

/* The channel id, remembered in channel-new: a property lookup per
 * invalidate would cost more than the lookup of the listener. */
gint
gst_spice_engine_channel_id (SpiceChannel * ch)
{
  return GPOINTER_TO_INT (g_object_get_qdata (G_OBJECT (ch), channel_id_quark));
}

static GstVideoFormat
surface_format_to_video (gint format)
{
  switch (format) {
    case SPICE_SURFACE_FMT_32_xRGB:
      return G_BYTE_ORDER == G_LITTLE_ENDIAN ? GST_VIDEO_FORMAT_BGRx :
          GST_VIDEO_FORMAT_xRGB;
    case SPICE_SURFACE_FMT_32_ARGB:
      return G_BYTE_ORDER == G_LITTLE_ENDIAN ? GST_VIDEO_FORMAT_BGRA :
          GST_VIDEO_FORMAT_ARGB;
    case SPICE_SURFACE_FMT_16_565:
      return GST_VIDEO_FORMAT_RGB16;
    case SPICE_SURFACE_FMT_16_555:
      return GST_VIDEO_FORMAT_RGB15;
    default:
      return GST_VIDEO_FORMAT_UNKNOWN;
  }
}

static void
on_primary_create (SpiceChannel * ch, gint format, gint width, gint height,
    gint stride, gint shmid, gpointer imgdata, gpointer user_data)
{
  GstSpiceEngine *s = user_data;
  gint id;

  id = gst_spice_engine_channel_id (ch);
  GST_DEBUG ("%s display:%d primary-create format %d %dx%d stride %d",
      s->address, id, format, width, height, stride);
  FOREACH_LISTENER (s, LISTENER_DISPLAY, id, li, {
        if (li->cb.engine_display.primary_create)
      li->cb.engine_display.primary_create (li->user_data,
            surface_format_to_video (format), format, width, height, stride,
            imgdata);}
  );
}

static void
on_primary_destroy (SpiceChannel * ch, gpointer user_data)
{
  GstSpiceEngine *s = user_data;
  gint id;

  id = gst_spice_engine_channel_id (ch);
  GST_DEBUG ("%s display:%d primary-destroy", s->address, id);
  FOREACH_LISTENER (s, LISTENER_DISPLAY, id, li, {
        if (li->cb.engine_display.primary_destroy)
      li->cb.engine_display.primary_destroy (li->user_data);}
  );
}

static void
on_invalidate (SpiceChannel * ch, gint x, gint y, gint w, gint h,
    gpointer user_data)
{
  GstSpiceEngine *s = user_data;
  gint id;

  id = gst_spice_engine_channel_id (ch);
  g_object_set_qdata (G_OBJECT (ch), drawn_quark, GINT_TO_POINTER (1));
  FOREACH_LISTENER (s, LISTENER_DISPLAY, id, li, {
        if (li->cb.engine_display.invalidate)
      li->cb.engine_display.invalidate (li->user_data, x, y, w, h);}
  );
}

void
gst_spice_engine_cursor_state_free (CursorState * c)
{
  if (c->rgba)
    g_bytes_unref (c->rgba);
  g_free (c);
}

static CursorState *
cursor_state_get (GstSpiceEngine * s, SpiceChannel * ch)
{
  gint id;
  CursorState *c;

  id = gst_spice_engine_channel_id (ch);
  c = g_hash_table_lookup (s->cursors, GINT_TO_POINTER (id));
  if (!c) {
    c = g_new0 (CursorState, 1);
    c->id = id;
    g_hash_table_insert (s->cursors, GINT_TO_POINTER (id), c);
  }
  return c;
}

static void
cursor_dispatch (GstSpiceEngine * s, CursorState * c)
{
  GstSpiceCursor cur = { 0, };

  /* spice-client-glib reports the position only through cursor-move (it
   * ignores the one in the server's INIT and SET) */
  cur.visible = c->visible && c->placed && c->rgba != NULL;
  cur.x = c->x;
  cur.y = c->y;
  cur.width = c->width;
  cur.height = c->height;
  cur.hot_x = c->hot_x;
  cur.hot_y = c->hot_y;
  cur.rgba = c->rgba;
  FOREACH_LISTENER (s, LISTENER_DISPLAY, c->id, li, {
        if (li->cb.engine_display.cursor)
      li->cb.engine_display.cursor (li->user_data, &cur);}
  );
}

static void
on_cursor_shape (GObject * obj, GParamSpec * pspec, gpointer user_data)
{
  GstSpiceEngine *s = user_data;
  CursorState *c = cursor_state_get (s, SPICE_CHANNEL (obj));
  SpiceCursorShape *shape = NULL;

  g_object_get (obj, "cursor", &shape, NULL);
  g_clear_pointer (&c->rgba, g_bytes_unref);
  if (shape && shape->data && shape->width > 0 && shape->height > 0) {
    c->width = shape->width;
    c->height = shape->height;
    c->hot_x = shape->hot_spot_x;
    c->hot_y = shape->hot_spot_y;
    c->rgba = g_bytes_new (shape->data, (gsize) shape->width *
        shape->height * 4);
    c->visible = TRUE;
    GST_LOG ("%s cursor shape %ux%u", s->address, c->width, c->height);
  }
  if (shape)
    g_boxed_free (SPICE_TYPE_CURSOR_SHAPE, shape);
  cursor_dispatch (s, c);
}

static void
on_cursor_move (SpiceCursorChannel * ch, gint x, gint y, gpointer user_data)
{
  GstSpiceEngine *s = user_data;
  CursorState *c = cursor_state_get (s, SPICE_CHANNEL (ch));

  GST_LOG ("%s cursor at %d,%d", s->address, x, y);
  c->x = x;
  c->y = y;
  c->placed = TRUE;
  c->visible = TRUE;
  cursor_dispatch (s, c);
}

static void
on_cursor_hide (SpiceCursorChannel * ch, gpointer user_data)
{
  GstSpiceEngine *s = user_data;
  CursorState *c = cursor_state_get (s, SPICE_CHANNEL (ch));

  c->visible = FALSE;
  cursor_dispatch (s, c);
}

static void
on_cursor_reset (SpiceCursorChannel * ch, gpointer user_data)
{
  GstSpiceEngine *s = user_data;
  CursorState *c = cursor_state_get (s, SPICE_CHANNEL (ch));

  g_clear_pointer (&c->rgba, g_bytes_unref);
  c->visible = FALSE;
  cursor_dispatch (s, c);
}

static void
on_playback_start (SpicePlaybackChannel * ch, gint format, gint channels,
    gint rate, gpointer user_data)
{
  GstSpiceEngine *s = user_data;

  GST_INFO ("%s playback-start format %d, %d channels, %d Hz", s->address,
      format, channels, rate);
  if (format != SPICE_AUDIO_FMT_S16 || channels < 1 || channels > 8 ||
      rate <= 0) {
    GST_WARNING ("%s: playback format %d, %d channels, %d Hz not supported; "
        "ignoring the guest's sound", s->address, format, channels, rate);
    return;
  }
  s->playback_active = TRUE;
  s->playback_channels = channels;
  s->playback_rate = rate;
  FOREACH_LISTENER (s, LISTENER_PLAYBACK, -1, li, {
        if (li->cb.playback.playback_start)
      li->cb.playback.playback_start (li->user_data, channels, rate);}
  );
}

static void
on_playback_data (SpicePlaybackChannel * ch, gpointer data, gint size,
    gpointer user_data)
{
  GstSpiceEngine *s = user_data;

  if (!s->playback_active || size <= 0)
    return;
  FOREACH_LISTENER (s, LISTENER_PLAYBACK, -1, li, {
        if (li->cb.playback.playback_data)
      li->cb.playback.playback_data (li->user_data, data, size);}
  );
}

static void
playback_stopped (GstSpiceEngine * s)
{
  if (!s->playback_active)
    return;
  GST_INFO ("%s playback-stop", s->address);
  s->playback_active = FALSE;
  FOREACH_LISTENER (s, LISTENER_PLAYBACK, -1, li, {
        if (li->cb.playback.playback_stop)
      li->cb.playback.playback_stop (li->user_data);}
  );
}

static void
on_playback_stop (SpicePlaybackChannel * ch, gpointer user_data)
{
  playback_stopped (user_data);
}

/* The server asks how late we play what it sends, to schedule video
 * streams (mm-time) in step with the sound. */
static void
on_playback_get_delay (SpicePlaybackChannel * ch, gpointer user_data)
{
  GstSpiceEngine *s = user_data;
  guint delay = 0;

  FOREACH_LISTENER (s, LISTENER_PLAYBACK, -1, li, {
        if (li->cb.playback.playback_delay)
      delay = MAX (delay, li->cb.playback.playback_delay (li->user_data));}
  );
  GST_LOG ("%s playback delay %u ms", s->address, delay);
  spice_playback_channel_set_delay (ch, delay);
}

static void
on_record_start (SpiceRecordChannel * ch, gint format, gint channels,
    gint rate, gpointer user_data)
{
  GstSpiceEngine *s = user_data;

  GST_INFO ("%s record-start format %d, %d channels, %d Hz", s->address,
      format, channels, rate);
  if (format != SPICE_AUDIO_FMT_S16 || channels < 1 || channels > 8 ||
      rate <= 0) {
    GST_WARNING ("%s: record format %d, %d channels, %d Hz not supported",
        s->address, format, channels, rate);
    return;
  }
  s->record_active = TRUE;
  s->record_channels = channels;
  s->record_rate = rate;
  FOREACH_LISTENER (s, LISTENER_RECORD, -1, li, {
        if (li->cb.record.record_start)
      li->cb.record.record_start (li->user_data, channels, rate);}
  );
}

static void
record_stopped (GstSpiceEngine * s)
{
  if (!s->record_active)
    return;
  GST_INFO ("%s record-stop", s->address);
  s->record_active = FALSE;
  FOREACH_LISTENER (s, LISTENER_RECORD, -1, li, {
        if (li->cb.record.record_stop)
      li->cb.record.record_stop (li->user_data);}
  );
}

static void
on_record_stop (SpiceRecordChannel * ch, gpointer user_data)
{
  record_stopped (user_data);
}

/* Ports: known by name once linked */

static const gchar *
port_name (SpiceChannel * ch)
{
  return g_object_get_data (G_OBJECT (ch), "gst-spice-port-name");
}

static void
port_notify_opened (GstSpiceEngine * s, SpiceChannel * ch)
{
  const gchar *name = port_name (ch);
  gboolean opened = FALSE;

  if (!name)
    return;
  g_object_get (ch, "port-opened", &opened, NULL);
  GST_INFO ("%s port '%s' %s by the guest", s->address, name,
      opened ? "opened" : "closed");
  FOREACH_LISTENER (s, LISTENER_PORT, -1, li, {
        if (g_strcmp0 (li->port_name, name) == 0 && li->cb.port.port_opened)
      li->cb.port.port_opened (li->user_data, opened);}
  );
}

static void
on_port_name (GObject * obj, GParamSpec * pspec, gpointer user_data)
{
  GstSpiceEngine *s = user_data;
  SpiceChannel *ch = SPICE_CHANNEL (obj);
  gchar *name = NULL;

  g_object_get (ch, "port-name", &name, NULL);
  if (!name)
    return;
  GST_DEBUG ("%s port channel %d is '%s'", s->address,
      gst_spice_engine_channel_id (ch), name);
  g_object_set_data_full (G_OBJECT (ch), "gst-spice-port-name", g_strdup (name),
      g_free);
  g_hash_table_replace (s->ports, name, ch);
  port_notify_opened (s, ch);
}

static void
on_port_opened (GObject * obj, GParamSpec * pspec, gpointer user_data)
{
  port_notify_opened (user_data, SPICE_CHANNEL (obj));
}

static void
on_port_data (SpicePortChannel * ch, gpointer data, gint size,
    gpointer user_data)
{
  GstSpiceEngine *s = user_data;
  const gchar *name = port_name (SPICE_CHANNEL (ch));

  if (!name || size <= 0)
    return;
  FOREACH_LISTENER (s, LISTENER_PORT, -1, li, {
        if (g_strcmp0 (li->port_name, name) == 0 && li->cb.port.port_data)
      li->cb.port.port_data (li->user_data, data, size);}
  );
}

static void
on_mouse_update (SpiceChannel * ch, gpointer user_data)
{
  GstSpiceEngine *s = user_data;
  gint mode = 0;

  g_object_get (ch, "mouse-mode", &mode, NULL);
  if (mode != s->mouse_mode)
    GST_INFO ("%s mouse mode %s", s->address,
        mode == SPICE_MOUSE_MODE_CLIENT ? "client (absolute)" :
        "server (relative)");
  s->mouse_mode = mode;
}


static void
on_inputs_event (SpiceChannel * ch, SpiceChannelEvent ev, gpointer user_data)
{
  GstSpiceEngine *s = user_data;

  if (ev == SPICE_CHANNEL_OPENED && ch == s->inputs) {
    s->inputs_open = TRUE;
    gst_spice_engine_flush_inputs (s);
  }
}

/* A GL display (QEMU gl=on, virgl) hands scanouts, not a 2D surface.  Each
 * gl-draw must be answered with one GL_DRAW_DONE: the server completes the
 * guest's draw (and the guest draws again) only then.  A listener may hold
 * the draw while downstream still reads the buffer; the draw is answered
 * when the last holder lets go, or at the holders' deadline. */
typedef struct
{
  GstSpiceEngine *session;
  SpiceChannel *channel;        /* not a reference: this lives on it */
  guint64 seq;                  /* the draw in progress, 0: none */
  guint holds;                  /* listeners still holding it */
  guint hold_ms;
  gint64 start_us;
  GSource *deadline;
  gboolean late_reported;
} GlDraw;

static void
gl_draw_free (gpointer data)
{
  GlDraw *g = data;

  if (g->deadline) {
    g_source_destroy (g->deadline);
    g_source_unref (g->deadline);
  }
  g_free (g);
}

static GlDraw *
gl_draw_get (GstSpiceEngine * s, SpiceChannel * ch)
{
  GlDraw *g = g_object_get_qdata (G_OBJECT (ch), gl_draw_quark);

  if (!g) {
    g = g_new0 (GlDraw, 1);
    g->session = s;
    g->channel = ch;
    g_object_set_qdata_full (G_OBJECT (ch), gl_draw_quark, g, gl_draw_free);
  }
  return g;
}

/* spice thread */
static void
gl_draw_answer (GlDraw * g)
{
  if (g->deadline) {
    g_source_destroy (g->deadline);
    g_clear_pointer (&g->deadline, g_source_unref);
  }
  if (g->seq) {
    g->seq = 0;
    g->holds = 0;
    spice_display_channel_gl_draw_done (SPICE_DISPLAY_CHANNEL (g->channel));
  }
}

static gboolean
gl_draw_deadline (gpointer data)
{
  GlDraw *g = data;
  GstSpiceEngine *s = g->session;
  gint id = gst_spice_engine_channel_id (g->channel);
  guint64 seq = g->seq;

  g_clear_pointer (&g->deadline, g_source_unref);
  if (!g->late_reported) {
    GST_WARNING ("%s display:%d: a GL draw was still held downstream after "
        "%u ms: acknowledged anyway so the guest can go on (the consumer "
        "may read a frame the guest is redrawing; logged once)", s->address,
        id, g->hold_ms);
    g->late_reported = TRUE;
  }
  FOREACH_LISTENER (s, LISTENER_DISPLAY, id, li, {
        if (li->cb.engine_display.gl_draw_late)
      li->cb.engine_display.gl_draw_late (li->user_data, seq);}
  );
  gl_draw_answer (g);
  return G_SOURCE_REMOVE;
}

static void
gl_scanout_to (GstSpiceEngine * s, SpiceChannel * ch, Listener * li)
{
  const SpiceGlScanout *so =
      spice_display_channel_get_gl_scanout (SPICE_DISPLAY_CHANNEL (ch));

  if (so && so->fd >= 0 && li->cb.engine_display.gl_scanout)
    li->cb.engine_display.gl_scanout (li->user_data, so->fd, so->width,
        so->height, so->stride, so->format, so->y0top);
}

static void
on_gl_scanout (GObject * obj, GParamSpec * pspec, gpointer user_data)
{
  GstSpiceEngine *s = user_data;
  SpiceChannel *ch = SPICE_CHANNEL (obj);

  GST_INFO ("%s display:%d GL scanout", s->address,
      gst_spice_engine_channel_id (ch));
  FOREACH_LISTENER (s, LISTENER_DISPLAY, gst_spice_engine_channel_id (ch), li, {
        gl_scanout_to (s, ch, li);
      }
  );
}

static void
on_gl_draw (SpiceDisplayChannel * ch, guint x, guint y, guint w, guint h,
    gpointer user_data)
{
  GstSpiceEngine *s = user_data;
  gint id = gst_spice_engine_channel_id (SPICE_CHANNEL (ch));
  GlDraw *g = gl_draw_get (s, SPICE_CHANNEL (ch));
  gboolean handled = FALSE;
  guint64 seq;

  /* servers wait for the answer before the next draw; if one did not,
   * the previous draw is answered now so that the count stays right */
  gl_draw_answer (g);
  seq = ++s->gl_draw_seq;
  g->seq = seq;
  g->holds = 0;
  g->hold_ms = 0;
  g->start_us = g_get_monotonic_time ();
  FOREACH_LISTENER (s, LISTENER_DISPLAY, id, li, {
        if (li->cb.engine_display.gl_draw) {
          guint ms =
          li->cb.engine_display.gl_draw (li->user_data, x, y, w, h, seq);
          if (ms > 0) {
          g->holds++; g->hold_ms = MAX (g->hold_ms, ms);}
        handled = TRUE;}
      }
  );
  if (g->holds == 0) {
    gl_draw_answer (g);
  } else if (g->seq == seq && !g->deadline) {
    g->deadline = g_timeout_source_new (g->hold_ms);
    g_source_set_callback (g->deadline, gl_draw_deadline, g, NULL);
    g_source_set_name (g->deadline, "gst-spice gl-draw deadline");
    g_source_attach (g->deadline, NULL);
  }
  if (!handled && !g_object_get_data (G_OBJECT (ch), "gst-spice-gl-reported")) {
    GError *error = g_error_new (GST_STREAM_ERROR, GST_STREAM_ERROR_FORMAT,
        "SPICE server %s sends display %d as GL scanouts (QEMU gl=on, "
        "virgl), which this element cannot capture", s->address, id);

    g_object_set_data (G_OBJECT (ch), "gst-spice-gl-reported",
        GINT_TO_POINTER (1));
    GST_WARNING ("%s: %s", s->address, error->message);
    gst_spice_engine_notify_state (s, LISTENER_DISPLAY, id,
        GST_SPICE_SESSION_FAILED, error, "gl-draw on the display channel");
    g_error_free (error);
  }
}

typedef struct
{
  GstSpiceEngine *session;
  gint channel_id;
  guint64 seq;
} GlRelease;

static gboolean
gl_release_idle (gpointer data)
{
  GlRelease *r = data;
  SpiceChannel *ch = g_hash_table_lookup (r->session->displays,
      GINT_TO_POINTER (r->channel_id));
  GlDraw *g = ch ? g_object_get_qdata (G_OBJECT (ch), gl_draw_quark) : NULL;

  /* an answer that comes after the deadline, or for a draw of a channel
   * that is gone, has nothing left to do */
  if (g && g->seq == r->seq && g->holds > 0 && --g->holds == 0) {
    GST_LOG ("%s display:%d draw %" G_GUINT64_FORMAT " released after %"
        G_GINT64_FORMAT " us", r->session->address, r->channel_id, r->seq,
        g_get_monotonic_time () - g->start_us);
    gl_draw_answer (g);
  }
  return G_SOURCE_REMOVE;
}

/**
 * gst_spice_engine_gl_draw_done:
 * @seq: the draw, as given to the gl_draw callback that held it
 *
 * Lets go of a GL draw a display listener held (any thread, never
 * blocks): once every holder did, the server is told the draw is done.
 * Call it exactly once per held draw, while the session is still
 * acquired.
 */
void
gst_spice_engine_gl_draw_done (GstSpiceEngine * s, gint channel_id, guint64 seq)
{
  GlRelease *r = g_new (GlRelease, 1);

  r->session = s;
  r->channel_id = channel_id;
  r->seq = seq;
  gst_spice_engine_invoke (s, G_PRIORITY_DEFAULT, gl_release_idle, r, g_free);
}

/* ---------------------------------------------------------------------- */
/* Channels coming and going                                              */

void
gst_spice_engine_hook_channel (GstSpiceEngine * s, SpiceChannel * ch)
{
  gint id = 0;

  g_object_get (ch, "channel-id", &id, NULL);
  g_object_set_qdata (G_OBJECT (ch), channel_id_quark, GINT_TO_POINTER (id));
  if (SPICE_IS_MAIN_CHANNEL (ch)) {
    g_signal_connect (ch, "main-mouse-update", G_CALLBACK (on_mouse_update), s);
  } else if (SPICE_IS_DISPLAY_CHANNEL (ch)) {
    g_hash_table_insert (s->displays, GINT_TO_POINTER (id), ch);
    g_signal_connect (ch, "display-primary-create",
        G_CALLBACK (on_primary_create), s);
    g_signal_connect (ch, "display-primary-destroy",
        G_CALLBACK (on_primary_destroy), s);
    g_signal_connect (ch, "display-invalidate", G_CALLBACK (on_invalidate), s);
    g_signal_connect (ch, "gl-draw", G_CALLBACK (on_gl_draw), s);
    g_signal_connect (ch, "notify::gl-scanout", G_CALLBACK (on_gl_scanout), s);
  } else if (SPICE_IS_CURSOR_CHANNEL (ch)) {
    g_signal_connect (ch, "notify::cursor", G_CALLBACK (on_cursor_shape), s);
    g_signal_connect (ch, "cursor-move", G_CALLBACK (on_cursor_move), s);
    g_signal_connect (ch, "cursor-hide", G_CALLBACK (on_cursor_hide), s);
    g_signal_connect (ch, "cursor-reset", G_CALLBACK (on_cursor_reset), s);
  } else if (SPICE_IS_PLAYBACK_CHANNEL (ch)) {
    s->playback = ch;
    g_signal_connect (ch, "playback-start", G_CALLBACK (on_playback_start), s);
    g_signal_connect (ch, "playback-data", G_CALLBACK (on_playback_data), s);
    g_signal_connect (ch, "playback-stop", G_CALLBACK (on_playback_stop), s);
    g_signal_connect (ch, "playback-get-delay",
        G_CALLBACK (on_playback_get_delay), s);
  } else if (SPICE_IS_RECORD_CHANNEL (ch)) {
    s->record = ch;
    g_signal_connect (ch, "record-start", G_CALLBACK (on_record_start), s);
    g_signal_connect (ch, "record-stop", G_CALLBACK (on_record_stop), s);
  } else if (SPICE_IS_PORT_CHANNEL (ch)) {
    g_signal_connect (ch, "notify::port-name", G_CALLBACK (on_port_name), s);
    g_signal_connect (ch, "notify::port-opened", G_CALLBACK (on_port_opened),
        s);
    g_signal_connect (ch, "port-data", G_CALLBACK (on_port_data), s);
  } else if (SPICE_IS_INPUTS_CHANNEL (ch)) {
    s->inputs = ch;
    s->inputs_open = FALSE;
    s->button_state = 0;
    s->have_pointer = FALSE;
    g_signal_connect (ch, "channel-event", G_CALLBACK (on_inputs_event), s);
  }
}

void
gst_spice_engine_unhook_channel (GstSpiceEngine * s, SpiceChannel * ch)
{
  gint id = gst_spice_engine_channel_id (ch);

  if (SPICE_IS_DISPLAY_CHANNEL (ch)
      && g_hash_table_lookup (s->displays, GINT_TO_POINTER (id)) == ch) {
    g_hash_table_remove (s->displays, GINT_TO_POINTER (id));
    /* the surface memory goes with the channel */
    FOREACH_LISTENER (s, LISTENER_DISPLAY, id, li, {
          if (li->cb.engine_display.primary_destroy)
        li->cb.engine_display.primary_destroy (li->user_data);}
    );
  }
  if (SPICE_IS_CURSOR_CHANNEL (ch))
    g_hash_table_remove (s->cursors, GINT_TO_POINTER (id));
  if (ch == s->playback) {
    s->playback = NULL;
    playback_stopped (s);
  }
  if (ch == s->record) {
    s->record = NULL;
    record_stopped (s);
  }
  if (SPICE_IS_PORT_CHANNEL (ch) && port_name (ch) &&
      g_hash_table_lookup (s->ports, port_name (ch)) == ch)
    g_hash_table_remove (s->ports, port_name (ch));
  if (ch == s->inputs) {
    s->inputs = NULL;
    s->inputs_open = FALSE;
  }
}

void
gst_spice_engine_channels_reset (GstSpiceEngine * s)
{
  s->playback = NULL;
  s->record = NULL;
  s->inputs = NULL;
  s->inputs_open = FALSE;
  g_queue_clear_full (&s->pending_inputs, g_free);
  g_hash_table_remove_all (s->ports);
  playback_stopped (s);
  record_stopped (s);
}

void
gst_spice_engine_main_opened (GstSpiceEngine * s, SpiceChannel * main)
{
  /* absolute positions when the guest has a tablet */
  spice_main_channel_request_mouse_mode (SPICE_MAIN_CHANNEL (main),
      SPICE_MOUSE_MODE_CLIENT);
  on_mouse_update (main, s);
}

void
gst_spice_engine_replay (GstSpiceEngine * s, Listener * li,
    SpiceChannel * display)
{
  SpiceDisplayPrimary primary;
  CursorState *c;

  if (li->kind == LISTENER_PLAYBACK && s->playback_active &&
      li->cb.playback.playback_start)
    li->cb.playback.playback_start (li->user_data, s->playback_channels,
        s->playback_rate);
  if (li->kind == LISTENER_RECORD && s->record_active &&
      li->cb.record.record_start)
    li->cb.record.record_start (li->user_data, s->record_channels,
        s->record_rate);
  if (li->kind == LISTENER_PORT && li->cb.port.port_opened) {
    SpiceChannel *port = g_hash_table_lookup (s->ports, li->port_name);
    if (port) {
      gboolean opened = FALSE;
      g_object_get (port, "port-opened", &opened, NULL);
      li->cb.port.port_opened (li->user_data, opened);
    }
  }
  if (!display)
    return;

  /* a GL display's 2D primary is never drawn: only its scanout counts */
  if (!spice_display_channel_get_gl_scanout (SPICE_DISPLAY_CHANNEL
          (display)) && spice_display_channel_get_primary (display, 0,
          &primary)) {
    if (li->cb.engine_display.primary_create)
      li->cb.engine_display.primary_create (li->user_data,
          surface_format_to_video (primary.format), primary.format,
          primary.width, primary.height, primary.stride, primary.data);
    /* a primary nothing was drawn on (a GL display's, before its
     * scanout) stays blank for the new listener too */
    if (li->cb.engine_display.invalidate && g_object_get_qdata (G_OBJECT
            (display), drawn_quark))
      li->cb.engine_display.invalidate (li->user_data, 0, 0, primary.width,
          primary.height);
  }
  gl_scanout_to (s, display, li);
  if (spice_display_channel_get_gl_scanout (SPICE_DISPLAY_CHANNEL
          (display)) && li->cb.engine_display.gl_draw) {
    const SpiceGlScanout *so =
        spice_display_channel_get_gl_scanout (SPICE_DISPLAY_CHANNEL (display));
    li->cb.engine_display.gl_draw (li->user_data, 0, 0, so->width, so->height,
        0);
  }
  c = g_hash_table_lookup (s->cursors, GINT_TO_POINTER (li->channel_id));
  if (c && li->cb.engine_display.cursor) {
    GstSpiceCursor cur = { c->visible && c->placed && c->rgba, c->x, c->y,
      c->width, c->height, c->hot_x, c->hot_y, c->rgba
    };
    li->cb.engine_display.cursor (li->user_data, &cur);
  }
}
