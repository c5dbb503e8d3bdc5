/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
#ifndef __GST_SPICE_MEMFD_H__
#define __GST_SPICE_MEMFD_H__

#include <gst/allocators/gstfdmemory.h>

G_BEGIN_DECLS

/**
 * GstSpiceMemfdAllocator:
 *
 * System memory in memfds: GstFdMemory (mapped once, shared) whose fd the
 * session hands to the SPICE client helper, which then copies 2D damage
 * straight into it.  Downstream sees plain mappable memory.
 */
#define GST_TYPE_SPICE_MEMFD_ALLOCATOR (gst_spice_memfd_allocator_get_type ())
G_DECLARE_FINAL_TYPE (GstSpiceMemfdAllocator, gst_spice_memfd_allocator,
    GST, SPICE_MEMFD_ALLOCATOR, GstFdAllocator)

GstAllocator *gst_spice_memfd_allocator_new (void);

G_END_DECLS

#endif /* __GST_SPICE_MEMFD_H__ */
