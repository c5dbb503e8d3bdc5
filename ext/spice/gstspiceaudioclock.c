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
 * The guest's rate: measured on the input alone (what the guest sent
 * against when it came, whatever is done with it): each bin's lowest
 * offset, a robust line through the last 10 s of bins.
 *
 * Drift: while the envelope stays put the sound passes through untouched
 * (bit-exact; most guests' clocks follow the host's).  Once it wanders
 * further than the jitter explains, and the input's estimate agrees, a
 * resampler (GstAudioResampler, variable rate, Kaiser windowed sinc) takes
 * over for the rest of the session, at the estimated ratio plus a bounded
 * pull of the envelope back to its level.  The switch is seamless: the
 * resampler starts at ratio 1 primed with the frames just passed through,
 * and its ratio only moves once those have come out.
 *
 * What the correction cannot absorb (a guest further off than MAX_CORRECTION, a
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
/* the error that engages the correction, at least, and in units of the
 * envelope's wobble once settled; while settling (the anchor itself may
 * be off by a packet's time) this much */
#define ENGAGE_MIN_S 0.004
#define ENGAGE_SIGMAS 4.0
#define ENGAGE_SETTLING_S 0.006
/* an error must last this long to engage: a stall of our own process
 * delays even the newest packet of a burst, for a moment */
#define ENGAGE_PERSIST_S 0.15
/* the loop sees the error through a low-pass of this time constant:
 * jitter moves the envelope by a few ms between bursts */
#define ERROR_TAU_S 0.3
/* the envelope's level is kept where it settled, within this much of the
 * timeline (an anchor taken on a late packet is pulled back) */
#define LEVEL_MAX_S 0.015
/* the pull back to the level (per second of error), which never moves
 * the pitch more than P_MAX off the estimate (0.3%: a 440 Hz period stays
 * within a third of a sample) */
#define LOOP_KP 1.4
#define P_MAX 0.003
/* the largest rate error corrected (5%: no real clock is that far off) */
#define MAX_CORRECTION 0.05
/* The guest's rate, from the input alone (what the guest sent against
 * when it arrived, whatever we do with it): the lowest offset in each bin
 * of BIN_S, the last BINS of them, a robust line through them. */
#define BIN_S 0.1
#define BINS 100
#define EST_MIN_BINS 4
#define EST_PAIR_MIN_S 0.2
/* an estimate is a drift once beyond this, and beyond SLOPE_SIGMAS
 * standard errors (a few bursts say nothing) */
#define SLOPE_MIN 0.0002
#define SLOPE_SIGMAS 4.0
/* the bins' scatter is never taken for less (scheduling) */
#define SIGMA_MIN_S 0.0005
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
  gdouble drift;                /* the rate error resampled for, from the
                                 * estimate (0.01: 1% fast) */
  gboolean engaged;             /* resampling, for the rest of the session */

  /* the segment since the last anchor */
  GstClockTime t_anchor;
  gboolean have_env, settled;
  gdouble env, t_last, level, engage_at;
  gdouble error;                /* low-passed */
  gdouble over_since;           /* t the error went beyond, < 0: not */
  gdouble n, st, se, stt, ste, see;     /* least squares while settling */

  /* the input: from the first packet after an anchor, across resyncs */
  gboolean in_started;
  GstClockTime in_t0;
  guint64 in_frames;            /* received before the current packet */
  gboolean bin_open;
  gdouble bin_start, bin_t, bin_x;      /* the open bin's lowest offset */
  gdouble bins_t[BINS], bins_x[BINS];
  guint bins_len, bins_pos;
  /* the line through the bins: offset moving est_slope s/s (minus the
   * guest clock's rate error), give or take est_se */
  guint est_bins;               /* 0: no estimate */
  gdouble est_slope, est_se, est_sigma;
  gdouble scratch[BINS * (BINS - 1) / 2];

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

static void
reset_input (GstSpiceAudioClock * clock)
{
  clock->in_started = FALSE;
  clock->in_frames = 0;
  clock->bin_open = FALSE;
  clock->bins_len = clock->bins_pos = 0;
  clock->est_bins = 0;
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
  reset_input (clock);
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
  clock->over_since = -1;
  clock->settled = FALSE;
  clock->n = clock->st = clock->se = clock->stt = clock->ste = clock->see = 0;
  clock->level = 0;
}

/* A new timeline starts at running time @arrival (playback start, sound
 * after a gap): the drift estimate stays, the envelope starts afresh, and
 * a resampler restarts empty (what came before was drained or dropped). */
void
gst_spice_audio_clock_anchor (GstSpiceAudioClock * clock, GstClockTime arrival)
{
  reset_segment (clock, arrival);
  reset_input (clock);
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

static gdouble
median (gdouble * v, guint n)
{
  qsort (v, n, sizeof (gdouble), cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The line through the bins: the median of the slopes between bins
 * EST_PAIR_MIN_S or more apart (Theil-Sen), which a few odd bins (a stall
 * of ours that spanned one, the start's burst) do not move; its standard
 * error from the bins' scatter around it (a robust sigma). */
static void
estimate (GstSpiceAudioClock * clock)
{
  gdouble *v = clock->scratch;
  gdouble t0 = G_MAXDOUBLE, t1 = -G_MAXDOUBLE;
  gdouble slope, icept, sigma;
  guint i, j, n = 0, len = clock->bins_len;

  for (i = 0; i < len; i++)
    for (j = 0; j < len; j++)
      if (clock->bins_t[j] - clock->bins_t[i] >= EST_PAIR_MIN_S)
        v[n++] = (clock->bins_x[j] - clock->bins_x[i]) /
            (clock->bins_t[j] - clock->bins_t[i]);
  if (len < EST_MIN_BINS || n < 3) {
    clock->est_bins = 0;
    return;
  }
  slope = median (v, n);
  for (i = 0; i < len; i++)
    v[i] = clock->bins_x[i] - slope * clock->bins_t[i];
  icept = median (v, len);
  for (i = 0; i < len; i++) {
    v[i] = fabs (clock->bins_x[i] - icept - slope * clock->bins_t[i]);
    t0 = MIN (t0, clock->bins_t[i]);
    t1 = MAX (t1, clock->bins_t[i]);
  }
  sigma = MAX (1.4826 * median (v, len), SIGMA_MIN_S);
  clock->est_bins = len;
  clock->est_slope = slope;
  clock->est_sigma = sigma;
  /* least squares' standard error for evenly spread points */
  clock->est_se = sigma * sqrt (12.0 / len) / MAX (t1 - t0, BIN_S);
  GST_LOG_OBJECT (clock->owner, "%u bins over %.2f s: the guest's clock "
      "runs %+.0f ppm off, give or take %.0f (scatter %.2f ms)", len,
      t1 - t0, -slope * 1e6, clock->est_se * 1e6, sigma * 1000);
}

/* The estimate says the guest's clock drifts, and in the direction of
 * @error (0: either). */
static gboolean
drift_shown (GstSpiceAudioClock * clock, gdouble error)
{
  gdouble s = clock->est_slope;

  return clock->est_bins > 0 && fabs (s) > SLOPE_MIN &&
      fabs (s) > SLOPE_SIGMAS * clock->est_se && s * error >= 0;
}

/* A packet of @frames arrived at running time @arrival: what the guest
 * sent, against when.  Jitter only delays a packet, so each bin's lowest
 * offset is the guest's clock. */
void
gst_spice_audio_clock_input (GstSpiceAudioClock * clock, GstClockTime arrival,
    guint frames)
{
  gdouble t, x;

  if (clock->rate == 0)
    return;
  if (!clock->in_started) {
    clock->in_started = TRUE;
    clock->in_t0 = arrival;
  }
  t = GST_CLOCK_DIFF (clock->in_t0, arrival) / (gdouble) GST_SECOND;
  x = t - clock->in_frames / (gdouble) clock->rate;
  clock->in_frames += frames;

  if (clock->bin_open && t < clock->bin_start + BIN_S) {
    if (x < clock->bin_x) {
      clock->bin_x = x;
      clock->bin_t = t;
    }
    return;
  }
  if (clock->bin_open) {
    clock->bins_t[clock->bins_pos] = clock->bin_t;
    clock->bins_x[clock->bins_pos] = clock->bin_x;
    clock->bins_pos = (clock->bins_pos + 1) % BINS;
    clock->bins_len = MIN (clock->bins_len + 1, BINS);
    estimate (clock);
    /* engaged, the resampler follows the estimate */
    if (clock->engaged && clock->est_bins >= EST_MIN_BINS)
      clock->drift = CLAMP (-clock->est_slope, -MAX_CORRECTION,
          MAX_CORRECTION);
    /* bins on a fixed grid: a pause leaves empty ones out */
    clock->bin_start += floor ((t - clock->bin_start) / BIN_S) * BIN_S;
  } else {
    clock->bin_start = t;
  }
  clock->bin_open = TRUE;
  clock->bin_x = x;
  clock->bin_t = t;
}

static void
engage (GstSpiceAudioClock * clock, gdouble error)
{
  /* passing through, the offsets move at minus the guest's rate error */
  clock->drift = CLAMP (-clock->est_slope, -MAX_CORRECTION, MAX_CORRECTION);
  GST_INFO_OBJECT (clock->owner, "sound is %.1f ms %s its timeline: the "
      "guest's clock runs %+.0f ppm off (give or take %.0f, %u bins); "
      "resampling from now on", fabs (error) * 1000,
      error > 0 ? "behind" : "ahead of", clock->drift * 1e6,
      clock->est_se * 1e6, clock->est_bins);
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
  over = fabs (e) > (clock->settled ? clock->engage_at : ENGAGE_SETTLING_S);
  if (!over)
    clock->over_since = -1;
  else if (clock->over_since < 0)
    clock->over_since = t;
  /* the envelope moved, for a while, and the input says why: a drift */
  if (clock->correct && !clock->engaged && over &&
      t - clock->over_since >= ENGAGE_PERSIST_S && drift_shown (clock, e))
    engage (clock, e);

  if (clock->engaged) {
    gdouble c;

    /* the estimate, and a pull back to the level (never moving the pitch
     * more than P_MAX off the estimate) */
    e = clock->error;
    c = CLAMP (clock->drift + CLAMP (-LOOP_KP * e, -P_MAX, P_MAX),
        -MAX_CORRECTION, MAX_CORRECTION);
    clock->want_ratio = 1.0 + c;
    if (clock->resampler && clock->discard == 0)
      apply_ratio (clock, clock->want_ratio);
    GST_LOG_OBJECT (clock->owner, "t %.3f s: lateness %.2f ms, envelope "
        "%.2f ms (error %.2f), ratio %.6f", t, l * 1000, clock->env * 1000,
        e * 1000, clock->ratio);
  }

  if (e * GST_SECOND > resync_threshold || -e * GST_SECOND > resync_threshold) {
    *excess = (GstClockTimeDiff) (e * GST_SECOND);
    /* so far off so fast: a drift, if the input agrees at all */
    if (clock->correct && !clock->engaged && clock->est_bins > 0 &&
        fabs (clock->est_slope) > SLOPE_MIN && clock->est_slope * e > 0)
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
  gdouble drift = clock->engaged || clock->est_bins == 0 ? clock->drift :
      -clock->est_slope;

  return (gint) lround (drift * 1e6);
}
