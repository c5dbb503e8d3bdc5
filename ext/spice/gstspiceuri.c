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

#include <string.h>

#include "gstspiceuri.h"

/* SPICE URIs, the connection parameters and the key that identifies one
 * connection.  Shared by the plugin (checks, the session registry) and the
 * client helper (which connects). */

void
gst_spice_session_params_clear (GstSpiceSessionParams * params)
{
  g_clear_pointer (&params->uri, g_free);
  g_clear_pointer (&params->password, g_free);
  g_clear_pointer (&params->ca_file, g_free);
  g_clear_pointer (&params->cert_subject, g_free);
}

gchar *
gst_spice_uri_strip_password (const gchar * uri, gchar ** password)
{
  const gchar *q;
  gchar **params;
  GString *out;
  guint i, kept = 0;

  if (password)
    *password = NULL;
  if (!uri)
    return NULL;
  q = strchr (uri, '?');
  if (!q)
    return g_strdup (uri);
  out = g_string_new_len (uri, q - uri);
  params = g_strsplit (q + 1, "&", -1);
  for (i = 0; params[i]; i++) {
    if (g_str_has_prefix (params[i], "password=") ||
        strcmp (params[i], "password") == 0) {
      if (password) {
        const gchar *v = strchr (params[i], '=');
        g_free (*password);
        *password = v ? g_uri_unescape_string (v + 1, NULL) : NULL;
      }
      continue;
    }
    g_string_append_c (out, kept++ ? '&' : '?');
    g_string_append (out, params[i]);
  }
  g_strfreev (params);
  return g_string_free (out, FALSE);
}

void
gst_spice_uri_clear (GstSpiceUri * p)
{
  g_free (p->host);
  g_free (p->path);
  g_free (p->password);
}

gboolean
gst_spice_uri_parse (const gchar * uri, GstSpiceUri * out, GError ** error)
{
  GUri *guri;
  const gchar *scheme, *query;
  GError *err = NULL;
  /* errors quote the URI without its password */
  g_autofree gchar *shown = gst_spice_uri_strip_password (uri, NULL);

  memset (out, 0, sizeof (*out));
  if (uri == NULL || *uri == '\0') {
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
        "No URI set");
    return FALSE;
  }
  guri = g_uri_parse (uri, G_URI_FLAGS_NONE, &err);
  if (!guri) {
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
        "Invalid SPICE URI '%s': %s", shown, err->message);
    g_clear_error (&err);
    return FALSE;
  }

  scheme = g_uri_get_scheme (guri);
  if (g_ascii_strcasecmp (scheme, "spice") == 0)
    out->transport = GST_SPICE_TRANSPORT_TCP;
  else if (g_ascii_strcasecmp (scheme, "spice+tls") == 0)
    out->transport = GST_SPICE_TRANSPORT_TLS;
  else if (g_ascii_strcasecmp (scheme, "spice+unix") == 0)
    out->transport = GST_SPICE_TRANSPORT_UNIX;
  else
    goto bad_scheme;

  if (out->transport == GST_SPICE_TRANSPORT_UNIX) {
    const gchar *path = g_uri_get_path (guri);
    const gchar *host = g_uri_get_host (guri);
    if (host && *host)
      goto unix_host;
    if (!path || path[0] != '/' || path[1] == '\0')
      goto unix_path;
    out->path = g_strdup (path);
  } else {
    const gchar *host = g_uri_get_host (guri);
    const gchar *path = g_uri_get_path (guri);
    if (!host || !*host)
      goto no_host;
    if (path && *path && strcmp (path, "/") != 0)
      goto tcp_path;
    out->host = g_strdup (host);
    out->port = g_uri_get_port (guri);
    if (out->port <= 0 || out->port > 65535)
      goto no_port;
  }

  query = g_uri_get_query (guri);
  if (query && *query) {
    GHashTable *q = g_uri_parse_params (query, -1, "&", G_URI_PARAMS_NONE,
        &err);
    GHashTableIter it;
    gpointer k, v;

    if (!q)
      goto bad_query;
    g_hash_table_iter_init (&it, q);
    while (g_hash_table_iter_next (&it, &k, &v)) {
      if (strcmp (k, "password") == 0) {
        g_free (out->password);
        out->password = g_strdup (v);
      } else {
        g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
            "Invalid SPICE URI '%s': unknown parameter '%s' (only "
            "'password' is understood)", shown, (const gchar *) k);
        g_hash_table_unref (q);
        goto fail;
      }
    }
    g_hash_table_unref (q);
  }
  g_uri_unref (guri);
  return TRUE;

  /* ERRORS */
