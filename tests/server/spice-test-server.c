/* spice-test-server: a small SPICE server on libspice-server for the
 * gst-spice tests, examples and benchmarks.
 *
 * It owns one QXL device whose primary surface shows the deterministic
 * pattern of test-pattern.h, drawn as lossless QXL_DRAW_COPY bitmaps at a
 * configurable rate, and is scripted through stdin lines (see README.md for
 * the options, the control commands and the stdout protocol).
 *
 * With --audio it also has a playback device that streams the signal of
 * test-audio.h on a real-time timeline, and a record device that counts
 * (and optionally stores) what a client sends.  With --port-name it has a
 * SPICE port (a "port" char device) that counts and hashes, or echoes, what
 * a client writes and sends what the control channel asks for.  A keyboard
 * and a mouse (and with --tablet a tablet) print every input event they get.
 * With --gl (unix socket only) the pattern goes out as a GL scanout: a memfd
 * handed over with spice_qxl_gl_scanout and one spice_qxl_gl_draw_async
 * per frame, each completed only once the client acknowledged it.
 *
 * Threads: everything here runs in the main thread on a private
 * GMainContext (the "core" thread for libspice-server), except the QXL
 * callbacks get_command, req_cmd_notification, release_resource and
 * friends, which libspice-server calls from its display worker thread; they
 * only touch the command queue and the counters under Server.lock, and
 * async_complete (--gl), which marks the pending draw done under the lock
 * and wakes the main thread through gl_complete_source.  The
 * sound, port (char device) and inputs channels run in the core thread, so
 * the audio, port and input state needs no lock.
 */
#define _GNU_SOURCE             /* accept4 */
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>
#include <glib-unix.h>
#include <gio/gio.h>
#include <spice.h>
#include <spice/protocol.h>

#include "test-audio.h"
#include "test-pattern.h"

#define MEMSLOT_GROUP 0
#define MAX_SURFACE_DIM 8192
/* Unreleased draw memory above which a tick is skipped (see draw_dispatch) */
#define MIN_BUDGET_BYTES (64u << 20)
#define CURSOR_SIZE 16
#define MIN_AUDIO_RATE 8000
#define MAX_AUDIO_RATE 192000
/* record drain period; libspice-server keeps a ring of 8192 frames (170 ms
 * at 48000) per record client and overwrites the oldest beyond that */
#define RECORD_DRAIN_MS 10
#define RECORD_BUF_FRAMES TA_RECORD_RING_FRAMES
/* echo mode: bytes held for the client above which write() takes nothing,
 * so that a client that does not read back is slowed down instead of
 * growing this process */
#define PORT_ECHO_LIMIT (8u << 20)
/* an echo copy grows up to this size before a new one is started */
#define PORT_CHUNK_SIZE (64u << 10)
#define PORT_SEND_MAX 8192      /* bytes of one "port send HEX" */
#define PORT_PATTERN_MAX (1u << 30)     /* bytes of one "port send-pattern" */
/* --gl: how long a resize waits for the client to acknowledge a pending
 * draw (libspice-server refuses a new scanout while one is pending) */
#define GL_IDLE_WAIT_US (2 * G_USEC_PER_SEC)
/* cookies of our gl_draw_async calls carry this tag in their top bits */
#define GL_COOKIE_TAG (G_GUINT64_CONSTANT (0x474c) << 48)

#define FOURCC(a, b, c, d) ((guint32) (a) | ((guint32) (b) << 8) | \
    ((guint32) (c) << 16) | ((guint32) (d) << 24))

typedef struct
{
  const gchar *name;
  guint32 fourcc;               /* DRM fourcc sent in the scanout */
  gboolean rgb_order;           /* bytes R, G, B, X/A (else B, G, R, X/A) */
} GlFormatInfo;

/* *INDENT-OFF* */
static const GlFormatInfo gl_formats[] = {
  { "XR24", FOURCC ('X', 'R', '2', '4'), FALSE },  /* DRM_FORMAT_XRGB8888 */
  { "AR24", FOURCC ('A', 'R', '2', '4'), FALSE },  /* DRM_FORMAT_ARGB8888 */
  { "XB24", FOURCC ('X', 'B', '2', '4'), TRUE },   /* DRM_FORMAT_XBGR8888 */
  { "AB24", FOURCC ('A', 'B', '2', '4'), TRUE },   /* DRM_FORMAT_ABGR8888 */
  /* an unknown fourcc for error paths; painted as XR24 */
  { "BAD",  FOURCC (' ', ' ', ' ', ' '), FALSE },
};
/* *INDENT-ON* */

typedef struct _Server Server;

/* Bytes queued for the client on the port: a copy (echo, "port send") or a
 * pattern that is generated as read() asks for it ("port send-pattern"). */
typedef struct
{
  GByteArray *bytes;            /* NULL: the pattern */
  guint64 len;                  /* pattern length; bytes->len for a copy */
  guint64 pos;                  /* bytes already handed out */
} PortChunk;

typedef struct
{
  const gchar *name;
  guint32 surface_format;       /* SPICE_SURFACE_FMT_* */
  guint8 bitmap_format;         /* SPICE_BITMAP_FMT_* of our draws */
  guint bpp;                    /* bytes per pixel of the primary */
} FormatInfo;

/* *INDENT-OFF* */
static const FormatInfo formats[] = {
  { "xrgb",   SPICE_SURFACE_FMT_32_xRGB, SPICE_BITMAP_FMT_32BIT, 4 },
  { "argb",   SPICE_SURFACE_FMT_32_ARGB, SPICE_BITMAP_FMT_RGBA,  4 },
  { "16_555", SPICE_SURFACE_FMT_16_555,  SPICE_BITMAP_FMT_32BIT, 2 },
};
/* *INDENT-ON* */

/* One QXL command and everything it points to, in one allocation, so that
 * release_resource can free it with one g_free. */
typedef struct
{
  QXLCommandExt ext;
  union
  {
    struct
    {
      QXLDrawable drawable;
      QXLImage image;
    } draw;
    struct
    {
      QXLCursorCmd cmd;
      QXLCursor shape;
      /* must follow shape directly: it is shape.chunk.data */
      guint8 data[CURSOR_SIZE * CURSOR_SIZE * 4];
    } cursor;
  } u;
  gsize size;                   /* bytes, for the memory budget */
  guint32 pixels[];             /* a draw's bitmap */
} Command;

struct _Server
{
  GMainContext *context;
  GMainLoop *loop;

  SpiceServer *spice;
  QXLInstance qxl;

  /* options */
  const FormatInfo *format;
  gboolean exit_on_disconnect;
  gboolean cursor;
  gchar *password;              /* NULL or "" = no auth */
  GString *input;               /* partial stdin line */

  int listen_fd;

  /* primary surface: main thread only */
  guint width, height;
  guint8 *surface_mem;
  guint8 *old_surface_mem;      /* kept one resize longer, see create_primary */

  /* drawing state: main thread only */
  guint dw, dh;                 /* partial damage size, 0 = full frames */
  guint split_us;               /* --split-us: pause between area and strip */
  guint fps;
  gboolean started;             /* not stopped by the "stop" command */
  gint64 max_frames;            /* -1 = unlimited */
  gint64 frame;                 /* last drawn frame, -1 = none yet */
  guint64 unique;
  GSource *draw_source;
  gint64 next_tick;             /* monotonic us */
  guint n_displays;             /* display channels linked */
  guint n_mains;                /* main channels linked */
  guint64 skipped_ticks;

  /* shared with the QXL worker thread */
  GMutex lock;
  GQueue commands;              /* Command *, under lock */
  GQueue cursor_commands;       /* Command *, under lock */
  guint queued_draws;           /* pushed, not yet fetched; under lock */
  gsize unreleased_bytes;       /* pushed, not yet released; under lock */

  /* audio (--audio): main thread only */
  gboolean audio;
  SpicePlaybackInstance playback;
  SpiceRecordInstance record;
  guint audio_rate;
  gboolean sine;                /* --audio-signal sine or marks, else code */
  gboolean marks;               /* --audio-signal marks */
  gint64 audio_t0;              /* monotonic us of timeline frame 0 */
  gint audio_speed_ppm;         /* the audio clock's error against real
                                 * time (a guest clock that drifts) */
  guint64 next_packet;          /* index of the next packet due */
  gint jitter_min_us, jitter_max_us;    /* --audio-jitter, 0 = off */
  GRand *jitter_rand;           /* --audio-seed */
  gint64 hold_until;            /* monotonic us the held packets go out at,
                                 * 0 = none held */
  guint64 bursts;               /* held packets sent in one go */
  gboolean playing;             /* between playback start and stop */
  guint64 packets_sent;
  guint64 packets_skipped;      /* due while playing, but no buffer */
  gboolean warned_packet_size;
  GSource *audio_source;
  guint record_rate;
  gboolean recording;           /* between record start and stop */
  FILE *record_file;            /* --record-file, or NULL */
  guint64 record_frames;        /* since the last record start */
  guint64 record_errors;        /* left-channel discontinuities, ditto */
  guint64 record_wrap_errors;   /* those at the library's ring wrap, ditto */
  guint64 record_pos;           /* frames since the library's ring restarted */
  gint32 record_first;          /* first left value, -1 = none yet */
  guint16 record_prev;          /* last left value */

  /* port (--port-name): main thread only */
  SpiceCharDeviceInstance port;
  gchar *port_name;             /* NULL = no port */
  gboolean port_echo;           /* --port-mode echo, else sink */
  gboolean port_count;          /* --port-mode count: no hash */
  gboolean port_opened;         /* the "guest side" has the port open */
  gboolean port_connected;      /* a client port channel is attached */
  gboolean port_write_blocked;  /* write() took less than offered */
  guint64 port_received;        /* bytes from the client since the reset */
  GChecksum *port_sha256;       /* of those bytes */
  guint64 port_sent;            /* bytes read() handed out since the reset */
  GQueue port_out;              /* PortChunk *, for the client */
  guint64 port_queued;          /* bytes in port_out */
  guint64 port_buffered;        /* of those, bytes held in copies */
  GSource *port_wakeup;         /* calls spice_server_char_device_wakeup */

  /* GL scanout (--gl): main thread only unless noted */
  gboolean gl;
  const GlFormatInfo *gl_format;
  gboolean gl_y0top;
  gchar *gl_bad;                /* --gl-bad: pipe, short or stride */
  gboolean gl_stream_stub;      /* --gl-stream-stub */
  int gl_stub_peer;             /* the stub socket's other end */
  int ext_fd;                   /* --gl-scanout-from: the producer's fd */
  int producer_fd;              /* the socket to the producer */
  guint32 ext_width, ext_height, ext_fourcc, ext_stride;
  int gl_fd;                    /* our memfd, -1 = none; the library and
                                 * the client hold dups of it */
  guint8 *gl_map;               /* gl_fd mapped, gl_size bytes */
  gsize gl_size;
  guint64 gl_draws;             /* gl_draw_async calls */
  guint64 gl_waits;             /* ticks that found a draw still pending */
  gboolean gl_deferred;         /* a tick waits for the pending draw */
  GSource *gl_complete_source;  /* woken by qxl_async_complete */
  GCond gl_cond;                /* signalled with lock, on completion */
  gboolean gl_pending;          /* a draw not yet completed; under lock */
  gboolean gl_counted;          /* the pending draw counts towards
                                 * gl_done; under lock */
  guint64 gl_cookie;            /* of the pending draw; under lock */
  guint64 gl_done;              /* draws completed while a display client
                                 * was there; under lock */
  guint32 gl_pending_frame;     /* frame number of the pending draw; lock */
  GArray *gl_done_log;          /* GlDone of recent completions; lock */

  /* input devices: main thread only */
  SpiceKbdInstance kbd;
  SpiceMouseInstance mouse;
  SpiceTabletInstance tablet;   /* added with --tablet only */
};

/* SpiceCoreInterface callbacks carry no user data, so the core's context
 * and the server they report to have to be reachable from file scope. */
static Server *the_server;

static void
emit (const gchar * format, ...) G_GNUC_PRINTF (1, 2);

/* One line on stdout; stdout is line buffered so every line is flushed. */
static void
emit (const gchar * format, ...)
{
  va_list args;

  va_start (args, format);
  vprintf (format, args);
  va_end (args);
  putchar ('\n');
  fflush (stdout);
}

/* ------------------------------------------------------------------------ */
/* SpiceCoreInterface on a GLib main context                                */
/* libspice-server 0.15 calls these from the main thread only (its display
 * worker runs its own internal event loop), so no locking here. */

struct SpiceTimer
{
  GSource *source;
  SpiceTimerFunc func;
  void *opaque;
};

struct SpiceWatch
{
  GSource *source;
  int fd;
  int mask;
  SpiceWatchFunc func;
  void *opaque;
};

static SpiceTimer *
core_timer_add (SpiceTimerFunc func, void *opaque)
{
  SpiceTimer *timer = g_new0 (SpiceTimer, 1);

  timer->func = func;
  timer->opaque = opaque;
  return timer;
}

static void
core_timer_cancel (SpiceTimer * timer)
{
  if (timer->source) {
    g_source_destroy (timer->source);
    g_source_unref (timer->source);
    timer->source = NULL;
  }
}

static gboolean
core_timer_fired (gpointer data)
{
  SpiceTimer *timer = data;

  /* one-shot: the library re-arms it from func when it wants more */
  g_source_unref (timer->source);
  timer->source = NULL;
  timer->func (timer->opaque);
  return G_SOURCE_REMOVE;
}

