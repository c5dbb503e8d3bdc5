/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
/**
 * SECTION:element-eglstreamupload
 * @title: eglstreamupload
 * @see_also: spicesrc, dmabufimport, gldownload, nvh264enc
 *
 * eglstreamupload consumes an EGLStream, the way NVIDIA renderers (an
 * Android container's, a VM's) hand out their frames instead of DMA-BUFs,
 * and turns each frame into an OpenGL texture that GPU encoders take:
 * `video/x-raw(memory:GLMemory),format=RGBA,texture-target=2D`, allocated
 * from a #GstGLBufferPool (GLMemoryPBO in a desktop OpenGL 3 context, what
 * `nvh264enc` accepts without a copy).  The CPU never touches a pixel.
 *
 * Its input is `video/x-raw(memory:EGLStream)`: each buffer holds the
 * stream's file descriptor (made by the producer with
 * `eglGetStreamFileDescriptorKHR`) in a #GstFdMemory and means "a new frame
 * is ready in this stream".  spicesrc produces such buffers when a SPICE GL
 * scanout is an EGLStream; an application can push them with appsrc.
 *
 * On the first buffer the element opens the stream
 * (`eglCreateStreamFromFileDescriptorKHR`) and connects to it as its
 * consumer, an external GL texture (`eglStreamConsumerGLTextureExternalKHR`)
 * in the element's GL context.  For each buffer it then waits up to
 * #GstEglStreamUpload:timeout for a new frame, acquires it, draws it into
 * the output texture (one GPU draw, turning the GL producer's bottom-up
 * picture upright), waits for the GPU to have read it and releases it back
 * to the stream before the input buffer is let go, so the producer may
 * present its next frame at once.
 *
 * When the element falls behind, the newest frame wins: frames the stream
 * dropped or the element skipped are counted in `frames-dropped` of
 * #GstEglStreamUpload:stats, and the buffers that announced them are
 * dropped without waiting.  A buffer whose frame does not arrive in time
 * is dropped and counted in `acquire-timeouts`.  New caps (a new size) get
 * a new output pool; a buffer carrying another stream's fd makes the
 * element leave the old stream and consume the new one.  When the producer
 * disconnects, the element sends EOS, or posts an error with
 * #GstEglStreamUpload:error-on-disconnect.
 *
 * The EGL display must have `EGL_KHR_stream`,
 * `EGL_KHR_stream_cross_process_fd` and `EGL_KHR_stream_consumer_gltexture`
 * (NVIDIA's driver has them; Mesa has none): without them the element
 * fails when going to READY, with an error naming what is missing and the
 * display.  The GL context must have `GL_OES_EGL_image_external` or
 * `GL_NV_EGL_stream_consumer_external`.
 *
 * The GL display is shared with the neighbours and the application through
 * #GstContext like in every GL element; when nobody offers one and the
 * environment chooses no window system, the element opens EGL device
 * #GstEglStreamUpload:device itself (no X server needed), as dmabufimport
 * does.
 *
 * When downstream takes CUDA memory only, the output is `memory:CUDAMemory`
 * RGBA (`nvh264enc`) or NV12 (`nvcudah264enc`, converted in GL, BT.601
 * limited range) on the neighbours' #GstCudaContext.  The stream is then
 * consumed by CUDA (#GstEglStreamUpload:consumer `auto`, or `cuda`): the
 * CUDA EGLStream consumer of `libcuda.so.1`, looked up at run time.
 * Without CUDA no CUDA caps are offered and `consumer=cuda` fails at READY
 * naming what is missing.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 spicesrc uri=spice+unix:///run/aic/spice.sock ! eglstreamupload ! nvh264enc ! h264parse ! matroskamux ! filesink location=aic.mkv
 * ]| Encodes an Android container's display, rendered into an EGLStream, on
 * an NVIDIA GPU without any copy through system memory.
 * |[
 * gst-launch-1.0 spicesrc uri=spice+unix:///run/aic/spice.sock ! eglstreamupload device=1 ! gldownload ! videoconvert ! x264enc ! h264parse ! matroskamux ! filesink location=aic.mkv
 * ]| Uses the second EGL device and reads the frames back for a software
 * encoder (also a way to look at the element's output).
 *
 * ## From an application (appsrc)
 * |[
 * pipeline = gst_parse_launch ("appsrc name=src format=time "
 *     "caps=video/x-raw(memory:EGLStream),format=RGBA,width=1280,"
 *     "height=720,framerate=60/1 ! eglstreamupload ! nvh264enc ! ...", NULL);
 * alloc = gst_fd_allocator_new ();
 * // fd: from eglGetStreamFileDescriptorKHR in the producer, received over
 * // a unix socket (SCM_RIGHTS) before any consumer connected
 * // after each frame the producer presented:
 * buf = gst_buffer_new ();
 * gst_buffer_append_memory (buf, gst_spice_egl_stream_memory_new (alloc,
 *         dup (fd)));
 * gst_app_src_push_buffer (GST_APP_SRC (src), buf);
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <EGL/egl.h>
#include <EGL/eglext.h>

#include <gst/gl/egl/gstgldisplay_egl.h>
#include <gst/gl/gstglfuncs.h>

#include "gsteglstreamupload.h"
#include "gstgpublit.h"
#include "gstgpucuda.h"
#include "gstgpudisplay.h"
#include "gstspiceeglstream.h"

GST_DEBUG_CATEGORY_STATIC (gst_egl_stream_upload_debug);
#define GST_CAT_DEFAULT gst_egl_stream_upload_debug

#ifndef GL_TEXTURE_EXTERNAL_OES
#define GL_TEXTURE_EXTERNAL_OES 0x8D65
#endif

typedef enum
{
  CONSUMER_AUTO,
  CONSUMER_GL,
  CONSUMER_CUDA,
} Consumer;

#define DEFAULT_DEVICE GST_GPU_DISPLAY_DEFAULT_DEVICE
#define DEFAULT_CONSUMER CONSUMER_AUTO
#define DEFAULT_ERROR_ON_DISCONNECT FALSE
#define DEFAULT_TIMEOUT 1000    /* ms */
/* how often the stream state is looked at while waiting for a frame */
#define POLL_INTERVAL_US 250

