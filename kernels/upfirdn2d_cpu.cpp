// CPU launcher of the fused upfirdn2d and its adjoint: the element functions of upfirdn2d.h in a
// parallel loop over output elements.

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include "launchers.h"

namespace kimg {

void upfirdn2d_cpu(const at::Tensor& in, const at::Tensor& k, at::Tensor& out,
                   const Upfirdn2dParams& p, bool adjoint) {
  const int64_t planes = out.size(0) * out.size(1);
  const int64_t out_h = out.size(2);
  const int64_t out_w = out.size(3);
  const int64_t in_plane = in.size(2) * in.size(3);
  AT_DISPATCH_FLOATING_TYPES(in.scalar_type(), "kimg_upfirdn2d_cpu", [&] {
    const scalar_t* src = in.data_ptr<scalar_t>();
    const scalar_t* kernel = k.data_ptr<scalar_t>();
    scalar_t* dst = out.data_ptr<scalar_t>();
    at::parallel_for(0, planes * out_h, 1, [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const int64_t plane = row / out_h;
        const int64_t y = row % out_h;
        const scalar_t* source = src + plane * in_plane;
        scalar_t* target = dst + row * out_w;
        for (int64_t x = 0; x < out_w; ++x) {
          target[x] = adjoint ? upfirdn2d_adjoint<scalar_t>(source, kernel, p, y, x)
                              : upfirdn2d_output<scalar_t>(source, kernel, p, y, x);
        }
      }
    });
  });
}

}  // namespace kimg
