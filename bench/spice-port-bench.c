/* spice-port-bench: spicedatasink and spicedatasrc against a bare
 * spice-client-glib client on a SPICE port of the project's test server.
 *
 * The parent starts spice-test-server with one port (--port-name, count
 * mode for throughput: it only counts, as a hash in its main thread would
 * cap the rate; echo mode for round trips) and runs each mode in a child
 * process of its own (spice-client-glib is a process-wide singleton, and
 * the server takes one client at a time), interleaved baseline, elements,
 * baseline, elements...  Each child waits until the port is open, measures,
 * and prints one RESULT line that the parent parses.
 *
 *   baseline-throughput       a SpiceSession that connects the port channel
 *                             only; N bytes in 64 KiB
 *                             spice_port_channel_write_async calls, at most
 *                             4 MiB handed over and not yet called back
 *                             (spicedatasink's default max-in-flight); from
 *                             the first write to the last callback.
 *   spicedatasink-throughput  appsrc ! spicedatasink (defaults); appsrc
 *                             pushes the same N bytes in 64 KiB buffers that
 *                             wrap one pre-filled pool, one buffer per
 *                             need-data; from the first buffer to EOS (which
 *                             spicedatasink holds until every byte is on the
 *                             socket).
 *   baseline-rtt              the bare client writes a 100-byte message and
 *                             waits for its 100 bytes on port-data, again
 *                             and again (server in echo mode).
 *   elements-rtt              appsrc ! spicedatasink framing=none
 *                             spicedatasrc framing=none ! appsink, one
 *                             connection shared by both: push a 100-byte
 *                             buffer, pull until 100 bytes came back.
 *
 * The bare client dispatches spice-client-glib from its main thread's
 * default main loop.  The pipeline children never iterate the default
 * context themselves (they wait on the bus and on appsink, as many
 * applications do), so the plugin's spice thread dispatches it.  After each
 * throughput child the parent checks with "port stats" that the server got
 * exactly N bytes with the expected SHA-256, then "port reset"s, so a short
 * or damaged transfer can never count.  CPU is the child's user+sys time
 * (getrusage, all threads) over the measured span.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <spice-client.h>

#include "testserver.h"
#include "benchutil.h"

#ifndef GST_SPICE_PLUGIN_DIR
#error "GST_SPICE_PLUGIN_DIR must be defined by the build"
#endif

#define PORT_NAME "org.gstspice.bench.0"
#define SERVER_SIZE "64x64"
#define CHUNK_BYTES (64u << 10)
/* spicedatasink's default max-in-flight */
#define MAX_IN_FLIGHT (4u << 20)
/* the bytes sent are this pool over and over; a multiple of CHUNK_BYTES */
#define POOL_BYTES (8u << 20)
#define N_POOL_CHUNKS (POOL_BYTES / CHUNK_BYTES)
#define MSG_BYTES 100
/* messages the bare client may have handed over and not had called back */
#define MSG_SLOTS 4

#define OPEN_TIMEOUT_MS 15000
#define RTT_TIMEOUT_MS 5000
#define DISCONNECT_TIMEOUT_MS 5000
#define STATS_TIMEOUT_MS 10000
/* on top of the open timeout and the measurement's own limit */
#define CHILD_GRACE_MS 15000
#define MAX_ROUNDS 16

#define TARGET_THROUGHPUT_RATIO 0.90

/* ---------------------------------------------------------------------- */
/* What parent and children share                                         */

/* How long a child may take once the port is open: generous, it only
 * catches hangs (10 MB/s; 10 ms per round trip). */
static guint
throughput_limit_ms (guint64 bytes)
{
  return 20000 + (guint) (bytes / 10000);
}

static guint
rtt_limit_ms (guint messages)
{
  return 20000 + messages * 10;
}

/* The pool the throughput modes send, over and over: pseudo-random bytes,
 * so that chunks swapped or repeated change the server's SHA-256. */
static guint8 *
pool_new (void)
{
  guint8 *pool = g_malloc (POOL_BYTES);
  guint32 x = 0x2545f491;
  gsize i;

  for (i = 0; i < POOL_BYTES; i += 4) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    memcpy (pool + i, &x, 4);
  }
  return pool;
}

/* Message @i of a round-trip run: its number, then a pattern of it. */
static void
msg_fill (guint8 * msg, guint32 i)
{
  guint j;

  msg[0] = i & 0xff;
  msg[1] = (i >> 8) & 0xff;
  msg[2] = (i >> 16) & 0xff;
  msg[3] = (i >> 24) & 0xff;
  for (j = 4; j < MSG_BYTES; j++)
    msg[j] = (guint8) (i * 131 + j * 7);
}

static gint64
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (gint64) ts.tv_sec * G_GINT64_CONSTANT (1000000000) + ts.tv_nsec;
}

static gint64
tv_us (const struct timeval *tv)
{
  return (gint64) tv->tv_sec * G_USEC_PER_SEC + tv->tv_usec;
}

static gint64
cpu_us (const struct rusage *r0, const struct rusage *r1)
{
  return tv_us (&r1->ru_utime) - tv_us (&r0->ru_utime) +
      tv_us (&r1->ru_stime) - tv_us (&r0->ru_stime);
}

static glong
csw (const struct rusage *r0, const struct rusage *r1)
{
  return (r1->ru_nvcsw + r1->ru_nivcsw) - (r0->ru_nvcsw + r0->ru_nivcsw);
}

static void
print_throughput_result (const gchar * mode, guint64 bytes, gint64 wall_ns,
    const struct rusage *r0, const struct rusage *r1, const gchar * extra)
{
  printf ("RESULT mode=%s bytes=%" G_GUINT64_FORMAT " wall_ns=%"
      G_GINT64_FORMAT " cpu_us=%" G_GINT64_FORMAT " csw=%ld%s%s\n", mode,
      bytes, wall_ns, cpu_us (r0, r1), csw (r0, r1), extra ? " " : "",
      extra ? extra : "");
  fflush (stdout);
}

/* @rtt: gint64 ns, one per measured round trip; sorted here */
static void
print_rtt_result (const gchar * mode, GArray * rtt, const struct rusage *r0,
    const struct rusage *r1, const gchar * extra)
{
  gint64 sum = 0;
  guint i;

  for (i = 0; i < rtt->len; i++)
    sum += g_array_index (rtt, gint64, i);
  bench_sort_gint64 (rtt);
  printf ("RESULT mode=%s count=%u min_ns=%" G_GINT64_FORMAT " p50_ns=%"
      G_GINT64_FORMAT " p99_ns=%" G_GINT64_FORMAT " max_ns=%" G_GINT64_FORMAT
      " mean_ns=%" G_GINT64_FORMAT " cpu_us=%" G_GINT64_FORMAT " csw=%ld%s%s\n",
      mode, rtt->len, bench_percentile (rtt, 0), bench_percentile (rtt, 50),
      bench_percentile (rtt, 99), bench_percentile (rtt, 100),
      rtt->len ? sum / rtt->len : 0, cpu_us (r0, r1), csw (r0, r1),
      extra ? " " : "", extra ? extra : "");
  fflush (stdout);
}

