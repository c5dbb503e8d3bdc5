/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
/**
 * SECTION:element-dmabufimport
 * @title: dmabufimport
 * @see_also: spicesrc, glupload, gldownload, nvh264enc
 *
 * dmabufimport turns single-plane RGB DMA-BUFs (a VM's GL scanout, as
 * spicesrc produces it) into OpenGL textures that GPU encoders take:
 * `video/x-raw(memory:GLMemory),format=RGBA,texture-target=2D`, allocated
 * from a #GstGLBufferPool (GLMemoryPBO in a desktop OpenGL 3 context, what
 * `nvh264enc` accepts without a copy).
 *
 * Input caps follow the GStreamer the plugin was built against: since
 * 1.24 `video/x-raw(memory:DMABuf), format=DMA_DRM` with `drm-format`
 * `XR24`, `AR24`, `XB24` or `AB24` (linear), what spicesrc and GStreamer's
 * own DMA-BUF producers negotiate; on 1.22
 * `video/x-raw(memory:DMABuf), format=BGRx` (`BGRA`, `RGBx`, `RGBA`).
 *
 * Each DMA-BUF is imported as an EGLImage (`EGL_EXT_image_dma_buf_import`,
 * with the DRM fourcc, pitch and offset taken from the caps and the
 * #GstVideoMeta, and the negotiated modifier where EGL takes one) and
 * copied into the output texture by one GPU draw.  The
 * CPU never touches a pixel.  Imports are cached per DMA-BUF (the file
 * behind the fd, offset, pitch, format, size), so a scanout that the guest
 * redraws is imported once.  Before a buffer leaves the element the GPU has
 * finished reading its input, so upstream may draw into the DMA-BUF again
 * as soon as it is released.
 *
 * When the stream carries the tag `image-orientation=flip-rotate-180` (what
 * spicesrc sends for a bottom-up guest buffer), the draw flips the image
 * vertically, and that tag is not passed on: downstream gets an upright
 * image.  Other tags pass unchanged.
 *
 * Without `EGL_EXT_image_dma_buf_import` (Debian 12's llvmpipe, Mesa 22;
 * Debian 13's, Mesa 25, imports; a GLX context), or when an import fails,
 * the frame is mapped and uploaded by the CPU instead, after one warning;
 * #GstDmabufImport:cpu-fallback=false makes that an error, and
 * #GstDmabufImport:egl-import=false takes the CPU path on purpose.
 * #GstDmabufImport:stats tells which path ran.
 *
 * The element shares its GL display and context with its neighbours and
 * the application through #GstContext, like every GL element.  When nobody
 * offers a display and none of `GST_GL_WINDOW`, `GST_GL_PLATFORM`, `DISPLAY`
 * or `WAYLAND_DISPLAY` is set, it opens the EGL device
 * #GstDmabufImport:device itself (no X server or compositor needed) and
 * offers it to the other GL elements of the pipeline.
 *
 * When downstream takes CUDA memory only (`nvcudah264enc`, a capsfilter
 * `video/x-raw(memory:CUDAMemory)`), the frame is drawn into a GL texture
 * as above and copied on the GPU into `memory:CUDAMemory`, NV12 (converted
 * in GL, BT.601 limited range) or RGBA, on the neighbours' #GstCudaContext
 * (`gst.cuda.context`).  GL memory stays the first choice.  CUDA is loaded
 * at run time (`libcuda.so.1`): without it the element offers no CUDA
 * caps.  On Intel and AMD GPUs the element is not needed: `vapostproc`
 * imports the DMA-BUF itself.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 spicesrc uri=spice+unix:///run/vm/spice.sock ! dmabufimport ! nvh264enc ! h264parse ! matroskamux ! filesink location=vm.mkv
 * ]| Encodes a GL VM's display on an NVIDIA GPU without copying through
 * system memory.
 * |[
 * gst-launch-1.0 spicesrc uri=spice+unix:///run/vm/spice.sock ! dmabufimport device=1 ! gldownload ! videoconvert ! x264enc ! h264parse ! matroskamux ! filesink location=vm.mkv
 * ]| Uses the second EGL device, and reads the frames back for a software
 * encoder (also a way to check the element's output).
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <string.h>

#include <EGL/egl.h>
#include <EGL/eglext.h>
#include <drm_fourcc.h>

#include <gst/allocators/allocators.h>
#include <gst/gl/gstglfuncs.h>

#include "gstdmabufcache.h"
#include "gstdmabufimport.h"
#include "gstdrmformat.h"
#include "gstgpublit.h"
#include "gstgpucuda.h"
#include "gstgpudisplay.h"

GST_DEBUG_CATEGORY_STATIC (gst_dmabuf_import_debug);
#define GST_CAT_DEFAULT gst_dmabuf_import_debug

#define DEFAULT_DEVICE GST_GPU_DISPLAY_DEFAULT_DEVICE
#define DEFAULT_CPU_FALLBACK TRUE
#define DEFAULT_EGL_IMPORT TRUE
/* imports kept alive: a guest flips between 2 or 3 scanout buffers */
#define CACHE_CAPACITY 8

#define DMABUF_IMPORT_EXTENSION "EGL_EXT_image_dma_buf_import"

#ifndef GL_UNPACK_ROW_LENGTH
#define GL_UNPACK_ROW_LENGTH 0x0CF2
#endif
#ifndef GL_RGBA8
#define GL_RGBA8 0x8058
#endif

/* GStreamer >= 1.24: format=DMA_DRM, drm-format XR24, AR24, XB24, AB24
 * (linear); 1.22: format BGRx, BGRA, RGBx, RGBA */
