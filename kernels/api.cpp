// The fused ops as differentiable functions, and the C interface kimg's Rust code calls.
//
// `BiasAct` computes `y` with a launcher and saves it; its backward is `BiasActGrad`, whose own
// backward applies the same linear map again, so a gradient of a gradient (R1, path length) flows
// to `dy`. As in the official CUDA path, the second derivative with respect to `x` and `b` of
// these piecewise-linear activations is not formed: those inputs get no gradient from it.
//
// `Upfirdn2d` and `Upfirdn2dAdjoint` are each other's backward.
//
// `FilteredLrelu` saves the mask of its activation (filtered_lrelu.h) and the kernels; its
// backward is `FilteredLreluGrad`, the same steps reversed. It has no double backward, on purpose:
// training only differentiates filtered_lrelu once (StyleGAN3's generator has no path-length
// regulariser, and its discriminator, where R1 takes a gradient of a gradient, has no
// filtered_lrelu), so `FilteredLreluGrad`'s own backward raises an error instead of giving a wrong
// or zero gradient.
//
// Tensors cross the C interface as `at::Tensor*` (what `tch::Tensor` wraps). Every entry point
// returns `nullptr` on success or an error message to free with `kimg_free_error`.

#include <algorithm>
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
    bias_act_backward_cuda(dyc, yc, dx, p);
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
      TORCH_CHECK(b.device() == x.device(), "bias_act: the bias is on another device than x");
      bc = b.to(x.scalar_type()).contiguous();
    }
    int64_t stride = 1;
    for (int64_t d = dim + 1; d < x.dim(); ++d) {
      stride *= x.size(d);
    }
    const BiasActParams p{act, alpha, gain, clamp};
    at::Tensor y = at::empty_like(xc);
    if (xc.is_cuda()) {
      bias_act_forward_cuda(xc, bc, y, stride, p);
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

// What an upfirdn2d is given: factors and paddings; the sizes follow from the tensors.
struct Upfirdn2dArgs {
  int64_t up_x, up_y, down_x, down_y, pad_x0, pad_x1, pad_y0, pad_y1;
};

const char* const kUpfirdn2dKeys[] = {"up_x",   "up_y",   "down_x", "down_y",
                                      "pad_x0", "pad_x1", "pad_y0", "pad_y1"};

void save_args(AutogradContext* ctx, const Upfirdn2dArgs& a) {
  const int64_t values[] = {a.up_x, a.up_y, a.down_x, a.down_y,
                            a.pad_x0, a.pad_x1, a.pad_y0, a.pad_y1};
  for (int i = 0; i < 8; ++i) {
    ctx->saved_data[kUpfirdn2dKeys[i]] = values[i];
  }
}

Upfirdn2dArgs args_of(AutogradContext* ctx) {
  int64_t v[8];
  for (int i = 0; i < 8; ++i) {
    v[i] = ctx->saved_data[kUpfirdn2dKeys[i]].toInt();
  }
  return Upfirdn2dArgs{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]};
}

// The geometry of upfirdn2d on an input of `in_h × in_w` with a `k_h × k_w` kernel.
Upfirdn2dParams geometry(const Upfirdn2dArgs& a, int64_t in_h, int64_t in_w, int64_t k_h,
                         int64_t k_w) {
  TORCH_CHECK(a.up_x >= 1 && a.up_y >= 1 && a.down_x >= 1 && a.down_y >= 1,
              "upfirdn2d: factors must be at least 1");
  const int64_t span_h = in_h * a.up_y + a.pad_y0 + a.pad_y1 - k_h;
  const int64_t span_w = in_w * a.up_x + a.pad_x0 + a.pad_x1 - k_w;
  TORCH_CHECK(span_h >= 0 && span_w >= 0, "upfirdn2d: the filter is larger than the signal");
  return Upfirdn2dParams{a.up_x,  a.up_y,  a.down_x, a.down_y,
                         a.pad_x0, a.pad_y0, in_h,    in_w,
                         span_h / a.down_y + 1, span_w / a.down_x + 1, k_h, k_w};
}

