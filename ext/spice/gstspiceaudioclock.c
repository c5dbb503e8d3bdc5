/* GStreamer SPICE plugins
 * Copyright (C) 2026 gst-spice developers
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Library General Public
 * License as published by the Free Software Foundation; either
 * version 2 of the License, or (at your option) any later version.
 */
/* How spiceaudiosrc follows the guest's audio clock (docs/design.md,
 * "Audio: jitter and drift").
 *
 * Lateness: for each packet, its arrival minus the running time its first
 * frame gets on the element's timeline.  A guest on a loaded host (QEMU's
 * audio timer firing late, then catching up) or a busy network delay
 * packets, never advance them, so the lateness's lower envelope is what
 * the guest's clock does and the rest is jitter.  The envelope falls at
 * once with a packet below it and rises at most ENVELOPE_RISE (faster
 * than any drift we correct), so it needs no window.
 *
 * Drift: while the envelope stays put the sound passes through untouched
 * (bit-exact; most guests' clocks follow the host's).  Once it wanders
 * further than the jitter explains, a resampler (GstAudioResampler,
 * variable rate, Kaiser windowed sinc) takes over for the rest of the
 * session, at a ratio a PI loop (a DLL) sets from the envelope's error:
 * the integral is the guest clock's rate error, the proportional part
 * pulls the envelope back to its level.  The switch is seamless: the
 * resampler starts at ratio 1 primed with the frames just passed through,
 * and its ratio only moves once those have come out.
 *
 * What the loop cannot absorb (a guest further off than MAX_CORRECTION, a
 * clock jump) the caller resyncs as before: the last resort. */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <gst/audio/audio.h>

#include "gstspiceaudioclock.h"

GST_DEBUG_CATEGORY_STATIC (gst_spice_audio_clock_debug);
#define GST_CAT_DEFAULT gst_spice_audio_clock_debug

/* seconds per second: how fast the envelope may rise between packets
 * that touch it; above MAX_CORRECTION so a slow guest's rising lateness is
 * followed, small enough that jitter between two bursts moves it little */
#define ENVELOPE_RISE 0.06
/* the first second after an anchor measures where the envelope sits and
 * how much it wobbles */
#define SETTLE_S 1.0
#define SETTLE_MIN_PACKETS 10
/* while settling, only a clear error engages the correction: the anchor
 * itself may be off by a packet's time */
#define ENGAGE_SETTLING_S 0.012
/* ...or a steady slope (a drift, not the anchor) with this error; after
 * settling: the error that engages it, at least, and in units of the
 * envelope's wobble */
#define ENGAGE_MIN_S 0.004
#define ENGAGE_SIGMAS 4.0
#define SLOPE_MIN 0.003
#define SLOPE_SIGMAS 6.0
/* ...measured over this long at least: a few bursts say nothing */
#define SLOPE_MIN_SPAN_S 0.4
/* an error must last this long to engage: a stall of our own process
 * delays even the newest packet of a burst, for a moment */
#define ENGAGE_PERSIST_S 0.15
/* the loop sees the error through a low-pass of this time constant:
 * jitter moves the envelope by a few ms between bursts */
#define ERROR_TAU_S 0.3
/* the envelope's level is kept where it settled, within this much of the
 * timeline (an anchor taken on a late packet is pulled back) */
#define LEVEL_MAX_S 0.015
/* PI loop: natural frequency ~0.7 rad/s, damping ~1; the proportional
 * part never moves the pitch more than P_MAX off the estimated drift
 * (0.3%: a 440 Hz period stays within a third of a sample), and the
 * integral holds while that brings the error back (no wind-up) */
#define LOOP_KP 1.4
#define LOOP_KI 0.5
#define P_MAX 0.003
/* the largest rate error corrected (5%: no real clock is that far off) */
#define MAX_CORRECTION 0.05
/* slope of the envelope at engagement: samples every ~50 ms, 1 s */
#define RING_SIZE 20
#define RING_STEP_S 0.05
/* resampler rates are the stream's rate times this: ratio steps of
 * ~0.2 ppm at 48000 Hz */
