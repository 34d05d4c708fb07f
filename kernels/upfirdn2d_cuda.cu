// CUDA launcher of the fused upfirdn2d and its adjoint: the element functions of upfirdn2d.h in
// a grid-stride kernel over output elements, on PyTorch's current stream. Half precision
// accumulates in float.

#include <ATen/Dispatch.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>

#include "launchers.h"

namespace kimg {

namespace {

template <typename T>
using Accumulate = typename std::conditional<std::is_same<T, double>::value, double, float>::type;

constexpr int kThreads = 256;

template <typename T>
__global__ void upfirdn2d_kernel(const T* in, const Accumulate<T>* k, T* out, int64_t total,
                                 int64_t out_h, int64_t out_w, int64_t in_plane,
                                 Upfirdn2dParams p, bool adjoint) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(blockDim.x) * gridDim.x) {
    const int64_t x = i % out_w;
    const int64_t y = (i / out_w) % out_h;
    const int64_t plane = i / (out_w * out_h);
    const T* source = in + plane * in_plane;
    out[i] = T(adjoint ? upfirdn2d_adjoint<Accumulate<T>>(source, k, p, y, x)
                       : upfirdn2d_output<Accumulate<T>>(source, k, p, y, x));
  }
}

}  // namespace

void upfirdn2d_cuda(const at::Tensor& in, const at::Tensor& k, at::Tensor& out,
                    const Upfirdn2dParams& p, bool adjoint) {
  const int64_t total = out.numel();
  const int64_t in_plane = in.size(2) * in.size(3);
  const int64_t wanted = (total + kThreads - 1) / kThreads;
  const int64_t limit = int64_t(at::cuda::getCurrentDeviceProperties()->multiProcessorCount) * 32;
  const int64_t blocks = wanted < limit ? (wanted > 0 ? wanted : 1) : limit;
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND_HALF(in.scalar_type(), "kimg_upfirdn2d_cuda", [&] {
    upfirdn2d_kernel<scalar_t><<<blocks, kThreads, 0, stream>>>(
        in.data_ptr<scalar_t>(), k.data_ptr<Accumulate<scalar_t>>(), out.data_ptr<scalar_t>(),
        total, out.size(2), out.size(3), in_plane, p, adjoint);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace kimg