// The op (`adjoint = false`: `in` is x, the result has the output's size) or its adjoint
// (`in` is the output gradient, the result has the input's size), on contiguous tensors.
at::Tensor launch_upfirdn2d(const at::Tensor& in, const at::Tensor& k, const Upfirdn2dParams& p,
                            bool adjoint) {
  TORCH_CHECK(in.dim() == 4 && k.dim() == 2, "upfirdn2d: x must be [N, C, H, W], k [kh, kw]");
  const at::Tensor inc = in.contiguous();
  const at::ScalarType kernel_type =
      in.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  const at::Tensor kc = k.to(in.device(), kernel_type).contiguous();
  at::Tensor out = at::empty({in.size(0), in.size(1), adjoint ? p.in_h : p.out_h,
                              adjoint ? p.in_w : p.out_w},
                             inc.options());
  if (inc.is_cuda()) {
    upfirdn2d_cuda(inc, kc, out, p, adjoint);
  } else {
    upfirdn2d_cpu(inc, kc, out, p, adjoint);
  }
  return out;
}

struct Upfirdn2dAdjoint;

// upfirdn2d; its backward is the adjoint, whose backward is upfirdn2d again (both linear), so
// gradients of any order exist. The kernel gets no gradient, as in the reference.
struct Upfirdn2d : public Function<Upfirdn2d> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& k,
                            int64_t up_x, int64_t up_y, int64_t down_x, int64_t down_y,
                            int64_t pad_x0, int64_t pad_x1, int64_t pad_y0, int64_t pad_y1) {
    const Upfirdn2dArgs a{up_x, up_y, down_x, down_y, pad_x0, pad_x1, pad_y0, pad_y1};
    const Upfirdn2dParams p = geometry(a, x.size(2), x.size(3), k.size(0), k.size(1));
    save_args(ctx, a);
    ctx->saved_data["in_h"] = x.size(2);
    ctx->saved_data["in_w"] = x.size(3);
    ctx->save_for_backward({k});
    return launch_upfirdn2d(x, k, p, false);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads);
};

// The adjoint of upfirdn2d for an input of `in_h × in_w`.
struct Upfirdn2dAdjoint : public Function<Upfirdn2dAdjoint> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& dy, const at::Tensor& k,
                            int64_t up_x, int64_t up_y, int64_t down_x, int64_t down_y,
                            int64_t pad_x0, int64_t pad_x1, int64_t pad_y0, int64_t pad_y1,
                            int64_t in_h, int64_t in_w) {
    const Upfirdn2dArgs a{up_x, up_y, down_x, down_y, pad_x0, pad_x1, pad_y0, pad_y1};
    const Upfirdn2dParams p = geometry(a, in_h, in_w, k.size(0), k.size(1));
    TORCH_CHECK(dy.size(2) == p.out_h && dy.size(3) == p.out_w,
                "upfirdn2d: the gradient has the wrong size");
    save_args(ctx, a);
    ctx->save_for_backward({k});
    return launch_upfirdn2d(dy, k, p, true);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const at::Tensor k = ctx->get_saved_variables()[0];
    const Upfirdn2dArgs a = args_of(ctx);
    const at::Tensor d_dy = Upfirdn2d::apply(grads[0], k, a.up_x, a.up_y, a.down_x, a.down_y,
                                             a.pad_x0, a.pad_x1, a.pad_y0, a.pad_y1);
    variable_list out(13);
    out[0] = d_dy;
    return out;
  }
};

variable_list Upfirdn2d::backward(AutogradContext* ctx, variable_list grads) {
  const at::Tensor k = ctx->get_saved_variables()[0];
  const Upfirdn2dArgs a = args_of(ctx);
  const at::Tensor dx = Upfirdn2dAdjoint::apply(
      grads[0], k, a.up_x, a.up_y, a.down_x, a.down_y, a.pad_x0, a.pad_x1, a.pad_y0, a.pad_y1,
      ctx->saved_data["in_h"].toInt(), ctx->saved_data["in_w"].toInt());
  variable_list out(11);
  out[0] = dx;
  return out;
}

