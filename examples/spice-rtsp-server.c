/* spice-rtsp-server: a VM's screen and sound for ordinary players.
 *
 * Serves what a SPICE server shows and plays as RTSP: H.264 video (4:2:0,
 * SPS/PPS with every keyframe) and Opus sound, at
 * rtsp://ADDRESS:PORT/MOUNT, to any number of viewers at once (VLC, mpv,
 * ffplay, gst-play-1.0, a browser gateway) over one SPICE connection: the
 * media is shared (gst_rtsp_media_factory_set_shared), so the first
 * viewer starts the pipeline and the others join it, and a SPICE server,
 * which takes one client at a time, sees one.  When the last viewer
 * leaves the pipeline stops; the next viewer starts a new one.
 *
 *   spice-rtsp-server SPICE_URI [--port N] [--mount PATH]
 *       [--encoder auto|x264|nvh264|vah264] [--address ADDR]
 *
 * --encoder auto (the default) takes nvh264enc (NVIDIA) or vah264enc
 * (VA-API: Intel, AMD) when GStreamer has one registered (they are
 * registered only where the device is), x264enc otherwise.  --port 0
 * picks a free port.  The server listens on 127.0.0.1 unless --address
 * says otherwise (0.0.0.0: every interface; anyone who reaches it sees the
 * VM).  Prints the URL once it listens.
 */
#include <gst/gst.h>
#include <gst/rtsp-server/rtsp-server.h>
#include <stdlib.h>
#include <string.h>

typedef struct
{
  const gchar *name;            /* --encoder */
  const gchar *element;         /* the encoder */
  const gchar *helper;          /* another element it needs, or NULL */
  const gchar *video;           /* from spicesrc's video pad to H.264 */
} Encoder;

/* Each writes 4:2:0 (NV12, I420): what players and browsers decode.
 * Hardware first, in the order auto tries them. */
static const Encoder encoders[] = {
  {"nvh264", "nvh264enc", NULL,
      "videoconvert ! video/x-raw,format=NV12 ! nvh264enc ! h264parse"},
  {"vah264", "vah264enc", "vapostproc",
      "vapostproc ! video/x-raw(memory:VAMemory),format=NV12 ! vah264enc ! "
        "h264parse"},
  {"x264", "x264enc", NULL,
      "videoconvert ! video/x-raw,format=I420 ! x264enc tune=zerolatency "
        "speed-preset=veryfast key-int-max=60 ! h264parse"},
};

static gboolean
registered (const gchar * name)
{
  GstElementFactory *factory = gst_element_factory_find (name);

  if (factory)
    gst_object_unref (factory);
  return factory != NULL;
}

static gboolean
encoder_available (const Encoder * e)
{
  return registered (e->element) && (!e->helper || registered (e->helper));
}

static const Encoder *
pick_encoder (const gchar * name)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (encoders); i++) {
    const Encoder *e = &encoders[i];

    if (g_str_equal (name, "auto") ? encoder_available (e) :
        g_str_equal (name, e->name))
      return e;
  }
  return NULL;
}

/* A malformed URI is said now, not when the first viewer comes
 * (spicesrc checks it going to READY; nothing connects yet). */
static gboolean
check_uri (const gchar * uri)
{
  GstElement *src = gst_element_factory_make ("spicesrc", NULL);
  GstBus *bus;
  GstMessage *msg;
  gboolean ok;

  if (!src) {
    g_printerr ("error: no spicesrc element (is GST_PLUGIN_PATH set to "
        "where gst-spice is installed?)\n");
    return FALSE;
  }
  bus = gst_bus_new ();
  gst_element_set_bus (src, bus);
  g_object_set (src, "uri", uri, NULL);
  ok = gst_element_set_state (src, GST_STATE_READY) != GST_STATE_CHANGE_FAILURE;
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  if (!ok && msg) {
    GError *err;

    gst_message_parse_error (msg, &err, NULL);
    g_printerr ("error: %s\n", err->message);
    g_error_free (err);
  }
  if (msg)
    gst_message_unref (msg);
  gst_element_set_state (src, GST_STATE_NULL);
  gst_element_set_bus (src, NULL);
  gst_object_unref (bus);
  gst_object_unref (src);
  return ok;
}

/* The URI goes in as a property, not in the launch line: it may hold a
 * password (the property takes it out) and characters the launch syntax
 * would read. */
static void
on_media_configure (GstRTSPMediaFactory * factory, GstRTSPMedia * media,
    gpointer uri)
{
  GstElement *bin = gst_rtsp_media_get_element (media);
  GstElement *src = gst_bin_get_by_name (GST_BIN (bin), "s");

  g_object_set (src, "uri", uri, NULL);
  gst_object_unref (src);
  gst_object_unref (bin);
  /* shared: once for all the viewers at a time */
  g_print ("pipeline started\n");
}

