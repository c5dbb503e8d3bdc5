/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
/* What spicedatasink and spicedatasrc share: the port properties. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gstspiceport.h"

#define DEFAULT_OPEN_TIMEOUT 10000

GType
gst_spice_port_framing_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {GST_SPICE_PORT_FRAMING_NONE, "The bytes as they are", "none"},
    {GST_SPICE_PORT_FRAMING_LENGTH_PREFIX,
        "Each buffer is one message, sent after its length (4 bytes, "
          "big-endian)", "length-prefix"},
    {0, NULL, NULL},
  };

  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstSpicePortFraming", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

void
gst_spice_port_install_properties (GObjectClass * gobject_class,
    const gchar * close_blurb)
{
  gst_spice_connection_install_properties (gobject_class);
  g_object_class_install_property (gobject_class,
      GST_SPICE_PORT_PROP_PORT_NAME, g_param_spec_string ("port-name",
          "Port name",
          "Name of the SPICE port (QEMU: -chardev spiceport,name=NAME with a "
          "virtserialport of the same name)", NULL,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class,
      GST_SPICE_PORT_PROP_FRAMING, g_param_spec_enum ("framing", "Framing",
          "How message boundaries cross the byte stream",
          GST_TYPE_SPICE_PORT_FRAMING, GST_SPICE_PORT_FRAMING_NONE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class,
      GST_SPICE_PORT_PROP_OPEN_TIMEOUT, g_param_spec_uint ("open-timeout",
          "Open timeout",
          "Milliseconds to wait for the port to exist and the guest to open "
          "it before failing with an error", 0, G_MAXINT,
          DEFAULT_OPEN_TIMEOUT, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class,
      GST_SPICE_PORT_PROP_WAIT_ON_CLOSE, g_param_spec_boolean
      ("wait-on-close", "Wait on close", close_blurb, FALSE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
}

void
gst_spice_port_settings_init (GstSpicePortSettings * s)
{
  gst_spice_connection_settings_init (&s->conn);
  s->port_name = NULL;
  s->framing = GST_SPICE_PORT_FRAMING_NONE;
  s->open_timeout = DEFAULT_OPEN_TIMEOUT;
  s->wait_on_close = FALSE;
}

void
gst_spice_port_settings_copy (GstSpicePortSettings * dst,
    const GstSpicePortSettings * src)
{
  *dst = *src;
  gst_spice_connection_settings_copy (&dst->conn, &src->conn);
  dst->port_name = g_strdup (src->port_name);
}

void
gst_spice_port_settings_clear (GstSpicePortSettings * s)
{
  gst_spice_connection_settings_clear (&s->conn);
  g_clear_pointer (&s->port_name, g_free);
}

gboolean
gst_spice_port_set_property (GstSpicePortSettings * s, guint prop_id,
    const GValue * value)
{
  if (gst_spice_connection_set_property (&s->conn, prop_id, value))
    return TRUE;
  switch (prop_id) {
    case GST_SPICE_PORT_PROP_PORT_NAME:
      g_free (s->port_name);
      s->port_name = g_value_dup_string (value);
      return TRUE;
    case GST_SPICE_PORT_PROP_FRAMING:
      s->framing = g_value_get_enum (value);
      return TRUE;
    case GST_SPICE_PORT_PROP_OPEN_TIMEOUT:
      s->open_timeout = g_value_get_uint (value);
      return TRUE;
    case GST_SPICE_PORT_PROP_WAIT_ON_CLOSE:
      s->wait_on_close = g_value_get_boolean (value);
      return TRUE;
    default:
      return FALSE;
  }
}

gboolean
gst_spice_port_get_property (const GstSpicePortSettings * s, guint prop_id,
    GValue * value)
{
  if (gst_spice_connection_get_property (&s->conn, prop_id, value))
    return TRUE;
  switch (prop_id) {
    case GST_SPICE_PORT_PROP_PORT_NAME:
      g_value_set_string (value, s->port_name);
      return TRUE;
    case GST_SPICE_PORT_PROP_FRAMING:
      g_value_set_enum (value, s->framing);
      return TRUE;
    case GST_SPICE_PORT_PROP_OPEN_TIMEOUT:
      g_value_set_uint (value, s->open_timeout);
      return TRUE;
    case GST_SPICE_PORT_PROP_WAIT_ON_CLOSE:
      g_value_set_boolean (value, s->wait_on_close);
      return TRUE;
    default:
      return FALSE;
  }
}

/* @s: the element's settings, guarded by its object lock */
gboolean
gst_spice_port_check (GstElement * element, const GstSpicePortSettings * s)
{
  gboolean named;

  if (!gst_spice_connection_check (element, &s->conn))
    return FALSE;
  GST_OBJECT_LOCK (element);
  named = s->port_name && *s->port_name;
  GST_OBJECT_UNLOCK (element);
  if (!named) {
    GST_ELEMENT_ERROR (element, RESOURCE, NOT_FOUND,
        ("No SPICE port given: set the port-name property (the name of "
            "the guest's spiceport chardev)"), (NULL));
    return FALSE;
  }
  return TRUE;
}
