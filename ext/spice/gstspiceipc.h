/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
#ifndef __GST_SPICE_IPC_H__
#define __GST_SPICE_IPC_H__

#include <glib.h>

G_BEGIN_DECLS

/*
 * The protocol between the plugin and its SPICE client helper
 * (gst-spice-client): one AF_UNIX SOCK_SEQPACKET socket pair per server
 * connection, the helper's end on its fd 3.  Every message is one packet:
 * a GstSpiceIpcHeader, a fixed body (the struct named below, or none;
 * padded with zeros to 8 bytes, so the tail is aligned), then a variable
 * tail (bytes, structs or NUL-terminated strings).  File descriptors
 * travel beside it (SCM_RIGHTS).  A tail larger than
 * GST_SPICE_IPC_MAX_INLINE travels in a sealed memfd passed as the last fd
 * (GST_SPICE_IPC_FLAG_TAIL_FD).  Both ends come from the same build; the
 * first message (HELLO, answered by WELCOME) checks GST_SPICE_IPC_VERSION,
 * so a plugin and a helper of different builds refuse each other with a
 * clear error instead of misreading structs.
 *
 * "sub" is a subscription: one listener of the plugin's session, which the
 * helper mirrors as one listener of its engine; events carry its id.
 * "req" numbers a write the helper answers with WRITE_DONE.
 */

#define GST_SPICE_IPC_VERSION 2
/* fd 3 of the helper is its end of the socket */
#define GST_SPICE_IPC_HELPER_FD 3
/* bytes of tail sent inline; more goes through a memfd */
#define GST_SPICE_IPC_MAX_INLINE (96 * 1024)
/* socket buffer asked for (the kernel caps it at net.core.wmem_max) */
#define GST_SPICE_IPC_SOCKET_BUFFER (4 * 1024 * 1024)
#define GST_SPICE_IPC_MAX_FDS 4
/* how long a GL draw forwarded to the plugin is held by the helper's
 * engine at most: the plugin applies the listeners' own deadlines, this
 * only covers a plugin that stopped answering */
#define GST_SPICE_IPC_GL_HOLD_MS 10000

typedef enum
{
  /* plugin -> helper */
  GST_SPICE_IPC_HELLO = 1,      /* HelloBody; tail uri\0password\0ca\0subject\0 */
  GST_SPICE_IPC_FEATURES,       /* FeaturesBody: a later user's wishes */
  GST_SPICE_IPC_SUBSCRIBE,      /* sub; SubscribeBody; tail: port name */
  GST_SPICE_IPC_UNSUBSCRIBE,    /* sub */
  GST_SPICE_IPC_SHM_ADD,        /* id; ShmAddBody; fd: a memfd frame buffer */
  GST_SPICE_IPC_SHM_REMOVE,     /* id */
  GST_SPICE_IPC_COPY,           /* CopyBody: primary surface -> shm buffer */
  GST_SPICE_IPC_SYNC,           /* answered by SYNCED once every message
                                 * before it was handled */
  GST_SPICE_IPC_SETTLE,         /* id (token): answered by SETTLED from an idle
                                 * of G_PRIORITY_DEFAULT_IDLE in the helper:
                                 * no SPICE message is waiting any more */
  GST_SPICE_IPC_GL_DRAW_DONE,   /* GlDrawDoneBody */
  GST_SPICE_IPC_INPUT,          /* InputBody */
  GST_SPICE_IPC_PORT_WRITE,     /* req; body: port name\0; tail: bytes */
  GST_SPICE_IPC_RECORD_WRITE,   /* req; tail: S16 samples */
  GST_SPICE_IPC_PLAYBACK_DELAY, /* sub; DelayBody */
  GST_SPICE_IPC_CLOSE,          /* disconnect and exit */
  GST_SPICE_IPC_RING_ADD,       /* RingAddBody; fd: the write ring (memfd) */
  GST_SPICE_IPC_PORT_WRITE_RING,        /* body: port name; tail: RingWrite
                                         * entries, in order */

  /* helper -> plugin */
  GST_SPICE_IPC_WELCOME = 64,   /* WelcomeBody */
  GST_SPICE_IPC_STATE,          /* sub; StateBody; tail domain\0message\0debug\0 */
  GST_SPICE_IPC_PRIMARY_CREATE, /* sub; PrimaryBody */
  GST_SPICE_IPC_PRIMARY_DESTROY,        /* sub */
  GST_SPICE_IPC_INVALIDATE,     /* sub; RectBody */
  GST_SPICE_IPC_CURSOR,         /* sub; CursorBody; tail: RGBA */
  GST_SPICE_IPC_GL_SCANOUT,     /* sub; ScanoutBody; fd: the scanout */
  GST_SPICE_IPC_GL_DRAW,        /* sub; GlDrawBody */
  GST_SPICE_IPC_PLAYBACK_START, /* sub; AudioFormatBody */
  GST_SPICE_IPC_PLAYBACK_DATA,  /* sub; tail: S16 samples */
  GST_SPICE_IPC_PLAYBACK_STOP,  /* sub */
  GST_SPICE_IPC_RECORD_START,   /* sub; AudioFormatBody */
  GST_SPICE_IPC_RECORD_STOP,    /* sub */
  GST_SPICE_IPC_PORT_OPENED,    /* sub; OpenedBody */
  GST_SPICE_IPC_PORT_DATA,      /* sub; tail: bytes */
  GST_SPICE_IPC_WRITE_DONE,     /* req; WriteDoneBody; tail domain\0message\0 */
  GST_SPICE_IPC_SYNCED,         /* CopiesBody */
  GST_SPICE_IPC_SETTLED,        /* id: the token of SETTLE; CopiesBody */
  GST_SPICE_IPC_WRITES_DONE,    /* tail: guint32 reqs written successfully */
} GstSpiceIpcType;

