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

#include "gstdrmformat.h"

/* DRM fourccs name the packed 32-bit value, least significant byte
 * first in memory on a little-endian host: XRGB8888 is the bytes B, G, R, X,
 * which GStreamer calls BGRx. */
static const struct
{
  guint32 fourcc;
  GstVideoFormat format;
} table[] = {
  {GST_MAKE_FOURCC ('X', 'R', '2', '4'), GST_VIDEO_FORMAT_BGRx},
  {GST_MAKE_FOURCC ('A', 'R', '2', '4'), GST_VIDEO_FORMAT_BGRA},
  {GST_MAKE_FOURCC ('X', 'B', '2', '4'), GST_VIDEO_FORMAT_RGBx},
  {GST_MAKE_FOURCC ('A', 'B', '2', '4'), GST_VIDEO_FORMAT_RGBA},
};

GstVideoFormat
gst_spice_drm_fourcc_to_video_format (guint32 fourcc)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (table); i++)
    if (table[i].fourcc == fourcc)
      return table[i].format;
  return GST_VIDEO_FORMAT_UNKNOWN;
}

guint32
gst_spice_video_format_to_drm_fourcc (GstVideoFormat format)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (table); i++)
    if (table[i].format == format)
      return table[i].fourcc;
  return 0;
}

const gchar *
gst_spice_drm_fourcc_supported (void)
{
  return "XR24, AR24, XB24, AB24";
}
