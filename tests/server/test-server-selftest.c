/* Self-test of spice-test-server and testserver.c: connect with
 * spice-client-glib and check that the client's primary surface holds
 * exactly the frames of test-pattern.h. */
#include <spice-client.h>

#include "testserver.h"
#include "test-pattern.h"

#define TIMEOUT_MS 10000
#define QUIET_MS 300

typedef struct
{
  TestServer *server;
  SpiceSession *session;
  gboolean disconnected;
  SpiceChannelEvent main_event;
  /* primary surface, owned by the display channel */
  guint8 *data;
  gint width, height, stride, format;
  guint n_creates;
  guint n_invalidates;
  gint64 last_invalidate;       /* monotonic us */
  gboolean want_cursor;
  SpiceCursorShape *cursor;
} Client;

static void
on_main_event (SpiceChannel * channel, SpiceChannelEvent event, Client * c)
{
  c->main_event = event;
  if (event != SPICE_CHANNEL_OPENED)
    spice_session_disconnect (c->session);
}

static void
on_primary_create (SpiceChannel * channel, gint format, gint width,
    gint height, gint stride, gint shmid, gpointer imgdata, Client * c)
{
  c->data = imgdata;
  c->format = format;
  c->width = width;
  c->height = height;
  c->stride = stride;
  c->n_creates++;
}

static void
on_primary_destroy (SpiceChannel * channel, Client * c)
{
  c->data = NULL;
}

static void
on_invalidate (SpiceChannel * channel, gint x, gint y, gint w, gint h,
    Client * c)
{
  c->n_invalidates++;
  c->last_invalidate = g_get_monotonic_time ();
}

static void
on_cursor (SpiceChannel * channel, GParamSpec * pspec, Client * c)
{
  if (c->cursor)
    g_boxed_free (SPICE_TYPE_CURSOR_SHAPE, c->cursor);
  g_object_get (channel, "cursor", &c->cursor, NULL);
}

static void
on_channel_new (SpiceSession * session, SpiceChannel * channel, Client * c)
{
  if (SPICE_IS_MAIN_CHANNEL (channel)) {
    g_signal_connect (channel, "channel-event", G_CALLBACK (on_main_event), c);
  } else if (SPICE_IS_DISPLAY_CHANNEL (channel)) {
    g_signal_connect (channel, "display-primary-create",
        G_CALLBACK (on_primary_create), c);
    g_signal_connect (channel, "display-primary-destroy",
        G_CALLBACK (on_primary_destroy), c);
    g_signal_connect (channel, "display-invalidate",
        G_CALLBACK (on_invalidate), c);
    /* non-main channels are not connected by the library itself */
    spice_channel_connect (channel);
  } else if (SPICE_IS_CURSOR_CHANNEL (channel) && c->want_cursor) {
    g_signal_connect (channel, "notify::cursor", G_CALLBACK (on_cursor), c);
    spice_channel_connect (channel);
  }
}

static void
on_disconnected (SpiceSession * session, Client * c)
{
  c->disconnected = TRUE;
}

typedef gboolean (*Predicate) (Client * c, gpointer data);

