/* spice-density-bench: N SPICE sessions in ONE process against N processes
 * of one session each, at 1920x1080, full damage, 60 frames/s.
 *
 * With the SPICE client in a helper process per connection, sessions of
 * one process run in parallel (one helper each), as separate processes do.
 * The parent starts N test servers, then for each N (1, 2, 4) runs:
 *
 *   one       one child with N pipelines
 *             `spicesrc uri=... audio=false repeat-interval=0 !
 *              video/x-raw,framerate=60/1 ! fakesink sync=false`
 *   separate  N children with one such pipeline each
 *
 * All children measure the same window of CLOCK_MONOTONIC (given by the
 * parent), after their first frames and a warm-up: frames pushed (a probe
 * on each fakesink) and CPU time of the child and its gst-spice-client
 * helpers.  The parent prints aggregate frames/s and CPU per frame of both
 * arrangements and their ratios (targets: frames/s one/separate >= 0.95,
 * CPU per frame one/separate <= 1.10).  See docs/benchmark.md.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <gst/gst.h>

#include "testserver.h"
#include "benchutil.h"

#ifndef GST_SPICE_PLUGIN_DIR
#error "GST_SPICE_PLUGIN_DIR must be defined by the build"
#endif

#define MAX_SESSIONS 8
/* as spice-bench: big frames without an mmap/munmap (and its page faults)
 * per allocation in spice-client-glib (docs/benchmark.md) */
#define MALLOC_TUNABLES \
  "glibc.malloc.trim_threshold=134217728:glibc.malloc.mmap_threshold=33554432"
#define TARGET_FPS_RATIO 0.95
#define TARGET_CPU_RATIO 1.10
/* from the parent's start to the window: connecting and a warm-up */
#define LEAD_MS 4000

/* ---------------------------------------------------------------------- */
/* Child                                                                  */

static gint frames_pushed;

static GstPadProbeReturn
count_buffer (GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  g_atomic_int_inc (&frames_pushed);
  return GST_PAD_PROBE_OK;
}

static gint64
cpu_us (struct rusage *r)
{
  return (gint64) (r->ru_utime.tv_sec + r->ru_stime.tv_sec) * G_USEC_PER_SEC
      + r->ru_utime.tv_usec + r->ru_stime.tv_usec;
}

static gboolean
wait_until (GstElement ** pipelines, guint n, gint64 t)
{
  while (g_get_monotonic_time () < t) {
    guint i;

    for (i = 0; i < n; i++) {
      GstBus *bus = gst_element_get_bus (pipelines[i]);
      GstMessage *m = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);

      gst_object_unref (bus);
      if (m) {
        GError *err = NULL;
        gst_message_parse_error (m, &err, NULL);
        g_printerr ("density child: %s\n", err->message);
        g_error_free (err);
        gst_message_unref (m);
        return FALSE;
      }
    }
    g_usleep (MIN (10000, MAX (0, t - g_get_monotonic_time ())));
  }
  return TRUE;
}

