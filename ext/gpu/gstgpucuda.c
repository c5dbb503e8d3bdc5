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

#include "gstgpucuda.h"

gboolean
gst_gpu_cuda_caps_are_cuda (const GstCaps * caps)
{
  guint i;

  for (i = 0; caps && i < gst_caps_get_size (caps); i++) {
    GstCapsFeatures *f = gst_caps_get_features (caps, i);

    if (f && !gst_caps_features_is_any (f)
        && gst_caps_features_contains (f, GST_GPU_CUDA_FEATURE))
      return TRUE;
  }
  return FALSE;
}

void
gst_gpu_cuda_append_structures (GstCaps * caps, const GstStructure * s)
{
  GstStructure *nv12 = gst_structure_copy (s);
  GstStructure *rgba = gst_structure_copy (s);

  gst_structure_remove_fields (nv12, "texture-target", NULL);
  gst_structure_remove_fields (rgba, "texture-target", NULL);
  gst_structure_set (nv12, "format", G_TYPE_STRING, "NV12", "colorimetry",
      G_TYPE_STRING, GST_GPU_CUDA_NV12_COLORIMETRY, NULL);
  gst_structure_set (rgba, "format", G_TYPE_STRING, "RGBA", NULL);
  gst_caps_append_structure_full (caps, nv12,
      gst_caps_features_new (GST_GPU_CUDA_FEATURE, NULL));
  gst_caps_append_structure_full (caps, rgba,
      gst_caps_features_new (GST_GPU_CUDA_FEATURE, NULL));
}

void
gst_gpu_cuda_explain_refusal (GstBaseTransform * trans)
{
  GstCaps *peer;
  const gchar *reason = NULL;
  guint i, n;
  gboolean cuda_only;

  if (gst_gpu_cuda_available (&reason))
    return;
  peer = gst_pad_peer_query_caps (GST_BASE_TRANSFORM_SRC_PAD (trans), NULL);
  n = peer ? gst_caps_get_size (peer) : 0;
  cuda_only = n > 0 && !gst_caps_is_any (peer);
  for (i = 0; i < n && cuda_only; i++) {
    GstCapsFeatures *f = gst_caps_get_features (peer, i);

    cuda_only = f && !gst_caps_features_is_any (f)
        && gst_caps_features_contains (f, GST_GPU_CUDA_FEATURE);
  }
  if (cuda_only)
    GST_ELEMENT_ERROR (trans, CORE, NEGOTIATION,
        ("Downstream takes CUDA memory only, and CUDA is not available: %s",
            reason), ("downstream caps %" GST_PTR_FORMAT, peer));
  gst_clear_caps (&peer);
}

#ifdef HAVE_CUDA

#include <dlfcn.h>
#include <string.h>

#include <cudaEGL.h>
#include <gst/cuda/gstcudabufferpool.h>
#include <gst/cuda/gstcudautils.h>
#include <gst/gl/gstglfuncs.h>

#ifndef GL_RGBA8
#define GL_RGBA8 0x8058
#endif

GST_DEBUG_CATEGORY_STATIC (gst_gpu_cuda_debug);
#define GST_CAT_DEFAULT gst_gpu_cuda_debug

static void
init_debug (void)
{
  static gsize once = 0;

  if (g_once_init_enter (&once)) {
    GST_DEBUG_CATEGORY_INIT (gst_gpu_cuda_debug, "gpucuda", 0,
        "spicegpu CUDA output");
    g_once_init_leave (&once, 1);
  }
}

/* libcuda.so.1's EGLStream consumer: GStreamer 1.22 wraps none of it */
typedef CUresult (CUDAAPI * ConsumerConnect) (CUeglStreamConnection *,
    EGLStreamKHR);
typedef CUresult (CUDAAPI * ConsumerDisconnect) (CUeglStreamConnection *);
typedef CUresult (CUDAAPI * ConsumerAcquire) (CUeglStreamConnection *,
    CUgraphicsResource *, CUstream *, unsigned int);
typedef CUresult (CUDAAPI * ConsumerRelease) (CUeglStreamConnection *,
    CUgraphicsResource, CUstream *);
