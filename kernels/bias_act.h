// Fused bias + activation + gain + clamp, one element at a time.
//
// Written once for both launchers: `bias_act_cpu.cpp` runs these functions in a parallel loop,
// `bias_act_cuda.cu` in a CUDA kernel. They compute what kimg's reference ops compute
// (`src/ops/bias_act.rs`): `v = x + b`, the activation, `v * gain`, then a clamp to
// `[-clamp, clamp]` when `clamp >= 0` (NaN stays NaN, as with `torch.clamp`).
#pragma once

#include <cstdint>

#ifdef __CUDACC__
#define KIMG_HD __host__ __device__ __forceinline__
#else
#define KIMG_HD inline
#endif

namespace kimg {

// The activations the fused op supports (the ones the networks use).
enum Activation : int64_t { kLinear = 0, kRelu = 1, kLrelu = 2 };

// What the op applies besides the bias.
struct BiasActParams {
  int64_t act;
  double alpha;  // lrelu's slope
  double gain;
  double clamp;  // < 0: no clamp
};

// One output element for input `x` and bias `b`; `T` is the compute type.
template <typename T>
KIMG_HD T bias_act_forward(T x, T b, const BiasActParams& p) {
  T v = x + b;
  if (p.act == kRelu) {
    v = v > T(0) ? v : T(0);
  } else if (p.act == kLrelu) {
    v = v > T(0) ? v : v * T(p.alpha);
  }
  v = v * T(p.gain);
  if (p.clamp >= 0) {
    const T c = T(p.clamp);
    v = v > c ? c : (v < -c ? -c : v);
  }
  return v;
}

// The input gradient of one element from the output gradient `dy` and the forward output `y`
// (its sign tells the activation's branch; a clamped output passes no gradient). Linear in `dy`,
// so the same function is its own derivative with respect to `dy`.
template <typename T>
KIMG_HD T bias_act_backward(T dy, T y, const BiasActParams& p) {
  T d = dy * T(p.gain);
  if (p.act == kRelu) {
    d = y > T(0) ? d : T(0);
  } else if (p.act == kLrelu) {
    d = y > T(0) ? d : d * T(p.alpha);
  }
  if (p.clamp >= 0 && !(y > -T(p.clamp) && y < T(p.clamp))) {
    d = T(0);
  }
  return d;
}

// Where a flat index's bias is: `(i / stride) % channels` for a contiguous tensor whose bias
// runs along a dimension of `channels` entries with `stride` elements per entry.
KIMG_HD int64_t bias_index(int64_t i, int64_t stride, int64_t channels) {
  return (i / stride) % channels;
}

}  // namespace kimg
