/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
#ifndef __GST_DAMAGE_HISTORY_H__
#define __GST_DAMAGE_HISTORY_H__

#include <gst/gst.h>
#include <gst/video/video.h>

G_BEGIN_DECLS

/**
 * GstDamageHistory:
 *
 * Remembers which rectangles of a surface changed in each of the last few
 * frame generations, so that a buffer that last held generation N can be
 * brought up to date by copying only what changed since (the "buffer age"
 * technique of EGL_EXT_buffer_age).
 *
 * Damage goes into the open generation; closing it starts the next.  A buffer
 * records the generation it is complete through.  Not thread-safe: the caller
 * holds its own lock.
 */
typedef struct _GstDamageHistory GstDamageHistory;

GstDamageHistory *gst_damage_history_new (guint depth);
void     gst_damage_history_free        (GstDamageHistory * history);

void     gst_damage_history_reset       (GstDamageHistory * history,
                                         guint width, guint height);
void     gst_damage_history_add         (GstDamageHistory * history,
                                         const GstVideoRectangle * rect);
guint64  gst_damage_history_close       (GstDamageHistory * history);
guint64  gst_damage_history_open_generation (GstDamageHistory * history);

gboolean gst_damage_history_collect     (GstDamageHistory * history,
                                         guint64 complete_through,
                                         GArray * rects);

void     gst_damage_rects_add           (GArray * rects,
                                         const GstVideoRectangle * rect,
                                         guint max_rects);

G_END_DECLS

#endif /* __GST_DAMAGE_HISTORY_H__ */
