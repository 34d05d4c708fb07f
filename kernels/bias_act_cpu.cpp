// CPU launcher of the fused bias_act: the element functions of bias_act.h in a parallel loop.

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>

#include "launchers.h"

namespace kimg {

namespace {
constexpr int64_t kGrain = 1 << 14;
}

void bias_act_forward_cpu(const at::Tensor& x, const at::Tensor& b, at::Tensor& y,
                          int64_t stride, const BiasActParams& p) {
  const int64_t n = x.numel();
  const int64_t channels = b.defined() ? b.numel() : 1;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "kimg_bias_act_forward_cpu", [&] {
    const scalar_t* xs = x.data_ptr<scalar_t>();
    const scalar_t* bs = b.defined() ? b.data_ptr<scalar_t>() : nullptr;
    scalar_t* ys = y.data_ptr<scalar_t>();
    // Runs of `stride` elements share one bias entry.
    const int64_t runs = n / stride;
    at::parallel_for(0, runs, std::max<int64_t>(1, kGrain / stride), [&](int64_t begin, int64_t end) {
      for (int64_t run = begin; run < end; ++run) {
        const scalar_t bias = bs ? bs[run % channels] : scalar_t(0);
        const int64_t first = run * stride;
        for (int64_t i = first; i < first + stride; ++i) {
          ys[i] = bias_act_forward<scalar_t>(xs[i], bias, p);
        }
      }
    });
  });
}

void bias_act_backward_cpu(const at::Tensor& dy, const at::Tensor& y, at::Tensor& dx,
                           const BiasActParams& p) {
  const int64_t n = dy.numel();
  AT_DISPATCH_FLOATING_TYPES(dy.scalar_type(), "kimg_bias_act_backward_cpu", [&] {
    const scalar_t* dys = dy.data_ptr<scalar_t>();
    const scalar_t* ys = y.data_ptr<scalar_t>();
    scalar_t* dxs = dx.data_ptr<scalar_t>();
    at::parallel_for(0, n, kGrain, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        dxs[i] = bias_act_backward<scalar_t>(dys[i], ys[i], p);
      }
    });
  });
}

}  // namespace kimg