/* ---------------------------------------------------------------------- */
/* Child: the baseline, a bare spice-client-glib client                   */

typedef enum
{
  WORK_THROUGHPUT,
  WORK_RTT,
} Work;

/* Everything runs in this thread, which dispatches the default context. */
typedef struct
{
  Work work;
  const gchar *mode;
  GMainLoop *loop;
  SpiceSession *session;
  SpicePortChannel *port;       /* ours, once its name is known */
  gboolean started, done, failed, finishing, disconnected;
  gint64 open_deadline, end_deadline, last_progress;    /* monotonic us */
  guint limit_ms;
  guint watchdog_id;
  gint64 t0, t1;                /* ns */
  struct rusage r0, r1;

  /* throughput */
  const guint8 *pool;
  guint64 total, issued, written;
  gsize in_flight;

  /* round trips */
  guint warmup, count, sent, received;
  guint pending;                /* writes not called back yet */
  guint8 msgs[MSG_SLOTS][MSG_BYTES];
  guint8 rx[MSG_BYTES];
  gsize rx_len;
  gboolean waiting_echo;
  gint64 t_send;                /* ns */
  GArray *rtt;                  /* gint64 ns */
} Bare;

/* *INDENT-OFF* */
static void bare_fail (Bare * b, const gchar * format, ...)
    G_GNUC_PRINTF (2, 3);
/* *INDENT-ON* */

static void
bare_fail (Bare * b, const gchar * format, ...)
{
  va_list args;
  gchar *msg;

  if (b->finishing || b->failed)
    return;
  va_start (args, format);
  msg = g_strdup_vprintf (format, args);
  va_end (args);
  g_printerr ("spice-port-bench: %s: %s\n", b->mode, msg);
  g_free (msg);
  b->failed = TRUE;
  g_main_loop_quit (b->loop);
}

static void
bare_done (Bare * b)
{
  b->t1 = now_ns ();
  bench_getrusage (&b->r1);
  b->done = TRUE;
  g_main_loop_quit (b->loop);
}

static void bl_pump (Bare * b);

static void
bl_written (GObject * source, GAsyncResult * res, gpointer data)
{
  Bare *b = data;
  GError *err = NULL;
  gssize n;

  n = spice_port_channel_write_finish (SPICE_PORT_CHANNEL (source), res, &err);
  if (n < 0) {
    bare_fail (b, "write failed: %s", err ? err->message : "(no error)");
    g_clear_error (&err);
    return;
  }
  b->in_flight -= MIN (b->in_flight, (gsize) n);
  b->written += n;
  b->last_progress = g_get_monotonic_time ();
  if (b->done || b->failed || b->finishing)
    return;
  if (b->written >= b->total)
    bare_done (b);
  else
    bl_pump (b);
}

static void
bl_pump (Bare * b)
{
  while (b->issued < b->total && (b->in_flight == 0 ||
          b->in_flight + CHUNK_BYTES <= MAX_IN_FLIGHT)) {
    gsize n = MIN (CHUNK_BYTES, b->total - b->issued);

    /* the pool never changes: it outlives every write */
    spice_port_channel_write_async (b->port, b->pool + b->issued % POOL_BYTES,
        n, NULL, bl_written, b);
    b->issued += n;
    b->in_flight += n;
  }
}

static void bl_rtt_maybe_send (Bare * b);

static void
bl_rtt_written (GObject * source, GAsyncResult * res, gpointer data)
{
  Bare *b = data;
  GError *err = NULL;
  gssize n;

  n = spice_port_channel_write_finish (SPICE_PORT_CHANNEL (source), res, &err);
  b->pending--;
  if (n != MSG_BYTES) {
    bare_fail (b, "write failed: %s", err ? err->message : "short write");
    g_clear_error (&err);
    return;
  }
  bl_rtt_maybe_send (b);
}

static void
bl_rtt_maybe_send (Bare * b)
{
  guint8 *msg;

  if (b->failed || b->done || b->finishing || b->waiting_echo ||
      b->sent >= b->warmup + b->count)
    return;
  /* the slot's last write is still referenced: its callback sends */
  if (b->pending >= MSG_SLOTS)
    return;
  if (b->sent == b->warmup) {
    bench_getrusage (&b->r0);
    b->t0 = now_ns ();
  }
  msg = b->msgs[b->sent % MSG_SLOTS];
  msg_fill (msg, b->sent);
  b->waiting_echo = TRUE;
  b->rx_len = 0;
  b->pending++;
  b->sent++;
  b->t_send = now_ns ();
  spice_port_channel_write_async (b->port, msg, MSG_BYTES, NULL,
      bl_rtt_written, b);
}

static void
bl_port_data (SpicePortChannel * ch, gpointer data, gint size, Bare * b)
{
  gint64 t = now_ns ();
  guint i;

  if (ch != b->port || b->work != WORK_RTT || b->finishing)
    return;
  if (!b->waiting_echo || size < 0 || b->rx_len + size > MSG_BYTES) {
    bare_fail (b, "the echo brought more bytes than were sent");
    return;
  }
  memcpy (b->rx + b->rx_len, data, size);
  b->rx_len += size;
  if (b->rx_len < MSG_BYTES)
    return;

  b->waiting_echo = FALSE;
  i = b->sent - 1;
  if (memcmp (b->rx, b->msgs[i % MSG_SLOTS], MSG_BYTES) != 0) {
    bare_fail (b, "message %u came back different", i);
    return;
  }
  if (i >= b->warmup) {
    gint64 d = t - b->t_send;

    g_array_append_val (b->rtt, d);
  }
  b->received++;
  b->last_progress = g_get_monotonic_time ();
  if (b->received == b->warmup + b->count)
    bare_done (b);
  else
    bl_rtt_maybe_send (b);
}

static void
bl_start (Bare * b)
{
  if (b->started)
    return;
  b->started = TRUE;
  b->last_progress = g_get_monotonic_time ();
  if (b->work == WORK_THROUGHPUT) {
    b->limit_ms = throughput_limit_ms (b->total);
    b->end_deadline = b->last_progress + (gint64) b->limit_ms * 1000;
    bench_getrusage (&b->r0);
    b->t0 = now_ns ();
    bl_pump (b);
  } else {
    b->limit_ms = rtt_limit_ms (b->warmup + b->count);
    b->end_deadline = b->last_progress + (gint64) b->limit_ms * 1000;
    bl_rtt_maybe_send (b);
  }
}

/* port-opened is set, and OPENED emitted, before port-name is notified:
 * both notifications look at both */
