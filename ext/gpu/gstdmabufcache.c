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

#include <string.h>
#include <sys/stat.h>

#include "gstdmabufcache.h"

typedef struct
{
  GstDmabufCacheKey key;
  gpointer value;
} Entry;

struct _GstDmabufCache
{
  guint capacity;
  GDestroyNotify value_free;
  GQueue entries;               /* of Entry, most recently used first */
};

gboolean
gst_dmabuf_cache_key_init (GstDmabufCacheKey * key, gint fd, guint64 offset,
    guint32 stride, guint32 fourcc, guint64 modifier, guint32 width,
    guint32 height)
{
  struct stat st;

  /* zeroed as a whole so that padding never differs between equal keys */
  memset (key, 0, sizeof (*key));
  if (fstat (fd, &st) != 0)
    return FALSE;

  key->dev = st.st_dev;
  key->ino = st.st_ino;
  key->offset = offset;
  key->modifier = modifier;
  key->stride = stride;
  key->fourcc = fourcc;
  key->width = width;
  key->height = height;
  return TRUE;
}

GstDmabufCache *
gst_dmabuf_cache_new (guint capacity, GDestroyNotify value_free)
{
  GstDmabufCache *cache;

  g_return_val_if_fail (capacity > 0, NULL);

  cache = g_new0 (GstDmabufCache, 1);
  cache->capacity = capacity;
  cache->value_free = value_free;
  g_queue_init (&cache->entries);
  return cache;
}

static void
entry_free (GstDmabufCache * cache, Entry * entry)
{
  if (cache->value_free)
    cache->value_free (entry->value);
  g_free (entry);
}

void
gst_dmabuf_cache_clear (GstDmabufCache * cache)
{
  Entry *entry;

  while ((entry = g_queue_pop_head (&cache->entries)))
    entry_free (cache, entry);
}

void
gst_dmabuf_cache_free (GstDmabufCache * cache)
{
  if (!cache)
    return;
  gst_dmabuf_cache_clear (cache);
  g_free (cache);
}

gpointer
gst_dmabuf_cache_lookup (GstDmabufCache * cache, const GstDmabufCacheKey * key)
{
  GList *l;

  for (l = cache->entries.head; l; l = l->next) {
    Entry *entry = l->data;

    if (memcmp (&entry->key, key, sizeof (*key)) == 0) {
      g_queue_unlink (&cache->entries, l);
      g_queue_push_head_link (&cache->entries, l);
      return entry->value;
    }
  }
  return NULL;
}

void
gst_dmabuf_cache_insert (GstDmabufCache * cache, const GstDmabufCacheKey * key,
    gpointer value)
{
  Entry *entry;

  while (cache->entries.length >= cache->capacity)
    entry_free (cache, g_queue_pop_tail (&cache->entries));

  entry = g_new0 (Entry, 1);
  entry->key = *key;
  entry->value = value;
  g_queue_push_head (&cache->entries, entry);
}

guint
gst_dmabuf_cache_size (GstDmabufCache * cache)
{
  return cache->entries.length;
}
