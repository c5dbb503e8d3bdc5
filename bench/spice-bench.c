/* spice-bench: spicesrc against a bare spice-client-glib client, both on
 * the same stream of the project's SPICE test server.
 *
 * The parent starts one spice-test-server per workload and runs each mode in
 * a child process of its own (spice-client-glib is a process-wide singleton,
 * and the server takes one client at a time), interleaved
 * baseline, spicesrc, baseline, spicesrc...  Each child waits for its first
 * frame, lets a warm-up pass, then measures for a fixed window and prints
 * one RESULT line that the parent parses.  See docs/benchmark.md.
 *
 *   baseline  connects the display channel only; on each display-invalidate
 *             it copies the rectangle out of the primary surface into its
 *             own buffer; an invalidate that covers the code strip delivers
 *             a frame, decoded from that copy.
 *   spicesrc  spicesrc uri=... ! video/x-raw,framerate=60/1 ! fakesink enable-last-sample=false
 *             sync=false; a buffer probe on spicesrc's video pad decodes
 *             the strip of every buffer pushed.
 *
 * Latency is "now - the server's send time painted into the strip", both
 * CLOCK_MONOTONIC on this machine.  CPU time is the child's user+sys time
 * (all threads) over the window, divided by the new frames delivered.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <gst/app/gstappsrc.h>
#include <gst/video/video.h>
#include <spice-client.h>

#include "testserver.h"
#include "benchutil.h"
#include "test-pattern.h"

#ifndef GST_SPICE_PLUGIN_DIR
#error "GST_SPICE_PLUGIN_DIR must be defined by the build"
#endif

#define SERVER_FPS 60
#define FIRST_FRAME_TIMEOUT_MS 15000
#define DISCONNECT_TIMEOUT_MS 5000
/* on top of warm-up + window + first-frame timeout */
#define CHILD_GRACE_MS 10000

#define MALLOC_TUNABLES \
  "glibc.malloc.trim_threshold=134217728:glibc.malloc.mmap_threshold=33554432"

#define TARGET_CPU_RATIO 1.10
#define TARGET_FPS_RATIO 0.95
#define TARGET_P99_ADDED_MS 2.0

/* ---------------------------------------------------------------------- */
/* Child: what both modes share                                           */

typedef struct
{
  GMainLoop *loop;
  guint warmup_ms, window_ms;
  gboolean failed;

  GMutex lock;
  /* guarded by lock: written where frames arrive (the spice thread for
   * the baseline, the streaming thread for spicesrc) */
  gboolean first_seen;
  gboolean measuring;
  gboolean have_last;
  guint32 last_frame;
  GArray *latency;              /* gint64 us, one per new frame in the window */
  guint64 frames;               /* new frame numbers in the window */
  guint64 stale;                /* deliveries repeating the previous number */
  guint64 bad;                  /* deliveries whose strip did not decode */
  guint32 first_no, last_no;    /* frame numbers, first and last in window */
  /* pending timeouts, 0 once fired or removed */
  guint timeout_id, warmup_id, window_id;

  /* set in the window callbacks, which the default context runs one at a
   * time (for spicesrc in this thread or in the plugin's spice thread) */
  gint64 t0, t1;
  struct rusage r0, r1;
  guint64 bytes0, bytes1;
  guint64 (*get_bytes) (gpointer data);
  gpointer get_bytes_data;
} Meter;

static gboolean
window_end (gpointer data)
{
  Meter *m = data;

  g_mutex_lock (&m->lock);
  m->window_id = 0;
  m->measuring = FALSE;
  m->t1 = g_get_monotonic_time ();
  g_mutex_unlock (&m->lock);
  bench_getrusage (&m->r1);
  m->bytes1 = m->get_bytes (m->get_bytes_data);
  g_main_loop_quit (m->loop);
  return G_SOURCE_REMOVE;
}

static gboolean
window_start (gpointer data)
{
  Meter *m = data;

  m->bytes0 = m->get_bytes (m->get_bytes_data);
  bench_getrusage (&m->r0);
  g_mutex_lock (&m->lock);
  m->warmup_id = 0;
  m->measuring = TRUE;
  m->t0 = g_get_monotonic_time ();
  m->window_id = g_timeout_add (m->window_ms, window_end, m);
  g_mutex_unlock (&m->lock);
  return G_SOURCE_REMOVE;
}

static gboolean
first_frame_timeout (gpointer data)
{
  Meter *m = data;
  gboolean seen;

  g_mutex_lock (&m->lock);
  m->timeout_id = 0;
  seen = m->first_seen;
  g_mutex_unlock (&m->lock);
  if (!seen) {
    g_printerr ("spice-bench: no decodable frame within %d ms\n",
        FIRST_FRAME_TIMEOUT_MS);
    m->failed = TRUE;
    g_main_loop_quit (m->loop);
  }
  return G_SOURCE_REMOVE;
}

/* A frame image was delivered: decode its strip and account for it.  Any
 * thread. */
static void
meter_deliver (Meter * m, const guint8 * data, gint stride)
{
  gint64 now = g_get_monotonic_time ();
  guint32 frame;
  guint64 sent;
  gboolean ok, is_new;

  ok = tp_read_strip (data, stride, &frame, &sent);

  g_mutex_lock (&m->lock);
  if (!ok) {
    if (m->measuring)
      m->bad++;
    g_mutex_unlock (&m->lock);
    return;
  }
  if (!m->first_seen) {
    m->first_seen = TRUE;
    /* g_timeout_add attaches to the default context from any thread */
    m->warmup_id = g_timeout_add (m->warmup_ms, window_start, m);
  }
  is_new = !m->have_last || frame != m->last_frame;
  m->have_last = TRUE;
  m->last_frame = frame;
  if (m->measuring) {
    if (is_new) {
      gint64 lat = now - (gint64) sent;

      g_array_append_val (m->latency, lat);
      if (m->frames == 0)
        m->first_no = frame;
      m->last_no = frame;
      m->frames++;
    } else {
      m->stale++;
    }
  }
  g_mutex_unlock (&m->lock);
}