static void
bl_port_changed (SpiceChannel * ch, GParamSpec * pspec, Bare * b)
{
  gchar *name = NULL;
  gboolean opened = FALSE;

  g_object_get (ch, "port-name", &name, "port-opened", &opened, NULL);
  if (g_strcmp0 (name, PORT_NAME) == 0) {
    b->port = SPICE_PORT_CHANNEL (ch);
    if (opened)
      bl_start (b);
    else if (b->started && !b->done)
      bare_fail (b, "the server closed the port");
  }
  g_free (name);
}

static void
bl_channel_event (SpiceChannel * ch, SpiceChannelEvent event, Bare * b)
{
  const GError *err;

  if (event == SPICE_CHANNEL_OPENED || b->finishing)
    return;
  err = spice_channel_get_error (ch);
  bare_fail (b, "%s channel event %d%s%s", SPICE_IS_MAIN_CHANNEL (ch) ?
      "main" : "port", event, err ? ": " : "", err ? err->message : "");
}

static void
bl_channel_new (SpiceSession * s, SpiceChannel * ch, Bare * b)
{
  if (SPICE_IS_MAIN_CHANNEL (ch)) {
    g_signal_connect (ch, "channel-event", G_CALLBACK (bl_channel_event), b);
    return;
  }
  if (!SPICE_IS_PORT_CHANNEL (ch))
    return;
  /* the name is only known once linked: every port is connected */
  g_signal_connect (ch, "notify::port-name", G_CALLBACK (bl_port_changed), b);
  g_signal_connect (ch, "notify::port-opened", G_CALLBACK (bl_port_changed), b);
  g_signal_connect (ch, "port-data", G_CALLBACK (bl_port_data), b);
  g_signal_connect (ch, "channel-event", G_CALLBACK (bl_channel_event), b);
  spice_channel_connect (ch);
}

static void
bl_disconnected (SpiceSession * s, Bare * b)
{
  b->disconnected = TRUE;
}

static gboolean
bl_watchdog (gpointer data)
{
  Bare *b = data;
  gint64 now = g_get_monotonic_time ();

  if (!b->started && now > b->open_deadline)
    bare_fail (b, "port '%s' %s within %d ms", PORT_NAME, b->port ?
        "not opened" : "not found", OPEN_TIMEOUT_MS);
  else if (b->started && now > b->end_deadline)
    bare_fail (b, "not done within %u ms", b->limit_ms);
  else if (b->started && now - b->last_progress > RTT_TIMEOUT_MS * 1000)
    bare_fail (b, "no progress for %d ms (%s)", RTT_TIMEOUT_MS,
        b->work == WORK_RTT ? "no echo" : "no write called back");
  return G_SOURCE_CONTINUE;
}

/* bounds the blocking iterations of a wait loop */
static gboolean
keep_waking (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

static gboolean
run_bare (Work work, const gchar * mode, const gchar * uri, guint64 bytes,
    guint warmup, guint count)
{
  Bare b = { 0, };
  gint64 deadline;
  guint wake;
  gboolean ok;

  b.work = work;
  b.mode = mode;
  b.loop = g_main_loop_new (NULL, FALSE);
  b.total = bytes;
  b.warmup = warmup;
  b.count = count;
  b.rtt = g_array_sized_new (FALSE, FALSE, sizeof (gint64), count);
  if (work == WORK_THROUGHPUT)
    b.pool = pool_new ();
  b.open_deadline = g_get_monotonic_time () + OPEN_TIMEOUT_MS * 1000;
  b.watchdog_id = g_timeout_add (100, bl_watchdog, &b);

  b.session = spice_session_new ();
  g_object_set (b.session, "uri", uri, "enable-audio", FALSE,
      "enable-usbredir", FALSE, "enable-smartcard", FALSE, NULL);
  g_signal_connect (b.session, "channel-new", G_CALLBACK (bl_channel_new), &b);
  g_signal_connect (b.session, "disconnected", G_CALLBACK (bl_disconnected),
      &b);
  if (!spice_session_connect (b.session))
    bare_fail (&b, "cannot connect to %s", uri);
  else
    g_main_loop_run (b.loop);
  g_source_remove (b.watchdog_id);

  ok = b.done && !b.failed;
  if (ok && work == WORK_THROUGHPUT)
    print_throughput_result (mode, b.written, b.t1 - b.t0, &b.r0, &b.r1, NULL);
  else if (ok)
    print_rtt_result (mode, b.rtt, &b.r0, &b.r1, NULL);

  /* pending writes call back (with success) when the session goes */
  b.finishing = TRUE;
  spice_session_disconnect (b.session);
  deadline = g_get_monotonic_time () + DISCONNECT_TIMEOUT_MS * 1000;
  wake = g_timeout_add (50, keep_waking, NULL);
  while (!b.disconnected && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (wake);
  if (!b.disconnected)
    g_printerr ("spice-port-bench: %s: no 'disconnected' within %d ms\n",
        mode, DISCONNECT_TIMEOUT_MS);
  g_object_unref (b.session);
  g_array_unref (b.rtt);
  g_free ((gpointer) b.pool);
  g_main_loop_unref (b.loop);
  return ok;
}

/* ---------------------------------------------------------------------- */
/* Child: pipelines                                                       */

static GstElement *
pipeline_new (const gchar * mode, const gchar * desc)
{
  GError *err = NULL;
  GstElement *pipeline = gst_parse_launch (desc, &err);

  if (!pipeline) {
    g_printerr ("spice-port-bench: %s: %s (is the plugin built in %s?)\n",
        mode, err->message, GST_SPICE_PLUGIN_DIR);
    g_clear_error (&err);
  }
  return pipeline;
}

static gboolean
print_bus_error (const gchar * mode, GstMessage * msg)
{
  GError *err = NULL;
  gchar *debug = NULL;

  if (!msg)
    return FALSE;
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    gst_message_parse_error (msg, &err, &debug);
    g_printerr ("spice-port-bench: %s: error from %s: %s (%s)\n", mode,
        GST_OBJECT_NAME (GST_MESSAGE_SRC (msg)), err->message,
        debug ? debug : "");
    g_clear_error (&err);
    g_free (debug);
  } else {
    g_printerr ("spice-port-bench: %s: unexpected %s from %s\n", mode,
        GST_MESSAGE_TYPE_NAME (msg), GST_OBJECT_NAME (GST_MESSAGE_SRC (msg)));
  }
  gst_message_unref (msg);
  return TRUE;
}

static guint64
stats_uint64 (GstElement * e, const gchar * field)
{
  GstStructure *st = NULL;
  guint64 v = 0;

  g_object_get (e, "stats", &st, NULL);
  if (st) {
    gst_structure_get_uint64 (st, field, &v);
    gst_structure_free (st);
  }
  return v;
}

static gboolean
stats_opened (GstElement * e)
{
  GstStructure *st = NULL;
  gboolean opened = FALSE;

  g_object_get (e, "stats", &st, NULL);
  if (st) {
    gst_structure_get_boolean (st, "opened", &opened);
    gst_structure_free (st);
  }
  return opened;
}

/* Waits (at most OPEN_TIMEOUT_MS) until every element in @els (NULL
 * terminated) has its port open; FALSE on an error or the timeout. */
static gboolean
wait_opened (const gchar * mode, GstElement * pipeline, GstElement ** els)
{
  gint64 deadline = g_get_monotonic_time () + OPEN_TIMEOUT_MS * 1000;
  GstBus *bus = gst_element_get_bus (pipeline);
  gboolean ok = FALSE;

  while (g_get_monotonic_time () < deadline) {
    GstElement **e;

    if (print_bus_error (mode, gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR |
                GST_MESSAGE_EOS)))
      break;
    e = els;
    while (*e && stats_opened (*e))
      e++;
    if (!*e) {
      ok = TRUE;
      break;
    }
    g_usleep (1000);
  }
  if (!ok && g_get_monotonic_time () >= deadline)
    g_printerr ("spice-port-bench: %s: port '%s' not open within %d ms\n",
        mode, PORT_NAME, OPEN_TIMEOUT_MS);
  gst_object_unref (bus);
  return ok;
}

