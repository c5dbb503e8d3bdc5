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

#include <EGL/egl.h>
#include <gst/gl/egl/gstgldisplay_egl.h>
#include <gst/gl/egl/gstgldisplay_egl_device.h>

#include "gstgpudisplay.h"
#include "gstgpucuda.h"
#include "gstgpublit.h"

GST_DEBUG_CATEGORY_STATIC (gst_gpu_display_debug);
#define GST_CAT_DEFAULT gst_gpu_display_debug

static void
init_debug (void)
{
  static gsize once = 0;

  if (g_once_init_enter (&once)) {
    GST_DEBUG_CATEGORY_INIT (gst_gpu_display_debug, "spicegpudisplay", 0,
        "GL display choice of the spicegpu elements");
    /* gst_gl_display_egl_device_new () of 1.22 logs with the "gldisplay"
     * category, which exists once GstGLDisplay's type does: with a bad
     * device index it logs before making any display (a GLib critical when
     * GST_DEBUG is set) */
    g_type_ensure (GST_TYPE_GL_DISPLAY);
    g_once_init_leave (&once, 1);
  }
}

void
gst_gpu_display_init (GstGpuDisplay * d)
{
  init_debug ();
  g_rec_mutex_init (&d->lock);
  d->in_lookup = FALSE;
  d->own_display = FALSE;
  d->own_device = 0;
}

void
gst_gpu_display_clear (GstGpuDisplay * d)
{
  g_rec_mutex_clear (&d->lock);
}

/* Any of these means the user chose a window system for GstGL. */
static gboolean
environment_chooses_display (void)
{
  static const gchar *const vars[] = { "GST_GL_WINDOW", "GST_GL_PLATFORM",
    "DISPLAY", "WAYLAND_DISPLAY"
  };
  guint i;

  for (i = 0; i < G_N_ELEMENTS (vars); i++)
    if (g_getenv (vars[i]))
      return TRUE;
  return FALSE;
}

static void
query_peer_for_display (GstGLBaseFilter * filter, GstPad * pad)
{
  GstQuery *query = gst_query_new_context (GST_GL_DISPLAY_CONTEXT_TYPE);

  if (gst_pad_peer_query (pad, query)) {
    GstContext *context = NULL;

    gst_query_parse_context (query, &context);
    if (context) {
      GST_DEBUG_OBJECT (filter, "display from the peer of %" GST_PTR_FORMAT,
          pad);
      gst_element_set_context (GST_ELEMENT (filter), context);
    }
  }
  gst_query_unref (query);
}

/* With d->lock held.  Looks for a display the way
 * gst_gl_ensure_element_data() does (peers, then the application), but
 * where that would create a window-system display (X11 first, which fails
 * on a server), opens EGL device @device.  @asker: the pad a neighbour's
 * query came in on (not asked back), or NULL. */
static gboolean
ensure_display_unlocked (GstGpuDisplay * d, GstGLBaseFilter * filter,
    GstPad * asker, guint device)
{
  GstBaseTransform *trans = GST_BASE_TRANSFORM (filter);
  GstGLDisplayEGLDevice *display;

  if (filter->display || d->in_lookup || environment_chooses_display ())
    return TRUE;

  d->in_lookup = TRUE;
  if (asker != trans->srcpad)
    query_peer_for_display (filter, trans->srcpad);
  if (!filter->display && asker != trans->sinkpad)
    query_peer_for_display (filter, trans->sinkpad);
  if (!filter->display)
    gst_element_post_message (GST_ELEMENT (filter),
        gst_message_new_need_context (GST_OBJECT (filter),
            GST_GL_DISPLAY_CONTEXT_TYPE));
  d->in_lookup = FALSE;
  if (filter->display)
    return TRUE;

  display = gst_gl_display_egl_device_new (device);
  if (!display)
    return FALSE;

  GST_INFO_OBJECT (filter, "no GL display offered and no window system "
      "chosen: using EGL device %u", device);
  d->own_display = TRUE;
  d->own_device = device;
  gst_gl_element_propagate_display_context (GST_ELEMENT (filter),
      GST_GL_DISPLAY (display));
  gst_object_unref (display);
  return TRUE;
}

