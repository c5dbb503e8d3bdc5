/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
#ifndef __GST_SPICE_DATA_SINK_H__
#define __GST_SPICE_DATA_SINK_H__

#include <gst/gst.h>
#include <gst/base/gstbasesink.h>

#include "gstspiceport.h"

G_BEGIN_DECLS

#define GST_TYPE_SPICE_DATA_SINK (gst_spice_data_sink_get_type ())
G_DECLARE_FINAL_TYPE (GstSpiceDataSink, gst_spice_data_sink, GST,
    SPICE_DATA_SINK, GstBaseSink)

GST_ELEMENT_REGISTER_DECLARE (spicedatasink);

G_END_DECLS

#endif /* __GST_SPICE_DATA_SINK_H__ */
