/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
#ifndef __GST_SPICE_AUDIO_SRC_H__
#define __GST_SPICE_AUDIO_SRC_H__

#include <gst/gst.h>
#include <gst/base/gstpushsrc.h>

#include "gstspiceconnection.h"

G_BEGIN_DECLS

#define GST_TYPE_SPICE_AUDIO_SRC (gst_spice_audio_src_get_type ())
G_DECLARE_FINAL_TYPE (GstSpiceAudioSrc, gst_spice_audio_src, GST,
    SPICE_AUDIO_SRC, GstPushSrc)

void gst_spice_audio_src_set_idle (GstSpiceAudioSrc * self, gboolean idle);

GST_ELEMENT_REGISTER_DECLARE (spiceaudiosrc);

G_END_DECLS

#endif /* __GST_SPICE_AUDIO_SRC_H__ */