static gint64
tv_us (const struct timeval *tv)
{
  return (gint64) tv->tv_sec * G_USEC_PER_SEC + tv->tv_usec;
}

/* The one line the parent reads. */
static void
meter_print_result (Meter * m, const gchar * mode)
{
  gint64 cpu_us;
  GArray *lat;

  cpu_us = tv_us (&m->r1.ru_utime) - tv_us (&m->r0.ru_utime) +
      tv_us (&m->r1.ru_stime) - tv_us (&m->r0.ru_stime);
  g_mutex_lock (&m->lock);
  lat = m->latency;
  bench_sort_gint64 (lat);
  printf ("RESULT mode=%s frames=%" G_GUINT64_FORMAT " stale=%"
      G_GUINT64_FORMAT " bad=%" G_GUINT64_FORMAT " window_us=%"
      G_GINT64_FORMAT " cpu_us=%" G_GINT64_FORMAT " p50_us=%" G_GINT64_FORMAT
      " p99_us=%" G_GINT64_FORMAT " max_us=%" G_GINT64_FORMAT " first=%u"
      " last=%u bytes=%" G_GUINT64_FORMAT " csw=%ld\n", mode, m->frames, m->stale,
      m->bad, m->t1 - m->t0, cpu_us, bench_percentile (lat, 50),
      bench_percentile (lat, 99), bench_percentile (lat, 100), m->first_no,
      m->last_no, m->bytes1 - m->bytes0,
      (m->r1.ru_nvcsw + m->r1.ru_nivcsw) - (m->r0.ru_nvcsw + m->r0.ru_nivcsw));
  g_mutex_unlock (&m->lock);
  fflush (stdout);
}

static void
meter_init (Meter * m, guint warmup_ms, guint window_ms)
{
  memset (m, 0, sizeof (*m));
  g_mutex_init (&m->lock);
  m->loop = g_main_loop_new (NULL, FALSE);
  m->warmup_ms = warmup_ms;
  m->window_ms = window_ms;
  m->latency = g_array_new (FALSE, FALSE, sizeof (gint64));
  m->timeout_id = g_timeout_add (FIRST_FRAME_TIMEOUT_MS, first_frame_timeout,
      m);
}

/* No callback may run on the meter after this: call it before tearing
 * down, as the teardown may still dispatch the default context. */
static void
meter_stop (Meter * m)
{
  guint *ids[] = { &m->timeout_id, &m->warmup_id, &m->window_id };
  guint i;

  g_mutex_lock (&m->lock);
  m->measuring = FALSE;
  m->first_seen = TRUE;         /* no new warm-up timer either */
  for (i = 0; i < G_N_ELEMENTS (ids); i++) {
    if (*ids[i])
      g_source_remove (*ids[i]);
    *ids[i] = 0;
  }
  g_mutex_unlock (&m->lock);
}

static void
meter_clear (Meter * m)
{
  g_array_free (m->latency, TRUE);
  g_main_loop_unref (m->loop);
  g_mutex_clear (&m->lock);
}

/* A buffer probe on the fakesink's pad: decodes the strip of each buffer
 * pushed (the spicesrc and appsrc modes; their streaming thread) */
typedef struct
{
  Meter *meter;
  gint default_stride;
  gconstpointer seen_data[64];  /* distinct memories pushed in the window */
  guint n_seen_data;
} Probe;

static GstPadProbeReturn
probe_buffer (GstPad * pad, GstPadProbeInfo * info, Probe * p)
{
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  GstVideoMeta *vmeta = gst_buffer_get_video_meta (buf);
  GstMapInfo map;
  gint stride;

  if (vmeta) {
    stride = vmeta->stride[0];
  } else {
    if (p->default_stride == 0) {
      GstCaps *caps = gst_pad_get_current_caps (pad);
      GstVideoInfo vinfo;

      if (caps && gst_video_info_from_caps (&vinfo, caps))
        p->default_stride = GST_VIDEO_INFO_PLANE_STRIDE (&vinfo, 0);
      if (caps)
        gst_caps_unref (caps);
    }
    stride = p->default_stride;
  }
  if (stride > 0 && gst_buffer_map (buf, &map, GST_MAP_READ)) {
    gsize offset = vmeta ? vmeta->offset[0] : 0;
    gboolean measuring;
    guint i;

    g_mutex_lock (&p->meter->lock);
    measuring = p->meter->measuring;
    g_mutex_unlock (&p->meter->lock);
    for (i = 0; i < p->n_seen_data && p->seen_data[i] != map.data; i++);
    if (measuring && i == p->n_seen_data
        && i < G_N_ELEMENTS (p->seen_data))
      p->seen_data[p->n_seen_data++] = map.data;

    if (map.size >= offset + (gsize) stride * TP_STRIP_H)
      meter_deliver (p->meter, map.data + offset, stride);
    gst_buffer_unmap (buf, &map);
  }
  return GST_PAD_PROBE_OK;
}

