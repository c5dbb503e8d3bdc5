/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gstspicevideosrcpriv.h"

#define GST_CAT_DEFAULT gst_spice_video_src_debug

/* spicevideosrc's navigation events: keys, pointer and buttons from a
 * video sink's window into the guest. */

/* ---------------------------------------------------------------------- */
/* Input: navigation events from downstream into the guest               */

/* A position in the negotiated caps to the surface (they differ only
 * between a guest resize and the new caps). */
static void
to_surface (GstSpiceVideoSrc * self, gdouble x, gdouble y, gint * sx, gint * sy)
{
  guint cw, ch, w, h;

  g_mutex_lock (&self->lock);
  cw = GST_VIDEO_INFO_WIDTH (&self->st.pool_info);
  ch = GST_VIDEO_INFO_HEIGHT (&self->st.pool_info);
  w = self->st.width;
  h = self->st.height;
  g_mutex_unlock (&self->lock);
  if (cw > 0 && ch > 0 && w > 0 && h > 0) {
    x = x * w / cw;
    y = y * h / ch;
    *sx = CLAMP ((gint) (x + 0.5), 0, (gint) w - 1);
    *sy = CLAMP ((gint) (y + 0.5), 0, (gint) h - 1);
  } else {
    *sx = MAX ((gint) (x + 0.5), 0);
    *sy = MAX ((gint) (y + 0.5), 0);
  }
}

/* GStreamer/X11 buttons 1..5 are SPICE's; X11 8 and 9 are side/extra */
static gint
spice_button (gint button)
{
  if (button >= 1 && button <= 5)
    return button;
  if (button == 8)
    return 6;
  if (button == 9)
    return 7;
  return 0;
}

/* The caller holds the object lock (the session stays while it is held)
 * and made sure there is a session. */
gboolean
gst_spice_video_src_navigate_locked (GstSpiceVideoSrc * self,
    GstSpiceSession * session, GstEvent * event)
{
  gint channel = self->active.channel_id;
  gdouble x, y, dx, dy;
  gint sx, sy, button;
  const gchar *key;
  guint code;

  switch (gst_navigation_event_get_type (event)) {
    case GST_NAVIGATION_EVENT_MOUSE_MOVE:
      if (!gst_navigation_event_parse_mouse_move_event (event, &x, &y))
        return FALSE;
      to_surface (self, x, y, &sx, &sy);
      gst_spice_session_send_pointer (session, channel, sx, sy);
      return TRUE;
    case GST_NAVIGATION_EVENT_MOUSE_BUTTON_PRESS:
    case GST_NAVIGATION_EVENT_MOUSE_BUTTON_RELEASE:
      if (!gst_navigation_event_parse_mouse_button_event (event, &button, &x,
              &y))
        return FALSE;
      to_surface (self, x, y, &sx, &sy);
      gst_spice_session_send_pointer (session, channel, sx, sy);
      if (spice_button (button))
        gst_spice_session_send_button (session, channel,
            spice_button (button), gst_navigation_event_get_type (event) ==
            GST_NAVIGATION_EVENT_MOUSE_BUTTON_PRESS);
      return TRUE;
    case GST_NAVIGATION_EVENT_MOUSE_SCROLL:{
      gint notches, i;

      if (!gst_navigation_event_parse_mouse_scroll_event (event, &x, &y, &dx,
              &dy))
        return FALSE;
      to_surface (self, x, y, &sx, &sy);
      gst_spice_session_send_pointer (session, channel, sx, sy);
      /* one press and release of the wheel "button" per notch; dy > 0 is
       * up in GStreamer's convention (as GDK's smooth deltas, inverted) */
      notches = (gint) (ABS (dy) + 0.5);
      if (notches == 0 && dy != 0)
        notches = 1;
      for (i = 0; i < notches; i++) {
        gint b = dy > 0 ? 4 : 5;
        gst_spice_session_send_button (session, channel, b, TRUE);
        gst_spice_session_send_button (session, channel, b, FALSE);
      }
      return TRUE;
    }
    case GST_NAVIGATION_EVENT_KEY_PRESS:
    case GST_NAVIGATION_EVENT_KEY_RELEASE:
      if (!gst_navigation_event_parse_key_event (event, &key))
        return FALSE;
      code = gst_spice_keymap_lookup (key);
      if (!code) {
        g_mutex_lock (&self->lock);
        if (!self->st.unknown_keys)
          self->st.unknown_keys = g_hash_table_new_full (g_str_hash,
              g_str_equal, g_free, NULL);
        if (g_hash_table_add (self->st.unknown_keys, g_strdup (key)))
          GST_WARNING_OBJECT (self, "key '%s' has no PC scancode here: "
              "dropped (logged once)", key);
        g_mutex_unlock (&self->lock);
        return FALSE;
      }
      gst_spice_session_send_key (session, code,
          gst_navigation_event_get_type (event) ==
          GST_NAVIGATION_EVENT_KEY_PRESS);
      return TRUE;
    default:
      return FALSE;
  }
}
