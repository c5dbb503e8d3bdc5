/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* memfd_create, dladdr */
#endif
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gstspicememfd.h"

GST_DEBUG_CATEGORY_STATIC (gst_spice_memfd_debug);
#define GST_CAT_DEFAULT gst_spice_memfd_debug

struct _GstSpiceMemfdAllocator
{
  GstFdAllocator parent;
};

G_DEFINE_TYPE_WITH_CODE (GstSpiceMemfdAllocator, gst_spice_memfd_allocator,
    GST_TYPE_FD_ALLOCATOR,
    GST_DEBUG_CATEGORY_INIT (gst_spice_memfd_debug, "spicememfd", 0,
        "memfd frame memory shared with the SPICE client helper"));

static GstMemory *
gst_spice_memfd_allocator_alloc (GstAllocator * allocator, gsize size,
    GstAllocationParams * params)
{
  gsize maxsize = size + params->prefix + params->padding;
  GstMemory *mem;
  gint fd;

  fd = memfd_create ("gst-spice-frame", MFD_CLOEXEC);
  if (fd < 0 || ftruncate (fd, maxsize) < 0) {
    GST_ERROR ("memfd of %" G_GSIZE_FORMAT " bytes: %s", maxsize,
        g_strerror (errno));
    if (fd >= 0)
      close (fd);
    return NULL;
  }
  /* mapped once (mmap is page-aligned: any alignment asked for holds) */
  mem = gst_fd_allocator_alloc (allocator, fd, maxsize,
      GST_FD_MEMORY_FLAG_KEEP_MAPPED);
  if (!mem) {
    close (fd);
    return NULL;
  }
  if (params->prefix || params->padding)
    gst_memory_resize (mem, params->prefix, size);
  return mem;
}

static void
gst_spice_memfd_allocator_class_init (GstSpiceMemfdAllocatorClass * klass)
{
  GstAllocatorClass *alloc_class = GST_ALLOCATOR_CLASS (klass);

  alloc_class->alloc = gst_spice_memfd_allocator_alloc;
}

static void
gst_spice_memfd_allocator_init (GstSpiceMemfdAllocator * self)
{
  /* GstFdMemory's type and functions stay (gst_is_fd_memory()); only
   * allocating is ours */
  GST_OBJECT_FLAG_UNSET (self, GST_ALLOCATOR_FLAG_CUSTOM_ALLOC);
}

GstAllocator *
gst_spice_memfd_allocator_new (void)
{
  return g_object_new (GST_TYPE_SPICE_MEMFD_ALLOCATOR, NULL);
}