typedef CUresult (CUDAAPI * GetMappedEglFrame) (CUeglFrame *,
    CUgraphicsResource, unsigned int, unsigned int);

/* written once under g_once, read-only afterwards */
static struct
{
  gboolean ok;
  gchar *reason;
  gboolean egl_ok;
  gchar *egl_reason;
  ConsumerConnect connect;
  ConsumerDisconnect disconnect;
  ConsumerAcquire acquire;
  ConsumerRelease release;
  GetMappedEglFrame get_frame;
} cuda;

static const gchar *
error_name (CUresult res)
{
  const gchar *name = NULL;

  if (CuGetErrorName (res, &name) != CUDA_SUCCESS || !name)
    return "unknown CUDA error";
  return name;
}

gboolean
gst_gpu_cuda_available (const gchar ** reason)
{
  static gsize once = 0;

  if (g_once_init_enter (&once)) {
    CUresult res;
    int count = 0;

    init_debug ();
    if (!gst_cuda_load_library ()) {
      cuda.reason = g_strdup ("libcuda.so.1 could not be loaded (no NVIDIA "
          "driver installed)");
    } else if ((res = CuInit (0)) != CUDA_SUCCESS) {
      cuda.reason = g_strdup_printf ("cuInit failed with %s (no usable "
          "NVIDIA GPU or driver)", error_name (res));
    } else if ((res = CuDeviceGetCount (&count)) != CUDA_SUCCESS || count == 0) {
      cuda.reason = g_strdup ("no CUDA device");
    } else {
      gst_cuda_memory_init_once ();
      cuda.ok = TRUE;
    }
    GST_INFO ("CUDA %s%s", cuda.ok ? "available" : "unavailable: ",
        cuda.ok ? "" : cuda.reason);
    g_once_init_leave (&once, 1);
  }
  if (reason)
    *reason = cuda.reason;
  return cuda.ok;
}

