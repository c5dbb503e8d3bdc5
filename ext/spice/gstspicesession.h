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

G_BEGIN_DECLS

/**
 * GstSpiceSession:
 *
 * One connection to one SPICE server, shared by every element of the
 * process that names the same server (a SPICE server takes one client at a
 * time: a second connection would kick the first).  Sessions live in a
 * refcounted registry keyed by the normalised address and credentials.
 *
 * spice-client-glib only runs on the default GMainContext, single-threaded.
 * The module keeps one "spice thread" per process that runs a GMainLoop on
 * it (an application that runs the default loop itself dispatches the work
 * instead; both are fine).  Everything that touches spice-client-glib runs
 * in whichever thread dispatches the default context, and every listener
 * callback below is invoked there.  This header is the seam: only the
 * session module includes <spice-client.h>.
 */
typedef struct _GstSpiceSession GstSpiceSession;

typedef struct
{
  gchar *uri;                   /* spice://, spice+unix://, spice+tls:// */
  gchar *password;
  gchar *ca_file;
  gchar *cert_subject;
} GstSpiceSessionParams;

typedef enum
{
  GST_SPICE_SESSION_CONNECTED,  /* main channel linked and authorised */
  GST_SPICE_SESSION_LOST,       /* connection lost; reconnecting */
  GST_SPICE_SESSION_RECONNECTED,        /* back after LOST */
  GST_SPICE_SESSION_FAILED,     /* fatal: see the error */
} GstSpiceSessionState;

typedef struct
{
  gboolean visible;
  gint x, y;                    /* hot spot position on the surface */
  guint width, height;
  guint hot_x, hot_y;
  GBytes *rgba;                 /* width * height * 4, R G B A, straight alpha */
} GstSpiceCursor;

/**
 * GstSpiceDisplayCallbacks:
 *
 * All are invoked in the thread that dispatches the default main context,
 * never with a session lock held.  @data of primary_create stays valid and
 * is written only by that thread until primary_destroy or the next
 * primary_create, so reading it inside these callbacks is race-free.
 */
typedef struct
{
  void (*primary_create) (gpointer user_data, GstVideoFormat format,
      gint spice_format, guint width, guint height, guint stride,
      const guint8 * data);
  void (*primary_destroy) (gpointer user_data);
  void (*invalidate) (gpointer user_data, gint x, gint y, gint w, gint h);
  void (*cursor) (gpointer user_data, const GstSpiceCursor * cursor);
  /* @error: NULL unless FAILED or LOST; code in GST_RESOURCE_ERROR,
   * message for users, @debug for the technical details */
  void (*state) (gpointer user_data, GstSpiceSessionState state,
      const GError * error, const gchar * debug);
} GstSpiceDisplayCallbacks;

gboolean          gst_spice_session_params_parse (const gchar * uri,
                                                  GstSpiceSessionParams * params,
                                                  GError ** error);
void              gst_spice_session_params_clear (GstSpiceSessionParams * params);

GstSpiceSession  *gst_spice_session_acquire      (const GstSpiceSessionParams * params,
                                                  gboolean reconnect);
void              gst_spice_session_release      (GstSpiceSession * session);
const gchar      *gst_spice_session_get_address  (GstSpiceSession * session);

guint             gst_spice_session_add_display_listener (GstSpiceSession * session,
                                                  gint channel_id,
                                                  const GstSpiceDisplayCallbacks * callbacks,
                                                  gpointer user_data,
                                                  GDestroyNotify notify);
void              gst_spice_session_remove_listener (GstSpiceSession * session,
                                                  guint id);

void              gst_spice_session_invoke       (GstSpiceSession * session,
                                                  gint priority,
                                                  GSourceFunc func,
                                                  gpointer data,
                                                  GDestroyNotify notify);

G_END_DECLS

#endif /* __GST_SPICE_SESSION_H__ */
