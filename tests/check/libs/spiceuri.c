/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 *
 * The SPICE URI parser (ext/spice/gstspiceuri.c), shared by the plugin and
 * the client helper: every form it takes, what it makes of each, and the
 * forms it refuses.  elements/spicesrc.c connects with them
 * (test_uri_forms).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <gst/check/gstcheck.h>

#include "gstspiceuri.h"

typedef struct
{
  const gchar *uri;
  GstSpiceTransport transport;
  const gchar *host;            /* or the unix path */
  gint port;
  gint tls_port;
  const gchar *password;
  const gchar *described;
} Good;

/* *INDENT-OFF* */
static const Good good[] = {
  /* the forms of before */
  {"spice://127.0.0.1:5900", GST_SPICE_TRANSPORT_TCP, "127.0.0.1", 5900, 0,
   NULL, "127.0.0.1:5900"},
  {"spice://vm.example:5900/", GST_SPICE_TRANSPORT_TCP, "vm.example", 5900, 0,
   NULL, "vm.example:5900"},
  {"spice+tls://127.0.0.1:5901", GST_SPICE_TRANSPORT_TLS, "127.0.0.1", 5901,
   0, NULL, "127.0.0.1:5901 (TLS)"},
  {"spice+unix:///run/vm/spice.sock", GST_SPICE_TRANSPORT_UNIX,
   "/run/vm/spice.sock", 0, 0, NULL, "unix socket /run/vm/spice.sock"},
  {"spice://127.0.0.1:5900?password=s%26cret", GST_SPICE_TRANSPORT_TCP,
   "127.0.0.1", 5900, 0, "s&cret", "127.0.0.1:5900"},
  {"spice+unix:///run/vm/spice.sock?password=pw", GST_SPICE_TRANSPORT_UNIX,
   "/run/vm/spice.sock", 0, 0, "pw", "unix socket /run/vm/spice.sock"},
  /* remote-viewer's and virsh domdisplay's */
  {"spice://127.0.0.1?port=5900", GST_SPICE_TRANSPORT_TCP, "127.0.0.1", 5900,
   0, NULL, "127.0.0.1:5900"},
  {"spice://127.0.0.1?tls-port=5901", GST_SPICE_TRANSPORT_TLS, "127.0.0.1",
   5901, 0, NULL, "127.0.0.1:5901 (TLS)"},
  {"spice://127.0.0.1?port=5900&tls-port=5901", GST_SPICE_TRANSPORT_TCP,
   "127.0.0.1", 5900, 5901, NULL, "127.0.0.1:5900"},
  {"spice://127.0.0.1?tls-port=5901;port=5900", GST_SPICE_TRANSPORT_TCP,
   "127.0.0.1", 5900, 5901, NULL, "127.0.0.1:5900"},
  {"spice://127.0.0.1:5900?tls-port=5901", GST_SPICE_TRANSPORT_TCP,
   "127.0.0.1", 5900, 5901, NULL, "127.0.0.1:5900"},
  {"spice://vm.example/?port=5900&password=pw", GST_SPICE_TRANSPORT_TCP,
   "vm.example", 5900, 0, "pw", "vm.example:5900"},
  /* IPv6 literals */
  {"spice://[::1]:5900", GST_SPICE_TRANSPORT_TCP, "::1", 5900, 0, NULL,
   "[::1]:5900"},
  {"spice://[::1]?port=5900", GST_SPICE_TRANSPORT_TCP, "::1", 5900, 0, NULL,
   "[::1]:5900"},
  {"spice://[fd00::2]?tls-port=5901", GST_SPICE_TRANSPORT_TLS, "fd00::2",
   5901, 0, NULL, "[fd00::2]:5901 (TLS)"},
  {"spice+tls://[::1]:5901", GST_SPICE_TRANSPORT_TLS, "::1", 5901, 0, NULL,
   "[::1]:5901 (TLS)"},
};

static const gchar *bad[][2] = {
  {"", "No URI"},
  {"http://127.0.0.1:5900", "unknown scheme"},
  {"spice://127.0.0.1", "no valid port"},
  {"spice://127.0.0.1/", "no valid port"},
  {"spice://:5900", "no host"},
  {"spice://127.0.0.1:99999", "Invalid SPICE URI"},
  {"spice://127.0.0.1:0", "no valid port"},
  {"spice://127.0.0.1:5900/path", "unexpected path"},
  {"spice+unix://relative/path", "no host"},
  {"spice+unix:///", "absolute socket path"},
  {"spice+tls://127.0.0.1", "spice+tls://HOST:PORT"},
  {"spice://127.0.0.1?port=", "not a port"},
  {"spice://127.0.0.1?port=abc", "not a port"},
  {"spice://127.0.0.1?port=-1", "not a port"},
  {"spice://127.0.0.1?port=65536", "not a port"},
  {"spice://127.0.0.1?tls-port=0", "not a port"},
  {"spice://127.0.0.1?port=5900x", "not a port"},
  {"spice://127.0.0.1:5900?port=5900", "port is given twice"},
  {"spice://127.0.0.1?port=1&port=2", "port is given twice"},
  {"spice://127.0.0.1?tls-port=1&tls-port=2", "'tls-port' is given twice"},
  {"spice+tls://127.0.0.1:5901?port=5900", "'port' is a parameter of "
   "spice:// URIs"},
  {"spice+tls://127.0.0.1:5901?tls-port=5902", "'tls-port' is a parameter"},
  {"spice+unix:///run/vm/spice.sock?port=5900", "'port' is a parameter"},
  {"spice://127.0.0.1:5900?tlsport=5901", "unknown parameter 'tlsport'"},
  {"spice://127.0.0.1?port=5900&password=secret&x=1",
   "unknown parameter 'x'"},
  {"spice://[::1:5900", "Invalid SPICE URI"},
};
/* *INDENT-ON* */