/* the last one only for the GL consumer */
static const gchar *const required_egl[] = { "EGL_KHR_stream",
  "EGL_KHR_stream_cross_process_fd", "EGL_KHR_stream_consumer_gltexture"
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_VIDEO_CAPS_MAKE_WITH_FEATURES
        (GST_CAPS_FEATURE_MEMORY_EGL_STREAM, GST_GPU_BLIT_RGB_FORMATS)));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_GPU_BLIT_SRC_CAPS GST_GPU_CUDA_SRC_CAPS));

enum
{
  PROP_0,
  PROP_DEVICE,
  PROP_CONSUMER,
  PROP_ERROR_ON_DISCONNECT,
  PROP_TIMEOUT,
  PROP_STATS,
};

typedef struct
{
  guint device;
  Consumer consumer;
  gboolean error_on_disconnect;
  guint timeout;                /* ms */
} Settings;

/* The EGL entry points of the stream extensions */
typedef struct
{
  PFNEGLCREATESTREAMFROMFILEDESCRIPTORKHRPROC create_from_fd;
  PFNEGLDESTROYSTREAMKHRPROC destroy;
  PFNEGLSTREAMATTRIBKHRPROC attrib;
  PFNEGLQUERYSTREAMKHRPROC query;
  PFNEGLQUERYSTREAMU64KHRPROC query_u64;
  PFNEGLSTREAMCONSUMERGLTEXTUREEXTERNALKHRPROC consumer_gltexture;
  PFNEGLSTREAMCONSUMERACQUIREKHRPROC acquire;
  PFNEGLSTREAMCONSUMERRELEASEKHRPROC release;
} StreamProcs;

struct _GstEglStreamUpload
{
  GstGLBaseFilter parent;

  Settings settings;            /* GST_OBJECT_LOCK */
  GstGpuDisplay display;

  /* Set at NULL -> READY by the state change thread, read-only until
   * READY -> NULL: the display the stream extensions were found on. */
  EGLDisplay egl_display;
  StreamProcs egl;

  /* The GstCudaContext shared with the neighbours: set by set_context (an
   * application or a neighbour) or by the streaming thread (decide_allocation,
   * connecting the CUDA consumer); dropped at READY -> NULL. */
  GstObject *cuda_ctx;

  /* streaming thread (set_caps, transform, decide_allocation; start/stop
   * with the streaming thread stopped) */
  Settings active;              /* snapshot of settings at start() */
  GstVideoInfo in_info;
  /* buffers still to come for frames already consumed or dropped: they
   * are dropped without waiting */
  guint64 credit;
  gint flushing;                /* atomic: FLUSH_START .. FLUSH_STOP */
  gboolean cuda_out;            /* the output is memory:CUDAMemory */

  /* GL thread; read by the streaming thread after the synchronous
   * gst_gl_context_thread_add() call that wrote it */
  struct
  {
    gchar *renderer;
    GstGpuBlit *blit;           /* from the external texture (GL consumer) */
    GstGpuBlit *blit_2d;        /* from a 2D texture (CUDA consumer) */
    EGLStreamKHR stream;        /* EGL_NO_STREAM_KHR: not connected */
    Consumer kind;              /* GL or CUDA, while connected */
    GLuint tex;                 /* the external texture consuming it */
    GstGpuCudaStream *cuda_stream;      /* the CUDA consumer */
    GstGpuCudaOut *cuda_out;    /* CUDA output, NULL for GL output */
    gchar *cuda_error;          /* why cuda_out could not be made */
    gint fd;                    /* the fd number it came from, */
    dev_t dev;                  /* and the file behind it */
    ino_t ino;
    gboolean have_frame;
    EGLuint64KHR last_frame;    /* EGL_CONSUMER_FRAME_KHR of the last one */
  } gl;

  struct
  {
    guint64 frames, dropped, timeouts;
    const gchar *consumer;
  } stats;                      /* GST_OBJECT_LOCK */
};

/* one buffer's trip to the GL thread */
typedef struct
{
  GstEglStreamUpload *self;
  gint fd;
  GstBuffer *outbuf;
  Consumer kind;                /* connect: GL or CUDA */

  /* results */
  gboolean ok;
  gboolean disconnected;        /* acquiring found the producer gone */
  guint64 dropped;
  gchar *error;
} Frame;

#define gst_egl_stream_upload_parent_class parent_class
G_DEFINE_TYPE (GstEglStreamUpload, gst_egl_stream_upload,
    GST_TYPE_GL_BASE_FILTER);
GST_ELEMENT_REGISTER_DEFINE (eglstreamupload, "eglstreamupload",
    GST_RANK_NONE, GST_TYPE_EGL_STREAM_UPLOAD);

GType
gst_egl_stream_upload_consumer_get_type (void)
{
  static gsize type = 0;
  /* *INDENT-OFF* */
  static const GEnumValue values[] = {
    {CONSUMER_AUTO, "CUDA when downstream negotiated CUDA memory (and "
          "libcuda.so.1 has the EGLStream consumer), else GL", "auto"},
    {CONSUMER_GL, "An external GL texture in the element's GL context",
          "gl"},
    {CONSUMER_CUDA, "The CUDA EGLStream consumer (cuEGLStreamConsumer*, "
          "libcuda.so.1)", "cuda"},
    {0, NULL, NULL}
  };
  /* *INDENT-ON* */

  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("GstEglStreamUploadConsumer", values);

    g_once_init_leave (&type, t);
  }
  return type;
}

/* ---------------------------------------------------------------------- */
/* Properties                                                             */

static GstStructure *
make_stats (GstEglStreamUpload * self)
{
  GstStructure *s;

  GST_OBJECT_LOCK (self);
  s = gst_structure_new ("application/x-eglstreamupload-stats",
      "frames", G_TYPE_UINT64, self->stats.frames,
      "frames-dropped", G_TYPE_UINT64, self->stats.dropped,
      "acquire-timeouts", G_TYPE_UINT64, self->stats.timeouts,
      "consumer", G_TYPE_STRING, self->stats.consumer, NULL);
  GST_OBJECT_UNLOCK (self);
  return s;
}

