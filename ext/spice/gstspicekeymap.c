/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
/* X keysym names -> PC/XT scan code set 1 (US layout), for SPICE's inputs
 * channel.  The table is written from the set-1 layout of a 104-key PC
 * keyboard; E0-prefixed keys carry 0x100. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>

#include "gstspicekeymap.h"

typedef struct
{
  const gchar *name;
  guint16 code;
} KeyEntry;

/* *INDENT-OFF* */
static const KeyEntry keys[] = {
  /* row 1 */
  {"Escape", 0x01},
  {"1", 0x02}, {"exclam", 0x02},
  {"2", 0x03}, {"at", 0x03},
  {"3", 0x04}, {"numbersign", 0x04},
  {"4", 0x05}, {"dollar", 0x05},
  {"5", 0x06}, {"percent", 0x06},
  {"6", 0x07}, {"asciicircum", 0x07},
  {"7", 0x08}, {"ampersand", 0x08},
  {"8", 0x09}, {"asterisk", 0x09},
  {"9", 0x0a}, {"parenleft", 0x0a},
  {"0", 0x0b}, {"parenright", 0x0b},
  {"minus", 0x0c}, {"underscore", 0x0c},
  {"equal", 0x0d}, {"plus", 0x0d},
  {"BackSpace", 0x0e},
  /* row 2 */
  {"Tab", 0x0f}, {"ISO_Left_Tab", 0x0f},
  {"q", 0x10}, {"w", 0x11}, {"e", 0x12}, {"r", 0x13}, {"t", 0x14},
  {"y", 0x15}, {"u", 0x16}, {"i", 0x17}, {"o", 0x18}, {"p", 0x19},
  {"bracketleft", 0x1a}, {"braceleft", 0x1a},
  {"bracketright", 0x1b}, {"braceright", 0x1b},
  {"Return", 0x1c},
  /* row 3 */
  {"Control_L", 0x1d},
  {"a", 0x1e}, {"s", 0x1f}, {"d", 0x20}, {"f", 0x21}, {"g", 0x22},
  {"h", 0x23}, {"j", 0x24}, {"k", 0x25}, {"l", 0x26},
  {"semicolon", 0x27}, {"colon", 0x27},
  {"apostrophe", 0x28}, {"quotedbl", 0x28},
  {"grave", 0x29}, {"asciitilde", 0x29},
  /* row 4 */
  {"Shift_L", 0x2a},
  {"backslash", 0x2b}, {"bar", 0x2b},
  {"z", 0x2c}, {"x", 0x2d}, {"c", 0x2e}, {"v", 0x2f}, {"b", 0x30},
  {"n", 0x31}, {"m", 0x32},
  {"comma", 0x33}, {"less", 0x33},
  {"period", 0x34}, {"greater", 0x34},
  {"slash", 0x35}, {"question", 0x35},
  {"Shift_R", 0x36},
  {"KP_Multiply", 0x37},
  {"Alt_L", 0x38}, {"Meta_L", 0x38},
  {"space", 0x39},
  {"Caps_Lock", 0x3a},
  /* function keys */
  {"F1", 0x3b}, {"F2", 0x3c}, {"F3", 0x3d}, {"F4", 0x3e}, {"F5", 0x3f},
  {"F6", 0x40}, {"F7", 0x41}, {"F8", 0x42}, {"F9", 0x43}, {"F10", 0x44},
  {"F11", 0x57}, {"F12", 0x58},
  {"Num_Lock", 0x45},
  {"Scroll_Lock", 0x46},
  /* keypad (both NumLock states) */
  {"KP_7", 0x47}, {"KP_Home", 0x47},
  {"KP_8", 0x48}, {"KP_Up", 0x48},
  {"KP_9", 0x49}, {"KP_Prior", 0x49}, {"KP_Page_Up", 0x49},
  {"KP_Subtract", 0x4a},
  {"KP_4", 0x4b}, {"KP_Left", 0x4b},
  {"KP_5", 0x4c}, {"KP_Begin", 0x4c},
  {"KP_6", 0x4d}, {"KP_Right", 0x4d},
  {"KP_Add", 0x4e},
  {"KP_1", 0x4f}, {"KP_End", 0x4f},
  {"KP_2", 0x50}, {"KP_Down", 0x50},
  {"KP_3", 0x51}, {"KP_Next", 0x51}, {"KP_Page_Down", 0x51},
  {"KP_0", 0x52}, {"KP_Insert", 0x52},
  {"KP_Decimal", 0x53}, {"KP_Delete", 0x53},
  {"KP_Enter", 0x11c},
  {"KP_Divide", 0x135},
  /* E0 keys */
  {"Control_R", 0x11d},
  {"Print", 0x137}, {"Sys_Req", 0x137},
  {"Alt_R", 0x138}, {"Meta_R", 0x138}, {"ISO_Level3_Shift", 0x138},
  {"Home", 0x147},
  {"Up", 0x148},
  {"Prior", 0x149}, {"Page_Up", 0x149},
  {"Left", 0x14b},
  {"Right", 0x14d},
  {"End", 0x14f},
  {"Down", 0x150},
  {"Next", 0x151}, {"Page_Down", 0x151},
  {"Insert", 0x152},
  {"Delete", 0x153},
  {"Super_L", 0x15b},
  {"Super_R", 0x15c},
  {"Menu", 0x15d},
};
/* *INDENT-ON* */

guint
gst_spice_keymap_lookup (const gchar * keysym)
{
  gchar lower[2];
  guint i;

  if (!keysym || !*keysym)
    return 0;
  /* "A".."Z": the letter's key, Shift is the user's */
  if (keysym[1] == '\0' && g_ascii_isupper (keysym[0])) {
    lower[0] = g_ascii_tolower (keysym[0]);
    lower[1] = '\0';
    keysym = lower;
  }
  for (i = 0; i < G_N_ELEMENTS (keys); i++)
    if (strcmp (keys[i].name, keysym) == 0)
      return keys[i].code;
  return 0;
}