bad_scheme:
  {
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
        "Invalid SPICE URI '%s': unknown scheme '%s' (expected spice://, "
        "spice+tls:// or spice+unix://)", shown, scheme);
    goto fail;
  }
unix_host:
  {
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
        "Invalid SPICE URI '%s': a unix socket URI has no host, write "
        "spice+unix:///absolute/path", shown);
    goto fail;
  }
unix_path:
  {
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
        "Invalid SPICE URI '%s': expected an absolute socket path, as in "
        "spice+unix:///run/vm/spice.sock", shown);
    goto fail;
  }
no_host:
  {
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
        "Invalid SPICE URI '%s': no host", shown);
    goto fail;
  }
tcp_path:
  {
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
        "Invalid SPICE URI '%s': unexpected path (expected "
        "spice://HOST:PORT)", shown);
    goto fail;
  }
no_port:
  {
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
        "Invalid SPICE URI '%s': no valid port (expected spice://HOST:PORT)",
        shown);
    goto fail;
  }
bad_query:
  {
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
        "Invalid SPICE URI '%s': %s", shown, err->message);
    g_clear_error (&err);
    goto fail;
  }
fail:
  {
    g_uri_unref (guri);
    gst_spice_uri_clear (out);
    return FALSE;
  }
}

/**
 * gst_spice_session_params_parse:
 *
 * Checks @uri and fills @params->uri with it; a password given in the URI
 * query goes to @params->password unless one is set already.
 */
gboolean
gst_spice_session_params_parse (const gchar * uri,
    GstSpiceSessionParams * params, GError ** error)
{
  GstSpiceUri p;

  if (!gst_spice_uri_parse (uri, &p, error))
    return FALSE;
  g_free (params->uri);
  params->uri = g_strdup (uri);
  if (p.password && !params->password)
    params->password = g_strdup (p.password);
  gst_spice_uri_clear (&p);
  return TRUE;
}

gchar *
gst_spice_uri_describe (const GstSpiceUri * p)
{
  switch (p->transport) {
    case GST_SPICE_TRANSPORT_UNIX:
      return g_strdup_printf ("unix socket %s", p->path);
    case GST_SPICE_TRANSPORT_TLS:
      return g_strdup_printf (strchr (p->host, ':') ? "[%s]:%d (TLS)" :
          "%s:%d (TLS)", p->host, p->port);
    case GST_SPICE_TRANSPORT_TCP:
    default:
      return g_strdup_printf (strchr (p->host, ':') ? "[%s]:%d" : "%s:%d",
          p->host, p->port);
  }
}

gchar *
gst_spice_uri_make_key (const GstSpiceSessionParams * params,
    const GstSpiceUri * p)
{
  const gchar *kind = p->transport == GST_SPICE_TRANSPORT_UNIX ? "unix" :
      p->transport == GST_SPICE_TRANSPORT_TLS ? "tls" : "tcp";
  gchar *host = p->host ? g_ascii_strdown (p->host, -1) : NULL;
  gchar *key;

  /* credentials are part of the key: a different password is a different
   * session (and the server will keep only one of them) */
  key = g_strdup_printf ("%s|%s|%d|%s|%s|%s|%s", kind,
      host ? host : "", p->port, p->path ? p->path : "",
      params->password ? params->password : "",
      params->ca_file ? params->ca_file : "",
      params->cert_subject ? params->cert_subject : "");
  g_free (host);
  return key;
}