#define RATE_SCALE 100
#define RESAMPLER_QUALITY GST_AUDIO_RESAMPLER_QUALITY_DEFAULT
/* history kept while passing through, to prime the resampler */
#define HISTORY_MAX_FRAMES 256

struct _GstSpiceAudioClock
{
  GstObject *owner;             /* for the logs, not reffed */
  gboolean correct;             /* resample at all (drift-correction) */
  guint rate, channels, bpf;

  /* the guest clock: persists across anchors */
  gdouble drift;                /* estimated rate error, the loop's
                                 * integral (0.01: 1% fast) */
  gboolean engaged;             /* resampling, for the rest of the session */

  /* the segment since the last anchor */
  GstClockTime t_anchor;
  gboolean have_env, settled;
  gdouble env, t_last, level, engage_at;
  gdouble error;                /* low-passed */
  gdouble error_last;           /* at the previous packet */
  gdouble over_since;           /* t the error went beyond, < 0: not */
  gdouble n, st, se, stt, ste, see;     /* least squares while settling */
  gdouble ring_t[RING_SIZE], ring_e[RING_SIZE];
  guint ring_len, ring_pos;
  gdouble ring_next;

  /* resampling */
  GstAudioResampler *resampler;
  gint in_rate;                 /* scaled, RATE_SCALE */
  gdouble ratio;                /* in frames per out frame, as set */
  gdouble want_ratio;           /* applied once priming is out */
  guint64 fed;                  /* input frames given, priming included */
  gdouble pos;                  /* input position of the next output */
  guint64 discard;              /* priming outputs still to drop */
  guint8 history[HISTORY_MAX_FRAMES * 16];
  guint history_frames;
};

GstSpiceAudioClock *
gst_spice_audio_clock_new (GstObject * owner, gboolean correct)
{
  static gsize once = 0;
  GstSpiceAudioClock *clock;

  if (g_once_init_enter (&once)) {
    GST_DEBUG_CATEGORY_INIT (gst_spice_audio_clock_debug, "spiceaudioclock",
        0, "spiceaudiosrc: following the guest's audio clock");
    g_once_init_leave (&once, 1);
  }
  clock = g_new0 (GstSpiceAudioClock, 1);
  clock->owner = owner;
  clock->correct = correct;
  clock->ratio = clock->want_ratio = 1.0;
  return clock;
}

static void
drop_resampler (GstSpiceAudioClock * clock)
{
  g_clear_pointer (&clock->resampler, gst_audio_resampler_free);
  clock->fed = 0;
  clock->pos = 0;
  clock->discard = 0;
}

void
gst_spice_audio_clock_free (GstSpiceAudioClock * clock)
{
  drop_resampler (clock);
  g_free (clock);
}

static gint
out_rate (GstSpiceAudioClock * clock)
{
  return clock->rate * RATE_SCALE;
}

/* GstAudioResampler (1.22) at exactly 1:1 aligns its output 31 frames
 * (half its taps) from where it does at any other ratio, so a change into
 * or out of 1:1 would jump: the rates never meet (0.2 ppm off instead). */
static gint
scaled_in_rate (GstSpiceAudioClock * clock, gdouble ratio)
{
  gint in_rate = (gint) lround (ratio * out_rate (clock));

  return in_rate == out_rate (clock) ? in_rate + 1 : in_rate;
}

static void
apply_ratio (GstSpiceAudioClock * clock, gdouble ratio)
{
  gint in_rate = scaled_in_rate (clock, ratio);

  if (in_rate == clock->in_rate)
    return;
  if (!gst_audio_resampler_update (clock->resampler, in_rate,
          out_rate (clock), NULL)) {
    GST_WARNING_OBJECT (clock->owner, "the resampler refused ratio %.6f",
        ratio);
    return;
  }
  clock->in_rate = in_rate;
  clock->ratio = (gdouble) in_rate / out_rate (clock);
}

/* A resampler at ratio 1 whose first output is the first frame not passed
 * through yet: it is primed with the last frames that were. */
