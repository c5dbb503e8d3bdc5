/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
/* What every SPICE element does the same way: the connection properties,
 * the URI check at NULL -> READY, acquiring the shared session, and the
 * error messages about the connection. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>

#include "gstspiceconnection.h"

void
gst_spice_connection_install_properties (GObjectClass * gobject_class)
{
  g_object_class_install_property (gobject_class, GST_SPICE_PROP_URI,
      g_param_spec_string ("uri", "URI",
          "SPICE server to connect to: spice://HOST:PORT, "
          "spice+tls://HOST:TLSPORT or spice+unix:///PATH; remote-viewer's "
          "spice://HOST?port=PORT, ?tls-port=TLSPORT and both (the plain "
          "port then); HOST may be an IPv6 literal in brackets (a password may "
          "be given as ?password=...: it is used, and taken out of what the "
          "property reads back)", NULL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, GST_SPICE_PROP_PASSWORD,
      g_param_spec_string ("password", "Password",
          "SPICE ticket (password) of the server; write-only, never logged",
          NULL, G_PARAM_WRITABLE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, GST_SPICE_PROP_CA_FILE,
      g_param_spec_string ("ca-file", "CA file",
          "PEM file of the certificate authorities that sign the server's "
          "TLS certificate (spice+tls://)", NULL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class,
      GST_SPICE_PROP_CERT_SUBJECT, g_param_spec_string ("cert-subject",
          "Certificate subject",
          "Expected subject of the server's TLS certificate, e.g. "
          "\"O=Example,CN=vmhost\"; when set it is checked instead of the "
          "host name", NULL, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class,
      GST_SPICE_PROP_CONNECT_TIMEOUT, g_param_spec_uint ("connect-timeout",
          "Connect timeout",
          "Milliseconds to wait for the server to answer (and for what the "
          "element needs of it: a display, a port) before failing with an "
          "error", 100, G_MAXINT,
          GST_SPICE_DEFAULT_CONNECT_TIMEOUT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class,
      GST_SPICE_PROP_RECONNECT, g_param_spec_boolean ("reconnect",
          "Reconnect",
          "When the connection is lost, reconnect with back-off (250 ms "
          "doubling to 5 s) instead of failing (sources keep streaming the "
          "last frame and silence meanwhile); element messages "
          "spice-disconnected and spice-reconnected tell the application; "
          "an error still ends it when another client that reconnects too "
          "keeps taking the server (3 times in a row)",
          GST_SPICE_DEFAULT_RECONNECT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  /**
   * GstSpiceSrc:link-timeout:
   *
   * A connection that carries nothing for this long counts as lost (an
   * error, or a reconnection with #GstSpiceSrc:reconnect).  Over TCP the
   * server pings every client at least every 15 s, so values of 16000 and
   * more never cut a live idle link; over a unix socket the server never
   * pings and the link counts as dead only while the server's process is
   * stopped (SIGSTOP, a debugger) or blocked.  Elements sharing a
   * connection use the shortest value set.
   *
   * Since: 0.1
   */
  g_object_class_install_property (gobject_class,
      GST_SPICE_PROP_LINK_TIMEOUT, g_param_spec_uint ("link-timeout",
          "Link timeout",
          "Milliseconds without any data from the server after which the "
          "connection counts as lost (a dead link that never closed: a "
          "wedged server, a dead NAT entry); 0 = never.  Over TCP the "
          "server pings at least every 15 s, so keep it above 16000; over "
          "a unix socket it only counts while the server's process is "
          "stopped", 0, G_MAXINT, GST_SPICE_DEFAULT_LINK_TIMEOUT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
}

void
gst_spice_connection_install_source_properties (GObjectClass * gobject_class)
{
  g_object_class_install_property (gobject_class,
      GST_SPICE_PROP_EOS_ON_DISCONNECT, g_param_spec_boolean
      ("eos-on-disconnect", "EOS on disconnect",
          "When the server goes away after the connection was up (the VM "
          "shut down or was killed) and reconnect is off, end the stream "
          "with EOS instead of an error, so that muxers finalise their "
          "files", FALSE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
}

void
gst_spice_connection_settings_init (GstSpiceConnectionSettings * s)
{
  memset (s, 0, sizeof (*s));
  s->connect_timeout = GST_SPICE_DEFAULT_CONNECT_TIMEOUT;
  s->reconnect = GST_SPICE_DEFAULT_RECONNECT;
  s->link_timeout = GST_SPICE_DEFAULT_LINK_TIMEOUT;
}

void
gst_spice_connection_settings_copy (GstSpiceConnectionSettings * dst,
    const GstSpiceConnectionSettings * src)
{
  dst->uri = g_strdup (src->uri);
  dst->password = g_strdup (src->password);
  dst->uri_password = g_strdup (src->uri_password);
  dst->ca_file = g_strdup (src->ca_file);
  dst->cert_subject = g_strdup (src->cert_subject);
  dst->connect_timeout = src->connect_timeout;
  dst->reconnect = src->reconnect;
  dst->link_timeout = src->link_timeout;
  dst->eos_on_disconnect = src->eos_on_disconnect;
}

static void
clear_secret (gchar ** secret)
{
  if (*secret)
    memset (*secret, 0, strlen (*secret));
  g_clear_pointer (secret, g_free);
}

void
gst_spice_connection_settings_clear (GstSpiceConnectionSettings * s)
{
  g_clear_pointer (&s->uri, g_free);
  clear_secret (&s->password);
  clear_secret (&s->uri_password);
  g_clear_pointer (&s->ca_file, g_free);
  g_clear_pointer (&s->cert_subject, g_free);
}

/* The caller holds the object lock.  FALSE: not a connection property. */
gboolean
gst_spice_connection_set_property (GstSpiceConnectionSettings * s,
    guint prop_id, const GValue * value)
{
  switch (prop_id) {
    case GST_SPICE_PROP_URI:
      /* a password in the URI works, but is never shown again: the
       * property reads back without it (graph dumps, logs, errors) */
      g_free (s->uri);
      clear_secret (&s->uri_password);
      s->uri = gst_spice_uri_strip_password (g_value_get_string (value),
          &s->uri_password);
      return TRUE;
    case GST_SPICE_PROP_PASSWORD:
      clear_secret (&s->password);
      s->password = g_value_dup_string (value);
      return TRUE;
    case GST_SPICE_PROP_CA_FILE:
      g_free (s->ca_file);
      s->ca_file = g_value_dup_string (value);
      return TRUE;
    case GST_SPICE_PROP_CERT_SUBJECT:
      g_free (s->cert_subject);
      s->cert_subject = g_value_dup_string (value);
      return TRUE;
    case GST_SPICE_PROP_CONNECT_TIMEOUT:
      s->connect_timeout = g_value_get_uint (value);
      return TRUE;
    case GST_SPICE_PROP_RECONNECT:
      s->reconnect = g_value_get_boolean (value);
      return TRUE;
    case GST_SPICE_PROP_LINK_TIMEOUT:
      s->link_timeout = g_value_get_uint (value);
      return TRUE;
    case GST_SPICE_PROP_EOS_ON_DISCONNECT:
      s->eos_on_disconnect = g_value_get_boolean (value);
      return TRUE;
    default:
      return FALSE;
  }
}

gboolean
gst_spice_connection_get_property (const GstSpiceConnectionSettings * s,
    guint prop_id, GValue * value)
{
  switch (prop_id) {
    case GST_SPICE_PROP_URI:
      g_value_set_string (value, s->uri);
      return TRUE;
    case GST_SPICE_PROP_CA_FILE:
      g_value_set_string (value, s->ca_file);
      return TRUE;
    case GST_SPICE_PROP_CERT_SUBJECT:
      g_value_set_string (value, s->cert_subject);
      return TRUE;
    case GST_SPICE_PROP_CONNECT_TIMEOUT:
      g_value_set_uint (value, s->connect_timeout);
      return TRUE;
    case GST_SPICE_PROP_RECONNECT:
      g_value_set_boolean (value, s->reconnect);
      return TRUE;
    case GST_SPICE_PROP_LINK_TIMEOUT:
      g_value_set_uint (value, s->link_timeout);
      return TRUE;
    case GST_SPICE_PROP_EOS_ON_DISCONNECT:
      g_value_set_boolean (value, s->eos_on_disconnect);
      return TRUE;
    default:
      return FALSE;
  }
}

/**
 * gst_spice_connection_check_uri:
 *
 * Posts an error and returns FALSE when @uri is missing or malformed.
 */
gboolean
gst_spice_connection_check_uri (GstElement * element, const gchar * uri)
{
  GstSpiceSessionParams params = { NULL, };
  GError *err = NULL;

  if (gst_spice_session_params_parse (uri, &params, &err)) {
    gst_spice_session_params_clear (&params);
    return TRUE;
  }
  if (!uri || !*uri)
    GST_ELEMENT_ERROR (element, RESOURCE, NOT_FOUND,
        ("No SPICE server given: set the uri property (spice://HOST:PORT, "
            "spice+tls://HOST:PORT or spice+unix:///PATH)"), (NULL));
  else
    GST_ELEMENT_ERROR (element, RESOURCE, NOT_FOUND, ("%s", err->message),
        (NULL));
  g_clear_error (&err);
  return FALSE;
}

/**
 * gst_spice_connection_check:
 * @conn: the element's settings, guarded by its object lock
 *
 * The NULL -> READY check of every element: posts an error and returns
 * FALSE when the URI is missing or malformed.
 */
gboolean
gst_spice_connection_check (GstElement * element,
    const GstSpiceConnectionSettings * conn)
{
  gchar *uri;
  gboolean ok;

  GST_OBJECT_LOCK (element);
  uri = g_strdup (conn->uri);
  GST_OBJECT_UNLOCK (element);
  ok = gst_spice_connection_check_uri (element, uri);
  g_free (uri);
  return ok;
}

/**
 * gst_spice_connection_acquire:
 *
 * The shared session for the settings, or NULL after posting an error.
 */
GstSpiceSession *
gst_spice_connection_acquire (GstElement * element,
    const GstSpiceConnectionSettings * s, GstSpiceSessionFeatures features)
{
  GstSpiceSessionParams params = { NULL, };
  GstSpiceSession *session;
  GError *err = NULL;

  params.password = g_strdup (s->password ? s->password : s->uri_password);
  params.ca_file = g_strdup (s->ca_file);
  params.cert_subject = g_strdup (s->cert_subject);
  if (!gst_spice_session_params_parse (s->uri, &params, &err)) {
    GST_ELEMENT_ERROR (element, RESOURCE, NOT_FOUND, ("%s", err->message),
        (NULL));
    g_clear_error (&err);
    gst_spice_session_params_clear (&params);
    return NULL;
  }
  session = gst_spice_session_acquire (&params, s->reconnect,
      s->link_timeout, features);
  gst_spice_session_params_clear (&params);
  GST_INFO_OBJECT (element, "connecting to %s",
      gst_spice_session_get_address (session));
  return session;
}

/* An error the session reported (refused, authentication, TLS, lost). */
void
gst_spice_connection_post_error (GstElement * element, const GError * error,
    const gchar * debug)
{
  gst_element_message_full (element, GST_MESSAGE_ERROR, error->domain,
      error->code, g_strdup (error->message), g_strdup (debug), __FILE__,
      GST_FUNCTION, __LINE__);
}

/**
 * gst_spice_connection_is_flow_error_echo:
 *
 * Whether @message is the "Internal data stream error" GstBaseSrc posts
 * for @element when its create() returned GST_FLOW_ERROR.  Our sources
 * post the real error before they return that, so this one is dropped
 * (their GstElement::post_message): one failure, one error message.
 */
gboolean
gst_spice_connection_is_flow_error_echo (GstElement * element,
    GstMessage * message)
{
  const GstStructure *details = NULL;
  gint flow;

  if (GST_MESSAGE_TYPE (message) != GST_MESSAGE_ERROR ||
      GST_MESSAGE_SRC (message) != GST_OBJECT (element))
    return FALSE;
  gst_message_parse_error_details (message, &details);
  return details && gst_structure_get_int (details, "flow-return", &flow) &&
      flow == GST_FLOW_ERROR;
}

/* connect-timeout expired: @missing says what never came when connected */
void
gst_spice_connection_post_timeout (GstElement * element,
    const gchar * address, gboolean connected, guint timeout_ms,
    const gchar * missing)
{
  if (connected)
    GST_ELEMENT_ERROR (element, RESOURCE, OPEN_READ,
        ("SPICE server %s sent no %s within %u ms", address, missing,
            timeout_ms), ("connected, but no %s", missing));
  else
    GST_ELEMENT_ERROR (element, RESOURCE, OPEN_READ,
        ("Could not connect to SPICE server %s: no answer within %u ms",
            address, timeout_ms), ("connect-timeout expired"));
}

/**
 * gst_spice_running_time_of:
 * @event_us: when it happened (g_get_monotonic_time()), or 0 for now
 *
 * The running time of an event: the element's clock now, minus how long
 * ago the event was, so any pipeline clock works.  GST_CLOCK_TIME_NONE
 * without a clock.
 */
GstClockTime
gst_spice_running_time_of (GstElement * element, gint64 event_us)
{
  GstClock *clock = gst_element_get_clock (element);
  GstClockTime base, now, age;

  if (!clock)
    return GST_CLOCK_TIME_NONE;
  now = gst_clock_get_time (clock);
  gst_object_unref (clock);
  base = gst_element_get_base_time (element);
  age = event_us > 0 ? (g_get_monotonic_time () - event_us) * GST_USECOND : 0;
  if (now < base + age)
    return 0;
  return now - base - age;
}

/* The caller holds the lock that guards @link. */
void
gst_spice_link_state_update (GstSpiceLinkState * link,
    GstSpiceSessionState state, const GError * error, const gchar * debug)
{
  switch (state) {
    case GST_SPICE_SESSION_CONNECTED:
    case GST_SPICE_SESSION_RECONNECTED:
      link->connected = TRUE;
      link->lost = FALSE;
      break;
    case GST_SPICE_SESSION_LOST:
      link->lost = TRUE;
      break;
    case GST_SPICE_SESSION_FAILED:
      if (!link->error && error) {
        link->error = g_error_copy (error);
        link->error_debug = g_strdup (debug);
      }
      break;
  }
}

void
gst_spice_link_state_clear (GstSpiceLinkState * link)
{
  g_clear_error (&link->error);
  g_clear_pointer (&link->error_debug, g_free);
  link->connected = link->lost = FALSE;
}

/* Posts link->error.  Called and returns with @lock held; the message goes
 * out without it. */
void
gst_spice_link_state_post_error (GstElement * element,
    GstSpiceLinkState * link, GMutex * lock)
{
  GError *err = g_error_copy (link->error);
  gchar *debug = g_strdup (link->error_debug);

  g_mutex_unlock (lock);
  gst_spice_connection_post_error (element, err, debug);
  g_error_free (err);
  g_free (debug);
  g_mutex_lock (lock);
}

/**
 * gst_spice_link_state_finish:
 * @lock: held, as for gst_spice_link_state_post_error()
 *
 * What a source returns once its connection failed: GST_FLOW_EOS when the
 * server went away after the connection was up and @eos_on_disconnect is
 * set (the recording ends cleanly), else the error is posted and
 * GST_FLOW_ERROR.
 */
GstFlowReturn
gst_spice_link_state_finish (GstElement * element, GstSpiceLinkState * link,
    GMutex * lock, gboolean eos_on_disconnect)
{
  if (eos_on_disconnect && link->connected &&
      g_error_matches (link->error, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_READ)) {
    GST_INFO_OBJECT (element, "%s (%s): end of stream", link->error->message,
        link->error_debug ? link->error_debug : "");
    return GST_FLOW_EOS;
  }
  gst_spice_link_state_post_error (element, link, lock);
  return GST_FLOW_ERROR;
}
