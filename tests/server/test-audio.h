/* The test server's audio signal: shared by the server, the tests and the
 * benchmarks so all three agree on what a playback packet holds and on what
 * the server expects to record.
 *
 * Format: stereo S16, native (little) endian, interleaved L R L R ...
 *
 * Timeline: frame n counts frames since the server's audio clock started
 * (at server start-up) and advances in real time whether or not playback
 * runs or a client is connected:
 *   n(t) = (t - t0) * rate / 1e6        (t in microseconds, monotonic clock)
 *
 * Packets: packet k holds frames k*P .. k*P+P-1 and is handed to
 * libspice-server as soon as the timeline reaches its first frame
 * (n(now) >= k*P).  P is TA_PACKET_FRAMES = 480 frames at every rate:
 * libspice-server 0.15.1 sends exactly one buffer of
 * snd_codec_frame_size() = SND_CODEC_MAX_FRAME_SIZE = 480 frames per
 * SPICE_MSG_PLAYBACK_DATA, raw or Opus, whatever the rate (10 ms at 48000,
 * 10.884 ms at 44100), so the "rate / 100" rule cannot hold at 44100.
 * Packets the server cannot hand over (no client) are skipped, never
 * queued: the next packet a client gets is always the one due now.
 *
 * "code" signal, frame j of packet k (n = k*P + j):
 *   left  = ta_code_left (n) = (gint16) (n & 0xffff)
 *   right = j 0..3: the packet's send time (g_get_monotonic_time (), us,
 *                   taken just before the packet goes to libspice-server),
 *                   16 bits per frame, least significant first
 *           j 4, 5: n_first = k*P as 32 bits (low half at j = 4)
 *           j >= 6: ~left
 * So a client can check continuity from the left channel alone (each frame
 * is the previous one + 1, mod 65536, across packets) and read a packet's
 * first frame number and send time from its first six right samples.
 *
 * "sine" signal: 440 Hz, amplitude 16384, the same on both channels, phase
 * a function of n alone (continuous across packets, skipped packets leave a
 * phase jump).
 *
 * "marks" signal: the sine on the left; on the right silence but for one
 * sample of TA_SINE_AMPLITUDE at every frame n that is a multiple of
 * ta_mark_frames (rate) (half a second).  Both survive resampling: the
 * sine's period shows the rate, a mark's peak where frame n landed.
 *
 * Record: the server expects a client to send frames whose left channel
 * follows the code rule (each left = previous left + 1, mod 65536); it
 * counts the places where that breaks.  libspice-server 0.15.1 garbles the
 * client message that straddles the end of its 8192-frame record ring
 * (snd_record_handle_write copies the part after the wrap from `data + now`
 * bytes instead of frames; fixed upstream after 0.15.1): counting frames
 * from record start (or from the record client's connection), up to one
 * message (480 frames from spice-client-glib) after each multiple of
 * TA_RECORD_RING_FRAMES is wrong.  ta_record_in_wrap_window tells those
 * positions; the server counts discontinuities there apart.
 *
 * Users of ta_fill_sine link libm (testserver_dep brings it).
 */
#ifndef __TEST_AUDIO_H__
#define __TEST_AUDIO_H__

#include <math.h>

#include <glib.h>

#define TA_CHANNELS 2
#define TA_BYTES_PER_FRAME (TA_CHANNELS * 2)
/* libspice-server 0.15.1's playback message size, frames (see above) */
#define TA_PACKET_FRAMES 480
#define TA_DEFAULT_RATE 48000
/* frames at the start of a code packet that carry data in the right channel */
#define TA_CODE_HEADER_FRAMES 6
#define TA_SINE_HZ 440
#define TA_SINE_AMPLITUDE 16384
/* libspice-server 0.15.1's record ring, frames (see above) */
#define TA_RECORD_RING_FRAMES 8192

/* Frames per packet at `rate`: the same at every rate (see above). */
static inline guint
ta_packet_frames (guint rate)
{
  return TA_PACKET_FRAMES;
}

/* The timeline frame `elapsed_us` microseconds after the audio clock
 * started. */
static inline guint64
ta_timeline_frame (gint64 elapsed_us, guint rate)
{
  return elapsed_us <= 0 ? 0 : (guint64) elapsed_us * rate / G_USEC_PER_SEC;
}