typedef struct
{
  GstAppSrc *src;
  guint8 *pool;
  GstBuffer *bufs[N_POOL_CHUNKS];

  GMutex lock;
  /* guarded by lock: the main thread starts feeding, then need-data (the
   * streaming thread) carries on */
  gboolean go;
  guint64 total, pushed;
  gboolean eos_sent;
  gint64 t0, t1;                /* ns; t1 at the sink's EOS message */
  struct rusage r0, r1;
  gboolean have_t1;
} Feed;

/* with f->lock */
static void
feed_push_locked (Feed * f)
{
  if (f->pushed >= f->total) {
    if (!f->eos_sent)
      gst_app_src_end_of_stream (f->src);
    f->eos_sent = TRUE;
    return;
  }
  /* whole chunks: the total is a number of MiB */
  gst_app_src_push_buffer (f->src,
      gst_buffer_ref (f->bufs[(f->pushed % POOL_BYTES) / CHUNK_BYTES]));
  f->pushed += CHUNK_BYTES;
}

static void
feed_need_data (GstAppSrc * src, guint length, gpointer data)
{
  Feed *f = data;

  g_mutex_lock (&f->lock);
  if (f->go)
    feed_push_locked (f);
  g_mutex_unlock (&f->lock);
}

/* the sink posts EOS once every byte is on the socket: take the time in
 * its streaming thread, not when this thread gets round to the message */
static GstBusSyncReply
feed_bus_sync (GstBus * bus, GstMessage * msg, gpointer data)
{
  Feed *f = data;

  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS) {
    gint64 t = now_ns ();
    struct rusage r;

    bench_getrusage (&r);
    g_mutex_lock (&f->lock);
    f->t1 = t;
    f->r1 = r;
    f->have_t1 = TRUE;
    g_mutex_unlock (&f->lock);
  }
  return GST_BUS_PASS;
}

static gboolean
run_sink_throughput (const gchar * mode, const gchar * uri, guint64 bytes)
{
  GstAppSrcCallbacks cb = { feed_need_data, NULL, NULL, {NULL} };
  GstElement *pipeline, *sink = NULL;
  GstElement *els[2] = { NULL, NULL };
  GstMessage *msg = NULL;
  GstBus *bus;
  Feed f = { 0, };
  gboolean ok = FALSE;
  gchar *desc, *extra;
  guint i;

  desc = g_strdup_printf ("appsrc name=src format=bytes ! spicedatasink "
      "name=sink uri=\"%s\" port-name=%s", uri, PORT_NAME);
  pipeline = pipeline_new (mode, desc);
  g_free (desc);
  if (!pipeline)
    return FALSE;

  g_mutex_init (&f.lock);
  f.total = bytes;
  f.pool = pool_new ();
  for (i = 0; i < N_POOL_CHUNKS; i++)
    f.bufs[i] = gst_buffer_new_wrapped_full (GST_MEMORY_FLAG_READONLY,
        f.pool + (gsize) i * CHUNK_BYTES, CHUNK_BYTES, 0, CHUNK_BYTES, NULL,
        NULL);
  f.src = GST_APP_SRC (gst_bin_get_by_name (GST_BIN (pipeline), "src"));
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  els[0] = sink;
  gst_app_src_set_callbacks (f.src, &cb, &f, NULL);
  bus = gst_element_get_bus (pipeline);
  gst_bus_set_sync_handler (bus, feed_bus_sync, &f, NULL);

  if (gst_element_set_state (pipeline, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE) {
    print_bus_error (mode, gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR));
    g_printerr ("spice-port-bench: %s: cannot start the pipeline\n", mode);
    goto done;
  }
  if (!wait_opened (mode, pipeline, els))
    goto done;

  /* need-data was emitted once already and found nothing: the first
   * buffer goes from here, the rest from need-data */
  g_mutex_lock (&f.lock);
  bench_getrusage (&f.r0);
  f.t0 = now_ns ();
  f.go = TRUE;
  feed_push_locked (&f);
  g_mutex_unlock (&f.lock);

  msg = gst_bus_timed_pop_filtered (bus,
      (GstClockTime) throughput_limit_ms (bytes) * GST_MSECOND,
      GST_MESSAGE_ERROR | GST_MESSAGE_EOS);
  if (!msg) {
    g_printerr ("spice-port-bench: %s: no EOS within %u ms\n", mode,
        throughput_limit_ms (bytes));
  } else if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS) {
    g_mutex_lock (&f.lock);
    ok = f.have_t1;
    g_mutex_unlock (&f.lock);
    gst_message_unref (msg);
  } else {
    print_bus_error (mode, msg);
  }

  if (ok) {
    extra = g_strdup_printf ("el_bytes=%" G_GUINT64_FORMAT " el_writes=%"
        G_GUINT64_FORMAT " el_messages=%" G_GUINT64_FORMAT " el_lost=%"
        G_GUINT64_FORMAT, stats_uint64 (sink, "bytes-written"),
        stats_uint64 (sink, "writes"), stats_uint64 (sink, "messages"),
        stats_uint64 (sink, "lost-bytes"));
    print_throughput_result (mode, f.pushed, f.t1 - f.t0, &f.r0, &f.r1, extra);
    g_free (extra);
  }

done:
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_bus_set_sync_handler (bus, NULL, NULL, NULL);
  gst_object_unref (bus);
  gst_object_unref (sink);
  gst_object_unref (f.src);
  gst_object_unref (pipeline);
  for (i = 0; i < N_POOL_CHUNKS; i++)
    gst_buffer_unref (f.bufs[i]);
  g_free (f.pool);
  g_mutex_clear (&f.lock);
  return ok;
}