static void
core_timer_start (SpiceTimer * timer, uint32_t ms)
{
  core_timer_cancel (timer);
  timer->source = g_timeout_source_new (ms);
  g_source_set_callback (timer->source, core_timer_fired, timer, NULL);
  g_source_attach (timer->source, the_server->context);
}

static void
core_timer_remove (SpiceTimer * timer)
{
  core_timer_cancel (timer);
  g_free (timer);
}

static gboolean
core_watch_fired (gint fd, GIOCondition condition, gpointer data)
{
  SpiceWatch *watch = data;
  int events = 0;

  if (condition & G_IO_IN)
    events |= SPICE_WATCH_EVENT_READ;
  if (condition & G_IO_OUT)
    events |= SPICE_WATCH_EVENT_WRITE;
  /* hang-ups and errors are reported to whichever handler is interested,
   * so the library notices them through its read or write */
  if (condition & (G_IO_HUP | G_IO_ERR | G_IO_NVAL))
    events |= SPICE_WATCH_EVENT_READ | SPICE_WATCH_EVENT_WRITE;
  events &= watch->mask;
  /* func may remove or update this watch: touch nothing after it */
  if (events)
    watch->func (watch->fd, events, watch->opaque);
  return G_SOURCE_CONTINUE;
}

static void
core_watch_update_mask (SpiceWatch * watch, int mask)
{
  GIOCondition condition = 0;

  if (watch->source) {
    g_source_destroy (watch->source);
    g_source_unref (watch->source);
    watch->source = NULL;
  }
  watch->mask = mask;
  if (mask & SPICE_WATCH_EVENT_READ)
    condition |= G_IO_IN | G_IO_HUP | G_IO_ERR;
  if (mask & SPICE_WATCH_EVENT_WRITE)
    condition |= G_IO_OUT | G_IO_ERR;
  if (!condition)
    return;
  watch->source = g_unix_fd_source_new (watch->fd, condition);
  g_source_set_callback (watch->source, G_SOURCE_FUNC (core_watch_fired),
      watch, NULL);
  g_source_attach (watch->source, the_server->context);
}

static SpiceWatch *
core_watch_add (int fd, int mask, SpiceWatchFunc func, void *opaque)
{
  SpiceWatch *watch = g_new0 (SpiceWatch, 1);

  watch->fd = fd;
  watch->func = func;
  watch->opaque = opaque;
  core_watch_update_mask (watch, mask);
  return watch;
}

static void
core_watch_remove (SpiceWatch * watch)
{
  core_watch_update_mask (watch, 0);
  g_free (watch);
}

static void schedule_draw (Server * srv);

/* A TCP port on 127.0.0.1 that nothing listens on right now, or 0. */
static guint
free_tcp_port (void)
{
  struct sockaddr_in a = { 0, };
  socklen_t len = sizeof (a);
  guint port = 0;
  int fd = socket (AF_INET, SOCK_STREAM, 0);

  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (fd >= 0 && bind (fd, (struct sockaddr *) &a, sizeof (a)) == 0 &&
      getsockname (fd, (struct sockaddr *) &a, &len) == 0)
    port = ntohs (a.sin_port);
  if (fd >= 0)
    close (fd);
  return port;
}
static void push_cursor (Server * srv);

static gboolean
resend_cursor (gpointer data)
{
  push_cursor (data);
  return G_SOURCE_REMOVE;
}

/* Called in the main thread (libspice-server 0.15 funnels channel events
 * through its main dispatcher).  The channel type is only filled in once a
 * channel has linked and authenticated (INITIALIZED), so a failed link
 * (wrong password) reports neither connected nor disconnected. */
static void
core_channel_event (int event, SpiceChannelEventInfo * info)
{
  Server *srv = the_server;

  if (info->type == SPICE_CHANNEL_MAIN) {
    if (event == SPICE_CHANNEL_EVENT_INITIALIZED) {
      srv->n_mains++;
      emit ("CLIENT connected");
    } else if (event == SPICE_CHANNEL_EVENT_DISCONNECTED && srv->n_mains > 0) {
      srv->n_mains--;
      emit ("CLIENT disconnected");
      if (srv->exit_on_disconnect)
        g_main_loop_quit (srv->loop);
    }
  } else if (info->type == SPICE_CHANNEL_DISPLAY) {
    if (event == SPICE_CHANNEL_EVENT_INITIALIZED) {
      srv->n_displays++;
      emit ("DISPLAY connected");
      schedule_draw (srv);
    } else if (event == SPICE_CHANNEL_EVENT_DISCONNECTED
        && srv->n_displays > 0) {
      srv->n_displays--;
      emit ("DISPLAY disconnected");
    }
  } else if (info->type == SPICE_CHANNEL_PLAYBACK
      || info->type == SPICE_CHANNEL_RECORD) {
    const gchar *name = info->type == SPICE_CHANNEL_PLAYBACK ?
        "PLAYBACK" : "RECORD";

    /* a new record client starts with an empty ring */
    if (info->type == SPICE_CHANNEL_RECORD
        && event == SPICE_CHANNEL_EVENT_INITIALIZED)
      srv->record_pos = 0;
    if (event == SPICE_CHANNEL_EVENT_INITIALIZED)
      emit ("%s connected", name);
    else if (event == SPICE_CHANNEL_EVENT_DISCONNECTED)
      emit ("%s disconnected", name);
  } else if (info->type == SPICE_CHANNEL_INPUTS) {
    if (event == SPICE_CHANNEL_EVENT_INITIALIZED)
      emit ("INPUTS connected");
    else if (event == SPICE_CHANNEL_EVENT_DISCONNECTED)
      emit ("INPUTS disconnected");
  } else if (info->type == SPICE_CHANNEL_CURSOR && srv->cursor
      && event == SPICE_CHANNEL_EVENT_INITIALIZED) {
    /* The client ignores the position in the INIT it gets on connect, and
     * the worker may not have attached the channel yet: send the cursor
     * again a little later so it sees a MOVE. */
    GSource *t = g_timeout_source_new (200);
    g_source_set_callback (t, resend_cursor, srv, NULL);
    g_source_attach (t, srv->context);
    g_source_unref (t);
  }
}

/* ------------------------------------------------------------------------ */
/* QXL device                                                               */

static void
qxl_attached_worker (QXLInstance * qin)
{
  /* an identity memslot: QXL "physical" addresses are our pointers */
  QXLDevMemSlot slot = {
    .slot_group_id = MEMSLOT_GROUP,
    .slot_id = 0,
    .generation = 0,
    .virt_start = 0,
    .virt_end = ~0ull,
    .addr_delta = 0,
    .qxl_ram_size = ~0u,
  };

  spice_qxl_add_memslot (qin, &slot);
}

static void
qxl_set_compression_level (QXLInstance * qin, int level)
{
}

static void
qxl_get_init_info (QXLInstance * qin, QXLDevInitInfo * info)
{
  memset (info, 0, sizeof (*info));
  info->num_memslots = 1;
  info->num_memslots_groups = 1;
  info->memslot_id_bits = 1;
  info->memslot_gen_bits = 1;
  info->n_surfaces = 1;
}

static int
pop_command (Server * srv, GQueue * queue, QXLCommandExt * ext)
{
  Command *cmd;

  g_mutex_lock (&srv->lock);
  cmd = g_queue_pop_head (queue);
  if (cmd && cmd->ext.cmd.type == QXL_CMD_DRAW && srv->queued_draws > 0)
    srv->queued_draws--;
  g_mutex_unlock (&srv->lock);
  if (!cmd)
    return 0;
  *ext = cmd->ext;
  return 1;
}

static int
qxl_get_command (QXLInstance * qin, QXLCommandExt * ext)
{
  Server *srv = SPICE_CONTAINEROF (qin, Server, qxl);

  return pop_command (srv, &srv->commands, ext);
}

static int
queue_is_empty (Server * srv, GQueue * queue)
{
  int empty;

  g_mutex_lock (&srv->lock);
  empty = g_queue_is_empty (queue);
  g_mutex_unlock (&srv->lock);
  return empty;
}

/* Returning 1 promises a spice_qxl_wakeup() after the next push, which
 * push_command always does. */
static int
qxl_req_cmd_notification (QXLInstance * qin)
{
  Server *srv = SPICE_CONTAINEROF (qin, Server, qxl);

  return queue_is_empty (srv, &srv->commands);
}

static int
qxl_get_cursor_command (QXLInstance * qin, QXLCommandExt * ext)
{
  Server *srv = SPICE_CONTAINEROF (qin, Server, qxl);

  return pop_command (srv, &srv->cursor_commands, ext);
}

static int
qxl_req_cursor_notification (QXLInstance * qin)
{
  Server *srv = SPICE_CONTAINEROF (qin, Server, qxl);

  return queue_is_empty (srv, &srv->cursor_commands);
}

static void
qxl_release_resource (QXLInstance * qin, QXLReleaseInfoExt release_info)
{
  Server *srv = SPICE_CONTAINEROF (qin, Server, qxl);
  Command *cmd = (Command *) (uintptr_t) release_info.info->id;

  g_mutex_lock (&srv->lock);
  srv->unreleased_bytes -= cmd->size;
  g_mutex_unlock (&srv->lock);
  g_free (cmd);
}

static void
qxl_notify_update (QXLInstance * qin, uint32_t update_id)
{
}

static int
qxl_flush_resources (QXLInstance * qin)
{
  return 0;
}

/* A completed draw, for "gl done-log": when GL_DRAW_DONE ended it */
typedef struct
{
  guint32 frame;
  gint64 done_us;               /* g_get_monotonic_time () */
} GlDone;

#define GL_DONE_LOG_MAX 65536

/* Worker thread: libspice-server completes a gl_draw_async once every GL
 * display client has sent GL_DRAW_DONE (at once without one, and when the
 * client goes away). */
static void
qxl_async_complete (QXLInstance * qin, uint64_t cookie)
{
  Server *srv = SPICE_CONTAINEROF (qin, Server, qxl);

  g_mutex_lock (&srv->lock);
  if (srv->gl_pending && cookie == srv->gl_cookie) {
    srv->gl_pending = FALSE;
    if (srv->gl_counted) {
      GlDone d = { srv->gl_pending_frame, g_get_monotonic_time () };

      srv->gl_done++;
      if (srv->gl_done_log->len < GL_DONE_LOG_MAX)
        g_array_append_val (srv->gl_done_log, d);
    }
    g_cond_broadcast (&srv->gl_cond);
  }
  g_mutex_unlock (&srv->lock);
  if (srv->gl_complete_source)
    g_source_set_ready_time (srv->gl_complete_source, 0);
}

static void
qxl_set_client_capabilities (QXLInstance * qin, uint8_t client_present,
    uint8_t caps[SPICE_CAPABILITIES_SIZE])
{
}

static int
qxl_client_monitors_config (QXLInstance * qin,
    VDAgentMonitorsConfig * monitors_config)
{
  return 0;
}

static const QXLInterface qxl_interface = {
  .base = {
        .type = SPICE_INTERFACE_QXL,
        .description = "gst-spice test qxl",
        .major_version = SPICE_INTERFACE_QXL_MAJOR,
        .minor_version = SPICE_INTERFACE_QXL_MINOR,
      },
  .attached_worker = qxl_attached_worker,
  .set_compression_level = qxl_set_compression_level,
  .get_init_info = qxl_get_init_info,
  .get_command = qxl_get_command,
  .req_cmd_notification = qxl_req_cmd_notification,
  .release_resource = qxl_release_resource,
  .get_cursor_command = qxl_get_cursor_command,
  .req_cursor_notification = qxl_req_cursor_notification,
  .notify_update = qxl_notify_update,
  .flush_resources = qxl_flush_resources,
  .async_complete = qxl_async_complete,
  .set_client_capabilities = qxl_set_client_capabilities,
  .client_monitors_config = qxl_client_monitors_config,
};

static Command *
command_new (guint32 type, gsize data_size)
{
  Command *cmd = g_malloc0 (sizeof (Command) + data_size);

  cmd->size = sizeof (Command) + data_size;
  cmd->ext.cmd.type = type;
  cmd->ext.group_id = MEMSLOT_GROUP;
  return cmd;
}

static void
push_command (Server * srv, GQueue * queue, Command * cmd)
{
  g_mutex_lock (&srv->lock);
  g_queue_push_tail (queue, cmd);
  if (cmd->ext.cmd.type == QXL_CMD_DRAW)
    srv->queued_draws++;
  srv->unreleased_bytes += cmd->size;
  g_mutex_unlock (&srv->lock);
}

/* A QXL_DRAW_COPY of a w x h bitmap at (x, y) on the primary; the caller
 * fills cmd->pixels (xRGB, top-down, stride w * 4). */
