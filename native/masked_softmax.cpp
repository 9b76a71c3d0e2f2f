#include "masked_softmax.h"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <limits>

#include "vec8.h"

namespace trl {

namespace {

using namespace vec;

// Where a row's mask lives: the mask expanded to x's shape keeps its own strides (0 along
// broadcast dimensions), so row r's offset comes from r's index in x's leading dimensions.
struct MaskRows {
  const bool* data = nullptr;     // null: keep everything
  std::vector<int64_t> sizes;     // x's leading sizes
  std::vector<int64_t> strides;   // the expanded mask's strides along them
  int64_t last_stride = 1;        // along the softmax dimension (0 or 1 after expand)

  const bool* row(int64_t r) const {
    int64_t off = 0;
    for (int64_t d = static_cast<int64_t>(sizes.size()) - 1; d >= 0; --d) {
      off += (r % sizes[d]) * strides[d];
      r /= sizes[d];
    }
    return data + off;
  }
};

template <typename T>
void forwardRowScalar(const T* x, const bool* keep, int64_t ks, int64_t S, T scale, T* y) {
  T m = -std::numeric_limits<T>::infinity();
  for (int64_t i = 0; i < S; ++i)
    if (!keep || keep[i * ks]) m = std::max(m, scale * x[i]);
  T sum = 0;
  for (int64_t i = 0; i < S; ++i) {
    y[i] = (!keep || keep[i * ks]) ? std::exp(scale * x[i] - m) : T(0);
    sum += y[i];
  }
  const T inv = T(1) / sum;
  for (int64_t i = 0; i < S; ++i) y[i] *= inv;
}

// keep as 8 lanes of all-ones / zero (contiguous mask bytes).
TRL_INLINE Int8 keep8(const bool* k) {
  typedef uint8_t Bytes8 __attribute__((vector_size(8)));
  Bytes8 b;
  __builtin_memcpy(&b, k, 8);
  return __builtin_convertvector(b, Int8) != 0;
}

TRL_VECTOR_CLONES void forwardRowsFloat(const float* x, const MaskRows& mask, int64_t S, float scale, float* y,
                                        int64_t begin, int64_t end) {
  const float neg_inf = -std::numeric_limits<float>::infinity();
  for (int64_t r = begin; r < end; ++r) {
    const float* xr = x + r * S;
    float* yr = y + r * S;
    const bool* kr = mask.data ? mask.row(r) : nullptr;
    if (kr && mask.last_stride != 1) {  // a mask constant along the row: rare, keep it simple
      forwardRowScalar(xr, kr, mask.last_stride, S, scale, yr);
      continue;
    }
    Vec8 vmax = Vec8{} + neg_inf;
    int64_t i = 0;
    for (; i + 8 <= S; i += 8) {
      Vec8 z = load8(xr + i) * scale;
      if (kr) z = keep8(kr + i) ? z : neg_inf;
      vmax = z > vmax ? z : vmax;
    }
    float m = neg_inf;
    for (int j = 0; j < 8; ++j) m = std::max(m, vmax[j]);
    for (int64_t t = i; t < S; ++t)
      if (!kr || kr[t]) m = std::max(m, scale * xr[t]);
    Vec8 vsum = {};
    for (i = 0; i + 8 <= S; i += 8) {
      Vec8 e = exp8(load8(xr + i) * scale - m);
      if (kr) e = keep8(kr + i) ? e : 0.0f;
      store8(yr + i, e);
      vsum += e;
    }
    float sum = sum8(vsum);
    for (; i < S; ++i) {
      yr[i] = (!kr || kr[i]) ? std::exp(scale * xr[i] - m) : 0.0f;
      sum += yr[i];
    }
    const float inv = 1.0f / sum;  // nothing kept: m = −inf, sum = 0 → NaN, as the composition
    for (i = 0; i + 8 <= S; i += 8) store8(yr + i, load8(yr + i) * inv);
    for (; i < S; ++i) yr[i] *= inv;
  }
}

// dx = scale · y ⊙ (g − Σ g⊙y) per row (masked positions have y = 0, so dx = 0 there).
template <typename T>
void backwardRowsScalar(const T* g, const T* y, int64_t S, T scale, T* dx, int64_t begin, int64_t end) {
  for (int64_t r = begin; r < end; ++r) {
    const T *gr = g + r * S, *yr = y + r * S;
    T dot = 0;
    for (int64_t i = 0; i < S; ++i) dot += gr[i] * yr[i];
    for (int64_t i = 0; i < S; ++i) dx[r * S + i] = scale * yr[i] * (gr[i] - dot);
  }
}

TRL_VECTOR_CLONES void backwardRowsFloat(const float* g, const float* y, int64_t S, float scale, float* dx,
                                         int64_t begin, int64_t end) {
  for (int64_t r = begin; r < end; ++r) {
    const float *gr = g + r * S, *yr = y + r * S;
    float* dr = dx + r * S;
    Vec8 acc = {};
    int64_t i = 0;
    for (; i + 8 <= S; i += 8) acc += load8(gr + i) * load8(yr + i);
    float dot = sum8(acc);
    for (; i < S; ++i) dot += gr[i] * yr[i];
    for (i = 0; i + 8 <= S; i += 8) store8(dr + i, scale * load8(yr + i) * (load8(gr + i) - dot));
    for (; i < S; ++i) dr[i] = scale * yr[i] * (gr[i] - dot);
  }
}

void forwardRows(const float* x, const MaskRows& m, int64_t S, double scale, float* y, int64_t b, int64_t e) {
  forwardRowsFloat(x, m, S, static_cast<float>(scale), y, b, e);
}
void forwardRows(const double* x, const MaskRows& m, int64_t S, double scale, double* y, int64_t b, int64_t e) {
  for (int64_t r = b; r < e; ++r)
    forwardRowScalar(x + r * S, m.data ? m.row(r) : nullptr, m.last_stride, S, scale, y + r * S);
}
void backwardRows(const float* g, const float* y, int64_t S, double scale, float* dx, int64_t b, int64_t e) {
  backwardRowsFloat(g, y, S, static_cast<float>(scale), dx, b, e);
}
void backwardRows(const double* g, const double* y, int64_t S, double scale, double* dx, int64_t b, int64_t e) {
  backwardRowsScalar(g, y, S, scale, dx, b, e);
}

int64_t grainRows(int64_t S) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(S, 1)); }

