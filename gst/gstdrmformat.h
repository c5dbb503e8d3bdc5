/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
#pragma once

#include <gst/video/video.h>

G_BEGIN_DECLS

/* GStreamer 1.22 has no DRM fourcc <-> GstVideoFormat mapping (1.24 has
 * gst_video_dma_drm_fourcc_to_format): this table is the project's one
 * copy.  Single-plane 32-bit RGB formats, little-endian host. */

GstVideoFormat gst_spice_drm_fourcc_to_video_format (guint32 fourcc);
guint32        gst_spice_video_format_to_drm_fourcc (GstVideoFormat format);

/* "XR24, AR24, XB24, AB24": for error messages */
const gchar *  gst_spice_drm_fourcc_supported (void);

G_END_DECLS