static gboolean
make_resampler (GstSpiceAudioClock * clock)
{
  GstStructure *options;
  gsize prime, got = 0;
  gpointer in[1], out[1];
  guint8 *scratch;

  options = gst_structure_new_empty ("GstAudioResampler.options");
  gst_audio_resampler_options_set_quality (GST_AUDIO_RESAMPLER_METHOD_KAISER,
      RESAMPLER_QUALITY, out_rate (clock), out_rate (clock), options);
  /* interpolated taps: the rates change all the time and are large (a
   * full table would hold out_rate phases); an exact phase divider, so a
   * ratio change never moves the phase */
  gst_structure_set (options,
      GST_AUDIO_RESAMPLER_OPT_FILTER_MODE, GST_TYPE_AUDIO_RESAMPLER_FILTER_MODE,
      GST_AUDIO_RESAMPLER_FILTER_MODE_INTERPOLATED,
      GST_AUDIO_RESAMPLER_OPT_MAX_PHASE_ERROR, G_TYPE_DOUBLE, 0.0, NULL);
  clock->resampler = gst_audio_resampler_new (GST_AUDIO_RESAMPLER_METHOD_KAISER,
      GST_AUDIO_RESAMPLER_FLAG_VARIABLE_RATE, GST_AUDIO_FORMAT_S16,
      clock->channels, scaled_in_rate (clock, 1.0), out_rate (clock), options);
  gst_structure_free (options);
  if (!clock->resampler) {
    GST_WARNING_OBJECT (clock->owner, "no resampler: drift goes uncorrected");
    return FALSE;
  }
  clock->in_rate = scaled_in_rate (clock, 1.0);
  clock->ratio = (gdouble) clock->in_rate / out_rate (clock);
  /* output j is input frame j (the library's zeros go before frame 0) */
  clock->fed = 0;
  clock->pos = 0;

  prime = MIN (gst_audio_resampler_get_max_latency (clock->resampler),
      clock->history_frames);
  if (prime > 0) {
    in[0] = clock->history + (clock->history_frames - prime) * clock->bpf;
    got = gst_audio_resampler_get_out_frames (clock->resampler, prime);
    scratch = g_malloc (MAX (got, 1) * clock->bpf);
    out[0] = scratch;
    gst_audio_resampler_resample (clock->resampler, in, prime, out, got);
    g_free (scratch);
    clock->fed = prime;
    clock->pos += got;
  }
  clock->discard = prime - got;
  return TRUE;
}

void
gst_spice_audio_clock_set_format (GstSpiceAudioClock * clock, guint rate,
    guint channels)
{
  if (clock->rate == rate && clock->channels == channels)
    return;
  drop_resampler (clock);
  clock->rate = rate;
  clock->channels = channels;
  clock->bpf = channels * 2;
  clock->history_frames = 0;
  clock->ratio = clock->want_ratio = 1.0;
  if (clock->engaged && !make_resampler (clock))
    clock->engaged = FALSE;
}

static void
reset_segment (GstSpiceAudioClock * clock, GstClockTime t_anchor)
{
  clock->t_anchor = t_anchor;
  /* the anchor is the earliest time the packets queued at it allow: the
   * envelope's level there by construction */
  clock->have_env = TRUE;
  clock->env = 0;
  clock->t_last = 0;
  clock->error = 0;
  clock->error_last = 0;
  clock->over_since = -1;
  clock->settled = FALSE;
  clock->n = clock->st = clock->se = clock->stt = clock->ste = clock->see = 0;
  clock->ring_len = clock->ring_pos = 0;
  clock->ring_next = 0;
  clock->level = 0;
}

/* A new timeline starts at running time @arrival (playback start, sound
 * after a gap): the drift estimate stays, the envelope starts afresh, and
 * a resampler restarts empty (what came before was drained or dropped). */
void
gst_spice_audio_clock_anchor (GstSpiceAudioClock * clock, GstClockTime arrival)
{
  reset_segment (clock, arrival);
  clock->history_frames = 0;
  if (clock->resampler) {
    gst_audio_resampler_reset (clock->resampler);
    clock->fed = 0;
    clock->pos = 0;
    clock->discard = 0;
    apply_ratio (clock, clock->want_ratio);
  }
}

/* How far behind the timeline's next output the next input frame sits:
 * the frames inside the resampler. */