static Command *
draw_command_new (Server * srv, guint x, guint y, guint w, guint h)
{
  Command *cmd = command_new (QXL_CMD_DRAW, (gsize) w * h * 4);
  QXLDrawable *drawable = &cmd->u.draw.drawable;
  QXLImage *image = &cmd->u.draw.image;

  cmd->ext.cmd.data = (uintptr_t) drawable;
  drawable->release_info.id = (uintptr_t) cmd;
  drawable->surface_id = 0;
  drawable->effect = QXL_EFFECT_OPAQUE;
  drawable->type = QXL_DRAW_COPY;
  drawable->bbox.left = x;
  drawable->bbox.top = y;
  drawable->bbox.right = x + w;
  drawable->bbox.bottom = y + h;
  drawable->clip.type = SPICE_CLIP_TYPE_NONE;
  drawable->surfaces_dest[0] = drawable->surfaces_dest[1] =
      drawable->surfaces_dest[2] = -1;
  drawable->u.copy.src_bitmap = (uintptr_t) image;
  drawable->u.copy.src_area.right = w;
  drawable->u.copy.src_area.bottom = h;
  drawable->u.copy.rop_descriptor = SPICE_ROPD_OP_PUT;

  image->descriptor.type = SPICE_IMAGE_TYPE_BITMAP;
  image->descriptor.width = w;
  image->descriptor.height = h;
  /* a fresh id per image and no QXL_IMAGE_CACHE flag: never cached */
  QXL_SET_IMAGE_ID (image, QXL_IMAGE_GROUP_DEVICE, ++srv->unique);
  image->bitmap.format = srv->format->bitmap_format;
  image->bitmap.flags = QXL_BITMAP_DIRECT | QXL_BITMAP_TOP_DOWN;
  image->bitmap.x = w;
  image->bitmap.y = h;
  image->bitmap.stride = w * 4;
  image->bitmap.data = (uintptr_t) cmd->pixels;
  return cmd;
}

static void
fill_pattern (guint32 * pixels, guint x0, guint y0, guint w, guint h,
    guint32 frame)
{
  guint x, y;

  for (y = 0; y < h; y++)
    for (x = 0; x < w; x++)
      pixels[(gsize) y * w + x] = tp_pixel (x0 + x, y0 + y, frame);
}

static void gl_draw_frame (Server * srv);

/* Pushes frame srv->frame + 1 (or frame 0 after a reset). */
static void
draw_frame (Server * srv)
{
  guint32 f = (guint32) (srv->frame + 1);
  Command *area = NULL, *strip = NULL;
  gboolean full = srv->dw == 0 || srv->dh == 0 || f == 0;
  guint x = 0, y = 0, w = srv->width, h = srv->height;
  gboolean has_strip = srv->width >= TP_STRIP_W && srv->height >= TP_STRIP_H;
  gint64 now;

  if (srv->gl) {
    gl_draw_frame (srv);
    return;
  }
  if (!full) {
    /* clipped to the surface, as tp_render_expected does; on a surface
     * no taller than the strip the rectangle falls off entirely */
    tp_damage_rect (f, srv->width, srv->height, srv->dw, srv->dh, &x, &y);
    w = x < srv->width ? MIN (srv->dw, srv->width - x) : 0;
    h = y < srv->height ? MIN (srv->dh, srv->height - y) : 0;
  }
  if (w > 0 && h > 0) {
    area = draw_command_new (srv, x, y, w, h);
    fill_pattern (area->pixels, x, y, w, h, f);
  }
  if (!full && has_strip)
    strip = draw_command_new (srv, 0, 0, TP_STRIP_W, TP_STRIP_H);

  /* the send time is taken after the pattern is rendered, just before the
   * commands are handed to the worker */
  now = g_get_monotonic_time ();
  if (strip)
    tp_paint_strip ((guint8 *) strip->pixels, TP_STRIP_W * 4, f, now);
  else if (has_strip)
    tp_paint_strip ((guint8 *) area->pixels, w * 4, f, now);

  if (area && strip && srv->split_us > 0) {
    /* one update in two messages with a pause between them; the send time
     * is the strip's, which completes the frame */
    push_command (srv, &srv->commands, area);
    spice_qxl_wakeup (&srv->qxl);
    g_usleep (srv->split_us);
    tp_paint_strip ((guint8 *) strip->pixels, TP_STRIP_W * 4, f,
        g_get_monotonic_time ());
    area = NULL;
  }
  if (area)
    push_command (srv, &srv->commands, area);
  if (strip)
    push_command (srv, &srv->commands, strip);
  spice_qxl_wakeup (&srv->qxl);
  srv->frame = f;
}

/* "flood N": N 1x1 draws back to back, each of the current frame's own
 * pattern pixel (the surface's content does not change), on the rows below
 * the code strip: a client handling them is never idle until the last. */
static void
flood (Server * srv, guint n)
{
  guint32 f = (guint32) srv->frame;
  guint rows = srv->height > TP_STRIP_H ? srv->height - TP_STRIP_H : 0;
  guint i;

  for (i = 0; i < n && rows > 0; i++) {
    guint x = i % srv->width;
    guint y = TP_STRIP_H + (i / srv->width) % rows;
    Command *cmd = draw_command_new (srv, x, y, 1, 1);

    fill_pattern (cmd->pixels, x, y, 1, 1, f);
    push_command (srv, &srv->commands, cmd);
  }
  spice_qxl_wakeup (&srv->qxl);
}

/* --cursor: one 16x16 alpha cursor at (16, 16), left half opaque red, right
 * half half-transparent blue, hot spot (0, 0). */
static void
push_cursor (Server * srv)
{
  Command *cmd = command_new (QXL_CMD_CURSOR, 0);
  QXLCursorCmd *cc = &cmd->u.cursor.cmd;
  QXLCursor *shape = &cmd->u.cursor.shape;
  guint i;

  cmd->ext.cmd.data = (uintptr_t) cc;
  cc->release_info.id = (uintptr_t) cmd;
  cc->type = QXL_CURSOR_SET;
  cc->u.set.position.x = 16;
  cc->u.set.position.y = 16;
  cc->u.set.visible = 1;
  cc->u.set.shape = (uintptr_t) shape;
  shape->header.type = SPICE_CURSOR_TYPE_ALPHA;
  shape->header.width = CURSOR_SIZE;
  shape->header.height = CURSOR_SIZE;
  shape->data_size = sizeof (cmd->u.cursor.data);
  shape->chunk.data_size = shape->data_size;
  for (i = 0; i < CURSOR_SIZE * CURSOR_SIZE; i++) {
    guint32 v = (i % CURSOR_SIZE) < CURSOR_SIZE / 2 ?
        0xffff0000u : 0x800000ffu;
    memcpy (cmd->u.cursor.data + 4 * i, &v, 4);
  }
  push_command (srv, &srv->cursor_commands, cmd);

  /* spice-client-glib ignores the position of a SET (it only reports
   * shapes); a MOVE is what gives clients the position */
  cmd = command_new (QXL_CMD_CURSOR, 0);
  cc = &cmd->u.cursor.cmd;
  cmd->ext.cmd.data = (uintptr_t) cc;
  cc->release_info.id = (uintptr_t) cmd;
  cc->type = QXL_CURSOR_MOVE;
  cc->u.position.x = 16;
  cc->u.position.y = 16;
  push_command (srv, &srv->cursor_commands, cmd);
  spice_qxl_wakeup (&srv->qxl);
}

/* ------------------------------------------------------------------------ */
/* Primary surface and the draw clock                                       */

static void
create_primary (Server * srv, guint width, guint height)
{
  QXLDevSurfaceCreate surface = { 0, };
  guint stride = (width * srv->format->bpp + 3) & ~3u;

  /* the worker may still hold pointers into the previous surface's memory
   * for a moment after the destroy returns (pipe items being flushed), so
   * free it one resize later rather than now */
  g_free (srv->old_surface_mem);
  srv->old_surface_mem = srv->surface_mem;
  srv->surface_mem = g_malloc0 ((gsize) stride * height);
  srv->width = width;
  srv->height = height;

  surface.width = width;
  surface.height = height;
  surface.stride = stride;      /* positive: top-down */
  surface.format = srv->format->surface_format;
  surface.mouse_mode = 1;
  surface.mem = (uintptr_t) srv->surface_mem;
  surface.group_id = MEMSLOT_GROUP;
  spice_qxl_create_primary_surface (&srv->qxl, 0, &surface);
}

static gint64
frame_period (Server * srv)
{
  return G_USEC_PER_SEC / MAX (srv->fps, 1);
}

static gboolean
should_tick (Server * srv)
{
  return srv->started && srv->fps > 0 && srv->n_displays > 0 &&
      (srv->max_frames < 0 || srv->frame + 1 < srv->max_frames);
}

/* Starts frame 0 again: a full frame, drawn at once so that the surface
 * always holds a known frame (tp_render_expected from frame 0 on). */
static void
restart_frames (Server * srv)
{
  srv->gl_deferred = FALSE;
  srv->frame = -1;
  draw_frame (srv);
  srv->next_tick = g_get_monotonic_time () + frame_period (srv);
  schedule_draw (srv);
}

/* One tick of the draw clock.  Memory stays bounded two ways: a tick is
 * skipped (not queued) while the worker has not yet fetched the previous
 * frame's commands, which happens when a slow client fills the server's
 * pipe; and while the draws the server still holds (in its drawable tree,
 * or in a client pipe) exceed a budget, the tick is skipped and
 * spice_qxl_oom() asks the worker to render and release old drawables, as
 * QEMU's QXL device does.  Skipped ticks do not advance the frame number. */
static gboolean
draw_dispatch (GSource * source, GSourceFunc callback, gpointer data)
{
  Server *srv = the_server;
  gint64 now = g_get_monotonic_time ();
  gsize budget = MAX (MIN_BUDGET_BYTES, 4 * (gsize) srv->width *
      srv->height * 4);
  gboolean busy, oom;

  if (!should_tick (srv)) {
    g_source_set_ready_time (source, -1);
    return G_SOURCE_CONTINUE;
  }

  g_mutex_lock (&srv->lock);
  oom = !srv->gl && srv->unreleased_bytes > budget;
  busy = srv->queued_draws > 0 || oom;
  if (srv->gl && srv->gl_pending) {
    /* never a new draw before the client acknowledged the last one: wait
     * for the completion, which draws this frame (gl_complete_dispatch) */
    srv->gl_deferred = TRUE;
    srv->gl_waits++;
    g_mutex_unlock (&srv->lock);
    g_source_set_ready_time (source, -1);
    return G_SOURCE_CONTINUE;
  }
  g_mutex_unlock (&srv->lock);
  if (oom)
    spice_qxl_oom (&srv->qxl);
  if (busy)
    srv->skipped_ticks++;
  else
    draw_frame (srv);

  /* keep the phase, but never burst to catch up after a stall */
  srv->next_tick += frame_period (srv);
  if (srv->next_tick < now)
    srv->next_tick = now;
  g_source_set_ready_time (source, should_tick (srv) ? srv->next_tick : -1);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs draw_source_funcs = {
  .dispatch = draw_dispatch,
};

static void
schedule_draw (Server * srv)
{
  gint64 now = g_get_monotonic_time ();

  if (!should_tick (srv) || srv->gl_deferred) {
    g_source_set_ready_time (srv->draw_source, -1);
    return;
  }
  if (srv->next_tick < now)
    srv->next_tick = now;
  g_source_set_ready_time (srv->draw_source, srv->next_tick);
}

/* ------------------------------------------------------------------------ */
/* GL scanout (--gl)                                                        */
/* The "GPU buffer" is a memfd holding the pattern in the chosen fourcc,
 * handed to libspice-server with spice_qxl_gl_scanout (which sends the
 * client a dup through SCM_RIGHTS); each frame is repainted in place and
 * announced with spice_qxl_gl_draw_async.  Painting only happens while no
 * draw is pending, so the content is stable from the client's gl-draw to
 * its GL_DRAW_DONE. */

static void
gl_store_row (Server * srv, guint y, const guint32 * src, guint x0, guint n)
{
  guint row = srv->gl_y0top ? y : srv->height - 1 - y;
  guint32 *dst = (guint32 *) (srv->gl_map + (gsize) row * srv->width * 4);
  guint x;

  if (!srv->gl_format->rgb_order) {
    memcpy (dst + x0, src, (gsize) n * 4);
    return;
  }
  for (x = 0; x < n; x++) {
    guint32 v = src[x];

    dst[x0 + x] = (v & 0xff00ff00u) | ((v >> 16) & 0xff) | ((v & 0xff) << 16);
  }
}

static void
gl_draw_frame (Server * srv)
{
  guint32 f = (guint32) (srv->frame + 1);
  guint32 *line;
  guint x, y;

  /* a producer's scanout: it drew the frame itself */
  if (srv->ext_fd >= 0)
    goto announce;
  line = g_new (guint32, srv->width);
  for (y = 0; y < srv->height; y++) {
    for (x = 0; x < srv->width; x++)
      line[x] = tp_pixel (x, y, f);
    gl_store_row (srv, y, line, 0, srv->width);
  }
  g_free (line);
  if (srv->width >= TP_STRIP_W && srv->height >= TP_STRIP_H) {
    guint32 strip[TP_STRIP_W * TP_STRIP_H];

    tp_paint_strip ((guint8 *) strip, TP_STRIP_W * 4, f,
        g_get_monotonic_time ());
    for (y = 0; y < TP_STRIP_H; y++)
      gl_store_row (srv, y, strip + y * TP_STRIP_W, 0, TP_STRIP_W);
  }

announce:
  g_mutex_lock (&srv->lock);
  srv->gl_pending = TRUE;
  srv->gl_counted = srv->n_displays > 0;
  srv->gl_cookie = GL_COOKIE_TAG | ++srv->gl_draws;
  srv->gl_pending_frame = f;
  g_mutex_unlock (&srv->lock);
  spice_qxl_gl_draw_async (&srv->qxl, 0, 0, srv->width, srv->height,
      GL_COOKIE_TAG | srv->gl_draws);
  srv->frame = f;
}

/* Waits (bounded) until no draw is pending; FALSE on timeout. */
static gboolean
gl_wait_idle (Server * srv)
{
  gint64 deadline = g_get_monotonic_time () + GL_IDLE_WAIT_US;
  gboolean idle;

  g_mutex_lock (&srv->lock);
  while (srv->gl_pending && g_cond_wait_until (&srv->gl_cond, &srv->lock,
          deadline));
  idle = !srv->gl_pending;
  g_mutex_unlock (&srv->lock);
  return idle;
}

/* A new memfd of the current size and a new scanout for it.  No draw may
 * be pending (spice_qxl_gl_scanout refuses then). */
static gboolean
gl_new_scanout (Server * srv, GError ** error)
{
  gsize size = (gsize) srv->width * srv->height * 4;
  int fd;
  guint8 *map;

  if (srv->ext_fd >= 0) {
    spice_qxl_gl_scanout (&srv->qxl, dup (srv->ext_fd), srv->ext_width,
        srv->ext_height, srv->ext_stride, srv->ext_fourcc, TRUE);
    return TRUE;
  }
  fd = memfd_create ("spice-test-gl", MFD_CLOEXEC);

  if (fd < 0 || ftruncate (fd, size) < 0)
    goto failed;
  map = mmap (NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED)
    goto failed;
  if (srv->gl_map)
    munmap (srv->gl_map, srv->gl_size);
  if (srv->gl_fd >= 0)
    close (srv->gl_fd);
  srv->gl_fd = fd;
  srv->gl_map = map;
  srv->gl_size = size;
  /* the library takes ownership of the fd it gets (and closes the previous
   * one), so it gets a dup; --gl-bad sends a broken scanout instead (the
   * pattern is still painted into the memfd) */
  if (srv->gl_stream_stub) {
    int sp[2];

    /* an fd that is no buffer, as an EGLStream's */
    if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
      goto failed;
    if (srv->gl_stub_peer >= 0)
      close (srv->gl_stub_peer);
    srv->gl_stub_peer = sp[1];
    spice_qxl_gl_scanout (&srv->qxl, sp[0], srv->width, srv->height,
        srv->width * 4, srv->gl_format->fourcc, srv->gl_y0top);
  } else if (srv->gl_bad && g_str_equal (srv->gl_bad, "pipe")) {
    int p[2];

    if (pipe (p) < 0)
      goto failed;
    close (p[1]);
    spice_qxl_gl_scanout (&srv->qxl, p[0], srv->width, srv->height,
        srv->width * 4, srv->gl_format->fourcc, srv->gl_y0top);
  } else if (srv->gl_bad && g_str_equal (srv->gl_bad, "short")) {
    int s = memfd_create ("spice-test-gl-short", MFD_CLOEXEC);

    if (s < 0 || ftruncate (s, size / 2) < 0)
      goto failed;
    spice_qxl_gl_scanout (&srv->qxl, s, srv->width, srv->height,
        srv->width * 4, srv->gl_format->fourcc, srv->gl_y0top);
  } else {
    spice_qxl_gl_scanout (&srv->qxl, dup (fd), srv->width, srv->height,
        srv->gl_bad ? srv->width * 2 : srv->width * 4,
        srv->gl_format->fourcc, srv->gl_y0top);
  }
  return TRUE;

failed:
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno),
      "cannot make a %" G_GSIZE_FORMAT "-byte memfd: %s", size,
      g_strerror (errno));
  if (fd >= 0)
    close (fd);
  return FALSE;
}

