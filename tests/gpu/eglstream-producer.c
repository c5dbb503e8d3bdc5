/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
/* An EGLStream producer for the GPU tests: its own process (exec'd, so it
 * inherits no EGL state: HARDWARE.md), on the EGL device platform.
 *
 * Protocol on the unix socket it listens on (one peer: the test, or
 * spice-test-server --gl-scanout-from):
 *   - a 16-byte header (u32 width, height, DRM fourcc AB24, stride 0;
 *     little-endian) with the stream fd attached (SCM_RIGHTS), exported
 *     with eglGetStreamFileDescriptorKHR while the stream is CREATED;
 *   - one byte per frame.  The first byte comes right after the header,
 *     before the frame exists: a producer surface needs a connected
 *     consumer, and the consumer connects on the buffer that byte makes.
 *     The producer then waits for the consumer, draws frame 0 and swaps;
 *     every later frame is drawn, swapped, then announced by its byte;
 *   - with --resize, after --frames frames: the byte 'R', then a new
 *     header and fd for a new stream of half the size (the old stream is
 *     destroyed), and the same again (its first byte before its frame);
 *   - with --ack, the producer reads one byte from the peer after each
 *     frame before drawing the next (lock step: no frame dropped).
 * Frame k: the upper half (as displayed) is top_colour (k), the lower half
 * bottom_colour (k), alpha 255.  Exits 0 after the last frame has been
 * acknowledged (or, without --ack, sent), destroying the stream: the
 * consumer sees the producer disconnect. */
#define _GNU_SOURCE             /* accept4 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <EGL/egl.h>
#include <EGL/eglext.h>
#include <glib.h>

#include "eglstream-frames.h"

#define GL_COLOR_BUFFER_BIT 0x00004000
#define GL_SCISSOR_TEST 0x0C11

typedef void (*ClearColorFn) (float, float, float, float);
typedef void (*ClearFn) (unsigned int);
typedef void (*EnableFn) (unsigned int);
typedef void (*ScissorFn) (int, int, int, int);
typedef void (*ViewportFn) (int, int, int, int);
typedef void (*FinishFn) (void);

static struct
{
  EGLDisplay dpy;
  EGLConfig config;
  EGLContext ctx;
  PFNEGLCREATESTREAMKHRPROC create_stream;
  PFNEGLDESTROYSTREAMKHRPROC destroy_stream;
  PFNEGLQUERYSTREAMKHRPROC query_stream;
  PFNEGLGETSTREAMFILEDESCRIPTORKHRPROC get_fd;
  PFNEGLCREATESTREAMPRODUCERSURFACEKHRPROC producer_surface;
  ClearColorFn clear_color;
  ClearFn clear;
  EnableFn enable, disable;
  ScissorFn scissor;
  ViewportFn viewport;
  FinishFn finish;
} egl;

#define DIE(...) do { \
    fprintf (stderr, "eglstream-producer: " __VA_ARGS__); \
    fprintf (stderr, " (EGL error 0x%x)\n", eglGetError ()); \
    exit (1); \
  } while (0)

static void *
proc (const char *name)
{
  void *p = (void *) eglGetProcAddress (name);

  if (!p)
    DIE ("%s missing", name);
  return p;
}

