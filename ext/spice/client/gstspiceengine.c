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

#define SPICE_DISABLE_DEPRECATED
#include <spice-client.h>

#include "gstspiceengine.h"
#include "gstspicelinkwatch.h"
#include "gstspicelistener.h"

GST_DEBUG_CATEGORY_STATIC (gst_spice_engine_debug);
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

typedef enum
{
  SESSION_CONNECTING,
  SESSION_CONNECTED,
  SESSION_LOST,
  SESSION_FAILED,
} SessionPhase;

/* the listener registry is shared with the plugin's session */
typedef GstSpiceListener Listener;
#define LISTENER_ANY GST_SPICE_LISTENER_ANY
#define LISTENER_DISPLAY GST_SPICE_LISTENER_DISPLAY
#define LISTENER_PLAYBACK GST_SPICE_LISTENER_PLAYBACK
#define LISTENER_RECORD GST_SPICE_LISTENER_RECORD
#define LISTENER_PORT GST_SPICE_LISTENER_PORT
typedef GstSpiceListenerKind ListenerKind;

typedef struct
{
  gint id;
  gboolean visible;
  gboolean placed;              /* a cursor-move told the position */
  gint x, y;
  guint width, height, hot_x, hot_y;
  GBytes *rgba;
} CursorState;

struct _GstSpiceEngine
{
  gint refcount;                /* registry_lock */
  gchar *key;
  GstSpiceSessionParams params;
  gchar *address;
  gchar *unix_path;             /* the server's socket; NULL over TCP */

  GMutex lock;
  GCond cond;
  GList *listeners;             /* lock */
  guint next_listener_id;       /* lock */
  gboolean reconnect;           /* lock */
  guint link_timeout;           /* lock: ms, the shortest asked for; 0 off */
  GstSpiceSessionFeatures features;     /* lock */
  gboolean connecting;          /* lock: a SpiceSession was made */
  GstSpiceSessionFeatures connect_features;     /* lock: what it has */
  SessionPhase phase;           /* lock */
  GError *error;                /* lock: set in SESSION_FAILED */
  gchar *error_debug;           /* lock */
  gboolean closing;             /* lock */
  gboolean closed;              /* lock: no SpiceSession left */
  gboolean finished;            /* lock: its last idle has run */
  guint serial;                 /* registry_lock at creation; const */
  gboolean detached;            /* lock: released by a thread that does not
                                 * dispatch the default context; the spice
                                 * thread closes and frees it */
  GSource *close_timeout;       /* spice thread: detached close deadline */
  GQueue port_writes;           /* lock: PortWrite for the spice thread */
  gboolean port_writes_pending; /* lock: an idle will take them */
  guint port_writes_active;     /* lock: started, not called back yet */

  /* Only touched by the thread dispatching the default context */
  SpiceSession *spice;
  SpiceChannel *main;
  GHashTable *displays;         /* channel id -> SpiceChannel */
  guint64 gl_draw_seq;          /* the last GL draw's number */
  GHashTable *cursors;          /* channel id -> CursorState */
  SpiceChannel *playback;
  SpiceChannel *record;
  gboolean playback_active;     /* between playback-start and -stop */
  guint playback_channels, playback_rate;
  gboolean record_active;
  guint record_channels, record_rate;
  GHashTable *ports;            /* port name -> SpicePortChannel */
  SpiceChannel *inputs;
  gboolean inputs_open;
  GQueue pending_inputs;        /* Input, waiting for the inputs channel */
  gint mouse_mode;              /* SPICE_MOUSE_MODE_* */
  guint button_state;           /* SPICE_MOUSE_BUTTON_MASK_* held */
  gboolean have_pointer;
  gint pointer_x, pointer_y;    /* last position sent */
  gboolean was_connected;       /* main channel opened at least once */
  gboolean close_deferred;
  guint channels_linking;       /* connected by us, no channel-event yet */
  gint64 close_wait_until;      /* monotonic us; 0: not waiting */
  gboolean lost;                /* reconnecting after a lost connection */
  guint backoff_ms;
  GSource *reconnect_source;
  GstSpiceLinkWatch *link_watch;        /* of s->spice, link_timeout > 0 */
};

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

