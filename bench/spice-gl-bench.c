/* spice-gl-bench: the GL scanout path (a GL display, QEMU gl=on) against
 * the copy pipeline it replaces, on the project's test server in GL mode
 * (a memfd scanout, --gl).
 *
 * The parent starts spice-test-server --gl and runs each mode in a child
 * process of its own (the server takes one client at a time), interleaved
 * round by round:
 *
 *   copy     spicesrc ! video/x-raw ! glupload ! fakesink: spicesrc maps
 *            the scanout and copies each draw into system memory, glupload
 *            uploads it (the pipeline dmabufimport replaces).
 *   dmabuf   spicesrc ! video/x-raw(memory:DMABuf) ! fakesink: the frames
 *            as DMA-BUFs, nothing done with them (spicesrc's own cost).
 *   import   spicesrc ! video/x-raw(memory:DMABuf) ! dmabufimport !
 *            fakesink: into GL textures (EGL import on a GPU with
 *            EGL_EXT_image_dma_buf_import; its CPU upload fallback
 *            elsewhere, as on Mesa llvmpipe).
 *
 * Each child reads the test pattern's code strip (frame number and the
 * server's send time, painted just before the server's gl_draw_async) from
 * every frame leaving spicesrc: draw -> push latency.  In the DMA-BUF modes
 * it also notes when each frame's memory is freed (a weak reference beside
 * spicesrc's own); the parent matches those with the server's completion
 * times ("gl done-log"): release -> draw done latency (the session's hop to
 * the spice thread, the GL_DRAW_DONE message, the server's completion).
 * Bytes copied are the elements' own counts (stats bytes-copied of spicesrc
 * and dmabufimport); glupload's upload in the copy mode is not counted
 * (it has no counter).  CPU is the child's user+sys time over the window.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <glib/gstdio.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gst/allocators/gstdmabuf.h>

#include "testserver.h"
#include "test-pattern.h"
#include "benchutil.h"
#include "gstdrmformat.h"

#ifndef GST_SPICE_PLUGIN_DIR
#error "GST_SPICE_PLUGIN_DIR must be defined by the build"
#endif

#define FIRST_FRAME_TIMEOUT_MS 15000
#define CHILD_GRACE_MS 20000
#define TARGET_RELEASE_P99_US 1000

typedef enum
{
  MODE_COPY,
  MODE_DMABUF,
  MODE_IMPORT,
  N_MODES
} Mode;

static const gchar *mode_names[N_MODES] = { "copy", "dmabuf", "import" };

/* ---------------------------------------------------------------------- */
/* Child                                                                  */

typedef struct
{
  GMutex lock;
  gboolean measuring;           /* lock */
  guint64 frames;               /* lock: pushed during the window */
  GArray *push_us;              /* lock: gint64 draw -> push, per frame */
  GString *releases;            /* lock: " frame:us" per freed frame */
  gint64 first_frame_us;        /* lock */
} Child;

typedef struct
{
  Child *c;
  guint32 frame;
} Release;

static void
frame_freed (gpointer data, GstMiniObject * obj)
{
  Release *r = data;
  gint64 now = g_get_monotonic_time ();

  g_mutex_lock (&r->c->lock);
  if (r->c->measuring)
    g_string_append_printf (r->c->releases, " %u:%" G_GINT64_FORMAT,
        r->frame, now);
  g_mutex_unlock (&r->c->lock);
  g_free (r);
}

