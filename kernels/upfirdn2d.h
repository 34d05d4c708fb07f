// Upsample (zero insertion), pad or crop, FIR-filter, downsample — and its adjoint — one output
// element at a time, for the CPU and CUDA launchers.
//
// For an input plane `x [in_h, in_w]` the upsampled, padded signal is `u(j) = x(j / up)` where
// `j = i + pad0` is a multiple of `up` inside `[0, in·up)`, else 0 (per axis). With the
// correlation kernel `k [k_h, k_w]` (the filter already flipped, scaled and, for a separable
// filter, expanded to its outer product), output `(oy, ox)` is
// `Σ k(ky, kx) · u(oy·down_y + ky − pad_y0, ox·down_x + kx − pad_x0)`. The adjoint gathers, for
// input `(iy, ix)`, every output that read it.
#pragma once

#include <cstdint>

#include "bias_act.h"  // KIMG_HD

namespace kimg {

// The geometry of one upfirdn2d.
struct Upfirdn2dParams {
  int64_t up_x, up_y, down_x, down_y;
  int64_t pad_x0, pad_y0;
  int64_t in_h, in_w, out_h, out_w;
  int64_t k_h, k_w;
};

// The first tap `k` in `[0, n)` with `base + k` a multiple of `step` (`base` may be negative);
// every `step`-th tap after it is one too.
KIMG_HD int64_t first_aligned_tap(int64_t base, int64_t step) {
  const int64_t r = base % step;
  return r == 0 ? 0 : (r > 0 ? step - r : -r);
}

// Output `(oy, ox)` of one plane `x` (row-major `in_h × in_w`) with `bias` added to every input
// sample (not to the inserted zeros or the padding); `A` accumulates. Only the taps that meet an
// input sample (every `up`-th) are visited.
template <typename A, typename T, typename K>
KIMG_HD A upfirdn2d_output(const T* x, const K* k, const Upfirdn2dParams& p, int64_t oy,
                           int64_t ox, A bias = A(0)) {
  A sum = A(0);
  const int64_t base_y = oy * p.down_y - p.pad_y0;
  const int64_t base_x = ox * p.down_x - p.pad_x0;
  const int64_t kx0 = first_aligned_tap(base_x, p.up_x);
  for (int64_t ky = first_aligned_tap(base_y, p.up_y); ky < p.k_h; ky += p.up_y) {
    const int64_t iy = (base_y + ky) / p.up_y;
    if (base_y + ky < 0 || iy >= p.in_h) {
      continue;
    }
    const T* row = x + iy * p.in_w;
    const K* taps = k + ky * p.k_w;
    for (int64_t kx = kx0; kx < p.k_w; kx += p.up_x) {
      const int64_t ix = (base_x + kx) / p.up_x;
      if (base_x + kx >= 0 && ix < p.in_w) {
        sum += A(taps[kx]) * (A(row[ix]) + bias);
      }
    }
  }
  return sum;
}

// The adjoint at input `(iy, ix)`: the gradient of one input plane from the output gradient
// plane `dy` (row-major `out_h × out_w`). Only the taps that meet an output sample (every
// `down`-th) are visited.
template <typename A, typename T, typename K>
KIMG_HD A upfirdn2d_adjoint(const T* dy, const K* k, const Upfirdn2dParams& p, int64_t iy,
                            int64_t ix) {
  A sum = A(0);
  const int64_t base_y = iy * p.up_y + p.pad_y0;
  const int64_t base_x = ix * p.up_x + p.pad_x0;
  // Taps with `base − k` a multiple of `down`, i.e. `−base + k` one.
  const int64_t kx0 = first_aligned_tap(-base_x, p.down_x);
  for (int64_t ky = first_aligned_tap(-base_y, p.down_y); ky < p.k_h; ky += p.down_y) {
    const int64_t oy = (base_y - ky) / p.down_y;
    if (base_y - ky < 0 || oy >= p.out_h) {
      continue;
    }
    const T* row = dy + oy * p.out_w;
    const K* taps = k + ky * p.k_w;
    for (int64_t kx = kx0; kx < p.k_w; kx += p.down_x) {
      const int64_t ox = (base_x - kx) / p.down_x;
      if (base_x - kx >= 0 && ox < p.out_w) {
        sum += A(taps[kx]) * A(row[ox]);
      }
    }
  }
  return sum;
}

}  // namespace kimg