static GQuark channel_id_quark;
static GQuark gl_draw_quark;
static GQuark drawn_quark;        /* display channel: an invalidate came */

static void session_connect (GstSpiceEngine * s);

static void
debug_init (void)
{
  static gsize done = 0;

  if (g_once_init_enter (&done)) {
    GST_DEBUG_CATEGORY_INIT (gst_spice_engine_debug, "spiceengine", 0,
        "SPICE client engine (spice-client-glib, in the client helper)");
    channel_id_quark = g_quark_from_static_string ("gst-spice-channel-id");
    gl_draw_quark = g_quark_from_static_string ("gst-spice-gl-draw");
    drawn_quark = g_quark_from_static_string ("gst-spice-drawn");
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

/* Listeners of @kind (LISTENER_ANY: all); for display listeners
 * @channel_id >= 0 picks one head.  Returns refs; call listeners_done(). */
static GPtrArray *
listeners_begin (GstSpiceEngine * s, ListenerKind kind, gint channel_id)
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

static void
listeners_done (GstSpiceEngine * s, GPtrArray * arr)
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

#define FOREACH_LISTENER(s, kind, chid, li, body)             \
  G_STMT_START {                                              \
    GPtrArray *_arr = listeners_begin (s, kind, chid);        \
    guint _i;                                                 \
    for (_i = 0; _i < _arr->len; _i++) {                      \
      Listener *li = _arr->pdata[_i];                         \
      body;                                                   \
    }                                                         \
    listeners_done (s, _arr);                                 \
  } G_STMT_END

static void
notify_state (GstSpiceEngine * s, ListenerKind kind, gint channel_id,
    GstSpiceSessionState state, const GError * error, const gchar * debug)
{
  FOREACH_LISTENER (s, kind, channel_id, li, {
        GstSpiceStateFunc func = gst_spice_listener_state_func (li);
        if (func)
          func (li->user_data, state, error, debug);
      }
  );
}

/* ---------------------------------------------------------------------- */
/* spice-client-glib signal handlers (all in the spice thread)            */

/* The channel id, remembered in channel-new: a property lookup per
 * invalidate would cost more than the lookup of the listener. */
static gint
channel_id (SpiceChannel * ch)
{
  return GPOINTER_TO_INT (g_object_get_qdata (G_OBJECT (ch),
          channel_id_quark));
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

  id = channel_id (ch);
  GST_DEBUG ("%s display:%d primary-create format %d %dx%d stride %d",
      s->address, id, format, width, height, stride);
  FOREACH_LISTENER (s, LISTENER_DISPLAY, id, li, {
        if (li->cb.engine_display.primary_create)
          li->cb.engine_display.primary_create (li->user_data,
              surface_format_to_video (format), format, width, height, stride,
              imgdata);
      }
  );
}

static void
on_primary_destroy (SpiceChannel * ch, gpointer user_data)
{
  GstSpiceEngine *s = user_data;
  gint id;

  id = channel_id (ch);
  GST_DEBUG ("%s display:%d primary-destroy", s->address, id);
  FOREACH_LISTENER (s, LISTENER_DISPLAY, id, li, {
        if (li->cb.engine_display.primary_destroy)
          li->cb.engine_display.primary_destroy (li->user_data);
      }
  );
}

static void
on_invalidate (SpiceChannel * ch, gint x, gint y, gint w, gint h,
    gpointer user_data)
{
  GstSpiceEngine *s = user_data;
  gint id;

  id = channel_id (ch);
  g_object_set_qdata (G_OBJECT (ch), drawn_quark, GINT_TO_POINTER (1));
  FOREACH_LISTENER (s, LISTENER_DISPLAY, id, li, {
        if (li->cb.engine_display.invalidate)
          li->cb.engine_display.invalidate (li->user_data, x, y, w, h);
      }
  );
}

static void
cursor_state_free (CursorState * c)
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

  id = channel_id (ch);
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
          li->cb.engine_display.cursor (li->user_data, &cur);
      }
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
          li->cb.playback.playback_start (li->user_data, channels, rate);
      }
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
          li->cb.playback.playback_data (li->user_data, data, size);
      }
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
          li->cb.playback.playback_stop (li->user_data);
      }
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
          delay = MAX (delay, li->cb.playback.playback_delay (li->user_data));
      }
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
          li->cb.record.record_start (li->user_data, channels, rate);
      }
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
          li->cb.record.record_stop (li->user_data);
      }
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
          li->cb.port.port_opened (li->user_data, opened);
      }
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
  GST_DEBUG ("%s port channel %d is '%s'", s->address, channel_id (ch),
      name);
  g_object_set_data_full (G_OBJECT (ch), "gst-spice-port-name",
      g_strdup (name), g_free);
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
          li->cb.port.port_data (li->user_data, data, size);
      }
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

