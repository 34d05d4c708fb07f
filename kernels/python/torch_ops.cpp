// The fused ops as PyTorch operators `torch.ops.kimg.*`, for `scripts/gpu-kernel-check.py`, which
// compiles this file with the kernels (`scripts/kernel_ext.py`); build.rs does not (it compiles only
// the files directly in kernels/). The operators call the same C interface as kimg's Rust code
// (`api.cpp`, `src/ops/fused.rs`), so the script checks and times exactly what kimg runs. Being
// plain `TORCH_LIBRARY` registrations they need neither pybind11 nor Python's headers; autograd
// comes from the custom functions behind the C interface.

#include <string>

#include <torch/library.h>

extern "C" {
char* kimg_bias_act(at::Tensor** out, const at::Tensor* x, const at::Tensor* b, int64_t dim,
                    int64_t act, double alpha, double gain, double clamp);
char* kimg_upfirdn2d(at::Tensor** out, const at::Tensor* x, const at::Tensor* k, int64_t up_x,
                     int64_t up_y, int64_t down_x, int64_t down_y, int64_t pad_x0, int64_t pad_x1,
                     int64_t pad_y0, int64_t pad_y1);
char* kimg_filtered_lrelu(at::Tensor** out, const at::Tensor* x, const at::Tensor* fu,
                          const at::Tensor* fd, const at::Tensor* b, int64_t up, int64_t down,
                          int64_t pad_x0, int64_t pad_x1, int64_t pad_y0, int64_t pad_y1,
                          double gain, double slope, double clamp);
void kimg_free_error(char* message);
int kimg_cuda_launchers();
}

namespace {

// The tensor an entry point wrote, or its error message raised as a Python RuntimeError.
at::Tensor take(at::Tensor* out, char* error) {
  if (error != nullptr) {
    const std::string message(error);
    kimg_free_error(error);
    TORCH_CHECK(false, message);
  }
  at::Tensor result = std::move(*out);
  delete out;
  return result;
}

at::Tensor bias_act(const at::Tensor& x, const std::optional<at::Tensor>& b, int64_t dim,
                    int64_t act, double alpha, double gain, double clamp) {
  at::Tensor* out = nullptr;
  char* error = kimg_bias_act(&out, &x, b.has_value() ? &*b : nullptr, dim, act, alpha, gain, clamp);
  return take(out, error);
}

at::Tensor upfirdn2d(const at::Tensor& x, const at::Tensor& k, int64_t up_x, int64_t up_y,
                     int64_t down_x, int64_t down_y, int64_t pad_x0, int64_t pad_x1,
                     int64_t pad_y0, int64_t pad_y1) {
  at::Tensor* out = nullptr;
  char* error =
      kimg_upfirdn2d(&out, &x, &k, up_x, up_y, down_x, down_y, pad_x0, pad_x1, pad_y0, pad_y1);
  return take(out, error);
}

at::Tensor filtered_lrelu(const at::Tensor& x, const at::Tensor& fu, const at::Tensor& fd,
                          const std::optional<at::Tensor>& b, int64_t up, int64_t down,
                          int64_t pad_x0, int64_t pad_x1, int64_t pad_y0, int64_t pad_y1,
                          double gain, double slope, double clamp) {
  at::Tensor* out = nullptr;
  char* error = kimg_filtered_lrelu(&out, &x, &fu, &fd, b.has_value() ? &*b : nullptr, up, down,
                                    pad_x0, pad_x1, pad_y0, pad_y1, gain, slope, clamp);
  return take(out, error);
}

bool cuda_launchers() { return kimg_cuda_launchers() != 0; }

}  // namespace

TORCH_LIBRARY(kimg, m) {
  m.def("bias_act(Tensor x, Tensor? b, int dim, int act, float alpha, float gain, float clamp)"
        " -> Tensor",
        &bias_act);
  m.def("upfirdn2d(Tensor x, Tensor k, int up_x, int up_y, int down_x, int down_y, int pad_x0,"
        " int pad_x1, int pad_y0, int pad_y1) -> Tensor",
        &upfirdn2d);
  m.def("filtered_lrelu(Tensor x, Tensor fu, Tensor fd, Tensor? b, int up, int down, int pad_x0,"
        " int pad_x1, int pad_y0, int pad_y1, float gain, float slope, float clamp) -> Tensor",
        &filtered_lrelu);
  m.def("cuda_launchers() -> bool", &cuda_launchers);
}