at::Tensor forwardKernel(const at::Tensor& x, const at::Tensor& keep, double scale) {
  const auto xc = x.contiguous();
  auto y = at::empty_like(xc);
  const int64_t S = xc.size(-1), rows = S ? xc.numel() / S : 0;
  MaskRows mask;
  at::Tensor expanded;
  if (keep.defined()) {
    expanded = keep.expand(xc.sizes());
    mask.data = expanded.data_ptr<bool>();
    for (int64_t d = 0; d + 1 < xc.dim(); ++d) {
      mask.sizes.push_back(xc.size(d));
      mask.strides.push_back(expanded.stride(d));
    }
    mask.last_stride = expanded.stride(-1);
  }
  AT_DISPATCH_FLOATING_TYPES(xc.scalar_type(), "maskedSoftmax", [&] {
    const scalar_t* in = xc.data_ptr<scalar_t>();
    scalar_t* out = y.data_ptr<scalar_t>();
    at::parallel_for(0, rows, grainRows(S), [&](int64_t b, int64_t e) { forwardRows(in, mask, S, scale, out, b, e); });
  });
  return y;
}

at::Tensor backwardKernel(const at::Tensor& grad, const at::Tensor& y, double scale) {
  const auto gc = grad.contiguous(), yc = y.contiguous();
  auto dx = at::empty_like(yc);
  const int64_t S = yc.size(-1), rows = S ? yc.numel() / S : 0;
  AT_DISPATCH_FLOATING_TYPES(yc.scalar_type(), "maskedSoftmaxBackward", [&] {
    const scalar_t* g = gc.data_ptr<scalar_t>();
    const scalar_t* yp = yc.data_ptr<scalar_t>();
    scalar_t* out = dx.data_ptr<scalar_t>();
    at::parallel_for(0, rows, grainRows(S), [&](int64_t b, int64_t e) { backwardRows(g, yp, S, scale, out, b, e); });
  });
  return dx;
}

// The mask travels wrapped: autograd treats every at::Tensor argument of apply() as an input,
// and an undefined one (no mask) has no device for it to read.
struct Keep {
  at::Tensor mask;
};

struct MaskedSoftmaxFunction : public torch::autograd::Function<MaskedSoftmaxFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, Keep keep, double scale) {
    auto y = forwardKernel(x, keep.mask, scale);
    ctx->save_for_backward({y});
    ctx->saved_data["scale"] = scale;
    return y;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto y = ctx->get_saved_variables()[0];
    const double scale = ctx->saved_data["scale"].toDouble();
    at::Tensor dx;
    if (at::GradMode::is_enabled()) {
      // create_graph: the same formula in differentiable ATen ops.
      dx = (y * (grads[0] - (grads[0] * y).sum(-1, true))) * scale;
    } else {
      dx = backwardKernel(grads[0], y, scale);
    }
    return {dx, at::Tensor(), at::Tensor()};  // one per forward argument
  }
};

}  // namespace

bool maskedSoftmaxApplies(const at::Tensor& x) {
  return x.device().is_cpu() && (x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble) && x.dim() >= 1;
}

at::Tensor maskedSoftmax(const at::Tensor& x, const at::Tensor& keep, double scale) {
  TORCH_CHECK(maskedSoftmaxApplies(x), "maskedSoftmax: expected a CPU float32 or float64 tensor, got ", x.scalar_type(),
              " on ", x.device());
  TORCH_CHECK(!keep.defined() || (keep.scalar_type() == at::kBool && keep.device() == x.device()),
              "maskedSoftmax: the mask must be a bool tensor on ", x.device());
  if (at::GradMode::is_enabled() && x.requires_grad()) return MaskedSoftmaxFunction::apply(x, Keep{keep}, scale);
  return forwardKernel(x, keep, scale);
}

}  // namespace trl
