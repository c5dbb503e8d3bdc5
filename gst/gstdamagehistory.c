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

#include "gstdamagehistory.h"

/* A generation keeps at most this many rectangles; past that they are merged
 * into their bounding box.  Copying a little more than what changed is
 * cheaper than walking long rectangle lists on every frame. */
#define MAX_RECTS_PER_GENERATION 8
#define MAX_COLLECTED_RECTS 16

typedef struct
{
  guint64 generation;
  GArray *rects;                /* GstVideoRectangle */
} Generation;

struct _GstDamageHistory
{
  guint width, height;
  guint depth;
  /* ring of closed generations, newest at (head + depth - 1) % depth */
  Generation *ring;
  guint n_closed;
  guint head;
  /* the open generation */
  guint64 open_generation;
  GArray *open_rects;
  /* buffers complete through a generation older than this are fully stale */
  guint64 first_valid;
};

GstDamageHistory *
gst_damage_history_new (guint depth)
{
  GstDamageHistory *h = g_new0 (GstDamageHistory, 1);
  guint i;

  h->depth = MAX (depth, 1);
  h->ring = g_new0 (Generation, h->depth);
  for (i = 0; i < h->depth; i++)
    h->ring[i].rects = g_array_new (FALSE, FALSE, sizeof (GstVideoRectangle));
  h->open_rects = g_array_new (FALSE, FALSE, sizeof (GstVideoRectangle));
  h->open_generation = 1;
  h->first_valid = 1;
  return h;
}

void
gst_damage_history_free (GstDamageHistory * h)
{
  guint i;

  if (!h)
    return;
  for (i = 0; i < h->depth; i++)
    g_array_free (h->ring[i].rects, TRUE);
  g_free (h->ring);
  g_array_free (h->open_rects, TRUE);
  g_free (h);
}

/* A new surface: every buffer filled before is stale, whatever it holds. */
void
gst_damage_history_reset (GstDamageHistory * h, guint width, guint height)
{
  h->width = width;
  h->height = height;
  h->n_closed = 0;
  h->head = 0;
  g_array_set_size (h->open_rects, 0);
  h->open_generation++;
  h->first_valid = h->open_generation;
}

static gboolean
rects_touch (const GstVideoRectangle * a, const GstVideoRectangle * b)
{
  return a->x <= b->x + b->w && b->x <= a->x + a->w &&
      a->y <= b->y + b->h && b->y <= a->y + a->h;
}

static void
rect_union (GstVideoRectangle * a, const GstVideoRectangle * b)
{
  gint x1 = MIN (a->x, b->x), y1 = MIN (a->y, b->y);
  gint x2 = MAX (a->x + a->w, b->x + b->w);
  gint y2 = MAX (a->y + a->h, b->y + b->h);

  a->x = x1;
  a->y = y1;
  a->w = x2 - x1;
  a->h = y2 - y1;
}

/**
 * gst_damage_rects_add:
 *
 * Adds @rect to @rects, merging it with rectangles it touches and folding
 * everything into one bounding box when more than @max_rects would remain.
 */
void
gst_damage_rects_add (GArray * rects, const GstVideoRectangle * rect,
    guint max_rects)
{
  GstVideoRectangle r = *rect;
  gboolean merged;
  guint i;

  if (r.w <= 0 || r.h <= 0)
    return;

  /* merging can make the union touch rectangles it did not touch before */
  do {
    merged = FALSE;
    for (i = 0; i < rects->len; i++) {
      GstVideoRectangle *o = &g_array_index (rects, GstVideoRectangle, i);
      if (rects_touch (o, &r)) {
        rect_union (&r, o);
        g_array_remove_index_fast (rects, i);
        merged = TRUE;
        break;
      }
    }
  } while (merged);

  if (rects->len + 1 > max_rects) {
    for (i = 0; i < rects->len; i++)
      rect_union (&r, &g_array_index (rects, GstVideoRectangle, i));
    g_array_set_size (rects, 0);
  }
  g_array_append_val (rects, r);
}

void
gst_damage_history_add (GstDamageHistory * h, const GstVideoRectangle * rect)
{
  GstVideoRectangle r = *rect;
  gint x2, y2;

  /* clip to the surface */
  x2 = MIN (r.x + r.w, (gint) h->width);
  y2 = MIN (r.y + r.h, (gint) h->height);
  r.x = MAX (r.x, 0);
  r.y = MAX (r.y, 0);
  r.w = x2 - r.x;
  r.h = y2 - r.y;
  gst_damage_rects_add (h->open_rects, &r, MAX_RECTS_PER_GENERATION);
}

/* Closes the open generation and returns its number: a buffer that received
 * all of its damage is complete through it. */
guint64
gst_damage_history_close (GstDamageHistory * h)
{
  Generation *slot;
  GArray *tmp;

  if (h->n_closed < h->depth) {
    slot = &h->ring[(h->head + h->n_closed) % h->depth];
    h->n_closed++;
  } else {
    /* drop the oldest */
    slot = &h->ring[h->head];
    h->head = (h->head + 1) % h->depth;
  }
  slot->generation = h->open_generation;
  tmp = slot->rects;
  slot->rects = h->open_rects;
  h->open_rects = tmp;
  g_array_set_size (h->open_rects, 0);

  return h->open_generation++;
}

guint64
gst_damage_history_open_generation (GstDamageHistory * h)
{
  return h->open_generation;
}

/**
 * gst_damage_history_collect:
 * @complete_through: the generation a buffer is complete through, or 0 for a
 *     buffer that never held a frame
 * @rects: (out): receives the rectangles to copy (appended)
 *
 * Returns: %FALSE when the history does not reach back far enough and the
 * whole surface must be copied; %TRUE with the rectangles changed since
 * otherwise (the open generation included).
 */
gboolean
gst_damage_history_collect (GstDamageHistory * h, guint64 complete_through,
    GArray * rects)
{
  guint i, j;
  guint64 oldest;

  if (complete_through < h->first_valid)
    return FALSE;
  oldest = h->n_closed ? h->ring[h->head].generation : h->open_generation;
  if (complete_through + 1 < oldest)
    return FALSE;

  for (i = 0; i < h->n_closed; i++) {
    Generation *g = &h->ring[(h->head + i) % h->depth];
    if (g->generation <= complete_through)
      continue;
    for (j = 0; j < g->rects->len; j++)
      gst_damage_rects_add (rects, &g_array_index (g->rects,
              GstVideoRectangle, j), MAX_COLLECTED_RECTS);
  }
  for (j = 0; j < h->open_rects->len; j++)
    gst_damage_rects_add (rects, &g_array_index (h->open_rects,
            GstVideoRectangle, j), MAX_COLLECTED_RECTS);
  return TRUE;
}