static void
gst_egl_stream_upload_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstEglStreamUpload *self = GST_EGL_STREAM_UPLOAD (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_DEVICE:
      self->settings.device = g_value_get_uint (value);
      break;
    case PROP_CONSUMER:
      self->settings.consumer = g_value_get_enum (value);
      break;
    case PROP_ERROR_ON_DISCONNECT:
      self->settings.error_on_disconnect = g_value_get_boolean (value);
      break;
    case PROP_TIMEOUT:
      self->settings.timeout = g_value_get_uint (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_egl_stream_upload_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstEglStreamUpload *self = GST_EGL_STREAM_UPLOAD (object);

  if (prop_id == PROP_STATS) {
    g_value_take_boxed (value, make_stats (self));
    return;
  }
  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_DEVICE:
      g_value_set_uint (value, self->settings.device);
      break;
    case PROP_CONSUMER:
      g_value_set_enum (value, self->settings.consumer);
      break;
    case PROP_ERROR_ON_DISCONNECT:
      g_value_set_boolean (value, self->settings.error_on_disconnect);
      break;
    case PROP_TIMEOUT:
      g_value_set_uint (value, self->settings.timeout);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static gchar *
describe_display (GstEglStreamUpload * self)
{
  return gst_gpu_display_describe (&self->display, GST_GL_BASE_FILTER (self));
}

/* ---------------------------------------------------------------------- */
/* EGL: the extensions, checked at NULL -> READY                          */

/* The missing extensions as a comma-separated list, NULL if none. */
static gchar *
missing_extensions (const gchar * exts, guint n_required)
{
  GString *missing = g_string_new (NULL);
  guint i;

  for (i = 0; i < n_required; i++) {
    if (exts && gst_gl_check_extension (required_egl[i], exts))
      continue;
    if (missing->len)
      g_string_append (missing, ", ");
    g_string_append (missing, required_egl[i]);
  }
  return g_string_free (missing, missing->len == 0);
}

static gboolean
load_stream_procs (StreamProcs * p)
{
#define LOAD(field, name) \
  p->field = (gpointer) eglGetProcAddress (name); \
  if (!p->field) \
    return FALSE;
  LOAD (create_from_fd, "eglCreateStreamFromFileDescriptorKHR");
  LOAD (destroy, "eglDestroyStreamKHR");
  LOAD (attrib, "eglStreamAttribKHR");
  LOAD (query, "eglQueryStreamKHR");
  LOAD (query_u64, "eglQueryStreamu64KHR");
  /* NULL without EGL_KHR_stream_consumer_gltexture (CUDA consumer only) */
  p->consumer_gltexture = (gpointer)
      eglGetProcAddress ("eglStreamConsumerGLTextureExternalKHR");
  LOAD (acquire, "eglStreamConsumerAcquireKHR");
  LOAD (release, "eglStreamConsumerReleaseKHR");
#undef LOAD
  return TRUE;
}

/* After GstGLBaseFilter found the display: can its EGL display consume
 * EGLStreams?  Posts the error when not.  Never blocks: eglInitialize on a
 * device or surfaceless display returns at once. */
static gboolean
check_egl (GstEglStreamUpload * self, Consumer consumer)
{
  GstGLDisplay *display = GST_GL_BASE_FILTER (self)->display;
  GstGLDisplayEGL *egl = NULL;
  const gchar *exts, *vendor, *version;
  gchar *missing = NULL, *where;
  EGLDisplay dpy;

  if (!display)
    goto no_egl;
  egl = gst_gl_display_egl_from_gl_display (display);
  if (!egl)
    goto no_egl;
  dpy = (EGLDisplay) gst_gl_display_get_handle (GST_GL_DISPLAY (egl));
  gst_object_unref (egl);
  if (dpy == EGL_NO_DISPLAY || !eglInitialize (dpy, NULL, NULL))
    goto no_egl;

  exts = eglQueryString (dpy, EGL_EXTENSIONS);
  /* the CUDA consumer needs no GL texture consumer */
  missing = missing_extensions (exts, consumer == CONSUMER_CUDA ?
      G_N_ELEMENTS (required_egl) - 1 : G_N_ELEMENTS (required_egl));
  if (missing)
    goto missing;
  if (!load_stream_procs (&self->egl))
    goto missing;
  self->egl_display = dpy;
  GST_INFO_OBJECT (self, "EGL display %p (%s) consumes EGLStreams", dpy,
      eglQueryString (dpy, EGL_VENDOR));
  return TRUE;

  /* ERRORS */
no_egl:
  {
    where = describe_display (self);
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Cannot consume EGLStreams: no EGL display (on %s)", where),
        ("EGLStreams need an EGL display; EGL error 0x%x", eglGetError ()));
    g_free (where);
    return FALSE;
  }
missing:
  {
    where = describe_display (self);
    vendor = eglQueryString (dpy, EGL_VENDOR);
    version = eglQueryString (dpy, EGL_VERSION);
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Cannot consume EGLStreams: the EGL display lacks %s (%s, EGL "
            "vendor %s)", missing ? missing : "the stream entry points",
            where, GST_STR_NULL (vendor)),
        ("EGL %s by %s on %s; EGLStreams need %s, %s and %s (an NVIDIA "
            "driver has them); EGL extensions: %s", GST_STR_NULL (version),
            GST_STR_NULL (vendor), where, required_egl[0], required_egl[1],
            required_egl[2], GST_STR_NULL (exts)));
    g_free (where);
    g_free (missing);
    return FALSE;
  }
}

/* ---------------------------------------------------------------------- */
/* GL thread                                                              */

static gboolean
gst_egl_stream_upload_gl_start (GstGLBaseFilter * base)
{
  GstEglStreamUpload *self = GST_EGL_STREAM_UPLOAD (base);
  GstGLContext *context = base->context;
  const GstGLFuncs *gl = context->gl_vtable;
  GError *error = NULL;
  gchar *where;

  self->gl.renderer = g_strdup ((const gchar *) gl->GetString (GL_RENDERER));
  /* the stream is opened on the context's display: it must be the one
   * whose extensions were checked */
  if (!(gst_gl_context_get_gl_platform (context) & GST_GL_PLATFORM_EGL)
      || eglGetCurrentDisplay () != self->egl_display)
    goto not_egl;

  /* the CUDA consumer copies into a 2D texture; the GL one (also a
   * possible choice of auto) samples an external texture */
  if (self->active.consumer != CONSUMER_CUDA) {
    self->gl.blit = gst_gpu_blit_new (context,
        GST_GL_TEXTURE_TARGET_EXTERNAL_OES, &error);
    if (!self->gl.blit)
      goto no_external;
  }
  GST_INFO_OBJECT (self, "GL renderer %s", self->gl.renderer);
  return TRUE;

  /* ERRORS */
not_egl:
  {
    where = describe_display (self);
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Cannot consume EGLStreams: the GL context is not an EGL context "
            "of the checked display (%s)", where),
        ("GL renderer %s", self->gl.renderer));
    g_free (where);
    return FALSE;
  }
