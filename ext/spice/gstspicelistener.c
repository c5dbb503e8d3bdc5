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

#include <string.h>

#include "gstspicelistener.h"

GstSpiceListener *
gst_spice_listener_new (GstSpiceListenerKind kind, gint channel_id,
    const gchar * port_name, gconstpointer callbacks, gsize size,
    gpointer user_data, GDestroyNotify notify)
{
  GstSpiceListener *l = g_new0 (GstSpiceListener, 1);

  g_return_val_if_fail (size <= sizeof (l->cb), NULL);
  l->refcount = 1;
  l->kind = kind;
  l->channel_id = kind == GST_SPICE_LISTENER_DISPLAY ? channel_id : -1;
  l->port_name = g_strdup (port_name);
  memcpy (&l->cb, callbacks, size);
  l->user_data = user_data;
  l->notify = notify;
  return l;
}

GstSpiceListener *
gst_spice_listener_ref (GstSpiceListener * l)
{
  g_atomic_int_inc (&l->refcount);
  return l;
}

void
gst_spice_listener_unref (GstSpiceListener * l)
{
  if (g_atomic_int_dec_and_test (&l->refcount)) {
    if (l->notify)
      l->notify (l->user_data);
    g_free (l->port_name);
    g_free (l);
  }
}

G_STATIC_ASSERT (G_STRUCT_OFFSET (GstSpiceDisplayCallbacks, state) ==
    G_STRUCT_OFFSET (GstSpiceEngineDisplayCallbacks, state));

GstSpiceStateFunc
gst_spice_listener_state_func (GstSpiceListener * l)
{
  switch (l->kind) {
    case GST_SPICE_LISTENER_DISPLAY:
      /* the same place in both display structs */
      return l->cb.display.state;
    case GST_SPICE_LISTENER_PLAYBACK:
      return l->cb.playback.state;
    case GST_SPICE_LISTENER_RECORD:
      return l->cb.record.state;
    case GST_SPICE_LISTENER_PORT:
      return l->cb.port.state;
    default:
      return NULL;
  }
}

gboolean
gst_spice_listener_wait_idle (GstSpiceListener * l, GMutex * lock,
    GCond * cond, gint64 deadline)
{
  while (l->busy > 0)
    if (!g_cond_wait_until (cond, lock, deadline))
      return FALSE;
  return TRUE;
}

guint
gst_spice_listener_add (GList ** list, guint * next_id, GstSpiceListener * l)
{
  l->id = (*next_id)++;
  *list = g_list_append (*list, l);
  return l->id;
}

GstSpiceListener *
gst_spice_listener_take (GList ** list, guint id)
{
  GList *link;

  for (link = *list; link; link = link->next) {
    GstSpiceListener *l = link->data;

    if (l->id == id) {
      *list = g_list_delete_link (*list, link);
      l->removed = TRUE;
      return l;
    }
  }
  return NULL;
}
