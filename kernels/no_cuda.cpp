// The CUDA launchers' stand-ins when kimg is built without them (no cargo feature `cuda`): a CUDA
// tensor reaching a fused op gets an error that says so. (kimg only calls the fused ops on CUDA
// when `kimg_cuda_launchers()` says they are there.)
#ifndef KIMG_CUDA

#include <cstdlib>

#include "launchers.h"

namespace kimg {

namespace {

[[noreturn]] void missing() {
  TORCH_CHECK(false, "kimg was built without the CUDA launchers (cargo feature `cuda`)");
  std::abort();
}

}  // namespace

void upfirdn2d_cuda(const at::Tensor&, const at::Tensor&, at::Tensor&, const Upfirdn2dParams&,
                    bool) {
  missing();
}

void bias_act_forward_cuda(const at::Tensor&, const at::Tensor&, at::Tensor&, int64_t,
                           const BiasActParams&) {
  missing();
}

void bias_act_backward_cuda(const at::Tensor&, const at::Tensor&, at::Tensor&,
                            const BiasActParams&) {
  missing();
}

void filtered_lrelu_cuda(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                         const at::Tensor&, at::Tensor&, at::Tensor&, const FlreluPlan&) {
  missing();
}

}  // namespace kimg

#endif
