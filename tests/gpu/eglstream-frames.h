/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
/* The frames eglstream-producer draws and the tests check: frame k is
 * two solid halves whose colours encode k (distinct for k < 256), and
 * distinct from each other, so a frame that is late, repeated, upside
 * down or has swapped channels shows. */
#pragma once

#include <glib.h>

/* DRM_FORMAT_ABGR8888 ('AB24'): RGBA bytes in memory */
#define FRAMES_FOURCC_AB24 0x34324241

static inline void
frames_top_colour (gint k, guint8 rgb[3])
{
  rgb[0] = (k * 37 + 11) & 0xff;
  rgb[1] = 0xf0 - (k & 0x7f);
  rgb[2] = 0x20;
}

static inline void
frames_bottom_colour (gint k, guint8 rgb[3])
{
  rgb[0] = 0x30;
  rgb[1] = (k * 11 + 5) & 0xff;
  rgb[2] = 0xd0 - (k & 0x7f);
}

/* Which frame has @top as its upper half; -1 if none (k < 256). */
static inline gint
frames_number_of (const guint8 top[3])
{
  gint k;

  for (k = 0; k < 256; k++) {
    guint8 c[3];

    frames_top_colour (k, c);
    if (c[0] == top[0] && c[1] == top[1] && c[2] == top[2])
      return k;
  }
  return -1;
}
