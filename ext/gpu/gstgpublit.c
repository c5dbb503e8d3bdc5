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

#include <gst/gl/gstglfuncs.h>

#include "gstgpublit.h"
#include "gstdrmformat.h"
#include "gstgpucuda.h"

#ifndef GL_TEXTURE_EXTERNAL_OES
#define GL_TEXTURE_EXTERNAL_OES 0x8D65
#endif

struct _GstGpuBlit
{
  GstGLContext *context;
  GLenum target;
  GstGLShader *shader;
  GstGLFramebuffer *fbo;
  GLuint vao, vbo, ibo;
};

/* Nearest sampling at texel centres keeps pixels exact; swap_rb turns bytes
 * uploaded as RGBA from a BGR* frame around, opaque forces the alpha of
 * the x formats.  The source's sampler type goes between the two parts. */
/* *INDENT-OFF* */
static const gchar frag_head[] =
    "varying vec2 v_texcoord;\n"
    "uniform ";
static const gchar frag_tail[] =
    " tex;\n"
    "uniform float swap_rb;\n"
    "uniform float opaque;\n"
    "void main ()\n"
    "{\n"
    "  vec4 c = texture2D (tex, v_texcoord);\n"
    "  c = mix (c, c.bgra, swap_rb);\n"
    "  c.a = mix (c.a, 1.0, opaque);\n"
    "  gl_FragColor = c;\n"
    "}\n";

/* x, y, z, s, t: upright, then flipped vertically */
static const GLfloat vertices[] = {
  -1.0f, -1.0f, 0.0f, 0.0f, 0.0f,
   1.0f, -1.0f, 0.0f, 1.0f, 0.0f,
   1.0f,  1.0f, 0.0f, 1.0f, 1.0f,
  -1.0f,  1.0f, 0.0f, 0.0f, 1.0f,

  -1.0f, -1.0f, 0.0f, 0.0f, 1.0f,
   1.0f, -1.0f, 0.0f, 1.0f, 1.0f,
   1.0f,  1.0f, 0.0f, 1.0f, 0.0f,
  -1.0f,  1.0f, 0.0f, 0.0f, 0.0f,
};

static const GLushort indices[] = { 0, 1, 2, 0, 2, 3 };
/* *INDENT-ON* */

static GstGLShader *
link_shader (GstGLContext * context, const gchar * header,
    const gchar * sampler, GError ** error)
{
  GstGLSLProfile profile = GST_GLSL_PROFILE_ES | GST_GLSL_PROFILE_COMPATIBILITY;
  GstGLShader *shader;
  gchar *frag;

  frag = g_strconcat (header, gst_gl_shader_string_get_highest_precision
      (context, GST_GLSL_VERSION_NONE, profile), frag_head, sampler,
      frag_tail, NULL);
  shader = gst_gl_shader_new_link_with_stages (context, error,
      gst_glsl_stage_new_default_vertex (context),
      gst_glsl_stage_new_with_string (context, GL_FRAGMENT_SHADER,
          GST_GLSL_VERSION_NONE, profile, frag), NULL);
  g_free (frag);
  return shader;
}

/* An external sampler needs an #extension line; which one the compiler
 * takes depends on the API and the driver (GLES: the OES one; NVIDIA's
 * desktop GL: its stream consumer extension), so try each the context
 * advertises. */
static GstGLShader *
link_external_shader (GstGLContext * context, GError ** error)
{
  static const gchar *const exts[] = { "GL_OES_EGL_image_external",
    "GL_NV_EGL_stream_consumer_external"
  };
  GstGLShader *shader = NULL;
  GError *last = NULL;
  guint i;

  for (i = 0; i < G_N_ELEMENTS (exts) && !shader; i++) {
    gchar *header;

    if (!gst_gl_context_check_feature (context, exts[i]))
      continue;
    header = g_strdup_printf ("#extension %s : require\n", exts[i]);
    g_clear_error (&last);
    shader = link_shader (context, header, "samplerExternalOES", &last);
    g_free (header);
  }
  if (shader)
    return shader;
  if (last)
    g_propagate_error (error, last);
  else
    g_set_error (error, GST_GL_CONTEXT_ERROR, GST_GL_CONTEXT_ERROR_FAILED,
        "the GL context has neither GL_OES_EGL_image_external nor "
        "GL_NV_EGL_stream_consumer_external");
  return NULL;
}