gboolean
gst_gpu_display_open (GstGpuDisplay * d, GstGLBaseFilter * filter, guint device)
{
  gboolean ok;

  g_rec_mutex_lock (&d->lock);
  ok = ensure_display_unlocked (d, filter, NULL, device);
  g_rec_mutex_unlock (&d->lock);
  if (!ok)
    goto no_device;
  return TRUE;

  /* ERRORS */
no_device:
  {
    GST_ELEMENT_ERROR (filter, RESOURCE, NOT_FOUND,
        ("Could not open EGL device %u", device),
        ("gst_gl_display_egl_device_new (%u) failed: no such EGL device, or "
            "EGL_EXT_device_enumeration is missing; no GL display was "
            "offered by the application or neighbouring elements", device));
    return FALSE;
  }
}

/* Whether the EGL display behind @display offers desktop OpenGL */
static gboolean
egl_has_desktop_gl (GstGLDisplay * display)
{
  GstGLDisplayEGL *egl = gst_gl_display_egl_from_gl_display (display);
  gboolean has = FALSE;
  const gchar *apis;
  gchar **names;
  EGLDisplay dpy;

  if (!egl)
    return FALSE;
  dpy = (EGLDisplay) gst_gl_display_get_handle (GST_GL_DISPLAY (egl));
  /* (GstGL initialises it too, later: a second call is a no-op) */
  if (dpy != EGL_NO_DISPLAY && eglInitialize (dpy, NULL, NULL)
      && (apis = eglQueryString (dpy, EGL_CLIENT_APIS))) {
    names = g_strsplit (apis, " ", -1);
    has = g_strv_contains ((const gchar * const *) names, "OpenGL");
    g_strfreev (names);
  }
  gst_object_unref (egl);
  return has;
}

void
gst_gpu_display_prefer_desktop_gl (GstGLBaseFilter * filter)
{
  GstGLDisplay *display = filter->display;
  GstGLContext *context;
  GstGLAPI api;

  /* (GST_GL_API is the user's choice: theirs stands) */
  if (!display || g_getenv ("GST_GL_API")
      || !(gst_gl_display_get_handle_type (display) &
          (GST_GL_DISPLAY_TYPE_EGL | GST_GL_DISPLAY_TYPE_EGL_DEVICE)))
    return;
  GST_OBJECT_LOCK (display);
  context = gst_gl_display_get_gl_context_for_thread (display, NULL);
  GST_OBJECT_UNLOCK (display);
  api = gst_gl_display_get_gl_api (display);
  if (context || !(api & GST_GL_API_GLES2)
      || !(api & (GST_GL_API_OPENGL | GST_GL_API_OPENGL3))) {
    /* a context exists (its API stands), or the choice was made */
    gst_clear_object (&context);
    return;
  }
  if (!egl_has_desktop_gl (display))
    return;
  GST_INFO_OBJECT (filter, "EGL display %" GST_PTR_FORMAT " offers desktop "
      "OpenGL: contexts on it are desktop GL", display);
  gst_gl_display_filter_gl_api (display,
      GST_GL_API_OPENGL | GST_GL_API_OPENGL3);
}

void
gst_gpu_display_reset (GstGpuDisplay * d)
{
  g_rec_mutex_lock (&d->lock);
  d->own_display = FALSE;
  g_rec_mutex_unlock (&d->lock);
}

void
gst_gpu_display_handle_query (GstGpuDisplay * d, GstGLBaseFilter * filter,
    GstPadDirection direction, GstQuery * query, guint device)
{
  GstBaseTransform *trans = GST_BASE_TRANSFORM (filter);
  const gchar *type;

  if (GST_QUERY_TYPE (query) != GST_QUERY_CONTEXT
      || !gst_query_parse_context_type (query, &type)
      || g_strcmp0 (type, GST_GL_DISPLAY_CONTEXT_TYPE) != 0)
    return;

  g_rec_mutex_lock (&d->lock);
  if (!ensure_display_unlocked (d, filter, direction == GST_PAD_SRC ?
          trans->srcpad : trans->sinkpad, device))
    GST_WARNING_OBJECT (filter, "could not open EGL device %u", device);
  g_rec_mutex_unlock (&d->lock);
}