static void flush_inputs (GstSpiceEngine * s);

static void
on_inputs_event (SpiceChannel * ch, SpiceChannelEvent ev, gpointer user_data)
{
  GstSpiceEngine *s = user_data;

  if (ev == SPICE_CHANNEL_OPENED && ch == s->inputs) {
    s->inputs_open = TRUE;
    flush_inputs (s);
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
  gint id = channel_id (g->channel);
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
          li->cb.engine_display.gl_draw_late (li->user_data, seq);
      }
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
    li->cb.engine_display.gl_scanout (li->user_data, so->fd, so->width, so->height,
        so->stride, so->format, so->y0top);
}

static void
on_gl_scanout (GObject * obj, GParamSpec * pspec, gpointer user_data)
{
  GstSpiceEngine *s = user_data;
  SpiceChannel *ch = SPICE_CHANNEL (obj);

  GST_INFO ("%s display:%d GL scanout", s->address, channel_id (ch));
  FOREACH_LISTENER (s, LISTENER_DISPLAY, channel_id (ch), li, {
        gl_scanout_to (s, ch, li);
      }
  );
}

static void
on_gl_draw (SpiceDisplayChannel * ch, guint x, guint y, guint w, guint h,
    gpointer user_data)
{
  GstSpiceEngine *s = user_data;
  gint id = channel_id (SPICE_CHANNEL (ch));
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
          guint ms = li->cb.engine_display.gl_draw (li->user_data, x, y, w, h, seq);
          if (ms > 0) {
            g->holds++;
            g->hold_ms = MAX (g->hold_ms, ms);
          }
          handled = TRUE;
        }
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
  if (!handled && !g_object_get_data (G_OBJECT (ch),
          "gst-spice-gl-reported")) {
    GError *error = g_error_new (GST_STREAM_ERROR, GST_STREAM_ERROR_FORMAT,
        "SPICE server %s sends display %d as GL scanouts (QEMU gl=on, "
        "virgl), which this element cannot capture", s->address, id);

    g_object_set_data (G_OBJECT (ch), "gst-spice-gl-reported",
        GINT_TO_POINTER (1));
    GST_WARNING ("%s: %s", s->address, error->message);
    notify_state (s, LISTENER_DISPLAY, id, GST_SPICE_SESSION_FAILED, error,
        "gl-draw on the display channel");
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
gst_spice_engine_gl_draw_done (GstSpiceEngine * s, gint channel_id,
    guint64 seq)
{
  GlRelease *r = g_new (GlRelease, 1);

  r->session = s;
  r->channel_id = channel_id;
  r->seq = seq;
  gst_spice_engine_invoke (s, G_PRIORITY_DEFAULT, gl_release_idle, r,
      g_free);
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
  g_object_set_data (G_OBJECT (ch), "gst-spice-connected",
      GINT_TO_POINTER (1));
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
      msg = g_strdup_printf ("Connection to SPICE server %s lost",
          s->address);
      break;
  }
  *error = g_error_new_literal (GST_RESOURCE_ERROR, code, msg);
  g_object_get (ch, "channel-type", &type, NULL);
  *debug = g_strdup_printf ("%s channel: %s", spice_channel_type_to_string
      (type), detail ? detail :
      ev == SPICE_CHANNEL_CLOSED ? "closed by the server" : "no detail");
  g_free (msg);
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
  notify_state (s, LISTENER_ANY, -1, GST_SPICE_SESSION_FAILED, error, debug);
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
  g_mutex_lock (&s->lock);
  if (s->closing) {
    g_mutex_unlock (&s->lock);
    return G_SOURCE_REMOVE;
  }
  g_mutex_unlock (&s->lock);
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
  GST_INFO ("%s: next connection attempt in %u ms", s->address,
      s->backoff_ms);
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
    notify_state (s, LISTENER_ANY, -1, GST_SPICE_SESSION_LOST, error, debug);
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
      "Connection to SPICE server %s lost: %s (link-timeout)", s->address,
      why);
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
      /* absolute positions when the guest has a tablet */
      spice_main_channel_request_mouse_mode (SPICE_MAIN_CHANNEL (ch),
          SPICE_MOUSE_MODE_CLIENT);
      on_mouse_update (ch, s);
      s->lost = FALSE;
      s->was_connected = TRUE;
      s->backoff_ms = 0;
      link_watch_start (s);
      g_mutex_lock (&s->lock);
      s->phase = SESSION_CONNECTED;
      g_mutex_unlock (&s->lock);
      notify_state (s, LISTENER_ANY, -1, was_lost ? GST_SPICE_SESSION_RECONNECTED :
          GST_SPICE_SESSION_CONNECTED, NULL, NULL);
      break;
    }
    case SPICE_CHANNEL_CLOSED:
    case SPICE_CHANNEL_ERROR_IO:
      if (s->was_connected) {
        GError *error;
        gchar *debug;

        build_error (s, ch, ev, &error, &debug);
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

  id = channel_id (ch);
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
    notify_state (s, LISTENER_DISPLAY, id, GST_SPICE_SESSION_FAILED, error, debug);
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
  g_object_set_qdata (G_OBJECT (ch), channel_id_quark, GINT_TO_POINTER (id));
  GST_DEBUG ("%s channel-new %s:%d", s->address,
      spice_channel_type_to_string (type), id);

  if (SPICE_IS_MAIN_CHANNEL (ch)) {
    s->main = ch;
    g_signal_connect (ch, "channel-event", G_CALLBACK (on_main_event), s);
    g_signal_connect (ch, "main-mouse-update", G_CALLBACK (on_mouse_update),
        s);
  } else if (SPICE_IS_DISPLAY_CHANNEL (ch)) {
    g_hash_table_insert (s->displays, GINT_TO_POINTER (id), ch);
    g_signal_connect (ch, "display-primary-create",
        G_CALLBACK (on_primary_create), s);
    g_signal_connect (ch, "display-primary-destroy",
        G_CALLBACK (on_primary_destroy), s);
    g_signal_connect (ch, "display-invalidate", G_CALLBACK (on_invalidate),
        s);
    g_signal_connect (ch, "channel-event", G_CALLBACK (on_display_event), s);
    g_signal_connect (ch, "gl-draw", G_CALLBACK (on_gl_draw), s);
    g_signal_connect (ch, "notify::gl-scanout", G_CALLBACK (on_gl_scanout),
        s);
    if (display_wanted (s, id))
      channel_start (s, ch);
  } else if (SPICE_IS_CURSOR_CHANNEL (ch)) {
    g_signal_connect (ch, "notify::cursor", G_CALLBACK (on_cursor_shape), s);
    g_signal_connect (ch, "cursor-move", G_CALLBACK (on_cursor_move), s);
    g_signal_connect (ch, "cursor-hide", G_CALLBACK (on_cursor_hide), s);
    g_signal_connect (ch, "cursor-reset", G_CALLBACK (on_cursor_reset), s);
    channel_start (s, ch);
  } else if (SPICE_IS_PLAYBACK_CHANNEL (ch)) {
    /* Both audio channels are connected as soon as they exist, used or
     * not: spice-client-glib creates its own audio backend (playing to the
     * host's speakers, recording the host's microphone) when a guest agent
     * announces volume sync, and that backend takes every audio channel
     * still unconnected. */
    s->playback = ch;
    g_signal_connect (ch, "playback-start", G_CALLBACK (on_playback_start),
        s);
    g_signal_connect (ch, "playback-data", G_CALLBACK (on_playback_data), s);
    g_signal_connect (ch, "playback-stop", G_CALLBACK (on_playback_stop), s);
    g_signal_connect (ch, "playback-get-delay",
        G_CALLBACK (on_playback_get_delay), s);
    channel_start (s, ch);
  } else if (SPICE_IS_RECORD_CHANNEL (ch)) {
    s->record = ch;
    g_signal_connect (ch, "record-start", G_CALLBACK (on_record_start), s);
    g_signal_connect (ch, "record-stop", G_CALLBACK (on_record_stop), s);
    channel_start (s, ch);
  } else if (SPICE_IS_PORT_CHANNEL (ch)) {
    /* the name is only known once linked: every port is connected */
    g_signal_connect (ch, "notify::port-name", G_CALLBACK (on_port_name), s);
    g_signal_connect (ch, "notify::port-opened", G_CALLBACK (on_port_opened),
        s);
    g_signal_connect (ch, "port-data", G_CALLBACK (on_port_data), s);
    channel_start (s, ch);
  } else if (SPICE_IS_INPUTS_CHANNEL (ch)) {
    s->inputs = ch;
    s->inputs_open = FALSE;
    s->button_state = 0;
    s->have_pointer = FALSE;
    g_signal_connect (ch, "channel-event", G_CALLBACK (on_inputs_event), s);
    channel_start (s, ch);
  }
}

