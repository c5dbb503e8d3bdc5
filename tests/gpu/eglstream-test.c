/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
/* eglstreamupload with a real EGLStream (NVIDIA only; exits 77, meson's
 * "skipped", elsewhere).  The frames come from eglstream-producer, a
 * process of its own started (exec) before this one touches EGL.
 *
 *   --mode appsrc: the producer's fd goes to appsrc (memory:EGLStream)
 *     -> eglstreamupload -> gldownload -> appsink; lock step (one ack per
 *     frame): every frame's pixels are checked, then a second stream of
 *     half the size (new caps, new fd), then the producer exits: EOS (and
 *     with error-on-disconnect=true, an error).
 *   --mode spice: the producer hands its fd to spice-test-server
 *     (--gl --unix S --gl-scanout-from P); spicesrc (scanout-type=eglstream)
 *     -> eglstreamupload -> gldownload -> appsink: every output frame is a
 *     whole frame of the producer, in order, and the last one arrives.
 *
 * --consumer gl|cuda|auto picks eglstreamupload's consumer (default gl);
 * --cuda-out reads the output through CUDA memory
 * (video/x-raw(memory:CUDAMemory),format=RGBA ! cudadownload) instead of
 * gldownload.  The CUDA runs skip (77) without a loadable libcuda.so.1,
 * cudadownload or a CUDA-enabled build of the plugin.  Only the appsrc
 * mode takes them. */
#define _GNU_SOURCE

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <dlfcn.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <EGL/egl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <gst/allocators/allocators.h>
#include <gst/app/app.h>
#include <gst/gl/egl/gstgldisplay_egl.h>
#include <gst/gl/egl/gstgldisplay_egl_device.h>
#include <gst/gl/gl.h>
#include <gst/gst.h>
#include <gst/video/video.h>

#include "eglstream-frames.h"
#include "gstspiceeglstream.h"

#define SKIP 77
#define FRAMES 6
#define WIDTH 64
#define HEIGHT 48
#define TIMEOUT (10 * GST_SECOND)

#define CHECK(cond, ...) do { \
    if (!(cond)) { \
      fprintf (stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
      fprintf (stderr, __VA_ARGS__); \
      fprintf (stderr, "\n"); \
      exit (1); \
    } \
  } while (0)

static gchar *producer_path, *server_path;
static gchar *consumer = (gchar *) "gl";
static gboolean cuda_out;

/* ---------------------------------------------------------------------- */

/* Skips (77) unless EGL device 0 can consume EGLStreams.  Probing EGL
 * here is safe: the producer is exec'd and inherits no EGL state. */
static void
skip_without_streams (void)
{
  GstGLDisplayEGLDevice *device;
  GstGLDisplayEGL *egl;
  EGLDisplay dpy;
  const gchar *exts;

  if (!g_file_test ("/dev/nvidia0", G_FILE_TEST_EXISTS)) {
    printf ("SKIP: no NVIDIA GPU (/dev/nvidia0 missing)\n");
    exit (SKIP);
  }
  device = gst_gl_display_egl_device_new (0);
  if (!device) {
    printf ("SKIP: no EGL device\n");
    exit (SKIP);
  }
  egl = gst_gl_display_egl_from_gl_display (GST_GL_DISPLAY (device));
  dpy = egl ? (EGLDisplay) gst_gl_display_get_handle (GST_GL_DISPLAY (egl))
      : EGL_NO_DISPLAY;
  if (dpy == EGL_NO_DISPLAY || !eglInitialize (dpy, NULL, NULL)) {
    printf ("SKIP: EGL device 0 does not initialise\n");
    exit (SKIP);
  }
  exts = eglQueryString (dpy, EGL_EXTENSIONS);
  if (!exts || !strstr (exts, "EGL_KHR_stream_cross_process_fd")
      || !strstr (exts, "EGL_KHR_stream_consumer_gltexture")
      || !strstr (exts, "EGL_KHR_stream_producer_eglsurface")) {
    printf ("SKIP: EGL device 0 (%s) has no cross-process EGLStreams\n",
        eglQueryString (dpy, EGL_VENDOR));
    exit (SKIP);
  }
  gst_object_unref (egl);
  gst_object_unref (device);
}