no_external:
  {
    where = describe_display (self);
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Cannot consume EGLStreams: the GL context cannot sample external "
            "textures (GL_OES_EGL_image_external or "
            "GL_NV_EGL_stream_consumer_external)"),
        ("GL renderer %s on %s: %s", self->gl.renderer, where, error->message));
    g_free (where);
    g_clear_error (&error);
    return FALSE;
  }
}

static void
disconnect_stream (GstEglStreamUpload * self, const GstGLFuncs * gl)
{
  /* the CUDA consumer leaves before the stream goes */
  g_clear_pointer (&self->gl.cuda_stream, gst_gpu_cuda_stream_disconnect);
  if (self->gl.stream != EGL_NO_STREAM_KHR) {
    GST_DEBUG_OBJECT (self, "leaving the stream of fd %d", self->gl.fd);
    self->egl.destroy (self->egl_display, self->gl.stream);
  }
  if (self->gl.tex)
    gl->DeleteTextures (1, &self->gl.tex);
  self->gl.stream = EGL_NO_STREAM_KHR;
  self->gl.tex = 0;
  self->gl.fd = -1;
  self->gl.have_frame = FALSE;
}

static void
gst_egl_stream_upload_gl_stop (GstGLBaseFilter * base)
{
  GstEglStreamUpload *self = GST_EGL_STREAM_UPLOAD (base);

  disconnect_stream (self, base->context->gl_vtable);
  g_clear_pointer (&self->gl.blit, gst_gpu_blit_free);
  g_clear_pointer (&self->gl.blit_2d, gst_gpu_blit_free);
  g_clear_pointer (&self->gl.cuda_out, gst_gpu_cuda_out_free);
  g_clear_pointer (&self->gl.cuda_error, g_free);
  g_clear_pointer (&self->gl.renderer, g_free);
}

static gboolean
gst_egl_stream_upload_gl_set_caps (GstGLBaseFilter * base, GstCaps * incaps,
    GstCaps * outcaps)
{
  GstEglStreamUpload *self = GST_EGL_STREAM_UPLOAD (base);

  g_clear_pointer (&self->gl.cuda_out, gst_gpu_cuda_out_free);
  g_clear_pointer (&self->gl.cuda_error, g_free);
  if (self->cuda_out) {
    self->gl.cuda_out = gst_gpu_cuda_out_new (base->context, self->cuda_ctx,
        outcaps, &self->gl.cuda_error);
    return self->gl.cuda_out != NULL;
  }
  return TRUE;
}

/* Is @fd the stream we consume?  The number alone could have been reused
 * for another stream after upstream closed the old one. */
static gboolean
same_stream (GstEglStreamUpload * self, gint fd)
{
  struct stat st;

  if (self->gl.stream == EGL_NO_STREAM_KHR || fd != self->gl.fd)
    return FALSE;
  if (fstat (fd, &st) != 0)
    return FALSE;
  return st.st_dev == self->gl.dev && st.st_ino == self->gl.ino;
}

static gboolean
connect_stream (GstEglStreamUpload * self, Frame * f)
{
  const GstGLFuncs *gl = GST_GL_BASE_FILTER (self)->context->gl_vtable;
  EGLDisplay dpy = self->egl_display;
  struct stat st;
  GLenum glerr;

  disconnect_stream (self, gl);
  if (fstat (f->fd, &st) != 0) {
    f->error = g_strdup_printf ("fstat on stream fd %d failed: %s", f->fd,
        g_strerror (errno));
    return FALSE;
  }

  self->gl.stream = self->egl.create_from_fd (dpy, f->fd);
  if (self->gl.stream == EGL_NO_STREAM_KHR) {
    f->error = g_strdup_printf ("eglCreateStreamFromFileDescriptorKHR on fd "
        "%d failed with EGL error 0x%x (not an EGLStream fd, or one of "
        "another GPU)", f->fd, eglGetError ());
    return FALSE;
  }
  self->gl.kind = f->kind;
  if (f->kind == CONSUMER_CUDA) {
    self->gl.cuda_stream =
        gst_gpu_cuda_stream_connect (GST_GL_BASE_FILTER (self)->context,
        self->cuda_ctx, self->gl.stream, &f->error);
    if (!self->gl.cuda_stream)
      goto fail;
    goto connected;
  }
  if (!self->egl.consumer_gltexture) {
    f->error = g_strdup ("eglStreamConsumerGLTextureExternalKHR is missing");
    goto fail;
  }

  /* acquire is only called with a new frame there, this only bounds it */
  self->egl.attrib (dpy, self->gl.stream,
      EGL_CONSUMER_ACQUIRE_TIMEOUT_USEC_KHR,
      (EGLint) MIN ((guint64) self->active.timeout * 1000, G_MAXINT32));

  gl->GenTextures (1, &self->gl.tex);
  gl->BindTexture (GL_TEXTURE_EXTERNAL_OES, self->gl.tex);
  gst_gpu_blit_set_nearest (gl, GL_TEXTURE_EXTERNAL_OES);
  while (gl->GetError () != GL_NO_ERROR);
  if (!self->egl.consumer_gltexture (dpy, self->gl.stream)) {
    f->error = g_strdup_printf ("eglStreamConsumerGLTextureExternalKHR "
        "failed with EGL error 0x%x (a consumer is connected already?)",
        eglGetError ());
    gl->BindTexture (GL_TEXTURE_EXTERNAL_OES, 0);
    goto fail;
  }
  glerr = gl->GetError ();
  gl->BindTexture (GL_TEXTURE_EXTERNAL_OES, 0);
  if (glerr != GL_NO_ERROR) {
    f->error = g_strdup_printf ("binding the external texture failed with "
        "GL error 0x%x", glerr);
    goto fail;
  }

connected:
  self->gl.fd = f->fd;
  self->gl.dev = st.st_dev;
  self->gl.ino = st.st_ino;
  GST_INFO_OBJECT (self, "consuming the EGLStream of fd %d with %s", f->fd,
      f->kind == CONSUMER_CUDA ? "CUDA" : "a GL texture");
  return TRUE;

fail:
  disconnect_stream (self, gl);
  return FALSE;
}

static EGLint
stream_state (GstEglStreamUpload * self, EGLStreamKHR stream)
{
  EGLint state = 0;

  if (!self->egl.query (self->egl_display, stream, EGL_STREAM_STATE_KHR,
          &state))
    return 0;
  return state;
}

