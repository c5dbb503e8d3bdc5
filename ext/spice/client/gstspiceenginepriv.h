/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
#ifndef __GST_SPICE_ENGINE_PRIV_H__
#define __GST_SPICE_ENGINE_PRIV_H__

/* What the engine's three files share: the session lifecycle
 * (gstspiceengine.c), what the channels say (gstspiceenginechannels.c) and
 * what goes to the server (gstspiceenginewrites.c). */

#define SPICE_DISABLE_DEPRECATED
#include <spice-client.h>

#include "gstspiceengine.h"
#include "gstspicelinkwatch.h"
#include "gstspicelistener.h"

G_BEGIN_DECLS

GST_DEBUG_CATEGORY_EXTERN (gst_spice_engine_debug);

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
  gint64 opened_us;             /* monotonic: the main channel last opened */
  guint takeovers;              /* in a row, each soon after we got in */
  GSource *reconnect_source;
  GstSpiceLinkWatch *link_watch;        /* of s->spice, link_timeout > 0 */
};

/* Listeners of @kind (LISTENER_ANY: all); for display listeners
 * @channel_id >= 0 picks one head.  Returns refs; call
 * gst_spice_engine_listeners_done(). */
GPtrArray *gst_spice_engine_listeners_begin (GstSpiceEngine * s,
    ListenerKind kind, gint channel_id);
void gst_spice_engine_listeners_done (GstSpiceEngine * s, GPtrArray * arr);

#define FOREACH_LISTENER(s, kind, chid, li, body)                       \
  G_STMT_START {                                                        \
    GPtrArray *_arr = gst_spice_engine_listeners_begin (s, kind, chid); \
    guint _i;                                                           \
    for (_i = 0; _i < _arr->len; _i++) {                                \
      Listener *li = _arr->pdata[_i];                                   \
      body;                                                             \
    }                                                                   \
    gst_spice_engine_listeners_done (s, _arr);                          \
  } G_STMT_END

/* every listener of @kind (and head) hears @state */
void gst_spice_engine_notify_state (GstSpiceEngine * s, ListenerKind kind,
    gint channel_id, GstSpiceSessionState state, const GError * error,
    const gchar * debug);

/* gstspiceenginechannels.c: all in the thread dispatching the default
 * context */
void gst_spice_engine_channels_init (void);
gint gst_spice_engine_channel_id (SpiceChannel * ch);
/* the destroy function of s->cursors' values */
void gst_spice_engine_cursor_state_free (CursorState * c);
/* channel-new: what the engine listens to on @ch (the main channel's
 * mouse mode, every other channel's own signals) */
void gst_spice_engine_hook_channel (GstSpiceEngine * s, SpiceChannel * ch);
/* channel-destroy: forgets @ch, telling listeners what went with it */
void gst_spice_engine_unhook_channel (GstSpiceEngine * s, SpiceChannel * ch);
/* the SpiceSession is gone: no channel, no audio stream, no input */
void gst_spice_engine_channels_reset (GstSpiceEngine * s);
/* the main channel opened */
void gst_spice_engine_main_opened (GstSpiceEngine * s, SpiceChannel * main);
/* tells a late listener (attached: nothing else runs it meanwhile) what
 * it missed: audio streams, port state, the surface, scanout, cursor */
void gst_spice_engine_replay (GstSpiceEngine * s, Listener * li,
    SpiceChannel * display);

/* gstspiceenginewrites.c */
/* the inputs channel opened: sends what waited for it */
void gst_spice_engine_flush_inputs (GstSpiceEngine * s);

G_END_DECLS

#endif /* __GST_SPICE_ENGINE_PRIV_H__ */
