/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
#ifndef __GST_SPICE_DATA_SRC_H__
#define __GST_SPICE_DATA_SRC_H__

#include <gst/gst.h>
#include <gst/base/gstpushsrc.h>

#include "gstspiceport.h"

G_BEGIN_DECLS

#define GST_TYPE_SPICE_DATA_SRC (gst_spice_data_src_get_type ())
G_DECLARE_FINAL_TYPE (GstSpiceDataSrc, gst_spice_data_src, GST,
    SPICE_DATA_SRC, GstPushSrc)

GST_ELEMENT_REGISTER_DECLARE (spicedatasrc);

G_END_DECLS

#endif /* __GST_SPICE_DATA_SRC_H__ */
