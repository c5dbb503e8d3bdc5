/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
#ifndef __GST_SPICE_PORT_H__
#define __GST_SPICE_PORT_H__

#include <gst/gst.h>

#include "gstspiceconnection.h"

G_BEGIN_DECLS

/**
 * GstSpicePortFraming:
 * @GST_SPICE_PORT_FRAMING_NONE: the bytes as they are
 * @GST_SPICE_PORT_FRAMING_LENGTH_PREFIX: each buffer is one message,
 *   preceded on the wire by its length as 4 bytes, big-endian
 */
typedef enum
{
  GST_SPICE_PORT_FRAMING_NONE,
  GST_SPICE_PORT_FRAMING_LENGTH_PREFIX,
} GstSpicePortFraming;

#define GST_TYPE_SPICE_PORT_FRAMING (gst_spice_port_framing_get_type ())
GType gst_spice_port_framing_get_type (void);

/* the largest framed message accepted (a corrupt length would otherwise
 * ask for gigabytes) */
#define GST_SPICE_PORT_MAX_MESSAGE (64u << 20)

/* after the connection properties */
enum
{
  GST_SPICE_PORT_PROP_PORT_NAME = GST_SPICE_PROP_CONNECTION_LAST,
  GST_SPICE_PORT_PROP_FRAMING,
  GST_SPICE_PORT_PROP_OPEN_TIMEOUT,
  GST_SPICE_PORT_PROP_WAIT_ON_CLOSE,
  GST_SPICE_PORT_PROP_LAST
};

typedef struct
{
  GstSpiceConnectionSettings conn;
  gchar *port_name;
  GstSpicePortFraming framing;
  guint open_timeout;           /* ms */
  gboolean wait_on_close;
} GstSpicePortSettings;

void     gst_spice_port_install_properties (GObjectClass * klass,
                                            const gchar * close_blurb);
void     gst_spice_port_settings_init      (GstSpicePortSettings * s);
void     gst_spice_port_settings_copy      (GstSpicePortSettings * dst,
                                            const GstSpicePortSettings * src);
void     gst_spice_port_settings_clear     (GstSpicePortSettings * s);
gboolean gst_spice_port_set_property       (GstSpicePortSettings * s,
                                            guint prop_id, const GValue * value);
gboolean gst_spice_port_get_property       (const GstSpicePortSettings * s,
                                            guint prop_id, GValue * value);
/* NULL -> READY: the URI and the port name */
gboolean gst_spice_port_check              (GstElement * element,
                                            const GstSpicePortSettings * s);

G_END_DECLS

#endif /* __GST_SPICE_PORT_H__ */