static void
connect_gl (GstGLContext * context, gpointer data)
{
  Frame *f = data;

  f->ok = connect_stream (f->self, f);
}

/* After an acquire: frames the stream replaced or we skipped */
static void
count_frame (GstEglStreamUpload * self, Frame * f)
{
  EGLuint64KHR frame = 0;

  if (self->egl.query_u64 (self->egl_display, self->gl.stream,
          EGL_CONSUMER_FRAME_KHR, &frame)) {
    if (self->gl.have_frame && frame > self->gl.last_frame + 1)
      f->dropped = frame - self->gl.last_frame - 1;
    self->gl.last_frame = frame;
    self->gl.have_frame = TRUE;
  }
}

/* GL consumer: acquires the newest frame, draws it into @target, releases
 * it. */
static gboolean
draw_gl_frame (GstEglStreamUpload * self, Frame * f, GstBuffer * target)
{
  EGLDisplay dpy = self->egl_display;
  EGLStreamKHR stream = self->gl.stream;
  GstGpuBlitParams params;
  gboolean drawn;

  if (!self->egl.acquire (dpy, stream)) {
    EGLint err = eglGetError ();

    if (stream_state (self, stream) == EGL_STREAM_STATE_DISCONNECTED_KHR) {
      f->disconnected = TRUE;
      return FALSE;
    }
    f->error = g_strdup_printf ("eglStreamConsumerAcquireKHR failed with "
        "EGL error 0x%x", err);
    return FALSE;
  }
  /* a FIFO stream queues frames: catch up with the producer */
  while (stream_state (self, stream) == EGL_STREAM_STATE_NEW_FRAME_AVAILABLE_KHR
      && self->egl.release (dpy, stream) && self->egl.acquire (dpy, stream));
  count_frame (self, f);

  /* a GL producer draws bottom-up, GstGL textures are top-down */
  params.flip = TRUE;
  params.swap_rb = FALSE;
  params.opaque = !GST_VIDEO_INFO_HAS_ALPHA (&self->in_info);
  /* the frame goes back to the producer at release: read it first */
  drawn = gst_gpu_blit_to_buffer (self->gl.blit, self->gl.tex, target,
      &params, TRUE, &f->error);
  if (!self->egl.release (dpy, stream) && !f->error)
    f->error = g_strdup_printf ("eglStreamConsumerReleaseKHR failed with "
        "EGL error 0x%x", eglGetError ());
  return drawn && !f->error;
}

/* CUDA consumer: the frame is copied into a 2D texture on the GPU and
 * released at once, then drawn like the GL consumer's (same flip). */
static gboolean
draw_cuda_frame (GstEglStreamUpload * self, Frame * f, GstBuffer * target)
{
  GstGLContext *context = GST_GL_BASE_FILTER (self)->context;
  GstGpuBlitParams params;
  GError *err = NULL;
  gint width = 0, height = 0;
  gboolean swap_rb = FALSE;
  GLuint tex = 0;

  switch (gst_gpu_cuda_stream_take_frame (self->gl.cuda_stream,
          MIN ((guint64) self->active.timeout * 1000, G_MAXUINT32), &tex,
          &width, &height, &swap_rb, &f->error)) {
    case GST_GPU_CUDA_FRAME_OK:
      break;
    case GST_GPU_CUDA_FRAME_TIMEOUT:
      f->error = g_strdup ("cuEGLStreamConsumerAcquireFrame timed out "
          "although the stream announced a new frame");
      /* fall through */
    case GST_GPU_CUDA_FRAME_ERROR:
      if (stream_state (self, self->gl.stream) ==
          EGL_STREAM_STATE_DISCONNECTED_KHR) {
        g_clear_pointer (&f->error, g_free);
        f->disconnected = TRUE;
      }
      return FALSE;
  }
  count_frame (self, f);
  if (width != GST_VIDEO_INFO_WIDTH (&self->in_info)
      || height != GST_VIDEO_INFO_HEIGHT (&self->in_info))
    GST_DEBUG_OBJECT (self, "frame %dx%d, caps %dx%d: scaled", width, height,
        GST_VIDEO_INFO_WIDTH (&self->in_info),
        GST_VIDEO_INFO_HEIGHT (&self->in_info));

  if (!self->gl.blit_2d) {
    self->gl.blit_2d = gst_gpu_blit_new (context, GST_GL_TEXTURE_TARGET_2D,
        &err);
    if (!self->gl.blit_2d) {
      f->error = g_strdup_printf ("shader: %s", err->message);
      g_clear_error (&err);
      return FALSE;
    }
  }
  params.flip = TRUE;
  params.swap_rb = swap_rb;
  params.opaque = !GST_VIDEO_INFO_HAS_ALPHA (&self->in_info);
  return gst_gpu_blit_to_buffer (self->gl.blit_2d, tex, target, &params,
      FALSE, &f->error);
}

/* The frame into the output: directly into its GL texture, or through a
 * GL texture of the CUDA output's into its CUDA memory. */
static void
process_frame_gl (GstGLContext * context, gpointer data)
{
  Frame *f = data;
  GstEglStreamUpload *self = f->self;
  GstBuffer *target = f->outbuf;

  if (self->gl.cuda_out
      && !(target = gst_gpu_cuda_out_acquire (self->gl.cuda_out, &f->error)))
    return;
  if (self->gl.kind == CONSUMER_CUDA)
    f->ok = draw_cuda_frame (self, f, target);
  else
    f->ok = draw_gl_frame (self, f, target);
  if (target != f->outbuf) {
    if (f->ok)
      f->ok = gst_gpu_cuda_out_fill (self->gl.cuda_out, target, f->outbuf,
          &f->error);
    else
      gst_buffer_unref (target);
  }
}

/* ---------------------------------------------------------------------- */
/* GstBaseTransform                                                       */

static GstCaps *
gst_egl_stream_upload_transform_caps (GstBaseTransform * trans,
    GstPadDirection direction, GstCaps * caps, GstCaps * filter)
{
  /* CUDA caps only where CUDA works: negotiation never picks them on a
   * machine without the driver */
  GstCaps *result = gst_gpu_blit_transform_caps (caps, direction,
      GST_CAPS_FEATURE_MEMORY_EGL_STREAM, gst_gpu_cuda_available (NULL),
      filter);

  GST_DEBUG_OBJECT (trans, "%s %" GST_PTR_FORMAT " -> %" GST_PTR_FORMAT,
      direction == GST_PAD_SINK ? "sink" : "src", caps, result);
  return result;
}

