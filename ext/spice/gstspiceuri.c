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
  /* the parser takes ';' between parameters too (as remote-viewer does) */
  params = g_strsplit_set (q + 1, "&;", -1);
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

/* a port number as URIs write it: decimal, 1..65535; 0 otherwise */
static gint
parse_port (const gchar * text)
{
  guint64 v;
  gchar *end;

  if (!g_ascii_isdigit (text[0]))
    return 0;
  v = g_ascii_strtoull (text, &end, 10);
  if (*end != '\0' || v == 0 || v > 65535)
    return 0;
  return (gint) v;
}

/* *INDENT-OFF* */
static void set_uri_error (GError ** error, const gchar * shown,
    const gchar * fmt, ...) G_GNUC_PRINTF (3, 4);
/* *INDENT-ON* */

static void
set_uri_error (GError ** error, const gchar * shown, const gchar * fmt, ...)
{
  va_list ap;
  gchar *why;

  va_start (ap, fmt);
  why = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
      "Invalid SPICE URI '%s': %s", shown, why);
  g_free (why);
}

/* The query of a SPICE URI: what remote-viewer (spice-client-glib's
 * spice_session_set_uri) takes, pairs separated by '&' or ';': password,
 * and for spice:// port and tls-port, each given once. */
static gboolean
parse_query (const gchar * query, const gchar * shown, GstSpiceUri * out,
    gint * port, gint * tls_port, GError ** error)
{
  GUriParamsIter it;
  gchar *key = NULL, *value = NULL;
  GError *err = NULL;
  gboolean ok = TRUE;

  g_uri_params_iter_init (&it, query, -1, "&;", G_URI_PARAMS_NONE);
  while (ok && g_uri_params_iter_next (&it, &key, &value, &err)) {
    if (strcmp (key, "password") == 0) {
      g_free (out->password);
      out->password = g_strdup (value);
    } else if (strcmp (key, "port") == 0 || strcmp (key, "tls-port") == 0) {
      gint *target = key[0] == 'p' ? port : tls_port;

      if (out->transport != GST_SPICE_TRANSPORT_TCP) {
        set_uri_error (error, shown, "'%s' is a parameter of spice:// URIs "
            "(write spice+tls://HOST:PORT, spice+unix:///PATH)", key);
        ok = FALSE;
      } else if (*target != 0) {
        set_uri_error (error, shown, "%s given twice", key[0] == 'p' ?
            "the port is" : "'tls-port' is");
        ok = FALSE;
      } else if ((*target = parse_port (value)) == 0) {
        set_uri_error (error, shown, "'%s=%s' is not a port (1 to 65535)",
            key, value);
        ok = FALSE;
      }
    } else {
      set_uri_error (error, shown, "unknown parameter '%s' (understood: "
          "'password'%s)", key, out->transport == GST_SPICE_TRANSPORT_TCP ?
          ", 'port', 'tls-port'" : "");
      ok = FALSE;
    }
    g_clear_pointer (&key, g_free);
    g_clear_pointer (&value, g_free);
  }
  if (err) {
    set_uri_error (error, shown, "%s", err->message);
    g_clear_error (&err);
    ok = FALSE;
  }
  return ok;
}

gboolean
gst_spice_uri_parse (const gchar * uri, GstSpiceUri * out, GError ** error)
{
  GUri *guri;
  const gchar *scheme, *query;
  gint port = 0, tls_port = 0;
  GError *err = NULL;
  /* errors quote the URI without its password */
  g_autofree gchar *shown = gst_spice_uri_strip_password (uri, NULL);

  memset (out, 0, sizeof (*out));
  if (uri == NULL || *uri == '\0') {
    g_set_error (error, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_SETTINGS,
        "No URI set");
    return FALSE;
  }
  /* the query stays encoded until it is split: a %26 in a password is
   * not a separator */
  guri = g_uri_parse (uri, G_URI_FLAGS_ENCODED_QUERY, &err);
  if (!guri) {
    set_uri_error (error, shown, "%s", err->message);
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
    /* GUri takes IPv6 literals out of their brackets */
    const gchar *host = g_uri_get_host (guri);
    const gchar *path = g_uri_get_path (guri);
    if (!host || !*host)
      goto no_host;
    if (path && *path && strcmp (path, "/") != 0)
      goto tcp_path;
    out->host = g_strdup (host);
    port = MAX (g_uri_get_port (guri), 0);
  }

  query = g_uri_get_query (guri);
  if (query && *query &&
      !parse_query (query, shown, out, &port, &tls_port, error))
    goto fail;

  if (out->transport != GST_SPICE_TRANSPORT_UNIX) {
    if (port > 0) {
      out->port = port;
      out->tls_port = tls_port;
    } else if (tls_port > 0) {
      /* spice://HOST?tls-port=PORT is spice+tls://HOST:PORT */
      out->transport = GST_SPICE_TRANSPORT_TLS;
      out->port = tls_port;
    } else {
      goto no_port;
    }
  }
  g_uri_unref (guri);
  return TRUE;

  /* ERRORS */
bad_scheme:
  {
    set_uri_error (error, shown, "unknown scheme '%s' (expected spice://, "
        "spice+tls:// or spice+unix://)", scheme);
    goto fail;
  }
unix_host:
  {
    set_uri_error (error, shown, "a unix socket URI has no host, write "
        "spice+unix:///absolute/path");
    goto fail;
  }
unix_path:
  {
    set_uri_error (error, shown, "expected an absolute socket path, as in "
        "spice+unix:///run/vm/spice.sock");
    goto fail;
  }
no_host:
  {
    set_uri_error (error, shown, "no host");
    goto fail;
  }
tcp_path:
  {
    set_uri_error (error, shown, "unexpected path (expected "
        "spice://HOST:PORT)");
    goto fail;
  }
no_port:
  {
    set_uri_error (error, shown, out->transport == GST_SPICE_TRANSPORT_TLS ?
        "no valid port (expected spice+tls://HOST:PORT)" :
        "no valid port (expected spice://HOST:PORT, spice://HOST?port=PORT "
        "or spice://HOST?tls-port=PORT)");
    goto fail;
  }
fail:
  {
    g_uri_unref (guri);
    gst_spice_uri_clear (out);
    memset (out, 0, sizeof (*out));
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