/* Skips (77) unless the CUDA paths can run: libcuda.so.1, cudadownload,
 * and eglstreamupload built with CUDA (its src template has CUDA memory). */
static void
skip_without_cuda (void)
{
  GstElementFactory *f;
  const GList *l;
  gboolean cuda = FALSE;
  void *lib = dlopen ("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);

  if (!lib) {
    printf ("SKIP: libcuda.so.1 does not load\n");
    exit (SKIP);
  }
  dlclose (lib);
  if (cuda_out && !(f = gst_element_factory_find ("cudadownload"))) {
    printf ("SKIP: no cudadownload (nvcodec plugin)\n");
    exit (SKIP);
  } else if (cuda_out) {
    gst_object_unref (f);
  }
  f = gst_element_factory_find ("eglstreamupload");
  CHECK (f != NULL, "no eglstreamupload");
  for (l = gst_element_factory_get_static_pad_templates (f); l; l = l->next) {
    GstStaticPadTemplate *t = l->data;
    GstCaps *caps;
    gchar *str;

    if (t->direction != GST_PAD_SRC)
      continue;
    caps = gst_static_caps_get (&t->static_caps);
    str = gst_caps_to_string (caps);
    cuda = strstr (str, "memory:CUDAMemory") != NULL;
    g_free (str);
    gst_caps_unref (caps);
  }
  gst_object_unref (f);
  if (!cuda) {
    printf ("SKIP: eglstreamupload was built without CUDA (no cuda.h)\n");
    exit (SKIP);
  }
}

static GSubprocess *
spawn (const gchar * const *argv)
{
  GError *error = NULL;
  GSubprocess *p = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_NONE, &error);

  CHECK (p != NULL, "%s: %s", argv[0], error ? error->message : "");
  return p;
}

static void
wait_exit_ok (GSubprocess * p)
{
  GError *error = NULL;

  CHECK (g_subprocess_wait_check (p, NULL, &error), "%s",
      error ? error->message : "");
  g_object_unref (p);
}

static gint
connect_to (const gchar * path)
{
  struct sockaddr_un addr = { 0, };
  gint64 deadline = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;
  gint fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  addr.sun_family = AF_UNIX;
  g_strlcpy (addr.sun_path, path, sizeof (addr.sun_path));
  while (connect (fd, (struct sockaddr *) &addr, sizeof (addr)) < 0) {
    CHECK (g_get_monotonic_time () < deadline, "connect %s: %s", path,
        g_strerror (errno));
    g_usleep (20000);
  }
  return fd;
}

/* A header and its fd (the producer's protocol). */
static gint
recv_header (gint sock, guint * width, guint * height)
{
  guint32 hdr[4];
  struct iovec iov = { hdr, sizeof (hdr) };
  union
  {
    struct cmsghdr align;
    char buf[CMSG_SPACE (sizeof (int))];
  } ctl;
  struct msghdr msg = { 0, };
  struct cmsghdr *c;
  gint fd;

  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = ctl.buf;
  msg.msg_controllen = sizeof (ctl.buf);
  CHECK (recvmsg (sock, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL) ==
      sizeof (hdr), "short header");
  c = CMSG_FIRSTHDR (&msg);
  CHECK (c && c->cmsg_type == SCM_RIGHTS, "no fd with the header");
  memcpy (&fd, CMSG_DATA (c), sizeof (int));
  *width = GUINT32_FROM_LE (hdr[0]);
  *height = GUINT32_FROM_LE (hdr[1]);
  CHECK (GUINT32_FROM_LE (hdr[2]) == FRAMES_FOURCC_AB24, "fourcc");
  return fd;
}

/* the next byte from the producer, -1 at its end */
static gint
recv_byte (gint sock)
{
  struct pollfd p = { sock, POLLIN, 0 };
  guint8 b;
  ssize_t n;

  CHECK (poll (&p, 1, 20000) == 1, "producer silent");
  n = recv (sock, &b, 1, 0);
  CHECK (n >= 0, "recv: %s", g_strerror (errno));
  return n == 0 ? -1 : b;
}

