// The fused ops as differentiable functions, and the C interface kimg's Rust code calls.
//
// `BiasAct` computes `y` with a launcher and saves it; its backward is `BiasActGrad`, whose own
// backward applies the same linear map again, so a gradient of a gradient (R1, path length) flows
// to `dy`. As in the official CUDA path, the second derivative with respect to `x` and `b` of
// these piecewise-linear activations is not formed: those inputs get no gradient from it.
//
// Tensors cross the C interface as `at::Tensor*` (what `tch::Tensor` wraps). Every entry point
// returns `nullptr` on success or an error message to free with `kimg_free_error`.

#include <cstdlib>
#include <cstring>
#include <exception>

#include <torch/csrc/autograd/custom_function.h>

#include "launchers.h"

namespace kimg {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::Function;
using torch::autograd::variable_list;

BiasActParams params_of(AutogradContext* ctx) {
  return BiasActParams{ctx->saved_data["act"].toInt(), ctx->saved_data["alpha"].toDouble(),
                       ctx->saved_data["gain"].toDouble(), ctx->saved_data["clamp"].toDouble()};
}

void save_params(AutogradContext* ctx, const BiasActParams& p) {
  ctx->saved_data["act"] = p.act;
  ctx->saved_data["alpha"] = p.alpha;
  ctx->saved_data["gain"] = p.gain;
  ctx->saved_data["clamp"] = p.clamp;
}

// `dx = bias_act_backward(dy, y)` on contiguous tensors.
at::Tensor launch_backward(const at::Tensor& dy, const at::Tensor& y, const BiasActParams& p) {
  const at::Tensor dyc = dy.contiguous();
  const at::Tensor yc = y.contiguous();
  at::Tensor dx = at::empty_like(dyc);
  if (dyc.is_cuda()) {
#ifdef KIMG_CUDA
    bias_act_backward_cuda(dyc, yc, dx, p);
#else
    TORCH_CHECK(false, "kimg was built without the CUDA launchers (cargo feature `cuda`)");
#endif
  } else {
    bias_act_backward_cpu(dyc, yc, dx, p);
  }
  return dx;
}

struct BiasActGrad : public Function<BiasActGrad> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& dy, const at::Tensor& y,
                            int64_t act, double alpha, double gain, double clamp) {
    const BiasActParams p{act, alpha, gain, clamp};
    save_params(ctx, p);
    ctx->save_for_backward({y});
    return launch_backward(dy, y, p);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const at::Tensor y = ctx->get_saved_variables()[0];
    const BiasActParams p = params_of(ctx);
    const at::Tensor d_dy =
        BiasActGrad::apply(grads[0], y, p.act, p.alpha, p.gain, p.clamp);
    return {d_dy, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

struct BiasAct : public Function<BiasAct> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& b,
                            int64_t dim, int64_t act, double alpha, double gain, double clamp) {
    TORCH_CHECK(dim >= 0 && dim < x.dim(), "bias_act: dim ", dim, " out of range");
    const at::Tensor xc = x.contiguous();
    at::Tensor bc;
    const bool has_bias = b.numel() > 0;
    if (has_bias) {
      TORCH_CHECK(b.dim() == 1 && b.numel() == x.size(dim),
                  "bias_act: the bias must have x.size(dim) = ", x.size(dim), " entries");
      bc = b.to(x.scalar_type()).contiguous();
    }
    int64_t stride = 1;
    for (int64_t d = dim + 1; d < x.dim(); ++d) {
      stride *= x.size(d);
    }
    const BiasActParams p{act, alpha, gain, clamp};
    at::Tensor y = at::empty_like(xc);
    if (xc.is_cuda()) {
#ifdef KIMG_CUDA
      bias_act_forward_cuda(xc, bc, y, stride, p);
#else
      TORCH_CHECK(false, "kimg was built without the CUDA launchers (cargo feature `cuda`)");
#endif
    } else {
      bias_act_forward_cpu(xc, bc, y, stride, p);
    }
    save_params(ctx, p);
    ctx->saved_data["dim"] = dim;
    ctx->saved_data["bias_dtype"] = b.scalar_type();
    ctx->saved_data["has_bias"] = has_bias;
    ctx->save_for_backward({y});
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const at::Tensor y = ctx->get_saved_variables()[0];
    const BiasActParams p = params_of(ctx);
    const at::Tensor dx = BiasActGrad::apply(grads[0], y, p.act, p.alpha, p.gain, p.clamp);
    at::Tensor db;
    if (ctx->saved_data["has_bias"].toBool()) {
      const int64_t dim = ctx->saved_data["dim"].toInt();
      std::vector<int64_t> others;
      for (int64_t d = 0; d < dx.dim(); ++d) {
        if (d != dim) {
          others.push_back(d);
        }
      }
      db = dx.sum(others).to(ctx->saved_data["bias_dtype"].toScalarType());
    }
    return {dx, db, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

char* error_message(const char* what) {
  const size_t n = std::strlen(what) + 1;
  char* copy = static_cast<char*>(std::malloc(n));
  if (copy != nullptr) {
    std::memcpy(copy, what, n);
  }
  return copy;
}

}  // namespace
}  // namespace kimg

extern "C" {

// `*out = bias_act(x, b)` (`b` may be null) with autograd; see BiasAct.
char* kimg_bias_act(at::Tensor** out, const at::Tensor* x, const at::Tensor* b, int64_t dim,
                    int64_t act, double alpha, double gain, double clamp) {
  try {
    // No bias is an empty one: custom functions take no undefined tensors.
    const at::Tensor bias = b != nullptr ? *b : at::empty({0}, x->options());
    *out = new at::Tensor(kimg::BiasAct::apply(*x, bias, dim, act, alpha, gain, clamp));
    return nullptr;
  } catch (const std::exception& e) {
    return kimg::error_message(e.what());
  }
}

// Free a message returned by an entry point.
void kimg_free_error(char* message) { std::free(message); }

// 1 when the CUDA launchers were compiled in, else 0.
int kimg_cuda_launchers() {
#ifdef KIMG_CUDA
  return 1;
#else
  return 0;
#endif
}

}  // extern "C"
