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
#include <gst/allocators/gstdmabuf.h>

G_BEGIN_DECLS

/* The formats of GL scanouts: single-plane 32-bit RGB, little-endian host.
 * GStreamer 1.22 has no DRM fourcc <-> GstVideoFormat mapping (1.24 has
 * gst_video_dma_drm_fourcc_to_format, which agrees with this table where
 * both know a format: checked by the tests); the table also says which
 * formats the elements take. */

GstVideoFormat gst_spice_drm_fourcc_to_video_format (guint32 fourcc);
guint32        gst_spice_video_format_to_drm_fourcc (GstVideoFormat format);

/* "XR24, AR24, XB24, AB24": for error messages */
const gchar *  gst_spice_drm_fourcc_supported (void);

/* DRM format modifiers (drm_fourcc.h, which gst/ does not need) */
#define GST_SPICE_DRM_MOD_LINEAR  G_GUINT64_CONSTANT (0)
#define GST_SPICE_DRM_MOD_INVALID G_GUINT64_CONSTANT (0x00ffffffffffffff)

/* DMA-BUF caps.  GStreamer >= 1.24 describes DMA-BUFs as
 * `video/x-raw(memory:DMABuf), format=DMA_DRM, drm-format=XR24[:0x<mod>]`
 * (GstVideoInfoDmaDrm), and its elements (glupload, vapostproc,
 * waylandsink, the va encoders) negotiate only that form; 1.22 has
 * `video/x-raw(memory:DMABuf), format=BGRx` and no modifier.  These
 * helpers write and read the form of the GStreamer the code is built
 * against, so the elements have one code path for both. */

/* The scanout formats (GST_SPICE_RGB_FORMATS) as DMA-BUF caps fields for
 * pad templates, after the media type and features: DMA_DRM and the
 * linear drm-formats on >= 1.24, the four formats on 1.22. */
#define GST_SPICE_RGB_FORMATS "{ BGRx, BGRA, RGBx, RGBA }"
#if GST_CHECK_VERSION (1, 24, 0)
#define GST_SPICE_DMABUF_CAPS_MAKE \
    GST_VIDEO_DMA_DRM_CAPS_MAKE ", drm-format = (string) { XR24, AR24, XB24, AB24 }"
#else
#define GST_SPICE_DMABUF_CAPS_MAKE \
    GST_VIDEO_CAPS_MAKE_WITH_FEATURES ("memory:DMABuf", GST_SPICE_RGB_FORMATS)
#endif

/* A video/x-raw(memory:DMABuf) structure for a frame of @format with
 * @modifier (ignored on 1.22, which cannot say it), without size or
 * framerate: the caller adds those.  NULL for a format not in the
 * table. */
GstCaps *      gst_spice_dmabuf_caps_new (GstVideoFormat format,
                                          guint64 modifier);

/* Rewrites the `format` field of each memory:DMABuf structure of @s (one
 * format or a list of the table's formats) into this GStreamer's DMA-BUF
 * form, linear; returns FALSE when no format of the table is left.  For
 * caps transformations (what a DMA-BUF consumer takes upstream). */
gboolean       gst_spice_dmabuf_structure_set_formats (GstStructure * s,
                                          const GValue * formats);

/* Parses raw video caps of either form (system memory too): @info gets the
 * format of the table and the default layout of the size (for linear
 * DMA-BUFs that is their layout unless a GstVideoMeta says otherwise);
 * @fourcc and @modifier (may be NULL) what the caps say, or for 1.22
 * DMA-BUF caps and system memory the fourcc of the format and
 * GST_SPICE_DRM_MOD_INVALID.  FALSE for a format outside the table in
 * DMA-BUF caps, or caps that do not parse. */
gboolean       gst_spice_video_info_from_caps (GstVideoInfo * info,
                                          guint32 * fourcc,
                                          guint64 * modifier,
                                          const GstCaps * caps);

/* Whether @caps (fixed) are DMA-BUF caps */
gboolean       gst_spice_caps_are_dmabuf (const GstCaps * caps);

G_END_DECLS