static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (GST_SPICE_DMABUF_CAPS_MAKE));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (GST_GPU_BLIT_SRC_CAPS GST_GPU_CUDA_SRC_CAPS));

enum
{
  PROP_0,
  PROP_DEVICE,
  PROP_CPU_FALLBACK,
  PROP_STATS,
  PROP_EGL_IMPORT,
};

typedef struct
{
  guint device;
  gboolean cpu_fallback;
  gboolean egl_import;
} Settings;

/* one cached import: the EGLImage and the texture bound to it */
typedef struct
{
  GstDmabufImport *self;
  EGLImageKHR image;
  GLuint tex;
} Import;

struct _GstDmabufImport
{
  GstGLBaseFilter parent;

  Settings settings;            /* GST_OBJECT_LOCK */

  GstGpuDisplay display;

  /* The GstCudaContext shared with the neighbours: set by set_context (an
   * application or a neighbour, before or while negotiating) or by the
   * streaming thread in decide_allocation; dropped at READY -> NULL. */
  GstObject *cuda_ctx;

  /* streaming thread (set_caps, sink_event, transform, decide_allocation;
   * start/stop with the streaming thread stopped) */
  Settings active;              /* snapshot of settings at start() */
  GstVideoInfo in_info;
  guint32 fourcc;
  guint64 modifier;             /* what the caps say; INVALID on 1.22 */
  gboolean flip;
  gboolean warned;
  gboolean cuda_out;            /* the output is memory:CUDAMemory */

  /* GL thread; read by the streaming thread after the synchronous
   * gst_gl_context_thread_add() call that wrote it */
  struct
  {
    gboolean can_import;
    gboolean has_modifiers;     /* EGL_EXT_image_dma_buf_import_modifiers */
    const gchar *missing;       /* what the import path lacks, for messages */
    gchar *renderer;
    EGLDisplay egl_display;
    PFNEGLCREATEIMAGEKHRPROC create_image;
    PFNEGLDESTROYIMAGEKHRPROC destroy_image;
    GstDmabufCache *cache;
    gboolean import_failed;     /* an import failed: CPU until new caps */
    GstGpuBlit *blit;
    GLuint upload_tex;
    gint upload_width, upload_height;
    gboolean row_length;        /* GL_UNPACK_ROW_LENGTH works */
    GstGpuCudaOut *cuda_out;    /* CUDA output, NULL for GL output */
    gchar *cuda_error;          /* why cuda_out could not be made */
  } gl;

  struct
  {
    guint64 frames, imports, cache_hits, cpu_uploads, bytes_copied;
  } stats;                      /* GST_OBJECT_LOCK */
};

/* one frame's trip to the GL thread */
typedef struct
{
  GstDmabufImport *self;
  GstBuffer *inbuf;
  GstBuffer *outbuf;
  gboolean flip;
  gboolean allow_cpu;

  GLuint tex;                   /* what the draw samples */
  gboolean swap_rb;

  /* results */
  GstFlowReturn ret;
  gboolean imported, cache_hit, cpu_upload;
  guint64 bytes_copied;
  gchar *import_error;          /* the import failed, why */
  gchar *error;                 /* fatal, why */
} Frame;

#define gst_dmabuf_import_parent_class parent_class
G_DEFINE_TYPE (GstDmabufImport, gst_dmabuf_import, GST_TYPE_GL_BASE_FILTER);
GST_ELEMENT_REGISTER_DEFINE (dmabufimport, "dmabufimport", GST_RANK_NONE,
    GST_TYPE_DMABUF_IMPORT);

/* ---------------------------------------------------------------------- */
/* Properties                                                             */

static GstStructure *
make_stats (GstDmabufImport * self)
{
  GstStructure *s;

  GST_OBJECT_LOCK (self);
  s = gst_structure_new ("application/x-dmabufimport-stats",
      "frames", G_TYPE_UINT64, self->stats.frames,
      "imports", G_TYPE_UINT64, self->stats.imports,
      "cache-hits", G_TYPE_UINT64, self->stats.cache_hits,
      "cpu-uploads", G_TYPE_UINT64, self->stats.cpu_uploads,
      "bytes-copied", G_TYPE_UINT64, self->stats.bytes_copied, NULL);
  GST_OBJECT_UNLOCK (self);
  return s;
}

