/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
#ifndef __GST_SPICE_KEYMAP_H__
#define __GST_SPICE_KEYMAP_H__

#include <glib.h>

G_BEGIN_DECLS

/* PC/XT set-1 scancode of the physical key behind an X keysym name, as
 * GstNavigation key events carry them ("a", "A", "exclam", "Return",
 * "KP_Enter", "F5"...), on a US layout; E0-prefixed keys as 0x100 | code.
 * Shifted names map to the unshifted key: the guest sees the Shift the
 * user holds.  0: not a key we know. */
guint gst_spice_keymap_lookup (const gchar * keysym);

G_END_DECLS

#endif /* __GST_SPICE_KEYMAP_H__ */
