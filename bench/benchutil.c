/* What the benchmarks share (see benchutil.h). */
#include <math.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include <gio/gio.h>

#include "benchutil.h"

typedef struct
{
  GMainLoop *loop;
  gchar *out;
  GError *error;
  gboolean timed_out;
} ChildWait;

static void
child_done (GObject * obj, GAsyncResult * res, gpointer data)
{
  ChildWait *w = data;

  g_subprocess_communicate_utf8_finish (G_SUBPROCESS (obj), res, &w->out,
      NULL, &w->error);
  g_main_loop_quit (w->loop);
}

static gboolean
child_timeout (gpointer data)
{
  ChildWait *w = data;

  w->timed_out = TRUE;
  g_main_loop_quit (w->loop);
  return G_SOURCE_REMOVE;
}

gchar *
bench_run_child (const gchar * prog, const gchar * what,
    const gchar * const *argv, guint timeout_ms, gboolean * ok)
{
  GSubprocess *proc;
  GError *err = NULL;
  ChildWait w = { 0, };
  guint timer;

  *ok = FALSE;
  proc = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE, &err);
  if (!proc) {
    g_printerr ("%s: cannot run %s: %s\n", prog, argv[0], err->message);
    g_clear_error (&err);
    return NULL;
  }

  w.loop = g_main_loop_new (NULL, FALSE);
  g_subprocess_communicate_utf8_async (proc, NULL, NULL, child_done, &w);
  timer = g_timeout_add (timeout_ms, child_timeout, &w);
  g_main_loop_run (w.loop);
  if (w.timed_out) {
    g_printerr ("%s: %s child did not finish in time, killing it\n", prog,
        what);
    g_subprocess_force_exit (proc);
    /* let the communicate operation see EOF and finish */
    g_main_loop_run (w.loop);
  } else {
    g_source_remove (timer);
  }
  g_subprocess_wait (proc, NULL, NULL);
  g_main_loop_unref (w.loop);

  if (w.error) {
    g_printerr ("%s: %s child: %s\n", prog, what, w.error->message);
    g_clear_error (&w.error);
  }
  if (!g_subprocess_get_if_exited (proc)
      || g_subprocess_get_exit_status (proc) != 0)
    g_printerr ("%s: %s child failed (%s %d)\n", prog, what,
        g_subprocess_get_if_exited (proc) ? "exit status" : "signal",
        g_subprocess_get_if_exited (proc) ?
        g_subprocess_get_exit_status (proc) :
        g_subprocess_get_term_sig (proc));
  else
    *ok = TRUE;
  g_object_unref (proc);
  return w.out;
}

gchar **
bench_result_line (const gchar * out)
{
  const gchar *line = out ? strstr (out, "RESULT ") : NULL;
  const gchar *end;
  gchar *copy;
  gchar **kv;

  if (!line)
    return NULL;
  end = strchr (line, '\n');
  copy = end ? g_strndup (line, end - line) : g_strdup (line);
  kv = g_strsplit (copy, " ", -1);
  g_free (copy);
  return kv;
}

const gchar *
bench_kv_string (gchar ** kv, const gchar * key)
{
  gsize len = strlen (key);

  for (; kv && *kv; kv++)
    if (strncmp (*kv, key, len) == 0 && (*kv)[len] == '=')
      return *kv + len + 1;
  return NULL;
}

gdouble
bench_kv_double (gchar ** kv, const gchar * key)
{
  const gchar *v = bench_kv_string (kv, key);

  return v ? g_ascii_strtod (v, NULL) : NAN;
}

static gint
cmp_double (gconstpointer a, gconstpointer b)
{
  gdouble x = *(const gdouble *) a, y = *(const gdouble *) b;

  return x < y ? -1 : x > y;
}

gdouble
bench_median (const gdouble * v, guint n)
{
  gdouble *s;
  gdouble m;

  if (n == 0)
    return NAN;
  s = g_memdup2 (v, n * sizeof (gdouble));
  qsort (s, n, sizeof (gdouble), cmp_double);
  m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
  g_free (s);
  return m;
}

gchar *
bench_cpu_model (void)
{
  gchar *text = NULL, *model = NULL;
  gchar **lines, **l;

  if (!g_file_get_contents ("/proc/cpuinfo", &text, NULL, NULL))
    return g_strdup ("unknown CPU");
  lines = g_strsplit (text, "\n", -1);
  for (l = lines; *l && !model; l++) {
    if (g_str_has_prefix (*l, "model name")) {
      const gchar *colon = strchr (*l, ':');
      if (colon)
        model = g_strstrip (g_strdup (colon + 1));
    }
  }
  g_strfreev (lines);
  g_free (text);
  return model ? model : g_strdup ("unknown CPU");
}

static gint
cmp_gint64 (gconstpointer a, gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

  return x < y ? -1 : x > y;
}

void
bench_sort_gint64 (GArray * a)
{
  g_array_sort (a, cmp_gint64);
}

gint64
bench_percentile (GArray * sorted, guint p)
{
  gsize idx;

  if (sorted->len == 0)
    return 0;
  idx = ((gsize) p * sorted->len + 99) / 100;
  idx = idx > 0 ? idx - 1 : 0;
  return g_array_index (sorted, gint64, MIN (idx, sorted->len - 1));
}

static void
add_tv (struct timeval *tv, gint64 us)
{
  gint64 total = (gint64) tv->tv_sec * G_USEC_PER_SEC + tv->tv_usec + us;

  tv->tv_sec = total / G_USEC_PER_SEC;
  tv->tv_usec = total % G_USEC_PER_SEC;
}

void
bench_getrusage (struct rusage *r)
{
  GDir *d = g_dir_open ("/proc", 0, NULL);
  const gchar *n;
  glong ticks = sysconf (_SC_CLK_TCK);
  pid_t self = getpid ();

  getrusage (RUSAGE_SELF, r);
  while (d && (n = g_dir_read_name (d))) {
    gchar *path, *text = NULL, *close;
    gint ppid;
    gchar state;
    unsigned long long utime, stime;

    if (!g_ascii_isdigit (n[0]))
      continue;
    path = g_strdup_printf ("/proc/%s/stat", n);
    /* pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime stime */
    if (g_file_get_contents (path, &text, NULL, NULL) &&
        strstr (text, "(gst-spice-clien)") &&
        (close = strrchr (text, ')')) &&
        sscanf (close + 1, " %c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu "
            "%llu", &state, &ppid, &utime, &stime) == 4 && ppid == self) {
      gchar *status = NULL, *line;

      add_tv (&r->ru_utime, (gint64) utime * G_USEC_PER_SEC / ticks);
      add_tv (&r->ru_stime, (gint64) stime * G_USEC_PER_SEC / ticks);
      g_free (path);
      path = g_strdup_printf ("/proc/%s/status", n);
      if (g_file_get_contents (path, &status, NULL, NULL)) {
        if ((line = strstr (status, "\nvoluntary_ctxt_switches:")))
          r->ru_nvcsw += atol (strchr (line, ':') + 1);
        if ((line = strstr (status, "\nnonvoluntary_ctxt_switches:")))
          r->ru_nivcsw += atol (strchr (line, ':') + 1);
      }
      g_free (status);
    }
    g_free (text);
    g_free (path);
  }
  if (d)
    g_dir_close (d);
}
