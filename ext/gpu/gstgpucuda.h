/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
/* The CUDA side shared by the spicegpu elements: whether CUDA can be used
 * (libcuda.so.1 loaded at run time, a device), the GstCudaContext shared
 * with the neighbours (nvcodec's `gst.cuda.context`), the output into
 * memory:CUDAMemory (a GL texture registered with CUDA and copied on the
 * GPU; NV12 converted in GL first), and the CUDA EGLStream consumer.
 *
 * Without HAVE_CUDA (no cuda.h at build time) the same functions exist and
 * say that CUDA is not available, so the elements need no #ifdef.  Nothing
 * here needs cuda.h in the callers: CUDA objects are opaque. */
#pragma once

#include <gst/gl/gl.h>
#include <gst/gl/gstglfuncs.h>

G_BEGIN_DECLS

#define GST_GPU_CUDA_FEATURE "memory:CUDAMemory"
#define GST_GPU_CUDA_FORMATS "{ NV12, RGBA }"
/* what the NV12 output is: GstGLColorConvert's BT.601 limited range */
#define GST_GPU_CUDA_NV12_COLORIMETRY "bt601"

#ifdef HAVE_CUDA
#define GST_GPU_CUDA_SRC_CAPS "; " GST_VIDEO_CAPS_MAKE_WITH_FEATURES \
    (GST_GPU_CUDA_FEATURE, GST_GPU_CUDA_FORMATS)
#else
#define GST_GPU_CUDA_SRC_CAPS ""
#endif

/* Any thread.  TRUE when libcuda.so.1 loads, cuInit succeeds and there is
 * a device; decided once per process.  Otherwise *reason (static) names
 * what is missing. */
gboolean     gst_gpu_cuda_available        (const gchar ** reason);

/* Also the CUDA EGLStream consumer entry points of libcuda.so.1
 * (cuEGLStreamConsumerConnect, ...AcquireFrame, ...ReleaseFrame). */
gboolean     gst_gpu_cuda_egl_available    (const gchar ** reason);

/* Has a structure of @caps the CUDAMemory feature? */
gboolean     gst_gpu_cuda_caps_are_cuda    (const GstCaps * caps);

/* The two CUDA structures offered for one GL output structure @s (size
 * and framerate kept): NV12 (BT.601) first, then RGBA. */
void         gst_gpu_cuda_append_structures (GstCaps * caps,
                                            const GstStructure * s);

/* GstContext: the element keeps a GstCudaContext (as GstObject) in
 * @cuda_ctx; these behave like nvcodec's elements. */
void         gst_gpu_cuda_set_context      (GstElement * element,
                                            GstContext * context,
                                            GstObject ** cuda_ctx);
gboolean     gst_gpu_cuda_handle_query     (GstElement * element,
                                            GstQuery * query,
                                            GstObject * cuda_ctx);
/* Streaming thread: the neighbours' context (the encoder's), the
 * application's, or a new one on device 0 that is then offered. */
gboolean     gst_gpu_cuda_ensure_context   (GstElement * element,
                                            GstObject ** cuda_ctx,
                                            gchar ** error);

/* GstBaseTransform::decide_allocation for CUDA caps: a GstCudaBufferPool
 * of @cuda_ctx (downstream's when it is one of the same context). */
gboolean     gst_gpu_cuda_decide_pool      (GstObject * cuda_ctx,
                                            GstQuery * query);

/* From GstBaseTransform::sink_event when CAPS failed: when downstream
 * takes CUDA memory only and CUDA is unavailable, post an error saying
 * what is missing (instead of a bare not-negotiated). */
void         gst_gpu_cuda_explain_refusal  (GstBaseTransform * trans);

/* ---- output into CUDA memory ---------------------------------------- */

typedef struct _GstGpuCudaOut GstGpuCudaOut;

/* GL thread.  @outcaps: the negotiated CUDAMemory caps (NV12 or RGBA). */
GstGpuCudaOut * gst_gpu_cuda_out_new       (GstGLContext * context,
                                            GstObject * cuda_ctx,
                                            GstCaps * outcaps,
                                            gchar ** error);
void         gst_gpu_cuda_out_free         (GstGpuCudaOut * out);
/* GL thread: an RGBA GL buffer of the output size to draw the frame
 * into (gst_gpu_blit_to_buffer), from a pool of the helper's. */
GstBuffer *  gst_gpu_cuda_out_acquire      (GstGpuCudaOut * out,
                                            gchar ** error);
/* GL thread: @drawn (from acquire; unreffed here) into @outbuf's CUDA
 * memory, converted to NV12 in GL first when the output is NV12.  All
 * GPU work is finished when it returns. */
gboolean     gst_gpu_cuda_out_fill         (GstGpuCudaOut * out,
                                            GstBuffer * drawn,
                                            GstBuffer * outbuf,
                                            gchar ** error);

/* ---- the CUDA EGLStream consumer ------------------------------------ */

typedef struct _GstGpuCudaStream GstGpuCudaStream;

/* GL thread.  @egl_stream: an EGLStreamKHR in state CREATED. */
GstGpuCudaStream * gst_gpu_cuda_stream_connect (GstGLContext * context,
                                            GstObject * cuda_ctx,
                                            gpointer egl_stream,
                                            gchar ** error);
/* GL thread */
void         gst_gpu_cuda_stream_disconnect (GstGpuCudaStream * stream);

typedef enum
{
  GST_GPU_CUDA_FRAME_OK,
  GST_GPU_CUDA_FRAME_TIMEOUT,
  GST_GPU_CUDA_FRAME_ERROR,
} GstGpuCudaFrameResult;

/* GL thread: acquires the stream's frame, copies it on the GPU into a 2D
 * RGBA texture of the helper's (*tex, valid until the next call) and
 * releases the frame.  *swap_rb: the texture holds BGRA bytes. */
GstGpuCudaFrameResult gst_gpu_cuda_stream_take_frame
                                           (GstGpuCudaStream * stream,
                                            guint timeout_us,
                                            GLuint * tex,
                                            gint * width, gint * height,
                                            gboolean * swap_rb,
                                            gchar ** error);

G_END_DECLS
