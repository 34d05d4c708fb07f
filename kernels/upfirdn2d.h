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

// Output `(oy, ox)` of one plane `x` (row-major `in_h × in_w`); `A` accumulates.
template <typename A, typename T, typename K>
KIMG_HD A upfirdn2d_output(const T* x, const K* k, const Upfirdn2dParams& p, int64_t oy,
                           int64_t ox) {
  A sum = A(0);
  const int64_t base_y = oy * p.down_y - p.pad_y0;
  const int64_t base_x = ox * p.down_x - p.pad_x0;
  for (int64_t ky = 0; ky < p.k_h; ++ky) {
    const int64_t uy = base_y + ky;
    if (uy < 0 || uy % p.up_y != 0 || uy / p.up_y >= p.in_h) {
      continue;
    }
    const T* row = x + (uy / p.up_y) * p.in_w;
    for (int64_t kx = 0; kx < p.k_w; ++kx) {
      const int64_t ux = base_x + kx;
      if (ux < 0 || ux % p.up_x != 0 || ux / p.up_x >= p.in_w) {
        continue;
      }
      sum += A(k[ky * p.k_w + kx]) * A(row[ux / p.up_x]);
    }
  }
  return sum;
}

// The adjoint at input `(iy, ix)`: the gradient of one input plane from the output gradient
// plane `dy` (row-major `out_h × out_w`).
template <typename A, typename T, typename K>
KIMG_HD A upfirdn2d_adjoint(const T* dy, const K* k, const Upfirdn2dParams& p, int64_t iy,
                            int64_t ix) {
  A sum = A(0);
  const int64_t base_y = iy * p.up_y + p.pad_y0;
  const int64_t base_x = ix * p.up_x + p.pad_x0;
  for (int64_t ky = 0; ky < p.k_h; ++ky) {
    const int64_t ty = base_y - ky;
    if (ty < 0 || ty % p.down_y != 0 || ty / p.down_y >= p.out_h) {
      continue;
    }
    const T* row = dy + (ty / p.down_y) * p.out_w;
    for (int64_t kx = 0; kx < p.k_w; ++kx) {
      const int64_t tx = base_x - kx;
      if (tx < 0 || tx % p.down_x != 0 || tx / p.down_x >= p.out_w) {
        continue;
      }
      sum += A(k[ky * p.k_w + kx]) * A(row[tx / p.down_x]);
    }
  }
  return sum;
}

}  // namespace kimg
