/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* What identifies one imported DMA-BUF plane: the file behind the fd (not
 * the fd number: a producer may dup or re-send the same scanout under a
 * new number) and the layout the import was made with. */
typedef struct
{
  guint64 dev;
  guint64 ino;
  guint64 offset;
  guint64 modifier;
  guint32 stride;
  guint32 fourcc;
  guint32 width;
  guint32 height;
} GstDmabufCacheKey;

/* A small least-recently-used map from GstDmabufCacheKey to a value (an
 * imported image).  Not thread-safe: the owner uses it from one thread
 * (the GL thread). */
typedef struct _GstDmabufCache GstDmabufCache;

gboolean        gst_dmabuf_cache_key_init (GstDmabufCacheKey * key, gint fd,
                    guint64 offset, guint32 stride, guint32 fourcc,
                    guint64 modifier, guint32 width, guint32 height);

GstDmabufCache *gst_dmabuf_cache_new     (guint capacity,
                                          GDestroyNotify value_free);
void            gst_dmabuf_cache_free    (GstDmabufCache * cache);
gpointer        gst_dmabuf_cache_lookup  (GstDmabufCache * cache,
                                          const GstDmabufCacheKey * key);
void            gst_dmabuf_cache_insert  (GstDmabufCache * cache,
                                          const GstDmabufCacheKey * key,
                                          gpointer value);
void            gst_dmabuf_cache_clear   (GstDmabufCache * cache);
guint           gst_dmabuf_cache_size    (GstDmabufCache * cache);

G_END_DECLS
