/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
#ifndef __GST_SPICE_AUDIO_CLOCK_H__
#define __GST_SPICE_AUDIO_CLOCK_H__

#include <gst/gst.h>

G_BEGIN_DECLS

/* Follows a SPICE guest's audio clock for spiceaudiosrc: tells how late
 * each packet comes against the element's timeline, keeps the lower
 * envelope of that lateness (jitter only ever delays a packet), measures
 * the guest's rate on the packets alone, and, once the envelope wanders
 * and the rate says why (the guest's clock runs at another rate than
 * ours), resamples by that rate.  Until then the sound passes through
 * untouched.  Streaming thread only: no lock. */
typedef struct _GstSpiceAudioClock GstSpiceAudioClock;

typedef enum
{
  GST_SPICE_AUDIO_CLOCK_OK,
  /* beyond what the correction absorbs: the caller resyncs by the excess */
  GST_SPICE_AUDIO_CLOCK_RESYNC_LATE,
  GST_SPICE_AUDIO_CLOCK_RESYNC_EARLY,
} GstSpiceAudioClockVerdict;

GstSpiceAudioClock *gst_spice_audio_clock_new (GstObject * owner,
    gboolean correct);
void gst_spice_audio_clock_free (GstSpiceAudioClock * clock);

void gst_spice_audio_clock_set_format (GstSpiceAudioClock * clock,
    guint rate, guint channels);
void gst_spice_audio_clock_anchor (GstSpiceAudioClock * clock,
    GstClockTime arrival);

void gst_spice_audio_clock_input (GstSpiceAudioClock * clock,
    GstClockTime arrival, guint frames);
GstClockTime gst_spice_audio_clock_pending (GstSpiceAudioClock * clock);
GstSpiceAudioClockVerdict gst_spice_audio_clock_observe (GstSpiceAudioClock *
    clock, GstClockTime arrival, GstClockTimeDiff late,
    GstClockTimeDiff resync_threshold, GstClockTimeDiff * excess);

GstBuffer *gst_spice_audio_clock_process (GstSpiceAudioClock * clock,
    GstBuffer * in);
GstBuffer *gst_spice_audio_clock_drain (GstSpiceAudioClock * clock);

gboolean gst_spice_audio_clock_is_resampling (GstSpiceAudioClock * clock);
gint gst_spice_audio_clock_get_drift_ppm (GstSpiceAudioClock * clock);

G_END_DECLS

#endif /* __GST_SPICE_AUDIO_CLOCK_H__ */