/* Main thread, after a completion: a tick that waited draws now. */
static gboolean
gl_complete_dispatch (GSource * source, GSourceFunc callback, gpointer data)
{
  Server *srv = the_server;
  gboolean pending;

  g_source_set_ready_time (source, -1);
  g_mutex_lock (&srv->lock);
  pending = srv->gl_pending;
  g_mutex_unlock (&srv->lock);
  if (!srv->gl_deferred || pending)
    return G_SOURCE_CONTINUE;
  srv->gl_deferred = FALSE;
  if (srv->ext_fd >= 0) {
    draw_frame (srv);
    return G_SOURCE_CONTINUE;
  }
  if (should_tick (srv)) {
    draw_frame (srv);
    srv->next_tick = g_get_monotonic_time () + frame_period (srv);
  }
  schedule_draw (srv);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs gl_complete_funcs = {
  .dispatch = gl_complete_dispatch,
};

/* --gl-scanout-from: a producer process (an EGLStream or DMA-BUF
 * renderer) hands its scanout fd over a unix socket: a 16-byte header
 * (u32 width, height, DRM fourcc, stride; little-endian) with the fd
 * attached, then one byte per frame it presented. */
static gboolean
receive_scanout (Server * srv, const gchar * path, GError ** error)
{
  struct sockaddr_un addr = { 0, };
  guint32 hdr[4];
  struct iovec iov = { hdr, sizeof (hdr) };
  union
  {
    struct cmsghdr align;
    char buf[CMSG_SPACE (sizeof (int))];
  } ctl;
  struct msghdr msg = { 0, };
  struct cmsghdr *c;
  gint64 deadline = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ssize_t n;

  addr.sun_family = AF_UNIX;
  g_strlcpy (addr.sun_path, path, sizeof (addr.sun_path));
  while (connect (fd, (struct sockaddr *) &addr, sizeof (addr)) < 0) {
    if (g_get_monotonic_time () > deadline) {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno),
          "cannot connect to the producer at %s: %s", path,
          g_strerror (errno));
      close (fd);
      return FALSE;
    }
    g_usleep (20000);
  }
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctl.buf;
  msg.msg_controllen = sizeof (ctl.buf);
  n = recvmsg (fd, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL);
  c = CMSG_FIRSTHDR (&msg);
  if (n != sizeof (hdr) || !c || c->cmsg_type != SCM_RIGHTS) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
        "the producer at %s sent no header with an fd", path);
    close (fd);
    return FALSE;
  }
  memcpy (&srv->ext_fd, CMSG_DATA (c), sizeof (int));
  srv->ext_width = GUINT32_FROM_LE (hdr[0]);
  srv->ext_height = GUINT32_FROM_LE (hdr[1]);
  srv->ext_fourcc = GUINT32_FROM_LE (hdr[2]);
  srv->ext_stride = GUINT32_FROM_LE (hdr[3]);
  srv->width = srv->ext_width;
  srv->height = srv->ext_height;
  srv->producer_fd = fd;
  return TRUE;
}

/* A byte per presented frame: a draw now, or once the pending one is
 * acknowledged (later bytes coalesce). */
static gboolean
on_producer_readable (gint fd, GIOCondition cond, gpointer data)
{
  Server *srv = data;
  guint8 buf[256];
  ssize_t n = read (fd, buf, sizeof (buf));
  gboolean pending;

  if (n <= 0) {
    emit ("PRODUCER gone");
    close (fd);
    srv->producer_fd = -1;
    return G_SOURCE_REMOVE;
  }
  g_mutex_lock (&srv->lock);
  pending = srv->gl_pending;
  g_mutex_unlock (&srv->lock);
  if (pending)
    srv->gl_deferred = TRUE;
  else
    draw_frame (srv);
  return G_SOURCE_CONTINUE;
}

/* ------------------------------------------------------------------------ */
/* Audio (--audio)                                                          */
/* Playback follows test-audio.h: packet k (TA_PACKET_FRAMES frames) is due
 * when the real-time timeline reaches its first frame.  A due packet is
 * handed to libspice-server if playback runs and the library has a buffer
 * (it has none without a playback client), else it is dropped: the
 * timeline never waits.  Record samples are drained on a timer. */

static const SpicePlaybackInterface playback_interface = {
  .base = {
        .type = SPICE_INTERFACE_PLAYBACK,
        .description = "gst-spice test playback",
        .major_version = SPICE_INTERFACE_PLAYBACK_MAJOR,
        .minor_version = SPICE_INTERFACE_PLAYBACK_MINOR,
      },
};

static const SpiceRecordInterface record_interface = {
  .base = {
        .type = SPICE_INTERFACE_RECORD,
        .description = "gst-spice test record",
        .major_version = SPICE_INTERFACE_RECORD_MAJOR,
        .minor_version = SPICE_INTERFACE_RECORD_MINOR,
      },
};

/* Real time to the audio clock's time and back (--audio-speed) */
static gint64
audio_clock_us (Server * srv, gint64 real_us)
{
  return real_us + real_us * srv->audio_speed_ppm / 1000000;
}

static gint64
audio_real_us (Server * srv, gint64 clock_us)
{
  return clock_us * 1000000 / (1000000 + srv->audio_speed_ppm);
}

static guint64
audio_timeline_now (Server * srv)
{
  return ta_timeline_frame (audio_clock_us (srv, g_get_monotonic_time () -
          srv->audio_t0), srv->audio_rate);
}

static void
send_packet (Server * srv, guint64 k)
{
  gint16 lr[TA_PACKET_FRAMES * TA_CHANNELS];
  guint64 n_first = k * TA_PACKET_FRAMES;
  uint32_t *frames = NULL;
  uint32_t n = 0, j;

  /* NULL without a playback client.  With one, the library keeps three
   * buffers (one being sent, one pending, one free) and a put replaces a
   * still pending packet, so a slow client loses packets there, not here. */
  spice_server_playback_get_buffer (&srv->playback, &frames, &n);
  if (!frames) {
    srv->packets_skipped++;
    return;
  }
  if (n != TA_PACKET_FRAMES && !srv->warned_packet_size) {
    /* libspice-server 0.15.1 always gives 480 frames; another version
     * would break the packet numbering of test-audio.h */
    g_printerr ("spice-test-server: playback buffer holds %u frames, not %d"
        "\n", n, TA_PACKET_FRAMES);
    srv->warned_packet_size = TRUE;
  }

  if (srv->marks)
    ta_fill_marked_sine (lr, TA_PACKET_FRAMES, n_first, srv->audio_rate);
  else if (srv->sine)
    ta_fill_sine (lr, TA_PACKET_FRAMES, n_first, srv->audio_rate);
  else
    ta_fill_code_packet (lr, TA_PACKET_FRAMES, n_first,
        g_get_monotonic_time ());
  /* the library's frame is one uint32_t, (right << 16) | left */
  for (j = 0; j < n; j++)
    frames[j] = j < TA_PACKET_FRAMES ?
        ((uint32_t) (guint16) lr[2 * j + 1] << 16) | (guint16) lr[2 * j] : 0;
  spice_server_playback_put_samples (&srv->playback, frames);
  srv->packets_sent++;
}

static gint64
packet_due_time (Server * srv, guint64 k)
{
  return srv->audio_t0 + audio_real_us (srv,
      ta_frame_time_us (k * TA_PACKET_FRAMES, srv->audio_rate)) + 1;
}

/* Sends (or drops, see above) every packet that is due, then sleeps until
 * the next one is.  After a stall every packet due meanwhile goes out at
 * once.  With --audio-jitter, a packet that falls due while playing is held
 * back a random MIN..MAX ms, and everything due by then goes out with it in
 * one burst, as QEMU's audio timer does on a loaded host: the average rate
 * stays exact, only the send times move (later, never earlier). */