// What a filtered_lrelu is given besides the tensors (`clamp < 0`: none).
struct FlreluArgs {
  int64_t up, down, pad_x0, pad_x1, pad_y0, pad_y1;
  double gain, slope, clamp;
};

// Appends the FIR passes of the kernel `k` (`filter` 0: fu, 1: fd) to `plan`, reading `src` of
// `h × w` and writing `dst`: one pass for a 2-D kernel, along x then along y (through scratch 1)
// for a 1-D one. Updates `h`, `w` to the result's size.
void add_fir(FlreluPlan& plan, const at::Tensor& k, int64_t filter, const Upfirdn2dArgs& a,
             int64_t src, int64_t dst, bool bias, int64_t& h, int64_t& w) {
  TORCH_CHECK(k.dim() == 1 || k.dim() == 2, "filtered_lrelu: filters must be 1-D or 2-D");
  TORCH_CHECK(plan.count + 2 <= kFlreluMaxSteps, "filtered_lrelu: too many steps");
  if (k.dim() == 2) {
    const Upfirdn2dParams p = geometry(a, h, w, k.size(0), k.size(1));
    plan.steps[plan.count++] = FlreluStep{kFlreluFir, src, dst, filter, bias, p};
    h = p.out_h;
    w = p.out_w;
    return;
  }
  const Upfirdn2dArgs along_x{a.up_x, 1, a.down_x, 1, a.pad_x0, a.pad_x1, 0, 0};
  const Upfirdn2dParams px = geometry(along_x, h, w, 1, k.size(0));
  plan.steps[plan.count++] = FlreluStep{kFlreluFir, src, kFlreluScratch1, filter, bias, px};
  const Upfirdn2dArgs along_y{1, a.up_y, 1, a.down_y, 0, 0, a.pad_y0, a.pad_y1};
  const Upfirdn2dParams py = geometry(along_y, h, px.out_w, k.size(0), 1);
  plan.steps[plan.count++] = FlreluStep{kFlreluFir, kFlreluScratch1, dst, filter, false, py};
  h = py.out_h;
  w = py.out_w;
}

// The forward's steps for an input of `in_h × in_w` with the kernels `fu`, `fd`.
FlreluPlan forward_plan(const FlreluArgs& a, int64_t in_h, int64_t in_w, const at::Tensor& fu,
                        const at::Tensor& fd) {
  FlreluPlan plan{};
  plan.slope = a.slope;
  plan.gain = a.gain;
  plan.clamp = a.clamp;
  int64_t h = in_h;
  int64_t w = in_w;
  const Upfirdn2dArgs up{a.up, a.up, 1, 1, a.pad_x0, a.pad_x1, a.pad_y0, a.pad_y1};
  add_fir(plan, fu, 0, up, kFlreluInput, kFlreluScratch0, true, h, w);
  plan.mid_h = h;
  plan.mid_w = w;
  plan.steps[plan.count++] =
      FlreluStep{kFlreluActivate, kFlreluScratch0, kFlreluScratch0, 0, false, {}};
  const Upfirdn2dArgs down{1, 1, a.down, a.down, 0, 0, 0, 0};
  add_fir(plan, fd, 1, down, kFlreluScratch0, kFlreluOutput, false, h, w);
  for (int64_t s = 0; s < plan.count; ++s) {
    if (plan.steps[s].dst != kFlreluOutput) {
      plan.scratch = std::max(plan.scratch, flrelu_step_elements(plan, plan.steps[s]));
    }
  }
  return plan;
}

// The backward's steps: the forward's reversed, each pass by its adjoint (from its output to its
// input; the op's input and output trade places), the activation by its derivative.
FlreluPlan backward_plan(const FlreluPlan& forward) {
  const auto swap_ends = [](int64_t buffer) {
    return buffer == kFlreluInput ? kFlreluOutput
                                  : (buffer == kFlreluOutput ? kFlreluInput : buffer);
  };
  FlreluPlan plan = forward;
  for (int64_t s = 0; s < forward.count; ++s) {
    const FlreluStep& f = forward.steps[forward.count - 1 - s];
    FlreluStep& b = plan.steps[s];
    b = f;
    b.bias = false;
    if (f.kind == kFlreluActivate) {
      b.kind = kFlreluGradient;
    } else {
      b.kind = kFlreluFirAdjoint;
      b.src = swap_ends(f.dst);
      b.dst = swap_ends(f.src);
    }
  }
  return plan;
}

