/* Driving the SPICE test server (spice-test-server) from tests, examples and
 * benchmarks: start it as a subprocess on a free loopback port or a unix
 * socket in a fresh temporary directory, script it through its control
 * channel (stdin lines), and always reap it. */
#ifndef __TESTSERVER_H__
#define __TESTSERVER_H__

#include <glib.h>

G_BEGIN_DECLS

typedef struct _TestServer TestServer;

typedef enum
{
  TEST_SERVER_TCP = 0,          /* 127.0.0.1, a free port chosen by the kernel */
  TEST_SERVER_UNIX = 1,         /* a unix socket in a fresh temporary directory */
} TestServerTransport;

/* Starts the server with `transport`, plus extra command-line options
 * (NULL-terminated, may be NULL), e.g. { "--size", "320x240", "--fps", "30",
 * NULL }.  Waits (at most 10 s) for it to listen.  Aborts the test with a
 * message on failure.  The path of the binary comes from the environment
 * variable SPICE_TEST_SERVER, else the build-time path. */
TestServer *test_server_start (TestServerTransport transport,
    const gchar * const *extra_args);

/* "spice://127.0.0.1:PORT" or "spice+unix:///tmp/.../spice.sock" */
const gchar *test_server_get_uri (TestServer * ts);
guint test_server_get_port (TestServer * ts);   /* 0 for unix */
/* the server's process (to stop it with SIGSTOP, say) */
GPid test_server_get_pid (TestServer * ts);
const gchar *test_server_get_unix_path (TestServer * ts);       /* NULL for tcp */

/* Sends one control line (without the newline) and waits at most timeout_ms
 * for the server's reply line "OK ..." (returned, newly allocated) or
 * "ERR ..." (returns NULL, message logged). */
gchar *test_server_command (TestServer * ts, const gchar * line,
    guint timeout_ms);

/* Waits at most timeout_ms for an event line from the server starting with
 * `prefix` (e.g. "CLIENT connected", "CLIENT disconnected") that arrived
 * since the server started and was not yet consumed; returns the whole line
 * (newly allocated) or NULL on timeout. */
gchar *test_server_wait_event (TestServer * ts, const gchar * prefix,
    guint timeout_ms);

/* Kills the server (SIGTERM, then SIGKILL after 2 s), reaps it and removes
 * its temporary directory.  NULL-safe. */
void test_server_stop (TestServer * ts);

G_END_DECLS

#endif /* __TESTSERVER_H__ */
