/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
#ifndef __GST_SPICE_ENGINE_H__
#define __GST_SPICE_ENGINE_H__

#include "gstspicetypes.h"

G_BEGIN_DECLS

/**
 * GstSpiceEngine:
 *
 * spice-client-glib driven for one server, inside the client helper
 * (gst-spice-client): the only code of the project that includes
 * <spice-client.h>.  The plugin never links it; it talks to the helper
 * through gstspiceipc.h, and the helper forwards what the engine's
 * listeners hear.
 *
 * spice-client-glib only runs on the default GMainContext, single-threaded.
 * The engine dispatches there (the helper's main thread runs the default
 * loop; a "spice" thread is started too and waits while the main thread
 * owns the context).  Every listener callback below is invoked in the
 * thread that dispatches the default context, never with an engine lock
 * held.
 */
typedef struct _GstSpiceEngine GstSpiceEngine;

GstSpiceEngine   *gst_spice_engine_acquire      (const GstSpiceSessionParams * params,
                                                  gboolean reconnect,
                                                  guint link_timeout,
                                                  GstSpiceSessionFeatures features);
void              gst_spice_engine_add_wishes   (GstSpiceEngine * session,
                                                  gboolean reconnect,
                                                  guint link_timeout,
                                                  GstSpiceSessionFeatures features);
void              gst_spice_engine_release      (GstSpiceEngine * session);
const gchar      *gst_spice_engine_get_address  (GstSpiceEngine * session);

guint             gst_spice_engine_add_display_listener (GstSpiceEngine * session,
                                                  gint channel_id,
                                                  const GstSpiceEngineDisplayCallbacks * callbacks,
                                                  gpointer user_data,
                                                  GDestroyNotify notify);
guint             gst_spice_engine_add_playback_listener (GstSpiceEngine * session,
                                                  const GstSpicePlaybackCallbacks * callbacks,
                                                  gpointer user_data,
                                                  GDestroyNotify notify);
guint             gst_spice_engine_add_record_listener (GstSpiceEngine * session,
                                                  const GstSpiceRecordCallbacks * callbacks,
                                                  gpointer user_data,
                                                  GDestroyNotify notify);
void              gst_spice_engine_record_write (GstSpiceEngine * session,
                                                  GBytes * samples,
                                                  GDestroyNotify done,
                                                  gpointer done_data);
guint             gst_spice_engine_add_port_listener (GstSpiceEngine * session,
                                                  const gchar * port_name,
                                                  const GstSpicePortCallbacks * callbacks,
                                                  gpointer user_data,
                                                  GDestroyNotify notify);
void              gst_spice_engine_port_write   (GstSpiceEngine * session,
                                                  const gchar * port_name,
                                                  GBytes * bytes,
                                                  GstSpicePortWriteDone done,
                                                  gpointer user_data,
                                                  GDestroyNotify notify);

/* Input into the guest; thread-safe, queued to the spice thread, dropped
 * while the inputs channel is not open.  @scancode: PC/XT set 1, E0 keys
 * as 0x100 | code.  Positions are on display @channel_id's surface. */
void              gst_spice_engine_gl_draw_done (GstSpiceEngine * s,
                                                  gint channel_id,
                                                  guint64 seq);

void              gst_spice_engine_send_key     (GstSpiceEngine * session,
                                                  guint scancode,
                                                  gboolean press);
void              gst_spice_engine_send_pointer (GstSpiceEngine * session,
                                                  gint channel_id,
                                                  gint x, gint y);
/* @button: 1 left, 2 middle, 3 right, 4 up, 5 down, 6 side, 7 extra */
void              gst_spice_engine_send_button  (GstSpiceEngine * session,
                                                  gint channel_id,
                                                  gint button,
                                                  gboolean press);
void              gst_spice_engine_remove_listener (GstSpiceEngine * session,
                                                  guint id);

void              gst_spice_engine_invoke       (GstSpiceEngine * session,
                                                  gint priority,
                                                  GSourceFunc func,
                                                  gpointer data,
                                                  GDestroyNotify notify);

G_END_DECLS

#endif /* __GST_SPICE_ENGINE_H__ */
