// Fused filtered leaky ReLU — bias, upsampling FIR, leaky ReLU with gain and clamp, downsampling
// FIR — and its first-order backward, as a short list of steps over one `[N, C]` plane, written
// once for the CPU and CUDA launchers.
//
// Forward, per plane: `u = U(x + b)` (zero insertion by `up`, padding, the correlation kernel
// `fu`, gain `up²` already in it), `v = clamp(lrelu(u, slope) · gain)` with a mask code per
// sample of `u` (negative side, clamped), `y = D(v)` (the correlation kernel `fd`, every
// `down`-th sample). A separable (1-D) filter is two passes, along x then along y. Backward:
// `dx = Uᵀ(mask ⊙ Dᵀ(dy))`, the same steps reversed, each pass replaced by its adjoint and the
// activation by its derivative read from the mask (the bias gradient is `Σ dx` over `N, H, W`,
// formed by the caller).
//
// The launchers run the steps in order: the CPU one plane after plane with plane-sized scratch,
// the CUDA one step after step over every plane with whole-tensor scratch. Each step reads one
// buffer and writes another: the input (`x` or `dy`), scratch 0 (the activation's plane), scratch
// 1 (between the two passes of a separable filter), the output.
#pragma once

#include <cstdint>

#include "upfirdn2d.h"

namespace kimg {

// The buffers a step reads or writes.
enum FlreluBuffer : int64_t { kFlreluInput = 0, kFlreluScratch0 = 1, kFlreluScratch1 = 2, kFlreluOutput = 3 };

// What a step does: a FIR pass (upfirdn2d_output), its adjoint, the activation (forward, writes the
// mask) or its derivative (backward, reads the mask), the last two in place on scratch 0.
enum FlreluStepKind : int64_t { kFlreluFir = 0, kFlreluFirAdjoint = 1, kFlreluActivate = 2, kFlreluGradient = 3 };

// The mask codes: the activation took its negative branch; the clamp cut the value.
constexpr uint8_t kFlreluNegative = 1;
constexpr uint8_t kFlreluClamped = 2;

// One step. `filter` 0 is `fu`, 1 is `fd`; `bias` adds the plane's bias to every input sample the
// pass reads (the first pass of the forward only).
struct FlreluStep {
  int64_t kind, src, dst, filter;
  bool bias;
  Upfirdn2dParams fir;
};

constexpr int64_t kFlreluMaxSteps = 5;

// The steps of a forward or backward, with the activation's parameters (`clamp < 0`: none),
// the size of the activation's plane and the elements of one plane's scratch buffer.
struct FlreluPlan {
  FlreluStep steps[kFlreluMaxSteps];
  int64_t count;
  int64_t mid_h, mid_w;
  int64_t scratch;
  double slope, gain, clamp;
};

// The number of elements a step writes per plane.
KIMG_HD int64_t flrelu_step_elements(const FlreluPlan& plan, const FlreluStep& s) {
  switch (s.kind) {
    case kFlreluFir:
      return s.fir.out_h * s.fir.out_w;
    case kFlreluFirAdjoint:
      return s.fir.in_h * s.fir.in_w;
    default:
      return plan.mid_h * plan.mid_w;
  }
}

// `clamp(lrelu(v, slope) · gain)`, with the mask code of the branch taken.
template <typename A>
KIMG_HD A flrelu_activate(A v, const FlreluPlan& p, uint8_t* code) {
  uint8_t c = 0;
  if (!(v > A(0))) {
    v = v * A(p.slope);
    c = kFlreluNegative;
  }
  v = v * A(p.gain);
  if (p.clamp >= 0) {
    const A limit = A(p.clamp);
    if (v > limit || v < -limit) {
      v = v > limit ? limit : -limit;
      c |= kFlreluClamped;
    }
  }
  *code = c;
  return v;
}

// The activation's derivative applied to the gradient `d` of its output.
template <typename A>
KIMG_HD A flrelu_gradient(A d, uint8_t code, const FlreluPlan& p) {
  if (code & kFlreluClamped) {
    return A(0);
  }
  d = d * A(p.gain);
  return (code & kFlreluNegative) ? d * A(p.slope) : d;
}

// One plane's buffers: `in`/`out` of the op's dtype `T`, scratch and kernels in the compute type
// `A`, the plane's mask (`mid_h × mid_w` codes) and bias.
template <typename T, typename A>
struct FlreluPlane {
  const T* in;
  T* out;
  A* scratch0;
  A* scratch1;
  uint8_t* mask;
  const A* fu;
  const A* fd;
  A bias;
};

// Element `i` of a FIR step (or its adjoint) reading `src`.
template <typename A, typename S>
KIMG_HD A flrelu_fir_element(const FlreluStep& s, const S* src, const A* k, A bias, int64_t i) {
  if (s.kind == kFlreluFir) {
    return upfirdn2d_output<A>(src, k, s.fir, i / s.fir.out_w, i % s.fir.out_w, bias);
  }
  return upfirdn2d_adjoint<A>(src, k, s.fir, i / s.fir.in_w, i % s.fir.in_w);
}

// Element `i` of step `s` on one plane.
template <typename A, typename T>
KIMG_HD void flrelu_step(const FlreluPlan& plan, const FlreluStep& s,
                         const FlreluPlane<T, A>& v, int64_t i) {
  if (s.kind == kFlreluActivate) {
    v.scratch0[i] = flrelu_activate(v.scratch0[i], plan, v.mask + i);
    return;
  }
  if (s.kind == kFlreluGradient) {
    v.scratch0[i] = flrelu_gradient(v.scratch0[i], v.mask[i], plan);
    return;
  }
  const A* k = s.filter == 0 ? v.fu : v.fd;
  const A result =
      s.src == kFlreluInput
          ? flrelu_fir_element<A>(s, v.in, k, s.bias ? v.bias : A(0), i)
          : flrelu_fir_element<A>(s, s.src == kFlreluScratch0 ? v.scratch0 : v.scratch1, k,
                                  A(0), i);
  if (s.dst == kFlreluOutput) {
    v.out[i] = T(result);
  } else {
    (s.dst == kFlreluScratch0 ? v.scratch0 : v.scratch1)[i] = result;
  }
}

}  // namespace kimg