GstGpuBlit *
gst_gpu_blit_new (GstGLContext * context, GstGLTextureTarget source_target,
    GError ** error)
{
  const GstGLFuncs *gl = context->gl_vtable;
  GstGpuBlit *blit;
  GstGLShader *shader;

  if (source_target == GST_GL_TEXTURE_TARGET_EXTERNAL_OES)
    shader = link_external_shader (context, error);
  else
    shader = link_shader (context, "", "sampler2D", error);
  if (!shader)
    return NULL;

  blit = g_new0 (GstGpuBlit, 1);
  blit->context = gst_object_ref (context);
  blit->target = source_target == GST_GL_TEXTURE_TARGET_EXTERNAL_OES ?
      GL_TEXTURE_EXTERNAL_OES : GL_TEXTURE_2D;
  blit->shader = shader;
  blit->fbo = gst_gl_framebuffer_new (context);

  if (gl->GenVertexArrays) {
    gl->GenVertexArrays (1, &blit->vao);
    gl->BindVertexArray (blit->vao);
  }
  gl->GenBuffers (1, &blit->vbo);
  gl->BindBuffer (GL_ARRAY_BUFFER, blit->vbo);
  gl->BufferData (GL_ARRAY_BUFFER, sizeof (vertices), vertices, GL_STATIC_DRAW);
  gl->GenBuffers (1, &blit->ibo);
  gl->BindBuffer (GL_ELEMENT_ARRAY_BUFFER, blit->ibo);
  gl->BufferData (GL_ELEMENT_ARRAY_BUFFER, sizeof (indices), indices,
      GL_STATIC_DRAW);
  if (gl->GenVertexArrays)
    gl->BindVertexArray (0);
  gl->BindBuffer (GL_ARRAY_BUFFER, 0);
  gl->BindBuffer (GL_ELEMENT_ARRAY_BUFFER, 0);
  return blit;
}

void
gst_gpu_blit_free (GstGpuBlit * blit)
{
  const GstGLFuncs *gl;

  if (!blit)
    return;
  gl = blit->context->gl_vtable;
  if (blit->vao)
    gl->DeleteVertexArrays (1, &blit->vao);
  if (blit->vbo)
    gl->DeleteBuffers (1, &blit->vbo);
  if (blit->ibo)
    gl->DeleteBuffers (1, &blit->ibo);
  gst_object_unref (blit->shader);
  gst_object_unref (blit->fbo);
  gst_object_unref (blit->context);
  g_free (blit);
}

