/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
#ifndef __SPICEPROXY_H__
#define __SPICEPROXY_H__

#include <glib.h>

G_BEGIN_DECLS

/**
 * SpiceProxy:
 *
 * A TCP forwarder on 127.0.0.1 for link-timeout tests: it passes bytes
 * between each client and the target port until told to stall, and then
 * forwards nothing either way and closes nothing (no FIN, no RST), as a
 * dead NAT entry or a wedged middlebox.  Connections that arrive while
 * stalled are accepted (the kernel does it anyway) and left unanswered.
 * Resuming forwards again, and connects what waited.  One thread of its
 * own; every call is thread-safe.
 */
typedef struct _SpiceProxy SpiceProxy;

SpiceProxy  *spice_proxy_new          (guint target_port);
guint        spice_proxy_get_port     (SpiceProxy * proxy);
/* "spice://127.0.0.1:PORT" */
const gchar *spice_proxy_get_uri      (SpiceProxy * proxy);
void         spice_proxy_set_stalled  (SpiceProxy * proxy, gboolean stalled);
/* connections accepted so far */
guint        spice_proxy_get_accepted (SpiceProxy * proxy);
void         spice_proxy_free         (SpiceProxy * proxy);

G_END_DECLS

#endif /* __SPICEPROXY_H__ */
