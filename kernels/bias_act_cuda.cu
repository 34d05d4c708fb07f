// CUDA launcher of the fused bias_act: the element functions of bias_act.h in a grid-stride
// kernel on PyTorch's current stream. Half precision computes in float.

#include <ATen/Dispatch.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>

#include "launchers.h"

namespace kimg {

namespace {

template <typename T>
using Compute = typename std::conditional<std::is_same<T, double>::value, double, float>::type;

constexpr int kThreads = 256;

int64_t blocks_for(int64_t n) {
  const int64_t wanted = (n + kThreads - 1) / kThreads;
  const int64_t limit = int64_t(at::cuda::getCurrentDeviceProperties()->multiProcessorCount) * 32;
  return wanted < limit ? (wanted > 0 ? wanted : 1) : limit;
}

template <typename T>
__global__ void forward_kernel(const T* x, const T* b, T* y, int64_t n, int64_t stride,
                               int64_t channels, BiasActParams p) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(blockDim.x) * gridDim.x) {
    const Compute<T> bias = b ? Compute<T>(b[bias_index(i, stride, channels)]) : Compute<T>(0);
    y[i] = T(bias_act_forward<Compute<T>>(Compute<T>(x[i]), bias, p));
  }
}

template <typename T>
__global__ void backward_kernel(const T* dy, const T* y, T* dx, int64_t n, BiasActParams p) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(blockDim.x) * gridDim.x) {
    dx[i] = T(bias_act_backward<Compute<T>>(Compute<T>(dy[i]), Compute<T>(y[i]), p));
  }
}

}  // namespace

void bias_act_forward_cuda(const at::Tensor& x, const at::Tensor& b, at::Tensor& y,
                           int64_t stride, const BiasActParams& p) {
  const int64_t n = x.numel();
  const int64_t channels = b.defined() ? b.numel() : 1;
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND_HALF(x.scalar_type(), "kimg_bias_act_forward_cuda", [&] {
    const scalar_t* bs = b.defined() ? b.data_ptr<scalar_t>() : nullptr;
    forward_kernel<scalar_t><<<blocks_for(n), kThreads, 0, stream>>>(
        x.data_ptr<scalar_t>(), bs, y.data_ptr<scalar_t>(), n, stride, channels, p);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

void bias_act_backward_cuda(const at::Tensor& dy, const at::Tensor& y, at::Tensor& dx,
                            const BiasActParams& p) {
  const int64_t n = dy.numel();
  const cudaStream_t stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND_HALF(dy.scalar_type(), "kimg_bias_act_backward_cuda", [&] {
    backward_kernel<scalar_t><<<blocks_for(n), kThreads, 0, stream>>>(
        dy.data_ptr<scalar_t>(), y.data_ptr<scalar_t>(), dx.data_ptr<scalar_t>(), n, p);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace kimg