static void
gst_dmabuf_import_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstDmabufImport *self = GST_DMABUF_IMPORT (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_DEVICE:
      self->settings.device = g_value_get_uint (value);
      break;
    case PROP_CPU_FALLBACK:
      self->settings.cpu_fallback = g_value_get_boolean (value);
      break;
    case PROP_EGL_IMPORT:
      self->settings.egl_import = g_value_get_boolean (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_dmabuf_import_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstDmabufImport *self = GST_DMABUF_IMPORT (object);

  if (prop_id == PROP_STATS) {
    g_value_take_boxed (value, make_stats (self));
    return;
  }
  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_DEVICE:
      g_value_set_uint (value, self->settings.device);
      break;
    case PROP_CPU_FALLBACK:
      g_value_set_boolean (value, self->settings.cpu_fallback);
      break;
    case PROP_EGL_IMPORT:
      g_value_set_boolean (value, self->settings.egl_import);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

/* ---------------------------------------------------------------------- */
/* The GL display: shared, or an EGL device of our own                    */

/* ---------------------------------------------------------------------- */
/* GL thread                                                              */

static void
import_free (gpointer data)
{
  Import *imp = data;
  GstGLContext *context = GST_GL_BASE_FILTER (imp->self)->context;

  context->gl_vtable->DeleteTextures (1, &imp->tex);
  imp->self->gl.destroy_image (imp->self->gl.egl_display, imp->image);
  g_free (imp);
}

/* Can this context import DMA-BUFs?  Sets gl.missing to what it lacks. */
static void
probe_import (GstDmabufImport * self, GstGLContext * context)
{
  const GstGLFuncs *gl = context->gl_vtable;
  const gchar *exts;

  self->gl.can_import = FALSE;
  if (!(gst_gl_context_get_gl_platform (context) & GST_GL_PLATFORM_EGL)) {
    self->gl.missing = "an EGL context (" DMABUF_IMPORT_EXTENSION ")";
    return;
  }
  self->gl.egl_display = eglGetCurrentDisplay ();
  exts = eglQueryString (self->gl.egl_display, EGL_EXTENSIONS);
  if (!exts || !gst_gl_check_extension (DMABUF_IMPORT_EXTENSION, exts)) {
    self->gl.missing = DMABUF_IMPORT_EXTENSION;
    return;
  }
  self->gl.create_image = (PFNEGLCREATEIMAGEKHRPROC)
      eglGetProcAddress ("eglCreateImageKHR");
  self->gl.destroy_image = (PFNEGLDESTROYIMAGEKHRPROC)
      eglGetProcAddress ("eglDestroyImageKHR");
  if (!self->gl.create_image || !self->gl.destroy_image) {
    self->gl.missing = "EGL_KHR_image_base";
    return;
  }
  if (!gl->EGLImageTargetTexture2D) {
    self->gl.missing = "GL_OES_EGL_image";
    return;
  }
  self->gl.has_modifiers =
      gst_gl_check_extension ("EGL_EXT_image_dma_buf_import_modifiers", exts);
  self->gl.can_import = TRUE;
  self->gl.missing = NULL;
}

static gboolean
gst_dmabuf_import_gl_start (GstGLBaseFilter * base)
{
  GstDmabufImport *self = GST_DMABUF_IMPORT (base);
  GstGLContext *context = base->context;
  const GstGLFuncs *gl = context->gl_vtable;
  GError *error = NULL;

  self->gl.renderer = g_strdup ((const gchar *) gl->GetString (GL_RENDERER));
  probe_import (self, context);
  GST_INFO_OBJECT (self, "GL renderer %s, DMA-BUF import %s%s",
      self->gl.renderer, self->gl.can_import ? "available" : "missing ",
      self->gl.can_import ? "" : self->gl.missing);

  self->gl.row_length =
      gst_gl_context_check_gl_version (context,
      GST_GL_API_OPENGL | GST_GL_API_OPENGL3, 1, 0)
      || gst_gl_context_check_gl_version (context, GST_GL_API_GLES2, 3, 0)
      || gst_gl_context_check_feature (context, "GL_EXT_unpack_subimage");

  self->gl.blit = gst_gpu_blit_new (context, GST_GL_TEXTURE_TARGET_2D, &error);
  if (!self->gl.blit) {
    GST_ERROR_OBJECT (self, "shader: %s", error->message);
    g_clear_error (&error);
    return FALSE;
  }

  self->gl.cache = gst_dmabuf_cache_new (CACHE_CAPACITY, import_free);
  return TRUE;
}

static void
drop_upload_texture (GstDmabufImport * self, const GstGLFuncs * gl)
{
  if (self->gl.upload_tex)
    gl->DeleteTextures (1, &self->gl.upload_tex);
  self->gl.upload_tex = 0;
  self->gl.upload_width = self->gl.upload_height = 0;
}

static void
gst_dmabuf_import_gl_stop (GstGLBaseFilter * base)
{
  GstDmabufImport *self = GST_DMABUF_IMPORT (base);
  const GstGLFuncs *gl = base->context->gl_vtable;

  g_clear_pointer (&self->gl.cache, gst_dmabuf_cache_free);
  g_clear_pointer (&self->gl.cuda_out, gst_gpu_cuda_out_free);
  g_clear_pointer (&self->gl.cuda_error, g_free);
  drop_upload_texture (self, gl);
  g_clear_pointer (&self->gl.blit, gst_gpu_blit_free);
  g_clear_pointer (&self->gl.renderer, g_free);
  self->gl.can_import = FALSE;
}

static gboolean
gst_dmabuf_import_gl_set_caps (GstGLBaseFilter * base, GstCaps * incaps,
    GstCaps * outcaps)
{
  GstDmabufImport *self = GST_DMABUF_IMPORT (base);

  /* new caps: new scanouts, and a failed import may work now */
  if (self->gl.cache)
    gst_dmabuf_cache_clear (self->gl.cache);
  drop_upload_texture (self, base->context->gl_vtable);
  self->gl.import_failed = FALSE;

  g_clear_pointer (&self->gl.cuda_out, gst_gpu_cuda_out_free);
  g_clear_pointer (&self->gl.cuda_error, g_free);
  if (self->cuda_out) {
    self->gl.cuda_out = gst_gpu_cuda_out_new (base->context, self->cuda_ctx,
        outcaps, &self->gl.cuda_error);
    return self->gl.cuda_out != NULL;
  }
  return TRUE;
}

/* Plane 0's fd and layout: the offset from the video meta is relative to
 * the buffer; the fd offset adds the memory's own offset into its fd. */
static gboolean
find_plane (GstDmabufImport * self, GstBuffer * buf, gint * fd,
    guint64 * fd_offset, gint * stride)
{
  GstVideoMeta *meta = gst_buffer_get_video_meta (buf);
  gsize offset, skip;
  guint idx, len;
  GstMemory *mem;

  offset = meta ? meta->offset[0] : GST_VIDEO_INFO_PLANE_OFFSET
      (&self->in_info, 0);
  *stride = meta ? meta->stride[0] : GST_VIDEO_INFO_PLANE_STRIDE
      (&self->in_info, 0);
  if (!gst_buffer_find_memory (buf, offset, 1, &idx, &len, &skip))
    return FALSE;
  mem = gst_buffer_peek_memory (buf, idx);
  if (!gst_is_dmabuf_memory (mem))
    return FALSE;
  *fd = gst_dmabuf_memory_get_fd (mem);
  *fd_offset = mem->offset + skip;
  return TRUE;
}

/* The import path: an EGLImage of the DMA-BUF, cached. */
static gboolean
import_frame (GstDmabufImport * self, Frame * f)
{
  GstGLContext *context = GST_GL_BASE_FILTER (self)->context;
  const GstGLFuncs *gl = context->gl_vtable;
  gint width = GST_VIDEO_INFO_WIDTH (&self->in_info);
  gint height = GST_VIDEO_INFO_HEIGHT (&self->in_info);
  GstDmabufCacheKey key;
  guint64 fd_offset;
  gint fd, stride;
  Import *imp;
  GLenum glerr;

  if (!find_plane (self, f->inbuf, &fd, &fd_offset, &stride)) {
    f->import_error = g_strdup ("the frame's memory is not a DMA-BUF");
    return FALSE;
  }
  /* 1.22 negotiates no modifier (DRM_FORMAT_MOD_INVALID): the producer's
   * buffer is taken as linear or implicitly tiled, which the key records;
   * on >= 1.24 the caps say (linear) */
  if (!gst_dmabuf_cache_key_init (&key, fd, fd_offset, stride, self->fourcc,
          self->modifier, width, height)) {
    f->import_error = g_strdup_printf ("fstat on fd %d failed", fd);
    return FALSE;
  }

  imp = gst_dmabuf_cache_lookup (self->gl.cache, &key);
  if (imp) {
    f->cache_hit = TRUE;
  } else {
    /* *INDENT-OFF* */
    EGLint attribs[] = {
      EGL_WIDTH, width,
      EGL_HEIGHT, height,
      EGL_LINUX_DRM_FOURCC_EXT, (EGLint) self->fourcc,
      EGL_DMA_BUF_PLANE0_FD_EXT, fd,
      EGL_DMA_BUF_PLANE0_OFFSET_EXT, (EGLint) fd_offset,
      EGL_DMA_BUF_PLANE0_PITCH_EXT, stride,
      EGL_NONE, 0,
      EGL_NONE, 0,
      EGL_NONE
    };
    /* *INDENT-ON* */
    EGLImageKHR image;

    /* the negotiated modifier, where EGL takes one (the last slots) */
    if (self->modifier != DRM_FORMAT_MOD_INVALID && self->gl.has_modifiers) {
      guint n = G_N_ELEMENTS (attribs) - 5;

      attribs[n++] = EGL_DMA_BUF_PLANE0_MODIFIER_LO_EXT;
      attribs[n++] = (EGLint) (self->modifier & 0xffffffff);
      attribs[n++] = EGL_DMA_BUF_PLANE0_MODIFIER_HI_EXT;
      attribs[n++] = (EGLint) (self->modifier >> 32);
    }

    image = self->gl.create_image (self->gl.egl_display, EGL_NO_CONTEXT,
        EGL_LINUX_DMA_BUF_EXT, NULL, attribs);
    if (image == EGL_NO_IMAGE_KHR) {
      f->import_error = g_strdup_printf ("eglCreateImageKHR failed with EGL "
          "error 0x%x (fd %d, fourcc %" GST_FOURCC_FORMAT ", modifier 0x%"
          G_GINT64_MODIFIER "x, %dx%d, pitch %d, offset %" G_GUINT64_FORMAT
          ")", eglGetError (), fd, GST_FOURCC_ARGS (self->fourcc),
          self->modifier, width, height, stride, fd_offset);
      return FALSE;
    }

    imp = g_new0 (Import, 1);
    imp->self = self;
    imp->image = image;
    gl->GenTextures (1, &imp->tex);
    gl->BindTexture (GL_TEXTURE_2D, imp->tex);
    gst_gpu_blit_set_nearest (gl, GL_TEXTURE_2D);
    while (gl->GetError () != GL_NO_ERROR);
    gl->EGLImageTargetTexture2D (GL_TEXTURE_2D, image);
    glerr = gl->GetError ();
    gl->BindTexture (GL_TEXTURE_2D, 0);
    if (glerr != GL_NO_ERROR) {
      f->import_error = g_strdup_printf ("glEGLImageTargetTexture2DOES "
          "failed with GL error 0x%x", glerr);
      import_free (imp);
      return FALSE;
    }
    gst_dmabuf_cache_insert (self->gl.cache, &key, imp);
    f->imported = TRUE;
  }

  f->tex = imp->tex;
  /* the driver samples the fourcc's channels as RGBA already */
  f->swap_rb = FALSE;
  return TRUE;
}

/* The fallback: map the DMA-BUF and let glTexSubImage2D copy it. */
static gboolean
upload_frame (GstDmabufImport * self, Frame * f)
{
  GstGLContext *context = GST_GL_BASE_FILTER (self)->context;
  const GstGLFuncs *gl = context->gl_vtable;
  gint width = GST_VIDEO_INFO_WIDTH (&self->in_info);
  gint height = GST_VIDEO_INFO_HEIGHT (&self->in_info);
  GstVideoFrame vframe;
  const guint8 *data;
  gint stride, y;

  if (!gst_video_frame_map (&vframe, &self->in_info, f->inbuf, GST_MAP_READ)) {
    f->error = g_strdup ("could not map the DMA-BUF for reading");
    return FALSE;
  }
  data = GST_VIDEO_FRAME_PLANE_DATA (&vframe, 0);
  stride = GST_VIDEO_FRAME_PLANE_STRIDE (&vframe, 0);

  if (!self->gl.upload_tex || self->gl.upload_width != width
      || self->gl.upload_height != height) {
    gboolean sized = !gst_gl_context_check_gl_version (context,
        GST_GL_API_GLES2, 1, 0)
        || gst_gl_context_check_gl_version (context, GST_GL_API_GLES2, 3, 0);

    drop_upload_texture (self, gl);
    gl->GenTextures (1, &self->gl.upload_tex);
    gl->BindTexture (GL_TEXTURE_2D, self->gl.upload_tex);
    gst_gpu_blit_set_nearest (gl, GL_TEXTURE_2D);
    gl->TexImage2D (GL_TEXTURE_2D, 0, sized ? GL_RGBA8 : GL_RGBA, width,
        height, 0, GL_RGBA, GL_UNSIGNED_BYTE, NULL);
    self->gl.upload_width = width;
    self->gl.upload_height = height;
  } else {
    gl->BindTexture (GL_TEXTURE_2D, self->gl.upload_tex);
  }

  if (self->gl.row_length && stride % 4 == 0) {
    gl->PixelStorei (GL_UNPACK_ALIGNMENT, 4);
    gl->PixelStorei (GL_UNPACK_ROW_LENGTH, stride / 4);
    gl->TexSubImage2D (GL_TEXTURE_2D, 0, 0, 0, width, height, GL_RGBA,
        GL_UNSIGNED_BYTE, data);
    gl->PixelStorei (GL_UNPACK_ROW_LENGTH, 0);
  } else {
    gl->PixelStorei (GL_UNPACK_ALIGNMENT, 1);
    for (y = 0; y < height; y++)
      gl->TexSubImage2D (GL_TEXTURE_2D, 0, 0, y, width, 1, GL_RGBA,
          GL_UNSIGNED_BYTE, data + (gsize) y * stride);
    gl->PixelStorei (GL_UNPACK_ALIGNMENT, 4);
  }
  gl->BindTexture (GL_TEXTURE_2D, 0);
  gst_video_frame_unmap (&vframe);

  f->tex = self->gl.upload_tex;
  f->swap_rb = GST_VIDEO_INFO_FORMAT (&self->in_info) == GST_VIDEO_FORMAT_BGRx
      || GST_VIDEO_INFO_FORMAT (&self->in_info) == GST_VIDEO_FORMAT_BGRA;
  f->cpu_upload = TRUE;
  f->bytes_copied = (guint64) GST_VIDEO_INFO_COMP_PSTRIDE (&self->in_info, 0)
      * width * height;
  return TRUE;
}

static void
process_frame_gl (GstGLContext * context, gpointer data)
{
  Frame *f = data;
  GstDmabufImport *self = f->self;
  GstGpuBlitParams params;
  gboolean imported = FALSE;
  GstBuffer *drawn = f->outbuf;

  if (self->gl.can_import && self->active.egl_import && !self->gl.import_failed) {
    imported = import_frame (self, f);
    /* one failure is enough: the next frames would fail alike */
    self->gl.import_failed = !imported;
  }
  if (!imported && !(f->allow_cpu && upload_frame (self, f)))
    goto fail;

  params.flip = f->flip;
  params.swap_rb = f->swap_rb;
  params.opaque = !GST_VIDEO_INFO_HAS_ALPHA (&self->in_info);
  /* CUDA output: drawn into a GL texture, then copied into CUDA memory */
  if (self->gl.cuda_out
      && !(drawn = gst_gpu_cuda_out_acquire (self->gl.cuda_out, &f->error)))
    goto fail;
  /* The DMA-BUF goes back to its producer when we return it: the GPU must
   * have read it by then.  An upload was read by glTexSubImage2D. */
  if (!gst_gpu_blit_to_buffer (self->gl.blit, f->tex, drawn, &params,
          !f->cpu_upload, &f->error))
    goto fail;
  if (self->gl.cuda_out) {
    gboolean filled = gst_gpu_cuda_out_fill (self->gl.cuda_out, drawn,
        f->outbuf, &f->error);

    drawn = f->outbuf;
    if (!filled)
      goto fail;
  }

  f->ret = GST_FLOW_OK;
  return;

fail:
  if (drawn != f->outbuf)
    gst_buffer_unref (drawn);
  f->ret = GST_FLOW_ERROR;
}

/* ---------------------------------------------------------------------- */
/* GstBaseTransform                                                       */

static GstCaps *
gst_dmabuf_import_transform_caps (GstBaseTransform * trans,
    GstPadDirection direction, GstCaps * caps, GstCaps * filter)
{
  /* CUDA caps only where CUDA works: negotiation never picks them on a
   * machine without the driver */
  GstCaps *result = gst_gpu_blit_transform_caps (caps, direction,
      GST_CAPS_FEATURE_MEMORY_DMABUF, gst_gpu_cuda_available (NULL), filter);

  GST_DEBUG_OBJECT (trans, "%s %" GST_PTR_FORMAT " -> %" GST_PTR_FORMAT,
      direction == GST_PAD_SINK ? "sink" : "src", caps, result);
  return result;
}

static gboolean
gst_dmabuf_import_set_caps (GstBaseTransform * trans, GstCaps * incaps,
    GstCaps * outcaps)
{
  GstDmabufImport *self = GST_DMABUF_IMPORT (trans);

  /* format=DMA_DRM, drm-format=XR24 on >= 1.24, format=BGRx on 1.22 */
  if (!gst_spice_video_info_from_caps (&self->in_info, &self->fourcc,
          &self->modifier, incaps) || !self->fourcc)
    goto bad_caps;
  /* (the template takes linear buffers only) */
  if (self->modifier != DRM_FORMAT_MOD_INVALID
      && self->modifier != DRM_FORMAT_MOD_LINEAR)
    goto bad_caps;
  self->cuda_out = gst_gpu_cuda_caps_are_cuda (outcaps);

  return GST_BASE_TRANSFORM_CLASS (parent_class)->set_caps (trans, incaps,
      outcaps);

  /* ERRORS */
bad_caps:
  {
    GST_WARNING_OBJECT (self, "cannot handle %" GST_PTR_FORMAT, incaps);
    return FALSE;
  }
}

static gboolean
gst_dmabuf_import_propose_allocation (GstBaseTransform * trans,
    GstQuery * decide_query, GstQuery * query)
{
  /* strides and offsets of a scanout come in the video meta */
  gst_query_add_allocation_meta (query, GST_VIDEO_META_API_TYPE, NULL);
  return TRUE;
}

static void
warn_no_import (GstDmabufImport * self)
{
  gchar *where =
      gst_gpu_display_describe (&self->display, GST_GL_BASE_FILTER (self));

  GST_ELEMENT_WARNING (self, RESOURCE, SETTINGS,
      ("%s is missing: DMA-BUFs are copied through the CPU",
          self->gl.missing),
      ("GL renderer %s on %s", self->gl.renderer, where));
  g_free (where);
}

static gboolean
gst_dmabuf_import_decide_allocation (GstBaseTransform * trans, GstQuery * query)
{
  GstDmabufImport *self = GST_DMABUF_IMPORT (trans);

  if (!gst_gpu_filter_decide_context (trans, query,
          GST_BASE_TRANSFORM_CLASS (parent_class)->decide_allocation,
          self->cuda_out, &self->cuda_ctx, &self->gl.cuda_error,
          &self->gl.renderer))
    return FALSE;

  if (!self->active.egl_import) {
    /* asked for: no warning */
    if (!self->active.cpu_fallback)
      goto nothing_left;
    GST_INFO_OBJECT (self, "egl-import=false: the CPU uploads every frame");
  } else if (!self->gl.can_import) {
    if (!self->active.cpu_fallback)
      goto no_import;
    if (!self->warned)
      warn_no_import (self);
    self->warned = TRUE;
  }
  return gst_gpu_filter_decide_pool (trans, query, self->cuda_out,
      self->cuda_ctx);

  /* ERRORS */
nothing_left:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Cannot take DMA-BUFs: egl-import and cpu-fallback are both "
            "disabled"), (NULL));
    return FALSE;
  }
