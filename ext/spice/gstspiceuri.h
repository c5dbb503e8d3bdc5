/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
#ifndef __GST_SPICE_URI_H__
#define __GST_SPICE_URI_H__

#include <gst/gst.h>

G_BEGIN_DECLS

typedef struct
{
  gchar *uri;                   /* spice://, spice+unix://, spice+tls:// */
  gchar *password;
  gchar *ca_file;
  gchar *cert_subject;
} GstSpiceSessionParams;

typedef enum
{
  GST_SPICE_TRANSPORT_TCP,
  GST_SPICE_TRANSPORT_TLS,
  GST_SPICE_TRANSPORT_UNIX,
} GstSpiceTransport;

/* What a URI names.  spice://HOST:PORT and spice://HOST?port=PORT are
 * TCP; spice+tls://HOST:PORT and spice://HOST?tls-port=PORT are TLS.  A
 * URI naming both ports (remote-viewer's and `virsh domdisplay`'s
 * spice://HOST:PORT?tls-port=TLSPORT, spice://HOST?port=P&tls-port=T) is
 * TCP on @port with @tls_port set: spice-client-glib (so remote-viewer)
 * connects each channel to the plain port and moves one to the TLS port
 * only when the server demands TLS for it. */
typedef struct
{
  GstSpiceTransport transport;
  gchar *host;                  /* IPv6 literals without their brackets */
  gint port;                    /* what is connected to first */
  gint tls_port;                /* TCP only: the TLS port given beside it; 0: none */
  gchar *path;
  gchar *password;
} GstSpiceUri;

gboolean          gst_spice_session_params_parse (const gchar * uri,
                                                  GstSpiceSessionParams * params,
                                                  GError ** error);
void              gst_spice_session_params_clear (GstSpiceSessionParams * params);

/* @uri without its password query parameter (what may be shown: in the
 * uri property, errors, logs); the password, percent-decoded, in
 * @password when asked for (NULL: none) */
gchar            *gst_spice_uri_strip_password   (const gchar * uri,
                                                  gchar ** password);
gboolean          gst_spice_uri_parse            (const gchar * uri,
                                                  GstSpiceUri * out,
                                                  GError ** error);
void              gst_spice_uri_clear            (GstSpiceUri * p);
gchar            *gst_spice_uri_describe         (const GstSpiceUri * p);
gchar            *gst_spice_uri_make_key         (const GstSpiceSessionParams * params,
                                                  const GstSpiceUri * p);

G_END_DECLS

#endif /* __GST_SPICE_URI_H__ */