static gboolean
audio_dispatch (GSource * source, GSourceFunc callback, gpointer data)
{
  Server *srv = the_server;
  guint64 now = audio_timeline_now (srv);
  gint64 ready;

  while (srv->next_packet * TA_PACKET_FRAMES <= now) {
    if (srv->jitter_max_us > 0 && srv->playing) {
      if (srv->hold_until == 0)
        srv->hold_until = packet_due_time (srv, srv->next_packet) +
            g_rand_int_range (srv->jitter_rand, srv->jitter_min_us,
            srv->jitter_max_us + 1);
      if (g_get_monotonic_time () < srv->hold_until)
        break;
    }
    if (srv->playing)
      send_packet (srv, srv->next_packet);
    srv->next_packet++;
  }
  ready = packet_due_time (srv, srv->next_packet);
  if (srv->hold_until != 0) {
    if (srv->next_packet * TA_PACKET_FRAMES <= now) {
      ready = srv->hold_until;  /* still holding */
    } else {
      srv->hold_until = 0;      /* the burst went out */
      srv->bursts++;
    }
  }
  g_source_set_ready_time (source, ready);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs audio_source_funcs = {
  .dispatch = audio_dispatch,
};

/* Counts a drained block of record frames and appends it to the record
 * file.  libspice-server 0.15.1 garbles up to one client message after
 * each wrap of its record ring (see test-audio.h): discontinuities there
 * are counted apart, as wrap errors. */
static void
record_consume (Server * srv, const uint32_t * frames, guint n)
{
  guint16 out[RECORD_BUF_FRAMES * TA_CHANNELS];
  guint i;

  for (i = 0; i < n; i++) {
    guint16 left = frames[i] & 0xffff;
    guint16 right = frames[i] >> 16;

    if (srv->record_first < 0)
      srv->record_first = (gint16) left;
    else if (left != (guint16) (srv->record_prev + 1) &&
        ta_record_in_wrap_window (srv->record_pos + i))
      srv->record_wrap_errors++;
    else if (left != (guint16) (srv->record_prev + 1))
      srv->record_errors++;
    srv->record_prev = left;
    out[2 * i] = GUINT16_TO_LE (left);
    out[2 * i + 1] = GUINT16_TO_LE (right);
  }
  srv->record_frames += n;
  srv->record_pos += n;
  if (srv->record_file) {
    if (fwrite (out, TA_BYTES_PER_FRAME, n, srv->record_file) != n ||
        fflush (srv->record_file) != 0)
      g_printerr ("spice-test-server: cannot write the record file: %s\n",
          g_strerror (errno));
  }
}

static void
record_drain (Server * srv)
{
  uint32_t frames[RECORD_BUF_FRAMES];
  uint32_t n;

  /* only while started: with a client attached, get_samples asserts that
   * recording runs.  It also returns nothing until 4096 frames arrived
   * since the start. */
  if (!srv->recording)
    return;
  while ((n = spice_server_record_get_samples (&srv->record, frames,
              RECORD_BUF_FRAMES)) > 0)
    record_consume (srv, frames, n);
}

static gboolean
record_timeout (gpointer data)
{
  record_drain (data);
  return G_SOURCE_CONTINUE;
}

static void
audio_init (Server * srv)
{
  GSource *source;

  srv->audio_t0 = g_get_monotonic_time ();
  srv->record_first = -1;
  srv->audio_source = g_source_new (&audio_source_funcs, sizeof (GSource));
  g_source_set_ready_time (srv->audio_source, srv->audio_t0);
  g_source_attach (srv->audio_source, srv->context);

  source = g_timeout_source_new (RECORD_DRAIN_MS);
  g_source_set_callback (source, record_timeout, srv, NULL);
  g_source_attach (source, srv->context);
  g_source_unref (source);
}

/* Playback and record start and stop assert (abort the server) when called
 * twice in a row with a client attached, so the commands are idempotent
 * here. */
static void
handle_audio_command (Server * srv, const gchar * cmd, const gchar * arg)
{
  gboolean record = g_str_equal (cmd, "record");

  if (!srv->audio) {
    emit ("ERR no audio");
    return;
  }

  if (!record && g_str_equal (arg, "start")) {
    if (!srv->playing)
      spice_server_playback_start (&srv->playback);
    srv->playing = TRUE;
    emit ("OK audio start n=%" G_GUINT64_FORMAT, audio_timeline_now (srv));
  } else if (!record && g_str_equal (arg, "stop")) {
    if (srv->playing)
      spice_server_playback_stop (&srv->playback);
    srv->playing = FALSE;
    emit ("OK audio stop n=%" G_GUINT64_FORMAT, audio_timeline_now (srv));
  } else if (!record && g_str_equal (arg, "stats")) {
    emit ("OK audio stats playing=%d sent=%" G_GUINT64_FORMAT " skipped=%"
        G_GUINT64_FORMAT " n=%" G_GUINT64_FORMAT " rate=%u t0=%" G_GINT64_FORMAT
        " bursts=%" G_GUINT64_FORMAT, srv->playing, srv->packets_sent,
        srv->packets_skipped, audio_timeline_now (srv), srv->audio_rate,
        srv->audio_t0, srv->bursts);
  } else if (!record) {
    emit ("ERR audio needs start, stop or stats");
  } else if (g_str_equal (arg, "start")) {
    if (!srv->recording) {
      /* a new recording: the library empties its buffer too */
      srv->record_frames = 0;
      srv->record_errors = 0;
      srv->record_wrap_errors = 0;
      srv->record_pos = 0;
      srv->record_first = -1;
      spice_server_record_start (&srv->record);
    }
    srv->recording = TRUE;
    emit ("OK record start");
  } else if (g_str_equal (arg, "stop")) {
    if (srv->recording) {
      record_drain (srv);
      spice_server_record_stop (&srv->record);
    }
    srv->recording = FALSE;
    emit ("OK record stop");
  } else if (g_str_equal (arg, "stats")) {
    emit ("OK record recording=%d frames=%" G_GUINT64_FORMAT " errors=%"
        G_GUINT64_FORMAT " first=%d rate=%u wrap_errors=%" G_GUINT64_FORMAT,
        srv->recording, srv->record_frames, srv->record_errors,
        srv->record_first, srv->record_rate, srv->record_wrap_errors);
  } else {
    emit ("ERR record needs start, stop or stats");
  }
}

/* ------------------------------------------------------------------------ */
/* Port (--port-name)                                                       */
/* A "port" char device.  libspice-server calls write() with what the
 * client sent and read() for what goes to the client, both from its main
 * loop (ours), never blocking: write() may take less than offered, read()
 * returns 0 when nothing is queued.  Each spice_server_char_device_wakeup()
 * writes everything pending to the device but reads at most one message
 * (64 KiB) from it, and none while 1 MiB waits for the client's socket.
 * Like QEMU's spiceport chardev in front of a virtio-serial port, the
 * "guest side" neither takes nor gives bytes while it has the port closed:
 * the client's data then waits inside libspice-server (which stops reading
 * the client's socket once it holds 128 messages) until "port open".  With
 * SPICE_CHAR_DEVICE_NOTIFY_WRITABLE the library retries a refused write
 * only on a wakeup, which port_schedule_wakeup asks for from an idle
 * source, never from inside the library's own calls. */

static gboolean parse_uint (const gchar * str, guint max, guint * out);

static void
port_schedule_wakeup (Server * srv)
{
  g_source_set_ready_time (srv->port_wakeup, 0);
}

static gboolean
port_wakeup_dispatch (GSource * source, GSourceFunc callback, gpointer data)
{
  Server *srv = the_server;

  g_source_set_ready_time (source, -1);
  srv->port_write_blocked = FALSE;
  spice_server_char_device_wakeup (&srv->port);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs port_wakeup_funcs = {
  .dispatch = port_wakeup_dispatch,
};

static guint64
port_chunk_len (PortChunk * chunk)
{
  return chunk->bytes ? chunk->bytes->len : chunk->len;
}

static void
port_chunk_free (PortChunk * chunk)
{
  if (chunk->bytes)
    g_byte_array_unref (chunk->bytes);
  g_free (chunk);
}

/* Queues a copy of len bytes for the client, appended to the last copy
 * while that stays below PORT_CHUNK_SIZE. */
static void
port_queue_bytes (Server * srv, const guint8 * data, gsize len)
{
  PortChunk *tail = g_queue_peek_tail (&srv->port_out);

  if (!tail || !tail->bytes || tail->bytes->len >= PORT_CHUNK_SIZE) {
    tail = g_new0 (PortChunk, 1);
    tail->bytes = g_byte_array_sized_new (MAX (len, PORT_CHUNK_SIZE));
    g_queue_push_tail (&srv->port_out, tail);
  }
  g_byte_array_append (tail->bytes, data, len);
  srv->port_queued += len;
  srv->port_buffered += len;
}

static void
port_queue_pattern (Server * srv, guint64 len)
{
  PortChunk *chunk;

  if (len == 0)
    return;
  chunk = g_new0 (PortChunk, 1);
  chunk->len = len;
  g_queue_push_tail (&srv->port_out, chunk);
  srv->port_queued += len;
}

/* "port send-pattern": byte i of a command's pattern, i from 0 */
static guint8
port_pattern_byte (guint64 i)
{
  return (i * 131 + (i >> 8)) & 0xff;
}

static void
port_state (SpiceCharDeviceInstance * sin, int connected)
{
  Server *srv = SPICE_CONTAINEROF (sin, Server, port);

  /* called with 1 when a client port channel attaches, 0 when it goes */
  if (srv->port_connected == !!connected)
    return;
  srv->port_connected = !!connected;
  emit ("PORT %s", connected ? "connected" : "disconnected");
  /* what the library held back while no client was attached (see
   * port_write) may go to the device now */
  if (connected)
    port_schedule_wakeup (srv);
}

static int
port_write (SpiceCharDeviceInstance * sin, const uint8_t * buf, int len)
{
  Server *srv = SPICE_CONTAINEROF (sin, Server, port);
  gsize n = len;

  /* Nothing while no client port channel is attached either:
   * libspice-server 0.15.1 calls RedCharDeviceSpiceVmc::on_free_self_token
   * for every client message the device finishes, and that dereferences
   * the channel's client without a check, so finishing one that a departed
   * client left behind (while the port was closed) crashes the server.
   * Those bytes wait in the library for the next client instead. */
  if (!srv->port_opened || !srv->port_connected || len <= 0)
    return 0;
  if (srv->port_echo) {
    gsize room = srv->port_buffered < PORT_ECHO_LIMIT ?
        PORT_ECHO_LIMIT - srv->port_buffered : 0;

    n = MIN (n, room);
    if (n < (gsize) len)
      srv->port_write_blocked = TRUE;
    if (n > 0) {
      port_queue_bytes (srv, buf, n);
      /* the library does not read after a write by itself */
      port_schedule_wakeup (srv);
    }
  }
  srv->port_received += n;
  if (!srv->port_count)
    g_checksum_update (srv->port_sha256, buf, n);
  return n;
}

static int
port_read (SpiceCharDeviceInstance * sin, uint8_t * buf, int len)
{
  Server *srv = SPICE_CONTAINEROF (sin, Server, port);
  PortChunk *chunk;
  gsize done = 0;

  if (!srv->port_opened || len <= 0)
    return 0;
  while (done < (gsize) len && (chunk = g_queue_peek_head (&srv->port_out))) {
    guint64 left = port_chunk_len (chunk) - chunk->pos;
    guint64 n = MIN (left, (guint64) len - done);
    guint64 i;

    if (chunk->bytes) {
      memcpy (buf + done, chunk->bytes->data + chunk->pos, n);
      srv->port_buffered -= n;
    } else {
      for (i = 0; i < n; i++)
        buf[done + i] = port_pattern_byte (chunk->pos + i);
    }
    chunk->pos += n;
    done += n;
    if (chunk->pos == port_chunk_len (chunk))
      port_chunk_free (g_queue_pop_head (&srv->port_out));
  }
  srv->port_queued -= done;
  srv->port_sent += done;
  /* libspice-server reads one message (up to 64 KiB) per wakeup, not
   * until read() returns 0, so ask again while bytes are left; and wake a
   * refused echo write once there is room again */
  if (srv->port_queued > 0 ||
      (srv->port_write_blocked && srv->port_buffered < PORT_ECHO_LIMIT))
    port_schedule_wakeup (srv);
  return done;
}

static void
port_event (SpiceCharDeviceInstance * sin, uint8_t event)
{
  /* a client's spice_port_channel_event(): BREAK or a private code */
  emit ("PORT event %u", event);
}

static const SpiceCharDeviceInterface port_interface = {
  .base = {
        .type = SPICE_INTERFACE_CHAR_DEVICE,
        .description = "gst-spice test port",
        .major_version = SPICE_INTERFACE_CHAR_DEVICE_MAJOR,
        .minor_version = SPICE_INTERFACE_CHAR_DEVICE_MINOR,
      },
  .state = port_state,
  .write = port_write,
  .read = port_read,
  .event = port_event,
  .flags = SPICE_CHAR_DEVICE_NOTIFY_WRITABLE,
};

static void
port_reset_counters (Server * srv)
{
  srv->port_received = 0;
  srv->port_sent = 0;
  if (srv->port_sha256)
    g_checksum_free (srv->port_sha256);
  srv->port_sha256 = g_checksum_new (G_CHECKSUM_SHA256);
}

static void
port_set_opened (Server * srv, gboolean opened)
{
  srv->port_opened = opened;
  spice_server_port_event (&srv->port, opened ? SPICE_PORT_EVENT_OPENED :
      SPICE_PORT_EVENT_CLOSED);
  /* data held back while closed may flow now */
  if (opened)
    port_schedule_wakeup (srv);
}

static gboolean
parse_hex (const gchar * hex, GByteArray * out)
{
  gsize len = strlen (hex), i;

  if (len == 0 || len % 2 != 0 || len / 2 > PORT_SEND_MAX)
    return FALSE;
  for (i = 0; i < len; i += 2) {
    gint hi = g_ascii_xdigit_value (hex[i]);
    gint lo = g_ascii_xdigit_value (hex[i + 1]);
    guint8 b;

    if (hi < 0 || lo < 0)
      return FALSE;
    b = hi << 4 | lo;
    g_byte_array_append (out, &b, 1);
  }
  return TRUE;
}

static void
handle_port_command (Server * srv, const gchar * arg)
{
  gchar *sub = g_strdup (arg);
  gchar *value = strchr (sub, ' ');

  if (value) {
    *value++ = '\0';
    value = g_strstrip (value);
  } else {
    value = (gchar *) "";
  }

  if (!srv->port_name) {
    emit ("ERR no port");
  } else if (g_str_equal (sub, "open") && !*value) {
    port_set_opened (srv, TRUE);
    emit ("OK port open");
  } else if (g_str_equal (sub, "close") && !*value) {
    port_set_opened (srv, FALSE);
    emit ("OK port close");
  } else if (g_str_equal (sub, "stats") && !*value) {
    GChecksum *sha = g_checksum_copy (srv->port_sha256);

    emit ("OK port stats opened=%d connected=%d bytes=%" G_GUINT64_FORMAT
        " sha256=%s sent=%" G_GUINT64_FORMAT " queued=%" G_GUINT64_FORMAT,
        srv->port_opened, srv->port_connected, srv->port_received,
        srv->port_count ? "-" : g_checksum_get_string (sha), srv->port_sent,
        srv->port_queued);
    g_checksum_free (sha);
  } else if (g_str_equal (sub, "reset") && !*value) {
    port_reset_counters (srv);
    emit ("OK port reset");
  } else if (g_str_equal (sub, "send")) {
    GByteArray *bytes = g_byte_array_new ();

    if (parse_hex (value, bytes)) {
      port_queue_bytes (srv, bytes->data, bytes->len);
      spice_server_char_device_wakeup (&srv->port);
      emit ("OK port send %u", bytes->len);
    } else {
      emit ("ERR port send needs an even number of hex digits (at most "
          "%d bytes)", PORT_SEND_MAX);
    }
    g_byte_array_unref (bytes);
  } else if (g_str_equal (sub, "send-pattern")) {
    guint n;

    if (parse_uint (value, PORT_PATTERN_MAX, &n)) {
      port_queue_pattern (srv, n);
      spice_server_char_device_wakeup (&srv->port);
      emit ("OK port send-pattern %u", n);
    } else {
      emit ("ERR port send-pattern needs N (0..%u)", PORT_PATTERN_MAX);
    }
  } else {
    emit ("ERR port needs open, close, stats, reset, send HEX or "
        "send-pattern N");
  }
  g_free (sub);
}

/* ------------------------------------------------------------------------ */
/* Input devices                                                            */
/* libspice-server calls these from its main loop as the client's inputs
 * messages arrive: the keyboard gets raw PC/XT set 1 bytes (an e0 prefix
 * as a byte of its own), the mouse relative motion in server mouse mode,
 * the tablet (--tablet) absolute positions in client mouse mode.  Button
 * masks are what the library passes: its RED_MOUSE_STATE_TO_LOCAL swaps
 * the protocol's middle and right bits, drops the up/down bits and moves
 * side/extra one bit up (see README.md). */

static void
kbd_push_scan_freg (SpiceKbdInstance * sin, uint8_t frag)
{
  emit ("KBD %02x", frag);
}

static uint8_t
kbd_get_leds (SpiceKbdInstance * sin)
{
  return 0;
}

static const SpiceKbdInterface kbd_interface = {
  .base = {
        .type = SPICE_INTERFACE_KEYBOARD,
        .description = "gst-spice test keyboard",
        .major_version = SPICE_INTERFACE_KEYBOARD_MAJOR,
        .minor_version = SPICE_INTERFACE_KEYBOARD_MINOR,
      },
  .push_scan_freg = kbd_push_scan_freg,
  .get_leds = kbd_get_leds,
};

static void
mouse_motion (SpiceMouseInstance * sin, int dx, int dy, int dz,
    uint32_t buttons_state)
{
  emit ("MOUSE motion %d %d %d %u", dx, dy, dz, buttons_state);
}

static void
mouse_buttons (SpiceMouseInstance * sin, uint32_t buttons_state)
{
  emit ("MOUSE buttons %u", buttons_state);
}

static const SpiceMouseInterface mouse_interface = {
  .base = {
        .type = SPICE_INTERFACE_MOUSE,
        .description = "gst-spice test mouse",
        .major_version = SPICE_INTERFACE_MOUSE_MAJOR,
        .minor_version = SPICE_INTERFACE_MOUSE_MINOR,
      },
  .motion = mouse_motion,
  .buttons = mouse_buttons,
};

static void
tablet_set_logical_size (SpiceTabletInstance * sin, int width, int height)
{
  emit ("TABLET size %d %d", width, height);
}

static void
tablet_position (SpiceTabletInstance * sin, int x, int y,
    uint32_t buttons_state)
{
  emit ("TABLET position %d %d %u", x, y, buttons_state);
}

static void
tablet_wheel (SpiceTabletInstance * sin, int wheel_motion,
    uint32_t buttons_state)
{
  emit ("TABLET wheel %d %u", wheel_motion, buttons_state);
}

static void
tablet_buttons (SpiceTabletInstance * sin, uint32_t buttons_state)
{
  emit ("TABLET buttons %u", buttons_state);
}

static const SpiceTabletInterface tablet_interface = {
  .base = {
        .type = SPICE_INTERFACE_TABLET,
        .description = "gst-spice test tablet",
        .major_version = SPICE_INTERFACE_TABLET_MAJOR,
        .minor_version = SPICE_INTERFACE_TABLET_MINOR,
      },
  .set_logical_size = tablet_set_logical_size,
  .position = tablet_position,
  .wheel = tablet_wheel,
  .buttons = tablet_buttons,
};

/* ------------------------------------------------------------------------ */
/* Control channel (stdin)                                                  */

static gboolean
parse_size (const gchar * str, guint * w, guint * h, gboolean allow_zero)
{
  gchar *end;
  guint64 a, b;

  a = g_ascii_strtoull (str, &end, 10);
  if (end == str || (*end != 'x' && *end != 'X' && *end != ' '))
    return FALSE;
  str = end + 1;
  b = g_ascii_strtoull (str, &end, 10);
  if (end == str || *end != '\0')
    return FALSE;
  if (a > MAX_SURFACE_DIM || b > MAX_SURFACE_DIM)
    return FALSE;
  if (!allow_zero && (a == 0 || b == 0))
    return FALSE;
  *w = a;
  *h = b;
  return TRUE;
}

static gboolean
parse_uint (const gchar * str, guint max, guint * out)
{
  guint64 v;

  if (!g_ascii_string_to_unsigned (str, 10, 0, max, &v, NULL))
    return FALSE;
  *out = v;
  return TRUE;
}

static void
set_password (Server * srv, const gchar * password)
{
  if (password && *password)
    spice_server_set_ticket (srv->spice, password, 0, 0, 0);
  else
    spice_server_set_noauth (srv->spice);
}

static void
handle_command (Server * srv, gchar * line)
{
  gchar *cmd = g_strstrip (line);
  gchar *arg = strchr (cmd, ' ');
  guint a, b;

  if (arg) {
    *arg++ = '\0';
    arg = g_strstrip (arg);
  } else {
    arg = (gchar *) "";
  }

  if (*cmd == '\0')
    return;

  if (g_str_equal (cmd, "resize")) {
    if (!parse_size (arg, &a, &b, FALSE)) {
      emit ("ERR resize needs W H (1..%d)", MAX_SURFACE_DIM);
      return;
    }
    if (srv->gl && !gl_wait_idle (srv)) {
      emit ("ERR resize: the client has not acknowledged the last gl draw");
      return;
    }
    spice_qxl_destroy_primary_surface (&srv->qxl, 0);
    create_primary (srv, a, b);
    if (srv->gl) {
      GError *error = NULL;

      if (!gl_new_scanout (srv, &error)) {
        emit ("ERR resize: %s", error->message);
        g_error_free (error);
        return;
      }
    }
    if (srv->cursor)
      push_cursor (srv);
    restart_frames (srv);
    emit ("OK resize %u %u", a, b);
  } else if (g_str_equal (cmd, "fps")) {
    if (!parse_uint (arg, 1000, &a)) {
      emit ("ERR fps needs N (0..1000)");
      return;
    }
    srv->fps = a;
    srv->next_tick = g_get_monotonic_time () + frame_period (srv);
    schedule_draw (srv);
    emit ("OK fps %u", a);
  } else if (g_str_equal (cmd, "stop")) {
    srv->started = FALSE;
    schedule_draw (srv);
    emit ("OK stop");
  } else if (g_str_equal (cmd, "start")) {
    srv->started = TRUE;
    schedule_draw (srv);
    emit ("OK start");
  } else if (g_str_equal (cmd, "damage")) {
    if (srv->gl) {
      emit ("ERR damage is not supported with --gl");
      return;
    }
    if (!parse_size (arg, &a, &b, TRUE)) {
      emit ("ERR damage needs W H (0 0 = full frames)");
      return;
    }
    srv->dw = a && b ? a : 0;
    srv->dh = a && b ? b : 0;
    restart_frames (srv);
    emit ("OK damage %u %u", srv->dw, srv->dh);
  } else if (g_str_equal (cmd, "flood")) {
    if (srv->gl) {
      emit ("ERR flood is not supported with --gl");
      return;
    }
    if (!arg || !parse_uint (arg, 1000000, &a)) {
      emit ("ERR flood needs N (0..1000000)");
      return;
    }
    flood (srv, a);
    emit ("OK flood %u", a);
  } else if (g_str_equal (cmd, "drop")) {
    gboolean had_client = srv->n_mains > 0;

    /* the only public way to kick a client: set a ticket with
     * disconnect_if_connected, then restore the previous auth mode */
    spice_server_set_ticket (srv->spice, NULL, 0, 0, 1);
    set_password (srv, srv->password);
    emit ("OK drop%s", had_client ? "" : " no-client");
  } else if (g_str_equal (cmd, "password")) {
    if (strlen (arg) > SPICE_MAX_PASSWORD_LENGTH) {
      emit ("ERR password longer than %d", SPICE_MAX_PASSWORD_LENGTH);
      return;
    }
    g_free (srv->password);
    srv->password = g_strdup (arg);
    set_password (srv, srv->password);
    emit ("OK password");
  } else if (g_str_equal (cmd, "frame")) {
    emit ("OK frame %" G_GINT64_FORMAT, srv->frame);
  } else if (g_str_equal (cmd, "stats")) {
    emit ("OK stats frame=%" G_GINT64_FORMAT " skipped=%" G_GUINT64_FORMAT
        " size=%ux%u damage=%ux%u fps=%u running=%d", srv->frame,
        srv->skipped_ticks, srv->width, srv->height, srv->dw, srv->dh,
        srv->fps, should_tick (srv));
  } else if (g_str_equal (cmd, "audio") || g_str_equal (cmd, "record")) {
    handle_audio_command (srv, cmd, arg);
  } else if (g_str_equal (cmd, "port")) {
    handle_port_command (srv, arg);
  } else if (g_str_equal (cmd, "gl")) {
    guint64 done;

    if (!srv->gl) {
      emit ("ERR no gl");
      return;
    }
    if (g_str_equal (arg, "done-log")) {
      GString *out = g_string_new ("OK gl done-log");
      guint i;

      /* frame:done_us of each completion since the last done-log */
      g_mutex_lock (&srv->lock);
      g_string_append_printf (out, " n=%u", srv->gl_done_log->len);
      for (i = 0; i < srv->gl_done_log->len; i++) {
        GlDone *d = &g_array_index (srv->gl_done_log, GlDone, i);
        g_string_append_printf (out, " %u:%" G_GINT64_FORMAT, d->frame,
            d->done_us);
      }
      g_array_set_size (srv->gl_done_log, 0);
      g_mutex_unlock (&srv->lock);
      emit ("%s", out->str);
      g_string_free (out, TRUE);
      return;
    }
    if (!g_str_equal (arg, "stats")) {
      emit ("ERR gl wants stats or done-log");
      return;
    }
    g_mutex_lock (&srv->lock);
    done = srv->gl_done;
    g_mutex_unlock (&srv->lock);
    emit ("OK gl stats draws=%" G_GUINT64_FORMAT " done=%" G_GUINT64_FORMAT
        " waits=%" G_GUINT64_FORMAT " width=%u height=%u fourcc=%s",
        srv->gl_draws, done, srv->gl_waits, srv->width, srv->height,
        srv->gl_format->name);
  } else if (g_str_equal (cmd, "mouse-mode")) {
    /* the mode libspice-server uses now: it starts in server mode and
     * switches when the client asks, if a tablet makes client mode
     * possible (and back to server mode while it is not) */
    emit ("OK mouse-mode %s", spice_server_is_server_mouse (srv->spice) ?
        "server" : "client");
  } else if (g_str_equal (cmd, "quit")) {
    emit ("OK quit");
    g_main_loop_quit (srv->loop);
  } else {
    emit ("ERR unknown command '%s'", cmd);
  }
}

static gboolean
stdin_readable (gint fd, GIOCondition condition, gpointer data)
{
  Server *srv = data;
  gchar buf[4096];
  gssize n;
  gchar *nl;

  n = read (fd, buf, sizeof (buf));
  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return G_SOURCE_CONTINUE;
  if (n <= 0) {
    /* the test that drove us is gone: never outlive it */
    g_main_loop_quit (srv->loop);
    return G_SOURCE_REMOVE;
  }
  g_string_append_len (srv->input, buf, n);
  while ((nl = memchr (srv->input->str, '\n', srv->input->len))) {
    gsize len = nl - srv->input->str;
    gchar *line = g_strndup (srv->input->str, len);

    g_string_erase (srv->input, 0, len + 1);
    handle_command (srv, line);
    g_free (line);
  }
  return G_SOURCE_CONTINUE;
}

/* ------------------------------------------------------------------------ */
/* Listening: our own socket, each accepted connection handed to
 * spice_server_add_client(), so the port can be chosen by the kernel
 * (port 0) and read back before anyone connects: no race for a free port. */

static gboolean
listen_readable (gint fd, GIOCondition condition, gpointer data)
{
  Server *srv = data;
  int client = accept4 (fd, NULL, NULL, SOCK_CLOEXEC);

  if (client < 0) {
    if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
      g_printerr ("spice-test-server: accept: %s\n", g_strerror (errno));
    return G_SOURCE_CONTINUE;
  }
  /* the server owns the fd from here on, unless it refuses it outright */
  if (spice_server_add_client (srv->spice, client, 0) < 0)
    close (client);
  return G_SOURCE_CONTINUE;
}

/* on 127.0.0.1, or ::1 (IPv6 only) with `ipv6` */
static int
listen_tcp (gboolean ipv6, guint port, guint * bound_port, GError ** error)
{
  union
  {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
  } addr;
  socklen_t len = ipv6 ? sizeof (addr.in6) : sizeof (addr.in);
  int one = 1;
  int fd = socket (ipv6 ? AF_INET6 : AF_INET,
      SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

  if (fd < 0)
    goto failed;
  setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof (one));
  memset (&addr, 0, sizeof (addr));
  if (ipv6) {
    setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof (one));
    addr.in6.sin6_family = AF_INET6;
    addr.in6.sin6_port = htons (port);
    addr.in6.sin6_addr = in6addr_loopback;
  } else {
    addr.in.sin_family = AF_INET;
    addr.in.sin_port = htons (port);
    addr.in.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  }
  if (bind (fd, &addr.sa, len) < 0 || listen (fd, 16) < 0 ||
      getsockname (fd, &addr.sa, &len) < 0)
    goto failed;
  *bound_port = ntohs (ipv6 ? addr.in6.sin6_port : addr.in.sin_port);
  return fd;

failed:
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno),
      "cannot listen on %s:%u: %s", ipv6 ? "[::1]" : "127.0.0.1", port,
      g_strerror (errno));
  if (fd >= 0)
    close (fd);
  return -1;
}