static int
run_child (gchar ** uris, gint64 start_us, guint window_ms)
{
  GstElement *pipelines[MAX_SESSIONS];
  guint n = g_strv_length (uris), i;
  struct rusage r0, r1;
  gint f0, f1;
  gboolean ok;

  /* a watchdog: the parent waits for our RESULT line */
  alarm ((start_us - g_get_monotonic_time ()) / G_USEC_PER_SEC + window_ms /
      1000 + 30);
  for (i = 0; i < n; i++) {
    gchar *desc = g_strdup_printf ("spicesrc uri=%s audio=false "
        "repeat-interval=0 ! video/x-raw,framerate=60/1 ! fakesink name=sink "
        "sync=false enable-last-sample=false", uris[i]);
    GError *err = NULL;
    GstElement *sink;
    GstPad *pad;

    pipelines[i] = gst_parse_launch (desc, &err);
    g_free (desc);
    if (!pipelines[i]) {
      g_printerr ("density child: %s\n", err->message);
      return 1;
    }
    sink = gst_bin_get_by_name (GST_BIN (pipelines[i]), "sink");
    pad = gst_element_get_static_pad (sink, "sink");
    gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, count_buffer, NULL,
        NULL);
    gst_object_unref (pad);
    gst_object_unref (sink);
    gst_element_set_state (pipelines[i], GST_STATE_PLAYING);
  }
  ok = wait_until (pipelines, n, start_us);
  bench_getrusage (&r0);
  f0 = g_atomic_int_get (&frames_pushed);
  ok = ok && wait_until (pipelines, n, start_us + (gint64) window_ms * 1000);
  bench_getrusage (&r1);
  f1 = g_atomic_int_get (&frames_pushed);
  for (i = 0; i < n; i++) {
    gst_element_set_state (pipelines[i], GST_STATE_NULL);
    gst_object_unref (pipelines[i]);
  }
  if (!ok)
    return 1;
  printf ("RESULT frames=%d cpu_us=%" G_GINT64_FORMAT " window_us=%"
      G_GINT64_FORMAT "\n", f1 - f0, cpu_us (&r1) - cpu_us (&r0),
      (gint64) window_ms * 1000);
  fflush (stdout);
  return 0;
}

/* ---------------------------------------------------------------------- */
/* Parent                                                                 */

typedef struct
{
  gdouble fps, cpu_ms;          /* aggregate frames/s, CPU ms per frame */
} Result;

/* Runs the children (each a list of URIs) over one common window. */
static gboolean
run_arrangement (const gchar * self_exe, GPtrArray * groups, guint window_ms,
    const gchar * plugin_dir, Result * res)
{
  gint64 start = g_get_monotonic_time () + LEAD_MS * 1000;
  GPtrArray *procs = g_ptr_array_new_with_free_func (g_object_unref);
  gdouble frames = 0, cpu = 0;
  gboolean ok = TRUE;
  guint i;

  for (i = 0; i < groups->len; i++) {
    gchar *start_s = g_strdup_printf ("%" G_GINT64_FORMAT, start);
    gchar *window_s = g_strdup_printf ("%u", window_ms);
    GError *err = NULL;
    GSubprocessLauncher *l =
        g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
    GSubprocess *p;

    if (plugin_dir) {
      /* another build of the plugin, with a registry of its own */
      gchar *reg = g_strdup_printf ("%s.compare", g_getenv
          ("GST_REGISTRY_1_0"));
      g_subprocess_launcher_setenv (l, "GST_PLUGIN_PATH", plugin_dir, TRUE);
      g_subprocess_launcher_setenv (l, "GST_REGISTRY_1_0", reg, TRUE);
      g_free (reg);
    }
    p = g_subprocess_launcher_spawn (l, &err, self_exe, "--child",
        "--start-us", start_s, "--window-ms", window_s, "--uris",
        (const gchar *) groups->pdata[i], NULL);
    g_object_unref (l);

    g_free (start_s);
    g_free (window_s);
    if (!p) {
      g_printerr ("spice-density-bench: %s\n", err->message);
      g_error_free (err);
      ok = FALSE;
      break;
    }
    g_ptr_array_add (procs, p);
  }
  for (i = 0; i < procs->len; i++) {
    gchar *out = NULL;
    gchar **kv;

    g_subprocess_communicate_utf8 (procs->pdata[i], NULL, NULL, &out, NULL,
        NULL);
    kv = bench_result_line (out);
    if (!kv) {
      g_printerr ("spice-density-bench: a child gave no result\n");
      ok = FALSE;
    } else {
      frames += bench_kv_double (kv, "frames");
      cpu += bench_kv_double (kv, "cpu_us");
      g_strfreev (kv);
    }
    g_free (out);
  }
  g_ptr_array_unref (procs);
  res->fps = frames / (window_ms / 1000.0);
  res->cpu_ms = frames > 0 ? cpu / 1000.0 / frames : 0;
  return ok && frames > 0;
}