/* Checks every pixel of @sample: frame @k, @width x @height, upright. */
static gint
check_frame (GstSample * sample, gint k, guint width, guint height)
{
  GstVideoInfo info;
  GstVideoFrame frame;
  guint x, y;
  gint got = -1;

  CHECK (gst_video_info_from_caps (&info, gst_sample_get_caps (sample)),
      "caps");
  CHECK (GST_VIDEO_INFO_WIDTH (&info) == (gint) width
      && GST_VIDEO_INFO_HEIGHT (&info) == (gint) height, "size %dx%d, want "
      "%ux%u", GST_VIDEO_INFO_WIDTH (&info), GST_VIDEO_INFO_HEIGHT (&info),
      width, height);
  CHECK (gst_video_frame_map (&frame, &info, gst_sample_get_buffer (sample),
          GST_MAP_READ), "map");
  got = frames_number_of (GST_VIDEO_FRAME_PLANE_DATA (&frame, 0));
  if (k < 0)
    k = got;
  CHECK (k >= 0, "the top-left pixel is no frame's");
  for (y = 0; y < height; y++) {
    const guint8 *row = (const guint8 *) GST_VIDEO_FRAME_PLANE_DATA (&frame,
        0) + y * GST_VIDEO_FRAME_PLANE_STRIDE (&frame, 0);
    guint8 want[3];

    if (y < height - height / 2)
      frames_top_colour (k, want);
    else
      frames_bottom_colour (k, want);
    for (x = 0; x < width; x++)
      CHECK (row[x * 4] == want[0] && row[x * 4 + 1] == want[1]
          && row[x * 4 + 2] == want[2] && row[x * 4 + 3] == 0xff,
          "frame %d pixel (%u,%u) is %02x%02x%02x%02x, want %02x%02x%02xff",
          k, x, y, row[x * 4], row[x * 4 + 1], row[x * 4 + 2],
          row[x * 4 + 3], want[0], want[1], want[2]);
  }
  gst_video_frame_unmap (&frame);
  return k;
}

static void
check_stats (GstElement * up, guint64 frames, guint64 dropped_max)
{
  GstStructure *s = NULL;
  guint64 v;

  g_object_get (up, "stats", &s, NULL);
  printf ("stats: %s\n", gst_structure_to_string (s));
  CHECK (gst_structure_get_uint64 (s, "frames", &v) && v == frames,
      "frames %" G_GUINT64_FORMAT, v);
  CHECK (gst_structure_get_uint64 (s, "frames-dropped", &v)
      && v <= dropped_max, "frames-dropped %" G_GUINT64_FORMAT, v);
  /* auto picks CUDA with CUDA output */
  CHECK (g_str_equal (gst_structure_get_string (s, "consumer"),
          g_str_equal (consumer, "auto") ? (cuda_out ? "cuda" : "gl") :
          consumer), "consumer %s", gst_structure_get_string (s, "consumer"));
  gst_structure_free (s);
}

static GstBuffer *
stream_buffer (GstAllocator * alloc, gint fd)
{
  GstBuffer *buf = gst_buffer_new ();

  gst_buffer_append_memory (buf, gst_spice_egl_stream_memory_new (alloc,
          dup (fd)));
  return buf;
}

static void
set_caps (GstElement * src, guint width, guint height)
{
  GstCaps *caps = gst_caps_new_simple ("video/x-raw",
      "format", G_TYPE_STRING, "RGBA", "width", G_TYPE_INT, width,
      "height", G_TYPE_INT, height, "framerate", GST_TYPE_FRACTION, 30, 1,
      NULL);

  gst_caps_set_features (caps, 0,
      gst_caps_features_new (GST_CAPS_FEATURE_MEMORY_EGL_STREAM, NULL));
  g_object_set (src, "caps", caps, NULL);
  gst_caps_unref (caps);
}

/* ---------------------------------------------------------------------- */