static void
init_egl (int device_index)
{
  PFNEGLQUERYDEVICESEXTPROC query_devices = proc ("eglQueryDevicesEXT");
  PFNEGLGETPLATFORMDISPLAYEXTPROC get_display =
      proc ("eglGetPlatformDisplayEXT");
  EGLDeviceEXT devices[16];
  EGLint n = 0;
  const EGLint config_attribs[] = {
    EGL_SURFACE_TYPE, EGL_STREAM_BIT_KHR,
    EGL_RENDERABLE_TYPE, EGL_OPENGL_ES2_BIT,
    EGL_RED_SIZE, 8, EGL_GREEN_SIZE, 8, EGL_BLUE_SIZE, 8, EGL_ALPHA_SIZE, 8,
    EGL_NONE
  };
  const EGLint ctx_attribs[] = { EGL_CONTEXT_CLIENT_VERSION, 2, EGL_NONE };

  if (!query_devices (16, devices, &n) || n <= device_index)
    DIE ("no EGL device %d", device_index);
  egl.dpy = get_display (EGL_PLATFORM_DEVICE_EXT, devices[device_index], NULL);
  if (egl.dpy == EGL_NO_DISPLAY || !eglInitialize (egl.dpy, NULL, NULL))
    DIE ("cannot initialise EGL device %d", device_index);
  if (!eglChooseConfig (egl.dpy, config_attribs, &egl.config, 1, &n) || !n)
    DIE ("no EGL config with EGL_STREAM_BIT_KHR");
  if (!eglBindAPI (EGL_OPENGL_ES_API))
    DIE ("eglBindAPI");
  egl.ctx = eglCreateContext (egl.dpy, egl.config, EGL_NO_CONTEXT, ctx_attribs);
  if (egl.ctx == EGL_NO_CONTEXT)
    DIE ("eglCreateContext");

  egl.create_stream = proc ("eglCreateStreamKHR");
  egl.destroy_stream = proc ("eglDestroyStreamKHR");
  egl.query_stream = proc ("eglQueryStreamKHR");
  egl.get_fd = proc ("eglGetStreamFileDescriptorKHR");
  egl.producer_surface = proc ("eglCreateStreamProducerSurfaceKHR");
  egl.clear_color = proc ("glClearColor");
  egl.clear = proc ("glClear");
  egl.enable = proc ("glEnable");
  egl.disable = proc ("glDisable");
  egl.scissor = proc ("glScissor");
  egl.viewport = proc ("glViewport");
  egl.finish = proc ("glFinish");
}

static void
send_all (int sock, const void *data, size_t len)
{
  if (send (sock, data, len, MSG_NOSIGNAL) != (ssize_t) len)
    DIE ("send: %s", strerror (errno));
}