static void
free_uri (gpointer uri, GClosure * closure)
{
  g_free (uri);
}

int
main (int argc, char **argv)
{
  gint port = 8554;
  gchar *mount = NULL, *encoder_name = NULL, *address = NULL;
  GOptionEntry entries[] = {
    {"port", 'p', 0, G_OPTION_ARG_INT, &port,
        "RTSP port (default 8554; 0: a free one)", "N"},
    {"mount", 'm', 0, G_OPTION_ARG_STRING, &mount,
        "Path of the stream (default /spice)", "PATH"},
    {"encoder", 'e', 0, G_OPTION_ARG_STRING, &encoder_name,
        "H.264 encoder: auto (default: nvh264 or vah264 when registered, "
          "else x264), x264, nvh264, vah264", "NAME"},
    {"address", 'a', 0, G_OPTION_ARG_STRING, &address,
        "Address to listen on (default 127.0.0.1)", "ADDR"},
    {NULL}
  };
  GOptionContext *ctx;
  GError *err = NULL;
  const Encoder *encoder;
  GstRTSPServer *server;
  GstRTSPMountPoints *mounts;
  GstRTSPMediaFactory *factory;
  GMainLoop *loop;
  gchar *launch, *service;
  const gchar *uri;

  ctx = g_option_context_new ("SPICE_URI - serve a SPICE server's display "
      "and sound over RTSP");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  if (!g_option_context_parse (ctx, &argc, &argv, &err)) {
    g_printerr ("error: %s\n", err->message);
    return 2;
  }
  g_option_context_free (ctx);
  if (argc != 2) {
    g_printerr ("usage: %s SPICE_URI [--port N] [--mount PATH] "
        "[--encoder auto|x264|nvh264|vah264] [--address ADDR]\n", argv[0]);
    return 2;
  }
  uri = argv[1];
  if (port < 0 || port > 65535) {
    g_printerr ("error: --port %d is not a port (0 to 65535)\n", port);
    return 2;
  }
  if (!mount)
    mount = g_strdup ("/spice");
  if (mount[0] != '/') {
    gchar *m = g_strconcat ("/", mount, NULL);
    g_free (mount);
    mount = m;
  }
  if (!encoder_name)
    encoder_name = g_strdup ("auto");
  if (!address)
    address = g_strdup ("127.0.0.1");

  encoder = pick_encoder (encoder_name);
  if (!encoder) {
    g_printerr ("error: no H.264 encoder '%s' (auto, x264, nvh264, "
        "vah264)%s\n", encoder_name, g_str_equal (encoder_name, "auto") ?
        ": x264enc is missing too (gstreamer1.0-plugins-ugly)" : "");
    return 1;
  }
  if (!encoder_available (encoder)) {
    g_printerr ("error: encoder %s needs %s, which GStreamer does not have "
        "here (no such device, or the plugin is missing)\n", encoder->name,
        registered (encoder->element) ? encoder->helper : encoder->element);
    return 1;
  }

  if (!check_uri (uri))
    return 1;

  /* pay0 and pay1: the streams rtsp-media looks for by name */
  launch = g_strdup_printf ("( spicesrc name=s "
      "s.video ! queue ! %s ! "
      "rtph264pay name=pay0 pt=96 config-interval=-1 "
      "s.audio ! queue ! audioconvert ! audioresample ! opusenc ! "
      "rtpopuspay name=pay1 pt=97 )", encoder->video);

  server = gst_rtsp_server_new ();
  service = g_strdup_printf ("%d", port);
  gst_rtsp_server_set_address (server, address);
  gst_rtsp_server_set_service (server, service);
  g_free (service);
  factory = gst_rtsp_media_factory_new ();
  gst_rtsp_media_factory_set_launch (factory, launch);
  /* one pipeline (one SPICE connection) for every viewer */
  gst_rtsp_media_factory_set_shared (factory, TRUE);
  g_signal_connect_data (factory, "media-configure",
      G_CALLBACK (on_media_configure), g_strdup (uri), free_uri, 0);
  mounts = gst_rtsp_server_get_mount_points (server);
  gst_rtsp_mount_points_add_factory (mounts, mount, factory);
  g_object_unref (mounts);

  loop = g_main_loop_new (NULL, FALSE);
  if (gst_rtsp_server_attach (server, NULL) == 0) {
    g_printerr ("error: cannot listen on %s:%d\n", address, port);
    return 1;
  }
  g_print (strchr (address, ':') ? "serving rtsp://[%s]:%d%s" :
      "serving rtsp://%s:%d%s", address,
      gst_rtsp_server_get_bound_port (server), mount);
  g_print (" (video: H.264 4:2:0 from %s, audio: Opus)\n", encoder->element);
  g_main_loop_run (loop);

  g_main_loop_unref (loop);
  g_object_unref (server);
  g_free (launch);
  g_free (mount);
  g_free (encoder_name);
  g_free (address);
  return 0;
}
