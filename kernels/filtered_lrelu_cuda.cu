// CUDA launcher of the fused filtered_lrelu: the steps of filtered_lrelu.h, one grid-stride kernel
// per step over every plane, with whole-tensor scratch in global memory, on PyTorch's current
// stream. Half precision computes (and keeps its scratch) in float.

#include <ATen/Dispatch.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>

#include "launchers.h"

namespace kimg {

namespace {

template <typename T>
using Compute = typename std::conditional<std::is_same<T, double>::value, double, float>::type;

constexpr int kThreads = 256;

// Where plane `plane`'s data lie in the whole tensors.
struct Strides {
  int64_t in, out, scratch, mask, channels;
};

template <typename T>
__global__ void step_kernel(FlreluPlan plan, int64_t step, int64_t total, const T* in,
                            const T* bias, const Compute<T>* fu, const Compute<T>* fd,
                            Compute<T>* scratch0, Compute<T>* scratch1, uint8_t* mask, T* out,
                            Strides strides) {
  const FlreluStep& s = plan.steps[step];
  const int64_t n = flrelu_step_elements(plan, s);
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(blockDim.x) * gridDim.x) {
    const int64_t plane = i / n;
    const FlreluPlane<T, Compute<T>> view{
        in + plane * strides.in,
        out + plane * strides.out,
        scratch0 + plane * strides.scratch,
        scratch1 + plane * strides.scratch,
        mask + plane * strides.mask,
        fu,
        fd,
        bias ? Compute<T>(bias[plane % strides.channels]) : Compute<T>(0)};
    flrelu_step(plan, s, view, i % n);
  }
}

}  // namespace

void filtered_lrelu_cuda(const at::Tensor& in, const at::Tensor& b, const at::Tensor& fu,
                         const at::Tensor& fd, at::Tensor& mask, at::Tensor& out,
                         const FlreluPlan& plan) {
  const int64_t planes = in.size(0) * in.size(1);
  const Strides strides{in.size(2) * in.size(3), out.size(2) * out.size(3), plan.scratch,
                        plan.mid_h * plan.mid_w, in.size(1)};
  const at::Tensor scratch =
      at::empty({2, planes, plan.scratch}, fu.options());  // fu has the compute type
  const int64_t limit = int64_t(at::cuda::getCurrentDeviceProperties()->multiProcessorCount) * 32;
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND_HALF(in.scalar_type(), "kimg_filtered_lrelu_cuda", [&] {
    using A = Compute<scalar_t>;
    A* s0 = scratch.data_ptr<A>();
    A* s1 = s0 + planes * plan.scratch;
    const scalar_t* bias = b.defined() ? b.data_ptr<scalar_t>() : nullptr;
    for (int64_t s = 0; s < plan.count; ++s) {
      const int64_t total = planes * flrelu_step_elements(plan, plan.steps[s]);
      const int64_t wanted = (total + kThreads - 1) / kThreads;
      const int64_t blocks = wanted < limit ? (wanted > 0 ? wanted : 1) : limit;
      step_kernel<scalar_t><<<blocks, kThreads, 0, stream>>>(
          plan, s, total, in.data_ptr<scalar_t>(), bias, fu.data_ptr<A>(), fd.data_ptr<A>(), s0,
          s1, mask.data_ptr<uint8_t>(), out.data_ptr<scalar_t>(), strides);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    }
  });
}

}  // namespace kimg