/* The first elapsed time (us) at which the timeline has reached frame n:
 * the inverse of ta_timeline_frame. */
static inline gint64
ta_frame_time_us (guint64 n, guint rate)
{
  return (gint64) ((n * G_USEC_PER_SEC + rate - 1) / rate);
}

static inline gint16
ta_code_left (guint64 n)
{
  return (gint16) (guint16) (n & 0xffff);
}

/* Fills one packet of P frames (P >= TA_CODE_HEADER_FRAMES) of the code
 * signal starting at timeline frame n_first, sent at send_us. */
static inline void
ta_fill_code_packet (gint16 * lr, guint P, guint64 n_first, gint64 send_us)
{
  guint j;

  for (j = 0; j < P; j++) {
    gint16 left = ta_code_left (n_first + j);
    guint16 right;

    if (j < 4)
      right = (guint16) (((guint64) send_us >> (16 * j)) & 0xffff);
    else if (j < TA_CODE_HEADER_FRAMES)
      right = (guint16) ((n_first >> (16 * (j - 4))) & 0xffff);
    else
      right = (guint16) ~(guint16) left;
    lr[2 * j] = left;
    lr[2 * j + 1] = (gint16) right;
  }
}

/* Reads a code packet of P frames back: TRUE only when every frame is
 * consistent (left counts up from n_first, right is ~left from frame
 * TA_CODE_HEADER_FRAMES on); then *n_first (32 bits, as sent) and *send_us
 * are set.  Either pointer may be NULL. */
static inline gboolean
ta_decode_code_packet (const gint16 * lr, guint P, guint64 * n_first,
    gint64 * send_us)
{
  guint64 n = 0;
  guint64 t = 0;
  guint j;

  if (P < TA_CODE_HEADER_FRAMES)
    return FALSE;
  for (j = 0; j < 4; j++)
    t |= (guint64) (guint16) lr[2 * j + 1] << (16 * j);
  n = (guint64) (guint16) lr[2 * 4 + 1] |
      (guint64) (guint16) lr[2 * 5 + 1] << 16;
  for (j = 0; j < P; j++) {
    gint16 left = ta_code_left (n + j);
    guint16 right = (guint16) ~(guint16) left;

    if (lr[2 * j] != left)
      return FALSE;
    if (j >= TA_CODE_HEADER_FRAMES && (guint16) lr[2 * j + 1] != right)
      return FALSE;
  }
  if (n_first)
    *n_first = n;
  if (send_us)
    *send_us = (gint64) t;
  return TRUE;
}

/* Fills nframes frames of the sine signal starting at timeline frame
 * n_first. */
static inline void
ta_fill_sine (gint16 * lr, guint nframes, guint64 n_first, guint rate)
{
  guint j;

  for (j = 0; j < nframes; j++) {
    /* TA_SINE_HZ is a whole number of Hz, so the phase repeats every `rate`
     * frames: reducing n first keeps the double exact for any n */
    guint64 n = (n_first + j) % rate;
    gint16 v = (gint16) lrint (TA_SINE_AMPLITUDE *
        sin (2.0 * G_PI * TA_SINE_HZ * (gdouble) n / rate));

    lr[2 * j] = v;
    lr[2 * j + 1] = v;
  }
}

/* Frames between two marks of the "marks" signal: half a second. */
static inline guint
ta_mark_frames (guint rate)
{
  return rate / 2;
}

/* Fills nframes frames of the "marks" signal starting at timeline frame
 * n_first. */
static inline void
ta_fill_marked_sine (gint16 * lr, guint nframes, guint64 n_first, guint rate)
{
  guint j;

  ta_fill_sine (lr, nframes, n_first, rate);
  for (j = 0; j < nframes; j++)
    lr[2 * j + 1] = (n_first + j) % ta_mark_frames (rate) == 0 ?
        TA_SINE_AMPLITUDE : 0;
}

/* Whether record frame `pos` (counted from 0 at record start) may be
 * garbled by libspice-server's ring wrap (see above). */
static inline gboolean
ta_record_in_wrap_window (guint64 pos)
{
  return pos >= TA_RECORD_RING_FRAMES &&
      pos % TA_RECORD_RING_FRAMES < TA_PACKET_FRAMES;
}

#endif /* __TEST_AUDIO_H__ */