static int
listen_unix (const gchar * path, GError ** error)
{
  struct sockaddr_un addr = { 0, };
  int fd;

  if (strlen (path) >= sizeof (addr.sun_path)) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
        "unix socket path too long: %s", path);
    return -1;
  }
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0)
    goto failed;
  addr.sun_family = AF_UNIX;
  strcpy (addr.sun_path, path);
  /* a stale socket from a crashed run would make bind fail */
  unlink (path);
  if (bind (fd, (struct sockaddr *) &addr, sizeof (addr)) < 0 ||
      listen (fd, 16) < 0)
    goto failed;
  return fd;

failed:
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno),
      "cannot listen on unix socket %s: %s", path, g_strerror (errno));
  if (fd >= 0)
    close (fd);
  return -1;
}

static gboolean
on_terminate (gpointer data)
{
  Server *srv = data;

  g_main_loop_quit (srv->loop);
  return G_SOURCE_CONTINUE;
}

static void
attach_fd_source (Server * srv, int fd, GUnixFDSourceFunc func)
{
  GSource *source = g_unix_fd_source_new (fd, G_IO_IN | G_IO_HUP | G_IO_ERR);

  g_source_set_callback (source, G_SOURCE_FUNC (func), srv, NULL);
  g_source_attach (source, srv->context);
  g_source_unref (source);
}