GST_START_TEST (test_uri_good)
{
  const Good *g = &good[__i__];
  GstSpiceUri p;
  GError *err = NULL;
  gchar *described;

  fail_unless (gst_spice_uri_parse (g->uri, &p, &err), "%s: %s", g->uri,
      err ? err->message : "");
  fail_unless_equals_int (p.transport, g->transport);
  if (g->transport == GST_SPICE_TRANSPORT_UNIX) {
    fail_unless_equals_string (p.path, g->host);
    fail_unless (p.host == NULL);
  } else {
    fail_unless_equals_string (p.host, g->host);
    fail_unless (p.path == NULL);
  }
  fail_unless_equals_int (p.port, g->port);
  fail_unless_equals_int (p.tls_port, g->tls_port);
  fail_unless_equals_string (p.password, g->password);
  described = gst_spice_uri_describe (&p);
  fail_unless_equals_string (described, g->described);
  g_free (described);
  gst_spice_uri_clear (&p);
}

GST_END_TEST;

GST_START_TEST (test_uri_bad)
{
  const gchar *uri = bad[__i__][0], *needle = bad[__i__][1];
  GstSpiceUri p;
  GError *err = NULL;

  fail_if (gst_spice_uri_parse (uri, &p, &err), "'%s' was taken", uri);
  fail_unless (g_error_matches (err, GST_RESOURCE_ERROR,
          GST_RESOURCE_ERROR_SETTINGS));
  fail_unless (strstr (err->message, needle) != NULL,
      "'%s': '%s' does not say '%s'", uri, err->message, needle);
  fail_unless (p.host == NULL && p.path == NULL && p.password == NULL);
  g_error_free (err);
}

GST_END_TEST;

/* The forms that name the same server and port make one key (one shared
 * connection); the password never shows (in errors, in the uri property,
 * whichever separator comes before it). */
GST_START_TEST (test_uri_same_connection)
{
  const gchar *same[][2] = {
    {"spice://127.0.0.1:5900", "spice://127.0.0.1?port=5900"},
    {"spice://127.0.0.1:5900", "spice://127.0.0.1:5900?tls-port=5901"},
    {"spice+tls://127.0.0.1:5901", "spice://127.0.0.1?tls-port=5901"},
    {"spice://[::1]:5900", "spice://[::1]?port=5900"},
  };
  GstSpiceSessionParams params = { NULL, };
  GError *err = NULL;
  gchar *shown, *password;
  guint i;

  for (i = 0; i < G_N_ELEMENTS (same); i++) {
    GstSpiceUri a, b;
    gchar *ka, *kb;

    fail_unless (gst_spice_uri_parse (same[i][0], &a, NULL));
    fail_unless (gst_spice_uri_parse (same[i][1], &b, NULL));
    ka = gst_spice_uri_make_key (&params, &a);
    kb = gst_spice_uri_make_key (&params, &b);
    fail_unless_equals_string (ka, kb);
    g_free (ka);
    g_free (kb);
    gst_spice_uri_clear (&a);
    gst_spice_uri_clear (&b);
  }

  shown = gst_spice_uri_strip_password ("spice://h?port=1;password=a%3Bb;"
      "tls-port=2", &password);
  fail_unless_equals_string (shown, "spice://h?port=1&tls-port=2");
  fail_unless_equals_string (password, "a;b");
  g_free (shown);
  g_free (password);

  fail_if (gst_spice_session_params_parse
      ("spice://127.0.0.1?password=hush&port=x", &params, &err));
  fail_unless (strstr (err->message, "hush") == NULL, "%s", err->message);
  fail_unless (strstr (err->message, "'port=x' is not a port") != NULL,
      "%s", err->message);
  g_clear_error (&err);
  fail_unless (gst_spice_session_params_parse
      ("spice://127.0.0.1?password=hush&port=5900", &params, &err));
  fail_unless_equals_string (params.password, "hush");
  gst_spice_session_params_clear (&params);
}

GST_END_TEST;

static Suite *
spiceuri_suite (void)
{
  Suite *s = suite_create ("spiceuri");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_loop_test (tc, test_uri_good, 0, G_N_ELEMENTS (good));
  tcase_add_loop_test (tc, test_uri_bad, 0, G_N_ELEMENTS (bad));
  tcase_add_test (tc, test_uri_same_connection);
  return s;
}

GST_CHECK_MAIN (spiceuri);