GstClockTime
gst_spice_audio_clock_pending (GstSpiceAudioClock * clock)
{
  gdouble frames;

  if (!clock->resampler || clock->rate == 0)
    return 0;
  frames = (gdouble) clock->fed - clock->pos - clock->discard;
  if (frames <= 0)
    return 0;
  return (GstClockTime) (frames / clock->ratio / clock->rate * GST_SECOND);
}

static gint
cmp_double (gconstpointer a, gconstpointer b)
{
  gdouble x = *(const gdouble *) a, y = *(const gdouble *) b;
  return x < y ? -1 : x > y;
}

/* Slope of the envelope over the last second (s/s), 0 without enough:
 * the median of the slopes between its samples 0.1 s or more apart
 * (Theil-Sen), which a few odd samples (the start's burst, a stall) do not
 * move. */
static gdouble
ring_slope (GstSpiceAudioClock * clock)
{
  gdouble slopes[RING_SIZE * (RING_SIZE - 1) / 2];
  guint i, j, n = 0;

  for (i = 0; i < clock->ring_len; i++)
    for (j = 0; j < clock->ring_len; j++)
      if (clock->ring_t[j] - clock->ring_t[i] >= 0.1)
        slopes[n++] = (clock->ring_e[j] - clock->ring_e[i]) /
            (clock->ring_t[j] - clock->ring_t[i]);
  if (n < 3)
    return 0;
  qsort (slopes, n, sizeof (gdouble), cmp_double);
  return slopes[n / 2];
}

static void
engage (GstSpiceAudioClock * clock, gdouble error)
{
  gdouble slope = ring_slope (clock);

  /* passing through, the envelope moves at minus the guest's rate error */
  clock->drift = CLAMP (-slope, -MAX_CORRECTION, MAX_CORRECTION);
  GST_INFO_OBJECT (clock->owner, "sound is %.1f ms %s its timeline, moving "
      "%.2f ms/s: the guest's clock runs %+.0f ppm off; resampling from now "
      "on", fabs (error) * 1000, error > 0 ? "behind" : "ahead of",
      slope * 1000, clock->drift * 1e6);
  if (!make_resampler (clock))
    return;
  clock->engaged = TRUE;
  clock->want_ratio = 1.0 + clock->drift;
  if (clock->discard == 0)
    apply_ratio (clock, clock->want_ratio);
}