/* Adds probe_buffer to the sink pad of the element named "sink" */
static gboolean
probe_sink (GstElement * pipeline, Probe * p, Meter * m)
{
  GstElement *sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  GstPad *pad = sink ? gst_element_get_static_pad (sink, "sink") : NULL;

  p->meter = m;
  if (!pad) {
    g_printerr ("spice-bench: no sink pad\n");
    gst_clear_object (&sink);
    return FALSE;
  }
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER,
      (GstPadProbeCallback) probe_buffer, p, NULL);
  gst_object_unref (pad);
  gst_object_unref (sink);
  return TRUE;
}

/* ---------------------------------------------------------------------- */
/* Child: the baseline, a bare spice-client-glib client                   */

typedef struct
{
  Meter meter;
  SpiceSession *session;
  gboolean finishing;
  gboolean disconnected;
  /* the library's primary surface and our copy of it (main thread) */
  const guint8 *surface;
  gint width, height, stride;
  guint8 *copy;
  guint64 bytes;
  /* appsrc mode: each frame is pushed into appsrc ! capsfilter ! fakesink
   * and measured there, in appsrc's streaming thread */
  GstElement *pipeline;
  GstElement *appsrc;
  Probe probe;
} Baseline;

static guint64
baseline_get_bytes (gpointer data)
{
  return ((Baseline *) data)->bytes;
}

static void
bl_primary_create (SpiceChannel * ch, gint format, gint width, gint height,
    gint stride, gint shmid, gpointer imgdata, Baseline * b)
{
  if (format != SPICE_SURFACE_FMT_32_xRGB
      && format != SPICE_SURFACE_FMT_32_ARGB) {
    g_printerr ("spice-bench: baseline: unexpected surface format %d\n",
        format);
    b->meter.failed = TRUE;
    g_main_loop_quit (b->meter.loop);
    return;
  }
  b->surface = imgdata;
  b->width = width;
  b->height = height;
  b->stride = stride;
  /* reference-counted: appsrc-mode buffers still wrap the old one */
  g_clear_pointer (&b->copy, g_rc_box_release);
  b->copy = g_rc_box_alloc0 ((gsize) stride * height);
  if (b->appsrc) {
    GstCaps *caps = gst_caps_new_simple ("video/x-raw",
        "format", G_TYPE_STRING, "BGRx", "width", G_TYPE_INT, width,
        "height", G_TYPE_INT, height, "framerate", GST_TYPE_FRACTION,
        SERVER_FPS, 1, NULL);

    g_object_set (b->appsrc, "caps", caps, NULL);
    gst_caps_unref (caps);
  }
}

/* appsrc mode: what the least a GStreamer source adds to the bare client:
 * hand the frame it copied (no second copy) to a streaming thread that
 * pushes it downstream */
static void
bl_push (Baseline * b)
{
  GstBuffer *buf = gst_buffer_new_wrapped_full (GST_MEMORY_FLAG_READONLY,
      b->copy, (gsize) b->stride * b->height, 0,
      (gsize) b->stride * b->height, g_rc_box_acquire (b->copy),
      g_rc_box_release);
  gsize offset[GST_VIDEO_MAX_PLANES] = { 0, };
  gint stride[GST_VIDEO_MAX_PLANES] = { b->stride, };

  gst_buffer_add_video_meta_full (buf, GST_VIDEO_FRAME_FLAG_NONE,
      GST_VIDEO_FORMAT_BGRx, b->width, b->height, 1, offset, stride);
  gst_app_src_push_buffer (GST_APP_SRC (b->appsrc), buf);
}

static void
bl_primary_destroy (SpiceChannel * ch, Baseline * b)
{
  b->surface = NULL;
}

static void
bl_invalidate (SpiceChannel * ch, gint x, gint y, gint w, gint h,
    Baseline * b)
{
  gint x0, y0, x1, y1, row;
  gsize len;

  if (!b->surface)
    return;
  x0 = CLAMP (x, 0, b->width);
  y0 = CLAMP (y, 0, b->height);
  x1 = CLAMP (x + w, 0, b->width);
  y1 = CLAMP (y + h, 0, b->height);
  if (x1 <= x0 || y1 <= y0)
    return;
  len = (gsize) (x1 - x0) * 4;
  for (row = y0; row < y1; row++) {
    gsize off = (gsize) row * b->stride + (gsize) x0 * 4;
    memcpy (b->copy + off, b->surface + off, len);
  }
  b->bytes += len * (y1 - y0);

  if (x0 == 0 && y0 == 0 && x1 >= TP_STRIP_W && y1 >= TP_STRIP_H) {
    if (b->appsrc)
      bl_push (b);
    else
      meter_deliver (&b->meter, b->copy, b->stride);
  }
}

static void
bl_main_event (SpiceChannel * ch, SpiceChannelEvent event, Baseline * b)
{
  if (event == SPICE_CHANNEL_OPENED)
    return;
  if (!b->finishing) {
    const GError *err = spice_channel_get_error (ch);

    g_printerr ("spice-bench: bare client: main channel event %d%s%s\n", event,
        err ? ": " : "", err ? err->message : "");
    b->meter.failed = TRUE;
    g_main_loop_quit (b->meter.loop);
  }
  spice_session_disconnect (b->session);
}

static void
bl_channel_new (SpiceSession * s, SpiceChannel * ch, Baseline * b)
{
  gint id;

  if (SPICE_IS_MAIN_CHANNEL (ch)) {
    g_signal_connect (ch, "channel-event", G_CALLBACK (bl_main_event), b);
    return;
  }
  g_object_get (ch, "channel-id", &id, NULL);
  if (!SPICE_IS_DISPLAY_CHANNEL (ch) || id != 0)
    return;
  g_signal_connect (ch, "display-primary-create",
      G_CALLBACK (bl_primary_create), b);
  g_signal_connect (ch, "display-primary-destroy",
      G_CALLBACK (bl_primary_destroy), b);
  g_signal_connect (ch, "display-invalidate", G_CALLBACK (bl_invalidate), b);
  spice_channel_connect (ch);
}

