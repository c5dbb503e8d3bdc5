/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
#ifndef __GST_SPICE_VIDEO_SRC_H__
#define __GST_SPICE_VIDEO_SRC_H__

#include <gst/gst.h>
#include <gst/base/gstpushsrc.h>
#include <gst/video/video.h>

#include "gstspiceconnection.h"
#include "gstdrmformat.h"

G_BEGIN_DECLS

#define GST_TYPE_SPICE_VIDEO_SRC (gst_spice_video_src_get_type ())
G_DECLARE_FINAL_TYPE (GstSpiceVideoSrc, gst_spice_video_src, GST,
    SPICE_VIDEO_SRC, GstPushSrc)

/* What frames in system memory can be: the 2D surface's 32-bit formats
 * (xRGB and ARGB in SPICE's words: BGRx/BGRA bytes on little-endian
 * hosts), its 16-bit ones, and a GL scanout's four, copied */
#if G_BYTE_ORDER == G_LITTLE_ENDIAN
#define GST_SPICE_SURFACE_FORMATS "{ BGRx, BGRA, RGBx, RGBA, RGB16, RGB15 }"
#else
#define GST_SPICE_SURFACE_FORMATS \
  "{ xRGB, ARGB, BGRx, BGRA, RGBx, RGBA, RGB16, RGB15 }"
#endif

/* GL scanouts go out as DMA-BUFs when downstream takes them (GStreamer
 * >= 1.24: format=DMA_DRM with drm-format XR24, AR24, XB24 or AB24; 1.22:
 * format BGRx, BGRA, RGBx or RGBA), EGLStream scanouts as
 * memory:EGLStream (the 2D surface only in system memory); shared with
 * spicesrc's video pad */
#define GST_SPICE_VIDEO_SRC_CAPS \
  GST_SPICE_DMABUF_CAPS_MAKE "; " \
  GST_VIDEO_CAPS_MAKE_WITH_FEATURES ("memory:EGLStream", \
      GST_SPICE_RGB_FORMATS) "; " \
  GST_VIDEO_CAPS_MAKE (GST_SPICE_SURFACE_FORMATS)

/* Property ids shared with spicesrc, which forwards them */
/* after the connection properties (gstspiceconnection.h) */
enum
{
  GST_SPICE_VIDEO_SRC_PROP_CHANNEL_ID = GST_SPICE_PROP_CONNECTION_LAST,
  GST_SPICE_VIDEO_SRC_PROP_SHOW_CURSOR,
  GST_SPICE_VIDEO_SRC_PROP_REPEAT_INTERVAL,
  GST_SPICE_VIDEO_SRC_PROP_STATS,
  GST_SPICE_VIDEO_SRC_PROP_DRAW_DONE_TIMEOUT,
  GST_SPICE_VIDEO_SRC_PROP_SCANOUT_TYPE,
  GST_SPICE_VIDEO_SRC_PROP_LAST
};

typedef enum
{
  GST_SPICE_SCANOUT_TYPE_AUTO,
  GST_SPICE_SCANOUT_TYPE_DMABUF,
  GST_SPICE_SCANOUT_TYPE_EGLSTREAM,
} GstSpiceScanoutType;

#define GST_TYPE_SPICE_SCANOUT_TYPE (gst_spice_scanout_type_get_type ())
GType gst_spice_scanout_type_get_type (void);

/* installs the connection properties and the video ones */
void gst_spice_video_src_install_properties (GObjectClass * klass);
/* the session is acquired with these (spicesrc adds audio) */
void gst_spice_video_src_set_session_features (GstSpiceVideoSrc * self,
    GstSpiceSessionFeatures features);

GST_ELEMENT_REGISTER_DECLARE (spicevideosrc);

G_END_DECLS

#endif /* __GST_SPICE_VIDEO_SRC_H__ */
