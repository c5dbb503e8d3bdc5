/* Self-test of spice-test-server and testserver.c: connect with
 * spice-client-glib and check that the client's primary surface holds
 * exactly the frames of test-pattern.h, that playback and record carry
 * the signal of test-audio.h, that the port carries bytes both ways, and
 * that the server's input devices get what the client's inputs channel
 * sends. */
#include <math.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <spice-client.h>

#include "testserver.h"
#include "test-audio.h"
#include "test-pattern.h"

#define TIMEOUT_MS 10000
#define QUIET_MS 300
/* how far a code packet's send time may stray from its place on the
 * timeline (the server sends on a millisecond-granular GLib timer; more
 * only on a loaded machine) */
#define PACING_SLACK_US 100000

/* One playback-data packet as the client got it. */
typedef struct
{
  guint offset;                 /* into Client.pcm, bytes */
  guint frames;
  gboolean code;                /* decodes as a code packet */
  guint64 n_first;
  gint64 send_us;
  gint64 arrival_us;
  guint n_starts;               /* playback-start signals before it */
} Packet;

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

  /* audio, with --audio */
  gboolean want_audio;
  gboolean defer_record;        /* keep the record channel unconnected */
  SpiceChannel *playback;
  SpiceChannel *record;
  guint n_playback_starts, n_playback_stops, n_get_delays;
  gint playback_format, playback_channels, playback_rate;
  guint packets_at_stop;        /* packets seen at the last playback-stop */
  GArray *packets;              /* Packet */
  GByteArray *pcm;              /* every playback-data byte */
  guint n_record_starts, n_record_stops;
  gint record_format, record_channels, record_rate;
  guint64 record_first;         /* timeline frame of the first sent */
  guint64 record_sent;          /* frames handed to send_data */
  guint64 record_target;        /* frames to send in all */
  gint64 record_t0;             /* monotonic us of the first send */

  /* port, with --port-name */
  SpiceChannel *port;
  gchar *port_name;             /* port-name, once known */
  gboolean port_opened;         /* port-opened */
  GArray *port_events;          /* gint, every port-event */
  GByteArray *port_rx;          /* every port-data byte */
  const guint8 *tx;             /* what port_write sends, kept alive */
  gsize tx_len, tx_chunk, tx_off;
  guint tx_window, tx_in_flight;
  guint64 tx_done;              /* bytes of writes that succeeded */
  guint tx_errors;
  gchar *tx_error;              /* the first write error */

  /* inputs */
  SpiceChannel *main;
  SpiceChannel *inputs;
  gboolean inputs_opened;
  gint mouse_mode;              /* the main channel's mouse-mode */
  gchar *event_line;            /* what has_event_line took */

  /* GL scanout, with --gl */
  SpiceChannel *display;
  gboolean gl_no_ack;           /* do not answer gl-draw with draw-done */
  guint n_scanouts;             /* notify::gl-scanout with a scanout */
  SpiceGlScanout scanout;       /* the last one; fd owned by the channel */
  guint n_gl_draws;
  guint n_gl_acks;
  guint n_gl_unacked;           /* gl-draws not answered yet */
  guint n_gl_checked;           /* gl-draws whose whole image was exact */
  guint32 gl_first_frame, gl_last_frame;
  gboolean gl_new_scanout;      /* frame numbers restart (resize) */
  gchar *gl_error;              /* the first content error */
  gboolean display_closed;      /* the display channel went */
} Client;

/* the next client_connect sets SpiceSession:gl-scanout to this (-1: the
 * library's default) */
static gint next_gl_scanout = -1;
static const gchar *selftest_dir;

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
on_gl_scanout (SpiceChannel * channel, GParamSpec * pspec, Client * c)
{
  const SpiceGlScanout *so =
      spice_display_channel_get_gl_scanout (SPICE_DISPLAY_CHANNEL (channel));

  if (!so)
    return;
  c->scanout = *so;
  c->n_scanouts++;
  c->gl_new_scanout = TRUE;
}

/* The pixel at (x, y) of the image as a client sees it (flipped when the
 * scanout is bottom-up), as 0xRRGGBB. */
static guint32
gl_pixel (const SpiceGlScanout * so, const guint8 * map, guint x, guint y)
{
  guint row = so->y0top ? y : so->height - 1 - y;
  const guint8 *p = map + (gsize) row * so->stride + (gsize) x * 4;
  gboolean rgb = so->format == 0x34324258 || so->format == 0x34324241;

  if (rgb)                      /* XB24, AB24: bytes R, G, B, X */
    return (p[0] << 16) | (p[1] << 8) | p[2];
  return (p[2] << 16) | (p[1] << 8) | p[0];
}

static void
gl_fail (Client * c, gchar * message)
{
  if (!c->gl_error)
    c->gl_error = message;
  else
    g_free (message);
}

/* Checks the whole image of the current scanout against frame f of
 * test-pattern.h (the strip says which frame it is). */
static void
gl_check_image (Client * c)
{
  const SpiceGlScanout *so = &c->scanout;
  gsize size = (gsize) so->stride * so->height;
  guint8 strip[TP_STRIP_W * TP_STRIP_H * 4];
  guint8 *map;
  guint32 frame, x, y;
  guint64 sent;

  map = mmap (NULL, size, PROT_READ, MAP_SHARED, so->fd, 0);
  if (map == MAP_FAILED) {
    gl_fail (c, g_strdup_printf ("mmap of scanout fd %d: %s", so->fd,
            g_strerror (errno)));
    return;
  }
  for (y = 0; y < TP_STRIP_H; y++)
    for (x = 0; x < TP_STRIP_W; x++) {
      guint32 v = gl_pixel (so, map, x, y);

      memcpy (strip + (y * TP_STRIP_W + x) * 4, &v, 4);
    }
  if (!tp_read_strip (strip, TP_STRIP_W * 4, &frame, &sent)) {
    gl_fail (c, g_strdup ("the strip does not decode"));
    goto done;
  }
  if (c->n_gl_checked > 0 && !c->gl_new_scanout && frame <= c->gl_last_frame)
    gl_fail (c, g_strdup_printf ("frame %u after frame %u", frame,
            c->gl_last_frame));
  if (c->n_gl_checked == 0)
    c->gl_first_frame = frame;
  c->gl_last_frame = frame;
  c->gl_new_scanout = FALSE;
  for (y = 0; y < so->height; y++)
    for (x = 0; x < so->width; x++) {
      guint32 want = tp_pixel (x, y, frame) & 0xffffff;
      guint32 got;

      if (tp_in_strip (x, y))
        continue;
      got = gl_pixel (so, map, x, y);
      if (got != want) {
        gl_fail (c, g_strdup_printf ("frame %u: pixel (%u, %u) is %06x, "
                "expected %06x", frame, x, y, got, want));
        goto done;
      }
    }
  c->n_gl_checked++;
done:
  munmap (map, size);
}

static void
on_gl_draw (SpiceDisplayChannel * channel, guint x, guint y, guint w,
    guint h, Client * c)
{
  c->n_gl_draws++;
  if (x != 0 || y != 0 || w != c->scanout.width || h != c->scanout.height)
    gl_fail (c, g_strdup_printf ("gl-draw %ux%u+%u+%u on a %ux%u scanout",
            w, h, x, y, c->scanout.width, c->scanout.height));
  gl_check_image (c);
  if (c->gl_no_ack) {
    c->n_gl_unacked++;
    return;
  }
  spice_display_channel_gl_draw_done (channel);
  c->n_gl_acks++;
}

static void
on_display_event (SpiceChannel * channel, SpiceChannelEvent event,
    Client * c)
{
  if (event != SPICE_CHANNEL_OPENED)
    c->display_closed = TRUE;
}

static void
on_cursor (SpiceChannel * channel, GParamSpec * pspec, Client * c)
{
  if (c->cursor)
    g_boxed_free (SPICE_TYPE_CURSOR_SHAPE, c->cursor);
  g_object_get (channel, "cursor", &c->cursor, NULL);
}

static void
on_playback_start (SpicePlaybackChannel * channel, gint format, gint channels,
    gint rate, Client * c)
{
  c->playback_format = format;
  c->playback_channels = channels;
  c->playback_rate = rate;
  c->n_playback_starts++;
}

static void
on_playback_data (SpicePlaybackChannel * channel, gpointer data, gint size,
    Client * c)
{
  Packet p = { 0, };

  p.offset = c->pcm->len;
  p.frames = size / TA_BYTES_PER_FRAME;
  p.arrival_us = g_get_monotonic_time ();
  p.n_starts = c->n_playback_starts;
  p.code = ta_decode_code_packet (data, p.frames, &p.n_first, &p.send_us);
  /* the data is only valid during the signal */
  g_byte_array_append (c->pcm, data, size);
  g_array_append_val (c->packets, p);
}

static void
on_playback_stop (SpicePlaybackChannel * channel, Client * c)
{
  c->n_playback_stops++;
  c->packets_at_stop = c->packets->len;
}

static void
on_playback_get_delay (SpicePlaybackChannel * channel, Client * c)
{
  c->n_get_delays++;
}

static void
on_record_start (SpiceRecordChannel * channel, gint format, gint channels,
    gint rate, Client * c)
{
  c->record_format = format;
  c->record_channels = channels;
  c->record_rate = rate;
  c->n_record_starts++;
}

static void
on_record_stop (SpiceRecordChannel * channel, Client * c)
{
  c->n_record_stops++;
}

static void
on_port_name (SpiceChannel * channel, GParamSpec * pspec, Client * c)
{
  g_free (c->port_name);
  g_object_get (channel, "port-name", &c->port_name, NULL);
}

static void
on_port_opened (SpiceChannel * channel, GParamSpec * pspec, Client * c)
{
  g_object_get (channel, "port-opened", &c->port_opened, NULL);
}

static void
on_port_event (SpicePortChannel * channel, gint event, Client * c)
{
  g_array_append_val (c->port_events, event);
}

static void
on_port_data (SpicePortChannel * channel, gpointer data, gint size, Client * c)
{
  /* only valid during the signal */
  g_byte_array_append (c->port_rx, data, size);
}