static void
bl_disconnected (SpiceSession * s, Baseline * b)
{
  b->disconnected = TRUE;
}

/* bounds the blocking iterations of a wait loop */
static gboolean
keep_waking (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

static gboolean
run_baseline (const gchar * uri, guint warmup_ms, guint window_ms,
    gboolean with_appsrc)
{
  const gchar *name = with_appsrc ? "appsrc" : "baseline";
  Baseline b = { 0, };
  gint64 deadline;
  guint wake;
  gboolean ok;

  meter_init (&b.meter, warmup_ms, window_ms);
  b.meter.get_bytes = baseline_get_bytes;
  b.meter.get_bytes_data = &b;
  if (with_appsrc) {
    GError *err = NULL;

    /* no bus watch: these stock elements fail only on bugs, and the
     * missing frames would show */
    b.pipeline = gst_parse_launch ("appsrc name=src is-live=true "
        "format=time do-timestamp=true ! video/x-raw,framerate=60/1 ! "
        "fakesink name=sink sync=false enable-last-sample=false", &err);
    if (!b.pipeline) {
      g_printerr ("spice-bench: appsrc: %s\n", err->message);
      g_clear_error (&err);
      meter_clear (&b.meter);
      return FALSE;
    }
    b.appsrc = gst_bin_get_by_name (GST_BIN (b.pipeline), "src");
    if (!probe_sink (b.pipeline, &b.probe, &b.meter) ||
        gst_element_set_state (b.pipeline, GST_STATE_PLAYING) ==
        GST_STATE_CHANGE_FAILURE)
      b.meter.failed = TRUE;
  }

  b.session = spice_session_new ();
  g_object_set (b.session, "uri", uri, "enable-audio", FALSE,
      "enable-usbredir", FALSE, "enable-smartcard", FALSE, NULL);
  g_signal_connect (b.session, "channel-new", G_CALLBACK (bl_channel_new),
      &b);
  g_signal_connect (b.session, "disconnected", G_CALLBACK (bl_disconnected),
      &b);
  if (b.meter.failed) {
    g_printerr ("spice-bench: appsrc: cannot start the pipeline\n");
  } else if (!spice_session_connect (b.session)) {
    g_printerr ("spice-bench: %s: cannot connect to %s\n", name, uri);
    b.meter.failed = TRUE;
  } else {
    g_main_loop_run (b.meter.loop);
  }

  if (!b.meter.failed) {
    if (with_appsrc)
      printf ("BUFFERS %u\n", b.probe.n_seen_data);
    meter_print_result (&b.meter, name);
  }
  ok = !b.meter.failed && b.meter.frames > 0;
  meter_stop (&b.meter);

  b.finishing = TRUE;
  b.surface = NULL;
  spice_session_disconnect (b.session);
  deadline = g_get_monotonic_time () + DISCONNECT_TIMEOUT_MS * 1000;
  wake = g_timeout_add (50, keep_waking, NULL);
  while (!b.disconnected && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (wake);
  if (!b.disconnected)
    g_printerr ("spice-bench: baseline: no 'disconnected' within %d ms\n",
        DISCONNECT_TIMEOUT_MS);
  g_object_unref (b.session);
  if (b.pipeline) {
    /* before freeing the memory its last buffers wrap */
    gst_element_set_state (b.pipeline, GST_STATE_NULL);
    gst_clear_object (&b.appsrc);
    gst_object_unref (b.pipeline);
  }
  g_clear_pointer (&b.copy, g_rc_box_release);
  meter_clear (&b.meter);
  return ok;
}

/* ---------------------------------------------------------------------- */
/* Child: spicesrc                                                        */

typedef struct
{
  Meter meter;
  GstElement *pipeline;
  GstElement *src;
  Probe probe;
} SrcRun;

static guint64
src_get_bytes (gpointer data)
{
  SrcRun *r = data;
  GstStructure *stats = NULL;
  guint64 bytes = 0;

  g_object_get (r->src, "stats", &stats, NULL);
  if (stats) {
    gst_structure_get_uint64 (stats, "bytes-copied", &bytes);
    gst_structure_free (stats);
  }
  return bytes;
}

static gboolean
src_bus (GstBus * bus, GstMessage * msg, SrcRun * r)
{
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    GError *err = NULL;
    gchar *debug = NULL;

    gst_message_parse_error (msg, &err, &debug);
    g_printerr ("spice-bench: spicesrc: error from %s: %s (%s)\n",
        GST_OBJECT_NAME (GST_MESSAGE_SRC (msg)), err->message,
        debug ? debug : "");
    g_clear_error (&err);
    g_free (debug);
    r->meter.failed = TRUE;
    g_main_loop_quit (r->meter.loop);
  } else if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS) {
    g_printerr ("spice-bench: spicesrc: unexpected EOS\n");
    r->meter.failed = TRUE;
    g_main_loop_quit (r->meter.loop);
  }
  return G_SOURCE_CONTINUE;
}

