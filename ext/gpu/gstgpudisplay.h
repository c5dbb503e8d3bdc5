/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
/* How the GL elements of plugin spicegpu find their GL display: shared by a
 * neighbour or the application through GstContext, GstGL's choice when the
 * environment names a window system, else an EGL device of their own
 * (headless: no X server or compositor needed). */
#pragma once

#include <gst/gl/gl.h>

G_BEGIN_DECLS

#define GST_GPU_DISPLAY_DEFAULT_DEVICE 0

/* Embedded in an element derived from GstGLBaseFilter. */
typedef struct
{
  /* GstGLBaseFilter writes its display under its private lock; the element
   * only sets it through gst_element_set_context() and reads it under this
   * one, from the state change thread or a neighbour's context query. */
  GRecMutex lock;
  gboolean in_lookup;           /* lock */
  gboolean own_display;         /* lock: we opened the EGL device ourselves */
  guint own_device;             /* lock */
} GstGpuDisplay;

void         gst_gpu_display_init          (GstGpuDisplay * d);
void         gst_gpu_display_clear         (GstGpuDisplay * d);

/* NULL -> READY, before chaining up: finds a display (or opens EGL device
 * @device); on failure posts an error naming the device and returns
 * FALSE. */
gboolean     gst_gpu_display_open          (GstGpuDisplay * d,
                                            GstGLBaseFilter * filter,
                                            guint device);
/* NULL -> READY, after chaining up (GstGLBaseFilter has the display):
 * when no context exists on an EGL display yet, EGL offers desktop OpenGL
 * and GST_GL_API is not set, restricts the display to desktop GL.  GStreamer >= 1.24 makes a
 * GLES context on EGL when the elements allow both (1.22 made desktop
 * GL); nvh264enc needs desktop GL, and shares the context the first GL
 * element of the pipeline makes. */
void         gst_gpu_display_prefer_desktop_gl (GstGLBaseFilter * filter);
/* READY -> NULL, after chaining up (GstGLBaseFilter dropped the display) */
void         gst_gpu_display_reset         (GstGpuDisplay * d);

/* From GstBaseTransform::query: a neighbour asking for a display gets the
 * headless one rather than making a window-system display that fails on a
 * server. */
void         gst_gpu_display_handle_query  (GstGpuDisplay * d,
                                            GstGLBaseFilter * filter,
                                            GstPadDirection direction,
                                            GstQuery * query,
                                            guint device);

typedef gboolean (*GstGpuParentQuery) (GstBaseTransform * trans,
                                       GstPadDirection direction,
                                       GstQuery * query);

/* The whole GstBaseTransform::query of a GPU element: the CUDA context
 * query (@cuda_ctx, may be NULL), the display as above, then
 * @parent_query; an accept-caps refusal on the sink pad is explained (a
 * CUDA-only downstream without CUDA). */
typedef gboolean (*GstGpuParentDecide) (GstBaseTransform * trans,
                                        GstQuery * query);

/* The first half of GstBaseTransform::decide_allocation of a GPU element:
 * the encoder's CUDA context when the output is CUDA memory (before
 * gl_set_caps uses it), then @parent_decide (GstGLBaseFilter: finds or
 * makes the GL context, runs gl_start and gl_set_caps).  Posts the error
 * when CUDA fails; *@gl_cuda_error and *@renderer are read after
 * @parent_decide (what gl_set_caps and gl_start left). */
gboolean     gst_gpu_filter_decide_context (GstBaseTransform * trans,
                                            GstQuery * query,
                                            GstGpuParentDecide parent_decide,
                                            gboolean cuda_out,
                                            GstObject ** cuda_ctx,
                                            gchar ** gl_cuda_error,
                                            gchar ** renderer);
/* The second half: the output pool, CUDA or GL */
gboolean     gst_gpu_filter_decide_pool    (GstBaseTransform * trans,
                                            GstQuery * query,
                                            gboolean cuda_out,
                                            GstObject * cuda_ctx);

gboolean     gst_gpu_filter_query          (GstBaseTransform * trans,
                                            GstPadDirection direction,
                                            GstQuery * query,
                                            GstGpuDisplay * d,
                                            GstObject * cuda_ctx,
                                            guint device,
                                            GstGpuParentQuery parent_query);

/* For messages: "EGL device 0", "GL display ... (shared)". */
gchar *      gst_gpu_display_describe      (GstGpuDisplay * d,
                                            GstGLBaseFilter * filter);

/* The `device` property, the same for every element. */
GParamSpec * gst_gpu_display_device_param  (void);

G_END_DECLS
