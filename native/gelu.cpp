#include "gelu.h"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>

#include "vec8.h"

namespace torch_rlhf {

namespace {

using namespace vec;

// z = 2u = x·(c1 + c2·x²); dz/dx = c1 + 3·c2·x².
constexpr double kC1 = 2 * 0.79788456080286535588;  // 2·√(2/π)
constexpr double kC2 = kC1 * 0.044715;
constexpr int64_t kGrain = 32768;  // elements per task when libtorch runs several threads

template <typename T>
TRL_INLINE T sigmoidOf(T z) {
  return T(1) / (T(1) + std::exp(-z));
}

template <typename T>
void forwardScalar(const T* x, T* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const T v = x[i];
    y[i] = v * sigmoidOf(v * (T(kC1) + T(kC2) * v * v));
  }
}

template <typename T>
void backwardScalar(const T* g, const T* x, T* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const T v = x[i], v2 = v * v;
    const T s = sigmoidOf(v * (T(kC1) + T(kC2) * v2));
    dx[i] = g[i] * (s + v * s * (T(1) - s) * (T(kC1) + T(3 * kC2) * v2));
  }
}

TRL_VECTOR_CLONES void forwardFloat(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const Vec8 v = load8(x + i);
    const Vec8 s = 1.0f / (1.0f + exp8(-(v * (float(kC1) + float(kC2) * v * v))));
    store8(y + i, v * s);
  }
  forwardScalar(x + i, y + i, n - i);
}

TRL_VECTOR_CLONES void backwardFloat(const float* g, const float* x, float* dx, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const Vec8 v = load8(x + i), v2 = v * v;
    const Vec8 s = 1.0f / (1.0f + exp8(-(v * (float(kC1) + float(kC2) * v2))));
    store8(dx + i, load8(g + i) * (s + v * s * (1.0f - s) * (float(kC1) + float(3 * kC2) * v2)));
  }
  backwardScalar(g + i, x + i, dx + i, n - i);
}

// One entry per dtype: the vector kernels for float32, the scalar loops for float64.
void forwardKernel(const float* x, float* y, int64_t n) { forwardFloat(x, y, n); }
void forwardKernel(const double* x, double* y, int64_t n) { forwardScalar(x, y, n); }
void backwardKernel(const float* g, const float* x, float* dx, int64_t n) { backwardFloat(g, x, dx, n); }
void backwardKernel(const double* g, const double* x, double* dx, int64_t n) { backwardScalar(g, x, dx, n); }

bool hasKernel(const at::Tensor& x) { return x.device().is_cpu() && (x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble); }

struct GeluTanhFunction : public torch::autograd::Function<GeluTanhFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x) {
    const auto xc = x.contiguous();
    ctx->save_for_backward({xc});
    return geluTanhForward(xc);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    const auto x = ctx->get_saved_variables()[0];
    // With create_graph the gradient must itself be differentiable: libtorch's op is.
    if (at::GradMode::is_enabled()) return {at::gelu_backward(grads[0], x, "tanh")};
    return {geluTanhBackward(grads[0], x)};
  }
};

}  // namespace

at::Tensor geluTanhForward(const at::Tensor& x) {
  TORCH_CHECK(hasKernel(x), "geluTanhForward: expected a CPU float32 or float64 tensor, got ", x.scalar_type(), " on ", x.device());
  const auto xc = x.contiguous();
  auto y = at::empty_like(xc);
  AT_DISPATCH_FLOATING_TYPES(xc.scalar_type(), "geluTanhForward", [&] {
    const scalar_t* in = xc.data_ptr<scalar_t>();
    scalar_t* out = y.data_ptr<scalar_t>();
    at::parallel_for(0, xc.numel(), kGrain, [&](int64_t begin, int64_t end) { forwardKernel(in + begin, out + begin, end - begin); });
  });
  return y;
}

at::Tensor geluTanhBackward(const at::Tensor& grad, const at::Tensor& x) {
  TORCH_CHECK(hasKernel(x) && grad.scalar_type() == x.scalar_type() && grad.device() == x.device() && grad.sizes() == x.sizes(),
              "geluTanhBackward: expected CPU float32 or float64 tensors of one shape and dtype");
  const auto xc = x.contiguous(), gc = grad.contiguous();
  auto dx = at::empty_like(xc);
  AT_DISPATCH_FLOATING_TYPES(xc.scalar_type(), "geluTanhBackward", [&] {
    const scalar_t* in = xc.data_ptr<scalar_t>();
    const scalar_t* g = gc.data_ptr<scalar_t>();
    scalar_t* out = dx.data_ptr<scalar_t>();
    at::parallel_for(0, xc.numel(), kGrain,
                     [&](int64_t begin, int64_t end) { backwardKernel(g + begin, in + begin, out + begin, end - begin); });
  });
  return dx;
}

at::Tensor geluTanh(const at::Tensor& x) {
  if (!hasKernel(x)) return at::gelu(x, "tanh");
  if (at::GradMode::is_enabled() && x.requires_grad()) return GeluTanhFunction::apply(x);
  return geluTanhForward(x);
}

}  // namespace torch_rlhf
