/* Driving spice-test-server from tests: see testserver.h.
 *
 * A reader thread collects the server's stdout lines; test threads wait for
 * them on a GCond with deadlines.  Nothing here touches the default
 * GMainContext: spice-client-glib owns it in the tests. */
#include "testserver.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#ifndef SPICE_TEST_SERVER_PATH
#error "SPICE_TEST_SERVER_PATH must be defined by the build"
#endif

#define START_TIMEOUT_MS 10000
#define STOP_GRACE_MS 2000

struct _TestServer
{
  GPid pid;
  int control_fd;               /* our end of the server's stdin (a socket) */
  GThread *reader;

  GMutex lock;
  GCond cond;
  GQueue events;                /* gchar *, unconsumed event lines; lock */
  GQueue replies;               /* gchar *, unconsumed OK/ERR lines; lock */
  gboolean eof;                 /* server's stdout closed; lock */
  FILE *out;                    /* server's stdout, reader thread only */

  gchar *tmpdir;
  gchar *unix_path;
  guint port;
  gchar *uri;
};

static gboolean
is_reply (const gchar * line)
{
  return g_str_has_prefix (line, "OK") || g_str_has_prefix (line, "ERR");
}

static gpointer
reader_thread (gpointer data)
{
  TestServer *ts = data;
  gchar *buf = NULL;
  size_t cap = 0;
  ssize_t n;

  while ((n = getline (&buf, &cap, ts->out)) >= 0) {
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
      buf[--n] = '\0';
    g_mutex_lock (&ts->lock);
    g_queue_push_tail (is_reply (buf) ? &ts->replies : &ts->events,
        g_strdup (buf));
    g_cond_broadcast (&ts->cond);
    g_mutex_unlock (&ts->lock);
  }
  free (buf);

  g_mutex_lock (&ts->lock);
  ts->eof = TRUE;
  g_cond_broadcast (&ts->cond);
  g_mutex_unlock (&ts->lock);
  return NULL;
}

static gchar *
take_line (GQueue * queue, const gchar * prefix)
{
  GList *l;

  for (l = queue->head; l; l = l->next) {
    if (g_str_has_prefix (l->data, prefix)) {
      gchar *line = l->data;

      g_queue_delete_link (queue, l);
      return line;
    }
  }
  return NULL;
}

/* Pops the first unconsumed line of `queue` starting with `prefix`, waiting
 * until `deadline` (monotonic us); NULL on timeout or server exit. */
static gchar *
wait_line (TestServer * ts, GQueue * queue, const gchar * prefix,
    gint64 deadline)
{
  gchar *line;

  g_mutex_lock (&ts->lock);
  while (!(line = take_line (queue, prefix)) && !ts->eof) {
    if (!g_cond_wait_until (&ts->cond, &ts->lock, deadline)) {
      line = take_line (queue, prefix);
      break;
    }
  }
  g_mutex_unlock (&ts->lock);
  return line;
}

TestServer *
test_server_start (TestServerTransport transport,
    const gchar * const *extra_args)
{
  TestServer *ts = g_new0 (TestServer, 1);
  GPtrArray *argv = g_ptr_array_new ();
  const gchar *binary = g_getenv ("SPICE_TEST_SERVER");
  GError *error = NULL;
  gchar *line, **parts;
  int sv[2], out_fd = -1;
  gint64 deadline;

  if (!binary || !*binary)
    binary = SPICE_TEST_SERVER_PATH;

  g_mutex_init (&ts->lock);
  g_cond_init (&ts->cond);
  g_queue_init (&ts->events);
  g_queue_init (&ts->replies);

  g_ptr_array_add (argv, (gpointer) binary);
  if (transport == TEST_SERVER_UNIX) {
    ts->tmpdir = g_dir_make_tmp ("gst-spice-test-XXXXXX", &error);
    if (!ts->tmpdir)
      g_error ("test server: cannot make a temporary directory: %s",
          error->message);
    ts->unix_path = g_build_filename (ts->tmpdir, "spice.sock", NULL);
    g_ptr_array_add (argv, (gpointer) "--unix");
    g_ptr_array_add (argv, ts->unix_path);
  }
  for (; extra_args && *extra_args; extra_args++)
    g_ptr_array_add (argv, (gpointer) * extra_args);
  g_ptr_array_add (argv, NULL);

  /* stdin is a socket, not a pipe, so that writing a command to a server
   * that died gives EPIPE through send (MSG_NOSIGNAL) instead of killing
   * the test with SIGPIPE */
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    g_error ("test server: socketpair: %s", g_strerror (errno));
  if (!g_spawn_async_with_pipes_and_fds (NULL,
          (const gchar * const *) argv->pdata, NULL,
          G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, sv[1], -1, -1, NULL, NULL, 0,
          &ts->pid, NULL, &out_fd, NULL, &error))
    g_error ("test server: cannot run %s: %s (set SPICE_TEST_SERVER to the "
        "spice-test-server binary)", binary, error->message);
  close (sv[1]);
  g_ptr_array_free (argv, TRUE);
  ts->control_fd = sv[0];
  ts->out = fdopen (out_fd, "r");
  ts->reader = g_thread_new ("test-server-reader", reader_thread, ts);

  deadline = g_get_monotonic_time () + START_TIMEOUT_MS * G_TIME_SPAN_MILLISECOND;
  line = wait_line (ts, &ts->events, "LISTENING ", deadline);
  if (!line) {
    test_server_stop (ts);
    g_error ("test server %s did not start listening within %d ms (its "
        "stderr above says why)", binary, START_TIMEOUT_MS);
  }

  parts = g_strsplit (line, " ", 4);
  if (g_strv_length (parts) == 4 && g_str_equal (parts[1], "tcp")) {
    ts->port = atoi (parts[3]);
    /* --ipv6: "::1" */
    ts->uri = g_strdup_printf (strchr (parts[2], ':') ? "spice://[%s]:%u" :
        "spice://%s:%u", parts[2], ts->port);
  } else if (g_strv_length (parts) == 3 && g_str_equal (parts[1], "unix")) {
    ts->uri = g_strdup_printf ("spice+unix://%s", parts[2]);
  } else {
    test_server_stop (ts);
    g_error ("test server: unexpected first line '%s'", line);
  }
  g_strfreev (parts);
  g_free (line);
  return ts;
}