static GstPadProbeReturn
frame_probe (GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  Child *c = data;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  GstCaps *caps = gst_pad_get_current_caps (pad);
  gint64 now = g_get_monotonic_time ();
  GstVideoInfo vinfo;
  GstVideoFrame f;
  guint32 frame = 0;
  guint64 sent = 0;
  gboolean read = FALSE;

  /* (DMA_DRM caps on >= 1.24: the layout of the scanout's format) */
  if (caps && gst_spice_video_info_from_caps (&vinfo, NULL, NULL, caps) &&
      gst_video_frame_map (&f, &vinfo, buf, GST_MAP_READ)) {
    read = tp_read_strip (GST_VIDEO_FRAME_PLANE_DATA (&f, 0),
        GST_VIDEO_FRAME_PLANE_STRIDE (&f, 0), &frame, &sent);
    gst_video_frame_unmap (&f);
  }
  gst_clear_caps (&caps);
  g_mutex_lock (&c->lock);
  if (!c->first_frame_us)
    c->first_frame_us = now;
  if (c->measuring && read && !GST_BUFFER_FLAG_IS_SET (buf,
          GST_BUFFER_FLAG_GAP)) {
    gint64 lat = now - (gint64) sent;

    c->frames++;
    g_array_append_val (c->push_us, lat);
    if (gst_buffer_n_memory (buf) == 1 &&
        gst_is_dmabuf_memory (gst_buffer_peek_memory (buf, 0))) {
      Release *r = g_new (Release, 1);

      r->c = c;
      r->frame = frame;
      gst_mini_object_weak_ref (GST_MINI_OBJECT (gst_buffer_peek_memory (buf,
                  0)), frame_freed, r);
    }
  }
  g_mutex_unlock (&c->lock);
  return GST_PAD_PROBE_OK;
}

static guint64
stat_of (GstElement * pipeline, const gchar * name, const gchar * field)
{
  GstElement *e = gst_bin_get_by_name (GST_BIN (pipeline), name);
  GstStructure *s = NULL;
  guint64 v = 0;

  if (!e)
    return 0;
  g_object_get (e, "stats", &s, NULL);
  if (s)
    gst_structure_get_uint64 (s, field, &v);
  gst_clear_structure (&s);
  gst_object_unref (e);
  return v;
}

