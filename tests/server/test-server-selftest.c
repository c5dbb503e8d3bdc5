/* Self-test of spice-test-server and testserver.c: connect with
 * spice-client-glib and check that the client's primary surface holds
 * exactly the frames of test-pattern.h, and that playback and record carry
 * the signal of test-audio.h. */
#include <math.h>
#include <string.h>

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

static Client *
client_connect (TestServerTransport transport, const gchar * const *args,
    const gchar * password)
{
  Client *c = g_new0 (Client, 1);

  c->want_cursor = args && g_strv_contains (args, "--cursor");
  c->want_audio = args && g_strv_contains (args, "--audio");
  c->packets = g_array_new (FALSE, FALSE, sizeof (Packet));
  c->pcm = g_byte_array_new ();
  c->server = test_server_start (transport, args);
  c->session = spice_session_new ();
  /* audio channels without spice_audio_get (): no audio backend of
   * spice-gtk's own, the test handles the channels' signals itself */
  g_object_set (c->session, "uri", test_server_get_uri (c->server),
      "enable-audio", c->want_audio, "enable-usbredir", FALSE,
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
  g_array_unref (c->packets);
  g_byte_array_unref (c->pcm);
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
  g_test_add_func ("/server/audio-playback", test_audio_playback);
  g_test_add_func ("/server/audio-stop-start", test_audio_stop_start);
  g_test_add_func ("/server/audio-44100", test_audio_44100);
  g_test_add_func ("/server/audio-sine", test_audio_sine);
  g_test_add_func ("/server/audio-opus", test_audio_opus);
  g_test_add_func ("/server/audio-record", test_audio_record);
  g_test_add_func ("/server/audio-record-late", test_audio_record_late);
  g_test_add_func ("/server/audio-record-opus", test_audio_record_opus);
  return g_test_run ();
}
