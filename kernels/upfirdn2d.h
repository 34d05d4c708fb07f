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

// The taps of one axis that meet a sample: `count` taps `k0 + j·step` (`j` from 0) reading
// samples `i0 + j` (`direction` 1) or `i0 − j` (`direction` −1), all inside `[0, size)`.
struct TapRange {
  int64_t k0, i0, count;
};

// The taps `k` in `[0, n)` for which `(base + direction·k) / step` is a whole sample index in
// `[0, size)`: direction 1 for upfirdn2d (`base` the first tap's position in the upsampled,
// padded signal, `step` the up factor), −1 for its adjoint (`base` the input's position, `step`
// the down factor). The divisions happen once per axis, not once per tap.
KIMG_HD TapRange tap_range(int64_t base, int64_t direction, int64_t step, int64_t n,
                           int64_t size) {
  int64_t k = first_aligned_tap(direction * base, step);
  int64_t i = (base + direction * k) / step;  // exact: a multiple of `step`
  // Skip the taps before the first sample inside the signal.
  const int64_t outside = direction > 0 ? -i : i - (size - 1);
  if (outside > 0) {
    k += outside * step;
    i += direction * outside;
  }
  int64_t count = k < n ? (n - k + step - 1) / step : 0;
  const int64_t room = direction > 0 ? size - i : i + 1;
  count = count < room ? count : room;
  return TapRange{k, i, count > 0 ? count : 0};
}

// Output `(oy, ox)` of one plane `x` (row-major `in_h × in_w`) with `bias` added to every input
// sample (not to the inserted zeros or the padding); `A` accumulates. Only the taps that meet an
// input sample (every `up`-th) are visited, in increasing order.
template <typename A, typename T, typename K>
KIMG_HD A upfirdn2d_output(const T* x, const K* k, const Upfirdn2dParams& p, int64_t oy,
                           int64_t ox, A bias = A(0)) {
  A sum = A(0);
  const TapRange ry = tap_range(oy * p.down_y - p.pad_y0, 1, p.up_y, p.k_h, p.in_h);
  const TapRange rx = tap_range(ox * p.down_x - p.pad_x0, 1, p.up_x, p.k_w, p.in_w);
  for (int64_t jy = 0; jy < ry.count; ++jy) {
    const T* row = x + (ry.i0 + jy) * p.in_w + rx.i0;
    const K* taps = k + (ry.k0 + jy * p.up_y) * p.k_w + rx.k0;
    for (int64_t jx = 0; jx < rx.count; ++jx) {
      sum += A(taps[jx * p.up_x]) * (A(row[jx]) + bias);
    }
  }
  return sum;
}

// The adjoint at input `(iy, ix)`: the gradient of one input plane from the output gradient
// plane `dy` (row-major `out_h × out_w`). Only the taps that meet an output sample (every
// `down`-th) are visited, in increasing order.
template <typename A, typename T, typename K>
KIMG_HD A upfirdn2d_adjoint(const T* dy, const K* k, const Upfirdn2dParams& p, int64_t iy,
                            int64_t ix) {
  A sum = A(0);
  const TapRange ry = tap_range(iy * p.up_y + p.pad_y0, -1, p.down_y, p.k_h, p.out_h);
  const TapRange rx = tap_range(ix * p.up_x + p.pad_x0, -1, p.down_x, p.k_w, p.out_w);
  for (int64_t jy = 0; jy < ry.count; ++jy) {
    const T* row = dy + (ry.i0 - jy) * p.out_w + rx.i0;
    const K* taps = k + (ry.k0 + jy * p.down_y) * p.k_w + rx.k0;
    for (int64_t jx = 0; jx < rx.count; ++jx) {
      sum += A(taps[jx * p.down_x]) * A(row[-jx]);
    }
  }
  return sum;
}

}  // namespace kimg