static gint64
cpu_us (void)
{
  struct rusage r;

  bench_getrusage (&r);
  return (gint64) (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * G_USEC_PER_SEC
      + r.ru_utime.tv_usec + r.ru_stime.tv_usec;
}

static gboolean
run_child (Mode mode, const gchar * uri, gint fps, guint warmup_ms,
    guint window_ms)
{
  /* the caps filter is named: its src pad is spicesrc's output */
  static const gchar *consumer[N_MODES] = {
    "glupload ! ", "", "dmabufimport name=imp ! "
  };
  Child c = { 0, };
  gchar *desc = g_strdup_printf ("spicesrc name=src uri=%s audio=false ! "
      "capsfilter caps=\"video/x-raw%s,framerate=%d/1\" name=cf ! %s"
      "fakesink sync=false enable-last-sample=false", uri,
      mode == MODE_COPY ? "" : "(memory:DMABuf)", fps, consumer[mode]);
  GError *err = NULL;
  GstElement *p = gst_parse_launch (desc, &err), *cf;
  GstPad *pad;
  gint64 deadline, start_us, end_us, cpu0, cpu1;
  guint64 bytes0, bytes1, frames0, frames1, late0, late1;
  GstMessage *m;
  gboolean ok = FALSE;

  g_free (desc);
  if (!p) {
    g_printerr ("spice-gl-bench: %s\n", err->message);
    g_error_free (err);
    return FALSE;
  }
  g_mutex_init (&c.lock);
  c.push_us = g_array_new (FALSE, FALSE, sizeof (gint64));
  c.releases = g_string_new ("RELEASES");
  cf = gst_bin_get_by_name (GST_BIN (p), "cf");
  pad = gst_element_get_static_pad (cf, "src");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, frame_probe, &c, NULL);
  gst_object_unref (pad);
  gst_object_unref (cf);
  gst_element_set_state (p, GST_STATE_PLAYING);

  /* first frame, warm-up, window: errors end the run */
  deadline = g_get_monotonic_time () + FIRST_FRAME_TIMEOUT_MS * 1000;
  for (;;) {
    gboolean started;

    m = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (p), 10 * GST_MSECOND,
        GST_MESSAGE_ERROR);
    if (m)
      goto error;
    g_mutex_lock (&c.lock);
    started = c.first_frame_us != 0;
    g_mutex_unlock (&c.lock);
    if (started)
      break;
    if (g_get_monotonic_time () > deadline) {
      g_printerr ("spice-gl-bench: %s: no frame\n", mode_names[mode]);
      goto done;
    }
  }
  if ((m = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (p),
              warmup_ms * GST_MSECOND, GST_MESSAGE_ERROR)))
    goto error;
  g_mutex_lock (&c.lock);
  c.measuring = TRUE;
  g_mutex_unlock (&c.lock);
  bytes0 = stat_of (p, "src", "bytes-copied") + stat_of (p, "imp",
      "bytes-copied");
  frames0 = stat_of (p, "src", "frames");
  late0 = stat_of (p, "src", "draws-late");
  cpu0 = cpu_us ();
  start_us = g_get_monotonic_time ();
  if ((m = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (p),
              window_ms * GST_MSECOND, GST_MESSAGE_ERROR)))
    goto error;
  g_mutex_lock (&c.lock);
  c.measuring = FALSE;
  g_mutex_unlock (&c.lock);
  end_us = g_get_monotonic_time ();
  cpu1 = cpu_us ();
  bytes1 = stat_of (p, "src", "bytes-copied") + stat_of (p, "imp",
      "bytes-copied");
  frames1 = stat_of (p, "src", "frames");
  late1 = stat_of (p, "src", "draws-late");
  /* frames still downstream are freed by the state change: recorded
   * only while measuring, so late ones are left out */
  gst_element_set_state (p, GST_STATE_NULL);

  bench_sort_gint64 (c.push_us);
  printf ("RESULT mode=%s frames=%" G_GUINT64_FORMAT " wall_us=%"
      G_GINT64_FORMAT " cpu_us=%" G_GINT64_FORMAT " bytes=%" G_GUINT64_FORMAT
      " src_frames=%" G_GUINT64_FORMAT " push_p50_us=%" G_GINT64_FORMAT
      " push_p99_us=%" G_GINT64_FORMAT " draws_late=%" G_GUINT64_FORMAT "\n",
      mode_names[mode], c.frames, end_us - start_us, cpu1 - cpu0,
      bytes1 - bytes0, frames1 - frames0, bench_percentile (c.push_us, 50),
      bench_percentile (c.push_us, 99), late1 - late0);
  printf ("%s\n", c.releases->str);
  fflush (stdout);
  ok = TRUE;
  goto done;

error:
  {
    GError *e = NULL;
    gchar *dbg = NULL;

    gst_message_parse_error (m, &e, &dbg);
    g_printerr ("spice-gl-bench: %s: %s (%s)\n", mode_names[mode], e->message,
        dbg ? dbg : "");
    g_error_free (e);
    g_free (dbg);
    gst_message_unref (m);
  }
done:
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (p);
  g_array_free (c.push_us, TRUE);
  g_string_free (c.releases, TRUE);
  g_mutex_clear (&c.lock);
  return ok;
}

/* ---------------------------------------------------------------------- */
/* Parent                                                                 */

typedef struct
{
  gboolean ok;
  gdouble fps, cpu_per_frame_us, bytes_per_frame, push_p50, push_p99;
  gdouble rel_p50, rel_p99, late;
  guint rel_n;
} Result;

/* release -> done per frame: the child's free times against the server's
 * completion times */