#define GST_SPICE_IPC_FLAG_TAIL_FD (1 << 0)

typedef struct
{
  guint32 type;
  guint32 id;
  guint32 body_size;
  guint32 flags;
  guint64 tail_size;
} GstSpiceIpcHeader;

typedef struct
{
  guint32 version;
  guint32 reconnect;
  guint32 features;             /* GstSpiceSessionFeatures */
  guint32 link_timeout;         /* ms, 0: off */
} GstSpiceIpcHelloBody;

typedef struct
{
  guint32 version;
  guint32 pid;
} GstSpiceIpcWelcomeBody;

typedef struct
{
  guint32 reconnect;
  guint32 features;
  guint32 link_timeout;         /* ms, 0: off */
  guint32 pad;
} GstSpiceIpcFeaturesBody;

typedef enum
{
  GST_SPICE_IPC_SUB_DISPLAY,
  GST_SPICE_IPC_SUB_PLAYBACK,
  GST_SPICE_IPC_SUB_RECORD,
  GST_SPICE_IPC_SUB_PORT,
} GstSpiceIpcSubKind;

typedef struct
{
  guint32 kind;                 /* GstSpiceIpcSubKind */
  gint32 channel_id;            /* display: the head */
} GstSpiceIpcSubscribeBody;

typedef struct
{
  guint64 size;
} GstSpiceIpcShmAddBody;

typedef struct
{
  gint32 channel_id;
  guint32 surface;              /* PrimaryBody.surface it was asked for */
  guint32 shm;                  /* SHM_ADD id */
  guint32 flip;                 /* source rows bottom-up */
  guint64 offset;               /* of the plane in the shm buffer */
  gint32 stride;                /* of the plane */
  gint32 x, y, w, h;            /* clamped to both surfaces by the helper */
  guint32 pad;
} GstSpiceIpcCopyBody;

/* COPY messages this helper has handled so far (in the order sent: every
 * copy asked for before the last of them is done) */
typedef struct
{
  guint64 copies;
} GstSpiceIpcCopiesBody;

typedef struct
{
  guint64 size;
} GstSpiceIpcRingAddBody;

/* bytes the plugin wrote into the ring for request @req; untouched until
 * WRITES_DONE (or WRITE_DONE) answers it */
typedef struct
{
  guint32 req;
  guint32 pad;
  guint64 offset;
  guint64 size;
} GstSpiceIpcRingWrite;

typedef struct
{
  gint32 channel_id;
  guint32 pad;
  guint64 seq;
} GstSpiceIpcGlDrawDoneBody;

typedef enum
{
  GST_SPICE_IPC_INPUT_KEY,      /* a: scancode, b: press */
  GST_SPICE_IPC_INPUT_POINTER,  /* a, b: position */
  GST_SPICE_IPC_INPUT_BUTTON,   /* a: button, b: press */
} GstSpiceIpcInputKind;