static void
run_appsrc (const gchar * dir, gboolean error_on_disconnect)
{
  gchar *sock_path = g_build_filename (dir, "producer.sock", NULL);
  const gchar *argv[] = { producer_path, "--listen", sock_path, "--ack",
    "--resize", "--frames", G_STRINGIFY (FRAMES), "--width",
    G_STRINGIFY (WIDTH), "--height", G_STRINGIFY (HEIGHT), NULL
  };
  GSubprocess *producer = spawn (argv);
  GstAllocator *alloc = gst_fd_allocator_new ();
  GstElement *pipeline, *src, *up, *sink;
  GstBus *bus;
  GstSample *sample;
  GstMessage *msg;
  guint width, height;
  gint sock, fd, b, k = 0;

  gchar *desc;

  desc = g_strdup_printf ("appsrc name=src format=time ! "
      "eglstreamupload name=up timeout=10000 consumer=%s ! %s ! "
      "video/x-raw,format=RGBA ! appsink name=sink sync=false", consumer,
      cuda_out ? "video/x-raw(memory:CUDAMemory),format=RGBA ! cudadownload"
      : "gldownload");
  pipeline = gst_parse_launch (desc, NULL);
  g_free (desc);
  CHECK (pipeline != NULL, "pipeline");
  src = gst_bin_get_by_name (GST_BIN (pipeline), "src");
  up = gst_bin_get_by_name (GST_BIN (pipeline), "up");
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  g_object_set (up, "error-on-disconnect", error_on_disconnect, NULL);
  bus = gst_element_get_bus (pipeline);

  sock = connect_to (sock_path);
  fd = recv_header (sock, &width, &height);
  CHECK (width == WIDTH && height == HEIGHT, "first size");
  set_caps (src, width, height);
  CHECK (gst_element_set_state (pipeline, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE, "PLAYING");

  while ((b = recv_byte (sock)) >= 0) {
    if (b == 'R') {
      close (fd);
      fd = recv_header (sock, &width, &height);
      CHECK (width == WIDTH / 2 && height == HEIGHT / 2, "second size");
      set_caps (src, width, height);
      continue;
    }
    CHECK (b == 'F', "byte %d", b);
    CHECK (gst_app_src_push_buffer (GST_APP_SRC (src),
            stream_buffer (alloc, fd)) == GST_FLOW_OK, "push");
    sample = gst_app_sink_try_pull_sample (GST_APP_SINK (sink), TIMEOUT);
    CHECK (sample != NULL, "no output for frame %d", k);
    check_frame (sample, k, width, height);
    gst_sample_unref (sample);
    printf ("frame %d (%ux%u) ok\n", k, width, height);
    k++;
    CHECK (send (sock, "A", 1, MSG_NOSIGNAL) == 1, "ack");
  }
  CHECK (k == 2 * FRAMES, "%d frames", k);
  wait_exit_ok (producer);
  check_stats (up, 2 * FRAMES, 0);

  /* the producer is gone: the next buffer finds the stream disconnected */
  gst_app_src_push_buffer (GST_APP_SRC (src), stream_buffer (alloc, fd));
  if (error_on_disconnect) {
    GError *err = NULL;

    msg = gst_bus_timed_pop_filtered (bus, TIMEOUT, GST_MESSAGE_ERROR);
    CHECK (msg != NULL && msg->src == GST_OBJECT (up), "no error");
    gst_message_parse_error (msg, &err, NULL);
    CHECK (strstr (err->message, "disconnected") != NULL, "%s", err->message);
    g_error_free (err);
  } else {
    msg = gst_bus_timed_pop_filtered (bus, TIMEOUT,
        GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
    CHECK (msg != NULL && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS,
        "no EOS: %" GST_PTR_FORMAT, msg);
  }
  gst_message_unref (msg);

  gst_element_set_state (pipeline, GST_STATE_NULL);
  close (fd);
  close (sock);
  gst_object_unref (bus);
  gst_object_unref (src);
  gst_object_unref (up);
  gst_object_unref (sink);
  gst_object_unref (pipeline);
  gst_object_unref (alloc);
  g_free (sock_path);
}

static void
run_spice (const gchar * dir)
{
  gchar *prod_sock = g_build_filename (dir, "producer.sock", NULL);
  gchar *spice_sock = g_build_filename (dir, "spice.sock", NULL);
  const gchar *pargv[] = { producer_path, "--listen", prod_sock, "--frames",
    "20", NULL
  };
  const gchar *sargv[] = { server_path, "--gl", "--unix", spice_sock,
    "--gl-scanout-from", prod_sock, NULL
  };
  GSubprocess *producer, *server;
  GstElement *pipeline, *sink, *up;
  GstSample *sample;
  gchar *desc;
  gint last = -1, seen = 0;

  producer = spawn (pargv);
  server = spawn (sargv);
  desc = g_strdup_printf ("spicesrc uri=spice+unix://%s scanout-type=eglstream "
      "! eglstreamupload name=up timeout=10000 ! gldownload ! "
      "video/x-raw,format=RGBA ! appsink name=sink sync=false", spice_sock);
  pipeline = gst_parse_launch (desc, NULL);
  CHECK (pipeline != NULL, "%s", desc);
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  up = gst_bin_get_by_name (GST_BIN (pipeline), "up");
  CHECK (gst_element_set_state (pipeline, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE, "PLAYING");

  while (last < 19) {
    gint k;

    sample = gst_app_sink_try_pull_sample (GST_APP_SINK (sink), TIMEOUT);
    CHECK (sample != NULL, "no frame after frame %d", last);
    k = check_frame (sample, -1, WIDTH, HEIGHT);
    gst_sample_unref (sample);
    /* spicesrc may repeat a frame; the stream only moves forward */
    CHECK (k >= last, "frame %d after %d", k, last);
    if (k > last)
      seen++;
    last = k;
  }
  printf ("%d distinct frames of 20 through SPICE\n", seen);
  wait_exit_ok (producer);

  gst_element_set_state (pipeline, GST_STATE_NULL);
  g_subprocess_force_exit (server);
  g_subprocess_wait (server, NULL, NULL);
  g_object_unref (server);
  gst_object_unref (sink);
  gst_object_unref (up);
  gst_object_unref (pipeline);
  g_free (desc);
  g_free (prod_sock);
  g_free (spice_sock);
}

int
main (int argc, char **argv)
{
  gchar *mode = NULL;
  GOptionEntry entries[] = {
    {"mode", 0, 0, G_OPTION_ARG_STRING, &mode, "appsrc or spice", "MODE"},
    {"producer", 0, 0, G_OPTION_ARG_FILENAME, &producer_path,
        "eglstream-producer", "PATH"},
    {"server", 0, 0, G_OPTION_ARG_FILENAME, &server_path,
        "spice-test-server", "PATH"},
    {"consumer", 0, 0, G_OPTION_ARG_STRING, &consumer,
        "eglstreamupload's consumer: gl, cuda or auto", "KIND"},
    {"cuda-out", 0, 0, G_OPTION_ARG_NONE, &cuda_out,
        "read the output through CUDA memory and cudadownload", NULL},
    {NULL}
  };
  GOptionContext *opts = g_option_context_new (NULL);
  GError *error = NULL;
  gchar *dir;

  g_option_context_add_main_entries (opts, entries, NULL);
  g_option_context_add_group (opts, gst_init_get_option_group ());
  CHECK (g_option_context_parse (opts, &argc, &argv, &error) && mode
      && producer_path, "usage: --mode appsrc|spice --producer PATH "
      "[--server PATH]");
  g_option_context_free (opts);

  skip_without_streams ();
  if (!g_str_equal (consumer, "gl") || cuda_out)
    skip_without_cuda ();
  dir = g_dir_make_tmp ("eglstream-test-XXXXXX", NULL);
  CHECK (dir != NULL, "tmp dir");

  if (g_str_equal (mode, "appsrc")) {
    run_appsrc (dir, FALSE);
    run_appsrc (dir, TRUE);
  } else {
    if (!gst_element_factory_find ("spicesrc")) {
      printf ("SKIP: no spicesrc in this build\n");
      return SKIP;
    }
    CHECK (server_path != NULL, "--server");
    run_spice (dir);
  }
  g_rmdir (dir);
  g_free (dir);
  printf ("PASS\n");
  return 0;
}
