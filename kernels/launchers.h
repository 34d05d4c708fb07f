// The launchers of the fused ops, for contiguous tensors: `y = bias_act(x, b)` and
// `dx = bias_act_grad(dy, y)` element by element (see bias_act.h; `b` may be undefined), and
// upfirdn2d and its adjoint on `[N, C, H, W]` tensors with a `[k_h, k_w]` kernel (upfirdn2d.h),
// and the steps of a filtered_lrelu forward or backward (filtered_lrelu.h).
#pragma once

#include <ATen/ATen.h>

#include "bias_act.h"
#include "filtered_lrelu.h"
#include "upfirdn2d.h"

namespace kimg {

void bias_act_forward_cpu(const at::Tensor& x, const at::Tensor& b, at::Tensor& y,
                          int64_t stride, const BiasActParams& p);
void bias_act_backward_cpu(const at::Tensor& dy, const at::Tensor& y, at::Tensor& dx,
                           const BiasActParams& p);

// `adjoint` selects the adjoint (input gradient) instead of the op; `out` has the result's shape.
void upfirdn2d_cpu(const at::Tensor& in, const at::Tensor& k, at::Tensor& out,
                   const Upfirdn2dParams& p, bool adjoint);

// The steps of `plan` on `in [N, C, H, W]` (`x`, or `dy` for the backward) into `out`, with the
// kernels `fu`, `fd` in the compute type (float, double for double), the bias `b [C]` (undefined:
// none) and the mask `[N, C, mid_h, mid_w]` (written by the forward, read by the backward).
void filtered_lrelu_cpu(const at::Tensor& in, const at::Tensor& b, const at::Tensor& fu,
                        const at::Tensor& fd, at::Tensor& mask, at::Tensor& out,
                        const FlreluPlan& plan);

// The CUDA launchers (`*_cuda.cu`, cargo feature `cuda`); without it, `no_cuda.cpp` defines them
// as errors, so callers dispatch on the device alone.
void upfirdn2d_cuda(const at::Tensor& in, const at::Tensor& k, at::Tensor& out,
                    const Upfirdn2dParams& p, bool adjoint);
void bias_act_forward_cuda(const at::Tensor& x, const at::Tensor& b, at::Tensor& y,
                           int64_t stride, const BiasActParams& p);
void bias_act_backward_cuda(const at::Tensor& dy, const at::Tensor& y, at::Tensor& dx,
                            const BiasActParams& p);
void filtered_lrelu_cuda(const at::Tensor& in, const at::Tensor& b, const at::Tensor& fu,
                         const at::Tensor& fd, at::Tensor& mask, at::Tensor& out,
                         const FlreluPlan& plan);

}  // namespace kimg