no_import:
  {
    gchar *where =
        gst_gpu_display_describe (&self->display, GST_GL_BASE_FILTER (self));

    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
        ("Cannot import DMA-BUFs: %s is missing, and cpu-fallback is "
            "disabled", self->gl.missing),
        ("GL renderer %s on %s", self->gl.renderer, where));
    g_free (where);
    return FALSE;
  }
}

static gboolean
gst_dmabuf_import_sink_event (GstBaseTransform * trans, GstEvent * event)
{
  GstDmabufImport *self = GST_DMABUF_IMPORT (trans);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_STREAM_START:
      self->flip = FALSE;
      break;
    case GST_EVENT_TAG:{
      GstTagList *tags;
      gchar *orientation = NULL;

      gst_event_parse_tag (event, &tags);
      if (!gst_tag_list_get_string (tags, GST_TAG_IMAGE_ORIENTATION,
              &orientation))
        break;
      self->flip = g_str_equal (orientation, "flip-rotate-180");
      g_free (orientation);
      GST_DEBUG_OBJECT (self, "flip %d", self->flip);
      if (self->flip) {
        /* applied here: downstream must not flip again */
        tags = gst_tag_list_copy (tags);
        gst_tag_list_remove_tag (tags, GST_TAG_IMAGE_ORIENTATION);
        gst_event_unref (event);
        if (gst_tag_list_is_empty (tags)) {
          gst_tag_list_unref (tags);
          return TRUE;
        }
        event = gst_event_new_tag (tags);
      }
      break;
    }
    case GST_EVENT_CAPS:{
      gboolean ret;

      ret = GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans, event);
      if (!ret)
        gst_gpu_cuda_explain_refusal (trans);
      return ret;
    }
    default:
      break;
  }
  return GST_BASE_TRANSFORM_CLASS (parent_class)->sink_event (trans, event);
}

