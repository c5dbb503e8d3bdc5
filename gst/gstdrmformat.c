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

GstCaps *
gst_spice_dmabuf_caps_new (GstVideoFormat format, guint64 modifier)
{
  GstCaps *caps;
#if GST_CHECK_VERSION (1, 24, 0)
  guint32 fourcc;
  gchar *drm_format;

  if (!gst_spice_video_format_to_drm_fourcc (format))
    return NULL;
  fourcc = gst_video_dma_drm_fourcc_from_format (format);
  drm_format = gst_video_dma_drm_fourcc_to_string (fourcc, modifier);
  caps = gst_caps_new_simple ("video/x-raw", "format", G_TYPE_STRING,
      gst_video_format_to_string (GST_VIDEO_FORMAT_DMA_DRM), "drm-format",
      G_TYPE_STRING, drm_format, NULL);
  g_free (drm_format);
#else
  if (!gst_spice_video_format_to_drm_fourcc (format))
    return NULL;
  caps = gst_caps_new_simple ("video/x-raw", "format", G_TYPE_STRING,
      gst_video_format_to_string (format), NULL);
#endif
  gst_caps_set_features_simple (caps,
      gst_caps_features_new (GST_CAPS_FEATURE_MEMORY_DMABUF, NULL));
  return caps;
}

static void
append_format (GValue * list, GstVideoFormat format)
{
  GValue v = G_VALUE_INIT;
#if GST_CHECK_VERSION (1, 24, 0)
  g_value_init (&v, G_TYPE_STRING);
  g_value_take_string (&v, gst_video_dma_drm_fourcc_to_string
      (gst_video_dma_drm_fourcc_from_format (format),
          GST_SPICE_DRM_MOD_LINEAR));
#else
  g_value_init (&v, G_TYPE_STRING);
  g_value_set_static_string (&v, gst_video_format_to_string (format));
#endif
  gst_value_list_append_and_take_value (list, &v);
}

gboolean
gst_spice_dmabuf_structure_set_formats (GstStructure * s,
    const GValue * formats)
{
  GValue list = G_VALUE_INIT;
  GstVideoFormat format;
  guint i, n;

  g_value_init (&list, GST_TYPE_LIST);
  if (G_VALUE_HOLDS_STRING (formats)) {
    format = gst_video_format_from_string (g_value_get_string (formats));
    if (gst_spice_video_format_to_drm_fourcc (format))
      append_format (&list, format);
  } else if (GST_VALUE_HOLDS_LIST (formats)) {
    n = gst_value_list_get_size (formats);
    for (i = 0; i < n; i++) {
      const GValue *v = gst_value_list_get_value (formats, i);

      if (!G_VALUE_HOLDS_STRING (v))
        continue;
      format = gst_video_format_from_string (g_value_get_string (v));
      if (gst_spice_video_format_to_drm_fourcc (format))
        append_format (&list, format);
    }
  }
  n = gst_value_list_get_size (&list);
  if (n == 0) {
    g_value_unset (&list);
    return FALSE;
  }
#if GST_CHECK_VERSION (1, 24, 0)
  gst_structure_set (s, "format", G_TYPE_STRING,
      gst_video_format_to_string (GST_VIDEO_FORMAT_DMA_DRM), NULL);
  if (n == 1)
    gst_structure_set_value (s, "drm-format", gst_value_list_get_value (&list,
            0));
  else
    gst_structure_set_value (s, "drm-format", &list);
#else
  if (n == 1)
    gst_structure_set_value (s, "format", gst_value_list_get_value (&list, 0));
  else
    gst_structure_set_value (s, "format", &list);
#endif
  g_value_unset (&list);
  return TRUE;
}

gboolean
gst_spice_caps_are_dmabuf (const GstCaps * caps)
{
  GstCapsFeatures *f;

  if (!caps || gst_caps_get_size (caps) == 0)
    return FALSE;
  f = gst_caps_get_features (caps, 0);
  return f && gst_caps_features_contains (f, GST_CAPS_FEATURE_MEMORY_DMABUF);
}

gboolean
gst_spice_video_info_from_caps (GstVideoInfo * info, guint32 * fourcc,
    guint64 * modifier, const GstCaps * caps)
{
  guint32 f;
  guint64 m = GST_SPICE_DRM_MOD_INVALID;

#if GST_CHECK_VERSION (1, 24, 0)
  if (gst_video_is_dma_drm_caps (caps)) {
    GstVideoInfoDmaDrm drm;
    GstVideoFormat format;

    if (!gst_video_info_dma_drm_from_caps (&drm, caps))
      return FALSE;
    format = gst_spice_drm_fourcc_to_video_format (drm.drm_fourcc);
    if (format == GST_VIDEO_FORMAT_UNKNOWN)
      return FALSE;
    /* the default layout of the size, as for linear DMA-BUFs (a video meta
     * describes any other); the rest of what the caps say */
    *info = drm.vinfo;
    if (!gst_video_info_set_interlaced_format (info, format,
            GST_VIDEO_INFO_INTERLACE_MODE (&drm.vinfo),
            GST_VIDEO_INFO_WIDTH (&drm.vinfo),
            GST_VIDEO_INFO_HEIGHT (&drm.vinfo)))
      return FALSE;
    info->fps_n = drm.vinfo.fps_n;
    info->fps_d = drm.vinfo.fps_d;
    info->par_n = drm.vinfo.par_n;
    info->par_d = drm.vinfo.par_d;
    if (fourcc)
      *fourcc = drm.drm_fourcc;
    if (modifier)
      *modifier = drm.drm_modifier;
    return TRUE;
  }
#endif
  if (!gst_video_info_from_caps (info, caps))
    return FALSE;
  f = gst_spice_video_format_to_drm_fourcc (GST_VIDEO_INFO_FORMAT (info));
  if (!f && gst_spice_caps_are_dmabuf (caps))
    return FALSE;
  if (fourcc)
    *fourcc = f;
  if (modifier)
    *modifier = m;
  return TRUE;
}