static void
on_channel_destroy (SpiceSession * spice, SpiceChannel * ch,
    gpointer user_data)
{
  GstSpiceEngine *s = user_data;
  gint id;

  id = channel_id (ch);
  linking_done (s, ch);
  g_signal_handlers_disconnect_by_data (ch, s);
  if (ch == s->main)
    s->main = NULL;
  if (SPICE_IS_DISPLAY_CHANNEL (ch)
      && g_hash_table_lookup (s->displays, GINT_TO_POINTER (id)) == ch) {
    g_hash_table_remove (s->displays, GINT_TO_POINTER (id));
    /* the surface memory goes with the channel */
    FOREACH_LISTENER (s, LISTENER_DISPLAY, id, li, {
          if (li->cb.engine_display.primary_destroy)
            li->cb.engine_display.primary_destroy (li->user_data);
        }
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
  s->playback = NULL;
  s->record = NULL;
  s->inputs = NULL;
  s->inputs_open = FALSE;
  g_queue_clear_full (&s->pending_inputs, g_free);
  g_hash_table_remove_all (s->ports);
  playback_stopped (s);
  record_stopped (s);
  /* not from inside its own signal emission */
  gst_spice_engine_invoke (s, G_PRIORITY_DEFAULT, drop_spice_session, spice, NULL);

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
  gboolean closing;

  g_mutex_lock (&s->lock);
  closing = s->closing;
  g_mutex_unlock (&s->lock);
  if (!closing)
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

  display = li->kind == LISTENER_DISPLAY ?
      g_hash_table_lookup (s->displays, GINT_TO_POINTER (li->channel_id)) :
      NULL;
  if (display) {
    SpiceDisplayPrimary primary;
    CursorState *c;

    channel_start (s, display);
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
          spice_display_channel_get_gl_scanout (SPICE_DISPLAY_CHANNEL
          (display));
      li->cb.engine_display.gl_draw (li->user_data, 0, 0, so->width, so->height,
          0);
    }
    c = g_hash_table_lookup (s->cursors, GINT_TO_POINTER (li->channel_id));
    if (c && li->cb.engine_display.cursor) {
      GstSpiceCursor cur = { c->visible && c->placed && c->rgba, c->x, c->y,
        c->width,
        c->height, c->hot_x, c->hot_y, c->rgba
      };
      li->cb.engine_display.cursor (li->user_data, &cur);
    }
  }

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
      (GDestroyNotify) cursor_state_free);
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
    gst_spice_engine_invoke (s, G_PRIORITY_LOW, detached_close_idle, s,
        NULL);
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
          channel_id, NULL, callbacks, sizeof (*callbacks), user_data,
          notify));
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
    gst_spice_engine_invoke (s, G_PRIORITY_DEFAULT, port_write_idle, s,
        NULL);
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

static void
flush_inputs (GstSpiceEngine * s)
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
    GST_DEBUG ("%s: inputs channel not open, dropping old input",
        s->address);
    g_free (g_queue_pop_head (&s->pending_inputs));
  }
  return G_SOURCE_REMOVE;
}

static void
send_input (GstSpiceEngine * s, InputKind kind, gint channel_id, gint a,
    gint b)
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
gst_spice_engine_send_key (GstSpiceEngine * s, guint scancode,
    gboolean press)
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
