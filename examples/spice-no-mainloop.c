/* spice-no-mainloop: spicesrc in an application that never runs a main
 * loop, as many embedding applications and services do: it only pops its
 * bus.  spicesrc then runs spice-client-glib in its own thread.
 *
 * Plays "spicesrc ! videoconvert ! fakesink" for SECONDS, counting the
 * frames with a pad probe, and fails on an error or when no frame came.
 *
 *   spice-no-mainloop spice://127.0.0.1:5900 [SECONDS]
 */
#include <gst/gst.h>
#include <stdlib.h>

static GstPadProbeReturn
count_frames (GstPad * pad, GstPadProbeInfo * info, gpointer data)
{
  g_atomic_int_inc ((gint *) data);
  return GST_PAD_PROBE_OK;
}

int
main (int argc, char **argv)
{
  GstElement *pipeline, *sink;
  GstPad *pad;
  GstMessage *msg;
  GError *err = NULL;
  gint frames = 0, seconds = 2;
  gchar *desc;
  int status = 0;

  gst_init (&argc, &argv);
  if (argc < 2) {
    g_printerr ("usage: %s spice://HOST:PORT [seconds]\n", argv[0]);
    return 2;
  }
  if (argc > 2)
    seconds = MAX (1, atoi (argv[2]));

  desc = g_strdup_printf ("spicesrc uri=%s ! videoconvert ! "
      "fakesink name=sink", argv[1]);
  pipeline = gst_parse_launch (desc, &err);
  g_free (desc);
  if (!pipeline) {
    g_printerr ("error: %s\n", err->message);
    return 1;
  }
  /* spicesrc's pads appear in PAUSED; the sink's is there from the start */
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  pad = gst_element_get_static_pad (sink, "sink");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, count_frames, &frames,
      NULL);
  gst_object_unref (pad);
  gst_object_unref (sink);

  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  msg = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (pipeline),
      seconds * GST_SECOND, GST_MESSAGE_ERROR | GST_MESSAGE_EOS);
  if (msg && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    gchar *dbg;

    gst_message_parse_error (msg, &err, &dbg);
    g_printerr ("error: %s\n(%s)\n", err->message, dbg);
    g_clear_error (&err);
    g_free (dbg);
    status = 1;
  }
  if (msg)
    gst_message_unref (msg);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);

  g_print ("%d frames in %d s without a main loop\n",
      g_atomic_int_get (&frames), seconds);
  if (g_atomic_int_get (&frames) == 0)
    status = 1;
  return status;
}