static void
send_header (int sock, int width, int height, int fd)
{
  uint32_t hdr[4] = { GUINT32_TO_LE (width), GUINT32_TO_LE (height),
    GUINT32_TO_LE (FRAMES_FOURCC_AB24), 0
  };
  struct iovec iov = { hdr, sizeof (hdr) };
  union
  {
    struct cmsghdr align;
    char buf[CMSG_SPACE (sizeof (int))];
  } ctl;
  struct msghdr msg = { 0, };
  struct cmsghdr *c;

  memset (&ctl, 0, sizeof (ctl));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctl.buf;
  msg.msg_controllen = sizeof (ctl.buf);
  c = CMSG_FIRSTHDR (&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN (sizeof (int));
  memcpy (CMSG_DATA (c), &fd, sizeof (int));
  if (sendmsg (sock, &msg, MSG_NOSIGNAL) != sizeof (hdr))
    DIE ("sendmsg: %s", strerror (errno));
}

static void
wait_ack (int sock)
{
  struct pollfd p = { sock, POLLIN, 0 };
  char b;

  if (poll (&p, 1, 20000) != 1 || recv (sock, &b, 1, 0) != 1)
    DIE ("no acknowledgement from the consumer");
}

static void
draw (int k, int width, int height)
{
  guint8 top[4], bottom[4];

  frames_top_colour (k, top);
  frames_bottom_colour (k, bottom);
  egl.viewport (0, 0, width, height);
  egl.enable (GL_SCISSOR_TEST);
  /* GL's y = 0 is the bottom row as displayed */
  egl.scissor (0, 0, width, height / 2);
  egl.clear_color (bottom[0] / 255.0f, bottom[1] / 255.0f,
      bottom[2] / 255.0f, 1.0f);
  egl.clear (GL_COLOR_BUFFER_BIT);
  egl.scissor (0, height / 2, width, height - height / 2);
  egl.clear_color (top[0] / 255.0f, top[1] / 255.0f, top[2] / 255.0f, 1.0f);
  egl.clear (GL_COLOR_BUFFER_BIT);
  egl.disable (GL_SCISSOR_TEST);
}

/* One stream of @count frames numbered from @first. */
static void
run_stream (int sock, int width, int height, int first, int count, gboolean ack)
{
  const EGLint surface_attribs[] = { EGL_WIDTH, width, EGL_HEIGHT, height,
    EGL_NONE
  };
  EGLStreamKHR stream;
  EGLSurface surface;
  static const EGLint no_attribs[] = { EGL_NONE };
  EGLint state = 0;
  gint64 deadline;
  int fd, k;

  /* mailbox mode (no FIFO): the consumer gets the newest frame */
  stream = egl.create_stream (egl.dpy, no_attribs);
  if (stream == EGL_NO_STREAM_KHR)
    DIE ("eglCreateStreamKHR");
  /* only while CREATED: before the consumer connects */
  fd = egl.get_fd (egl.dpy, stream);
  if (fd < 0)
    DIE ("eglGetStreamFileDescriptorKHR");
  send_header (sock, width, height, fd);
  close (fd);
  /* announces frame 0: the consumer connects on the buffer it makes */
  send_all (sock, "F", 1);

  deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;
  do {
    if (!egl.query_stream (egl.dpy, stream, EGL_STREAM_STATE_KHR, &state))
      DIE ("eglQueryStreamKHR");
    if (state != EGL_STREAM_STATE_CREATED_KHR)
      break;
    g_usleep (1000);
  } while (g_get_monotonic_time () < deadline);
  if (state != EGL_STREAM_STATE_CONNECTING_KHR)
    DIE ("no consumer connected (stream state 0x%x)", state);

  surface = egl.producer_surface (egl.dpy, egl.config, stream, surface_attribs);
  if (surface == EGL_NO_SURFACE)
    DIE ("eglCreateStreamProducerSurfaceKHR");
  if (!eglMakeCurrent (egl.dpy, surface, surface, egl.ctx))
    DIE ("eglMakeCurrent");

  for (k = first; k < first + count; k++) {
    draw (k, width, height);
    if (!eglSwapBuffers (egl.dpy, surface))
      DIE ("eglSwapBuffers (frame %d)", k);
    if (k > first)
      send_all (sock, "F", 1);
    if (ack)
      wait_ack (sock);
    else
      g_usleep (40000);
  }
  egl.finish ();
  eglMakeCurrent (egl.dpy, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT);
  eglDestroySurface (egl.dpy, surface);
  egl.destroy_stream (egl.dpy, stream);
}

int
main (int argc, char **argv)
{
  gchar *path = NULL;
  gint width = 64, height = 48, frames = 5, device = 0;
  gboolean ack = FALSE, resize = FALSE;
  GOptionEntry entries[] = {
    {"listen", 0, 0, G_OPTION_ARG_FILENAME, &path, "unix socket to listen "
          "on", "PATH"},
    {"width", 0, 0, G_OPTION_ARG_INT, &width, "width", "N"},
    {"height", 0, 0, G_OPTION_ARG_INT, &height, "height", "N"},
    {"frames", 0, 0, G_OPTION_ARG_INT, &frames, "frames per stream", "N"},
    {"device", 0, 0, G_OPTION_ARG_INT, &device, "EGL device index", "N"},
    {"ack", 0, 0, G_OPTION_ARG_NONE, &ack, "wait for a byte from the peer "
          "after each frame", NULL},
    {"resize", 0, 0, G_OPTION_ARG_NONE, &resize, "then a second stream of "
          "half the size", NULL},
    {NULL}
  };
  GOptionContext *opts = g_option_context_new (NULL);
  struct sockaddr_un addr = { 0, };
  GError *error = NULL;
  int lsock, sock;

  g_option_context_add_main_entries (opts, entries, NULL);
  if (!g_option_context_parse (opts, &argc, &argv, &error) || !path) {
    fprintf (stderr, "eglstream-producer: %s\n", error ? error->message :
        "--listen is required");
    return 2;
  }
  g_option_context_free (opts);

  init_egl (device);

  lsock = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  addr.sun_family = AF_UNIX;
  g_strlcpy (addr.sun_path, path, sizeof (addr.sun_path));
  unlink (path);
  if (bind (lsock, (struct sockaddr *) &addr, sizeof (addr)) < 0
      || listen (lsock, 1) < 0)
    DIE ("cannot listen on %s: %s", path, strerror (errno));
  sock = accept4 (lsock, NULL, NULL, SOCK_CLOEXEC);
  if (sock < 0)
    DIE ("accept: %s", strerror (errno));

  run_stream (sock, width, height, 0, frames, ack);
  if (resize) {
    send_all (sock, "R", 1);
    run_stream (sock, width / 2, height / 2, frames, frames, ack);
  }

  eglDestroyContext (egl.dpy, egl.ctx);
  eglTerminate (egl.dpy);
  close (sock);
  close (lsock);
  unlink (path);
  g_free (path);
  return 0;
}
