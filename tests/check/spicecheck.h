/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
#ifndef __SPICECHECK_H__
#define __SPICECHECK_H__

#include <gst/check/gstcheck.h>
#include <gst/app/gstappsink.h>

#include "testserver.h"

G_BEGIN_DECLS

#define PULL_TIMEOUT (5 * GST_SECOND)

/* the test server with `transport` and NULL-terminated extra options */
TestServer *start_server (TestServerTransport transport, const gchar * first,
    ...) G_GNUC_NULL_TERMINATED;

/* Checked teardown of every suite: stops the pipelines launch() made that
 * a failed test left running (without fork the process would otherwise
 * hang in gst_task_cleanup_all, e.g. under valgrind) */
void spicecheck_teardown (void);
/* gst_parse_launch of a printf-style description; fails the test on error */
GstElement *launch (const gchar * fmt, ...) G_GNUC_PRINTF (1, 2);
GstElement *launch_valist (const gchar * fmt, va_list ap);
/* the element named `name`, a new reference */
GstElement *get (GstElement * pipeline, const gchar * name);
/* launch() + the appsink named "sink" + PLAYING */
GstElement *play (GstElement ** sink, const gchar * fmt, ...)
    G_GNUC_PRINTF (2, 3);
/* NULL state (must succeed at once), unrefs both */
void stop_pipeline (GstElement * p, GstElement * sink);
/* a sample within PULL_TIMEOUT, or the test fails (naming any error) */
GstSample *pull (GstElement * pipeline, GstElement * sink);
/* an error message within `timeout`, or the test fails; caller unrefs */
GstMessage *wait_error (GstElement * pipeline, GstClockTime timeout);
/* checks domain, code and a piece of the message; unrefs `m` */
void assert_error (GstMessage * m, GQuark domain, gint code,
    const gchar * needle);

/* TRUE when an element message named `name` comes within `timeout`
 * (others are dropped); fails the test on an error message */
gboolean pop_element_message (GstElement * p, const gchar * name,
    GstClockTime timeout);

/* "spice://127.0.0.1:PORT" of a listener that never answers */
gchar *start_silent_listener (int *fd);
/* Once the last SPICE session of the process is released the plugin's
 * "spice" thread closes it and exits, after the state change returned:
 * waits (5 s at most) for that; FALSE if the thread is still there. */
gboolean wait_spice_thread_gone (void);

G_END_DECLS

#endif /* __SPICECHECK_H__ */