static gboolean
gst_dmabuf_import_query (GstBaseTransform * trans, GstPadDirection direction,
    GstQuery * query)
{
  GstDmabufImport *self = GST_DMABUF_IMPORT (trans);
  guint device;

  GST_OBJECT_LOCK (self);
  device = self->settings.device;
  GST_OBJECT_UNLOCK (self);
  return gst_gpu_filter_query (trans, direction, query, &self->display,
      self->cuda_ctx, device, GST_BASE_TRANSFORM_CLASS (parent_class)->query);
}

static GstFlowReturn
gst_dmabuf_import_transform (GstBaseTransform * trans, GstBuffer * inbuf,
    GstBuffer * outbuf)
{
  GstDmabufImport *self = GST_DMABUF_IMPORT (trans);
  GstGLContext *context = GST_GL_BASE_FILTER (trans)->context;
  GstVideoMeta *meta = gst_buffer_get_video_meta (inbuf);
  gint width = GST_VIDEO_INFO_WIDTH (&self->in_info);
  gint height = GST_VIDEO_INFO_HEIGHT (&self->in_info);
  Frame f = { 0, };

  if (meta && (meta->width != (guint) width || meta->height != (guint) height
          || meta->stride[0] < width * 4))
    goto bad_meta;

  f.self = self;
  f.inbuf = inbuf;
  f.outbuf = outbuf;
  f.flip = self->flip;
  f.allow_cpu = self->active.cpu_fallback;
  f.ret = GST_FLOW_ERROR;
  gst_gl_context_thread_add (context, process_frame_gl, &f);

  if (f.import_error) {
    if (!f.allow_cpu)
      goto import_failed;
    if (!self->warned) {
      gchar *where =
          gst_gpu_display_describe (&self->display, GST_GL_BASE_FILTER (self));

      GST_ELEMENT_WARNING (self, RESOURCE, READ,
          ("Could not import a DMA-BUF: copying frames through the CPU"),
          ("%s, GL renderer %s on %s", f.import_error, self->gl.renderer,
              where));
      g_free (where);
      self->warned = TRUE;
    } else {
      GST_DEBUG_OBJECT (self, "%s", f.import_error);
    }
  }
  if (f.ret != GST_FLOW_OK)
    goto failed;

  GST_OBJECT_LOCK (self);
  self->stats.frames++;
  self->stats.imports += f.imported;
  self->stats.cache_hits += f.cache_hit;
  self->stats.cpu_uploads += f.cpu_upload;
  self->stats.bytes_copied += f.bytes_copied;
  GST_OBJECT_UNLOCK (self);

  g_free (f.import_error);
  return GST_FLOW_OK;

  /* ERRORS */
bad_meta:
  {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("Frame layout does not match the caps"),
        ("video meta %ux%u stride %d, caps %dx%d", meta->width, meta->height,
            meta->stride[0], width, height));
    return GST_FLOW_ERROR;
  }