/* Pulls until the @MSG_BYTES bytes of @expect came back (each wait at most
 * until @deadline, monotonic us).  FALSE, with a message, otherwise. */
static gboolean
pull_echo (const gchar * mode, GstAppSink * out, const guint8 * expect,
    guint i, gint64 deadline)
{
  gsize got = 0;

  while (got < MSG_BYTES) {
    gint64 left = deadline - g_get_monotonic_time ();
    GstSample *sample;
    GstBuffer *buf;
    GstMapInfo map;
    gboolean same;

    sample = left > 0 ? gst_app_sink_try_pull_sample (out,
        (GstClockTime) left * GST_USECOND) : NULL;
    if (!sample) {
      g_printerr ("spice-port-bench: %s: message %u: %s after %"
          G_GSIZE_FORMAT " of %d bytes\n", mode, i,
          gst_app_sink_is_eos (out) ? "EOS" : "no echo within the timeout",
          got, MSG_BYTES);
      return FALSE;
    }
    buf = gst_sample_get_buffer (sample);
    if (!buf || !gst_buffer_map (buf, &map, GST_MAP_READ)) {
      gst_sample_unref (sample);
      g_printerr ("spice-port-bench: %s: unreadable sample\n", mode);
      return FALSE;
    }
    same = got + map.size <= MSG_BYTES &&
        memcmp (map.data, expect + got, map.size) == 0;
    got += map.size;
    gst_buffer_unmap (buf, &map);
    gst_sample_unref (sample);
    if (!same) {
      g_printerr ("spice-port-bench: %s: message %u came back different\n",
          mode, i);
      return FALSE;
    }
  }
  return TRUE;
}

static gboolean
run_elements_rtt (const gchar * mode, const gchar * uri, guint warmup,
    guint count)
{
  GstElement *pipeline, *sink = NULL, *dsrc = NULL;
  GstElement *els[3] = { NULL, NULL, NULL };
  GstAppSrc *src = NULL;
  GstAppSink *out = NULL;
  GstBus *bus;
  GArray *rtt;
  struct rusage r0, r1;
  gint64 end_deadline;
  gboolean ok = FALSE;
  gchar *desc, *extra;
  guint i;

  desc = g_strdup_printf ("appsrc name=src format=bytes ! spicedatasink "
      "name=sink uri=\"%s\" port-name=%s framing=none spicedatasrc "
      "name=dsrc uri=\"%s\" port-name=%s framing=none ! appsink name=out "
      "sync=false async=false", uri, PORT_NAME, uri, PORT_NAME);
  pipeline = pipeline_new (mode, desc);
  g_free (desc);
  if (!pipeline)
    return FALSE;

  rtt = g_array_sized_new (FALSE, FALSE, sizeof (gint64), count);
  src = GST_APP_SRC (gst_bin_get_by_name (GST_BIN (pipeline), "src"));
  out = GST_APP_SINK (gst_bin_get_by_name (GST_BIN (pipeline), "out"));
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  dsrc = gst_bin_get_by_name (GST_BIN (pipeline), "dsrc");
  els[0] = sink;
  els[1] = dsrc;
  bus = gst_element_get_bus (pipeline);

  if (gst_element_set_state (pipeline, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE) {
    print_bus_error (mode, gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR));
    g_printerr ("spice-port-bench: %s: cannot start the pipeline\n", mode);
    goto done;
  }
  if (!wait_opened (mode, pipeline, els))
    goto done;

  end_deadline = g_get_monotonic_time () +
      (gint64) rtt_limit_ms (warmup + count) * 1000;
  for (i = 0; i < warmup + count; i++) {
    GstBuffer *buf = gst_buffer_new_allocate (NULL, MSG_BYTES, NULL);
    guint8 expect[MSG_BYTES];
    gint64 t0, t1;

    msg_fill (expect, i);
    gst_buffer_fill (buf, 0, expect, MSG_BYTES);
    if (i == warmup)
      bench_getrusage (&r0);
    t0 = now_ns ();
    if (gst_app_src_push_buffer (src, buf) != GST_FLOW_OK) {
      g_printerr ("spice-port-bench: %s: appsrc refused message %u\n", mode, i);
      break;
    }
    if (!pull_echo (mode, out, expect, i, MIN (end_deadline,
                g_get_monotonic_time () + RTT_TIMEOUT_MS * 1000)))
      break;
    t1 = now_ns ();
    if (i >= warmup) {
      gint64 d = t1 - t0;

      g_array_append_val (rtt, d);
    }
  }
  if (i == warmup + count) {
    bench_getrusage (&r1);
    ok = TRUE;
  } else {
    print_bus_error (mode, gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR));
  }

  if (ok) {
    extra = g_strdup_printf ("el_lost=%" G_GUINT64_FORMAT " el_dropped=%"
        G_GUINT64_FORMAT " el_buffers=%" G_GUINT64_FORMAT,
        stats_uint64 (sink, "lost-bytes"), stats_uint64 (dsrc,
            "dropped-bytes"), stats_uint64 (dsrc, "messages"));
    print_rtt_result (mode, rtt, &r0, &r1, extra);
    g_free (extra);
  }

done:
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (sink);
  gst_object_unref (dsrc);
  gst_object_unref (src);
  gst_object_unref (out);
  gst_object_unref (pipeline);
  g_array_unref (rtt);
  return ok;
}

/* ---------------------------------------------------------------------- */
/* Parent: runs, tables                                                   */

typedef enum
{
  MODE_BASELINE_TP,
  MODE_SINK_TP,
  MODE_BASELINE_RTT,
  MODE_ELEMENTS_RTT,
  N_MODES
} Mode;

static const gchar *mode_names[N_MODES] = {
  "baseline-throughput", "spicedatasink-throughput", "baseline-rtt",
  "elements-rtt"
};

/* Runs one child, killed once @limit_ms (its own limit once the port is
 * open) plus the open timeout and a grace period have passed.  Returns its
 * RESULT line as key=value tokens, NULL when it failed. */
static gchar **
run_child (const gchar * self_exe, Mode mode, const gchar * uri,
    guint64 bytes, guint warmup, guint count, guint limit_ms)
{
  const gchar *name = mode_names[mode];
  gchar bytes_s[32], warmup_s[32], count_s[32];
  const gchar *argv[] = { self_exe, "--mode", name, "--uri", uri,
    "--bytes", bytes_s, "--warmup", warmup_s, "--count", count_s, NULL
  };
  gboolean ok;
  gchar *out;
  gchar **kv = NULL;

  g_snprintf (bytes_s, sizeof (bytes_s), "%" G_GUINT64_FORMAT, bytes);
  g_snprintf (warmup_s, sizeof (warmup_s), "%u", warmup);
  g_snprintf (count_s, sizeof (count_s), "%u", count);
  out = bench_run_child ("spice-port-bench", name, argv,
      OPEN_TIMEOUT_MS + limit_ms + CHILD_GRACE_MS, &ok);
  if (ok) {
    kv = bench_result_line (out);
    if (!kv)
      g_printerr ("spice-port-bench: %s child printed no result\n", name);
  }
  g_free (out);
  return kv;
}