static gboolean
run_spicesrc (const gchar * uri, guint warmup_ms, guint window_ms,
    gint framerate)
{
  SrcRun r = { 0, };
  GError *err = NULL;
  gchar *desc;
  GstBus *bus;
  guint watch;
  gboolean ok;

  desc = g_strdup_printf ("spicesrc name=src uri=\"%s\" ! "
      "video/x-raw,framerate=%d/1 ! fakesink name=sink sync=false enable-last-sample=false", uri, framerate);
  r.pipeline = gst_parse_launch (desc, &err);
  g_free (desc);
  if (!r.pipeline) {
    g_printerr ("spice-bench: spicesrc: %s (is the plugin built in %s?)\n",
        err->message, GST_SPICE_PLUGIN_DIR);
    g_clear_error (&err);
    return FALSE;
  }
  r.src = gst_bin_get_by_name (GST_BIN (r.pipeline), "src");
  /* spicesrc's pads appear in PAUSED: measure at the sink's pad, which
   * the source's streaming thread calls directly */
  if (!probe_sink (r.pipeline, &r.probe, &r.meter)) {
    gst_object_unref (r.src);
    gst_object_unref (r.pipeline);
    return FALSE;
  }

  meter_init (&r.meter, warmup_ms, window_ms);
  r.meter.get_bytes = src_get_bytes;
  r.meter.get_bytes_data = &r;

  /* the default main loop runs in this thread, as in gst-launch-1.0: then
   * this thread and the plugin's spice thread take turns at the default
   * context, and whichever holds it dispatches spice-client-glib */
  bus = gst_element_get_bus (r.pipeline);
  watch = gst_bus_add_watch (bus, (GstBusFunc) src_bus, &r);
  gst_object_unref (bus);

  if (gst_element_set_state (r.pipeline, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE) {
    g_printerr ("spice-bench: spicesrc: cannot start the pipeline\n");
    r.meter.failed = TRUE;
  } else {
    g_main_loop_run (r.meter.loop);
  }

  if (!r.meter.failed) {
    /* how many pool buffers take turns: each one catches up on the damage
     * of the frames it missed, so this multiplies the bytes copied */
    printf ("BUFFERS %u\n", r.probe.n_seen_data);
    meter_print_result (&r.meter, "spicesrc");
  }
  ok = !r.meter.failed && r.meter.frames > 0;
  meter_stop (&r.meter);

  gst_element_set_state (r.pipeline, GST_STATE_NULL);
  g_source_remove (watch);
  gst_object_unref (r.src);
  gst_object_unref (r.pipeline);
  meter_clear (&r.meter);
  return ok;
}

/* ---------------------------------------------------------------------- */
/* Parent: workloads, runs, table                                         */

typedef struct
{
  const gchar *name;
  gint width, height;
  gint dw, dh;                  /* 0: full frames */
} Workload;

static const Workload workloads[] = {
  {"720p", 1280, 720, 0, 0},
  {"720p-damage", 1280, 720, 64, 64},
  {"1080p", 1920, 1080, 0, 0},
  {"1080p-damage", 1920, 1080, 64, 64},
};

typedef enum
{
  MODE_BASELINE = 0,
  MODE_APPSRC = 1,
  MODE_SPICESRC = 2,
  N_MODES
} Mode;

static const gchar *mode_names[N_MODES] = { "baseline", "appsrc",
  "spicesrc"
};

typedef enum
{
  M_CPU,                        /* ms per frame */
  M_FPS,
  M_P50,                        /* ms */
  M_P99,                        /* ms */
  M_MAX,                        /* ms */
  M_BYTES,                      /* KiB copied per frame */
  M_SEEN,                       /* % of the server's frames in the window */
  M_STALE,                      /* pushes repeating the previous frame */
  M_CSW,                        /* context switches per frame */
  M_BUFFERS,                    /* distinct buffers pushed (spicesrc) */
  N_METRICS
} Metric;

typedef struct
{
  gboolean ok;
  gdouble v[N_METRICS];
  guint64 frames, skipped;
} RunResult;

/* Runs one child and parses its RESULT line.  Kills it after timeout_ms. */
static gboolean
run_child (const gchar * self_exe, Mode mode, const gchar * uri,
    guint warmup_ms, guint window_ms, gint framerate, RunResult * res)
{
  gchar warmup_s[32], window_s[32], framerate_s[32];
  const gchar *argv[] = { self_exe, "--mode", mode_names[mode], "--uri", uri,
    "--warmup-ms", warmup_s, "--window-ms", window_s, "--framerate",
    framerate_s, NULL
  };
  gchar *out, *line;
  gchar **kv;
  gdouble frames, window_us, span;

  memset (res, 0, sizeof (*res));
  g_snprintf (warmup_s, sizeof (warmup_s), "%u", warmup_ms);
  g_snprintf (window_s, sizeof (window_s), "%u", window_ms);
  g_snprintf (framerate_s, sizeof (framerate_s), "%d", framerate);
  out = bench_run_child ("spice-bench", mode_names[mode], argv,
      FIRST_FRAME_TIMEOUT_MS + warmup_ms + window_ms + CHILD_GRACE_MS,
      &res->ok);

  if (out && (line = strstr (out, "BUFFERS ")))
    res->v[M_BUFFERS] = g_ascii_strtod (line + 8, NULL);
  else
    res->v[M_BUFFERS] = 1;
  kv = bench_result_line (out);
  if (!kv) {
    g_printerr ("spice-bench: %s child printed no result\n",
        mode_names[mode]);
    g_free (out);
    res->ok = FALSE;
    return FALSE;
  }
  frames = bench_kv_double (kv, "frames");
  window_us = bench_kv_double (kv, "window_us");
  span = bench_kv_double (kv, "last") - bench_kv_double (kv, "first") + 1;
  res->frames = (guint64) frames;
  if (frames > 0 && window_us > 0) {
    res->v[M_CPU] = bench_kv_double (kv, "cpu_us") / 1000.0 / frames;
    res->v[M_FPS] = frames * 1e6 / window_us;
    res->v[M_P50] = bench_kv_double (kv, "p50_us") / 1000.0;
    res->v[M_P99] = bench_kv_double (kv, "p99_us") / 1000.0;
    res->v[M_MAX] = bench_kv_double (kv, "max_us") / 1000.0;
    res->v[M_BYTES] = bench_kv_double (kv, "bytes") / 1024.0 / frames;
    res->v[M_SEEN] = span > 0 ? 100.0 * frames / span : 0;
    res->v[M_STALE] = bench_kv_double (kv, "stale");
    res->v[M_CSW] = bench_kv_double (kv, "csw") / frames;
  } else {
    g_printerr ("spice-bench: %s child delivered no frames in its window\n",
        mode_names[mode]);
    res->ok = FALSE;
  }
  g_strfreev (kv);
  g_free (out);
  return res->ok;
}

static guint64
server_skipped (TestServer * ts)
{
  gchar *reply = test_server_command (ts, "stats", 2000);
  const gchar *p;
  guint64 skipped = 0;

  if (reply && (p = strstr (reply, "skipped=")))
    skipped = g_ascii_strtoull (p + 8, NULL, 10);
  g_free (reply);
  return skipped;
}

typedef struct
{
  gint pass, miss;
} Verdicts;

static const gchar *
verdict (Verdicts * v, gboolean pass)
{
  if (pass)
    v->pass++;
  else
    v->miss++;
  return pass ? "PASS" : "MISS";
}

/* Runs one workload (rounds x both modes) and prints its table; FALSE when
 * a run failed. */
static gboolean
run_workload (const gchar * self_exe, const Workload * wl, guint rounds,
    guint warmup_ms, guint window_ms, gint framerate, Verdicts * verdicts)
{
  gchar size[32], damage[32];
  const gchar *args[8];
  TestServer *ts;
  gdouble vals[N_MODES][N_METRICS][16];
  gdouble med[N_MODES][N_METRICS];
  guint n[N_MODES] = { 0, };
  gboolean ok = TRUE;
  guint round, i = 0, k;
  gchar *stats;
  gint mode;

  g_snprintf (size, sizeof (size), "%dx%d", wl->width, wl->height);
  args[i++] = "--size";
  args[i++] = size;
  args[i++] = "--fps";
  args[i++] = G_STRINGIFY (SERVER_FPS);
  if (wl->dw > 0) {
    g_snprintf (damage, sizeof (damage), "%dx%d", wl->dw, wl->dh);
    args[i++] = "--damage";
    args[i++] = damage;
  }
  args[i] = NULL;

  printf ("\n== %s: %dx%d, %s, server at %d fps ==\n", wl->name, wl->width,
      wl->height, wl->dw > 0 ? "64x64 damage + strip per frame" :
      "full frames", SERVER_FPS);
  fflush (stdout);
  ts = test_server_start (TEST_SERVER_TCP, args);

  for (round = 0; round < rounds; round++) {
    for (mode = 0; mode < N_MODES; mode++) {
      RunResult r;
      guint64 skipped0 = server_skipped (ts);
      gchar *ev;

      run_child (self_exe, mode, test_server_get_uri (ts), warmup_ms,
          window_ms, framerate, &r);
      /* the next client must not race this one's teardown on the server */
      ev = test_server_wait_event (ts, "CLIENT disconnected", 3000);
      g_free (ev);
      ev = test_server_wait_event (ts, "CLIENT connected", 0);
      g_free (ev);
      r.skipped = server_skipped (ts) - skipped0;

      if (!r.ok) {
        printf ("  round %u %-8s  FAILED\n", round + 1, mode_names[mode]);
        ok = FALSE;
        continue;
      }
      printf ("  round %u %-8s  %5" G_GUINT64_FORMAT " frames %6.2f/s  "
          "cpu %.3f ms/frame  latency p50 %.2f p99 %.2f max %.2f ms  "
          "copied %.1f KiB/frame  seen %.1f%% of server frames  stale %.0f  "
          "buffers %.0f  server skipped %" G_GUINT64_FORMAT "\n", round + 1,
          mode_names[mode], r.frames, r.v[M_FPS], r.v[M_CPU], r.v[M_P50],
          r.v[M_P99], r.v[M_MAX], r.v[M_BYTES], r.v[M_SEEN], r.v[M_STALE],
          r.v[M_BUFFERS], r.skipped);
      fflush (stdout);
      for (k = 0; k < N_METRICS; k++)
        vals[mode][k][n[mode]] = r.v[k];
      n[mode]++;
    }
  }
  stats = test_server_command (ts, "stats", 2000);
  printf ("  server: %s\n", stats ? stats : "(no stats)");
  g_free (stats);
  test_server_stop (ts);

  if (n[MODE_BASELINE] == 0 || n[MODE_APPSRC] == 0 ||
      n[MODE_SPICESRC] == 0) {
    printf ("  no table: a mode has no successful run\n");
    return FALSE;
  }
  for (mode = 0; mode < N_MODES; mode++)
    for (k = 0; k < N_METRICS; k++)
      med[mode][k] = bench_median (vals[mode][k], n[mode]);

  {
    gdouble *b = med[MODE_BASELINE], *a = med[MODE_APPSRC];
    gdouble *s = med[MODE_SPICESRC];
    gdouble cpu_ratio = s[M_CPU] / b[M_CPU];
    gdouble fps_ratio = s[M_FPS] / b[M_FPS];
    gdouble p99_added = s[M_P99] - b[M_P99];

    /* ratios: spicesrc / baseline (the targets), then spicesrc / appsrc
     * (what spicesrc adds to the least any GStreamer source adds) */
    printf ("\n  %-26s %9s %9s %9s %8s %8s %8s  %-10s\n",
        "metric (median of runs)", "baseline", "appsrc", "spicesrc",
        "s/base", "s/app", "added", "target");
    printf ("  %-26s %9.3f %9.3f %9.3f %7.2fx %7.2fx %8s  %-10s %s\n",
        "CPU per frame (ms)", b[M_CPU], a[M_CPU], s[M_CPU], cpu_ratio,
        s[M_CPU] / a[M_CPU], "", "<= " G_STRINGIFY (TARGET_CPU_RATIO) "x",
        verdict (verdicts, cpu_ratio <= TARGET_CPU_RATIO));
    printf ("  %-26s %9.2f %9.2f %9.2f %7.2fx %7.2fx %8s  %-10s %s\n",
        "frames/s", b[M_FPS], a[M_FPS], s[M_FPS], fps_ratio,
        s[M_FPS] / a[M_FPS], "", ">= " G_STRINGIFY (TARGET_FPS_RATIO) "x",
        verdict (verdicts, fps_ratio >= TARGET_FPS_RATIO));
    printf ("  %-26s %9.2f %9.2f %9.2f %7.2fx %7.2fx %+8.2f\n",
        "latency p50 (ms)", b[M_P50], a[M_P50], s[M_P50], s[M_P50] / b[M_P50],
        s[M_P50] / a[M_P50], s[M_P50] - b[M_P50]);
    printf ("  %-26s %9.2f %9.2f %9.2f %7.2fx %7.2fx %+8.2f  %-10s %s\n",
        "latency p99 (ms)", b[M_P99], a[M_P99], s[M_P99], s[M_P99] / b[M_P99],
        s[M_P99] / a[M_P99], p99_added, "<= +2 ms", verdict (verdicts,
            p99_added <= TARGET_P99_ADDED_MS));
    printf ("  %-26s %9.2f %9.2f %9.2f\n", "latency max (ms)", b[M_MAX],
        a[M_MAX], s[M_MAX]);
    printf ("  %-26s %9.1f %9.1f %9.1f %7.2fx\n", "copied per frame (KiB)",
        b[M_BYTES], a[M_BYTES], s[M_BYTES], s[M_BYTES] / b[M_BYTES]);
    printf ("  %-26s %8.1f%% %8.1f%% %8.1f%%\n", "server frames seen",
        b[M_SEEN], a[M_SEEN], s[M_SEEN]);
    printf ("  %-26s %9.1f %9.1f %9.1f %7.2fx %7.2fx\n",
        "context switches/frame", b[M_CSW], a[M_CSW], s[M_CSW],
        s[M_CSW] / b[M_CSW], s[M_CSW] / a[M_CSW]);
    printf ("  %-26s %9.0f %9.0f %9.0f\n", "stale pushes (per run)",
        b[M_STALE], a[M_STALE], s[M_STALE]);
    printf ("  %-26s %9.0f %9.1f %9.1f\n", "buffers in rotation",
        b[M_BUFFERS], a[M_BUFFERS], s[M_BUFFERS]);
    printf ("  appsrc, the bare client pushing each copied frame through "
        "appsrc ! fakesink, costs %.2fx the baseline's CPU per frame: the "
        "least a GStreamer source adds on this machine (one hand-off to a "
        "streaming thread, one push)\n", a[M_CPU] / b[M_CPU]);
    fflush (stdout);
  }
  return ok;
}

static int
run_parent (gchar ** argv, gboolean quick, guint seconds,
    guint rounds, gint framerate, gboolean default_malloc, gchar ** only)
{
  gchar *self_exe, *cmdline, *model, *registry_dir = NULL;
  gchar *registry = NULL;
  guint warmup_ms = quick ? 500 : 1000;
  guint window_ms = quick ? 1500 : seconds * 1000;
  Verdicts verdicts = { 0, };
  gboolean ok = TRUE;
  guint i, ran = 0;
  guint major, minor, micro, nano;

  self_exe = g_file_read_link ("/proc/self/exe", NULL);
  if (!self_exe)
    self_exe = g_strdup (argv[0]);
  if (quick)
    rounds = 1;

  /* spice-client-glib allocates each display message (a whole frame's
   * bitmap in full-frame mode) and frees it once drawn.  With glibc's
   * default dynamic thresholds, whether that memory goes back to the
   * kernel (and is faulted in again next frame) depends on which thread's
   * arena served it: measured here it doubled the baseline's CPU per frame
   * and added ~3 ms of latency while spicesrc escaped it.  Fixed thresholds,
   * the same for both children, keep that accident out of the ratios. */
  if (!default_malloc && !g_getenv ("GLIBC_TUNABLES"))
    g_setenv ("GLIBC_TUNABLES", MALLOC_TUNABLES, TRUE);

  /* the children load the plugin: keep their registry out of ~/.cache */
  if (!g_getenv ("GST_REGISTRY_1_0")) {
    registry_dir = g_dir_make_tmp ("spice-bench-XXXXXX", NULL);
    if (registry_dir) {
      registry = g_build_filename (registry_dir, "registry.bin", NULL);
      g_setenv ("GST_REGISTRY_1_0", registry, TRUE);
    }
  }

  cmdline = g_strjoinv (" ", argv);
  model = bench_cpu_model ();
  printf ("spice-bench: spicesrc vs a bare spice-client-glib client\n");
  printf ("command: %s\n", cmdline);
  gst_version (&major, &minor, &micro, &nano);
  printf ("machine: %ld CPUs online (%s), GStreamer %u.%u.%u, "
      "spice-client-glib %s\n", sysconf (_SC_NPROCESSORS_ONLN), model,
      major, minor, micro, spice_util_get_version_string ());
  printf ("children: GLIBC_TUNABLES=%s; spicesrc caps framerate=%d/1\n",
      g_getenv ("GLIBC_TUNABLES") ? g_getenv ("GLIBC_TUNABLES") :
      "(unset: glibc defaults)", framerate);
  printf ("runs: %u round(s) per workload of baseline, appsrc, spicesrc, each "
      "in its own process: %u ms warm-up after the first frame, then a "
      "%u ms window; tables show medians\n", rounds, warmup_ms, window_ms);
  g_free (cmdline);
  g_free (model);

  for (i = 0; i < G_N_ELEMENTS (workloads); i++) {
    const Workload *wl = &workloads[i];

    if (only ? !g_strv_contains ((const gchar * const *) only, wl->name)
        : quick && wl->height > 720)
      continue;
    ran++;
    if (!run_workload (self_exe, wl, rounds, warmup_ms, window_ms, framerate,
            &verdicts))
      ok = FALSE;
  }

  if (ran == 0) {
    g_printerr ("spice-bench: no workload matched; known: 720p, "
        "720p-damage, 1080p, 1080p-damage\n");
    ok = FALSE;
  }
  printf ("\ntargets: %d PASS, %d MISS (informational: the exit status "
      "only reflects failed runs)\n", verdicts.pass, verdicts.miss);
  printf ("%s\n", ok ? "spice-bench: all runs delivered frames" :
      "spice-bench: FAILED: some runs delivered no frames");

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
  gint seconds = 5, rounds = 2, warmup_ms = 1000, window_ms = 5000;
  gint framerate = SERVER_FPS;
  gboolean default_malloc = FALSE;
  gchar *mode = NULL, *uri = NULL;
  gchar **only = NULL, **argv_copy;
  GOptionContext *ctx;
  GError *err = NULL;
  gboolean ok;
  GOptionEntry entries[] = {
    {"quick", 0, 0, G_OPTION_ARG_NONE, &quick,
        "Smoke run (~10 s): 720p workloads, one round, short windows", NULL},
    {"seconds", 0, 0, G_OPTION_ARG_INT, &seconds,
        "Measurement window per run (default 5)", "N"},
    {"rounds", 0, 0, G_OPTION_ARG_INT, &rounds,
        "Rounds of baseline + spicesrc per workload (default 2)", "N"},
    {"workload", 0, 0, G_OPTION_ARG_STRING_ARRAY, &only,
        "Only this workload (repeatable): 720p, 720p-damage, 1080p, "
          "1080p-damage", "NAME"},
    {"framerate", 0, 0, G_OPTION_ARG_INT, &framerate,
        "Framerate in spicesrc's caps filter (default 60, the server's)", "N"},
    {"default-malloc", 0, 0, G_OPTION_ARG_NONE, &default_malloc,
        "Leave glibc's malloc thresholds at their defaults in the children "
          "(see docs/benchmark.md)", NULL},
    {"mode", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_STRING, &mode,
        "Child: baseline, appsrc or spicesrc", "MODE"},
    {"uri", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_STRING, &uri,
        "Child: the server", "URI"},
    {"warmup-ms", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_INT, &warmup_ms,
        "Child: warm-up after the first frame", "MS"},
    {"window-ms", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_INT, &window_ms,
        "Child: measurement window", "MS"},
    {NULL}
  };

  argv_copy = g_strdupv (argv);
  ctx = g_option_context_new ("- spicesrc against a bare spice-client-glib "
      "client on the SPICE test server");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &err)) {
    g_printerr ("spice-bench: %s\n", err->message);
    return 2;
  }
  g_option_context_free (ctx);
  if (seconds < 1 || seconds > 600 || rounds < 1 || rounds > 16
      || warmup_ms < 0 || window_ms < 100 || framerate < 1
      || framerate > 1000) {
    g_printerr ("spice-bench: --seconds wants 1..600, --rounds 1..16, "
        "--framerate 1..1000\n");
    return 2;
  }

  if (!mode) {
    ok = run_parent (argv_copy, quick, seconds, rounds, framerate,
        default_malloc, only) == 0;
  } else if (uri && g_str_equal (mode, "baseline")) {
    ok = run_baseline (uri, warmup_ms, window_ms, FALSE);
  } else if (uri && g_str_equal (mode, "appsrc")) {
    gst_init (NULL, NULL);
    ok = run_baseline (uri, warmup_ms, window_ms, TRUE);
  } else if (uri && g_str_equal (mode, "spicesrc")) {
    const gchar *old = g_getenv ("GST_PLUGIN_PATH");
    gchar *path = old && *old ?
        g_strconcat (GST_SPICE_PLUGIN_DIR, G_SEARCHPATH_SEPARATOR_S, old,
        NULL) : g_strdup (GST_SPICE_PLUGIN_DIR);

    g_setenv ("GST_PLUGIN_PATH", path, TRUE);
    g_free (path);
    gst_init (NULL, NULL);
    ok = run_spicesrc (uri, warmup_ms, window_ms, framerate);
  } else {
    g_printerr ("spice-bench: --mode wants baseline, appsrc or spicesrc, with "
        "--uri\n");
    return 2;
  }

  g_strfreev (argv_copy);
  g_strfreev (only);
  g_free (mode);
  g_free (uri);
  return ok ? 0 : 1;
}