import_failed:
  {
    gchar *where =
        gst_gpu_display_describe (&self->display, GST_GL_BASE_FILTER (self));

    GST_ELEMENT_ERROR (self, RESOURCE, READ,
        ("Could not import a DMA-BUF, and cpu-fallback is disabled"),
        ("%s, GL renderer %s on %s", f.import_error, self->gl.renderer, where));
    g_free (where);
    g_free (f.import_error);
    g_free (f.error);
    return GST_FLOW_ERROR;
  }
failed:
  {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED,
        ("Could not copy a DMA-BUF into a GL texture"), ("%s",
            GST_STR_NULL (f.error)));
    g_free (f.import_error);
    g_free (f.error);
    return GST_FLOW_ERROR;
  }
}

static gboolean
gst_dmabuf_import_start (GstBaseTransform * trans)
{
  GstDmabufImport *self = GST_DMABUF_IMPORT (trans);

  GST_OBJECT_LOCK (self);
  self->active = self->settings;
  memset (&self->stats, 0, sizeof (self->stats));
  GST_OBJECT_UNLOCK (self);
  self->flip = FALSE;
  self->warned = FALSE;
  return GST_BASE_TRANSFORM_CLASS (parent_class)->start (trans);
}

/* ---------------------------------------------------------------------- */
/* GstElement                                                             */