/* Waits until the server has seen the last client go: the next one must
 * not race its teardown. */
static void
wait_client_gone (TestServer * ts)
{
  const gchar *others[] = { "CLIENT connected", "PORT connected",
    "PORT disconnected", "PORT event"
  };
  gchar *ev;
  guint i;

  ev = test_server_wait_event (ts, "CLIENT disconnected", 3000);
  if (!ev)
    g_printerr ("spice-port-bench: the server saw no 'CLIENT "
        "disconnected' within 3 s\n");
  g_free (ev);
  for (i = 0; i < G_N_ELEMENTS (others); i++)
    while ((ev = test_server_wait_event (ts, others[i], 0)))
      g_free (ev);
}

/* "port stats" as tokens, polled (at most STATS_TIMEOUT_MS) until bytes
 * and sent reach @bytes and @sent; NULL when the server does not answer. */
static gchar **
port_stats (TestServer * ts, guint64 bytes, guint64 sent)
{
  gint64 deadline = g_get_monotonic_time () + STATS_TIMEOUT_MS * 1000;
  gchar **kv = NULL;

  for (;;) {
    gchar *reply = test_server_command (ts, "port stats", 2000);

    g_strfreev (kv);
    kv = reply ? g_strsplit (reply, " ", -1) : NULL;
    g_free (reply);
    if (!kv || (bench_kv_double (kv, "bytes") >= bytes && bench_kv_double (kv,
                "sent") >= sent) || g_get_monotonic_time () >= deadline)
      return kv;
    g_usleep (20000);
  }
}

static void
port_reset (TestServer * ts)
{
  gchar *reply = test_server_command (ts, "port reset", 2000);

  if (!reply)
    g_printerr ("spice-port-bench: 'port reset' failed\n");
  g_free (reply);
}

typedef enum
{
  T_MBPS,                       /* 10^6 bytes per second */
  T_CPU_GIB,                    /* CPU seconds per GiB */
  T_CSW_GIB,                    /* context switches per GiB */
  N_T_METRICS
} ThroughputMetric;

/* rounds x (baseline, spicedatasink) against the sink-mode server, and
 * their table.  FALSE when a run failed. */
static gboolean
run_throughput (const gchar * self_exe, guint rounds, guint64 bytes,
    gint * pass, gint * miss)
{
  /* count: the server only counts (a hash in its main thread capped it
   * near the hash's speed); every byte's content is checked by the tests
   * (test_port_256mib, SHA-256) */
  const gchar *args[] = { "--port-name", PORT_NAME, "--port-mode", "count",
    "--size", SERVER_SIZE, "--fps", "0", NULL
  };
  const Mode modes[2] = { MODE_BASELINE_TP, MODE_SINK_TP };
  gdouble vals[2][N_T_METRICS][MAX_ROUNDS];
  gdouble med[2][N_T_METRICS];
  guint n[2] = { 0, 0 };
  gboolean ok = TRUE;
  TestServer *ts;
  guint round, m, k;

  printf ("\n== Throughput: %" G_GUINT64_FORMAT " MiB in %u KiB writes, at "
      "most %u MiB in flight; %u round(s) of baseline then spicedatasink; "
      "server --port-mode count ==\n", bytes >> 20, CHUNK_BYTES >> 10,
      MAX_IN_FLIGHT >> 20, rounds);
  fflush (stdout);
  ts = test_server_start (TEST_SERVER_TCP, args);

  for (round = 0; round < rounds; round++) {
    for (m = 0; m < 2; m++) {
      const gchar *name = mode_names[modes[m]];
      gchar **kv, **st;
      gdouble wall_s, cpu_s, got;
      const gchar *got_sha;
      gboolean good;

      kv = run_child (self_exe, modes[m], test_server_get_uri (ts), bytes, 0,
          0, throughput_limit_ms (bytes));
      wait_client_gone (ts);
      st = port_stats (ts, kv ? bytes : 0, 0);
      port_reset (ts);

      got = st ? bench_kv_double (st, "bytes") : NAN;
      got_sha = st ? bench_kv_string (st, "sha256") : NULL;
      good = kv && bench_kv_double (kv, "bytes") == bytes &&
          bench_kv_double (kv, "wall_ns") > 0 && got == bytes &&
          g_strcmp0 (got_sha, "-") == 0;
      if (!good) {
        printf ("  round %u %-25s  FAILED (%s; server got %.0f bytes)\n",
            round + 1, name, kv ? "child done" : "child failed", got);
        fflush (stdout);
        g_strfreev (kv);
        g_strfreev (st);
        ok = FALSE;
        continue;
      }

      wall_s = bench_kv_double (kv, "wall_ns") / 1e9;
      cpu_s = bench_kv_double (kv, "cpu_us") / 1e6;
      vals[m][T_MBPS][n[m]] = bytes / wall_s / 1e6;
      vals[m][T_CPU_GIB][n[m]] = cpu_s / (bytes / 1073741824.0);
      vals[m][T_CSW_GIB][n[m]] = bench_kv_double (kv, "csw") / (bytes / 1073741824.0);
      printf ("  round %u %-25s %8.1f MB/s  %7.3f s  cpu %6.3f s (%5.2f "
          "s/GiB)  %6.0f csw  server: %.0f bytes", round + 1, name,
          vals[m][T_MBPS][n[m]], wall_s, cpu_s, vals[m][T_CPU_GIB][n[m]],
          bench_kv_double (kv, "csw"), got);
      if (!isnan (bench_kv_double (kv, "el_bytes")))
        printf ("; element: %.0f bytes in %.0f writes, %.0f buffers, %.0f "
            "lost", bench_kv_double (kv, "el_bytes"), bench_kv_double (kv, "el_writes"),
            bench_kv_double (kv, "el_messages"), bench_kv_double (kv, "el_lost"));
      printf ("\n");
      fflush (stdout);
      n[m]++;
      g_strfreev (kv);
      g_strfreev (st);
    }
  }
  test_server_stop (ts);

  if (n[0] == 0 || n[1] == 0) {
    printf ("  no table: a mode has no successful run\n");
    return FALSE;
  }
  for (m = 0; m < 2; m++)
    for (k = 0; k < N_T_METRICS; k++)
      med[m][k] = bench_median (vals[m][k], n[m]);

  {
    gdouble *b = med[0], *s = med[1];
    gdouble ratio = s[T_MBPS] / b[T_MBPS];
    gboolean met = ratio >= TARGET_THROUGHPUT_RATIO;

    printf ("\n  %-30s %10s %13s %8s %10s  %s\n", "metric (median of runs)",
        "baseline", "spicedatasink", "ratio", "added", "target");
    printf ("  %-30s %10.1f %13.1f %7.2fx %+10.1f  >= %.2fx %s\n",
        "throughput (MB/s)", b[T_MBPS], s[T_MBPS], ratio,
        s[T_MBPS] - b[T_MBPS], TARGET_THROUGHPUT_RATIO, met ? "PASS" : "MISS");
    printf ("  %-30s %10.3f %13.3f %7.2fx %+10.3f\n", "CPU per GiB (s)",
        b[T_CPU_GIB], s[T_CPU_GIB], s[T_CPU_GIB] / b[T_CPU_GIB],
        s[T_CPU_GIB] - b[T_CPU_GIB]);
    printf ("  %-30s %10.0f %13.0f %7.2fx %+10.0f\n",
        "context switches per GiB", b[T_CSW_GIB], s[T_CSW_GIB],
        s[T_CSW_GIB] / b[T_CSW_GIB], s[T_CSW_GIB] - b[T_CSW_GIB]);
    printf ("  MB = 10^6 bytes; wall time from the first write to the last "
        "callback (baseline) or to EOS (spicedatasink);\n  CPU = the "
        "client process only (the server is another process).\n");
    printf ("  The server only counts here (--port-mode count); the content "
        "is checked byte for byte\n  by the tests (test_port_256mib: "
        "SHA-256 of 256 MiB at the server).\n");
    fflush (stdout);
    if (met)
      (*pass)++;
    else
      (*miss)++;
  }
  return ok;
}