static gboolean
gst_egl_stream_upload_set_caps (GstBaseTransform * trans, GstCaps * incaps,
    GstCaps * outcaps)
{
  GstEglStreamUpload *self = GST_EGL_STREAM_UPLOAD (trans);

  if (!gst_video_info_from_caps (&self->in_info, incaps)) {
    GST_WARNING_OBJECT (self, "cannot handle %" GST_PTR_FORMAT, incaps);
    return FALSE;
  }
  self->cuda_out = gst_gpu_cuda_caps_are_cuda (outcaps);
  return GST_BASE_TRANSFORM_CLASS (parent_class)->set_caps (trans, incaps,
      outcaps);
}

static gboolean
gst_egl_stream_upload_decide_allocation (GstBaseTransform * trans,
    GstQuery * query)
{
  GstEglStreamUpload *self = GST_EGL_STREAM_UPLOAD (trans);

  if (!gst_gpu_filter_decide_context (trans, query,
          GST_BASE_TRANSFORM_CLASS (parent_class)->decide_allocation,
          self->cuda_out, &self->cuda_ctx, &self->gl.cuda_error,
          &self->gl.renderer))
    return FALSE;
  return gst_gpu_filter_decide_pool (trans, query, self->cuda_out,
      self->cuda_ctx);
}

static gboolean
gst_egl_stream_upload_sink_event (GstBaseTransform * trans, GstEvent * event)
{
  GstEglStreamUpload *self = GST_EGL_STREAM_UPLOAD (trans);

  gboolean ret;

  if (GST_EVENT_TYPE (event) == GST_EVENT_FLUSH_START)
    g_atomic_int_set (&self->flushing, 1);
  else if (GST_EVENT_TYPE (event) == GST_EVENT_FLUSH_STOP)
    g_atomic_int_set (&self->flushing, 0);
  if (GST_EVENT_TYPE (event) != GST_EVENT_CAPS)
    return GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans, event);

  ret = GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans, event);
  if (!ret)
    gst_gpu_cuda_explain_refusal (trans);
  return ret;
}

static gboolean
gst_egl_stream_upload_query (GstBaseTransform * trans,
    GstPadDirection direction, GstQuery * query)
{
  GstEglStreamUpload *self = GST_EGL_STREAM_UPLOAD (trans);
  guint device;

  GST_OBJECT_LOCK (self);
  device = self->settings.device;
  GST_OBJECT_UNLOCK (self);
  return gst_gpu_filter_query (trans, direction, query, &self->display,
      self->cuda_ctx, device, GST_BASE_TRANSFORM_CLASS (parent_class)->query);
}

typedef enum
{
  WAIT_FRAME,                   /* a new frame is in the stream */
  WAIT_CREDIT,                  /* this buffer's frame was taken already */
  WAIT_DISCONNECTED,
  WAIT_TIMEOUT,
  WAIT_FLUSHING,
} WaitResult;

/* Streaming thread: eglQueryStreamKHR needs no context, so the GL thread
 * stays free while the producer finishes its frame. */
static WaitResult
wait_for_frame (GstEglStreamUpload * self)
{
  gint64 deadline = g_get_monotonic_time () +
      (gint64) self->active.timeout * 1000;
  EGLStreamKHR stream = self->gl.stream;

  for (;;) {
    EGLint state = stream_state (self, stream);

    if (state == EGL_STREAM_STATE_NEW_FRAME_AVAILABLE_KHR)
      return WAIT_FRAME;
    if (state == EGL_STREAM_STATE_DISCONNECTED_KHR)
      return WAIT_DISCONNECTED;
    if (self->credit > 0) {
      self->credit--;
      return WAIT_CREDIT;
    }
    if (g_atomic_int_get (&self->flushing))
      return WAIT_FLUSHING;
    if (g_get_monotonic_time () >= deadline)
      return WAIT_TIMEOUT;
    g_usleep (POLL_INTERVAL_US);
  }
}

static GstFlowReturn
on_disconnect (GstEglStreamUpload * self)
{
  if (self->active.error_on_disconnect)
    goto disconnected;
  GST_INFO_OBJECT (self, "the producer left the stream: end of stream");
  gst_pad_push_event (GST_BASE_TRANSFORM_SRC_PAD (self), gst_event_new_eos ());
  return GST_FLOW_EOS;

  /* ERRORS */
disconnected:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, READ,
        ("The EGLStream's producer disconnected"),
        ("stream state EGL_STREAM_STATE_DISCONNECTED_KHR, fd %d, after %"
            G_GUINT64_FORMAT " frames", self->gl.fd, self->stats.frames));
    return GST_FLOW_ERROR;
  }
}

/* Streaming thread, when connecting: a stream keeps its consumer (one
 * cannot reconnect), the output memory may change under it. */
static Consumer
choose_consumer (GstEglStreamUpload * self)
{
  const gchar *reason;

  if (self->active.consumer != CONSUMER_AUTO)
    return self->active.consumer;
  if (!self->cuda_out)
    return CONSUMER_GL;
  if (!gst_gpu_cuda_egl_available (&reason) || !self->gl.blit) {
    GST_INFO_OBJECT (self, "CUDA output with the GL consumer: %s",
        self->gl.blit ? reason : "no external texture blit");
    return self->gl.blit ? CONSUMER_GL : CONSUMER_CUDA;
  }
  return CONSUMER_CUDA;
}