static GstStateChangeReturn
gst_dmabuf_import_change_state (GstElement * element, GstStateChange transition)
{
  GstDmabufImport *self = GST_DMABUF_IMPORT (element);
  GstStateChangeReturn ret;

  if (transition == GST_STATE_CHANGE_NULL_TO_READY) {
    guint device;

    GST_OBJECT_LOCK (self);
    device = self->settings.device;
    GST_OBJECT_UNLOCK (self);
    if (!gst_gpu_display_open (&self->display, GST_GL_BASE_FILTER (self),
            device))
      return GST_STATE_CHANGE_FAILURE;
  }

  ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);

  if (transition == GST_STATE_CHANGE_NULL_TO_READY
      && ret != GST_STATE_CHANGE_FAILURE)
    gst_gpu_display_prefer_desktop_gl (GST_GL_BASE_FILTER (self));

  if (transition == GST_STATE_CHANGE_READY_TO_NULL) {
    gst_gpu_display_reset (&self->display);
    gst_clear_object (&self->cuda_ctx);
  }
  return ret;
}

static void
gst_dmabuf_import_set_context (GstElement * element, GstContext * context)
{
  GstDmabufImport *self = GST_DMABUF_IMPORT (element);

  gst_gpu_cuda_set_context (element, context, &self->cuda_ctx);
  GST_ELEMENT_CLASS (parent_class)->set_context (element, context);
}

/* ---------------------------------------------------------------------- */

