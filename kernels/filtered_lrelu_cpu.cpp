// CPU launcher of the fused filtered_lrelu: the steps of filtered_lrelu.h, plane after plane in a
// parallel loop over planes, each with plane-sized scratch of its own (so the activation's plane
// stays in cache between the steps).

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <vector>

#include "launchers.h"

namespace kimg {

void filtered_lrelu_cpu(const at::Tensor& in, const at::Tensor& b, const at::Tensor& fu,
                        const at::Tensor& fd, at::Tensor& mask, at::Tensor& out,
                        const FlreluPlan& plan) {
  const int64_t planes = in.size(0) * in.size(1);
  const int64_t channels = in.size(1);
  const int64_t in_plane = in.size(2) * in.size(3);
  const int64_t out_plane = out.size(2) * out.size(3);
  const int64_t mid_plane = plan.mid_h * plan.mid_w;
  AT_DISPATCH_FLOATING_TYPES(in.scalar_type(), "kimg_filtered_lrelu_cpu", [&] {
    const scalar_t* src = in.data_ptr<scalar_t>();
    const scalar_t* bias = b.defined() ? b.data_ptr<scalar_t>() : nullptr;
    const scalar_t* ku = fu.data_ptr<scalar_t>();
    const scalar_t* kd = fd.data_ptr<scalar_t>();
    uint8_t* codes = mask.data_ptr<uint8_t>();
    scalar_t* dst = out.data_ptr<scalar_t>();
    at::parallel_for(0, planes, 1, [&](int64_t begin, int64_t end) {
      std::vector<scalar_t> scratch(2 * plan.scratch);
      for (int64_t plane = begin; plane < end; ++plane) {
        const FlreluPlane<scalar_t, scalar_t> view{
            src + plane * in_plane,
            dst + plane * out_plane,
            scratch.data(),
            scratch.data() + plan.scratch,
            codes + plane * mid_plane,
            ku,
            kd,
            bias ? bias[plane % channels] : scalar_t(0)};
        for (int64_t s = 0; s < plan.count; ++s) {
          const FlreluStep& step = plan.steps[s];
          const int64_t n = flrelu_step_elements(plan, step);
          for (int64_t i = 0; i < n; ++i) {
            flrelu_step(plan, step, view, i);
          }
        }
      }
    });
  });
}

}  // namespace kimg
