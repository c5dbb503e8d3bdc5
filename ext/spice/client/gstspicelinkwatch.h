/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
#ifndef __GST_SPICE_LINK_WATCH_H__
#define __GST_SPICE_LINK_WATCH_H__

#include <spice-client.h>

G_BEGIN_DECLS

/**
 * GstSpiceLinkWatch:
 *
 * The link-timeout of one SpiceSession: notices a connection that stopped
 * carrying data without closing (a dead NAT entry, a wedged or stopped
 * server).
 *
 * Over TCP (and TLS) libspice-server sends every client a ping on the main
 * channel at least every 15 s, busy or idle (its connectivity monitor; the
 * display channel pings too), so a session whose channels read nothing
 * for the timeout is dead.  Over a unix socket the server sends no pings,
 * and silence is what an idle guest looks like; there the watch also asks
 * the kernel about the process at the other end (SO_PEERCRED, then its
 * /proc state): silence while that process is stopped, traced or in
 * uninterruptible sleep for the whole timeout is a dead link.
 *
 * Runs a timeout on the thread-default main context; @dead is called
 * there once, after which the watch does nothing more.
 */
typedef struct _GstSpiceLinkWatch GstSpiceLinkWatch;

/* @why: the cause, a sentence fragment ("nothing received for 20000 ms") */
typedef void (*GstSpiceLinkWatchDead) (gpointer user_data, const gchar * why);

GstSpiceLinkWatch *gst_spice_link_watch_new (SpiceSession * spice,
                                             const gchar * unix_path,
                                             guint timeout_ms,
                                             GstSpiceLinkWatchDead dead,
                                             gpointer user_data);
void               gst_spice_link_watch_set_timeout (GstSpiceLinkWatch * watch,
                                             guint timeout_ms);
void               gst_spice_link_watch_free (GstSpiceLinkWatch * watch);

G_END_DECLS

#endif /* __GST_SPICE_LINK_WATCH_H__ */