static void
attach_signal_source (Server * srv, int signum)
{
  GSource *source = g_unix_signal_source_new (signum);

  g_source_set_callback (source, on_terminate, srv, NULL);
  g_source_attach (source, srv->context);
  g_source_unref (source);
}

/* ------------------------------------------------------------------------ */

static SpiceCoreInterface core_interface = {
  .base = {
        .type = SPICE_INTERFACE_CORE,
        .description = "gst-spice test core (GLib)",
        .major_version = SPICE_INTERFACE_CORE_MAJOR,
        .minor_version = SPICE_INTERFACE_CORE_MINOR,
      },
  .timer_add = core_timer_add,
  .timer_start = core_timer_start,
  .timer_cancel = core_timer_cancel,
  .timer_remove = core_timer_remove,
  .watch_add = core_watch_add,
  .watch_update_mask = core_watch_update_mask,
  .watch_remove = core_watch_remove,
  .channel_event = core_channel_event,
};

static const FormatInfo *
find_format (const gchar * name)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (formats); i++)
    if (g_str_equal (formats[i].name, name))
      return &formats[i];
  return NULL;
}

int
main (int argc, char **argv)
{
  Server srv = { 0, };
  gchar *size = NULL, *damage = NULL, *format = NULL, *unix_path = NULL;
  gint port = 0, fps = 30, frames = -1;
  gchar *tls_dir = NULL;
  gchar **tls_channels = NULL;
  gboolean ipv6 = FALSE;
  guint tls_port = 0;
  gboolean cursor = FALSE, exit_on_disconnect = FALSE;
  gboolean audio = FALSE, opus = FALSE, record_opus = FALSE;
  gint audio_rate = 0, record_rate = 0, audio_seed = 1;
  gchar *audio_signal = NULL, *record_path = NULL, *audio_jitter = NULL;
  gchar *port_mode = NULL;
  gboolean port_closed = FALSE, tablet = FALSE;
  gboolean gl = FALSE;
  gchar *gl_fourcc = NULL;
  gint gl_y0top = 1;
  gchar *gl_bad = NULL;
  gboolean gl_stream_stub = FALSE;
  gchar *gl_scanout_from = NULL;
  gint split_us = 0;
  GOptionEntry entries[] = {
    {"port", 0, 0, G_OPTION_ARG_INT, &port,
        "TCP port on 127.0.0.1 (default 0: chosen by the kernel)", "N"},
    {"unix", 0, 0, G_OPTION_ARG_FILENAME, &unix_path,
        "Listen on a unix socket instead of TCP", "PATH"},
    {"ipv6", 0, 0, G_OPTION_ARG_NONE, &ipv6,
        "Listen on ::1 (IPv6 only) instead of 127.0.0.1", NULL},
    {"size", 0, 0, G_OPTION_ARG_STRING, &size,
        "Primary surface size (default 640x480)", "WxH"},
    {"fps", 0, 0, G_OPTION_ARG_INT, &fps,
        "Draw rate (default 30; 0: only frame 0)", "N"},
    {"damage", 0, 0, G_OPTION_ARG_STRING, &damage,
        "Partial damage: one WxH rectangle per frame (default: full frames)",
        "WxH"},
    {"split-us", 0, 0, G_OPTION_ARG_INT, &split_us,
          "With --damage: send each frame's rectangle, wait N us (at most "
          "10000), then send its strip (one update as two messages apart)",
        "N"},
    {"frames", 0, 0, G_OPTION_ARG_INT, &frames,
        "Stop drawing after N frames (default: never)", "N"},
    {"password", 0, 0, G_OPTION_ARG_STRING, &srv.password,
        "Ticket a client must give (default: no auth)", "PW"},
    {"format", 0, 0, G_OPTION_ARG_STRING, &format,
        "Primary surface format: xrgb (default), argb, 16_555", "F"},
    {"cursor", 0, 0, G_OPTION_ARG_NONE, &cursor,
        "Send a 16x16 cursor shape at (16, 16)", NULL},
    {"tls-dir", 0, 0, G_OPTION_ARG_FILENAME, &tls_dir,
          "Also listen for TLS on 127.0.0.1 with DIR/ca-cert.pem, "
          "DIR/server-cert.pem and DIR/server-key.pem", "DIR"},
    {"tls-channel", 0, 0, G_OPTION_ARG_STRING_ARRAY, &tls_channels,
          "With --tls-dir: this channel (main, display, inputs, cursor, "
          "playback, record) only over TLS; repeatable", "NAME"},
    {"exit-on-disconnect", 0, 0, G_OPTION_ARG_NONE, &exit_on_disconnect,
        "Exit when the client disconnects", NULL},
    {"audio", 0, 0, G_OPTION_ARG_NONE, &audio,
        "Add playback (started at once) and record devices", NULL},
    {"audio-rate", 0, 0, G_OPTION_ARG_INT, &audio_rate,
        "Playback rate (default 48000; no Opus at 44100)", "N"},
    {"opus", 0, 0, G_OPTION_ARG_NONE, &opus,
        "Send playback as Opus (default: raw PCM, lossless)", NULL},
    {"audio-signal", 0, 0, G_OPTION_ARG_STRING, &audio_signal,
        "Playback signal: code (default), sine or marks", "S"},
    {"audio-speed", 0, 0, G_OPTION_ARG_INT, &srv.audio_speed_ppm,
          "The audio clock's error in parts per million (a drifting guest "
          "clock: 20000 plays 2% fast; default 0)", "PPM"},
    {"audio-jitter", 0, 0, G_OPTION_ARG_STRING, &audio_jitter,
          "Hold playback packets back MIN..MAX ms at random, then send "
          "them in one burst (a loaded host; default: off)", "MIN-MAX"},
    {"audio-seed", 0, 0, G_OPTION_ARG_INT, &audio_seed,
        "Seed of --audio-jitter's random holds (default 1)", "N"},
    {"record-rate", 0, 0, G_OPTION_ARG_INT, &record_rate,
        "Record rate (default 48000)", "N"},
    {"record-opus", 0, 0, G_OPTION_ARG_NONE, &record_opus,
          "Let the client send record data as Opus, as QEMU does "
          "(default: raw PCM)", NULL},
    {"record-file", 0, 0, G_OPTION_ARG_FILENAME, &record_path,
        "Append the recorded frames (S16LE stereo) to PATH", "PATH"},
    {"port-name", 0, 0, G_OPTION_ARG_STRING, &srv.port_name,
        "Add a SPICE port (char device) with this name", "NAME"},
    {"port-mode", 0, 0, G_OPTION_ARG_STRING, &port_mode,
          "What the port does with client data: sink (default: count and "
          "hash it) or echo (also send it back)", "MODE"},
    {"port-closed", 0, 0, G_OPTION_ARG_NONE, &port_closed,
        "Start with the guest side of the port closed", NULL},
    {"tablet", 0, 0, G_OPTION_ARG_NONE, &tablet,
        "Add a tablet, which allows client mouse mode", NULL},
    {"gl", 0, 0, G_OPTION_ARG_NONE, &gl,
          "Show the pattern as a GL scanout (a memfd) instead of 2D draws "
          "(needs --unix)", NULL},
    {"gl-fourcc", 0, 0, G_OPTION_ARG_STRING, &gl_fourcc,
          "GL scanout format: XR24 (default), AR24, XB24, AB24, or BAD (an "
          "unknown fourcc)", "NAME"},
    {"gl-y0top", 0, 0, G_OPTION_ARG_INT, &gl_y0top,
        "1 (default): row 0 is the top; 0: stored bottom-up", "0|1"},
    {"gl-bad", 0, 0, G_OPTION_ARG_STRING, &gl_bad,
          "Send a broken scanout for error-path tests: pipe (an fd that is "
          "not a buffer), short (a memfd of half the size), stride (a "
          "stride of width x 2)", "KIND"},
    {"gl-stream-stub", 0, 0, G_OPTION_ARG_NONE, &gl_stream_stub,
          "Send a socket as the scanout fd, a stand-in for an EGLStream's "
          "(the pattern is painted where no client sees it)", NULL},
    {"gl-scanout-from", 0, 0, G_OPTION_ARG_FILENAME, &gl_scanout_from,
          "Take the scanout from a producer: connect to the unix socket "
          "PATH, receive a header (u32 width, height, DRM fourcc, stride, "
          "little-endian) with the fd, then draw once per byte received "
          "(use with --fps 0)", "PATH"},
    {NULL}
  };
  GOptionContext *octx;
  GError *error = NULL;
  guint w = 640, h = 480, bound_port = 0;

  setvbuf (stdout, NULL, _IOLBF, 0);
  /* a client that vanishes mid-write must not kill us */
  signal (SIGPIPE, SIG_IGN);
  /* and neither must we outlive a test that crashed */
  prctl (PR_SET_PDEATHSIG, SIGTERM);

  octx = g_option_context_new ("- SPICE test server for gst-spice");
  g_option_context_add_main_entries (octx, entries, NULL);
  if (!g_option_context_parse (octx, &argc, &argv, &error))
    goto bad_option;
  g_option_context_free (octx);

  if (size && !parse_size (size, &w, &h, FALSE)) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
        "--size wants WxH, 1..%d each, not '%s'", MAX_SURFACE_DIM, size);
    goto bad_option;
  }
  if (damage && !parse_size (damage, &srv.dw, &srv.dh, TRUE)) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
        "--damage wants WxH, not '%s'", damage);
    goto bad_option;
  }
  if (!srv.dw || !srv.dh)
    srv.dw = srv.dh = 0;
  if (split_us < 0 || split_us > 10000) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
        "--split-us wants 0..10000, not %d", split_us);
    goto bad_option;
  }
  srv.split_us = split_us;
  if (format && g_str_equal (format, "16_565")) {
    /* the worker accepts such a primary, but cannot send it to a client:
     * spice_bitmap_from_surface_type() has no 16-bit 565 bitmap format, so
     * the client never gets a surface */
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
        "--format 16_565 is not supported: libspice-server 0.15.1 cannot "
        "send a 16_565 primary surface to a client (use 16_555)");
    goto bad_option;
  }
  srv.format = find_format (format ? format : "xrgb");
  if (!srv.format) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
        "--format wants xrgb, argb or 16_555, not '%s'", format);
    goto bad_option;
  }
  if (tls_channels && !tls_dir) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
        "--tls-channel needs --tls-dir");
    goto bad_option;
  }
  if (fps < 0 || fps > 1000 || port < 0 || port > 65535) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
        "--fps wants 0..1000, --port 0..65535");
    goto bad_option;
  }
  if (srv.password && strlen (srv.password) > SPICE_MAX_PASSWORD_LENGTH) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
        "--password is longer than %d characters", SPICE_MAX_PASSWORD_LENGTH);
    goto bad_option;
  }
  if (!audio && (audio_rate || record_rate || opus || record_opus ||
          audio_signal || record_path || srv.audio_speed_ppm || audio_jitter)) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
        "--audio-rate, --opus, --audio-signal, --audio-speed, "
        "--audio-jitter, --record-rate, --record-opus and --record-file "
        "need --audio");
    goto bad_option;
  }
  if (audio_jitter) {
    gint lo = -1, hi = -1;
    gchar end;

    if (sscanf (audio_jitter, "%d-%d%c", &lo, &hi, &end) != 2 || lo < 0 ||
        hi < lo || hi > 1000) {
      g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
          "--audio-jitter wants MIN-MAX, 0 <= MIN <= MAX <= 1000 ms, not "
          "'%s'", audio_jitter);
      goto bad_option;
    }
    srv.jitter_min_us = lo * 1000;
    srv.jitter_max_us = hi * 1000;
    srv.jitter_rand = g_rand_new_with_seed ((guint32) audio_seed);
  }
  srv.audio_rate = audio_rate ? audio_rate : TA_DEFAULT_RATE;
  if (srv.audio_speed_ppm <= -500000 || srv.audio_speed_ppm >= 500000) {
    g_printerr ("spice-test-server: --audio-speed wants -499999..499999\n");
    return 2;
  }
  srv.record_rate = record_rate ? record_rate : TA_DEFAULT_RATE;
  if (srv.audio_rate < MIN_AUDIO_RATE || srv.audio_rate > MAX_AUDIO_RATE ||
      srv.record_rate < MIN_AUDIO_RATE || srv.record_rate > MAX_AUDIO_RATE) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
        "--audio-rate and --record-rate want %d..%d", MIN_AUDIO_RATE,
        MAX_AUDIO_RATE);
    goto bad_option;
  }
  if (audio_signal && !g_str_equal (audio_signal, "code") &&
      !g_str_equal (audio_signal, "sine") &&
      !g_str_equal (audio_signal, "marks")) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
        "--audio-signal wants code, sine or marks, not '%s'", audio_signal);
    goto bad_option;
  }
  if (record_opus && srv.record_rate != TA_DEFAULT_RATE) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
        "--record-opus needs a record rate of 48000");
    goto bad_option;
  }
  srv.audio = audio;
  srv.marks = audio_signal && g_str_equal (audio_signal, "marks");
  srv.sine = srv.marks || (audio_signal && g_str_equal (audio_signal, "sine"));
  if (!srv.port_name && (port_mode || port_closed)) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
        "--port-mode and --port-closed need --port-name");
    goto bad_option;
  }
  if (srv.port_name && (!*srv.port_name ||
          g_str_equal (srv.port_name, "org.spice-space.webdav.0") ||
          g_str_equal (srv.port_name, "org.spice-space.stream.0"))) {
    /* libspice-server makes other channel types of those names */
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
        "--port-name wants a name other than '', org.spice-space.webdav.0 "
        "and org.spice-space.stream.0");
    goto bad_option;
  }
  if (port_mode && !g_str_equal (port_mode, "sink") &&
      !g_str_equal (port_mode, "echo") && !g_str_equal (port_mode, "count")) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
        "--port-mode wants sink, echo or count, not '%s'", port_mode);
    goto bad_option;
  }
  srv.port_echo = port_mode && g_str_equal (port_mode, "echo");
  if (!gl && (gl_fourcc || gl_y0top != 1 || gl_bad || gl_stream_stub ||
          gl_scanout_from)) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
        "--gl-fourcc, --gl-y0top, --gl-bad, --gl-stream-stub and "
        "--gl-scanout-from need --gl");
    goto bad_option;
  }
  if (gl_bad && !g_str_equal (gl_bad, "pipe") && !g_str_equal (gl_bad,
          "short") && !g_str_equal (gl_bad, "stride")) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
        "--gl-bad wants pipe, short or stride, not '%s'", gl_bad);
    goto bad_option;
  }
  if (ipv6 && unix_path) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
        "--ipv6 and --unix exclude each other");
    goto bad_option;
  }
  if (gl && !unix_path) {
    /* libspice-server sends GL scanouts over plain unix sockets only */
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
        "--gl needs --unix PATH");
    goto bad_option;
  }
  if (gl && srv.dw) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
        "--damage is not supported with --gl");
    goto bad_option;
  }
  if (gl_y0top != 0 && gl_y0top != 1) {
    g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
        "--gl-y0top wants 0 or 1");
    goto bad_option;
  }
  srv.gl_format = &gl_formats[0];
  if (gl_fourcc) {
    guint i;

    srv.gl_format = NULL;
    for (i = 0; i < G_N_ELEMENTS (gl_formats); i++)
      if (g_str_equal (gl_formats[i].name, gl_fourcc))
        srv.gl_format = &gl_formats[i];
    if (!srv.gl_format) {
      g_set_error (&error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
          "--gl-fourcc wants XR24, AR24, XB24, AB24 or BAD, not '%s'",
          gl_fourcc);
      goto bad_option;
    }
  }
  srv.gl = gl;
  srv.gl_y0top = gl_y0top;
  srv.gl_bad = gl_bad;
  srv.gl_stream_stub = gl_stream_stub;
  srv.gl_stub_peer = -1;
  srv.ext_fd = -1;
  srv.producer_fd = -1;
  srv.gl_fd = -1;
  srv.port_count = port_mode && g_str_equal (port_mode, "count");

  the_server = &srv;
  srv.fps = fps;
  srv.max_frames = frames;
  srv.started = TRUE;
  srv.frame = -1;
  srv.cursor = cursor;
  srv.exit_on_disconnect = exit_on_disconnect;
  srv.input = g_string_new (NULL);
  g_mutex_init (&srv.lock);
  g_cond_init (&srv.gl_cond);
  g_queue_init (&srv.commands);
  g_queue_init (&srv.cursor_commands);
  srv.context = g_main_context_new ();
  srv.loop = g_main_loop_new (srv.context, FALSE);
  srv.draw_source = g_source_new (&draw_source_funcs, sizeof (GSource));
  g_source_attach (srv.draw_source, srv.context);
  g_queue_init (&srv.port_out);
  port_reset_counters (&srv);

  if (unix_path)
    srv.listen_fd = listen_unix (unix_path, &error);
  else
    srv.listen_fd = listen_tcp (ipv6, port, &bound_port, &error);
  if (srv.listen_fd < 0)
    goto failed;
  if (record_path) {
    srv.record_file = fopen (record_path, "ab");
    if (!srv.record_file) {
      g_set_error (&error, G_IO_ERROR, g_io_error_from_errno (errno),
          "cannot open %s: %s", record_path, g_strerror (errno));
      goto failed;
    }
  }

  srv.spice = spice_server_new ();
  set_password (&srv, srv.password);
  /* lossless and deterministic: no video streams, raw bitmaps, no audio
   * codec unless --opus (see docs/SPICE.md §0.5; the library's default is
   * Opus) */
  spice_server_set_streaming_video (srv.spice, SPICE_STREAM_VIDEO_OFF);
  spice_server_set_image_compression (srv.spice, SPICE_IMAGE_COMPRESSION_OFF);
  spice_server_set_jpeg_compression (srv.spice, SPICE_WAN_COMPRESSION_NEVER);
  spice_server_set_zlib_glz_compression (srv.spice,
      SPICE_WAN_COMPRESSION_NEVER);
  spice_server_set_playback_compression (srv.spice, opus);
  spice_server_set_name (srv.spice, "gst-spice test server");
  if (tls_dir) {
    gchar *ca = g_build_filename (tls_dir, "ca-cert.pem", NULL);
    gchar *cert = g_build_filename (tls_dir, "server-cert.pem", NULL);
    gchar *key = g_build_filename (tls_dir, "server-key.pem", NULL);

    /* libspice-server listens on its TLS port itself and wants a port
     * number: take one the kernel says is free */
    tls_port = free_tcp_port ();
    spice_server_set_addr (srv.spice, "127.0.0.1", SPICE_ADDR_FLAG_IPV4_ONLY);
    if (tls_port == 0 || spice_server_set_tls (srv.spice, tls_port, ca, cert,
            key, NULL, NULL, NULL) != 0) {
      g_set_error (&error, G_IO_ERROR, G_IO_ERROR_FAILED,
          "cannot set up TLS with the files in %s", tls_dir);
      g_free (ca);
      g_free (cert);
      g_free (key);
      goto failed;
    }
    g_free (ca);
    g_free (cert);
    g_free (key);
    for (gchar ** c = tls_channels; c && *c; c++) {
      if (spice_server_set_channel_security (srv.spice, *c,
              SPICE_CHANNEL_SECURITY_SSL) != 0) {
        g_set_error (&error, G_IO_ERROR, G_IO_ERROR_FAILED,
            "--tls-channel: no channel named '%s'", *c);
        goto failed;
      }
    }
  }
  if (spice_server_init (srv.spice, &core_interface) != 0) {
    g_set_error (&error, G_IO_ERROR, G_IO_ERROR_FAILED,
        "spice_server_init failed");
    goto failed;
  }
  srv.qxl.base.sif = &qxl_interface.base;
  srv.qxl.id = 0;
  if (spice_server_add_interface (srv.spice, &srv.qxl.base) != 0) {
    g_set_error (&error, G_IO_ERROR, G_IO_ERROR_FAILED,
        "spice_server_add_interface (qxl) failed");
    goto failed;
  }
  if (srv.audio) {
    srv.playback.base.sif = &playback_interface.base;
    srv.record.base.sif = &record_interface.base;
    if (spice_server_add_interface (srv.spice, &srv.playback.base) != 0 ||
        spice_server_add_interface (srv.spice, &srv.record.base) != 0) {
      g_set_error (&error, G_IO_ERROR, G_IO_ERROR_FAILED,
          "spice_server_add_interface (playback, record) failed");
      goto failed;
    }
    /* the channels default to 48000 already.  Setting 48000 also
     * advertises the Opus capability, which only matters for record: it
     * makes spice-client-glib encode what it records with Opus (lossy),
     * so that rate is only set for --record-opus. */
    spice_server_set_playback_rate (&srv.playback, srv.audio_rate);
    if (srv.record_rate != TA_DEFAULT_RATE || record_opus)
      spice_server_set_record_rate (&srv.record, srv.record_rate);
    audio_init (&srv);
    spice_server_playback_start (&srv.playback);
    srv.playing = TRUE;
  }
  srv.kbd.base.sif = &kbd_interface.base;
  srv.mouse.base.sif = &mouse_interface.base;
  srv.tablet.base.sif = &tablet_interface.base;
  if (spice_server_add_interface (srv.spice, &srv.kbd.base) != 0 ||
      spice_server_add_interface (srv.spice, &srv.mouse.base) != 0 ||
      (tablet && spice_server_add_interface (srv.spice,
              &srv.tablet.base) != 0)) {
    g_set_error (&error, G_IO_ERROR, G_IO_ERROR_FAILED,
        "spice_server_add_interface (keyboard, mouse, tablet) failed");
    goto failed;
  }
  if (srv.port_name) {
    srv.port.base.sif = &port_interface.base;
    srv.port.subtype = "port";
    srv.port.portname = srv.port_name;
    srv.port_wakeup = g_source_new (&port_wakeup_funcs, sizeof (GSource));
    g_source_attach (srv.port_wakeup, srv.context);
    if (spice_server_add_interface (srv.spice, &srv.port.base) != 0) {
      g_set_error (&error, G_IO_ERROR, G_IO_ERROR_FAILED,
          "spice_server_add_interface (port %s) failed", srv.port_name);
      goto failed;
    }
  }
  spice_server_vm_start (srv.spice);
  /* the guest side opens the port once the VM runs, as a guest process
   * opening its virtio-serial port would */
  if (srv.port_name && !port_closed)
    port_set_opened (&srv, TRUE);
  create_primary (&srv, w, h);
  if (srv.gl) {
    srv.gl_done_log = g_array_new (FALSE, FALSE, sizeof (GlDone));
    if (gl_scanout_from) {
      if (!receive_scanout (&srv, gl_scanout_from, &error))
        goto failed;
      attach_fd_source (&srv, srv.producer_fd, on_producer_readable);
    }
    srv.gl_complete_source = g_source_new (&gl_complete_funcs,
        sizeof (GSource));
    g_source_attach (srv.gl_complete_source, srv.context);
    if (!gl_new_scanout (&srv, &error))
      goto failed;
  }
  if (srv.cursor)
    push_cursor (&srv);
  restart_frames (&srv);

  attach_fd_source (&srv, srv.listen_fd, listen_readable);
  attach_fd_source (&srv, STDIN_FILENO, stdin_readable);
  attach_signal_source (&srv, SIGTERM);
  attach_signal_source (&srv, SIGINT);

  if (tls_port)
    emit ("TLS 127.0.0.1 %u", tls_port);
  if (unix_path)
    emit ("LISTENING unix %s", unix_path);
  else
    emit ("LISTENING tcp %s %u", ipv6 ? "::1" : "127.0.0.1", bound_port);

  g_main_loop_run (srv.loop);

  close (srv.listen_fd);
  if (unix_path)
    unlink (unix_path);
  fflush (stdout);
  /* No spice_server_vm_stop()/spice_server_destroy(): with a client that
   * stopped reading, both block in the worker until the library's client
   * timeouts (tens of seconds) while it waits for the display pipe to
   * drain, and the tests want us gone at once.  _exit() rather than exit()
   * because the worker threads are still running. */
  _exit (0);

bad_option:
  g_printerr ("spice-test-server: %s\n", error->message);
  g_printerr ("Try --help.\n");
  return 2;

failed:
  g_printerr ("spice-test-server: %s\n", error->message);
  return 1;
}
