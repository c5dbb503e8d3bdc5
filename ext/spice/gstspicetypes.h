/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
#ifndef __GST_SPICE_TYPES_H__
#define __GST_SPICE_TYPES_H__

#include <gst/gst.h>
#include <gst/video/video.h>

#include "gstspiceuri.h"

G_BEGIN_DECLS

/* What the plugin's session (gstspicesession.h) and the client helper's
 * engine (client/gstspiceengine.h) have in common: connection states, the
 * cursor, and the listener callbacks of sound and ports. */

typedef enum
{
  GST_SPICE_SESSION_CONNECTED,  /* main channel linked and authorised */
  GST_SPICE_SESSION_LOST,       /* connection lost; reconnecting */
  GST_SPICE_SESSION_RECONNECTED,        /* back after LOST */
  GST_SPICE_SESSION_FAILED,     /* fatal: see the error */
} GstSpiceSessionState;

typedef struct
{
  gboolean visible;
  gint x, y;                    /* hot spot position on the surface */
  guint width, height;
  guint hot_x, hot_y;
  GBytes *rgba;                 /* width * height * 4, R G B A, straight alpha */
} GstSpiceCursor;

/**
 * GstSpiceSessionFeatures:
 * @GST_SPICE_SESSION_FEATURE_AUDIO: open the playback and record channels
 *
 * What a user of the session needs besides the display.  The first
 * connection is made with the features of the users that acquired the
 * session before it; a feature asked for later takes effect at the next
 * (re)connection.
 */
typedef enum
{
  GST_SPICE_SESSION_FEATURE_NONE = 0,
  GST_SPICE_SESSION_FEATURE_AUDIO = 1 << 0,
} GstSpiceSessionFeatures;

typedef void (*GstSpiceStateFunc) (gpointer user_data,
    GstSpiceSessionState state, const GError * error, const gchar * debug);

/**
 * GstSpicePlaybackCallbacks:
 *
 * The guest's sound (playback channel), in the spice thread like the
 * display callbacks.  @playback_start comes again for a late listener when
 * the guest is already playing.  Samples are S16 interleaved (Opus is
 * decoded already); @data is valid during the call only.  @playback_delay
 * is asked for the listener's output latency in ms (the session answers
 * the server with the largest).
 */
typedef struct
{
  void (*playback_start) (gpointer user_data, guint channels, guint rate);
  void (*playback_data) (gpointer user_data, const guint8 * data, gsize size);
  void (*playback_stop) (gpointer user_data);
  guint (*playback_delay) (gpointer user_data);
  GstSpiceStateFunc state;
} GstSpicePlaybackCallbacks;

/**
 * GstSpiceRecordCallbacks:
 *
 * The guest's microphone (record channel): @record_start says the guest
 * records and in which format it wants S16 interleaved samples; send them
 * with gst_spice_session_record_write() until @record_stop.
 */
typedef struct
{
  void (*record_start) (gpointer user_data, guint channels, guint rate);
  void (*record_stop) (gpointer user_data);
  GstSpiceStateFunc state;
} GstSpiceRecordCallbacks;

/**
 * GstSpicePortCallbacks:
 *
 * A named SPICE port (a guest's virtio serial port on a `spiceport`
 * chardev), in the spice thread.  @port_opened says whether the guest side
 * has the port open; it comes once the port is known (and again on every
 * change; a port that does not exist is never reported).  @port_data is
 * what the guest wrote, valid during the call only.
 */
typedef struct
{
  void (*port_opened) (gpointer user_data, gboolean opened);
  void (*port_data) (gpointer user_data, const guint8 * data, gsize size);
  GstSpiceStateFunc state;
} GstSpicePortCallbacks;

/* called in the spice thread once a write is on the socket, or failed */
typedef void (*GstSpicePortWriteDone) (gpointer user_data,
    const GError * error);

typedef enum
{
  GST_SPICE_MOUSE_MODE_SERVER = 1,      /* relative motion */
  GST_SPICE_MOUSE_MODE_CLIENT = 2,      /* absolute positions */
} GstSpiceMouseMode;

