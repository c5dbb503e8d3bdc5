/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
#pragma once

#include <gst/gl/gl.h>

G_BEGIN_DECLS

#define GST_TYPE_DMABUF_IMPORT (gst_dmabuf_import_get_type ())
G_DECLARE_FINAL_TYPE (GstDmabufImport, gst_dmabuf_import, GST, DMABUF_IMPORT,
    GstGLBaseFilter);

GST_ELEMENT_REGISTER_DECLARE (dmabufimport);

G_END_DECLS