static int
run_parent (const gchar * self_exe, guint window_ms, guint max_n,
    guint rounds, const gchar * compare)
{
  TestServer *servers[MAX_SESSIONS];
  gchar *registry_dir = NULL, *registry_file = NULL;
  guint n, i, r, pass = 0, miss = 0;
  gboolean all_ok = TRUE;

  g_setenv ("GST_PLUGIN_PATH", GST_SPICE_PLUGIN_DIR, TRUE);
  if (!g_getenv ("GLIBC_TUNABLES"))
    g_setenv ("GLIBC_TUNABLES", MALLOC_TUNABLES, TRUE);
  /* a registry of the children's own, nothing written to ~/.cache */
  if (!g_getenv ("GST_REGISTRY_1_0")) {
    gchar *dir = g_dir_make_tmp ("spice-density-bench-XXXXXX", NULL);

    if (dir) {
      registry_dir = dir;
      registry_file = g_build_filename (dir, "registry.bin", NULL);
      g_setenv ("GST_REGISTRY_1_0", registry_file, TRUE);
    }
  }
  for (i = 0; i < max_n; i++) {
    const gchar *const args[] = { "--size", "1920x1080", "--fps", "60",
      NULL
    };

    servers[i] = test_server_start (TEST_SERVER_TCP, args);
    if (!servers[i]) {
      g_printerr ("spice-density-bench: cannot start the test server\n");
      return 1;
    }
  }
  printf ("spice-density-bench: %s, %u cores; 1920x1080 full damage at 60 "
      "fps per session; %u s windows, %u round(s)\n", bench_cpu_model (),
      g_get_num_processors (), window_ms / 1000, rounds);
  printf ("\n  N  arrangement   frames/s  cpu ms/frame\n");
  for (n = 1; n <= max_n; n *= 2) {
    gdouble fps_one[8], fps_sep[8], cpu_one[8], cpu_sep[8];
    gdouble f1, f2, c1, c2;

    for (r = 0; r < rounds; r++) {
      GPtrArray *one = g_ptr_array_new_with_free_func (g_free);
      GPtrArray *sep = g_ptr_array_new_with_free_func (g_free);
      GString *all = g_string_new (NULL);
      Result a = { 0, }, b = { 0, };

      for (i = 0; i < n; i++) {
        g_string_append_printf (all, "%s%s", i ? "," : "",
            test_server_get_uri (servers[i]));
        g_ptr_array_add (sep, g_strdup (test_server_get_uri (servers[i])));
      }
      g_ptr_array_add (one, g_string_free (all, FALSE));
      all_ok &= run_arrangement (self_exe, one, window_ms, NULL, &a);
      all_ok &= run_arrangement (self_exe, sep, window_ms, NULL, &b);
      printf ("  %u  one process  %8.1f  %12.3f   (round %u)\n", n, a.fps,
          a.cpu_ms, r + 1);
      printf ("  %u  %u processes  %8.1f  %12.3f   (round %u)\n", n, n, b.fps,
          b.cpu_ms, r + 1);
      if (compare) {
        Result c = { 0, };

        all_ok &= run_arrangement (self_exe, one, window_ms, compare, &c);
        printf ("  %u  one process, the plugin in %s  %8.1f  %12.3f   "
            "(round %u)\n", n, compare, c.fps, c.cpu_ms, r + 1);
      }
      fflush (stdout);
      fps_one[r] = a.fps;
      fps_sep[r] = b.fps;
      cpu_one[r] = a.cpu_ms;
      cpu_sep[r] = b.cpu_ms;
      g_ptr_array_unref (one);
      g_ptr_array_unref (sep);
    }
    f1 = bench_median (fps_one, rounds);
    f2 = bench_median (fps_sep, rounds);
    c1 = bench_median (cpu_one, rounds);
    c2 = bench_median (cpu_sep, rounds);
    printf ("  %u  one/separate: frames/s %.3fx (>= %.2fx %s), CPU per "
        "frame %.3fx (<= %.2fx %s)\n\n", n, f1 / f2, TARGET_FPS_RATIO,
        f1 / f2 >= TARGET_FPS_RATIO ? "PASS" : "MISS", c1 / c2,
        TARGET_CPU_RATIO, c1 / c2 <= TARGET_CPU_RATIO ? "PASS" : "MISS");
    pass += (f1 / f2 >= TARGET_FPS_RATIO) + (c1 / c2 <= TARGET_CPU_RATIO);
    miss += (f1 / f2 < TARGET_FPS_RATIO) + (c1 / c2 > TARGET_CPU_RATIO);
  }
  printf ("targets: %u PASS, %u MISS (informational: the exit status only "
      "reflects failed runs)\n", pass, miss);
  for (i = 0; i < max_n; i++)
    test_server_stop (servers[i]);
  if (registry_file) {
    gchar *compare_reg = g_strdup_printf ("%s.compare", registry_file);

    g_unlink (compare_reg);
    g_free (compare_reg);
    g_unlink (registry_file);
    g_rmdir (registry_dir);
  }
  g_free (registry_file);
  g_free (registry_dir);
  return all_ok ? 0 : 1;
}

