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

#include "gstspiceeglstream.h"

GstMemory *
gst_spice_egl_stream_memory_new (GstAllocator * fd_allocator, gint fd)
{
  g_return_val_if_fail (GST_IS_FD_ALLOCATOR (fd_allocator), NULL);
  g_return_val_if_fail (fd >= 0, NULL);

  /* no bytes behind it: a size of 1 keeps GstBuffer's size accounting
   * happy; the memory is never mapped (mmap of a stream fd fails) */
  return gst_fd_allocator_alloc (fd_allocator, fd, 1, GST_FD_MEMORY_FLAG_NONE);
}

gint
gst_spice_egl_stream_buffer_get_fd (GstBuffer * buffer)
{
  GstMemory *mem;

  g_return_val_if_fail (GST_IS_BUFFER (buffer), -1);
  if (gst_buffer_n_memory (buffer) != 1)
    return -1;
  mem = gst_buffer_peek_memory (buffer, 0);
  if (!gst_is_fd_memory (mem))
    return -1;
  return gst_fd_memory_get_fd (mem);
}