static void
match_releases (const gchar * out, const gchar * done_log, GArray * lat)
{
  GHashTable *done = g_hash_table_new (NULL, NULL);
  const gchar *rel = out ? strstr (out, "RELEASES") : NULL;
  gchar **tok;
  guint i;

  if (!rel || !done_log)
    goto out;
  tok = g_strsplit (done_log, " ", -1);
  for (i = 0; tok[i]; i++) {
    gchar *colon = strchr (tok[i], ':');
    if (colon && g_ascii_isdigit (tok[i][0]))
      g_hash_table_insert (done, GUINT_TO_POINTER ((guint)
              g_ascii_strtoull (tok[i], NULL, 10)), GSIZE_TO_POINTER ((gsize)
              g_ascii_strtoll (colon + 1, NULL, 10)));
  }
  g_strfreev (tok);
  {
    gchar *line = g_strndup (rel, strcspn (rel, "\n"));
    tok = g_strsplit (line, " ", -1);
    g_free (line);
  }
  for (i = 1; tok[i]; i++) {
    gchar *colon = strchr (tok[i], ':');
    guint f;
    gint64 t, d;

    if (!colon)
      continue;
    f = (guint) g_ascii_strtoull (tok[i], NULL, 10);
    t = g_ascii_strtoll (colon + 1, NULL, 10);
    d = (gint64) GPOINTER_TO_SIZE (g_hash_table_lookup (done,
            GUINT_TO_POINTER (f)));
    if (d > 0 && d >= t - 1000) {
      gint64 v = d - t;
      g_array_append_val (lat, v);
    }
  }
  g_strfreev (tok);
out:
  g_hash_table_unref (done);
}

static void
run_mode (const gchar * self, TestServer * ts, Mode mode, gint fps,
    guint warmup_ms, guint window_ms, Result * res)
{
  gchar fps_s[16], warm_s[16], win_s[16];
  const gchar *argv[] = { self, "--mode", mode_names[mode], "--uri",
    test_server_get_uri (ts), "--framerate", fps_s, "--warmup-ms", warm_s,
    "--window-ms", win_s, NULL
  };
  gchar *out, *log;
  gchar **kv;
  GArray *lat = g_array_new (FALSE, FALSE, sizeof (gint64));
  gdouble frames, wall;

  memset (res, 0, sizeof (*res));
  g_snprintf (fps_s, sizeof (fps_s), "%d", fps);
  g_snprintf (warm_s, sizeof (warm_s), "%u", warmup_ms);
  g_snprintf (win_s, sizeof (win_s), "%u", window_ms);
  g_free (test_server_command (ts, "gl done-log", 5000));
  out = bench_run_child ("spice-gl-bench", mode_names[mode], argv,
      FIRST_FRAME_TIMEOUT_MS + warmup_ms + window_ms + CHILD_GRACE_MS,
      &res->ok);
  log = test_server_command (ts, "gl done-log", 5000);
  kv = bench_result_line (out);
  if (!kv) {
    g_printerr ("spice-gl-bench: %s child printed no result\n",
        mode_names[mode]);
    res->ok = FALSE;
    goto done;
  }
  frames = bench_kv_double (kv, "frames");
  wall = bench_kv_double (kv, "wall_us");
  res->fps = wall > 0 ? frames * 1e6 / wall : 0;
  res->cpu_per_frame_us = frames > 0 ? bench_kv_double (kv, "cpu_us") /
      frames : 0;
  res->bytes_per_frame = bench_kv_double (kv, "src_frames") > 0 ?
      bench_kv_double (kv, "bytes") / bench_kv_double (kv, "src_frames") : 0;
  res->push_p50 = bench_kv_double (kv, "push_p50_us");
  res->push_p99 = bench_kv_double (kv, "push_p99_us");
  res->late = bench_kv_double (kv, "draws_late");
  match_releases (out, log, lat);
  bench_sort_gint64 (lat);
  res->rel_n = lat->len;
  res->rel_p50 = bench_percentile (lat, 50);
  res->rel_p99 = bench_percentile (lat, 99);
  res->ok = res->ok && frames > 0;
  g_strfreev (kv);
done:
  g_array_free (lat, TRUE);
  g_free (out);
  g_free (log);
}

