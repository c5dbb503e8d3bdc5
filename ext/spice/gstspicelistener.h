/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
#ifndef __GST_SPICE_LISTENER_H__
#define __GST_SPICE_LISTENER_H__

#include "gstspicetypes.h"

G_BEGIN_DECLS

/**
 * GstSpiceListener:
 *
 * One user of a session (an element's display, sound, microphone or port),
 * the same in the plugin's session and in the helper's engine: its
 * callbacks, reference-counted, with the `busy` count that lets removal
 * wait until none of its callbacks runs.  The owner keeps the list and
 * guards `removed` and `busy` with its own lock.
 */
typedef enum
{
  GST_SPICE_LISTENER_ANY = -1,
  GST_SPICE_LISTENER_DISPLAY,
  GST_SPICE_LISTENER_PLAYBACK,
  GST_SPICE_LISTENER_RECORD,
  GST_SPICE_LISTENER_PORT,
} GstSpiceListenerKind;

typedef struct
{
  gint refcount;                /* atomic */
  gpointer owner;               /* the session or engine */
  guint id;
  GstSpiceListenerKind kind;
  gint channel_id;              /* display listeners: the head, else -1 */
  gchar *port_name;             /* port listeners */
  union
  {
    GstSpiceDisplayCallbacks display;   /* in the plugin */
    GstSpiceEngineDisplayCallbacks engine_display;      /* in the helper */
    GstSpicePlaybackCallbacks playback;
    GstSpiceRecordCallbacks record;
    GstSpicePortCallbacks port;
  } cb;
  gpointer user_data;
  GDestroyNotify notify;
  gboolean removed;             /* owner's lock */
  gint busy;                    /* owner's lock: callbacks in progress */

  /* the owner's own, in the thread that runs the callbacks */
  gboolean attached;            /* engine: events flow (replay done) */
  gboolean lost;                /* plugin: told LOST because the helper died */
  gboolean delay_known;         /* plugin: playback delay sent */
  guint delay_sent;
} GstSpiceListener;

GstSpiceListener *gst_spice_listener_new      (GstSpiceListenerKind kind,
                                               gint channel_id,
                                               const gchar * port_name,
                                               gconstpointer callbacks,
                                               gsize size,
                                               gpointer user_data,
                                               GDestroyNotify notify);
GstSpiceListener *gst_spice_listener_ref      (GstSpiceListener * l);
/* the last reference calls @notify (@user_data) */
void              gst_spice_listener_unref    (GstSpiceListener * l);
GstSpiceStateFunc gst_spice_listener_state_func (GstSpiceListener * l);
/* The owner's lock held: appends @l with a new id (returned) */
guint             gst_spice_listener_add      (GList ** list, guint * next_id,
                                               GstSpiceListener * l);
/* The owner's lock held: unlinks listener @id, marked removed (the list's
 * reference is the caller's now), or NULL */
GstSpiceListener *gst_spice_listener_take     (GList ** list, guint id);
/* @lock held (the owner's): waits until no callback of @l runs; FALSE at
 * the deadline */
gboolean          gst_spice_listener_wait_idle (GstSpiceListener * l,
                                               GMutex * lock, GCond * cond,
                                               gint64 deadline);

G_END_DECLS

#endif /* __GST_SPICE_LISTENER_H__ */