static void
gst_dmabuf_import_finalize (GObject * object)
{
  GstDmabufImport *self = GST_DMABUF_IMPORT (object);

  gst_gpu_display_clear (&self->display);
  gst_clear_object (&self->cuda_ctx);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_dmabuf_import_init (GstDmabufImport * self)
{
  self->settings.device = DEFAULT_DEVICE;
  self->settings.cpu_fallback = DEFAULT_CPU_FALLBACK;
  self->settings.egl_import = DEFAULT_EGL_IMPORT;
  gst_gpu_display_init (&self->display);
  gst_video_info_init (&self->in_info);
}

static void
gst_dmabuf_import_class_init (GstDmabufImportClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *trans_class = GST_BASE_TRANSFORM_CLASS (klass);
  GstGLBaseFilterClass *base_class = GST_GL_BASE_FILTER_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (gst_dmabuf_import_debug, "dmabufimport", 0,
      "DMA-BUF to GL texture import");

  gobject_class->set_property = gst_dmabuf_import_set_property;
  gobject_class->get_property = gst_dmabuf_import_get_property;
  gobject_class->finalize = gst_dmabuf_import_finalize;

  /**
   * GstDmabufImport:device:
   *
   * The EGL device (index in `eglQueryDevicesEXT` order) to open when no
   * GL display is shared with the element and no window system is chosen
   * through the environment.  Ignored when a display is shared.
   */
  g_object_class_install_property (gobject_class, PROP_DEVICE,
      gst_gpu_display_device_param ());

  /**
   * GstDmabufImport:cpu-fallback:
   *
   * Whether frames may be copied through the CPU when the GL display cannot
   * import DMA-BUFs (no `EGL_EXT_image_dma_buf_import`) or an import fails.
   * When %FALSE, that is an error instead.
   */
  g_object_class_install_property (gobject_class, PROP_CPU_FALLBACK,
      g_param_spec_boolean ("cpu-fallback", "CPU fallback",
          "When EGL cannot import a DMA-BUF (no EGL_EXT_image_dma_buf_import, "
          "or the import fails), map it and upload it with the CPU (after "
          "one warning); when false, post an error instead",
          DEFAULT_CPU_FALLBACK,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  /**
   * GstDmabufImport:egl-import:
   *
   * Whether DMA-BUFs are imported through EGL when the GL display can
   * (`EGL_EXT_image_dma_buf_import`).  When %FALSE every frame is mapped
   * and uploaded by the CPU (#GstDmabufImport:cpu-fallback must allow it),
   * without a warning: for drivers whose import misbehaves, and to compare
   * the two paths.
   *
   * Since: 0.1
   */
  g_object_class_install_property (gobject_class, PROP_EGL_IMPORT,
      g_param_spec_boolean ("egl-import", "EGL import",
          "Import DMA-BUFs through EGL (EGL_EXT_image_dma_buf_import) when "
          "the GL display can; false: map and upload every frame with the "
          "CPU (needs cpu-fallback)", DEFAULT_EGL_IMPORT,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  /**
   * GstDmabufImport:stats:
   *
   * Counters since the element last started: `frames`, `imports`
   * (EGLImages created), `cache-hits` (frames whose DMA-BUF was imported
   * before), `cpu-uploads` (frames copied by the CPU) and `bytes-copied`
   * (bytes the CPU copied; 0 on the import path).
   */
  g_object_class_install_property (gobject_class, PROP_STATS,
      g_param_spec_boxed ("stats", "Statistics",
          "Counters since the element started: frames, imports (EGLImages "
          "created), cache-hits (frames whose DMA-BUF was already imported), "
          "cpu-uploads (frames copied by the CPU), bytes-copied (bytes the "
          "CPU copied, 0 on the import path)", GST_TYPE_STRUCTURE,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "DMA-BUF to GL texture", "Filter/Converter/Video/Hardware",
      "Imports single-plane RGB DMA-BUFs (guest scanouts) into GL textures "
      "that GPU encoders take, with one GPU copy",
      "gst-spice developers <https://github.com/gst-spice/gst-spice>");

  element_class->change_state =
      GST_DEBUG_FUNCPTR (gst_dmabuf_import_change_state);
  element_class->set_context =
      GST_DEBUG_FUNCPTR (gst_dmabuf_import_set_context);

  trans_class->passthrough_on_same_caps = FALSE;
  trans_class->transform_caps =
      GST_DEBUG_FUNCPTR (gst_dmabuf_import_transform_caps);
  trans_class->set_caps = GST_DEBUG_FUNCPTR (gst_dmabuf_import_set_caps);
  trans_class->propose_allocation =
      GST_DEBUG_FUNCPTR (gst_dmabuf_import_propose_allocation);
  trans_class->decide_allocation =
      GST_DEBUG_FUNCPTR (gst_dmabuf_import_decide_allocation);
  trans_class->sink_event = GST_DEBUG_FUNCPTR (gst_dmabuf_import_sink_event);
  trans_class->query = GST_DEBUG_FUNCPTR (gst_dmabuf_import_query);
  trans_class->transform = GST_DEBUG_FUNCPTR (gst_dmabuf_import_transform);
  trans_class->start = GST_DEBUG_FUNCPTR (gst_dmabuf_import_start);

  base_class->supported_gl_api =
      GST_GL_API_OPENGL | GST_GL_API_OPENGL3 | GST_GL_API_GLES2;
  base_class->gl_start = GST_DEBUG_FUNCPTR (gst_dmabuf_import_gl_start);
  base_class->gl_stop = GST_DEBUG_FUNCPTR (gst_dmabuf_import_gl_stop);
  base_class->gl_set_caps = GST_DEBUG_FUNCPTR (gst_dmabuf_import_gl_set_caps);
}