static gint
run_parent (const gchar * self, gboolean quick, gint seconds, gint rounds,
    const gchar * size, gint fps)
{
  const gchar *args[] = { "--gl", "--size", size, "--fps", NULL, NULL };
  gchar fps_s[16], *model, *registry_dir = NULL, *registry = NULL;
  TestServer *ts;
  Result r[N_MODES][16];
  gdouble med[N_MODES][9];
  guint warmup_ms = quick ? 500 : 1000, window_ms = seconds * 1000;
  gint round, m, k, failed = 0;
  gboolean release_ok = TRUE;

  g_snprintf (fps_s, sizeof (fps_s), "%d", fps);
  args[4] = fps_s;
  if (!g_getenv ("GST_REGISTRY_1_0")) {
    registry_dir = g_dir_make_tmp ("spice-gl-bench-XXXXXX", NULL);
    if (registry_dir) {
      registry = g_build_filename (registry_dir, "registry.bin", NULL);
      g_setenv ("GST_REGISTRY_1_0", registry, TRUE);
    }
  }
  model = bench_cpu_model ();
  printf ("spice-gl-bench: the GL scanout path against the copy pipeline "
      "it replaces\nserver: spice-test-server --gl --size %s --fps %d "
      "(memfd scanout); %d round(s) of %d s per mode, medians; CPU: %s\n\n",
      size, fps, rounds, seconds, model ? model : "?");
  g_free (model);
  fflush (stdout);
  ts = test_server_start (TEST_SERVER_UNIX, args);
  if (!ts) {
    g_printerr ("spice-gl-bench: the test server did not start\n");
    return 1;
  }
  for (round = 0; round < rounds; round++)
    for (m = 0; m < N_MODES; m++) {
      run_mode (self, ts, m, fps, warmup_ms, window_ms, &r[m][round]);
      if (!r[m][round].ok)
        failed++;
    }
  test_server_stop (ts);

  for (m = 0; m < N_MODES; m++) {
    gdouble v[16];
    for (k = 0; k < 9; k++) {
      for (round = 0; round < rounds; round++) {
        Result *x = &r[m][round];
        gdouble f[9] = { x->fps, x->cpu_per_frame_us, x->bytes_per_frame,
          x->push_p50, x->push_p99, x->rel_p50, x->rel_p99, x->rel_n, x->late
        };
        v[round] = f[k];
      }
      med[m][k] = bench_median (v, rounds);
    }
  }

  printf ("%-7s %8s %9s %12s %10s %10s %12s %12s %6s\n", "mode", "fps",
      "cpu/frame", "CPU bytes", "push p50", "push p99", "release->done",
      "release->done", "late");
  printf ("%-7s %8s %9s %12s %10s %10s %12s %12s %6s\n", "", "",
      "(us)", "per frame", "(us)", "(us)", "p50 (us)", "p99 (us)", "");
  for (m = 0; m < N_MODES; m++) {
    printf ("%-7s %8.1f %9.0f %12.0f %10.0f %10.0f", mode_names[m],
        med[m][0], med[m][1], med[m][2], med[m][3], med[m][4]);
    if (m == MODE_COPY)
      printf (" %12s %12s %6s\n", "n/a", "n/a", "");
    else
      printf (" %12.0f %12.0f %6.0f\n", med[m][5], med[m][6], med[m][8]);
  }
  printf ("\nratios against copy (same run):\n");
  for (m = MODE_DMABUF; m < N_MODES; m++)
    printf ("  %-7s fps %.2fx, CPU per frame %.2fx, CPU bytes per frame "
        "%.0f against %.0f (+ glupload's upload, not counted)\n",
        mode_names[m], med[MODE_COPY][0] > 0 ? med[m][0] / med[MODE_COPY][0] :
        0, med[MODE_COPY][1] > 0 ? med[m][1] / med[MODE_COPY][1] : 0,
        med[m][2], med[MODE_COPY][2]);
  for (m = MODE_DMABUF; m < N_MODES; m++) {
    gboolean pass = med[m][7] > 0 && med[m][6] <= TARGET_RELEASE_P99_US;
    printf ("target release->done p99 <= %d us (%s, %.0f frames matched): "
        "%s\n", TARGET_RELEASE_P99_US, mode_names[m], med[m][7],
        pass ? "PASS" : "MISS");
    release_ok = release_ok && pass;
  }
  printf ("CPU bytes per frame are the elements' counters: spicesrc's copy, "
      "and dmabufimport's\nCPU upload when EGL cannot import the DMA-BUF "
      "(0 on its import path).\n");
  if (failed)
    printf ("%d run(s) failed (see stderr)\n", failed);
  if (registry) {
    g_unlink (registry);
    g_rmdir (registry_dir);
  }
  g_free (registry);
  g_free (registry_dir);
  (void) release_ok;
  /* the exit status says whether every run worked, never the targets */
  return failed ? 1 : 0;
}