typedef struct
{
  guint32 kind;
  gint32 channel_id;
  gint32 a, b;
} GstSpiceIpcInputBody;

typedef struct
{
  guint32 ms;
} GstSpiceIpcDelayBody;

typedef struct
{
  guint32 state;                /* GstSpiceSessionState */
  gint32 code;                  /* error code, with a domain in the tail */
} GstSpiceIpcStateBody;

typedef struct
{
  gint32 format;                /* GstVideoFormat */
  gint32 spice_format;
  guint32 width, height, stride;
  guint32 surface;              /* names it in COPY */
} GstSpiceIpcPrimaryBody;

typedef struct
{
  gint32 x, y, w, h;
} GstSpiceIpcRectBody;

typedef struct
{
  guint32 visible;
  gint32 x, y;
  guint32 width, height, hot_x, hot_y;
  guint32 has_rgba;
} GstSpiceIpcCursorBody;

typedef struct
{
  guint32 width, height, stride, fourcc, y0top;
} GstSpiceIpcScanoutBody;

typedef struct
{
  guint32 x, y, w, h;
  guint64 seq;
  gint32 channel_id;            /* for the answer */
  guint32 pad;
} GstSpiceIpcGlDrawBody;

typedef struct
{
  guint32 channels, rate;
} GstSpiceIpcAudioFormatBody;

typedef struct
{
  guint32 opened;
} GstSpiceIpcOpenedBody;

typedef struct
{
  gint32 code;                  /* with a domain in the tail; none: success */
} GstSpiceIpcWriteDoneBody;

/* the largest body (a port name in PORT_WRITE) */
#define GST_SPICE_IPC_MAX_BODY 512

/* One message to send: header and body inline, the tail by reference (or
 * in a memfd when large), fds duplicated.  The plugin queues packets the
 * socket cannot take at once; the helper sends them blocking. */
typedef struct _GstSpiceIpcPacket GstSpiceIpcPacket;

GstSpiceIpcPacket *gst_spice_ipc_packet_new  (guint32 type, guint32 id,
                                              gconstpointer body,
                                              gsize body_size,
                                              GBytes * tail,
                                              const gint * fds, guint n_fds,
                                              GError ** error);
/* 0: sent; EAGAIN: the socket is full (@nonblock only); else an errno */
gint               gst_spice_ipc_packet_send (GstSpiceIpcPacket * packet,
                                              gint sock, gboolean nonblock);
void               gst_spice_ipc_packet_free (GstSpiceIpcPacket * packet);

/* A message received: @body has header.body_size bytes, @tail may be NULL
 * (none); @fds are owned by the message (closed by _clear unless taken:
 * set to -1). */
typedef struct
{
  GstSpiceIpcHeader header;
  const guint8 *body;
  GBytes *data;
  GBytes *tail;
  gint fds[GST_SPICE_IPC_MAX_FDS];
  guint n_fds;
} GstSpiceIpcMsg;

/* 0: a message; EAGAIN: none waiting; ECONNRESET: the peer is gone (EOF);
 * EPROTO: a malformed message; else an errno */
gint               gst_spice_ipc_recv        (gint sock, GstSpiceIpcMsg * msg);
void               gst_spice_ipc_msg_clear   (GstSpiceIpcMsg * msg);
/* the body as @size bytes at least, or NULL (a malformed message) */
gconstpointer      gst_spice_ipc_msg_body    (const GstSpiceIpcMsg * msg,
                                              gsize size);
/* the @n-th NUL-terminated string of the tail (NULL when missing or
 * empty) */
const gchar       *gst_spice_ipc_msg_string  (const GstSpiceIpcMsg * msg,
                                              guint n);
/* the tail's bytes after its @n NUL-terminated strings */
GBytes            *gst_spice_ipc_msg_bytes_after (const GstSpiceIpcMsg * msg,
                                              guint n);

/* @n strings (NULL travels as an empty one), each NUL-terminated */
GBytes            *gst_spice_ipc_strings     (guint n, ...);
gboolean           gst_spice_ipc_socket_pair (gint fds[2], GError ** error);

#define GST_SPICE_IPC_BODY(msg, Type) \
  ((const Type *) gst_spice_ipc_msg_body ((msg), sizeof (Type)))

G_END_DECLS

#endif /* __GST_SPICE_IPC_H__ */