/**
 * GstSpiceDisplayCallbacks:
 *
 * All are invoked in the spice thread, never with a session lock held.
 * The primary surface lives in the helper: @surface names it for
 * gst_spice_session_copy(), which copies from it into a frame buffer of
 * the allocator gst_spice_session_get_allocator() gives.
 */
typedef struct
{
  void (*primary_create) (gpointer user_data, GstVideoFormat format,
      gint spice_format, guint width, guint height, guint stride,
      guint surface);
  void (*primary_destroy) (gpointer user_data);
  void (*invalidate) (gpointer user_data, gint x, gint y, gint w, gint h);
  void (*cursor) (gpointer user_data, const GstSpiceCursor * cursor);
  /* @error: NULL unless FAILED or LOST; code in GST_RESOURCE_ERROR,
   * message for users, @debug for the technical details */
  GstSpiceStateFunc state;
  /* A GL display (QEMU gl=on): a new scanout, @fd valid during the call
   * only (dup it), @fourcc a DRM fourcc.  NULL: the listener cannot take
   * GL displays (an error is reported instead). */
  void (*gl_scanout) (gpointer user_data, gint fd, guint width, guint height,
      guint stride, guint32 fourcc, gboolean y0top);
  /* A draw of the scanout.  Return 0 when done with it (the content may
   * change once the callback returned), or a deadline in ms to hold it:
   * the server hears the draw is done once every holder called
   * gst_spice_session_gl_draw_done() with @seq, or at the deadline.
   * @seq 0: a replay of the current scanout for a new listener, nothing
   * to answer (the return value is ignored). */
  guint (*gl_draw) (gpointer user_data, guint x, guint y, guint w, guint h,
      guint64 seq);
  /* Optional: draw @seq was still held at its deadline and has been
   * acknowledged anyway. */
  void (*gl_draw_late) (gpointer user_data, guint64 seq);
} GstSpiceDisplayCallbacks;

/**
 * GstSpiceEngineDisplayCallbacks:
 *
 * All are invoked in the thread that dispatches the default main context,
 * never with a session lock held.  @data of primary_create stays valid and
 * is written only by that thread until primary_destroy or the next
 * primary_create, so reading it inside these callbacks is race-free.
 */
typedef struct
{
  void (*primary_create) (gpointer user_data, GstVideoFormat format,
      gint spice_format, guint width, guint height, guint stride,
      const guint8 * data);
  void (*primary_destroy) (gpointer user_data);
  void (*invalidate) (gpointer user_data, gint x, gint y, gint w, gint h);
  void (*cursor) (gpointer user_data, const GstSpiceCursor * cursor);
  /* @error: NULL unless FAILED or LOST; code in GST_RESOURCE_ERROR,
   * message for users, @debug for the technical details */
  GstSpiceStateFunc state;
  /* A GL display (QEMU gl=on): a new scanout, @fd valid during the call
   * only (dup it), @fourcc a DRM fourcc.  NULL: the listener cannot take
   * GL displays (an error is reported instead). */
  void (*gl_scanout) (gpointer user_data, gint fd, guint width, guint height,
      guint stride, guint32 fourcc, gboolean y0top);
  /* A draw of the scanout.  Return 0 when done with it (the content may
   * change once the callback returned), or a deadline in ms to hold it:
   * the server hears the draw is done once every holder called
   * gst_spice_engine_gl_draw_done() with @seq, or at the deadline.
   * @seq 0: a replay of the current scanout for a new listener, nothing
   * to answer (the return value is ignored). */
  guint (*gl_draw) (gpointer user_data, guint x, guint y, guint w, guint h,
      guint64 seq);
  /* Optional: draw @seq was still held at its deadline and has been
   * acknowledged anyway. */
  void (*gl_draw_late) (gpointer user_data, guint64 seq);
} GstSpiceEngineDisplayCallbacks;

G_END_DECLS

#endif /* __GST_SPICE_TYPES_H__ */