typedef enum
{
  R_P50,                        /* us */
  R_P99,
  R_MAX,
  R_CPU,                        /* us of CPU per round trip */
  R_CSW,                        /* context switches per round trip */
  N_R_METRICS
} RttMetric;

/* rounds x (baseline, elements) against the echo-mode server, and their
 * table.  FALSE when a run failed. */
static gboolean
run_rtt (const gchar * self_exe, guint rounds, guint warmup, guint count)
{
  const gchar *args[] = { "--port-name", PORT_NAME, "--port-mode", "echo",
    "--size", SERVER_SIZE, "--fps", "0", NULL
  };
  const Mode modes[2] = { MODE_BASELINE_RTT, MODE_ELEMENTS_RTT };
  guint64 want = (guint64) (warmup + count) * MSG_BYTES;
  gdouble vals[2][N_R_METRICS][MAX_ROUNDS];
  gdouble med[2][N_R_METRICS];
  guint n[2] = { 0, 0 };
  gboolean ok = TRUE;
  TestServer *ts;
  guint round, m, k;

  printf ("\n== Round trip of a %d-byte message (write -> server echo -> "
      "read): %u warm-up + %u measured per run; %u round(s) of baseline "
      "then elements; server --port-mode echo ==\n", MSG_BYTES, warmup,
      count, rounds);
  fflush (stdout);
  ts = test_server_start (TEST_SERVER_TCP, args);

  for (round = 0; round < rounds; round++) {
    for (m = 0; m < 2; m++) {
      const gchar *name = mode_names[modes[m]];
      gchar **kv, **st;
      gdouble got, sent;

      kv = run_child (self_exe, modes[m], test_server_get_uri (ts), 0, warmup,
          count, rtt_limit_ms (warmup + count));
      wait_client_gone (ts);
      st = port_stats (ts, kv ? want : 0, kv ? want : 0);
      port_reset (ts);

      got = st ? bench_kv_double (st, "bytes") : NAN;
      sent = st ? bench_kv_double (st, "sent") : NAN;
      if (!kv || bench_kv_double (kv, "count") != count || got != want
          || sent != want) {
        printf ("  round %u %-13s  FAILED (%s; server got %.0f, echoed %.0f "
            "of %" G_GUINT64_FORMAT " bytes)\n", round + 1, name, kv ?
            "child done" : "child failed", got, sent, want);
        fflush (stdout);
        g_strfreev (kv);
        g_strfreev (st);
        ok = FALSE;
        continue;
      }

      vals[m][R_P50][n[m]] = bench_kv_double (kv, "p50_ns") / 1000.0;
      vals[m][R_P99][n[m]] = bench_kv_double (kv, "p99_ns") / 1000.0;
      vals[m][R_MAX][n[m]] = bench_kv_double (kv, "max_ns") / 1000.0;
      vals[m][R_CPU][n[m]] = bench_kv_double (kv, "cpu_us") / count;
      vals[m][R_CSW][n[m]] = bench_kv_double (kv, "csw") / count;
      printf ("  round %u %-13s  min %7.1f  p50 %7.1f  p99 %7.1f  max %8.1f "
          " mean %7.1f us  cpu %6.1f us, %4.1f csw per round trip", round + 1,
          name, bench_kv_double (kv, "min_ns") / 1000.0, vals[m][R_P50][n[m]],
          vals[m][R_P99][n[m]], vals[m][R_MAX][n[m]], bench_kv_double (kv,
              "mean_ns") / 1000.0, vals[m][R_CPU][n[m]], vals[m][R_CSW][n[m]]);
      if (!isnan (bench_kv_double (kv, "el_buffers")))
        printf ("; %.0f buffers from spicedatasrc, %.0f bytes dropped",
            bench_kv_double (kv, "el_buffers"), bench_kv_double (kv, "el_dropped"));
      printf ("\n");
      fflush (stdout);
      n[m]++;
      g_strfreev (kv);
      g_strfreev (st);
    }
  }
  test_server_stop (ts);

  if (n[0] == 0 || n[1] == 0) {
    printf ("  no table: a mode has no successful run\n");
    return FALSE;
  }
  for (m = 0; m < 2; m++)
    for (k = 0; k < N_R_METRICS; k++)
      med[m][k] = bench_median (vals[m][k], n[m]);

  {
    gdouble *b = med[0], *e = med[1];
    const gchar *labels[N_R_METRICS] = { "RTT p50 (us)", "RTT p99 (us)",
      "RTT max (us)", "CPU per round trip (us)", "context switches per RT"
    };

    printf ("\n  %-30s %10s %10s %8s %10s\n", "metric (median of runs)",
        "baseline", "elements", "ratio", "added");
    for (k = 0; k < N_R_METRICS; k++)
      printf ("  %-30s %10.1f %10.1f %7.2fx %+10.1f\n", labels[k], b[k], e[k],
          e[k] / b[k], e[k] - b[k]);
    printf ("  round trip: baseline from write_async to the last echoed byte "
        "in port-data; elements from\n  gst_app_src_push_buffer to the last "
        "echoed byte pulled from appsink (one shared connection).\n");
    fflush (stdout);
  }
  return ok;
}

