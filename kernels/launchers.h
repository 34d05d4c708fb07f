// The launchers of the fused ops, for contiguous tensors: `y = bias_act(x, b)` and
// `dx = bias_act_grad(dy, y)` element by element (see bias_act.h; `b` may be undefined), and
// upfirdn2d and its adjoint on `[N, C, H, W]` tensors with a `[k_h, k_w]` kernel (upfirdn2d.h).
#pragma once

#include <ATen/ATen.h>

#include "bias_act.h"
#include "upfirdn2d.h"

namespace kimg {

void bias_act_forward_cpu(const at::Tensor& x, const at::Tensor& b, at::Tensor& y,
                          int64_t stride, const BiasActParams& p);
void bias_act_backward_cpu(const at::Tensor& dy, const at::Tensor& y, at::Tensor& dx,
                           const BiasActParams& p);

// `adjoint` selects the adjoint (input gradient) instead of the op; `out` has the result's shape.
void upfirdn2d_cpu(const at::Tensor& in, const at::Tensor& k, at::Tensor& out,
                   const Upfirdn2dParams& p, bool adjoint);

// The CUDA launchers (`*_cuda.cu`, cargo feature `cuda`); without it, `no_cuda.cpp` defines them
// as errors, so callers dispatch on the device alone.
void upfirdn2d_cuda(const at::Tensor& in, const at::Tensor& k, at::Tensor& out,
                    const Upfirdn2dParams& p, bool adjoint);
void bias_act_forward_cuda(const at::Tensor& x, const at::Tensor& b, at::Tensor& y,
                           int64_t stride, const BiasActParams& p);
void bias_act_backward_cuda(const at::Tensor& dy, const at::Tensor& y, at::Tensor& dx,
                            const BiasActParams& p);

}  // namespace kimg