int
main (int argc, char **argv)
{
  gboolean child = FALSE, quick = FALSE;
  gint64 start_us = 0;
  guint window_ms = 5000, seconds = 5, max_n = 4, rounds = 1;
  gchar *uris = NULL, *self_exe, *compare = NULL;
  GOptionEntry entries[] = {
    {"quick", 0, 0, G_OPTION_ARG_NONE, &quick,
        "Smoke run: N = 1 and 2, 1 s windows", NULL},
    {"seconds", 0, 0, G_OPTION_ARG_INT, &seconds,
        "Measurement window (default 5)", "N"},
    {"max-sessions", 0, 0, G_OPTION_ARG_INT, &max_n,
        "Largest N (default 4; 1, 2, 4, ...)", "N"},
    {"rounds", 0, 0, G_OPTION_ARG_INT, &rounds,
        "Rounds per N (default 1, at most 8)", "N"},
    {"compare-plugin", 0, 0, G_OPTION_ARG_FILENAME, &compare,
          "Also run the one-process arrangement with the spice plugin of "
          "this directory (another build, e.g. one with the client in "
          "process)", "DIR"},
    {"child", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_NONE, &child, NULL, NULL},
    {"start-us", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_INT64, &start_us, NULL,
        NULL},
    {"window-ms", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_INT, &window_ms, NULL,
        NULL},
    {"uris", 0, G_OPTION_FLAG_HIDDEN, G_OPTION_ARG_STRING, &uris, NULL, NULL},
    {NULL}
  };
  GOptionContext *ctx = g_option_context_new ("- N SPICE sessions in one "
      "process against N processes");
  GError *err = NULL;
  int ret;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &err)) {
    g_printerr ("%s\n", err->message);
    return 2;
  }
  g_option_context_free (ctx);
  if (child) {
    gchar **list = g_strsplit (uris ? uris : "", ",", -1);

    gst_init (NULL, NULL);
    ret = run_child (list, start_us, window_ms);
    g_strfreev (list);
    return ret;
  }
  if (quick) {
    seconds = 1;
    max_n = 2;
    rounds = 1;
  }
  rounds = CLAMP (rounds, 1, 8);
  max_n = CLAMP (max_n, 1, MAX_SESSIONS);
  self_exe = g_file_read_link ("/proc/self/exe", NULL);
  ret = run_parent (self_exe, seconds * 1000, max_n, rounds, compare);
  g_free (self_exe);
  return ret;
}