static void
on_inputs_event (SpiceChannel * channel, SpiceChannelEvent event, Client * c)
{
  c->inputs_opened = event == SPICE_CHANNEL_OPENED;
}

static void
on_mouse_mode (SpiceChannel * channel, GParamSpec * pspec, Client * c)
{
  g_object_get (channel, "mouse-mode", &c->mouse_mode, NULL);
}

static void
on_channel_new (SpiceSession * session, SpiceChannel * channel, Client * c)
{
  if (SPICE_IS_MAIN_CHANNEL (channel)) {
    g_signal_connect (channel, "channel-event", G_CALLBACK (on_main_event), c);
    g_signal_connect (channel, "notify::mouse-mode",
        G_CALLBACK (on_mouse_mode), c);
    c->main = channel;
  } else if (SPICE_IS_PORT_CHANNEL (channel)) {
    g_signal_connect (channel, "notify::port-name",
        G_CALLBACK (on_port_name), c);
    g_signal_connect (channel, "notify::port-opened",
        G_CALLBACK (on_port_opened), c);
    g_signal_connect (channel, "port-event", G_CALLBACK (on_port_event), c);
    g_signal_connect (channel, "port-data", G_CALLBACK (on_port_data), c);
    c->port = channel;
    spice_channel_connect (channel);
  } else if (SPICE_IS_INPUTS_CHANNEL (channel)) {
    g_signal_connect (channel, "channel-event",
        G_CALLBACK (on_inputs_event), c);
    c->inputs = channel;
    spice_channel_connect (channel);
  } else if (SPICE_IS_DISPLAY_CHANNEL (channel)) {
    g_signal_connect (channel, "display-primary-create",
        G_CALLBACK (on_primary_create), c);
    g_signal_connect (channel, "display-primary-destroy",
        G_CALLBACK (on_primary_destroy), c);
    g_signal_connect (channel, "display-invalidate",
        G_CALLBACK (on_invalidate), c);
    g_signal_connect (channel, "notify::gl-scanout",
        G_CALLBACK (on_gl_scanout), c);
    g_signal_connect (channel, "gl-draw", G_CALLBACK (on_gl_draw), c);
    g_signal_connect (channel, "channel-event",
        G_CALLBACK (on_display_event), c);
    c->display = channel;
    /* non-main channels are not connected by the library itself */
    spice_channel_connect (channel);
  } else if (SPICE_IS_CURSOR_CHANNEL (channel) && c->want_cursor) {
    g_signal_connect (channel, "notify::cursor", G_CALLBACK (on_cursor), c);
    spice_channel_connect (channel);
  } else if (SPICE_IS_PLAYBACK_CHANNEL (channel)) {
    g_signal_connect (channel, "playback-start",
        G_CALLBACK (on_playback_start), c);
    g_signal_connect (channel, "playback-data",
        G_CALLBACK (on_playback_data), c);
    g_signal_connect (channel, "playback-stop",
        G_CALLBACK (on_playback_stop), c);
    g_signal_connect (channel, "playback-get-delay",
        G_CALLBACK (on_playback_get_delay), c);
    c->playback = channel;
    spice_channel_connect (channel);
  } else if (SPICE_IS_RECORD_CHANNEL (channel)) {
    g_signal_connect (channel, "record-start",
        G_CALLBACK (on_record_start), c);
    g_signal_connect (channel, "record-stop", G_CALLBACK (on_record_stop), c);
    c->record = channel;
    if (!c->defer_record)
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

/* spice-client-glib warns (or goes critical) when a session is torn down
 * while a channel is still linking ("incomplete link header"); that is the
 * client library talking about our own disconnect, not a server fault.
 * GLib drops the fatal handler after each test case, so client_connect
 * sets it again for every test. */
static gboolean
ignore_spice_client_warnings (const gchar * log_domain,
    GLogLevelFlags log_level, const gchar * message, gpointer data)
{
  return g_strcmp0 (log_domain, "GSpice") != 0;
}

static Client *
client_connect (TestServerTransport transport, const gchar * const *args,
    const gchar * password)
{
  Client *c = g_new0 (Client, 1);

  g_test_log_set_fatal_handler (ignore_spice_client_warnings, NULL);
  c->want_cursor = args && g_strv_contains (args, "--cursor");
  c->want_audio = args && g_strv_contains (args, "--audio");
  c->packets = g_array_new (FALSE, FALSE, sizeof (Packet));
  c->pcm = g_byte_array_new ();
  c->port_events = g_array_new (FALSE, FALSE, sizeof (gint));
  c->port_rx = g_byte_array_new ();
  c->server = test_server_start (transport, args);
  c->session = spice_session_new ();
  /* audio channels without spice_audio_get (): no audio backend of
   * spice-gtk's own, the test handles the channels' signals itself */
  g_object_set (c->session, "uri", test_server_get_uri (c->server),
      "enable-audio", c->want_audio, "enable-usbredir", FALSE,
      "enable-smartcard", FALSE, NULL);
  if (password)
    g_object_set (c->session, "password", password, NULL);
  if (next_gl_scanout >= 0)
    g_object_set (c->session, "gl-scanout", next_gl_scanout, NULL);
  next_gl_scanout = -1;
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
  g_array_unref (c->packets);
  g_byte_array_unref (c->pcm);
  g_array_unref (c->port_events);
  g_byte_array_unref (c->port_rx);
  g_free (c->port_name);
  g_free (c->tx_error);
  g_free (c->event_line);
  g_free (c->gl_error);
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
  /* audio commands answer ERR no audio without --audio */
  g_assert_null (test_server_command (c->server, "audio stats", TIMEOUT_MS));
  g_assert_null (test_server_command (c->server, "record start",
          TIMEOUT_MS));
  /* and port commands ERR no port without --port-name */
  g_assert_null (test_server_command (c->server, "port stats", TIMEOUT_MS));
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

/* ------------------------------------------------------------------------ */
/* Audio                                                                    */

static gboolean
never (Client * c, gpointer data)
{
  return FALSE;
}

/* Iterates the default context for ms milliseconds. */
static void
run_for (Client * c, guint ms)
{
  run_until (c, never, NULL, ms);
}

static gboolean
has_packets (Client * c, gpointer data)
{
  return c->packets->len >= GPOINTER_TO_UINT (data);
}

static gboolean
has_playback_starts (Client * c, gpointer data)
{
  return c->n_playback_starts >= GPOINTER_TO_UINT (data);
}

static gboolean
has_playback_stops (Client * c, gpointer data)
{
  return c->n_playback_stops >= GPOINTER_TO_UINT (data);
}

static gboolean
has_record_starts (Client * c, gpointer data)
{
  return c->n_record_starts >= GPOINTER_TO_UINT (data);
}

static gboolean
has_record_stops (Client * c, gpointer data)
{
  return c->n_record_stops >= GPOINTER_TO_UINT (data);
}

static gboolean
has_record_channel (Client * c, gpointer data)
{
  return c->record != NULL;
}

static Packet *
packet (Client * c, guint i)
{
  return &g_array_index (c->packets, Packet, i);
}

static gchar *
command (Client * c, const gchar * line)
{
  gchar *reply = test_server_command (c->server, line, TIMEOUT_MS);

  if (!reply)
    g_error ("no OK reply to '%s'", line);
  return reply;
}

/* The number after " key=" in a reply line. */
static gint64
reply_value (const gchar * reply, const gchar * key)
{
  gchar *pattern = g_strdup_printf (" %s=", key);
  const gchar *at = strstr (reply, pattern);
  gint64 v;

  if (!at)
    g_error ("no %s= in '%s'", key, reply);
  v = g_ascii_strtoll (at + strlen (pattern), NULL, 10);
  g_free (pattern);
  return v;
}

static gboolean
has_event (Client * c, gpointer data)
{
  gchar *event = test_server_wait_event (c->server, data, 0);

  g_free (event);
  return event != NULL;
}

static gboolean
has_event_line (Client * c, gpointer data)
{
  g_free (c->event_line);
  c->event_line = test_server_wait_event (c->server, data, 0);
  return c->event_line != NULL;
}

/* Waits for a server event line while the client runs. */
static void
wait_event (Client * c, const gchar * prefix)
{
  if (!run_until (c, has_event, (gpointer) prefix, TIMEOUT_MS))
    g_error ("no '%s' from the server", prefix);
}

/* Packets [from, to) are whole code packets of consecutive frames (no frame
 * missing or repeated), sent in order, each at its place on the timeline. */
static void
check_code_packets (Client * c, guint from, guint to, guint rate)
{
  gint64 min_offset = G_MAXINT64, max_offset = G_MININT64, latency = 0;
  guint i;

  g_assert_cmpuint (to, <=, c->packets->len);
  for (i = from; i < to; i++) {
    Packet *p = packet (c, i);
    gint64 offset = p->send_us - ta_frame_time_us (p->n_first, rate);

    g_assert_cmpuint (p->frames, ==, TA_PACKET_FRAMES);
    if (!p->code)
      g_error ("packet %u is not a code packet", i);
    g_assert_cmpint (p->send_us, <=, p->arrival_us);
    if (i > from) {
      Packet *q = packet (c, i - 1);

      if (p->n_first != q->n_first + TA_PACKET_FRAMES)
        g_error ("packet %u starts at frame %" G_GUINT64_FORMAT
            ", the one before at %" G_GUINT64_FORMAT, i, p->n_first,
            q->n_first);
      g_assert_cmpint (p->send_us, >, q->send_us);
    }
    min_offset = MIN (min_offset, offset);
    max_offset = MAX (max_offset, offset);
    latency = MAX (latency, p->arrival_us - p->send_us);
  }
  /* the send times follow the timeline: constant offset, give or take */
  g_assert_cmpint (max_offset - min_offset, <, PACING_SLACK_US);
  g_test_message ("%u code packets of %d frames from frame %" G_GUINT64_FORMAT
      " at %u Hz: continuous, pacing within %" G_GINT64_FORMAT
      " us, send to signal at most %" G_GINT64_FORMAT " us", to - from,
      TA_PACKET_FRAMES, packet (c, from)->n_first, rate,
      max_offset - min_offset, latency);
}

static void
check_playback_start (Client * c, guint n, gint rate)
{
  g_assert_true (run_until (c, has_playback_starts, GUINT_TO_POINTER (n),
          TIMEOUT_MS));
  g_assert_cmpint (c->playback_format, ==, SPICE_AUDIO_FMT_S16);
  g_assert_cmpint (c->playback_channels, ==, 2);
  g_assert_cmpint (c->playback_rate, ==, rate);
}

static void
test_audio_playback (void)
{
  const gchar *args[] = { "--audio", "--size", "160x120", NULL };
  Client *c = client_connect (TEST_SERVER_TCP, args, NULL);
  guint min_latency = 0;
  gint64 skipped;
  gchar *reply;

  /* playback was started before the client came */
  check_playback_start (c, 1, 48000);
  wait_event (c, "PLAYBACK connected");
  reply = command (c, "audio stats");
  skipped = reply_value (reply, "skipped");
  g_free (reply);
  /* 2 s: 200 intervals of 10 ms */
  g_assert_true (run_until (c, has_packets, GUINT_TO_POINTER (201),
          TIMEOUT_MS));
  check_code_packets (c, 0, 201, 48000);
  g_assert_cmpuint (c->n_playback_stops, ==, 0);

  reply = command (c, "audio stats");
  g_assert_true (g_str_has_prefix (reply, "OK audio stats playing=1 "));
  g_assert_cmpint (reply_value (reply, "sent"), >=, 201);
  g_assert_cmpint (reply_value (reply, "n"), >=, packet (c, 200)->n_first);
  g_assert_cmpint (reply_value (reply, "rate"), ==, 48000);
  /* packets are only dropped before the client's playback channel is
   * there: with one, libspice-server always has a buffer */
  g_assert_cmpint (reply_value (reply, "skipped"), ==, skipped);
  g_free (reply);

  /* the server never announces a latency (only video streams make it do
   * that), so min-latency stays spice-client-glib's default; the client
   * asks for the delay on the first packet and every 100th after */
  g_object_get (c->playback, "min-latency", &min_latency, NULL);
  g_assert_cmpuint (min_latency, ==, 200);
  g_assert_cmpuint (c->n_get_delays, >=, 2);
  client_free (c);
}

static void
test_audio_stop_start (void)
{
  const gchar *args[] = { "--audio", "--size", "160x120", NULL };
  Client *c = client_connect (TEST_SERVER_TCP, args, NULL);
  gint64 n_stop, n_start, jump_us, stopped_us;
  Packet *last, *first;
  guint before;
  gchar *reply;

  check_playback_start (c, 1, 48000);
  g_assert_true (run_until (c, has_packets, GUINT_TO_POINTER (20),
          TIMEOUT_MS));

  reply = command (c, "audio stop");
  g_assert_true (g_str_has_prefix (reply, "OK audio stop n="));
  n_stop = reply_value (reply, "stop n");
  g_free (reply);
  g_assert_true (run_until (c, has_playback_stops, GUINT_TO_POINTER (1),
          TIMEOUT_MS));
  before = c->packets_at_stop;
  run_for (c, 500);
  /* nothing after playback-stop */
  g_assert_cmpuint (c->packets->len, ==, before);
  reply = command (c, "audio stats");
  g_assert_true (g_str_has_prefix (reply, "OK audio stats playing=0 "));
  g_free (reply);

  reply = command (c, "audio start");
  n_start = reply_value (reply, "start n");
  g_free (reply);
  check_playback_start (c, 2, 48000);
  g_assert_true (run_until (c, has_packets, GUINT_TO_POINTER (before + 20),
          TIMEOUT_MS));

  last = packet (c, before - 1);
  first = packet (c, before);
  g_assert_cmpuint (first->n_starts, ==, 2);
  g_assert_true (last->code && first->code);
  /* the last packet before the stop was due before it, the first after the
   * start is the one due at the start (or the one just before, if it was
   * due but not yet sent when the command came) */
  g_assert_cmpint (last->n_first, <=, n_stop);
  g_assert_cmpint (first->n_first + TA_PACKET_FRAMES, >=, n_start);
  g_assert_cmpint (first->n_first, <=, n_start + TA_PACKET_FRAMES);
  jump_us = ta_frame_time_us (first->n_first - last->n_first, 48000);
  stopped_us = ta_frame_time_us (n_start - n_stop, 48000);
  g_assert_cmpint (ABS (jump_us - stopped_us), <, 100000);
  g_assert_cmpint (ABS (first->send_us - last->send_us - jump_us), <,
      PACING_SLACK_US);
  check_code_packets (c, before, before + 20, 48000);
  g_test_message ("stopped %" G_GINT64_FORMAT " us, frames jumped by %"
      G_GINT64_FORMAT " us", stopped_us, jump_us);
  client_free (c);
}

static void
test_audio_44100 (void)
{
  const gchar *args[] = { "--audio", "--audio-rate", "44100", "--size",
    "160x120", NULL
  };
  Client *c = client_connect (TEST_SERVER_TCP, args, NULL);
  gchar *reply;

  check_playback_start (c, 1, 44100);
  g_assert_true (run_until (c, has_packets, GUINT_TO_POINTER (50),
          TIMEOUT_MS));
  /* still 480 frames per message, now 10.884 ms each */
  check_code_packets (c, 0, 50, 44100);
  reply = command (c, "audio stats");
  g_assert_cmpint (reply_value (reply, "rate"), ==, 44100);
  g_free (reply);
  client_free (c);
}

/* Which packet of the sine's cycle at 48000 Hz (440 Hz repeats every 1200
 * frames, so every 5 packets) lr holds exactly, or -1. */
static gint
sine_phase (const gint16 * lr)
{
  gint16 want[TA_PACKET_FRAMES * TA_CHANNELS];
  gint k;

  for (k = 0; k < 5; k++) {
    ta_fill_sine (want, TA_PACKET_FRAMES, (guint64) k * TA_PACKET_FRAMES,
        48000);
    if (memcmp (want, lr, sizeof (want)) == 0)
      return k;
  }
  return -1;
}

/* Checks 50 sine packets; returns how many were bit-exact and sets the RMS
 * of all samples after the first two packets (a decoder's warm-up). */
static guint
check_sine (Client * c, gdouble * rms)
{
  gdouble sum = 0;
  guint64 count = 0;
  guint i, j, exact = 0;
  gint prev = -1;

  check_playback_start (c, 1, 48000);
  g_assert_true (run_until (c, has_packets, GUINT_TO_POINTER (50),
          TIMEOUT_MS));
  for (i = 0; i < 50; i++) {
    Packet *p = packet (c, i);
    const gint16 *lr = (const gint16 *) (c->pcm->data + p->offset);
    gint phase;

    g_assert_cmpuint (p->frames, ==, TA_PACKET_FRAMES);
    phase = sine_phase (lr);
    if (phase >= 0) {
      if (prev >= 0)
        g_assert_cmpint (phase, ==, (prev + 1) % 5);
      exact++;
    }
    prev = phase;
    for (j = 0; i >= 2 && j < p->frames * TA_CHANNELS; j++) {
      sum += (gdouble) lr[j] * lr[j];
      count++;
    }
  }
  *rms = sqrt (sum / count);
  return exact;
}

static void
test_audio_sine (void)
{
  const gchar *args[] = { "--audio", "--audio-signal", "sine", NULL };
  Client *c = client_connect (TEST_SERVER_TCP, args, NULL);
  gdouble rms;

  /* raw PCM: every packet is exactly the sine, in phase order */
  g_assert_cmpuint (check_sine (c, &rms), ==, 50);
  g_assert_cmpfloat (fabs (rms - TA_SINE_AMPLITUDE / G_SQRT2), <, 10);
  client_free (c);
}

static void
test_audio_opus (void)
{
  const gchar *args[] = { "--audio", "--opus", "--audio-signal", "sine",
    NULL
  };
  Client *c = client_connect (TEST_SERVER_TCP, args, NULL);
  gdouble rms;

  /* Opus: spice-client-glib decodes to 480-frame packets that are close
   * to the sine, never bit-exact */
  g_assert_cmpuint (check_sine (c, &rms), ==, 0);
  g_test_message ("Opus sine RMS %.0f (raw %.0f)", rms,
      TA_SINE_AMPLITUDE / G_SQRT2);
  g_assert_cmpfloat (rms, >, 8000);
  g_assert_cmpfloat (rms, <, 14000);
  client_free (c);
}

/* Sends the record frames due by now (real time from record_t0, one packet
 * ahead), code signal, until record_target frames are out. */
static gboolean
record_tick (gpointer data)
{
  Client *c = data;
  gint16 lr[TA_PACKET_FRAMES * TA_CHANNELS];
  guint64 due = ta_timeline_frame (g_get_monotonic_time () - c->record_t0,
      c->record_rate) + TA_PACKET_FRAMES;

  while (c->record_sent < c->record_target && c->record_sent < due) {
    guint n = MIN (TA_PACKET_FRAMES, c->record_target - c->record_sent);

    ta_fill_code_packet (lr, n, c->record_first + c->record_sent,
        g_get_monotonic_time ());
    spice_record_channel_send_data (SPICE_RECORD_CHANNEL (c->record), lr,
        n * TA_BYTES_PER_FRAME, 0);
    c->record_sent += n;
  }
  return c->record_sent < c->record_target;
}

static gboolean
record_sent (Client * c, gpointer data)
{
  return c->record_sent >= c->record_target;
}

/* Sends `frames` record frames of the code signal from timeline frame
 * `first` on, in real time. */
static void
record_send (Client * c, guint64 first, guint64 frames)
{
  c->record_first = first;
  c->record_sent = 0;
  c->record_target = frames;
  c->record_t0 = g_get_monotonic_time ();
  g_timeout_add (5, record_tick, c);
  g_assert_true (run_until (c, record_sent, NULL, TIMEOUT_MS));
}

/* Waits until the server counted `frames` record frames (or 2 s passed) and
 * returns its `record stats` line. */
static gchar *
record_wait (Client * c, guint64 frames)
{
  gint64 deadline = g_get_monotonic_time () + 2 * G_USEC_PER_SEC;
  gchar *reply = NULL;

  do {
    g_free (reply);
    run_for (c, 50);
    reply = command (c, "record stats");
  } while (reply_value (reply, "frames") < (gint64) frames &&
      g_get_monotonic_time () < deadline);
  return reply;
}

static void
check_record_start (Client * c, gint rate)
{
  g_assert_true (run_until (c, has_record_starts, GUINT_TO_POINTER (1),
          TIMEOUT_MS));
  g_assert_cmpint (c->record_format, ==, SPICE_AUDIO_FMT_S16);
  g_assert_cmpint (c->record_channels, ==, 2);
  g_assert_cmpint (c->record_rate, ==, rate);
}

static void
test_audio_record (void)
{
  gchar *dir = g_dir_make_tmp ("server-selftest-XXXXXX", NULL);
  gchar *path = g_build_filename (dir, "record.raw", NULL);
  const gchar *args[] = { "--audio", "--record-file", path, "--size",
    "160x120", NULL
  };
  Client *c = client_connect (TEST_SERVER_TCP, args, NULL);
  gchar *reply, *contents = NULL;
  gsize len = 0, i;

  wait_event (c, "RECORD connected");
  reply = command (c, "record stats");
  g_assert_cmpstr (reply, ==, "OK record recording=0 frames=0 errors=0 "
      "first=-1 rate=48000 wrap_errors=0");
  g_free (reply);
  reply = command (c, "record start");
  g_assert_cmpstr (reply, ==, "OK record start");
  g_free (reply);
  check_record_start (c, 48000);

  /* 1 s in 10 ms messages, starting at a left value of 12345 */
  record_send (c, 12345, 48000);
  reply = record_wait (c, 48000);
  g_test_message ("record: %s", reply);
  g_assert_true (g_str_has_prefix (reply, "OK record recording=1 "));
  g_assert_cmpint (reply_value (reply, "frames"), ==, 48000);
  g_assert_cmpint (reply_value (reply, "errors"), ==, 0);
  g_assert_cmpint (reply_value (reply, "first"), ==, 12345);
  g_assert_cmpint (reply_value (reply, "rate"), ==, 48000);
  /* two per wrap at most: into the garbled stretch and out of it */
  g_assert_cmpint (reply_value (reply, "wrap_errors"), <=,
      2 * (48000 / TA_RECORD_RING_FRAMES));
  g_free (reply);

  reply = command (c, "record stop");
  g_assert_cmpstr (reply, ==, "OK record stop");
  g_free (reply);
  g_assert_true (run_until (c, has_record_stops, GUINT_TO_POINTER (1),
          TIMEOUT_MS));

  /* the file holds what libspice-server passed on, S16LE: what was sent,
   * but for the stretches its ring wrap garbles */
  g_assert_true (g_file_get_contents (path, &contents, &len, NULL));
  g_assert_cmpuint (len, ==, 48000 * TA_BYTES_PER_FRAME);
  for (i = 0; i < len / TA_BYTES_PER_FRAME; i++) {
    const guint8 *f = (const guint8 *) contents + i * TA_BYTES_PER_FRAME;

    if ((gint16) (f[0] | f[1] << 8) != ta_code_left (12345 + i) &&
        !ta_record_in_wrap_window (i))
      g_error ("record file frame %" G_GSIZE_FORMAT " is wrong", i);
  }
  g_free (contents);
  client_free (c);
  g_unlink (path);
  g_rmdir (dir);
  g_free (path);
  g_free (dir);
}

/* A record channel that connects after "record start" still gets
 * record-start (here at 44100, which is sent as given). */
static void
test_audio_record_late (void)
{
  const gchar *args[] = { "--audio", "--record-rate", "44100", "--size",
    "160x120", NULL
  };
  Client *c = client_connect (TEST_SERVER_TCP, args, NULL);
  gchar *reply;

  /* set before the main loop runs, so before channel-new */
  c->defer_record = TRUE;
  check_playback_start (c, 1, 48000);
  g_assert_true (run_until (c, has_record_channel, NULL, TIMEOUT_MS));
  reply = command (c, "record start");
  g_free (reply);
  run_for (c, 300);
  g_assert_cmpuint (c->n_record_starts, ==, 0);
  spice_channel_connect (c->record);
  wait_event (c, "RECORD connected");
  check_record_start (c, 44100);

  /* libspice-server hands out nothing before 4096 frames came in since the
   * start; then everything */
  record_send (c, 0, 8 * TA_PACKET_FRAMES);
  run_for (c, 200);
  reply = command (c, "record stats");
  g_assert_cmpint (reply_value (reply, "frames"), ==, 0);
  g_free (reply);
  /* spice-client-glib sends whole 480-frame messages only, and keeps the
   * rest until more comes: send whole messages */
  record_send (c, 8 * TA_PACKET_FRAMES, 38 * TA_PACKET_FRAMES);
  reply = record_wait (c, 46 * TA_PACKET_FRAMES);
  g_assert_cmpint (reply_value (reply, "frames"), ==, 46 * TA_PACKET_FRAMES);
  g_assert_cmpint (reply_value (reply, "errors"), ==, 0);
  g_assert_cmpint (reply_value (reply, "rate"), ==, 44100);
  g_free (reply);
  client_free (c);
}

/* --record-opus: the server advertises Opus for record, as QEMU does, and
 * spice-client-glib then encodes: every frame arrives, but not exactly. */
static void
test_audio_record_opus (void)
{
  const gchar *args[] = { "--audio", "--record-opus", "--size", "160x120",
    NULL
  };
  Client *c = client_connect (TEST_SERVER_TCP, args, NULL);
  gchar *reply;

  wait_event (c, "RECORD connected");
  reply = command (c, "record start");
  g_free (reply);
  check_record_start (c, 48000);
  record_send (c, 0, 24000);
  reply = record_wait (c, 24000);
  g_test_message ("record over Opus: %s", reply);
  g_assert_cmpint (reply_value (reply, "frames"), ==, 24000);
  g_assert_cmpint (reply_value (reply, "errors"), >, 0);
  g_free (reply);
  client_free (c);
}

/* ------------------------------------------------------------------------ */
/* Port                                                                     */

#define PORT_NAME "org.gst-spice.test.0"
#define EMPTY_SHA256 \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static gboolean
has_port_name (Client * c, gpointer data)
{
  return c->port_name != NULL;
}

static gboolean
has_port_events (Client * c, gpointer data)
{
  return c->port_events->len >= GPOINTER_TO_UINT (data);
}

static gboolean
has_port_bytes (Client * c, gpointer data)
{
  return c->port_rx->len >= GPOINTER_TO_UINT (data);
}

static gint
port_event (Client * c, guint i)
{
  return g_array_index (c->port_events, gint, i);
}

static void
on_port_written (GObject * source, GAsyncResult * result, gpointer data)
{
  Client *c = data;
  GError *error = NULL;
  gssize n = spice_port_channel_write_finish (SPICE_PORT_CHANNEL (source),
      result, &error);

  c->tx_in_flight--;
  if (n < 0) {
    c->tx_errors++;
    if (!c->tx_error)
      c->tx_error = g_strdup (error->message);
    g_error_free (error);
  } else {
    c->tx_done += n;
  }
}

/* Keeps up to tx_window writes of tx_chunk bytes in flight until all of
 * c->tx went out; TRUE once every write has called back. */
static gboolean
port_pump (Client * c, gpointer data)
{
  while (c->tx_off < c->tx_len && c->tx_in_flight < c->tx_window) {
    gsize n = MIN (c->tx_chunk, c->tx_len - c->tx_off);

    c->tx_in_flight++;
    spice_port_channel_write_async (SPICE_PORT_CHANNEL (c->port),
        c->tx + c->tx_off, n, NULL, on_port_written, c);
    c->tx_off += n;
  }
  return c->tx_off == c->tx_len && c->tx_in_flight == 0;
}

/* Starts writing len bytes of data (kept alive by the caller until every
 * write called back) in chunks of `chunk`, `window` writes at a time. */
static void
port_write_start (Client * c, const guint8 * data, gsize len, gsize chunk,
    guint window)
{
  c->tx = data;
  c->tx_len = len;
  c->tx_off = 0;
  c->tx_chunk = chunk;
  c->tx_window = window;
  c->tx_done = 0;
  c->tx_errors = 0;
  g_clear_pointer (&c->tx_error, g_free);
}

/* Writes len bytes and waits for every write to call back; returns the
 * time it took in us. */
static gint64
port_write (Client * c, const guint8 * data, gsize len, gsize chunk,
    guint window)
{
  gint64 t0 = g_get_monotonic_time ();

  port_write_start (c, data, len, chunk, window);
  g_assert_true (run_until (c, port_pump, NULL, 3 * TIMEOUT_MS));
  return g_get_monotonic_time () - t0;
}

/* len bytes of noise, the same for every run */
static guint8 *
make_noise (gsize len, guint32 seed)
{
  GRand *rand = g_rand_new_with_seed (seed);
  guint8 *data = g_malloc (len);
  gsize i;

  for (i = 0; i < len; i++)
    data[i] = g_rand_int (rand) >> 24;
  g_rand_free (rand);
  return data;
}

static guint8
pattern_byte (guint64 i)
{
  return (i * 131 + (i >> 8)) & 0xff;
}

/* The value after " key=" in a reply line, as a string. */
static gchar *
reply_string (const gchar * reply, const gchar * key)
{
  gchar *pattern = g_strdup_printf (" %s=", key);
  const gchar *at = strstr (reply, pattern);
  gchar *v;

  if (!at)
    g_error ("no %s= in '%s'", key, reply);
  at += strlen (pattern);
  v = g_strndup (at, strcspn (at, " "));
  g_free (pattern);
  return v;
}

/* Polls "port stats" (at most 10 s) until the server received `bytes`;
 * returns the last reply. */
static gchar *
port_stats_wait (Client * c, guint64 bytes)
{
  gint64 deadline = g_get_monotonic_time () + TIMEOUT_MS * 1000;
  gchar *reply = NULL;

  do {
    g_free (reply);
    reply = command (c, "port stats");
    if (reply_value (reply, "bytes") >= (gint64) bytes)
      break;
    run_for (c, 20);
  } while (g_get_monotonic_time () < deadline);
  return reply;
}

/* The server received exactly data[0..len). */
static void
check_port_received (Client * c, const guint8 * data, gsize len)
{
  gchar *reply = port_stats_wait (c, len);
  gchar *want = g_compute_checksum_for_data (G_CHECKSUM_SHA256, data, len);
  gchar *got = reply_string (reply, "sha256");

  g_assert_cmpint (reply_value (reply, "bytes"), ==, len);
  g_assert_cmpstr (got, ==, want);
  g_free (got);
  g_free (want);
  g_free (reply);
}

/* Connects with a port and waits until the client knows its name. */
static Client *
port_connect (const gchar * const *args)
{
  Client *c = client_connect (TEST_SERVER_TCP, args, NULL);

  g_assert_true (run_until (c, has_port_name, NULL, TIMEOUT_MS));
  g_assert_cmpstr (c->port_name, ==, PORT_NAME);
  wait_event (c, "PORT connected");
  return c;
}

/* A new session to the same server, after the old one disconnected;
 * waits until the port is known again. */
static void
client_reconnect (Client * c)
{
  g_object_unref (c->session);
  c->main = c->inputs = c->port = c->playback = c->record = NULL;
  c->inputs_opened = FALSE;
  c->disconnected = FALSE;
  g_clear_pointer (&c->port_name, g_free);
  c->port_opened = FALSE;
  g_array_set_size (c->port_events, 0);
  g_byte_array_set_size (c->port_rx, 0);
  c->session = spice_session_new ();
  g_object_set (c->session, "uri", test_server_get_uri (c->server),
      "enable-audio", c->want_audio, "enable-usbredir", FALSE,
      "enable-smartcard", FALSE, NULL);
  g_signal_connect (c->session, "channel-new", G_CALLBACK (on_channel_new), c);
  g_signal_connect (c->session, "disconnected",
      G_CALLBACK (on_disconnected), c);
  g_assert_true (spice_session_connect (c->session));
  g_assert_true (run_until (c, has_port_name, NULL, TIMEOUT_MS));
  wait_event (c, "PORT connected");
}

static void
test_port_sink (void)
{
  const gchar *args[] = { "--port-name", PORT_NAME, "--size", "160x120",
    NULL
  };
  Client *c = port_connect (args);
  gsize len = 8 << 20, i;
  guint8 *data = make_noise (len, 1);
  gint64 us;
  gchar *reply;

  /* the guest side was open before the client came: port-opened is TRUE
   * and port-event OPENED was emitted by the time port-name is known */
  g_assert_true (c->port_opened);
  g_assert_cmpuint (c->port_events->len, ==, 1);
  g_assert_cmpint (port_event (c, 0), ==, SPICE_PORT_EVENT_OPENED);
  reply = command (c, "port stats");
  g_assert_cmpstr (reply, ==, "OK port stats opened=1 connected=1 bytes=0 "
      "sha256=" EMPTY_SHA256 " sent=0 queued=0");
  g_free (reply);

  /* 8 MiB in 64 KiB writes, four in flight */
  us = port_write (c, data, len, 64 << 10, 4);
  g_assert_cmpuint (c->tx_errors, ==, 0);
  g_assert_cmpuint (c->tx_done, ==, len);
  check_port_received (c, data, len);
  g_test_message ("port: 8 MiB in 64 KiB writes took %" G_GINT64_FORMAT
      " ms", us / 1000);

  /* one write of all of it */
  reply = command (c, "port reset");
  g_assert_cmpstr (reply, ==, "OK port reset");
  g_free (reply);
  us = port_write (c, data, len, len, 1);
  g_assert_cmpuint (c->tx_done, ==, len);
  check_port_received (c, data, len);
  g_test_message ("port: one 8 MiB write took %" G_GINT64_FORMAT " ms",
      us / 1000);

  /* to the client */
  reply = command (c, "port reset");
  g_free (reply);
  reply = command (c, "port send 00ff7f");
  g_assert_cmpstr (reply, ==, "OK port send 3");
  g_free (reply);
  g_assert_true (run_until (c, has_port_bytes, GUINT_TO_POINTER (3),
          TIMEOUT_MS));
  g_assert_cmpuint (c->port_rx->data[0], ==, 0x00);
  g_assert_cmpuint (c->port_rx->data[1], ==, 0xff);
  g_assert_cmpuint (c->port_rx->data[2], ==, 0x7f);
  reply = command (c, "port send-pattern 100000");
  g_assert_cmpstr (reply, ==, "OK port send-pattern 100000");
  g_free (reply);
  g_assert_true (run_until (c, has_port_bytes, GUINT_TO_POINTER (100003),
          TIMEOUT_MS));
  g_assert_cmpuint (c->port_rx->len, ==, 100003);
  for (i = 0; i < 100000; i++)
    if (c->port_rx->data[3 + i] != pattern_byte (i))
      g_error ("pattern byte %" G_GSIZE_FORMAT " is %02x, not %02x", i,
          c->port_rx->data[3 + i], pattern_byte (i));
  reply = command (c, "port stats");
  g_assert_cmpstr (reply, ==, "OK port stats opened=1 connected=1 bytes=0 "
      "sha256=" EMPTY_SHA256 " sent=100003 queued=0");
  g_free (reply);

  /* a client port event (only BREAK and private codes can be sent) */
  spice_port_channel_event (SPICE_PORT_CHANNEL (c->port),
      SPICE_PORT_EVENT_BREAK);
  wait_event (c, "PORT event 2");

  g_assert_null (test_server_command (c->server, "port send 0", TIMEOUT_MS));
  g_assert_null (test_server_command (c->server, "port send-pattern x",
          TIMEOUT_MS));
  g_assert_null (test_server_command (c->server, "port nonsense",
          TIMEOUT_MS));
  g_free (data);
  client_free (c);
}

static void
test_port_echo (void)
{
  const gchar *args[] = { "--port-name", PORT_NAME, "--port-mode", "echo",
    "--size", "160x120", NULL
  };
  Client *c = port_connect (args);
  gsize small = 1 << 20, big = 12 << 20;
  guint8 *data = make_noise (big, 2);
  gchar *reply;

  /* 1 MiB round trip in 64 KiB writes */
  port_write (c, data, small, 64 << 10, 4);
  g_assert_cmpuint (c->tx_done, ==, small);
  g_assert_true (run_until (c, has_port_bytes, GSIZE_TO_POINTER (small),
          TIMEOUT_MS));
  g_assert_cmpuint (c->port_rx->len, ==, small);
  g_assert_true (memcmp (c->port_rx->data, data, small) == 0);

  /* one write larger than the server's 8 MiB echo queue: it only goes
   * through because the client reads the echo meanwhile */
  g_byte_array_set_size (c->port_rx, 0);
  port_write (c, data, big, big, 1);
  g_assert_cmpuint (c->tx_done, ==, big);
  g_assert_true (run_until (c, has_port_bytes, GSIZE_TO_POINTER (big),
          TIMEOUT_MS));
  g_assert_cmpuint (c->port_rx->len, ==, big);
  g_assert_true (memcmp (c->port_rx->data, data, big) == 0);

  reply = port_stats_wait (c, small + big);
  g_assert_cmpint (reply_value (reply, "bytes"), ==, small + big);
  g_assert_cmpint (reply_value (reply, "sent"), ==, small + big);
  g_assert_cmpint (reply_value (reply, "queued"), ==, 0);
  g_free (reply);

  /* the char device's state callback tells when the port channel goes */
  spice_session_disconnect (c->session);
  g_assert_true (run_until (c, is_disconnected, NULL, TIMEOUT_MS));
  wait_event (c, "PORT disconnected");
  g_free (data);
  client_free (c);
}

static gboolean
no_writes_in_flight (Client * c, gpointer data)
{
  return c->tx_in_flight == 0;
}

static void
count_critical (const gchar * log_domain, GLogLevelFlags log_level,
    const gchar * message, gpointer data)
{
  (*(guint *) data)++;
}

static void
test_port_closed (void)
{
  const gchar *args[] = { "--port-name", PORT_NAME, "--port-closed",
    "--size", "160x120", NULL
  };
  Client *c = port_connect (args);
  gsize len = 32 << 20;
  guint8 *data = make_noise (len, 3);
  guint8 three[] = { 1, 2, 3 };
  guint criticals = 0, handler, gobject_handler, pending;
  GLogLevelFlags fatal;
  gchar *reply;

  /* closed from the start: port-opened FALSE, no port-event, and a write
   * fails at once */
  g_assert_false (c->port_opened);
  g_assert_cmpuint (c->port_events->len, ==, 0);
  port_write (c, three, 3, 3, 1);
  g_assert_cmpuint (c->tx_errors, ==, 1);
  g_assert_cmpstr (c->tx_error, ==, "The port is not opened");
  reply = command (c, "port stats");
  g_assert_cmpstr (reply, ==, "OK port stats opened=0 connected=1 bytes=0 "
      "sha256=" EMPTY_SHA256 " sent=0 queued=0");
  g_free (reply);

  /* what the guest side sends waits while it has the port closed */
  reply = command (c, "port send-pattern 1000");
  g_free (reply);
  run_for (c, 200);
  g_assert_cmpuint (c->port_rx->len, ==, 0);
  reply = command (c, "port stats");
  g_assert_cmpint (reply_value (reply, "queued"), ==, 1000);
  g_free (reply);

  reply = command (c, "port open");
  g_assert_cmpstr (reply, ==, "OK port open");
  g_free (reply);
  g_assert_true (run_until (c, has_port_events, GUINT_TO_POINTER (1),
          TIMEOUT_MS));
  g_assert_cmpint (port_event (c, 0), ==, SPICE_PORT_EVENT_OPENED);
  g_assert_true (c->port_opened);
  g_assert_true (run_until (c, has_port_bytes, GUINT_TO_POINTER (1000),
          TIMEOUT_MS));
  port_write (c, data, 65536, 65536, 1);
  g_assert_cmpuint (c->tx_errors, ==, 0);
  check_port_received (c, data, 65536);

  reply = command (c, "port close");
  g_assert_cmpstr (reply, ==, "OK port close");
  g_free (reply);
  g_assert_true (run_until (c, has_port_events, GUINT_TO_POINTER (2),
          TIMEOUT_MS));
  g_assert_cmpint (port_event (c, 1), ==, SPICE_PORT_EVENT_CLOSED);
  g_assert_false (c->port_opened);
  port_write (c, three, 3, 3, 1);
  g_assert_cmpuint (c->tx_errors, ==, 1);

  /* closed while writes are under way (issued before the client saw
   * CLOSED): libspice-server takes 128 messages, the sockets some more,
   * and the other writes stay pending, without error, until the guest
   * side opens again; then everything arrives, in order */
  reply = command (c, "port reset");
  g_free (reply);
  reply = command (c, "port open");
  g_free (reply);
  g_assert_true (run_until (c, has_port_events, GUINT_TO_POINTER (3),
          TIMEOUT_MS));
  reply = command (c, "port close");
  g_free (reply);
  port_write_start (c, data, len, 64 << 10, G_MAXUINT);
  g_assert_false (run_until (c, port_pump, NULL, 500));
  g_assert_true (run_until (c, has_port_events, GUINT_TO_POINTER (4),
          TIMEOUT_MS));
  g_assert_cmpint (port_event (c, 3), ==, SPICE_PORT_EVENT_CLOSED);
  g_assert_false (c->port_opened);
  g_assert_cmpuint (c->tx_errors, ==, 0);
  g_assert_cmpuint (c->tx_in_flight, >, 0);
  reply = command (c, "port stats");
  g_assert_cmpint (reply_value (reply, "bytes"), ==, 0);
  g_free (reply);
  g_test_message ("closed mid-stream: %u of %" G_GSIZE_FORMAT " writes "
      "pending", c->tx_in_flight, len / (64 << 10));
  reply = command (c, "port open");
  g_free (reply);
  g_assert_true (run_until (c, port_pump, NULL, TIMEOUT_MS));
  g_assert_cmpuint (c->tx_errors, ==, 0);
  check_port_received (c, data, len);
  g_assert_true (run_until (c, has_port_events, GUINT_TO_POINTER (5),
          TIMEOUT_MS));
  g_assert_cmpint (port_event (c, 4), ==, SPICE_PORT_EVENT_OPENED);

  /* the session goes while writes are pending: each of them calls back
   * with success (the bytes are lost), and spice-client-glib 0.42 logs a
   * GSpice critical for most of them (it checks the read-only flag of the
   * session it just dropped) */
  reply = command (c, "port close");
  g_free (reply);
  reply = command (c, "port reset");
  g_free (reply);
  port_write_start (c, data, len, 64 << 10, G_MAXUINT);
  g_assert_false (run_until (c, port_pump, NULL, 300));
  pending = c->tx_in_flight;
  g_assert_cmpuint (pending, >, 0);
  /* counted, not printed, and not fatal (g_test_init makes criticals
   * fatal, and the test's fatal handler is not consulted for them here);
   * until the end of the test, as the session's other channels log a few
   * more (g_object_get or spice_session_get_read_only on the session
   * their dispose dropped) as their coroutines wind down */
  fatal = g_log_set_always_fatal (G_LOG_FATAL_MASK);
  handler = g_log_set_handler ("GSpice", G_LOG_LEVEL_CRITICAL, count_critical,
      &criticals);
  gobject_handler = g_log_set_handler ("GLib-GObject", G_LOG_LEVEL_CRITICAL,
      count_critical, &criticals);
  spice_session_disconnect (c->session);
  g_assert_true (run_until (c, is_disconnected, NULL, TIMEOUT_MS));
  g_assert_true (run_until (c, no_writes_in_flight, NULL, TIMEOUT_MS));
  g_assert_cmpuint (c->tx_errors, ==, 0);
  g_assert_cmpuint (c->tx_done, ==, len);
  g_assert_cmpuint (criticals, <=, pending);
  g_test_message ("disconnected with %u writes pending: all succeeded, %u "
      "GSpice criticals", pending, criticals);
  /* the 128 messages libspice-server had taken stay in the library, and
   * the device takes them once the port is open and a client attached */
  wait_event (c, "PORT disconnected");
  reply = command (c, "port open");
  g_free (reply);
  run_for (c, 200);
  reply = command (c, "port stats");
  g_assert_cmpint (reply_value (reply, "bytes"), ==, 0);
  g_free (reply);
  client_reconnect (c);
  check_port_received (c, data, 128 * (64 << 10));
  g_free (data);
  client_free (c);
  g_log_remove_handler ("GLib-GObject", gobject_handler);
  g_log_remove_handler ("GSpice", handler);
  g_log_set_always_fatal (fatal);
}

/* ------------------------------------------------------------------------ */
/* Inputs                                                                   */

static gboolean
inputs_ready (Client * c, gpointer data)
{
  return c->inputs_opened;
}

static gboolean
has_mouse_mode (Client * c, gpointer data)
{
  return c->mouse_mode == GPOINTER_TO_INT (data);
}

/* The next unconsumed server event starting with `prefix` is `want`. */
static void
expect_event (Client * c, const gchar * prefix, const gchar * want)
{
  gchar *line = NULL;

  if (!run_until (c, has_event_line, (gpointer) prefix, TIMEOUT_MS))
    g_error ("no '%s' from the server (expected '%s')", prefix, want);
  line = c->event_line;
  c->event_line = NULL;
  g_assert_cmpstr (line, ==, want);
  g_free (line);
}

static Client *
inputs_connect (const gchar * const *args)
{
  Client *c = client_connect (TEST_SERVER_TCP, args, NULL);

  g_assert_true (run_until (c, inputs_ready, NULL, TIMEOUT_MS));
  wait_event (c, "INPUTS connected");
  return c;
}

static void
check_keys (Client * c)
{
  SpiceInputsChannel *inputs = SPICE_INPUTS_CHANNEL (c->inputs);

  /* set 1: make, break = make | 0x80 */
  spice_inputs_channel_key_press (inputs, 0x1e);
  spice_inputs_channel_key_release (inputs, 0x1e);
  expect_event (c, "KBD ", "KBD 1e");
  expect_event (c, "KBD ", "KBD 9e");
  /* e0-prefixed keys (here keypad Enter) are 0x100 | code: the prefix
   * arrives as a byte of its own, before the make and the break */
  spice_inputs_channel_key_press (inputs, 0x11c);
  spice_inputs_channel_key_release (inputs, 0x11c);
  expect_event (c, "KBD ", "KBD e0");
  expect_event (c, "KBD ", "KBD 1c");
  expect_event (c, "KBD ", "KBD e0");
  expect_event (c, "KBD ", "KBD 9c");
  /* Right Ctrl, and press-and-release in one call */
  spice_inputs_channel_key_press_and_release (inputs, 0x11d);
  expect_event (c, "KBD ", "KBD e0");
  expect_event (c, "KBD ", "KBD 1d");
  expect_event (c, "KBD ", "KBD e0");
  expect_event (c, "KBD ", "KBD 9d");
}

static void
test_inputs_server_mode (void)
{
  const gchar *args[] = { "--size", "160x120", "--fps", "0", NULL };
  Client *c = inputs_connect (args);
  SpiceInputsChannel *inputs = SPICE_INPUTS_CHANNEL (c->inputs);
  gchar *reply;

  /* no tablet: server mouse mode, whatever the client asks */
  spice_main_channel_request_mouse_mode (SPICE_MAIN_CHANNEL (c->main),
      SPICE_MOUSE_MODE_CLIENT);
  run_for (c, 100);
  reply = command (c, "mouse-mode");
  g_assert_cmpstr (reply, ==, "OK mouse-mode server");
  g_free (reply);
  g_assert_cmpint (c->mouse_mode, ==, SPICE_MOUSE_MODE_SERVER);

  check_keys (c);

  /* relative motion; a position is dropped in server mode */
  spice_inputs_channel_position (inputs, 10, 20, 0, 0);
  spice_inputs_channel_motion (inputs, 5, -3, 0);
  expect_event (c, "MOUSE ", "MOUSE motion 5 -3 0 0");
  /* a press is a motion of 0 0 0 with the new state, a release a buttons
   * call; the library swaps the protocol's middle (2) and right (4) bits */
  spice_inputs_channel_button_press (inputs, SPICE_MOUSE_BUTTON_LEFT, 0);
  expect_event (c, "MOUSE ", "MOUSE motion 0 0 0 1");
  spice_inputs_channel_motion (inputs, 1, 2, SPICE_MOUSE_BUTTON_MASK_LEFT);
  expect_event (c, "MOUSE ", "MOUSE motion 1 2 0 1");
  spice_inputs_channel_button_release (inputs, SPICE_MOUSE_BUTTON_LEFT,
      SPICE_MOUSE_BUTTON_MASK_LEFT);
  expect_event (c, "MOUSE ", "MOUSE buttons 0");
  spice_inputs_channel_button_press (inputs, SPICE_MOUSE_BUTTON_MIDDLE, 0);
  expect_event (c, "MOUSE ", "MOUSE motion 0 0 0 4");
  spice_inputs_channel_button_release (inputs, SPICE_MOUSE_BUTTON_MIDDLE,
      SPICE_MOUSE_BUTTON_MASK_MIDDLE);
  expect_event (c, "MOUSE ", "MOUSE buttons 0");
  spice_inputs_channel_button_press (inputs, SPICE_MOUSE_BUTTON_RIGHT, 0);
  expect_event (c, "MOUSE ", "MOUSE motion 0 0 0 2");
  spice_inputs_channel_button_release (inputs, SPICE_MOUSE_BUTTON_RIGHT,
      SPICE_MOUSE_BUTTON_MASK_RIGHT);
  expect_event (c, "MOUSE ", "MOUSE buttons 0");
  /* side and extra move one bit up */
  spice_inputs_channel_button_press (inputs, SPICE_MOUSE_BUTTON_SIDE, 0);
  expect_event (c, "MOUSE ", "MOUSE motion 0 0 0 64");
  spice_inputs_channel_button_release (inputs, SPICE_MOUSE_BUTTON_SIDE,
      SPICE_MOUSE_BUTTON_MASK_SIDE);
  expect_event (c, "MOUSE ", "MOUSE buttons 0");
  spice_inputs_channel_button_press (inputs, SPICE_MOUSE_BUTTON_EXTRA, 0);
  expect_event (c, "MOUSE ", "MOUSE motion 0 0 0 128");
  spice_inputs_channel_button_release (inputs, SPICE_MOUSE_BUTTON_EXTRA,
      SPICE_MOUSE_BUTTON_MASK_EXTRA);
  expect_event (c, "MOUSE ", "MOUSE buttons 0");
  /* scroll: a press of up (dz -1) or down (dz 1), the release a buttons
   * call; the up and down bits never reach the device */
  spice_inputs_channel_button_press (inputs, SPICE_MOUSE_BUTTON_UP, 0);
  spice_inputs_channel_button_release (inputs, SPICE_MOUSE_BUTTON_UP, 0);
  expect_event (c, "MOUSE ", "MOUSE motion 0 0 -1 0");
  expect_event (c, "MOUSE ", "MOUSE buttons 0");
  spice_inputs_channel_button_press (inputs, SPICE_MOUSE_BUTTON_DOWN,
      SPICE_MOUSE_BUTTON_MASK_DOWN);
  spice_inputs_channel_button_release (inputs, SPICE_MOUSE_BUTTON_DOWN,
      SPICE_MOUSE_BUTTON_MASK_DOWN);
  expect_event (c, "MOUSE ", "MOUSE motion 0 0 1 0");
  expect_event (c, "MOUSE ", "MOUSE buttons 0");
  g_assert_null (test_server_wait_event (c->server, "TABLET", 0));
  client_free (c);
}

static void
test_inputs_tablet (void)
{
  const gchar *args[] = { "--tablet", "--size", "320x240", "--fps", "0",
    NULL
  };
  Client *c = inputs_connect (args);
  SpiceInputsChannel *inputs = SPICE_INPUTS_CHANNEL (c->inputs);
  gchar *reply;

  /* the logical size is the primary surface's, from its creation on */
  expect_event (c, "TABLET ", "TABLET size 320 240");
  /* spice-client-glib asks for client mode by itself when the server
   * allows it; asking again is harmless */
  g_assert_true (run_until (c, has_mouse_mode,
          GINT_TO_POINTER (SPICE_MOUSE_MODE_CLIENT), TIMEOUT_MS));
  spice_main_channel_request_mouse_mode (SPICE_MAIN_CHANNEL (c->main),
      SPICE_MOUSE_MODE_CLIENT);
  run_for (c, 50);
  g_assert_cmpint (c->mouse_mode, ==, SPICE_MOUSE_MODE_CLIENT);
  reply = command (c, "mouse-mode");
  g_assert_cmpstr (reply, ==, "OK mouse-mode client");
  g_free (reply);

  check_keys (c);

  /* positions in surface pixels, as the client gave them: not scaled to
   * the logical size, not clamped to it; a motion is dropped in client
   * mode */
  spice_inputs_channel_motion (inputs, 5, 5, 0);
  spice_inputs_channel_position (inputs, 10, 20, 0, 0);
  expect_event (c, "TABLET ", "TABLET position 10 20 0");
  spice_inputs_channel_position (inputs, 500, 400, 0, 0);
  expect_event (c, "TABLET ", "TABLET position 500 400 0");
  spice_inputs_channel_position (inputs, 30, 40, 0,
      SPICE_MOUSE_BUTTON_MASK_RIGHT);
  expect_event (c, "TABLET ", "TABLET position 30 40 2");
  /* a press is wheel (0, new state), a release buttons (state) */
  spice_inputs_channel_button_press (inputs, SPICE_MOUSE_BUTTON_LEFT, 0);
  expect_event (c, "TABLET ", "TABLET wheel 0 1");
  spice_inputs_channel_button_release (inputs, SPICE_MOUSE_BUTTON_LEFT,
      SPICE_MOUSE_BUTTON_MASK_LEFT);
  expect_event (c, "TABLET ", "TABLET buttons 0");
  spice_inputs_channel_button_press (inputs, SPICE_MOUSE_BUTTON_MIDDLE, 0);
  expect_event (c, "TABLET ", "TABLET wheel 0 4");
  spice_inputs_channel_button_release (inputs, SPICE_MOUSE_BUTTON_MIDDLE,
      SPICE_MOUSE_BUTTON_MASK_MIDDLE);
  expect_event (c, "TABLET ", "TABLET buttons 0");
  spice_inputs_channel_button_press (inputs, SPICE_MOUSE_BUTTON_RIGHT, 0);
  expect_event (c, "TABLET ", "TABLET wheel 0 2");
  spice_inputs_channel_button_release (inputs, SPICE_MOUSE_BUTTON_RIGHT,
      SPICE_MOUSE_BUTTON_MASK_RIGHT);
  expect_event (c, "TABLET ", "TABLET buttons 0");
  /* scroll up is wheel -1, down wheel 1, each release buttons */
  spice_inputs_channel_button_press (inputs, SPICE_MOUSE_BUTTON_UP, 0);
  spice_inputs_channel_button_release (inputs, SPICE_MOUSE_BUTTON_UP, 0);
  expect_event (c, "TABLET ", "TABLET wheel -1 0");
  expect_event (c, "TABLET ", "TABLET buttons 0");
  spice_inputs_channel_button_press (inputs, SPICE_MOUSE_BUTTON_DOWN, 0);
  spice_inputs_channel_button_release (inputs, SPICE_MOUSE_BUTTON_DOWN, 0);
  expect_event (c, "TABLET ", "TABLET wheel 1 0");
  expect_event (c, "TABLET ", "TABLET buttons 0");
  g_assert_null (test_server_wait_event (c->server, "MOUSE", 0));

  /* a resize: while there is no primary the tablet gets a logical size of
   * 0 x 0 (client mode stays on), then the new size */
  reply = command (c, "resize 200 150");
  g_free (reply);
  expect_event (c, "TABLET ", "TABLET size 0 0");
  expect_event (c, "TABLET ", "TABLET size 200 150");
  reply = command (c, "mouse-mode");
  g_assert_cmpstr (reply, ==, "OK mouse-mode client");
  g_free (reply);
  spice_inputs_channel_position (inputs, 199, 149, 0, 0);
  expect_event (c, "TABLET ", "TABLET position 199 149 0");
  reply = command (c, "mouse-mode");
  g_assert_cmpstr (reply, ==, "OK mouse-mode client");
  g_free (reply);
  client_free (c);
}

/* GL scanout (--gl, over the unix socket) */

static gboolean
has_scanouts (Client * c, gpointer data)
{
  return c->n_scanouts >= GPOINTER_TO_UINT (data);
}

static gboolean
has_gl_draws (Client * c, gpointer data)
{
  return c->n_gl_draws >= GPOINTER_TO_UINT (data);
}

static gboolean
display_is_closed (Client * c, gpointer data)
{
  return c->display_closed;
}

static Client *
gl_connect (const gchar * const *args, gboolean no_ack)
{
  Client *c;

  next_gl_scanout = 1;
  c = client_connect (TEST_SERVER_UNIX, args, NULL);
  c->gl_no_ack = no_ack;
  return c;
}

static void
gl_assert_clean (Client * c)
{
  if (c->gl_error)
    g_error ("GL scanout content: %s", c->gl_error);
}

static void
gl_check_scanout (Client * c, guint w, guint h, guint32 fourcc,
    gboolean y0top)
{
  g_assert_cmpint (c->scanout.fd, >=, 0);
  g_assert_cmpuint (c->scanout.width, ==, w);
  g_assert_cmpuint (c->scanout.height, ==, h);
  g_assert_cmpuint (c->scanout.stride, ==, w * 4);
  g_assert_cmphex (c->scanout.format, ==, fourcc);
  g_assert_cmpint (!!c->scanout.y0top, ==, !!y0top);
}

#define FOURCC_XR24 0x34325258u
#define FOURCC_AR24 0x34325241u
#define FOURCC_XB24 0x34324258u

static void
test_gl_scanout (void)
{
  const gchar *args[] = { "--gl", "--size", "320x240", "--fps", "30", NULL };
  Client *c = gl_connect (args, FALSE);
  gchar *reply;
  guint draws;

  g_assert_true (run_until (c, has_scanouts, GUINT_TO_POINTER (1),
          TIMEOUT_MS));
  gl_check_scanout (c, 320, 240, FOURCC_XR24, TRUE);
  g_assert_true (run_until (c, has_gl_draws, GUINT_TO_POINTER (15),
          TIMEOUT_MS));
  gl_assert_clean (c);
  g_assert_cmpuint (c->n_gl_checked, ==, c->n_gl_draws);
  g_assert_cmpuint (c->gl_last_frame - c->gl_first_frame, >=, 14);
  g_test_message ("gl: %u draws, frames %u..%u, %u scanouts",
      c->n_gl_draws, c->gl_first_frame, c->gl_last_frame, c->n_scanouts);
  /* a 2D primary exists as well (black, never drawn) */
  g_assert_nonnull (c->data);
  g_assert_cmpint (c->width, ==, 320);

  reply = command (c, "stop");
  g_free (reply);
  run_for (c, QUIET_MS);
  draws = c->n_gl_draws;
  reply = command (c, "gl stats");
  g_test_message ("%s", reply);
  /* frame 0 went out before the client came: drawn, not acknowledged */
  g_assert_cmpint (reply_value (reply, "draws"), >=, draws);
  g_assert_cmpint (reply_value (reply, "done"), >=, draws - 1);
  g_assert_cmpint (reply_value (reply, "done"), <,
      reply_value (reply, "draws"));
  g_assert_cmpint (reply_value (reply, "width"), ==, 320);
  g_assert_cmpint (reply_value (reply, "height"), ==, 240);
  g_assert_nonnull (strstr (reply, " fourcc=XR24"));
  g_free (reply);
  reply = command (c, "frame");
  g_assert_cmpuint (g_ascii_strtoull (reply + strlen ("OK frame "), NULL,
          10), ==, c->gl_last_frame);
  g_free (reply);
  g_assert_null (test_server_command (c->server, "damage 8 8", TIMEOUT_MS));

  /* resize: a new memfd and scanout, frame 0 at once.  The server waits
   * for the pending draw to be acknowledged first, and this client only
   * answers while the test iterates its context, not while it waits for a
   * command's reply: resize while stopped, with every draw answered. */
  reply = command (c, "resize 200 150");
  g_assert_cmpstr (reply, ==, "OK resize 200 150");
  g_free (reply);
  reply = command (c, "start");
  g_free (reply);
  g_assert_true (run_until (c, has_scanouts, GUINT_TO_POINTER (2),
          TIMEOUT_MS));
  gl_check_scanout (c, 200, 150, FOURCC_XR24, TRUE);
  draws = c->n_gl_draws;
  g_assert_true (run_until (c, has_gl_draws, GUINT_TO_POINTER (draws + 5),
          TIMEOUT_MS));
  gl_assert_clean (c);
  g_assert_cmpuint (c->n_gl_checked, ==, c->n_gl_draws);
  reply = command (c, "gl stats");
  g_assert_cmpint (reply_value (reply, "width"), ==, 200);
  g_assert_cmpint (reply_value (reply, "height"), ==, 150);
  g_free (reply);
  client_free (c);
}

/* Without draw-done no draw follows; the server counts the tick that
 * waited and draws again once acknowledged. */
static void
test_gl_no_ack (void)
{
  const gchar *args[] = { "--gl", "--size", "64x32", "--fps", "50", NULL };
  Client *c = gl_connect (args, TRUE);
  gchar *reply;
  gint64 draws;

  g_assert_true (run_until (c, has_gl_draws, GUINT_TO_POINTER (1),
          TIMEOUT_MS));
  run_for (c, 500);
  g_assert_cmpuint (c->n_gl_draws, ==, 1);
  reply = command (c, "gl stats");
  g_test_message ("%s", reply);
  draws = reply_value (reply, "draws");
  g_assert_cmpint (reply_value (reply, "waits"), ==, 1);
  /* frame 0, drawn before the client came, is not counted as done */
  g_assert_cmpint (reply_value (reply, "done"), ==, draws - 2);
  g_free (reply);
  /* a resize needs the pending draw completed: refused after 2 s */
  g_assert_null (test_server_command (c->server, "resize 32 32",
          TIMEOUT_MS));

  c->gl_no_ack = FALSE;
  spice_display_channel_gl_draw_done (SPICE_DISPLAY_CHANNEL (c->display));
  g_assert_true (run_until (c, has_gl_draws, GUINT_TO_POINTER (10),
          TIMEOUT_MS));
  gl_assert_clean (c);
  reply = command (c, "gl stats");
  g_test_message ("%s", reply);
  g_assert_cmpint (reply_value (reply, "draws"), >=, draws + 9);
  g_free (reply);
  client_free (c);
}

static void
run_gl_format (const gchar * name, const gchar * y0top, guint32 fourcc)
{
  const gchar *args[] = { "--gl", "--size", "96x64", "--fps", "50",
    "--gl-fourcc", name, "--gl-y0top", y0top, NULL
  };
  Client *c = gl_connect (args, FALSE);
  gchar *reply;

  g_assert_true (run_until (c, has_scanouts, GUINT_TO_POINTER (1),
          TIMEOUT_MS));
  gl_check_scanout (c, 96, 64, fourcc, g_str_equal (y0top, "1"));
  g_assert_true (run_until (c, has_gl_draws, GUINT_TO_POINTER (5),
          TIMEOUT_MS));
  gl_assert_clean (c);
  g_assert_cmpuint (c->n_gl_checked, ==, c->n_gl_draws);
  reply = command (c, "gl stats");
  g_assert_nonnull (strstr (reply, name));
  g_free (reply);
  client_free (c);
}

static void
test_gl_formats (void)
{
  run_gl_format ("XB24", "0", FOURCC_XB24);
  run_gl_format ("AR24", "1", FOURCC_AR24);
  run_gl_format ("XR24", "0", FOURCC_XR24);
}

/* An unknown fourcc goes to the client unchecked */
static void
test_gl_bad_fourcc (void)
{
  const gchar *args[] = { "--gl", "--size", "64x32", "--gl-fourcc", "BAD",
    NULL
  };
  Client *c = gl_connect (args, FALSE);

  g_assert_true (run_until (c, has_scanouts, GUINT_TO_POINTER (1),
          TIMEOUT_MS));
  gl_check_scanout (c, 64, 32, 0x20202020u, TRUE);
  g_assert_true (run_until (c, has_gl_draws, GUINT_TO_POINTER (3),
          TIMEOUT_MS));
  client_free (c);
}

/* A client without the GL cap: libspice-server drops its display channel
 * at the first draw. */
static void
test_gl_no_cap (void)
{
  const gchar *args[] = { "--gl", "--size", "64x32", NULL };
  Client *c;
  gboolean dflt;
  SpiceSession *s = spice_session_new ();

  g_object_get (s, "gl-scanout", &dflt, NULL);
  g_object_unref (s);
  g_test_message ("SpiceSession:gl-scanout defaults to %d here", dflt);

  next_gl_scanout = 0;
  c = client_connect (TEST_SERVER_UNIX, args, NULL);
  wait_event (c, "DISPLAY connected");
  g_assert_true (run_until (c, display_is_closed, NULL, TIMEOUT_MS));
  wait_event (c, "DISPLAY disconnected");
  g_assert_cmpuint (c->n_scanouts, ==, 0);
  g_assert_cmpuint (c->n_gl_draws, ==, 0);
  client_free (c);
}

static void
test_gl_options (void)
{
  const gchar *bad[][6] = {
    {"--gl", NULL},
    {"--gl", "--port", "0", NULL},
    {"--gl-fourcc", "XR24", NULL},
    {"--gl", "--unix", "/nonexistent/x.sock", "--gl-fourcc", "YUYV", NULL},
    {"--gl", "--unix", "/nonexistent/x.sock", "--gl-y0top", "2", NULL},
    {"--gl", "--unix", "/nonexistent/x.sock", "--damage", "8x8", NULL},
  };
  const gchar *bin = g_getenv ("SPICE_TEST_SERVER");
  gchar *path = bin ? g_strdup (bin) :
      g_build_filename (selftest_dir, "spice-test-server", NULL);
  guint i;

  for (i = 0; i < G_N_ELEMENTS (bad); i++) {
    GPtrArray *argv = g_ptr_array_new ();
    gint status = 0;
    guint j;

    g_ptr_array_add (argv, path);
    for (j = 0; bad[i][j]; j++)
      g_ptr_array_add (argv, (gpointer) bad[i][j]);
    g_ptr_array_add (argv, NULL);
    g_assert_true (g_spawn_sync (NULL, (gchar **) argv->pdata, NULL,
            G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL, NULL,
            NULL, NULL, NULL, &status, NULL));
    g_assert_true (WIFEXITED (status));
    g_assert_cmpint (WEXITSTATUS (status), ==, 2);
    g_ptr_array_unref (argv);
  }
  g_free (path);
}

static void
test_gl_none (void)
{
  Client *c = client_connect (TEST_SERVER_UNIX, NULL, NULL);

  g_assert_true (run_until (c, has_invalidates, GUINT_TO_POINTER (1),
          TIMEOUT_MS));
  g_assert_null (test_server_command (c->server, "gl stats", TIMEOUT_MS));
  g_assert_cmpuint (c->n_scanouts, ==, 0);
  client_free (c);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  selftest_dir = g_path_get_dirname (argv[0]);
  g_test_add_func ("/server/tcp-full", test_tcp_full);
  g_test_add_func ("/server/tcp-damage", test_tcp_damage);
  g_test_add_func ("/server/unix-full", test_unix_full);
  g_test_add_func ("/server/wrong-password", test_wrong_password);
  g_test_add_func ("/server/resize", test_resize);
  g_test_add_func ("/server/drop", test_drop);
  g_test_add_func ("/server/cursor", test_cursor);
  g_test_add_func ("/server/audio-playback", test_audio_playback);
  g_test_add_func ("/server/audio-stop-start", test_audio_stop_start);
  g_test_add_func ("/server/audio-44100", test_audio_44100);
  g_test_add_func ("/server/audio-sine", test_audio_sine);
  g_test_add_func ("/server/audio-opus", test_audio_opus);
  g_test_add_func ("/server/audio-record", test_audio_record);
  g_test_add_func ("/server/audio-record-late", test_audio_record_late);
  g_test_add_func ("/server/audio-record-opus", test_audio_record_opus);
  g_test_add_func ("/server/port-sink", test_port_sink);
  g_test_add_func ("/server/port-echo", test_port_echo);
  g_test_add_func ("/server/port-closed", test_port_closed);
  g_test_add_func ("/server/inputs-server-mode", test_inputs_server_mode);
  g_test_add_func ("/server/inputs-tablet", test_inputs_tablet);
  g_test_add_func ("/server/gl-scanout", test_gl_scanout);
  g_test_add_func ("/server/gl-no-ack", test_gl_no_ack);
  g_test_add_func ("/server/gl-formats", test_gl_formats);
  g_test_add_func ("/server/gl-bad-fourcc", test_gl_bad_fourcc);
  g_test_add_func ("/server/gl-no-cap", test_gl_no_cap);
  g_test_add_func ("/server/gl-options", test_gl_options);
  g_test_add_func ("/server/gl-none", test_gl_none);
  return g_test_run ();
}