static GstFlowReturn
gst_egl_stream_upload_transform (GstBaseTransform * trans, GstBuffer * inbuf,
    GstBuffer * outbuf)
{
  GstEglStreamUpload *self = GST_EGL_STREAM_UPLOAD (trans);
  GstGLContext *context = GST_GL_BASE_FILTER (trans)->context;
  Frame f = { 0, };

  f.self = self;
  f.outbuf = outbuf;
  f.fd = gst_spice_egl_stream_buffer_get_fd (inbuf);
  if (f.fd < 0)
    goto no_fd;

  if (!same_stream (self, f.fd)) {
    f.kind = choose_consumer (self);
    if (f.kind == CONSUMER_CUDA && !gst_gpu_cuda_ensure_context (GST_ELEMENT
            (self), &self->cuda_ctx, &f.error))
      goto connect_failed;
    self->credit = 0;
    gst_gl_context_thread_add (context, connect_gl, &f);
    if (!f.ok)
      goto connect_failed;
    GST_OBJECT_LOCK (self);
    self->stats.consumer = f.kind == CONSUMER_CUDA ? "cuda" : "gl";
    GST_OBJECT_UNLOCK (self);
  }

  switch (wait_for_frame (self)) {
    case WAIT_FRAME:
      break;
    case WAIT_CREDIT:
      GST_LOG_OBJECT (self, "frame of this buffer consumed already");
      return GST_BASE_TRANSFORM_FLOW_DROPPED;
    case WAIT_DISCONNECTED:
      return on_disconnect (self);
    case WAIT_FLUSHING:
      return GST_FLOW_FLUSHING;
    case WAIT_TIMEOUT:
      GST_WARNING_OBJECT (self, "no new frame in the stream after %u ms: "
          "buffer dropped", self->active.timeout);
      GST_OBJECT_LOCK (self);
      self->stats.timeouts++;
      GST_OBJECT_UNLOCK (self);
      return GST_BASE_TRANSFORM_FLOW_DROPPED;
  }

  gst_gl_context_thread_add (context, process_frame_gl, &f);
  if (f.disconnected)
    return on_disconnect (self);
  if (!f.ok)
    goto failed;

  /* the buffers that announced the dropped frames will find none */
  self->credit += f.dropped;
  GST_OBJECT_LOCK (self);
  self->stats.frames++;
  self->stats.dropped += f.dropped;
  GST_OBJECT_UNLOCK (self);
  return GST_FLOW_OK;

  /* ERRORS */
no_fd:
  {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("The buffer carries no EGLStream file descriptor"),
        ("a memory:EGLStream buffer holds one GstFdMemory"));
    return GST_FLOW_ERROR;
  }
connect_failed:
  {
    gchar *where = describe_display (self);

    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
        ("Could not connect to the EGLStream as its consumer"),
        ("%s; GL renderer %s on %s", f.error, self->gl.renderer, where));
    g_free (where);
    g_free (f.error);
    return GST_FLOW_ERROR;
  }
failed:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED,
        ("Could not copy an EGLStream frame into a GL texture"), ("%s",
            GST_STR_NULL (f.error)));
    g_free (f.error);
    return GST_FLOW_ERROR;
  }
}

static gboolean
gst_egl_stream_upload_start (GstBaseTransform * trans)
{
  GstEglStreamUpload *self = GST_EGL_STREAM_UPLOAD (trans);

  GST_OBJECT_LOCK (self);
  self->active = self->settings;
  memset (&self->stats, 0, sizeof (self->stats));
  self->stats.consumer = "none";
  GST_OBJECT_UNLOCK (self);
  self->credit = 0;
  return GST_BASE_TRANSFORM_CLASS (parent_class)->start (trans);
}

/* ---------------------------------------------------------------------- */
/* GstElement                                                             */

static GstStateChangeReturn
gst_egl_stream_upload_change_state (GstElement * element,
    GstStateChange transition)
{
  GstEglStreamUpload *self = GST_EGL_STREAM_UPLOAD (element);
  GstStateChangeReturn ret;
  const gchar *reason;
  Consumer consumer = CONSUMER_AUTO;
  guint device;

  switch (transition) {
    case GST_STATE_CHANGE_NULL_TO_READY:
      GST_OBJECT_LOCK (self);
      device = self->settings.device;
      consumer = self->settings.consumer;
      GST_OBJECT_UNLOCK (self);
      /* before anything else: it never waits, and names what is missing */
      if (consumer == CONSUMER_CUDA && !gst_gpu_cuda_egl_available (&reason))
        goto no_cuda;
      if (!gst_gpu_display_open (&self->display, GST_GL_BASE_FILTER (self),
              device))
        return GST_STATE_CHANGE_FAILURE;
      break;
    case GST_STATE_CHANGE_READY_TO_PAUSED:
      g_atomic_int_set (&self->flushing, 0);
      break;
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      /* a transform waiting for a frame returns at once */
      g_atomic_int_set (&self->flushing, 1);
      break;
    default:
      break;
  }

  ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);

  if (transition == GST_STATE_CHANGE_NULL_TO_READY
      && ret != GST_STATE_CHANGE_FAILURE)
    gst_gpu_display_prefer_desktop_gl (GST_GL_BASE_FILTER (self));
  if (transition == GST_STATE_CHANGE_NULL_TO_READY
      && ret != GST_STATE_CHANGE_FAILURE && !check_egl (self, consumer)) {
    GST_ELEMENT_CLASS (parent_class)->change_state (element,
        GST_STATE_CHANGE_READY_TO_NULL);
    gst_gpu_display_reset (&self->display);
    return GST_STATE_CHANGE_FAILURE;
  }
  if (transition == GST_STATE_CHANGE_READY_TO_NULL) {
    gst_gpu_display_reset (&self->display);
    gst_clear_object (&self->cuda_ctx);
    self->egl_display = EGL_NO_DISPLAY;
  }
  return ret;

  /* ERRORS */
no_cuda:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Cannot use the CUDA EGLStream consumer (consumer=cuda): %s",
            reason), ("the CUDA consumer needs libcuda.so.1 with "
            "cuEGLStreamConsumerConnect, cuEGLStreamConsumerAcquireFrame and "
            "cuEGLStreamConsumerReleaseFrame, and a CUDA device; "
            "consumer=gl or auto works without CUDA"));
    return GST_STATE_CHANGE_FAILURE;
  }
}

static void
gst_egl_stream_upload_set_context (GstElement * element, GstContext * context)
{
  GstEglStreamUpload *self = GST_EGL_STREAM_UPLOAD (element);

  gst_gpu_cuda_set_context (element, context, &self->cuda_ctx);
  GST_ELEMENT_CLASS (parent_class)->set_context (element, context);
}

/* ---------------------------------------------------------------------- */