static int
run_parent (gchar ** argv, gboolean quick, guint rounds, guint mib, guint count)
{
  gchar *self_exe, *cmdline, *model, *registry_dir = NULL;
  gchar *registry = NULL;
  guint warmup = quick ? 20 : 100;
  guint64 bytes;
  gint pass = 0, miss = 0;
  guint major, minor, micro, nano;
  gboolean ok = TRUE;

  self_exe = g_file_read_link ("/proc/self/exe", NULL);
  if (!self_exe)
    self_exe = g_strdup (argv[0]);
  if (quick) {
    rounds = 1;
    mib = 16;
    count = 200;
  }
  bytes = (guint64) mib << 20;

  /* the children load the plugin: keep their registry out of ~/.cache */
  if (!g_getenv ("GST_REGISTRY_1_0")) {
    registry_dir = g_dir_make_tmp ("spice-port-bench-XXXXXX", NULL);
    if (registry_dir) {
      registry = g_build_filename (registry_dir, "registry.bin", NULL);
      g_setenv ("GST_REGISTRY_1_0", registry, TRUE);
    }
  }

  cmdline = g_strjoinv (" ", argv);
  model = bench_cpu_model ();
  printf ("spice-port-bench: spicedatasink / spicedatasrc vs a bare "
      "spice-client-glib client on a SPICE port\n");
  printf ("command: %s\n", cmdline);
  gst_version (&major, &minor, &micro, &nano);
  printf ("machine: %ld CPUs online (%s), GStreamer %u.%u.%u, "
      "spice-client-glib %s\n", sysconf (_SC_NPROCESSORS_ONLN), model,
      major, minor, micro, spice_util_get_version_string ());
  printf ("server: spice-test-server --port-name " PORT_NAME " --port-mode "
      "sink|echo --size " SERVER_SIZE " --fps 0 (TCP on loopback)\n");
  printf ("each run in its own process, timed once the port is open; CPU = "
      "user+sys of all its threads (getrusage) over the measured span.\n"
      "The baseline connects main + port channels and dispatches from its "
      "main thread; the elements' session also connects cursor and inputs "
      "(idle here), and its spice thread dispatches.\n");
  g_free (cmdline);
  g_free (model);
  fflush (stdout);

  if (!run_throughput (self_exe, rounds, bytes, &pass, &miss))
    ok = FALSE;
  if (!run_rtt (self_exe, rounds, warmup, count))
    ok = FALSE;

  printf ("\ntargets: %d PASS, %d MISS (informational: the exit status "
      "only reflects failed runs)\n", pass, miss);
  printf ("%s\n", ok ? "spice-port-bench: every run moved every byte" :
      "spice-port-bench: FAILED: some runs failed or lost bytes");

  if (registry) {
    g_unlink (registry);
    g_rmdir (registry_dir);
  }
  g_free (registry);
  g_free (registry_dir);
  g_free (self_exe);
  return ok ? 0 : 1;
}

int
main (int argc, char **argv)
{
  gboolean quick = FALSE;
  gint rounds = 2, mib = 256, count = 2000, warmup = 100;
  gint64 bytes = 0;
  gchar *mode = NULL, *uri = NULL;
  gchar **argv_copy;
  GOptionContext *ctx;
  GError *err = NULL;
  gboolean ok, child_bytes_ok;
  GOptionEntry entries[] = {
    {"quick", 0, 0, G_OPTION_ARG_NONE, &quick,
        "Smoke run (a few seconds): one round, 16 MiB, 200 round trips", NULL},
    {"rounds", 0, 0, G_OPTION_ARG_INT, &rounds,
        "Rounds of baseline + elements, per measurement (default 2)", "N"},
    {"mib", 0, 0, G_OPTION_ARG_INT, &mib,
        "MiB per throughput run (default 256)", "N"},
    {"count", 0, 0, G_OPTION_ARG_INT, &count,
        "Measured round trips per run, after 100 warm-up (default 2000)", "N"},
    {"mode", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_STRING, &mode,
        "Child: baseline-throughput, spicedatasink-throughput, baseline-rtt "
          "or elements-rtt", "MODE"},
    {"uri", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_STRING, &uri,
        "Child: the server", "URI"},
    {"bytes", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_INT64, &bytes,
        "Child: bytes to send (throughput)", "N"},
    {"warmup", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_INT, &warmup,
        "Child: round trips not measured", "N"},
    {NULL}
  };

  argv_copy = g_strdupv (argv);
  ctx = g_option_context_new ("- spicedatasink and spicedatasrc against a "
      "bare spice-client-glib client on a SPICE port");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &err)) {
    g_printerr ("spice-port-bench: %s\n", err->message);
    return 2;
  }
  g_option_context_free (ctx);
  /* a throughput child sends whole chunks, at least one */
  child_bytes_ok = bytes >= 0 && bytes % CHUNK_BYTES == 0 &&
      (!mode || !strstr (mode, "throughput") || bytes > 0);
  if (rounds < 1 || rounds > MAX_ROUNDS || mib < 1 || mib > 4096
      || count < (mode ? 0 : 1) || count > 1000000 || warmup < 0
      || warmup > 1000000 || !child_bytes_ok) {
    g_printerr ("spice-port-bench: --rounds wants 1..%d, --mib 1..4096, "
        "--count 1..1000000\n", MAX_ROUNDS);
    return 2;
  }

  if (!mode) {
    ok = run_parent (argv_copy, quick, rounds, mib, count) == 0;
  } else if (uri && (g_str_equal (mode, mode_names[MODE_BASELINE_TP])
          || g_str_equal (mode, mode_names[MODE_BASELINE_RTT]))) {
    gboolean tp = g_str_equal (mode, mode_names[MODE_BASELINE_TP]);

    ok = run_bare (tp ? WORK_THROUGHPUT : WORK_RTT, mode, uri, bytes, warmup,
        count);
  } else if (uri && (g_str_equal (mode, mode_names[MODE_SINK_TP])
          || g_str_equal (mode, mode_names[MODE_ELEMENTS_RTT]))) {
    const gchar *old = g_getenv ("GST_PLUGIN_PATH");
    gchar *path = old && *old ?
        g_strconcat (GST_SPICE_PLUGIN_DIR, G_SEARCHPATH_SEPARATOR_S, old,
        NULL) : g_strdup (GST_SPICE_PLUGIN_DIR);

    g_setenv ("GST_PLUGIN_PATH", path, TRUE);
    g_free (path);
    gst_init (NULL, NULL);
    if (g_str_equal (mode, mode_names[MODE_SINK_TP]))
      ok = run_sink_throughput (mode, uri, bytes);
    else
      ok = run_elements_rtt (mode, uri, warmup, count);
  } else {
    g_printerr ("spice-port-bench: --mode wants baseline-throughput, "
        "spicedatasink-throughput, baseline-rtt or elements-rtt, with "
        "--uri\n");
    return 2;
  }

  g_strfreev (argv_copy);
  g_free (mode);
  g_free (uri);
  return ok ? 0 : 1;
}
