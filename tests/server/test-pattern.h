/* The test server's frame pattern: shared by the server, the tests and the
 * benchmarks so all three agree on what a frame holds.
 *
 * Every pixel of a frame is a pure function of (x, y, frame number), so a test
 * can check content exactly (the server runs lossless).  A "code strip" in the
 * top-left corner carries the frame number and the server's send time
 * (CLOCK_MONOTONIC, microseconds, as g_get_monotonic_time()) so a consumer can
 * tell which frame it holds and measure latency.
 *
 * Strip: TP_CELLS cells of TP_CELL x TP_CELL pixels, left to right, at (0, 0).
 * Cell i is filled with one colour whose R, G, B bytes are data bytes 3i,
 * 3i+1, 3i+2.  Data: 'S' 'P' 'C', frame (u32 LE), send time (u64 LE),
 * then 3 check bytes (XOR of bytes 0..14 taken in groups of 3).
 *
 * Partial damage mode (damage width dw, height dh > 0): frame 0 is a full
 * frame; each later frame f redraws the strip plus one dw x dh rectangle at
 * tp_damage_rect (f).  Pixels inside a frame's rectangle take that frame's
 * pattern; everything else keeps what the last covering frame drew.
 */
#ifndef __TEST_PATTERN_H__
#define __TEST_PATTERN_H__

#include <stdint.h>
#include <string.h>

#define TP_CELL 8
#define TP_CELLS 6
#define TP_STRIP_W (TP_CELL * TP_CELLS)
#define TP_STRIP_H TP_CELL
#define TP_DATA_LEN (TP_CELLS * 3)

/* xRGB / ARGB pixel (0xAARRGGBB; B, G, R, A in memory on little endian) */
static inline uint32_t
tp_pixel (uint32_t x, uint32_t y, uint32_t frame)
{
  uint32_t r = (x ^ y ^ (frame * 7)) & 0xff;
  uint32_t g = (y + 2 * frame) & 0xff;
  uint32_t b = (x + frame) & 0xff;
  return 0xff000000u | (r << 16) | (g << 8) | b;
}

static inline int
tp_in_strip (uint32_t x, uint32_t y)
{
  return x < TP_STRIP_W && y < TP_STRIP_H;
}

static inline void
tp_encode (uint8_t d[TP_DATA_LEN], uint32_t frame, uint64_t send_time_us)
{
  int i;
  d[0] = 'S';
  d[1] = 'P';
  d[2] = 'C';
  for (i = 0; i < 4; i++)
    d[3 + i] = (frame >> (8 * i)) & 0xff;
  for (i = 0; i < 8; i++)
    d[7 + i] = (send_time_us >> (8 * i)) & 0xff;
  d[15] = d[16] = d[17] = 0;
  for (i = 0; i < 15; i++)
    d[15 + i % 3] ^= d[i];
}

/* Paint the strip into a 32-bit xRGB/ARGB image (stride in bytes). */
static inline void
tp_paint_strip (uint8_t * data, int stride, uint32_t frame,
    uint64_t send_time_us)
{
  uint8_t d[TP_DATA_LEN];
  int c, x, y;

  tp_encode (d, frame, send_time_us);
  for (c = 0; c < TP_CELLS; c++) {
    uint32_t v = 0xff000000u | ((uint32_t) d[3 * c] << 16) |
        ((uint32_t) d[3 * c + 1] << 8) | d[3 * c + 2];
    for (y = 0; y < TP_CELL; y++) {
      uint32_t *row = (uint32_t *) (data + (size_t) y * stride);
      for (x = 0; x < TP_CELL; x++)
        row[c * TP_CELL + x] = v;
    }
  }
}

/* Read the strip back from a 32-bit BGRx/BGRA image; returns 1 when the
 * magic and check bytes match, 0 otherwise. */
static inline int
tp_read_strip (const uint8_t * data, int stride, uint32_t * frame,
    uint64_t * send_time_us)
{
  uint8_t d[TP_DATA_LEN], e[TP_DATA_LEN];
  int c, i;
  uint32_t f = 0;
  uint64_t t = 0;

  for (c = 0; c < TP_CELLS; c++) {
    const uint8_t *p = data + (size_t) (TP_CELL / 2) * stride +
        (size_t) (c * TP_CELL + TP_CELL / 2) * 4;
    d[3 * c] = p[2];
    d[3 * c + 1] = p[1];
    d[3 * c + 2] = p[0];
  }
  for (i = 0; i < 4; i++)
    f |= (uint32_t) d[3 + i] << (8 * i);
  for (i = 0; i < 8; i++)
    t |= (uint64_t) d[7 + i] << (8 * i);
  tp_encode (e, f, t);
  if (memcmp (d, e, TP_DATA_LEN) != 0)
    return 0;
  if (frame)
    *frame = f;
  if (send_time_us)
    *send_time_us = t;
  return 1;
}

/* Where frame f (f >= 1) draws its dw x dh rectangle in partial damage mode
 * on a w x h surface.  The rectangle never overlaps the strip's rows. */
static inline void
tp_damage_rect (uint32_t f, uint32_t w, uint32_t h, uint32_t dw, uint32_t dh,
    uint32_t * x, uint32_t * y)
{
  uint32_t span_x = w > dw ? w - dw + 1 : 1;
  uint32_t top = TP_STRIP_H;
  uint32_t span_y = h > dh + top ? h - dh - top + 1 : 1;

  *x = (f * 37u) % span_x;
  *y = top + (f * 23u) % span_y;
}

/* The pixel a client should see at (x, y) once it has frame `frame` (outside
 * the strip), given the mode the server ran in from frame 0 on. */
static inline uint32_t
tp_expected_pixel (uint32_t x, uint32_t y, uint32_t frame, uint32_t w,
    uint32_t h, uint32_t dw, uint32_t dh)
{
  uint32_t f;

  if (dw == 0 || dh == 0)
    return tp_pixel (x, y, frame);
  for (f = frame; f >= 1; f--) {
    uint32_t rx, ry;
    tp_damage_rect (f, w, h, dw, dh, &rx, &ry);
    if (x >= rx && x < rx + dw && y >= ry && y < ry + dh)
      return tp_pixel (x, y, f);
  }
  return tp_pixel (x, y, 0);
}

/* Paint the whole image a client should hold once it has frame `frame`
 * (strip included), given the mode the server ran in from frame 0 on:
 * O(w * h + frame * dw * dh). */
static inline void
tp_render_expected (uint8_t * data, int stride, uint32_t frame,
    uint64_t send_time_us, uint32_t w, uint32_t h, uint32_t dw, uint32_t dh)
{
  uint32_t x, y, f;
  int partial = dw > 0 && dh > 0;

  for (y = 0; y < h; y++) {
    uint32_t *row = (uint32_t *) (data + (size_t) y * stride);
    for (x = 0; x < w; x++)
      row[x] = tp_pixel (x, y, partial ? 0 : frame);
  }
  for (f = 1; partial && f <= frame; f++) {
    uint32_t rx, ry;
    tp_damage_rect (f, w, h, dw, dh, &rx, &ry);
    for (y = ry; y < ry + dh && y < h; y++) {
      uint32_t *row = (uint32_t *) (data + (size_t) y * stride);
      for (x = rx; x < rx + dw && x < w; x++)
        row[x] = tp_pixel (x, y, f);
    }
  }
  if (w >= TP_STRIP_W && h >= TP_STRIP_H)
    tp_paint_strip (data, stride, frame, send_time_us);
}

#endif /* __TEST_PATTERN_H__ */
