/* What the benchmarks share: running a mode in a child process with a
 * deadline and reading its RESULT line, medians, the machine's CPU. */
#ifndef __BENCHUTIL_H__
#define __BENCHUTIL_H__

#include <glib.h>

G_BEGIN_DECLS

/* Runs @argv (NULL-terminated) and collects its stdout; kills it after
 * @timeout_ms.  Complaints go to stderr as "PROG: WHAT child ...".
 * Returns the output (NULL when it could not start); *ok: it exited 0. */
gchar   *bench_run_child   (const gchar * prog, const gchar * what,
                            const gchar * const *argv, guint timeout_ms,
                            gboolean * ok);
/* The "RESULT k=v k=v..." line of @out as tokens, NULL if none */
gchar  **bench_result_line (const gchar * out);
gdouble  bench_kv_double   (gchar ** kv, const gchar * key);
const gchar *bench_kv_string (gchar ** kv, const gchar * key);
gdouble  bench_median      (const gdouble * v, guint n);
/* an array of gint64, ascending */
void     bench_sort_gint64 (GArray * a);
/* nearest rank on a sorted gint64 array, @p in percent (0: empty) */
gint64   bench_percentile  (GArray * sorted, guint p);
/* getrusage (RUSAGE_SELF) plus the live SPICE client helper processes
 * (gst-spice-client) of this process: CPU time and context switches of
 * the whole SPICE path, wherever it runs */
struct rusage;
void     bench_getrusage   (struct rusage * r);
/* /proc/cpuinfo's model name */
gchar   *bench_cpu_model   (void);

G_END_DECLS

#endif /* __BENCHUTIL_H__ */