gchar *
gst_gpu_display_describe (GstGpuDisplay * d, GstGLBaseFilter * filter)
{
  gchar *where;

  g_rec_mutex_lock (&d->lock);
  if (d->own_display)
    where = g_strdup_printf ("EGL device %u", d->own_device);
  else if (filter->display)
    where = g_strdup_printf ("GL display %s (%s, shared)",
        GST_OBJECT_NAME (filter->display),
        G_OBJECT_TYPE_NAME (filter->display));
  else
    where = g_strdup ("no GL display");
  g_rec_mutex_unlock (&d->lock);
  return where;
}

GParamSpec *
gst_gpu_display_device_param (void)
{
  return g_param_spec_uint ("device", "EGL device",
      "EGL device index to open when no GL display is shared with the "
      "element and none of GST_GL_WINDOW, GST_GL_PLATFORM, DISPLAY, "
      "WAYLAND_DISPLAY is set (ignored when a display is shared)",
      0, G_MAXINT, GST_GPU_DISPLAY_DEFAULT_DEVICE,
      G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
}

gboolean
gst_gpu_filter_query (GstBaseTransform * trans, GstPadDirection direction,
    GstQuery * query, GstGpuDisplay * d, GstObject * cuda_ctx, guint device,
    GstGpuParentQuery parent_query)
{
  gboolean ret;

  if (gst_gpu_cuda_handle_query (GST_ELEMENT (trans), query, cuda_ctx))
    return TRUE;
  gst_gpu_display_handle_query (d, GST_GL_BASE_FILTER (trans), direction,
      query, device);
  ret = parent_query (trans, direction, query);
  /* a caps event is refused here already, before sink_event sees it */
  if (ret && direction == GST_PAD_SINK
      && GST_QUERY_TYPE (query) == GST_QUERY_ACCEPT_CAPS) {
    gboolean accepted = FALSE;

    gst_query_parse_accept_caps_result (query, &accepted);
    if (!accepted)
      gst_gpu_cuda_explain_refusal (trans);
  }
  return ret;
}

gboolean
gst_gpu_filter_decide_context (GstBaseTransform * trans, GstQuery * query,
    GstGpuParentDecide parent_decide, gboolean cuda_out, GstObject ** cuda_ctx,
    gchar ** gl_cuda_error, gchar ** renderer)
{
  gchar *error = NULL;

  if (cuda_out && !gst_gpu_cuda_ensure_context (GST_ELEMENT (trans),
          cuda_ctx, &error))
    goto no_cuda;
  if (!parent_decide (trans, query)) {
    if (*gl_cuda_error)
      goto cuda_out_failed;
    return FALSE;
  }
  return TRUE;

  /* ERRORS */
no_cuda:
  {
    GST_ELEMENT_ERROR (trans, RESOURCE, SETTINGS,
        ("Cannot output CUDA memory: %s", error), (NULL));
    g_free (error);
    return FALSE;
  }
cuda_out_failed:
  {
    GST_ELEMENT_ERROR (trans, RESOURCE, SETTINGS,
        ("Cannot output CUDA memory from this GL context: %s",
            *gl_cuda_error), ("GL renderer %s", GST_STR_NULL (*renderer)));
    return FALSE;
  }
}

gboolean
gst_gpu_filter_decide_pool (GstBaseTransform * trans, GstQuery * query,
    gboolean cuda_out, GstObject * cuda_ctx)
{
  if (cuda_out)
    return gst_gpu_cuda_decide_pool (cuda_ctx, query);
  return gst_gpu_blit_decide_pool (GST_GL_BASE_FILTER (trans)->context, query);
}
