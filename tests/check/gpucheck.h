/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
#ifndef __GPUCHECK_H__
#define __GPUCHECK_H__

#include <gst/check/gstcheck.h>

G_BEGIN_DECLS

/* GST_GL_WINDOW, GST_GL_PLATFORM, DISPLAY, WAYLAND_DISPLAY */
#define N_WINDOW_VARS 4

/* unsets the variables that pick a window system, keeping them in
 * saved[N_WINDOW_VARS]; restore_window_env puts them back and frees */
void unset_window_env (gchar ** saved);
void restore_window_env (gchar ** saved);
/* can libcuda.so.1 be loaded?  (The elements also need cuInit and a
 * device; without the library they certainly offer no CUDA.) */
gboolean have_libcuda (void);
/* does a structure of @caps have the memory:CUDAMemory feature */
gboolean caps_have_cuda (const GstCaps * caps);
/* does @e's sink pad accept @caps_str (an ACCEPT_CAPS query) */
gboolean accepts (GstElement * e, const gchar * caps_str);

G_END_DECLS

#endif /* __GPUCHECK_H__ */
