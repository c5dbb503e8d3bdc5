/* spice-port-bridge: newline-delimited messages between stdin/stdout and a
 * guest's SPICE port, through spicedatasink and spicedatasrc.
 *
 *   spice-port-bridge spice://127.0.0.1:5900 org.example.control [LINGER-MS]
 *
 * Every line read on stdin goes into the guest's port (QEMU: -chardev
 * spiceport,id=p0,name=org.example.control -device
 * virtserialport,chardev=p0,name=org.example.control; the guest reads
 * /dev/virtio-ports/org.example.control); everything the guest writes into
 * it comes out on stdout.  At the end of stdin it waits until every byte is
 * written, then LINGER-MS more (default 1000) for replies, and exits 0.  It
 * exits when the guest closes the port too, and with 1 on an error.
 *
 * One process, one connection: both elements share it (a SPICE server
 * takes one client).  The pipeline:
 *
 *   fdsrc fd=0 ! spicedatasink uri=URI port-name=NAME
 *   spicedatasrc uri=URI port-name=NAME ! fdsink fd=1 async=false
 *
 * (async=false: a sink fed by a live source that may stay silent must not
 * hold the pipeline's way to PLAYING.)
 */
#include <stdlib.h>
#include <string.h>

#include <gst/gst.h>

/* The pipeline forwards its children's messages (message-forward): an EOS
 * from one sink is seen although the other still runs. */
static const gchar *
forwarded_eos (GstMessage * msg)
{
  const GstStructure *s = gst_message_get_structure (msg);
  GstMessage *inner = NULL;
  const gchar *name = NULL;

  if (GST_MESSAGE_TYPE (msg) != GST_MESSAGE_ELEMENT || !s ||
      !gst_structure_has_name (s, "GstBinForwarded"))
    return NULL;
  gst_structure_get (s, "message", GST_TYPE_MESSAGE, &inner, NULL);
  if (inner && GST_MESSAGE_TYPE (inner) == GST_MESSAGE_EOS)
    name = GST_OBJECT_NAME (GST_MESSAGE_SRC (inner));
  if (inner)
    gst_message_unref (inner);
  return name;
}

int
main (int argc, char **argv)
{
  GstElement *pipeline;
  GError *err = NULL;
  gchar *desc;
  gint64 linger_ms = 1000, deadline = -1;
  int status = 0;

  gst_init (&argc, &argv);
  if (argc < 3) {
    g_printerr ("usage: %s spice://HOST:PORT PORT-NAME [LINGER-MS]\n",
        argv[0]);
    return 2;
  }
  if (argc > 3)
    linger_ms = MAX (0, atoi (argv[3]));

  desc = g_strdup_printf ("fdsrc fd=0 ! spicedatasink name=out uri=%s "
      "port-name=%s spicedatasrc name=in uri=%s port-name=%s ! "
      "fdsink name=stdout fd=1 sync=false async=false", argv[1], argv[2], argv[1],
      argv[2]);
  pipeline = gst_parse_launch (desc, &err);
  g_free (desc);
  if (!pipeline) {
    g_printerr ("error: %s\n", err->message);
    return 1;
  }
  g_object_set (pipeline, "message-forward", TRUE, NULL);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);

  /* no main loop needed: the plugin runs spice-client-glib in a thread of
   * its own, and the bus is popped here */
  for (;;) {
    GstClockTime timeout = GST_CLOCK_TIME_NONE;
    GstMessage *msg;
    const gchar *eos;

    if (deadline >= 0) {
      gint64 left = deadline - g_get_monotonic_time ();
      if (left <= 0)
        break;
      timeout = left * GST_USECOND;
    }
    msg = gst_bus_timed_pop_filtered (GST_ELEMENT_BUS (pipeline), timeout,
        GST_MESSAGE_ERROR | GST_MESSAGE_EOS | GST_MESSAGE_ELEMENT);
    if (!msg)
      break;
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
      gchar *dbg;

      gst_message_parse_error (msg, &err, &dbg);
      g_printerr ("error: %s\n(%s)\n", err->message, dbg);
      g_clear_error (&err);
      g_free (dbg);
      status = 1;
      gst_message_unref (msg);
      break;
    }
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS) {
      gst_message_unref (msg);
      break;
    }
    eos = forwarded_eos (msg);
    if (eos && strcmp (eos, "out") == 0 && deadline < 0) {
      /* stdin ended and every byte is in the guest: wait for replies */
      deadline = g_get_monotonic_time () + linger_ms * 1000;
    } else if (eos && strcmp (eos, "stdout") == 0) {
      /* the guest closed the port */
      gst_message_unref (msg);
      break;
    }
    gst_message_unref (msg);
  }

  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
  return status;
}