const gchar *
test_server_get_uri (TestServer * ts)
{
  return ts->uri;
}

GPid
test_server_get_pid (TestServer * ts)
{
  return ts->pid;
}

guint
test_server_get_port (TestServer * ts)
{
  return ts->port;
}

const gchar *
test_server_get_unix_path (TestServer * ts)
{
  return ts->unix_path;
}

gchar *
test_server_command (TestServer * ts, const gchar * line, guint timeout_ms)
{
  gchar *msg = g_strconcat (line, "\n", NULL);
  gsize len = strlen (msg), done = 0;
  gint64 deadline;
  gchar *reply;

  /* a reply left over from a command that timed out earlier is stale */
  g_mutex_lock (&ts->lock);
  g_queue_clear_full (&ts->replies, g_free);
  g_mutex_unlock (&ts->lock);

  deadline = g_get_monotonic_time () + timeout_ms * G_TIME_SPAN_MILLISECOND;
  while (done < len) {
    ssize_t n = send (ts->control_fd, msg + done, len - done, MSG_NOSIGNAL);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      g_message ("test server: cannot send '%s': %s", line,
          g_strerror (errno));
      g_free (msg);
      return NULL;
    }
    done += n;
  }
  g_free (msg);

  reply = wait_line (ts, &ts->replies, "", deadline);
  if (!reply) {
    g_message ("test server: no reply to '%s' within %u ms", line,
        timeout_ms);
    return NULL;
  }
  if (!g_str_has_prefix (reply, "OK")) {
    g_message ("test server: '%s' failed: %s", line, reply);
    g_free (reply);
    return NULL;
  }
  return reply;
}

gchar *
test_server_wait_event (TestServer * ts, const gchar * prefix,
    guint timeout_ms)
{
  return wait_line (ts, &ts->events, prefix,
      g_get_monotonic_time () + timeout_ms * G_TIME_SPAN_MILLISECOND);
}

void
test_server_stop (TestServer * ts)
{
  gint64 deadline;
  int status;
  pid_t r;

  if (!ts)
    return;

  if (ts->pid > 0) {
    kill (ts->pid, SIGTERM);
    deadline = g_get_monotonic_time () + STOP_GRACE_MS * G_TIME_SPAN_MILLISECOND;
    while ((r = waitpid (ts->pid, &status, WNOHANG)) == 0 &&
        g_get_monotonic_time () < deadline)
      g_usleep (10 * G_TIME_SPAN_MILLISECOND);
    if (r == 0) {
      g_message ("test server %d ignored SIGTERM for %d ms, killing it",
          (int) ts->pid, STOP_GRACE_MS);
      kill (ts->pid, SIGKILL);
      waitpid (ts->pid, &status, 0);
    }
    ts->pid = 0;
  }
  if (ts->control_fd > 0)
    close (ts->control_fd);
  /* the server is gone, so its stdout hits EOF and the reader ends */
  if (ts->reader)
    g_thread_join (ts->reader);
  if (ts->out)
    fclose (ts->out);

  if (ts->unix_path)
    g_unlink (ts->unix_path);
  if (ts->tmpdir)
    g_rmdir (ts->tmpdir);

  g_queue_clear_full (&ts->events, g_free);
  g_queue_clear_full (&ts->replies, g_free);
  g_mutex_clear (&ts->lock);
  g_cond_clear (&ts->cond);
  g_free (ts->tmpdir);
  g_free (ts->unix_path);
  g_free (ts->uri);
  g_free (ts);
}
