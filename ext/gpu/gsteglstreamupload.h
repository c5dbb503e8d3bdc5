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

#define GST_TYPE_EGL_STREAM_UPLOAD (gst_egl_stream_upload_get_type ())
G_DECLARE_FINAL_TYPE (GstEglStreamUpload, gst_egl_stream_upload, GST,
    EGL_STREAM_UPLOAD, GstGLBaseFilter);

#define GST_TYPE_EGL_STREAM_UPLOAD_CONSUMER \
    (gst_egl_stream_upload_consumer_get_type ())
GType gst_egl_stream_upload_consumer_get_type (void);

GST_ELEMENT_REGISTER_DECLARE (eglstreamupload);

G_END_DECLS