// The steps of `plan` on the device of `in`.
void launch_filtered_lrelu(const at::Tensor& in, const at::Tensor& b, const at::Tensor& fu,
                           const at::Tensor& fd, at::Tensor& mask, at::Tensor& out,
                           const FlreluPlan& plan) {
  if (in.is_cuda()) {
    filtered_lrelu_cuda(in, b, fu, fd, mask, out, plan);
  } else {
    filtered_lrelu_cpu(in, b, fu, fd, mask, out, plan);
  }
}

// `dx` from `dy` through the saved mask; a first derivative only (see the top of this file).
struct FilteredLreluGrad : public Function<FilteredLreluGrad> {
  static at::Tensor forward(AutogradContext*, const at::Tensor& dy, const at::Tensor& fu,
                            const at::Tensor& fd, const at::Tensor& mask, FlreluPlan plan,
                            int64_t in_h, int64_t in_w) {
    const at::Tensor dyc = dy.contiguous();
    const FlreluStep& last = plan.steps[plan.count - 1];
    TORCH_CHECK(dyc.size(2) == last.fir.out_h && dyc.size(3) == last.fir.out_w,
                "filtered_lrelu: the gradient has the wrong size");
    at::Tensor dx = at::empty({dyc.size(0), dyc.size(1), in_h, in_w}, dyc.options());
    at::Tensor codes = mask;
    launch_filtered_lrelu(dyc, at::Tensor(), fu, fd, codes, dx, backward_plan(plan));
    return dx;
  }

  [[noreturn]] static variable_list backward(AutogradContext*, variable_list) {
    TORCH_CHECK(false,
                "filtered_lrelu: a gradient of its gradient (double backward) was requested; the "
                "fused op forms first derivatives only (StyleGAN3's generator has no path-length "
                "regulariser and its discriminator no filtered_lrelu, so training needs none); "
                "use the reference ops for a second derivative");
    std::abort();
  }
};

// `filtered_lrelu(x, fu, fd, b)` with the correlation kernels `fu`, `fd` (flipped and scaled by the
// caller) and the bias `b [C]` (empty: none).
struct FilteredLrelu : public Function<FilteredLrelu> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& fu,
                            const at::Tensor& fd, const at::Tensor& b, FlreluArgs a) {
    TORCH_CHECK(x.dim() == 4, "filtered_lrelu: x must be [N, C, H, W]");
    const at::Tensor xc = x.contiguous();
    const at::ScalarType compute = xc.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
    const at::Tensor ku = fu.to(xc.device(), compute).contiguous();
    const at::Tensor kd = fd.to(xc.device(), compute).contiguous();
    const bool has_bias = b.numel() > 0;
    at::Tensor bc;
    if (has_bias) {
      TORCH_CHECK(b.dim() == 1 && b.numel() == x.size(1),
                  "filtered_lrelu: the bias must have x.size(1) = ", x.size(1), " entries");
      TORCH_CHECK(b.device() == x.device(), "filtered_lrelu: the bias is on another device than x");
      bc = b.to(x.scalar_type()).contiguous();
    }
    const FlreluPlan plan = forward_plan(a, xc.size(2), xc.size(3), ku, kd);
    const FlreluStep& last = plan.steps[plan.count - 1];
    at::Tensor mask = at::empty({xc.size(0), xc.size(1), plan.mid_h, plan.mid_w},
                                xc.options().dtype(at::kByte));
    at::Tensor out =
        at::empty({xc.size(0), xc.size(1), last.fir.out_h, last.fir.out_w}, xc.options());
    launch_filtered_lrelu(xc, bc, ku, kd, mask, out, plan);
    ctx->save_for_backward({ku, kd, mask});
    ctx->saved_data["ints"] =
        std::vector<int64_t>{a.up, a.down, a.pad_x0, a.pad_x1, a.pad_y0, a.pad_y1,
                             xc.size(2), xc.size(3)};
    ctx->saved_data["gain"] = a.gain;
    ctx->saved_data["slope"] = a.slope;
    ctx->saved_data["clamp"] = a.clamp;
    ctx->saved_data["has_bias"] = has_bias;
    ctx->saved_data["bias_dtype"] = b.scalar_type();
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const std::vector<int64_t> v = ctx->saved_data["ints"].toIntVector();
    const FlreluArgs a{v[0],
                       v[1],
                       v[2],
                       v[3],
                       v[4],
                       v[5],
                       ctx->saved_data["gain"].toDouble(),
                       ctx->saved_data["slope"].toDouble(),
                       ctx->saved_data["clamp"].toDouble()};
    const FlreluPlan plan = forward_plan(a, v[6], v[7], saved[0], saved[1]);
    const at::Tensor dx =
        FilteredLreluGrad::apply(grads[0], saved[0], saved[1], saved[2], plan, v[6], v[7]);
    at::Tensor db;
    if (ctx->saved_data["has_bias"].toBool()) {
      const at::ScalarType sum = dx.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
      db = dx.sum({0, 2, 3}, false, sum).to(ctx->saved_data["bias_dtype"].toScalarType());
    }
    return {dx, at::Tensor(), at::Tensor(), db, at::Tensor()};
  }
};

