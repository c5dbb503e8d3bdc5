/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
#ifndef __GST_SPICE_CONNECTION_H__
#define __GST_SPICE_CONNECTION_H__

#include <gst/gst.h>

#include "gstspicesession.h"

G_BEGIN_DECLS

/* The connection properties every SPICE element has, with the same names,
 * ids and meaning; an element's own properties start at
 * GST_SPICE_PROP_CONNECTION_LAST. */
enum
{
  GST_SPICE_PROP_0,
  GST_SPICE_PROP_URI,
  GST_SPICE_PROP_PASSWORD,
  GST_SPICE_PROP_CA_FILE,
  GST_SPICE_PROP_CERT_SUBJECT,
  GST_SPICE_PROP_CONNECT_TIMEOUT,
  GST_SPICE_PROP_RECONNECT,
  GST_SPICE_PROP_LINK_TIMEOUT,
  GST_SPICE_PROP_EOS_ON_DISCONNECT,     /* sources only */
  GST_SPICE_PROP_CONNECTION_LAST
};

#define GST_SPICE_DEFAULT_CONNECT_TIMEOUT 10000
#define GST_SPICE_DEFAULT_RECONNECT FALSE
/* libspice-server pings an idle TCP client every 15 s: 20 s notices a dead
 * link within 21 s and leaves a late ping 5 s */
#define GST_SPICE_DEFAULT_LINK_TIMEOUT 20000

typedef struct
{
  gchar *uri;                   /* without a password (see uri_password) */
  gchar *password;
  gchar *uri_password;          /* the URI's ?password=, taken out of it */
  gchar *ca_file;
  gchar *cert_subject;
  guint connect_timeout;        /* ms */
  gboolean reconnect;
  guint link_timeout;           /* ms, 0: off */
  gboolean eos_on_disconnect;   /* sources */
} GstSpiceConnectionSettings;

void      gst_spice_connection_install_properties (GObjectClass * klass);
/* eos-on-disconnect, for the elements that produce streams */
void      gst_spice_connection_install_source_properties (GObjectClass * klass);
void      gst_spice_connection_settings_init   (GstSpiceConnectionSettings * s);
void      gst_spice_connection_settings_copy   (GstSpiceConnectionSettings * dst,
                                                const GstSpiceConnectionSettings * src);
void      gst_spice_connection_settings_clear  (GstSpiceConnectionSettings * s);
gboolean  gst_spice_connection_set_property    (GstSpiceConnectionSettings * s,
                                                guint prop_id, const GValue * value);
gboolean  gst_spice_connection_get_property    (const GstSpiceConnectionSettings * s,
                                                guint prop_id, GValue * value);

gboolean  gst_spice_connection_check_uri       (GstElement * element,
                                                const gchar * uri);
gboolean  gst_spice_connection_check           (GstElement * element,
                                                const GstSpiceConnectionSettings * conn);
GstSpiceSession *gst_spice_connection_acquire  (GstElement * element,
                                                const GstSpiceConnectionSettings * s,
                                                GstSpiceSessionFeatures features);
void      gst_spice_connection_post_error      (GstElement * element,
                                                const GError * error,
                                                const gchar * debug);
gboolean  gst_spice_connection_is_flow_error_echo (GstElement * element,
                                                GstMessage * message);
void      gst_spice_connection_post_timeout    (GstElement * element,
                                                const gchar * address,
                                                gboolean connected,
                                                guint timeout_ms,
                                                const gchar * missing);

/**
 * GstSpiceLinkState:
 *
 * What every element keeps about its connection, from the session's state
 * callback, under the element's own lock.
 */
typedef struct
{
  gboolean connected;           /* the main channel came up (at least once) */
  gboolean lost;                /* LOST, not RECONNECTED yet */
  GError *error;                /* FAILED: the error to post */
  gchar *error_debug;
} GstSpiceLinkState;

void      gst_spice_link_state_update          (GstSpiceLinkState * link,
                                                GstSpiceSessionState state,
                                                const GError * error,
                                                const gchar * debug);
void      gst_spice_link_state_clear           (GstSpiceLinkState * link);
void      gst_spice_link_state_post_error      (GstElement * element,
                                                GstSpiceLinkState * link,
                                                GMutex * lock);
GstFlowReturn gst_spice_link_state_finish      (GstElement * element,
                                                GstSpiceLinkState * link,
                                                GMutex * lock,
                                                gboolean eos_on_disconnect);

GstClockTime gst_spice_running_time_of        (GstElement * element,
                                                gint64 event_us);

G_END_DECLS

#endif /* __GST_SPICE_CONNECTION_H__ */
