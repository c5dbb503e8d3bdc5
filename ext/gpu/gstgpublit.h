/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
/* The GL output side shared by the spicegpu elements: one GPU draw of a
 * source texture into a GstGLBufferPool texture (RGBA, 2D: GLMemoryPBO in
 * a desktop GL 3 context, what nvh264enc takes), the pool, and the caps
 * mapping between an input memory feature and that output. */
#pragma once

#include <gst/gl/gl.h>

G_BEGIN_DECLS

#define GST_GPU_BLIT_RGB_FORMATS "{ BGRx, BGRA, RGBx, RGBA }"
#define GST_GPU_BLIT_SRC_CAPS \
    GST_VIDEO_CAPS_MAKE_WITH_FEATURES (GST_CAPS_FEATURE_MEMORY_GL_MEMORY, \
        "RGBA") ", texture-target=2D"

typedef struct _GstGpuBlit GstGpuBlit;

typedef struct
{
  gboolean flip;                /* turn the image upside down */
  gboolean swap_rb;             /* source holds BGR* bytes sampled as RGBA */
  gboolean opaque;              /* force alpha to 1 (x formats) */
} GstGpuBlitParams;

/* GL thread.  @source_target: GST_GL_TEXTURE_TARGET_2D or
 * GST_GL_TEXTURE_TARGET_EXTERNAL_OES (needs GL_OES_EGL_image_external or
 * GL_NV_EGL_stream_consumer_external). */
GstGpuBlit * gst_gpu_blit_new      (GstGLContext * context,
                                    GstGLTextureTarget source_target,
                                    GError ** error);
void         gst_gpu_blit_free     (GstGpuBlit * blit);

/* GL thread: draws @tex into @outbuf's GL memory and sets a sync point on
 * its GstGLSyncMeta; with @wait_cpu, returns once the GPU has read @tex.
 * On failure returns FALSE with a reason in @error (free it). */
gboolean     gst_gpu_blit_to_buffer (GstGpuBlit * blit, GLuint tex,
                                    GstBuffer * outbuf,
                                    const GstGpuBlitParams * params,
                                    gboolean wait_cpu, gchar ** error);

/* GL_NEAREST and clamp to edge on the texture bound to @target. */
void         gst_gpu_blit_set_nearest (const GstGLFuncs * gl, GLenum target);

/* GstBaseTransform::transform_caps: video/x-raw(@sink_feature) with the
 * four RGB formats on the sink side, GST_GPU_BLIT_SRC_CAPS on the source
 * side, followed by CUDAMemory NV12 and RGBA when @cuda; size and
 * framerate carried over. */
GstCaps *    gst_gpu_blit_transform_caps (GstCaps * caps,
                                    GstPadDirection direction,
                                    const gchar * sink_feature,
                                    gboolean cuda,
                                    GstCaps * filter);

/* GstBaseTransform::decide_allocation, after GstGLBaseFilter's: puts a
 * GstGLBufferPool with video and GL sync meta into @query. */
gboolean     gst_gpu_blit_decide_pool (GstGLContext * context,
                                    GstQuery * query);

G_END_DECLS
