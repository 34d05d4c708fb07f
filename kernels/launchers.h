// The launchers of the fused ops, for contiguous tensors: `y = bias_act(x, b)` and
// `dx = bias_act_grad(dy, y)` element by element (see bias_act.h). `b` may be undefined.
#pragma once

#include <ATen/ATen.h>

#include "bias_act.h"

namespace kimg {

void bias_act_forward_cpu(const at::Tensor& x, const at::Tensor& b, at::Tensor& y,
                          int64_t stride, const BiasActParams& p);
void bias_act_backward_cpu(const at::Tensor& dy, const at::Tensor& y, at::Tensor& dx,
                           const BiasActParams& p);

#ifdef KIMG_CUDA
void bias_act_forward_cuda(const at::Tensor& x, const at::Tensor& b, at::Tensor& y,
                           int64_t stride, const BiasActParams& p);
void bias_act_backward_cuda(const at::Tensor& dy, const at::Tensor& y, at::Tensor& dx,
                            const BiasActParams& p);
#endif

}  // namespace kimg