// Returned when the message itself cannot be allocated: never null (null means success), never
// freed by `kimg_free_error`.
char kOutOfMemory[] = "out of memory (and no memory left to copy the error message)";

char* error_message(const char* what) {
  const size_t n = std::strlen(what) + 1;
  char* copy = static_cast<char*>(std::malloc(n));
  if (copy == nullptr) {
    return kOutOfMemory;
  }
  std::memcpy(copy, what, n);
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

// `*out = upfirdn2d(x)` with the correlation kernel `k [kh, kw]` (flipped, scaled and expanded by
// the caller), with autograd; see Upfirdn2d.
char* kimg_upfirdn2d(at::Tensor** out, const at::Tensor* x, const at::Tensor* k, int64_t up_x,
                     int64_t up_y, int64_t down_x, int64_t down_y, int64_t pad_x0, int64_t pad_x1,
                     int64_t pad_y0, int64_t pad_y1) {
  try {
    *out = new at::Tensor(kimg::Upfirdn2d::apply(*x, *k, up_x, up_y, down_x, down_y, pad_x0,
                                                 pad_x1, pad_y0, pad_y1));
    return nullptr;
  } catch (const std::exception& e) {
    return kimg::error_message(e.what());
  }
}

// `*out = filtered_lrelu(x, fu, fd, b)` (`b` may be null) with a first-order autograd; see
// FilteredLrelu. `clamp < 0`: no clamp.
char* kimg_filtered_lrelu(at::Tensor** out, const at::Tensor* x, const at::Tensor* fu,
                          const at::Tensor* fd, const at::Tensor* b, int64_t up, int64_t down,
                          int64_t pad_x0, int64_t pad_x1, int64_t pad_y0, int64_t pad_y1,
                          double gain, double slope, double clamp) {
  try {
    const at::Tensor bias = b != nullptr ? *b : at::empty({0}, x->options());
    const kimg::FlreluArgs args{up, down, pad_x0, pad_x1, pad_y0, pad_y1, gain, slope, clamp};
    *out = new at::Tensor(kimg::FilteredLrelu::apply(*x, *fu, *fd, bias, args));
    return nullptr;
  } catch (const std::exception& e) {
    return kimg::error_message(e.what());
  }
}

// Free a message returned by an entry point.
void kimg_free_error(char* message) {
  if (message != kimg::kOutOfMemory) {
    std::free(message);
  }
}

// 1 when the CUDA launchers were compiled in, else 0.
int kimg_cuda_launchers() {
#ifdef KIMG_CUDA
  return 1;
#else
  return 0;
#endif
}

}  // extern "C"
