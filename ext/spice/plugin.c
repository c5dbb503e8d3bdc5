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

#include <gst/gst.h>

#include "gstspicesrc.h"
#include "gstspicevideosrc.h"
#include "gstspiceaudiosrc.h"
#include "gstspiceaudiosink.h"
#include "gstspicedatasink.h"
#include "gstspicedatasrc.h"

static gboolean
plugin_init (GstPlugin * plugin)
{
  gboolean ret = FALSE;

  ret |= GST_ELEMENT_REGISTER (spicesrc, plugin);
  ret |= GST_ELEMENT_REGISTER (spicevideosrc, plugin);
  ret |= GST_ELEMENT_REGISTER (spiceaudiosrc, plugin);
  ret |= GST_ELEMENT_REGISTER (spiceaudiosink, plugin);
  ret |= GST_ELEMENT_REGISTER (spicedatasink, plugin);
  ret |= GST_ELEMENT_REGISTER (spicedatasrc, plugin);
  return ret;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, spice,
    "Elements for SPICE servers: displays and sound of virtual machines and "
    "containers as GStreamer buffers", plugin_init, VERSION, GST_LICENSE,
    GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
