/* spice-appsink: an application's view of spicesrc.
 *
 * Builds "spicesrc uri=URI ! videoconvert ! video/x-raw,format=RGBA !
 * appsink" with gst_parse_launch(), runs the default GMainLoop (as most
 * GLib applications do), takes N frames from appsink's new-sample signal
 * and prints what it got.  Exits non-zero on an error or if no frame comes
 * within 10 s.
 *
 *   spice-appsink spice://127.0.0.1:5900 [N]
 */
#include <gst/gst.h>
#include <gst/app/gstappsink.h>
#include <gst/video/video.h>
#include <stdlib.h>

typedef struct
{
  GMainLoop *loop;
  guint wanted, got;
  gint status;
} App;

static GstFlowReturn
on_sample (GstAppSink * sink, gpointer data)
{
  App *app = data;
  GstSample *sample = gst_app_sink_pull_sample (sink);
  GstVideoInfo info;

  if (gst_video_info_from_caps (&info, gst_sample_get_caps (sample)) &&
      app->got == 0)
    g_print ("first frame: %dx%d %s, pts %" GST_TIME_FORMAT "\n",
        GST_VIDEO_INFO_WIDTH (&info), GST_VIDEO_INFO_HEIGHT (&info),
        GST_VIDEO_INFO_NAME (&info),
        GST_TIME_ARGS (GST_BUFFER_PTS (gst_sample_get_buffer (sample))));
  gst_sample_unref (sample);
  if (++app->got == app->wanted) {
    app->status = 0;
    g_main_loop_quit (app->loop);
  }
  return GST_FLOW_OK;
}

static gboolean
on_bus (GstBus * bus, GstMessage * msg, gpointer data)
{
  App *app = data;

  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    GError *err;
    gchar *dbg;

    gst_message_parse_error (msg, &err, &dbg);
    g_printerr ("error: %s\n(%s)\n", err->message, dbg);
    g_error_free (err);
    g_free (dbg);
    g_main_loop_quit (app->loop);
  }
  return G_SOURCE_CONTINUE;
}

static gboolean
on_timeout (gpointer data)
{
  App *app = data;

  g_printerr ("error: only %u of %u frames within 10 s\n", app->got,
      app->wanted);
  g_main_loop_quit (app->loop);
  return G_SOURCE_REMOVE;
}

int
main (int argc, char **argv)
{
  App app = { NULL, 30, 0, 1 };
  GstAppSinkCallbacks callbacks = { NULL, NULL, on_sample, };
  GstElement *pipeline, *sink;
  GError *err = NULL;
  gchar *desc;
  GstBus *bus;
  guint watch;

  gst_init (&argc, &argv);
  if (argc < 2) {
    g_printerr ("usage: %s spice://HOST:PORT [frames]\n", argv[0]);
    return 2;
  }
  if (argc > 2)
    app.wanted = MAX (1, atoi (argv[2]));

  desc = g_strdup_printf ("spicesrc uri=%s ! videoconvert ! "
      "video/x-raw,format=RGBA ! appsink name=sink max-buffers=2 drop=true",
      argv[1]);
  pipeline = gst_parse_launch (desc, &err);
  g_free (desc);
  if (!pipeline) {
    g_printerr ("error: %s\n", err->message);
    return 1;
  }
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  gst_app_sink_set_callbacks (GST_APP_SINK (sink), &callbacks, &app, NULL);
  gst_object_unref (sink);

  app.loop = g_main_loop_new (NULL, FALSE);
  bus = gst_element_get_bus (pipeline);
  watch = gst_bus_add_watch (bus, on_bus, &app);
  g_timeout_add_seconds (10, on_timeout, &app);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  g_main_loop_run (app.loop);

  gst_element_set_state (pipeline, GST_STATE_NULL);
  g_print ("%u frames\n", app.got);
  g_source_remove (watch);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  g_main_loop_unref (app.loop);
  return app.status;
}
