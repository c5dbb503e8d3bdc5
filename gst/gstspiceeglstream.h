/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
#pragma once

#include <gst/gst.h>
#include <gst/allocators/gstfdmemory.h>

G_BEGIN_DECLS

/**
 * GST_CAPS_FEATURE_MEMORY_EGL_STREAM:
 *
 * Buffers that say "a new frame is ready in this EGLStream": one
 * #GstFdMemory (never mapped) holding a file descriptor of the stream made
 * with eglGetStreamFileDescriptorKHR by its producer.  Buffers of one
 * stream share the fd; the frame is the stream's, not the buffer's (the
 * consumer acquires it).  Caps carry width, height and format (the
 * producer's, informative: the consumer gets the frame from the stream).
 * The producer may present the next frame once the buffer is freed.
 */
#define GST_CAPS_FEATURE_MEMORY_EGL_STREAM "memory:EGLStream"

/* A memory for @fd, which it owns (closed when the memory is freed). */
GstMemory * gst_spice_egl_stream_memory_new  (GstAllocator * fd_allocator,
                                              gint fd);
/* The stream fd a memory:EGLStream buffer carries, -1 if none (still
 * owned by the buffer) */
gint        gst_spice_egl_stream_buffer_get_fd (GstBuffer * buffer);

G_END_DECLS