GstSpiceAudioClockVerdict
gst_spice_audio_clock_observe (GstSpiceAudioClock * clock,
    GstClockTime arrival, GstClockTimeDiff late,
    GstClockTimeDiff resync_threshold, GstClockTimeDiff * excess)
{
  gdouble t = GST_CLOCK_DIFF (clock->t_anchor, arrival) / (gdouble) GST_SECOND;
  gdouble l = late / (gdouble) GST_SECOND;
  gdouble dt, e;
  gboolean over;

  dt = clock->have_env ? MAX (t - clock->t_last, 0) : 0;
  if (!clock->have_env)
    clock->env = l;
  else
    clock->env = MIN (l, clock->env + ENVELOPE_RISE * dt);
  clock->have_env = TRUE;
  clock->t_last = t;

  if (t >= clock->ring_next) {
    clock->ring_t[clock->ring_pos] = t;
    clock->ring_e[clock->ring_pos] = clock->env;
    clock->ring_pos = (clock->ring_pos + 1) % RING_SIZE;
    clock->ring_len = MIN (clock->ring_len + 1, RING_SIZE);
    clock->ring_next = t + RING_STEP_S;
    GST_LOG_OBJECT (clock->owner, "t %.3f s: lateness %.2f ms, envelope "
        "%.2f ms", t, l * 1000, clock->env * 1000);
  }

  if (!clock->settled) {
    clock->n++;
    clock->st += t;
    clock->se += clock->env;
    clock->stt += t * t;
    clock->ste += t * clock->env;
    clock->see += clock->env * clock->env;
    if (t >= SETTLE_S && clock->n >= SETTLE_MIN_PACKETS) {
      gdouble d = clock->n * clock->stt - clock->st * clock->st;
      gdouble b = d > 1e-9 ? (clock->n * clock->ste - clock->st * clock->se)
          / d : 0;
      gdouble a = (clock->se - b * clock->st) / clock->n;
      gdouble var = (clock->see - a * clock->se - b * clock->ste) / clock->n;
      gdouble sigma = sqrt (MAX (var, 0));

      /* engaged already (a drift from the start): the anchor's level */
      clock->level = clock->engaged ? 0 : CLAMP (a, -LEVEL_MAX_S, LEVEL_MAX_S);
      clock->engage_at = MAX (ENGAGE_MIN_S, ENGAGE_SIGMAS * sigma);
      clock->settled = TRUE;
      GST_DEBUG_OBJECT (clock->owner, "settled: lateness floor %.2f ms "
          "(kept at %.2f), moving %.3f ms/s, wobble %.2f ms: the "
          "correction engages beyond %.1f ms", a * 1000, clock->level * 1000,
          b * 1000, sigma * 1000, clock->engage_at * 1000);
    }
  }

  e = clock->env - clock->level;
  clock->error += (e - clock->error) * MIN (dt / ERROR_TAU_S, 1.0);
  if (clock->settled) {
    over = fabs (e) > clock->engage_at;
  } else {
    over = fabs (e) > ENGAGE_SETTLING_S;
    if (!over && fabs (e) > ENGAGE_MIN_S && t >= SLOPE_MIN_SPAN_S &&
        clock->n >= 2 * SETTLE_MIN_PACKETS) {
      /* a clear slope already: a drift (not where the anchor fell) */
      gdouble stt = clock->stt - clock->st * clock->st / clock->n;
      gdouble b = stt > 1e-9 ? (clock->ste - clock->st * clock->se /
          clock->n) / stt : 0;
      gdouble a = (clock->se - b * clock->st) / clock->n;
      gdouble var = (clock->see - a * clock->se - b * clock->ste) / clock->n;
      gdouble se_b = stt > 1e-9 ? sqrt (MAX (var, 0) / stt) : G_MAXDOUBLE;

      over = fabs (b) > SLOPE_MIN && fabs (b) > SLOPE_SIGMAS * se_b &&
          b * e > 0;
    }
  }
  if (!over)
    clock->over_since = -1;
  else if (clock->over_since < 0)
    clock->over_since = t;
  if (clock->correct && !clock->engaged && over &&
      t - clock->over_since >= ENGAGE_PERSIST_S)
    engage (clock, e);

  if (clock->engaged) {
    gboolean growing;
    gdouble c;

    /* the integral holds while the saturated proportional part brings the
     * error back, and keeps going while the error still grows (a wrong
     * estimate at engagement) */
    growing = fabs (clock->error) > fabs (clock->error_last);
    clock->error_last = clock->error;
    e = clock->error;
    if (fabs (LOOP_KP * e) < P_MAX || growing) {
      clock->drift -= LOOP_KI * e * dt;
      clock->drift = CLAMP (clock->drift, -MAX_CORRECTION, MAX_CORRECTION);
    }
    c = CLAMP (clock->drift + CLAMP (-LOOP_KP * e, -P_MAX, P_MAX),
        -MAX_CORRECTION, MAX_CORRECTION);
    clock->want_ratio = 1.0 + c;
    if (clock->resampler && clock->discard == 0)
      apply_ratio (clock, clock->want_ratio);
    GST_LOG_OBJECT (clock->owner, "envelope %.2f ms (error %.2f), ratio "
        "%.6f", clock->env * 1000, e * 1000, clock->ratio);
  }

  if (e * GST_SECOND > resync_threshold || -e * GST_SECOND > resync_threshold) {
    *excess = (GstClockTimeDiff) (e * GST_SECOND);
    /* so far off so fast: a drift, even if the error did not last */
    if (clock->correct && !clock->engaged && t >= ENGAGE_PERSIST_S)
      engage (clock, e);
    /* the caller moves the timeline by the excess: measure afresh */
    reset_segment (clock, arrival);
    return e > 0 ? GST_SPICE_AUDIO_CLOCK_RESYNC_LATE :
        GST_SPICE_AUDIO_CLOCK_RESYNC_EARLY;
  }
  return GST_SPICE_AUDIO_CLOCK_OK;
}