void
gst_gpu_blit_set_nearest (const GstGLFuncs * gl, GLenum target)
{
  gl->TexParameteri (target, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
  gl->TexParameteri (target, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
  gl->TexParameteri (target, GL_TEXTURE_WRAP_S, GL_CLAMP_TO_EDGE);
  gl->TexParameteri (target, GL_TEXTURE_WRAP_T, GL_CLAMP_TO_EDGE);
}

typedef struct
{
  GstGpuBlit *blit;
  GLuint tex;
  const GstGpuBlitParams *params;
} Draw;

static gboolean
draw_cb (gpointer data)
{
  Draw *d = data;
  GstGpuBlit *blit = d->blit;
  const GstGLFuncs *gl = blit->context->gl_vtable;
  GstGLShader *shader = blit->shader;
  gint pos, texcoord;
  gsize first = d->params->flip ? 4 * 5 * sizeof (GLfloat) : 0;

  gst_gl_shader_use (shader);
  gl->ActiveTexture (GL_TEXTURE0);
  gl->BindTexture (blit->target, d->tex);
  gst_gl_shader_set_uniform_1i (shader, "tex", 0);
  gst_gl_shader_set_uniform_1f (shader, "swap_rb",
      d->params->swap_rb ? 1.0f : 0.0f);
  gst_gl_shader_set_uniform_1f (shader, "opaque",
      d->params->opaque ? 1.0f : 0.0f);

  if (blit->vao)
    gl->BindVertexArray (blit->vao);
  gl->BindBuffer (GL_ARRAY_BUFFER, blit->vbo);
  gl->BindBuffer (GL_ELEMENT_ARRAY_BUFFER, blit->ibo);
  pos = gst_gl_shader_get_attribute_location (shader, "a_position");
  texcoord = gst_gl_shader_get_attribute_location (shader, "a_texcoord");
  gl->VertexAttribPointer (pos, 3, GL_FLOAT, GL_FALSE, 5 * sizeof (GLfloat),
      (gpointer) first);
  gl->VertexAttribPointer (texcoord, 2, GL_FLOAT, GL_FALSE,
      5 * sizeof (GLfloat), (gpointer) (first + 3 * sizeof (GLfloat)));
  gl->EnableVertexAttribArray (pos);
  gl->EnableVertexAttribArray (texcoord);

  gl->DrawElements (GL_TRIANGLES, 6, GL_UNSIGNED_SHORT, NULL);

  gl->DisableVertexAttribArray (pos);
  gl->DisableVertexAttribArray (texcoord);
  if (blit->vao)
    gl->BindVertexArray (0);
  gl->BindBuffer (GL_ARRAY_BUFFER, 0);
  gl->BindBuffer (GL_ELEMENT_ARRAY_BUFFER, 0);
  gl->BindTexture (blit->target, 0);
  gst_gl_context_clear_shader (blit->context);
  return TRUE;
}

gboolean
gst_gpu_blit_to_buffer (GstGpuBlit * blit, GLuint tex, GstBuffer * outbuf,
    const GstGpuBlitParams * params, gboolean wait_cpu, gchar ** error)
{
  GstMemory *out_mem = gst_buffer_peek_memory (outbuf, 0);
  GstGLSyncMeta *sync_meta;
  GstMapInfo out_map;
  Draw d = { blit, tex, params };
  gboolean drawn;

  if (!gst_is_gl_memory (out_mem)) {
    *error = g_strdup ("the output buffer is not GL memory");
    return FALSE;
  }
  if (!gst_memory_map (out_mem, &out_map, GST_MAP_WRITE | GST_MAP_GL)) {
    *error = g_strdup ("could not map the output texture");
    return FALSE;
  }
  drawn = gst_gl_framebuffer_draw_to_texture (blit->fbo,
      (GstGLMemory *) out_mem, draw_cb, &d);
  gst_memory_unmap (out_mem, &out_map);
  if (!drawn) {
    *error = g_strdup ("could not draw into the output texture "
        "(framebuffer incomplete)");
    return FALSE;
  }

  sync_meta = gst_buffer_get_gl_sync_meta (outbuf);
  if (!sync_meta)
    sync_meta = gst_buffer_add_gl_sync_meta (blit->context, outbuf);
  gst_gl_sync_meta_set_sync_point (sync_meta, blit->context);
  if (wait_cpu)
    gst_gl_sync_meta_wait_cpu (sync_meta, blit->context);
  return TRUE;
}

GstCaps *
gst_gpu_blit_transform_caps (GstCaps * caps, GstPadDirection direction,
    const gchar * sink_feature, gboolean cuda, GstCaps * filter)
{
  GstCaps *result = gst_caps_new_empty ();
  guint i, n = gst_caps_get_size (caps);

  for (i = 0; i < n; i++) {
    GstCapsFeatures *features = gst_caps_get_features (caps, i);
    GstStructure *s;
    const gchar *feature;

    /* only what this side can carry maps to the other side */
    if (features && !gst_caps_features_is_any (features)
        && !gst_caps_features_contains (features, direction == GST_PAD_SINK ?
            sink_feature : GST_CAPS_FEATURE_MEMORY_GL_MEMORY)
        && !(direction == GST_PAD_SRC && cuda
            && gst_caps_features_contains (features, GST_GPU_CUDA_FEATURE)))
      continue;

    s = gst_structure_copy (gst_caps_get_structure (caps, i));

    gst_structure_remove_fields (s, "format", "drm-format", "texture-target",
        "colorimetry", "chroma-site", NULL);
    if (direction == GST_PAD_SINK) {
      feature = GST_CAPS_FEATURE_MEMORY_GL_MEMORY;
      gst_structure_set (s, "format", G_TYPE_STRING, "RGBA",
          "texture-target", G_TYPE_STRING, GST_GL_TEXTURE_TARGET_2D_STR, NULL);
    } else {
      GValue formats = G_VALUE_INIT;
      GValue v = G_VALUE_INIT;
      static const gchar *const names[] = { "BGRx", "BGRA", "RGBx", "RGBA" };
      guint j;

      feature = sink_feature;
      g_value_init (&formats, GST_TYPE_LIST);
      g_value_init (&v, G_TYPE_STRING);
      for (j = 0; j < G_N_ELEMENTS (names); j++) {
        g_value_set_static_string (&v, names[j]);
        gst_value_list_append_value (&formats, &v);
      }
      g_value_unset (&v);
      /* DMA-BUFs in this GStreamer's form (format=DMA_DRM and drm-format
       * on >= 1.24) */
      if (g_str_equal (sink_feature, GST_CAPS_FEATURE_MEMORY_DMABUF))
        gst_spice_dmabuf_structure_set_formats (s, &formats);
      else
        gst_structure_set_value (s, "format", &formats);
      g_value_unset (&formats);
    }
    /* GL first: what the element made before CUDA existed stays the
     * default; CUDA when downstream asks for it */
    if (direction == GST_PAD_SINK && cuda) {
      GstCaps *gl = gst_caps_new_full (gst_structure_copy (s), NULL);

      gst_caps_set_features (gl, 0, gst_caps_features_new (feature, NULL));
      gst_gpu_cuda_append_structures (gl, s);
      gst_structure_free (s);
      result = gst_caps_merge (result, gl);
      continue;
    }
    result = gst_caps_merge_structure_full (result, s,
        gst_caps_features_new (feature, NULL));
  }

  if (filter) {
    GstCaps *tmp = gst_caps_intersect_full (filter, result,
        GST_CAPS_INTERSECT_FIRST);

    gst_caps_unref (result);
    result = tmp;
  }
  return result;
}

gboolean
gst_gpu_blit_decide_pool (GstGLContext * context, GstQuery * query)
{
  GstBufferPool *pool = NULL;
  GstStructure *config;
  GstCaps *caps;
  guint min, max, size;
  gboolean update_pool;
  GstVideoInfo vinfo;

  gst_query_parse_allocation (query, &caps, NULL);
  if (!caps || !gst_video_info_from_caps (&vinfo, caps))
    return FALSE;

  if (gst_query_get_n_allocation_pools (query) > 0) {
    gst_query_parse_nth_allocation_pool (query, 0, &pool, &size, &min, &max);
    update_pool = TRUE;
  } else {
    size = vinfo.size;
    min = max = 0;
    update_pool = FALSE;
  }
  if (!pool || !GST_IS_GL_BUFFER_POOL (pool)) {
    gst_clear_object (&pool);
    pool = gst_gl_buffer_pool_new (context);
  }

  config = gst_buffer_pool_get_config (pool);
  gst_buffer_pool_config_set_params (config, caps, size, min, max);
  gst_buffer_pool_config_add_option (config, GST_BUFFER_POOL_OPTION_VIDEO_META);
  gst_buffer_pool_config_add_option (config,
      GST_BUFFER_POOL_OPTION_GL_SYNC_META);
  if (!gst_buffer_pool_set_config (pool, config))
    GST_WARNING_OBJECT (pool, "pool refused the configuration");

  if (update_pool)
    gst_query_set_nth_allocation_pool (query, 0, pool, size, min, max);
  else
    gst_query_add_allocation_pool (query, pool, size, min, max);
  gst_object_unref (pool);
  return TRUE;
}
