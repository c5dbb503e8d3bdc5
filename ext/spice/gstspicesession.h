/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
#ifndef __GST_SPICE_SESSION_H__
#define __GST_SPICE_SESSION_H__

#include <gst/gst.h>
#include <gst/video/video.h>

#include "gstspicetypes.h"

G_BEGIN_DECLS

/**
 * GstSpiceSession:
 *
 * One connection to one SPICE server, shared by every element of the
 * process that names the same server (a SPICE server takes one client at a
 * time: a second connection would kick the first).  Sessions live in a
 * refcounted registry keyed by the normalised address and credentials.
 *
 * The SPICE client itself (spice-client-glib) runs in a helper process,
 * gst-spice-client, one per session, spoken to over a socket pair
 * (gstspiceipc.h).  This module is the plugin's side of it: a process-wide
 * "spice" thread runs a GMainLoop on a GMainContext of its own (never the
 * default one, which belongs to the application), reads what the helper
 * says and invokes every listener callback below there, never with a
 * session lock held.  When the helper dies the listeners hear FAILED (or
 * LOST, then RECONNECTED with a fresh helper, when a user asked for
 * reconnection).
 */
typedef struct _GstSpiceSession GstSpiceSession;

GstSpiceSession  *gst_spice_session_acquire      (const GstSpiceSessionParams * params,
                                                  gboolean reconnect,
                                                  guint link_timeout,
                                                  GstSpiceSessionFeatures features);
void              gst_spice_session_release      (GstSpiceSession * session);
const gchar      *gst_spice_session_get_address  (GstSpiceSession * session);

guint             gst_spice_session_add_display_listener (GstSpiceSession * session,
                                                  gint channel_id,
                                                  const GstSpiceDisplayCallbacks * callbacks,
                                                  gpointer user_data,
                                                  GDestroyNotify notify);
guint             gst_spice_session_add_playback_listener (GstSpiceSession * session,
                                                  const GstSpicePlaybackCallbacks * callbacks,
                                                  gpointer user_data,
                                                  GDestroyNotify notify);
guint             gst_spice_session_add_record_listener (GstSpiceSession * session,
                                                  const GstSpiceRecordCallbacks * callbacks,
                                                  gpointer user_data,
                                                  GDestroyNotify notify);
guint             gst_spice_session_add_port_listener (GstSpiceSession * session,
                                                  const gchar * port_name,
                                                  const GstSpicePortCallbacks * callbacks,
                                                  gpointer user_data,
                                                  GDestroyNotify notify);
void              gst_spice_session_remove_listener (GstSpiceSession * session,
                                                  guint id);

void              gst_spice_session_record_write (GstSpiceSession * session,
                                                  GBytes * samples,
                                                  GDestroyNotify done,
                                                  gpointer done_data);
void              gst_spice_session_port_write   (GstSpiceSession * session,
                                                  const gchar * port_name,
                                                  GBytes * bytes,
                                                  GstSpicePortWriteDone done,
                                                  gpointer user_data,
                                                  GDestroyNotify notify);
void              gst_spice_session_gl_draw_done (GstSpiceSession * s,
                                                  gint channel_id,
                                                  guint64 seq);

/* Input into the guest; thread-safe, never blocks, dropped while the
 * inputs channel is not open.  @scancode: PC/XT set 1, E0 keys as
 * 0x100 | code.  Positions are on display @channel_id's surface. */
void              gst_spice_session_send_key     (GstSpiceSession * session,
                                                  guint scancode,
                                                  gboolean press);
void              gst_spice_session_send_pointer (GstSpiceSession * session,
                                                  gint channel_id,
                                                  gint x, gint y);
/* @button: 1 left, 2 middle, 3 right, 4 up, 5 down, 6 side, 7 extra */
void              gst_spice_session_send_button  (GstSpiceSession * session,
                                                  gint channel_id,
                                                  gint button,
                                                  gboolean press);

/* 2D frames: the helper copies damage from its primary surface straight
 * into shared-memory (memfd) frame buffers of this allocator. */
GstAllocator     *gst_spice_session_get_allocator (void);
gboolean          gst_spice_session_copy         (GstSpiceSession * session,
                                                  gint channel_id,
                                                  guint surface,
                                                  GstMemory * mem,
                                                  gsize offset,
                                                  gint stride,
                                                  const GstVideoRectangle * rect,
                                                  gboolean flip);
gboolean          gst_spice_session_sync         (GstSpiceSession * session,
                                                  guint timeout_ms);
void              gst_spice_session_sync_cancel  (GstSpiceSession * session);

/* Whether the caller is the spice thread (where listener callbacks run). */
gboolean          gst_spice_session_in_spice_thread (void);

/* Runs @func in the spice thread. */
void              gst_spice_session_invoke       (GstSpiceSession * session,
                                                  gint priority,
                                                  GSourceFunc func,
                                                  gpointer data,
                                                  GDestroyNotify notify);
/* Runs @func in the spice thread once the helper has no SPICE message
 * waiting any more (an idle of G_PRIORITY_DEFAULT_IDLE there): what came
 * from the server so far has been handled and forwarded. */
void              gst_spice_session_invoke_settled (GstSpiceSession * session,
                                                  GSourceFunc func,
                                                  gpointer data,
                                                  GDestroyNotify notify);

G_END_DECLS

#endif /* __GST_SPICE_SESSION_H__ */