static gboolean
tick_cb (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

/* Iterates the default context (spice-client-glib's) until pred holds or
 * timeout_ms passes. */
static gboolean
run_until (Client * c, Predicate pred, gpointer data, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + timeout_ms * 1000;
  /* wakes the blocking iteration now and then to look at the clock */
  guint tick = g_timeout_add (10, tick_cb, NULL);
  gboolean ok;

  while (!(ok = pred (c, data)) && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (tick);
  return ok;
}

static gboolean
has_invalidates (Client * c, gpointer data)
{
  return c->data && c->n_invalidates >= GPOINTER_TO_UINT (data);
}

static gboolean
is_quiet (Client * c, gpointer data)
{
  return g_get_monotonic_time () - c->last_invalidate > QUIET_MS * 1000;
}

static gboolean
main_event_is_error (Client * c, gpointer data)
{
  return c->main_event >= SPICE_CHANNEL_CLOSED;
}

static gboolean
is_disconnected (Client * c, gpointer data)
{
  return c->disconnected;
}

static gboolean
has_cursor (Client * c, gpointer data)
{
  return c->cursor != NULL;
}

static gboolean
has_creates (Client * c, gpointer data)
{
  return c->data && c->n_creates >= GPOINTER_TO_UINT (data);
}

static Client *
client_connect (TestServerTransport transport, const gchar * const *args,
    const gchar * password)
{
  Client *c = g_new0 (Client, 1);

  c->want_cursor = args && g_strv_contains (args, "--cursor");
  c->server = test_server_start (transport, args);
  c->session = spice_session_new ();
  g_object_set (c->session, "uri", test_server_get_uri (c->server),
      "enable-audio", FALSE, "enable-usbredir", FALSE,
      "enable-smartcard", FALSE, NULL);
  if (password)
    g_object_set (c->session, "password", password, NULL);
  g_signal_connect (c->session, "channel-new", G_CALLBACK (on_channel_new), c);
  g_signal_connect (c->session, "disconnected",
      G_CALLBACK (on_disconnected), c);
  g_assert_true (spice_session_connect (c->session));
  return c;
}

static void
client_free (Client * c)
{
  if (!c->disconnected) {
    spice_session_disconnect (c->session);
    run_until (c, is_disconnected, NULL, TIMEOUT_MS);
  }
  g_object_unref (c->session);
  test_server_stop (c->server);
  if (c->cursor)
    g_boxed_free (SPICE_TYPE_CURSOR_SHAPE, c->cursor);
  g_free (c);
}

/* Stops the drawing, waits for the last frame to arrive, then compares the
 * whole surface with what test-pattern.h says it must hold. */
static void
check_frame (Client * c, guint dw, guint dh)
{
  guint32 frame = 0, x, y;
  guint64 sent = 0;
  guint8 *expected;
  gchar *reply, *line;

  reply = test_server_command (c->server, "stop", TIMEOUT_MS);
  g_assert_nonnull (reply);
  g_free (reply);
  g_assert_true (run_until (c, is_quiet, NULL, TIMEOUT_MS));

  g_assert_cmpint (c->format, ==, SPICE_SURFACE_FMT_32_xRGB);
  g_assert_true (tp_read_strip (c->data, c->stride, &frame, &sent));
  g_assert_cmpuint (sent, <=, (guint64) g_get_monotonic_time ());
  reply = test_server_command (c->server, "frame", TIMEOUT_MS);
  line = g_strdup_printf ("OK frame %u", frame);
  g_assert_cmpstr (reply, ==, line);
  g_free (line);
  g_free (reply);

  expected = g_malloc ((gsize) c->stride * c->height);
  tp_render_expected (expected, c->stride, frame, sent, c->width, c->height,
      dw, dh);
  for (y = 0; y < (guint32) c->height; y++) {
    const guint32 *got = (const guint32 *) (c->data + (gsize) y * c->stride);
    const guint32 *want = (const guint32 *) (expected + (gsize) y * c->stride);

    for (x = 0; x < (guint32) c->width; x++) {
      if (tp_in_strip (x, y))
        continue;
      /* xRGB: the x byte is undefined */
      if ((got[x] & 0xffffff) != (want[x] & 0xffffff))
        g_error ("frame %u: pixel (%u, %u) is %06x, expected %06x", frame,
            x, y, got[x] & 0xffffff, want[x] & 0xffffff);
    }
  }
  g_free (expected);
  g_test_message ("frame %u exact (%dx%d, damage %ux%u)", frame, c->width,
      c->height, dw, dh);
}

static void
run_content (TestServerTransport transport, const gchar * damage, guint dw,
    guint dh)
{
  const gchar *args[] = { "--size", "320x240", "--fps", "30",
    damage ? "--damage" : NULL, damage, NULL
  };
  Client *c = client_connect (transport, args, NULL);
  gchar *event;

  /* partial frames take two draws each */
  g_assert_true (run_until (c, has_invalidates, GUINT_TO_POINTER (dw ? 30 :
              10), TIMEOUT_MS));
  g_assert_cmpint (c->width, ==, 320);
  g_assert_cmpint (c->height, ==, 240);
  event = test_server_wait_event (c->server, "CLIENT connected", TIMEOUT_MS);
  g_assert_nonnull (event);
  g_free (event);
  event = test_server_wait_event (c->server, "DISPLAY connected", TIMEOUT_MS);
  g_assert_nonnull (event);
  g_free (event);
  check_frame (c, dw, dh);
  client_free (c);
}

static void
test_tcp_full (void)
{
  run_content (TEST_SERVER_TCP, NULL, 0, 0);
}

static void
test_tcp_damage (void)
{
  run_content (TEST_SERVER_TCP, "64x64", 64, 64);
}

static void
test_unix_full (void)
{
  run_content (TEST_SERVER_UNIX, NULL, 0, 0);
}

static void
test_wrong_password (void)
{
  const gchar *args[] = { "--password", "secret", NULL };
  Client *c = client_connect (TEST_SERVER_TCP, args, "wrong");

  g_assert_true (run_until (c, main_event_is_error, NULL, TIMEOUT_MS));
  g_assert_cmpint (c->main_event, ==, SPICE_CHANNEL_ERROR_AUTH);
  client_free (c);

  c = client_connect (TEST_SERVER_TCP, args, "secret");
  g_assert_true (run_until (c, has_invalidates, GUINT_TO_POINTER (1),
          TIMEOUT_MS));
  client_free (c);
}

static void
test_resize (void)
{
  const gchar *args[] = { "--size", "320x240", NULL };
  Client *c = client_connect (TEST_SERVER_TCP, args, NULL);
  gchar *reply;

  g_assert_true (run_until (c, has_invalidates, GUINT_TO_POINTER (2),
          TIMEOUT_MS));
  reply = test_server_command (c->server, "resize 200 150", TIMEOUT_MS);
  g_assert_cmpstr (reply, ==, "OK resize 200 150");
  g_free (reply);
  g_assert_true (run_until (c, has_creates, GUINT_TO_POINTER (2),
          TIMEOUT_MS));
  g_assert_cmpint (c->width, ==, 200);
  g_assert_cmpint (c->height, ==, 150);
  g_assert_true (run_until (c, has_invalidates,
          GUINT_TO_POINTER (c->n_invalidates + 5), TIMEOUT_MS));
  check_frame (c, 0, 0);
  client_free (c);
}

static void
test_drop (void)
{
  Client *c = client_connect (TEST_SERVER_TCP, NULL, NULL);
  gchar *reply, *event;

  g_assert_true (run_until (c, has_invalidates, GUINT_TO_POINTER (1),
          TIMEOUT_MS));
  reply = test_server_command (c->server, "drop", TIMEOUT_MS);
  g_assert_cmpstr (reply, ==, "OK drop");
  g_free (reply);
  g_assert_true (run_until (c, main_event_is_error, NULL, TIMEOUT_MS));
  g_assert_true (run_until (c, is_disconnected, NULL, TIMEOUT_MS));
  event = test_server_wait_event (c->server, "CLIENT disconnected",
      TIMEOUT_MS);
  g_assert_nonnull (event);
  g_free (event);
  g_assert_null (test_server_command (c->server, "nonsense", TIMEOUT_MS));
  client_free (c);
}

static void
test_cursor (void)
{
  const gchar *args[] = { "--cursor", NULL };
  Client *c = client_connect (TEST_SERVER_TCP, args, NULL);
  const guint8 *rgba;

  g_assert_true (run_until (c, has_cursor, NULL, TIMEOUT_MS));
  g_assert_cmpint (c->cursor->width, ==, 16);
  g_assert_cmpint (c->cursor->height, ==, 16);
  /* left half opaque red, right half half-transparent blue (RGBA bytes) */
  rgba = c->cursor->data;
  g_assert_cmpuint (rgba[0], ==, 0xff);
  g_assert_cmpuint (rgba[3], ==, 0xff);
  g_assert_cmpuint (rgba[15 * 4 + 2], ==, 0xff);
  g_assert_cmpuint (rgba[15 * 4 + 3], ==, 0x80);
  client_free (c);
}

/* spice-client-glib warns (or goes critical) when a session is torn down
 * while a channel is still linking ("incomplete link header"); that is the
 * client library talking about our own disconnect, not a server fault. */
static gboolean
ignore_spice_client_warnings (const gchar * log_domain,
    GLogLevelFlags log_level, const gchar * message, gpointer data)
{
  return g_strcmp0 (log_domain, "GSpice") != 0;
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_log_set_fatal_handler (ignore_spice_client_warnings, NULL);
  g_test_add_func ("/server/tcp-full", test_tcp_full);
  g_test_add_func ("/server/tcp-damage", test_tcp_damage);
  g_test_add_func ("/server/unix-full", test_unix_full);
  g_test_add_func ("/server/wrong-password", test_wrong_password);
  g_test_add_func ("/server/resize", test_resize);
  g_test_add_func ("/server/drop", test_drop);
  g_test_add_func ("/server/cursor", test_cursor);
  return g_test_run ();
}