int
main (int argc, char **argv)
{
  gboolean quick = FALSE;
  gint seconds = 5, rounds = 3, fps = 60, warmup_ms = 1000, window_ms = 5000;
  gchar *mode = NULL, *uri = NULL, *size = NULL;
  GOptionContext *ctx;
  GError *err = NULL;
  gboolean ok = FALSE;
  GOptionEntry entries[] = {
    {"quick", 0, 0, G_OPTION_ARG_NONE, &quick,
        "Smoke run: 640x480, one round of 1 s per mode", NULL},
    {"seconds", 0, 0, G_OPTION_ARG_INT, &seconds,
        "Measurement window per run (default 5)", "N"},
    {"rounds", 0, 0, G_OPTION_ARG_INT, &rounds,
        "Rounds of every mode (default 3)", "N"},
    {"size", 0, 0, G_OPTION_ARG_STRING, &size,
        "Scanout size (default 1920x1080)", "WxH"},
    {"framerate", 0, 0, G_OPTION_ARG_INT, &fps,
        "The server's draw rate and spicesrc's caps framerate (default 60)",
          "N"},
    {"mode", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_STRING, &mode,
        "Child: copy, dmabuf or import", "MODE"},
    {"uri", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_STRING, &uri,
        "Child: the server", "URI"},
    {"warmup-ms", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_INT, &warmup_ms,
        "Child: warm-up after the first frame", "MS"},
    {"window-ms", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_INT, &window_ms,
        "Child: measurement window", "MS"},
    {NULL}
  };

  ctx = g_option_context_new ("- spicesrc's GL scanout path (DMA-BUF, "
      "dmabufimport) against the copy pipeline");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &err)) {
    g_printerr ("spice-gl-bench: %s\n", err->message);
    return 2;
  }
  g_option_context_free (ctx);
  if (seconds < 1 || seconds > 600 || rounds < 1 || rounds > 16 || fps < 1
      || fps > 1000) {
    g_printerr ("spice-gl-bench: --seconds wants 1..600, --rounds 1..16, "
        "--framerate 1..1000\n");
    return 2;
  }

  if (!mode) {
    if (quick) {
      seconds = 1;
      rounds = 1;
    }
    ok = run_parent (argv[0], quick, seconds, rounds, size ? size :
        (quick ? "640x480" : "1920x1080"), fps) == 0;
  } else {
    gint m;
    const gchar *old = g_getenv ("GST_PLUGIN_PATH");
    gchar *path = g_strjoin (G_SEARCHPATH_SEPARATOR_S, GST_SPICE_PLUGIN_DIR,
        GST_SPICE_GPU_PLUGIN_DIR, old && *old ? old : NULL, NULL);

    g_setenv ("GST_PLUGIN_PATH", path, TRUE);
    g_free (path);
    /* stock glupload needs to be told to go headless (dmabufimport is by
     * itself) */
    if (!g_getenv ("GST_GL_WINDOW"))
      g_setenv ("GST_GL_WINDOW", "egl-device", TRUE);
    gst_init (NULL, NULL);
    for (m = 0; m < N_MODES; m++)
      if (g_str_equal (mode, mode_names[m]))
        break;
    if (m == N_MODES || !uri) {
      g_printerr ("spice-gl-bench: --mode wants copy, dmabuf or import, with "
          "--uri\n");
      return 2;
    }
    ok = run_child (m, uri, fps, warmup_ms, window_ms);
  }
  g_free (mode);
  g_free (uri);
  g_free (size);
  return ok ? 0 : 1;
}