static void
keep_history (GstSpiceAudioClock * clock, const guint8 * data, guint frames)
{
  guint max = MIN (HISTORY_MAX_FRAMES, sizeof (clock->history) / clock->bpf);
  guint keep = MIN (frames, max);
  guint old = MIN (clock->history_frames, max - keep);

  memmove (clock->history, clock->history + (clock->history_frames - old) *
      clock->bpf, old * clock->bpf);
  memcpy (clock->history + old * clock->bpf, data + (frames - keep) *
      clock->bpf, keep * clock->bpf);
  clock->history_frames = old + keep;
}

static GstBuffer *
resample (GstSpiceAudioClock * clock, const guint8 * data, guint frames)
{
  GstBuffer *out;
  GstMapInfo map;
  gpointer in[1], outp[1];
  gsize n;

  n = gst_audio_resampler_get_out_frames (clock->resampler, frames);
  out = gst_buffer_new_allocate (NULL, MAX (n, 1) * clock->bpf, NULL);
  gst_buffer_map (out, &map, GST_MAP_WRITE);
  in[0] = (gpointer) data;
  outp[0] = map.data;
  gst_audio_resampler_resample (clock->resampler, data ? in : NULL, frames,
      outp, n);
  gst_buffer_unmap (out, &map);
  clock->fed += data ? frames : 0;
  clock->pos += n * clock->ratio;

  if (clock->discard > 0) {
    guint64 drop = MIN (clock->discard, n);

    clock->discard -= drop;
    n -= drop;
    if (n > 0)
      gst_buffer_resize (out, drop * clock->bpf, n * clock->bpf);
    if (clock->discard == 0)
      apply_ratio (clock, clock->want_ratio);
  }
  if (n == 0) {
    gst_buffer_unref (out);
    return NULL;
  }
  gst_buffer_set_size (out, n * clock->bpf);
  return out;
}

/* The sound to push for the input @in (taken): @in itself while passing
 * through, else what the resampler gives for it (NULL: nothing yet). */
GstBuffer *
gst_spice_audio_clock_process (GstSpiceAudioClock * clock, GstBuffer * in)
{
  GstMapInfo map;
  GstBuffer *out;
  guint frames;

  if (!clock->resampler) {
    if (clock->correct && clock->bpf > 0 && gst_buffer_map (in, &map,
            GST_MAP_READ)) {
      keep_history (clock, map.data, map.size / clock->bpf);
      gst_buffer_unmap (in, &map);
    }
    return in;
  }
  if (!gst_buffer_map (in, &map, GST_MAP_READ)) {
    gst_buffer_unref (in);
    return NULL;
  }
  frames = map.size / clock->bpf;
  out = frames > 0 ? resample (clock, map.data, frames) : NULL;
  gst_buffer_unmap (in, &map);
  gst_buffer_unref (in);
  return out;
}

/* The sound still inside the resampler (the guest stopped, or a gap
 * follows): flushed out with silence behind it. */
GstBuffer *
gst_spice_audio_clock_drain (GstSpiceAudioClock * clock)
{
  GstBuffer *out;
  gdouble left;
  gsize zeros, want;

  if (!clock->resampler || clock->discard > 0)
    return NULL;
  left = (clock->fed - clock->pos) / clock->ratio;
  if (left < 0.5)
    return NULL;
  zeros = gst_audio_resampler_get_max_latency (clock->resampler) * 2;
  want = MIN ((gsize) ceil (left),
      gst_audio_resampler_get_out_frames (clock->resampler, zeros));
  if (want == 0)
    return NULL;
  out = gst_buffer_new_allocate (NULL, want * clock->bpf, NULL);
  {
    GstMapInfo map;
    gpointer outp[1];

    gst_buffer_map (out, &map, GST_MAP_WRITE);
    outp[0] = map.data;
    gst_audio_resampler_resample (clock->resampler, NULL, zeros, outp, want);
    gst_buffer_unmap (out, &map);
  }
  clock->pos += want * clock->ratio;
  GST_DEBUG_OBJECT (clock->owner, "drained %" G_GSIZE_FORMAT " frames", want);
  return out;
}

gboolean
gst_spice_audio_clock_is_resampling (GstSpiceAudioClock * clock)
{
  return clock->engaged;
}

gint
gst_spice_audio_clock_get_drift_ppm (GstSpiceAudioClock * clock)
{
  return (gint) lround (clock->drift * 1e6);
}