gboolean
gst_gpu_cuda_egl_available (const gchar ** reason)
{
  static gsize once = 0;

  if (!gst_gpu_cuda_available (reason))
    return FALSE;

  if (g_once_init_enter (&once)) {
    /* gst_cuda_load_library () opened it already: this only takes a
     * reference */
    void *lib = dlopen ("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    const gchar *missing = NULL;

#define SYM(field, name) \
    if (!missing && !(cuda.field = (gpointer) dlsym (lib, name))) \
      missing = name;
    if (!lib) {
      missing = "libcuda.so.1";
    } else {
      SYM (connect, "cuEGLStreamConsumerConnect");
      SYM (disconnect, "cuEGLStreamConsumerDisconnect");
      SYM (acquire, "cuEGLStreamConsumerAcquireFrame");
      SYM (release, "cuEGLStreamConsumerReleaseFrame");
      SYM (get_frame, "cuGraphicsResourceGetMappedEglFrame");
    }
#undef SYM
    if (missing)
      cuda.egl_reason = g_strdup_printf ("libcuda.so.1 lacks %s (a driver "
          "without the CUDA EGL interop)", missing);
    cuda.egl_ok = !missing;
    g_once_init_leave (&once, 1);
  }
  if (reason)
    *reason = cuda.egl_reason;
  return cuda.egl_ok;
}

void
gst_gpu_cuda_set_context (GstElement * element, GstContext * context,
    GstObject ** cuda_ctx)
{
  if (gst_gpu_cuda_available (NULL))
    gst_cuda_handle_set_context (element, context, -1,
        (GstCudaContext **) cuda_ctx);
}

gboolean
gst_gpu_cuda_handle_query (GstElement * element, GstQuery * query,
    GstObject * cuda_ctx)
{
  if (GST_QUERY_TYPE (query) != GST_QUERY_CONTEXT || !cuda_ctx)
    return FALSE;
  return gst_cuda_handle_context_query (element, query,
      GST_CUDA_CONTEXT (cuda_ctx));
}

gboolean
gst_gpu_cuda_ensure_context (GstElement * element, GstObject ** cuda_ctx,
    gchar ** error)
{
  const gchar *reason;

  if (!gst_gpu_cuda_available (&reason)) {
    *error = g_strdup (reason);
    return FALSE;
  }
  /* -1: whichever the neighbours use (nvcudah264enc needs its very own
   * GstCudaContext, nvh264enc the same CUcontext); device 0 when none */
  if (!gst_cuda_ensure_element_context (element, -1,
          (GstCudaContext **) cuda_ctx)) {
    *error = g_strdup ("could not create a CUDA context on device 0");
    return FALSE;
  }
  return TRUE;
}

gboolean
gst_gpu_cuda_decide_pool (GstObject * cuda_ctx, GstQuery * query)
{
  GstBufferPool *pool = NULL;
  GstStructure *config;
  GstCaps *caps;
  guint min = 0, max = 0, size;
  gboolean update_pool = FALSE;
  GstVideoInfo vinfo;

  gst_query_parse_allocation (query, &caps, NULL);
  if (!caps || !gst_video_info_from_caps (&vinfo, caps))
    return FALSE;
  size = vinfo.size;

  if (gst_query_get_n_allocation_pools (query) > 0) {
    gst_query_parse_nth_allocation_pool (query, 0, &pool, &size, &min, &max);
    update_pool = TRUE;
    if (pool && !(GST_IS_CUDA_BUFFER_POOL (pool)
            && GST_CUDA_BUFFER_POOL (pool)->context ==
            GST_CUDA_CONTEXT (cuda_ctx)))
      gst_clear_object (&pool);
  }
  if (!pool)
    pool = gst_cuda_buffer_pool_new (GST_CUDA_CONTEXT (cuda_ctx));

  config = gst_buffer_pool_get_config (pool);
  gst_buffer_pool_config_set_params (config, caps, size, min, max);
  gst_buffer_pool_config_add_option (config, GST_BUFFER_POOL_OPTION_VIDEO_META);
  if (!gst_buffer_pool_set_config (pool, config)) {
    GST_WARNING_OBJECT (pool, "CUDA pool refused the configuration");
    gst_object_unref (pool);
    return FALSE;
  }
  /* the pool computes the pitched size */
  config = gst_buffer_pool_get_config (pool);
  gst_buffer_pool_config_get_params (config, NULL, &size, NULL, NULL);
  gst_structure_free (config);

  if (update_pool)
    gst_query_set_nth_allocation_pool (query, 0, pool, size, min, max);
  else
    gst_query_add_allocation_pool (query, pool, size, min, max);
  gst_object_unref (pool);
  return TRUE;
}

/* ---------------------------------------------------------------------- */
/* GL textures seen by CUDA                                               */

/* GL thread, CUDA context pushed: a GL texture's registration, kept per
 * texture name; the textures (pool and converter buffers) live as long as
 * the table. */
static CUgraphicsResource
registered (GHashTable * table, GLuint tex, guint flags, gchar ** error)
{
  CUgraphicsResource res = g_hash_table_lookup (table, GUINT_TO_POINTER (tex));
  CUresult r;

  if (res)
    return res;
  r = CuGraphicsGLRegisterImage (&res, tex, GL_TEXTURE_2D, flags);
  if (r != CUDA_SUCCESS) {
    *error = g_strdup_printf ("cuGraphicsGLRegisterImage on GL texture %u "
        "failed with %s (the GL context and the CUDA context must be on the "
        "same GPU)", tex, error_name (r));
    return NULL;
  }
  g_hash_table_insert (table, GUINT_TO_POINTER (tex), res);
  return res;
}

static void
unregister (gpointer res)
{
  CuGraphicsUnregisterResource (res);
}

/* GL thread, CUDA context pushed: copies between a GL texture and device
 * memory (@to_texture: device -> texture) through the texture's CUDA
 * array. */
static gboolean
copy_texture (GHashTable * table, GLuint tex, gboolean to_texture,
    CUDA_MEMCPY2D * cp, gchar ** error)
{
  CUgraphicsResource res;
  CUarray array;
  CUresult r;

  res = registered (table, tex, to_texture ?
      CU_GRAPHICS_REGISTER_FLAGS_WRITE_DISCARD :
      CU_GRAPHICS_REGISTER_FLAGS_READ_ONLY, error);
  if (!res)
    return FALSE;
  /* orders the GL work issued before it ahead of the copy */
  r = CuGraphicsMapResources (1, &res, NULL);
  if (r != CUDA_SUCCESS) {
    *error = g_strdup_printf ("cuGraphicsMapResources failed with %s",
        error_name (r));
    return FALSE;
  }
  r = CuGraphicsSubResourceGetMappedArray (&array, res, 0, 0);
  if (r == CUDA_SUCCESS) {
    if (to_texture) {
      cp->dstMemoryType = CU_MEMORYTYPE_ARRAY;
      cp->dstArray = array;
    } else {
      cp->srcMemoryType = CU_MEMORYTYPE_ARRAY;
      cp->srcArray = array;
    }
    r = CuMemcpy2D (cp);
    if (r != CUDA_SUCCESS)
      *error = g_strdup_printf ("cuMemcpy2D (%zux%zu) failed with %s",
          cp->WidthInBytes, cp->Height, error_name (r));
  } else {
    *error = g_strdup_printf ("cuGraphicsSubResourceGetMappedArray failed "
        "with %s", error_name (r));
  }
  CuGraphicsUnmapResources (1, &res, NULL);
  return r == CUDA_SUCCESS;
}

/* ---------------------------------------------------------------------- */
/* Output                                                                 */

struct _GstGpuCudaOut
{
  GstGLContext *context;
  GstCudaContext *cuda_ctx;
  GstVideoInfo info;            /* output: NV12 or RGBA */
  GstBufferPool *pool;          /* RGBA GL textures drawn into */
  GstGLColorConvert *convert;   /* RGBA -> NV12 in GL, or NULL */
  GHashTable *resources;        /* texture name -> CUgraphicsResource */
};

static GstCaps *
gl_caps (const GstVideoInfo * info, GstVideoFormat format)
{
  GstVideoInfo gl_info;
  GstCaps *caps;

  gst_video_info_set_format (&gl_info, format, GST_VIDEO_INFO_WIDTH (info),
      GST_VIDEO_INFO_HEIGHT (info));
  GST_VIDEO_INFO_FPS_N (&gl_info) = GST_VIDEO_INFO_FPS_N (info);
  GST_VIDEO_INFO_FPS_D (&gl_info) = GST_VIDEO_INFO_FPS_D (info);
  if (format == GST_VIDEO_FORMAT_NV12)
    gst_video_colorimetry_from_string (&gl_info.colorimetry,
        GST_GPU_CUDA_NV12_COLORIMETRY);
  caps = gst_video_info_to_caps (&gl_info);
  gst_caps_set_features (caps, 0,
      gst_caps_features_new (GST_CAPS_FEATURE_MEMORY_GL_MEMORY, NULL));
  gst_caps_set_simple (caps, "texture-target", G_TYPE_STRING,
      GST_GL_TEXTURE_TARGET_2D_STR, NULL);
  return caps;
}

GstGpuCudaOut *
gst_gpu_cuda_out_new (GstGLContext * context, GstObject * cuda_ctx,
    GstCaps * outcaps, gchar ** error)
{
  GstGpuCudaOut *out = g_new0 (GstGpuCudaOut, 1);
  GstCaps *rgba = NULL, *nv12 = NULL;
  GstStructure *config;
  GstVideoFormat format;

  init_debug ();
  out->context = gst_object_ref (context);
  out->cuda_ctx = (GstCudaContext *) gst_object_ref (cuda_ctx);
  out->resources = g_hash_table_new_full (NULL, NULL, NULL, unregister);
  if (!gst_video_info_from_caps (&out->info, outcaps)) {
    *error = g_strdup ("unusable CUDA caps");
    goto fail;
  }
  format = GST_VIDEO_INFO_FORMAT (&out->info);
  if (format != GST_VIDEO_FORMAT_NV12 && format != GST_VIDEO_FORMAT_RGBA) {
    *error = g_strdup_printf ("CUDA output in %s is not supported",
        gst_video_format_to_string (format));
    goto fail;
  }

  rgba = gl_caps (&out->info, GST_VIDEO_FORMAT_RGBA);
  out->pool = gst_gl_buffer_pool_new (context);
  config = gst_buffer_pool_get_config (out->pool);
  gst_buffer_pool_config_set_params (config, rgba,
      GST_VIDEO_INFO_WIDTH (&out->info) * GST_VIDEO_INFO_HEIGHT (&out->info)
      * 4, 2, 0);
  gst_buffer_pool_config_add_option (config, GST_BUFFER_POOL_OPTION_VIDEO_META);
  gst_buffer_pool_config_add_option (config,
      GST_BUFFER_POOL_OPTION_GL_SYNC_META);
  if (!gst_buffer_pool_set_config (out->pool, config)
      || !gst_buffer_pool_set_active (out->pool, TRUE)) {
    *error = g_strdup ("could not set up the GL texture pool");
    goto fail;
  }

  if (format == GST_VIDEO_FORMAT_NV12) {
    nv12 = gl_caps (&out->info, GST_VIDEO_FORMAT_NV12);
    out->convert = gst_gl_color_convert_new (context);
    if (!gst_gl_color_convert_set_caps (out->convert, rgba, nv12)) {
      *error = g_strdup ("GL cannot convert RGBA to NV12 in this context");
      goto fail;
    }
  }
  gst_caps_unref (rgba);
  gst_clear_caps (&nv12);
  GST_DEBUG ("CUDA output %" GST_PTR_FORMAT, outcaps);
  return out;

fail:
  gst_clear_caps (&rgba);
  gst_clear_caps (&nv12);
  gst_gpu_cuda_out_free (out);
  return NULL;
}

void
gst_gpu_cuda_out_free (GstGpuCudaOut * out)
{
  if (!out)
    return;
  if (gst_cuda_context_push (out->cuda_ctx)) {
    g_hash_table_destroy (out->resources);
    gst_cuda_context_pop (NULL);
  } else {
    g_hash_table_steal_all (out->resources);
    g_hash_table_destroy (out->resources);
  }
  gst_clear_object (&out->convert);
  if (out->pool) {
    gst_buffer_pool_set_active (out->pool, FALSE);
    gst_object_unref (out->pool);
  }
  gst_object_unref (out->cuda_ctx);
  gst_object_unref (out->context);
  g_free (out);
}

GstBuffer *
gst_gpu_cuda_out_acquire (GstGpuCudaOut * out, gchar ** error)
{
  GstBuffer *buf = NULL;

  if (gst_buffer_pool_acquire_buffer (out->pool, &buf, NULL) != GST_FLOW_OK) {
    *error = g_strdup ("could not get a GL texture to draw into");
    return NULL;
  }
  return buf;
}

/* CUDA context pushed */
static gboolean
fill_planes (GstGpuCudaOut * out, GstBuffer * gl_buf, GstBuffer * outbuf,
    gchar ** error)
{
  GstMemory *mem = gst_buffer_peek_memory (outbuf, 0);
  GstCudaMemory *cmem;
  GstMapInfo map;
  gboolean ok = TRUE;
  guint i;

  if (gst_buffer_n_memory (outbuf) != 1 || !gst_is_cuda_memory (mem)) {
    *error = g_strdup ("the output buffer is not CUDA memory");
    return FALSE;
  }
  cmem = GST_CUDA_MEMORY_CAST (mem);
  if (!gst_memory_map (mem, &map, GST_MAP_WRITE | GST_MAP_CUDA)) {
    *error = g_strdup ("could not map the output CUDA memory");
    return FALSE;
  }

  for (i = 0; ok && i < GST_VIDEO_INFO_N_PLANES (&cmem->info); i++) {
    GstMemory *glmem = gst_buffer_peek_memory (gl_buf, i);
    CUDA_MEMCPY2D cp = { 0, };
    GstMapInfo glmap;

    if (!gst_is_gl_memory (glmem)
        || !gst_memory_map (glmem, &glmap, GST_MAP_READ | GST_MAP_GL)) {
      *error = g_strdup_printf ("plane %u is not a readable GL texture", i);
      ok = FALSE;
      break;
    }
    cp.dstMemoryType = CU_MEMORYTYPE_DEVICE;
    cp.dstDevice = (CUdeviceptr) map.data +
        GST_VIDEO_INFO_PLANE_OFFSET (&cmem->info, i);
    cp.dstPitch = GST_VIDEO_INFO_PLANE_STRIDE (&cmem->info, i);
    cp.WidthInBytes = GST_VIDEO_INFO_COMP_WIDTH (&cmem->info, i)
        * GST_VIDEO_INFO_COMP_PSTRIDE (&cmem->info, i);
    /* NV12's UV: 2 bytes a pixel of the half-width plane */
    if (GST_VIDEO_INFO_FORMAT (&cmem->info) == GST_VIDEO_FORMAT_NV12 && i == 1)
      cp.WidthInBytes = GST_VIDEO_INFO_COMP_WIDTH (&cmem->info, 1) * 2;
    cp.Height = GST_VIDEO_INFO_COMP_HEIGHT (&cmem->info, i);
    ok = copy_texture (out->resources,
        gst_gl_memory_get_texture_id ((GstGLMemory *) glmem), FALSE, &cp,
        error);
    gst_memory_unmap (glmem, &glmap);
  }
  gst_memory_unmap (mem, &map);
  return ok;
}

gboolean
gst_gpu_cuda_out_fill (GstGpuCudaOut * out, GstBuffer * drawn,
    GstBuffer * outbuf, gchar ** error)
{
  GstBuffer *planes = drawn;
  gboolean ok;

  if (out->convert) {
    planes = gst_gl_color_convert_perform (out->convert, drawn);
    gst_buffer_unref (drawn);
    if (!planes) {
      *error = g_strdup ("the GL conversion RGBA -> NV12 failed");
      return FALSE;
    }
  }
  if (!gst_cuda_context_push (out->cuda_ctx)) {
    *error = g_strdup ("could not make the CUDA context current");
    gst_buffer_unref (planes);
    return FALSE;
  }
  ok = fill_planes (out, planes, outbuf, error);
  gst_cuda_context_pop (NULL);
  gst_buffer_unref (planes);
  return ok;
}

/* ---------------------------------------------------------------------- */
/* The CUDA EGLStream consumer                                            */

struct _GstGpuCudaStream
{
  GstGLContext *context;
  GstCudaContext *cuda_ctx;
  CUeglStreamConnection conn;
  GLuint tex;                   /* the frame, copied; RGBA8 */
  gint tex_width, tex_height;
  GHashTable *resources;        /* tex -> CUgraphicsResource */
};

GstGpuCudaStream *
gst_gpu_cuda_stream_connect (GstGLContext * context, GstObject * cuda_ctx,
    gpointer egl_stream, gchar ** error)
{
  const gchar *reason;
  GstGpuCudaStream *s;
  CUresult r;

  init_debug ();
  if (!gst_gpu_cuda_egl_available (&reason)) {
    *error = g_strdup (reason);
    return NULL;
  }
  s = g_new0 (GstGpuCudaStream, 1);
  s->context = gst_object_ref (context);
  s->cuda_ctx = (GstCudaContext *) gst_object_ref (cuda_ctx);
  s->resources = g_hash_table_new_full (NULL, NULL, NULL, unregister);
  if (!gst_cuda_context_push (s->cuda_ctx)) {
    *error = g_strdup ("could not make the CUDA context current");
    goto fail;
  }
  r = cuda.connect (&s->conn, (EGLStreamKHR) egl_stream);
  gst_cuda_context_pop (NULL);
  if (r != CUDA_SUCCESS) {
    *error = g_strdup_printf ("cuEGLStreamConsumerConnect failed with %s "
        "(a consumer is connected already, or the stream is on another "
        "GPU)", error_name (r));
    s->conn = NULL;
    goto fail;
  }
  return s;

fail:
  gst_gpu_cuda_stream_disconnect (s);
  return NULL;
}

void
gst_gpu_cuda_stream_disconnect (GstGpuCudaStream * s)
{
  if (!s)
    return;
  if (gst_cuda_context_push (s->cuda_ctx)) {
    if (s->conn)
      cuda.disconnect (&s->conn);
    g_hash_table_destroy (s->resources);
    gst_cuda_context_pop (NULL);
  } else {
    g_hash_table_steal_all (s->resources);
    g_hash_table_destroy (s->resources);
  }
  if (s->tex)
    s->context->gl_vtable->DeleteTextures (1, &s->tex);
  gst_object_unref (s->cuda_ctx);
  gst_object_unref (s->context);
  g_free (s);
}

/* GL thread: the texture the frame is copied into, of its size */
static void
ensure_texture (GstGpuCudaStream * s, gint width, gint height)
{
  const GstGLFuncs *gl = s->context->gl_vtable;

  if (s->tex && s->tex_width == width && s->tex_height == height)
    return;
  if (s->tex) {
    gpointer res = g_hash_table_lookup (s->resources,
        GUINT_TO_POINTER (s->tex));

    if (res)
      g_hash_table_remove (s->resources, GUINT_TO_POINTER (s->tex));
    gl->DeleteTextures (1, &s->tex);
  }
  gl->GenTextures (1, &s->tex);
  gl->BindTexture (GL_TEXTURE_2D, s->tex);
  gl->TexImage2D (GL_TEXTURE_2D, 0, GL_RGBA8, width, height, 0, GL_RGBA,
      GL_UNSIGNED_BYTE, NULL);
  gl->TexParameteri (GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
  gl->TexParameteri (GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
  gl->TexParameteri (GL_TEXTURE_2D, GL_TEXTURE_WRAP_S, GL_CLAMP_TO_EDGE);
  gl->TexParameteri (GL_TEXTURE_2D, GL_TEXTURE_WRAP_T, GL_CLAMP_TO_EDGE);
  gl->BindTexture (GL_TEXTURE_2D, 0);
  s->tex_width = width;
  s->tex_height = height;
}

GstGpuCudaFrameResult
gst_gpu_cuda_stream_take_frame (GstGpuCudaStream * s, guint timeout_us,
    GLuint * tex, gint * width, gint * height, gboolean * swap_rb,
    gchar ** error)
{
  GstGpuCudaFrameResult ret = GST_GPU_CUDA_FRAME_ERROR;
  CUgraphicsResource res = NULL;
  CUeglFrame frame;
  CUDA_MEMCPY2D cp = { 0, };
  CUresult r;

  if (!gst_cuda_context_push (s->cuda_ctx)) {
    *error = g_strdup ("could not make the CUDA context current");
    return GST_GPU_CUDA_FRAME_ERROR;
  }
  r = cuda.acquire (&s->conn, &res, NULL, timeout_us);
  if (r == CUDA_ERROR_LAUNCH_TIMEOUT) {
    ret = GST_GPU_CUDA_FRAME_TIMEOUT;
    goto out;
  }
  if (r != CUDA_SUCCESS) {
    *error = g_strdup_printf ("cuEGLStreamConsumerAcquireFrame failed with "
        "%s", error_name (r));
    goto out;
  }

  r = cuda.get_frame (&frame, res, 0, 0);
  if (r != CUDA_SUCCESS) {
    *error = g_strdup_printf ("cuGraphicsResourceGetMappedEglFrame failed "
        "with %s", error_name (r));
    goto release;
  }
  /* CUDA names the colour formats by their words: ABGR is R, G, B, A in
   * memory (a GL RGBA8 surface), ARGB is B, G, R, A */
  if (frame.planeCount != 1 || frame.cuFormat != CU_AD_FORMAT_UNSIGNED_INT8
      || frame.numChannels != 4
      || (frame.eglColorFormat != CU_EGL_COLOR_FORMAT_ABGR
          && frame.eglColorFormat != CU_EGL_COLOR_FORMAT_ARGB)) {
    *error = g_strdup_printf ("unsupported EGLStream frame for CUDA: colour "
        "format %d, %u planes, %u channels, CUarray format 0x%x",
        (gint) frame.eglColorFormat, frame.planeCount, frame.numChannels,
        (guint) frame.cuFormat);
    goto release;
  }
  *swap_rb = frame.eglColorFormat == CU_EGL_COLOR_FORMAT_ARGB;
  *width = frame.width;
  *height = frame.height;
  ensure_texture (s, frame.width, frame.height);

  if (frame.frameType == CU_EGL_FRAME_TYPE_ARRAY) {
    cp.srcMemoryType = CU_MEMORYTYPE_ARRAY;
    cp.srcArray = frame.frame.pArray[0];
  } else {
    cp.srcMemoryType = CU_MEMORYTYPE_DEVICE;
    cp.srcDevice = (CUdeviceptr) frame.frame.pPitch[0];
    cp.srcPitch = frame.pitch;
  }
  cp.WidthInBytes = (size_t) frame.width * 4;
  cp.Height = frame.height;
  if (copy_texture (s->resources, s->tex, TRUE, &cp, error)) {
    *tex = s->tex;
    ret = GST_GPU_CUDA_FRAME_OK;
  }

release:
  /* copied (cuMemcpy2D is synchronous): the producer may reuse it */
  r = cuda.release (&s->conn, res, NULL);
  if (r != CUDA_SUCCESS && ret == GST_GPU_CUDA_FRAME_OK) {
    *error = g_strdup_printf ("cuEGLStreamConsumerReleaseFrame failed with "
        "%s", error_name (r));
    ret = GST_GPU_CUDA_FRAME_ERROR;
  }
out:
  gst_cuda_context_pop (NULL);
  return ret;
}

#else /* !HAVE_CUDA */

#define NO_CUDA "this build of the spicegpu plugin has no CUDA support " \
    "(cuda.h or gstreamer-cuda-1.0 were missing when it was built)"

gboolean
gst_gpu_cuda_available (const gchar ** reason)
{
  if (reason)
    *reason = NO_CUDA;
  return FALSE;
}

gboolean
gst_gpu_cuda_egl_available (const gchar ** reason)
{
  return gst_gpu_cuda_available (reason);
}

void
gst_gpu_cuda_set_context (GstElement * element, GstContext * context,
    GstObject ** cuda_ctx)
{
}

gboolean
gst_gpu_cuda_handle_query (GstElement * element, GstQuery * query,
    GstObject * cuda_ctx)
{
  return FALSE;
}

gboolean
gst_gpu_cuda_ensure_context (GstElement * element, GstObject ** cuda_ctx,
    gchar ** error)
{
  *error = g_strdup (NO_CUDA);
  return FALSE;
}

gboolean
gst_gpu_cuda_decide_pool (GstObject * cuda_ctx, GstQuery * query)
{
  return FALSE;
}

GstGpuCudaOut *
gst_gpu_cuda_out_new (GstGLContext * context, GstObject * cuda_ctx,
    GstCaps * outcaps, gchar ** error)
{
  *error = g_strdup (NO_CUDA);
  return NULL;
}

void
gst_gpu_cuda_out_free (GstGpuCudaOut * out)
{
}

GstBuffer *
gst_gpu_cuda_out_acquire (GstGpuCudaOut * out, gchar ** error)
{
  *error = g_strdup (NO_CUDA);
  return NULL;
}

gboolean
gst_gpu_cuda_out_fill (GstGpuCudaOut * out, GstBuffer * drawn,
    GstBuffer * outbuf, gchar ** error)
{
  gst_buffer_unref (drawn);
  *error = g_strdup (NO_CUDA);
  return FALSE;
}

GstGpuCudaStream *
gst_gpu_cuda_stream_connect (GstGLContext * context, GstObject * cuda_ctx,
    gpointer egl_stream, gchar ** error)
{
  *error = g_strdup (NO_CUDA);
  return NULL;
}

void
gst_gpu_cuda_stream_disconnect (GstGpuCudaStream * stream)
{
}

GstGpuCudaFrameResult
gst_gpu_cuda_stream_take_frame (GstGpuCudaStream * stream, guint timeout_us,
    GLuint * tex, gint * width, gint * height, gboolean * swap_rb,
    gchar ** error)
{
  *error = g_strdup (NO_CUDA);
  return GST_GPU_CUDA_FRAME_ERROR;
}

#endif /* HAVE_CUDA */