static void
gst_egl_stream_upload_finalize (GObject * object)
{
  GstEglStreamUpload *self = GST_EGL_STREAM_UPLOAD (object);

  gst_gpu_display_clear (&self->display);
  gst_clear_object (&self->cuda_ctx);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_egl_stream_upload_init (GstEglStreamUpload * self)
{
  self->settings.device = DEFAULT_DEVICE;
  self->settings.consumer = DEFAULT_CONSUMER;
  self->settings.error_on_disconnect = DEFAULT_ERROR_ON_DISCONNECT;
  self->settings.timeout = DEFAULT_TIMEOUT;
  self->stats.consumer = "none";
  self->egl_display = EGL_NO_DISPLAY;
  self->gl.stream = EGL_NO_STREAM_KHR;
  self->gl.fd = -1;
  gst_gpu_display_init (&self->display);
  gst_video_info_init (&self->in_info);
}

static void
gst_egl_stream_upload_class_init (GstEglStreamUploadClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  GstGLBaseFilterClass *base_class = GST_GL_BASE_FILTER_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_egl_stream_upload_debug, "eglstreamupload", 0,
      "EGLStream consumer to GL texture");

  gobject_class->set_property = gst_egl_stream_upload_set_property;
  gobject_class->get_property = gst_egl_stream_upload_get_property;
  gobject_class->finalize = gst_egl_stream_upload_finalize;

  /**
   * GstEglStreamUpload:device:
   *
   * The EGL device (index in `eglQueryDevicesEXT` order) to open when no
   * GL display is shared with the element and no window system is chosen
   * through the environment.  Ignored when a display is shared.  It must
   * be the GPU the producer renders on.
   */
  g_object_class_install_property (gobject_class, PROP_DEVICE,
      gst_gpu_display_device_param ());

  /**
   * GstEglStreamUpload:consumer:
   *
   * How the element connects to the stream: `gl` (an external GL
   * texture), `cuda` (the CUDA EGLStream consumer of libcuda.so.1, loaded
   * at run time; going to READY fails with an error naming what is missing
   * when CUDA is not there), or `auto`: CUDA when downstream negotiated
   * CUDA memory, GL otherwise.  A stream keeps the consumer it was
   * connected with.
   */
  g_object_class_install_property (gobject_class, PROP_CONSUMER,
      g_param_spec_enum ("consumer", "Consumer",
          "How to connect to the stream: gl (an external GL texture in the "
          "element's GL context), cuda (the CUDA EGLStream consumer, "
          "libcuda.so.1) or auto (cuda when downstream negotiated CUDA "
          "memory, else gl)", GST_TYPE_EGL_STREAM_UPLOAD_CONSUMER,
          DEFAULT_CONSUMER, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  /**
   * GstEglStreamUpload:error-on-disconnect:
   *
   * What happens when the producer disconnects from the stream: %FALSE
   * sends EOS downstream, %TRUE posts an error.
   */
  g_object_class_install_property (gobject_class, PROP_ERROR_ON_DISCONNECT,
      g_param_spec_boolean ("error-on-disconnect", "Error on disconnect",
          "When the producer disconnects from the stream, post an error "
          "instead of ending the stream (EOS)", DEFAULT_ERROR_ON_DISCONNECT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  /**
   * GstEglStreamUpload:timeout:
   *
   * How long a buffer waits for its frame to reach the stream, in
   * milliseconds.  A buffer whose frame does not come in time is dropped
   * and counted in `acquire-timeouts`.
   */
  g_object_class_install_property (gobject_class, PROP_TIMEOUT,
      g_param_spec_uint ("timeout", "Acquire timeout",
          "How long a buffer waits for a new frame in the stream, in ms; "
          "then the buffer is dropped and counted in acquire-timeouts",
          1, 60000, DEFAULT_TIMEOUT, G_PARAM_READWRITE |
          G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY));

  /**
   * GstEglStreamUpload:stats:
   *
   * Counters since the element last started: `frames` (frames acquired
   * and output), `frames-dropped` (frames the producer presented that were
   * never output: replaced in the stream or skipped to catch up),
   * `acquire-timeouts` (buffers dropped because no frame came within
   * #GstEglStreamUpload:timeout), and `consumer` (`none` before the first
   * buffer, then `gl` or `cuda`).
   */
  g_object_class_install_property (gobject_class, PROP_STATS,
      g_param_spec_boxed ("stats", "Statistics",
          "Counters since the element started: frames (output), "
          "frames-dropped (presented by the producer but replaced or skipped "
          "because the element fell behind: the newest frame wins), "
          "acquire-timeouts (buffers dropped because no frame came in time), "
          "consumer (none before the first buffer, then gl or cuda)",
          GST_TYPE_STRUCTURE, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "EGLStream to GL texture", "Filter/Converter/Video/Hardware",
      "Consumes an EGLStream (NVIDIA renderers' frames, announced by "
      "memory:EGLStream buffers) into GL textures that GPU encoders take, "
      "with one GPU copy; needs EGL_KHR_stream, "
      "EGL_KHR_stream_cross_process_fd and "
      "EGL_KHR_stream_consumer_gltexture",
      "gst-spice developers <https://github.com/gst-spice/gst-spice>");

  element_class->change_state =
      GST_DEBUG_FUNCPTR (gst_egl_stream_upload_change_state);
  element_class->set_context =
      GST_DEBUG_FUNCPTR (gst_egl_stream_upload_set_context);

  trans_class->passthrough_on_same_caps = FALSE;
  trans_class->transform_caps =
      GST_DEBUG_FUNCPTR (gst_egl_stream_upload_transform_caps);
  trans_class->set_caps = GST_DEBUG_FUNCPTR (gst_egl_stream_upload_set_caps);
  trans_class->decide_allocation =
      GST_DEBUG_FUNCPTR (gst_egl_stream_upload_decide_allocation);
  trans_class->sink_event =
      GST_DEBUG_FUNCPTR (gst_egl_stream_upload_sink_event);
  trans_class->query = GST_DEBUG_FUNCPTR (gst_egl_stream_upload_query);
  trans_class->transform = GST_DEBUG_FUNCPTR (gst_egl_stream_upload_transform);
  trans_class->start = GST_DEBUG_FUNCPTR (gst_egl_stream_upload_start);

  base_class->supported_gl_api =
      GST_GL_API_OPENGL | GST_GL_API_OPENGL3 | GST_GL_API_GLES2;
  base_class->gl_start = GST_DEBUG_FUNCPTR (gst_egl_stream_upload_gl_start);
  base_class->gl_stop = GST_DEBUG_FUNCPTR (gst_egl_stream_upload_gl_stop);
  base_class->gl_set_caps =
      GST_DEBUG_FUNCPTR (gst_egl_stream_upload_gl_set_caps);

  gst_type_mark_as_plugin_api (GST_TYPE_EGL_STREAM_UPLOAD_CONSUMER, 0);
}
