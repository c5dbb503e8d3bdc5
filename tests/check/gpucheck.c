/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 *
 * Helpers shared by the suites of the GPU elements (dmabufimport,
 * eglstreamupload).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <dlfcn.h>

#include "gpucheck.h"

static const gchar *const window_vars[N_WINDOW_VARS] = { "GST_GL_WINDOW",
  "GST_GL_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"
};

void
unset_window_env (gchar ** saved)
{
  guint i;

  for (i = 0; i < N_WINDOW_VARS; i++) {
    saved[i] = g_strdup (g_getenv (window_vars[i]));
    g_unsetenv (window_vars[i]);
  }
}

void
restore_window_env (gchar ** saved)
{
  guint i;

  for (i = 0; i < N_WINDOW_VARS; i++) {
    if (saved[i])
      g_setenv (window_vars[i], saved[i], TRUE);
    g_free (saved[i]);
  }
}

gboolean
have_libcuda (void)
{
  void *lib = dlopen ("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);

  if (lib)
    dlclose (lib);
  return lib != NULL;
}

gboolean
caps_have_cuda (const GstCaps * caps)
{
  guint i;

  for (i = 0; i < gst_caps_get_size (caps); i++) {
    GstCapsFeatures *f = gst_caps_get_features (caps, i);

    if (f && gst_caps_features_contains (f, "memory:CUDAMemory"))
      return TRUE;
  }
  return FALSE;
}

gboolean
accepts (GstElement * e, const gchar * caps_str)
{
  GstPad *pad = gst_element_get_static_pad (e, "sink");
  GstCaps *caps = gst_caps_from_string (caps_str);
  gboolean ret = gst_pad_query_accept_caps (pad, caps);

  gst_caps_unref (caps);
  gst_object_unref (pad);
  return ret;
}
