#include "lm_head_logprobs.h"

#include <ATen/autocast_mode.h>
#include <c10/core/DispatchKeySet.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>

namespace torch_rlhf {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// One chunk's logits in the statistics' dtype: (rows, V) = h Wᵀ / temperature.
at::Tensor chunkLogits(const at::Tensor& h, const at::Tensor& w, at::ScalarType compute, at::ScalarType acc, double temperature) {
  at::Tensor z = at::mm(h.to(compute), w.t()).to(acc);
  if (temperature != 1.0) z.div_(temperature);
  return z;
}

// What the computation needs beyond the options: the dtypes chosen at the call, which autograd's
// backward (on another thread, without the caller's autocast state) must reuse.
struct Dtypes {
  at::ScalarType compute;  // the matmuls'
  at::ScalarType acc;      // logits, logsumexp, outputs
};

// The rows that are not skipped, compacted: hidden (M, C), targets (M), and their indices in
// the N rows (undefined when none is skipped).
struct Kept {
  at::Tensor hidden, targets, index;
};
Kept keptRows(const at::Tensor& hidden, const at::Tensor& targets, int64_t ignore_index) {
  const at::Tensor keep = targets.ne(ignore_index);
  if (keep.all().item<bool>()) return {hidden, targets, at::Tensor()};
  const at::Tensor index = keep.nonzero().squeeze(1);
  return {hidden.index_select(0, index), targets.index_select(0, index), index};
}

// (N) from (M) values at `index`, `fill` elsewhere; the values themselves when nothing was skipped.
at::Tensor spread(const at::Tensor& values, const at::Tensor& index, int64_t n, double fill) {
  if (!index.defined()) return values;
  return at::full({n}, fill, values.options()).index_copy_(0, index, values);
}

int64_t chunkRows(const LMHeadLogprobsOptions& o, int64_t vocab) { return o.chunk_size > 0 ? o.chunk_size : lmHeadDefaultChunk(vocab); }

// The tiles of rows × vocabulary that forward and backward go through: as many logits as
// chunkSize positions' (the default: about 32 MB of float32), about √(that many) rows by the rest
// in vocabulary columns. The logsumexp is accumulated over a row's column tiles (as flash
// attention's softmax), so no tile needs a whole row; square-ish tiles keep every matmul's
// dimensions large (a few dozen rows against the whole vocabulary ran twice as slow) and the
// weight's gradient is read and written M / rows times, not once per few dozen positions.
struct Tiles {
  int64_t rows, cols;
};
Tiles tilesFor(const LMHeadLogprobsOptions& o, int64_t M, int64_t V) {
  const int64_t elements = chunkRows(o, V) * V;
  const int64_t rows = std::clamp<int64_t>(static_cast<int64_t>(std::sqrt(static_cast<double>(elements))), 1, std::max<int64_t>(M, 1));
  return {rows, std::clamp<int64_t>(elements / rows, 1, V)};
}

// Where each row's target falls in the columns [v0, v0 + nv): its column there (clamped) and
// whether it is inside.
std::pair<at::Tensor, at::Tensor> targetColumn(const at::Tensor& targets, int64_t v0, int64_t nv) {
  const at::Tensor local = targets - v0;
  return {local.clamp(0, nv - 1), local.ge(0).logical_and_(local.lt(nv))};
}

// The forward over the kept rows, tile by tile: the outputs (M) and the logsumexp (M) that
// backward reuses. Per row, over its column tiles: the running max m, s = Σ exp(z − m) and
// u = Σ exp(z − m)·z, rescaled when m grows; then lse = m + log s and H = lse − u / s.
struct KeptForward {
  at::Tensor logprobs, entropy, argmax, logit_sum, lse;
};
KeptForward forwardKept(const at::Tensor& h, const at::Tensor& w, const at::Tensor& t, const LMHeadLogprobsOptions& o, Dtypes d) {
  const int64_t M = h.size(0), V = w.size(0);
  const Tiles tiles = tilesFor(o, M, V);
  const auto acc = h.options().dtype(d.acc);
  KeptForward out;
  out.logprobs = at::empty({M}, acc);
  out.lse = at::empty({M}, acc);
  if (o.entropy) out.entropy = at::empty({M}, acc);
  if (o.argmax) out.argmax = at::empty({M}, acc.dtype(at::kLong));
  if (o.logit_sum) out.logit_sum = at::empty({M}, acc);
  const at::Tensor wc = w.to(d.compute);  // one cast for all tiles (none when it already is)
  const double inf = std::numeric_limits<double>::infinity();
  for (int64_t s = 0; s < M; s += tiles.rows) {
    const int64_t n = std::min(tiles.rows, M - s);
    const at::Tensor hc = h.narrow(0, s, n).to(d.compute);
    const at::Tensor tn = t.narrow(0, s, n).unsqueeze(1);
    at::Tensor m = at::full({n}, -inf, acc), sum = at::zeros({n}, acc), u, target = at::zeros({n}, acc), best, best_index, logit_sum;
    if (o.entropy) u = at::zeros({n}, acc);
    if (o.argmax) best = at::full({n}, -inf, acc), best_index = at::zeros({n}, acc.dtype(at::kLong));
    if (o.logit_sum) logit_sum = at::zeros({n}, acc);
    for (int64_t v0 = 0; v0 < V; v0 += tiles.cols) {
      const int64_t nv = std::min(tiles.cols, V - v0);
      const at::Tensor z = chunkLogits(hc, wc.narrow(0, v0, nv), d.compute, d.acc, o.temperature);
      at::Tensor zmax, zarg;
      if (o.argmax) std::tie(zmax, zarg) = z.max(1);
      else zmax = z.amax(1);
      const at::Tensor m_new = at::maximum(m, zmax);
      const at::Tensor rescale = (m - m_new).exp_();
      const at::Tensor e = z.sub(m_new.unsqueeze(1)).exp_();
      sum.mul_(rescale).add_(e.sum(1));
      if (o.entropy) u.mul_(rescale).add_(e.mul_(z).sum(1));
      m = m_new;
      const auto [column, inside] = targetColumn(tn, v0, nv);
      target = at::where(inside.squeeze(1), z.gather(1, column).squeeze(1), target);
      if (o.logit_sum) logit_sum.add_(z.sum(1));
      if (o.argmax) {
        // Strictly greater: the first of equal maxima wins, as argmax.
        const at::Tensor better = zmax.gt(best);
        best_index = at::where(better, zarg + v0, best_index);
        best = at::where(better, zmax, best);
      }
    }
    const at::Tensor lse = m + sum.log();
    out.lse.narrow(0, s, n).copy_(lse);
    out.logprobs.narrow(0, s, n).copy_(target - lse);
    if (o.entropy) out.entropy.narrow(0, s, n).copy_(lse - u / sum);
    if (o.argmax) out.argmax.narrow(0, s, n).copy_(best_index);
    if (o.logit_sum) out.logit_sum.narrow(0, s, n).copy_(logit_sum);
  }
  return out;
}

// acc += a·b, in place when the product's dtype is the accumulator's (float32, float64), else
// through the product (bf16 matmuls accumulate in float32).
void addProduct(at::Tensor acc, const at::Tensor& a, const at::Tensor& b) {
  if (a.scalar_type() == acc.scalar_type()) acc.addmm_(a, b);
  else acc.add_(at::mm(a, b));
}

// The gradients of Σ g_logp·logp + Σ g_H·H with respect to hidden (M, C) and weight (V, C),
// from the logits recomputed tile by tile: with p = softmax(z) and z the scaled logits,
// d logp/dz = onehot − p and dH/dz = −p·(log p + H), each divided by the temperature. A tile
// needs only its rows' logsumexp and entropy, which the forward saved.
std::pair<at::Tensor, at::Tensor> backwardKept(const at::Tensor& h, const at::Tensor& w, const at::Tensor& t, const at::Tensor& lse,
                                               const at::Tensor& entropy, const at::Tensor& g_logp, const at::Tensor& g_entropy,
                                               const LMHeadLogprobsOptions& o, Dtypes d, bool want_hidden, bool want_weight) {
  const int64_t M = h.size(0), V = w.size(0);
  const Tiles tiles = tilesFor(o, M, V);
  const at::Tensor wc = w.to(d.compute);
  const auto acc = h.options().dtype(d.acc);
  at::Tensor grad_h = want_hidden ? at::zeros(h.sizes(), acc) : at::Tensor();
  at::Tensor grad_w = want_weight ? at::zeros(w.sizes(), acc) : at::Tensor();
  const at::Tensor g_logp_all = g_logp.defined() ? g_logp : at::zeros({M}, acc);
  for (int64_t s = 0; s < M; s += tiles.rows) {
    const int64_t n = std::min(tiles.rows, M - s);
    const at::Tensor hc = h.narrow(0, s, n).to(d.compute);
    const at::Tensor l = lse.narrow(0, s, n).unsqueeze(1);
    const at::Tensor gl = g_logp_all.narrow(0, s, n).unsqueeze(1);
    const at::Tensor tn = t.narrow(0, s, n).unsqueeze(1);
    // With an entropy gradient: −p·(g_logp + g_H·(z − lse + H)) = −p·(z·g_H + c), c per row.
    at::Tensor gh, c;
    if (g_entropy.defined()) {
      gh = g_entropy.narrow(0, s, n).unsqueeze(1);
      c = gl + gh * (entropy.narrow(0, s, n).unsqueeze(1) - l);
    }
    for (int64_t v0 = 0; v0 < V; v0 += tiles.cols) {
      const int64_t nv = std::min(tiles.cols, V - v0);
      const at::Tensor wv = wc.narrow(0, v0, nv);
      at::Tensor z = chunkLogits(hc, wv, d.compute, d.acc, o.temperature);
      const at::Tensor p = z.sub(l).exp_();
      at::Tensor gz = gh.defined() ? z.mul_(gh).add_(c).mul_(p).neg_() : p.mul_(gl).neg_();
      // + g_logp at the targets that fall in this tile's columns
      const auto [column, inside] = targetColumn(tn, v0, nv);
      gz.scatter_add_(1, column, gl * inside);
      if (o.temperature != 1.0) gz.div_(o.temperature);
      const at::Tensor g = gz.to(d.compute);
      if (want_hidden) addProduct(grad_h.narrow(0, s, n), g, wv);
      if (want_weight) addProduct(grad_w.narrow(0, v0, nv), g.t(), hc);
    }
  }
  return {want_hidden ? grad_h.to(h.scalar_type()) : grad_h, want_weight ? grad_w.to(w.scalar_type()) : grad_w};
}

void checkInputs(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& targets, const LMHeadLogprobsOptions& o) {
  TORCH_CHECK(hidden.dim() == 2, "lmHeadLogprobs: hidden must be (positions, width), got shape ", hidden.sizes());
  TORCH_CHECK(weight.dim() == 2, "lmHeadLogprobs: weight must be (vocabulary, width), got shape ", weight.sizes());
  TORCH_CHECK(hidden.size(1) == weight.size(1), "lmHeadLogprobs: hidden's width ", hidden.size(1), " differs from weight's ",
              weight.size(1));
  TORCH_CHECK(targets.dim() == 1 && targets.size(0) == hidden.size(0), "lmHeadLogprobs: targets must be (", hidden.size(0),
              ") to match hidden, got shape ", targets.sizes());
  TORCH_CHECK(at::isFloatingType(hidden.scalar_type()) && at::isFloatingType(weight.scalar_type()),
              "lmHeadLogprobs: hidden and weight must be floating point, got ", hidden.scalar_type(), " and ", weight.scalar_type());
  TORCH_CHECK(at::isIntegralType(targets.scalar_type(), /*includeBool=*/false), "lmHeadLogprobs: targets must be integer token ids, got ",
              targets.scalar_type());
  TORCH_CHECK(hidden.device() == weight.device() && hidden.device() == targets.device(),
              "lmHeadLogprobs: hidden, weight and targets must be on one device, got ", hidden.device(), ", ", weight.device(), " and ",
              targets.device());
  TORCH_CHECK(std::isfinite(o.temperature) && o.temperature > 0, "lmHeadLogprobs: temperature must be > 0, got ", o.temperature);
  TORCH_CHECK(o.chunk_size >= 0, "lmHeadLogprobs: chunkSize must be a positive number of positions, got ", o.chunk_size);
}

void checkTargets(const at::Tensor& kept_targets, int64_t vocab) {
  if (kept_targets.numel() == 0) return;
  const auto [lo, hi] = at::aminmax(kept_targets);
  const int64_t min = lo.item<int64_t>(), max = hi.item<int64_t>();
  TORCH_CHECK(min >= 0 && max < vocab, "lmHeadLogprobs: target ", min < 0 ? min : max, " is out of the vocabulary [0, ", vocab, ")");
}

Dtypes dtypesFor(const at::Tensor& hidden, const at::Tensor& weight) {
  at::ScalarType compute = weight.scalar_type();
  const at::DeviceType type = hidden.device().type();
  if (compute != at::kDouble && at::autocast::is_autocast_enabled(type)) compute = at::autocast::get_autocast_dtype(type);
  const bool dbl = hidden.scalar_type() == at::kDouble && weight.scalar_type() == at::kDouble;
  return {compute, dbl ? at::kDouble : at::kFloat};
}

LMHeadLogprobsOutput assemble(const KeptForward& f, const at::Tensor& index, int64_t n) {
  LMHeadLogprobsOutput out;
  out.logprobs = spread(f.logprobs, index, n, 0.0);
  if (f.entropy.defined()) out.entropy = spread(f.entropy, index, n, 0.0);
  if (f.argmax.defined()) out.argmax = spread(f.argmax, index, n, -1);
  if (f.logit_sum.defined()) out.logit_sum = spread(f.logit_sum, index, n, 0.0);
  return out;
}

struct LMHeadLogprobsFunction : public torch::autograd::Function<LMHeadLogprobsFunction> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& targets,
                               const LMHeadLogprobsOptions& o, Dtypes d) {
    // An output that nothing reads gets an undefined gradient, not zeros to multiply by.
    ctx->set_materialize_grads(false);
    const Kept k = keptRows(hidden, targets, o.ignore_index);
    checkTargets(k.targets, weight.size(0));
    const KeptForward f = forwardKept(k.hidden, weight, k.targets, o, d);
    ctx->save_for_backward({k.hidden, weight, k.targets, f.lse, f.entropy, k.index});
    ctx->saved_data["n"] = hidden.size(0);
    ctx->saved_data["temperature"] = o.temperature;
    ctx->saved_data["chunk"] = o.chunk_size;
    ctx->saved_data["entropy"] = o.entropy;
    ctx->saved_data["compute"] = static_cast<int64_t>(d.compute);
    ctx->saved_data["acc"] = static_cast<int64_t>(d.acc);
    const LMHeadLogprobsOutput out = assemble(f, k.index, hidden.size(0));
    variable_list outputs{out.logprobs};
    if (o.entropy) outputs.push_back(out.entropy);
    if (o.argmax) outputs.push_back(out.argmax);
    if (o.logit_sum) outputs.push_back(out.logit_sum);
    if (o.argmax) ctx->mark_non_differentiable({out.argmax});
    if (o.logit_sum) ctx->mark_non_differentiable({out.logit_sum});
    return outputs;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const at::Tensor &h = saved[0], &w = saved[1], &t = saved[2], &lse = saved[3], &entropy = saved[4], &index = saved[5];
    const int64_t n = ctx->saved_data["n"].toInt();
    LMHeadLogprobsOptions o;
    o.temperature = ctx->saved_data["temperature"].toDouble();
    o.chunk_size = ctx->saved_data["chunk"].toInt();
    o.entropy = ctx->saved_data["entropy"].toBool();
    const Dtypes d{static_cast<at::ScalarType>(ctx->saved_data["compute"].toInt()),
                   static_cast<at::ScalarType>(ctx->saved_data["acc"].toInt())};
    // The upstream gradients of the kept rows (undefined: that output is not used).
    const auto kept = [&](const at::Tensor& g) {
      if (!g.defined()) return g;
      const at::Tensor gd = g.to(d.acc);
      return index.defined() ? gd.index_select(0, index) : gd;
    };
    const at::Tensor g_logp = kept(grads[0]);
    const at::Tensor g_entropy = o.entropy ? kept(grads[1]) : at::Tensor();
    const bool want_hidden = ctx->needs_input_grad(0), want_weight = ctx->needs_input_grad(1);
    if ((!g_logp.defined() && !g_entropy.defined()) || h.size(0) == 0)
      return {at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
    // Autocast must not recast the matmuls: backward casts to the dtype the forward used itself.
    c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
    auto [grad_h, grad_w] = backwardKept(h, w, t, lse, entropy, g_logp, g_entropy, o, d, want_hidden, want_weight);
    if (grad_h.defined() && index.defined()) grad_h = at::zeros({n, h.size(1)}, grad_h.options()).index_copy_(0, index, grad_h);
    return {grad_h, grad_w, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

int64_t lmHeadDefaultChunk(int64_t vocab) { return std::max<int64_t>(1, (int64_t{1} << 23) / std::max<int64_t>(vocab, 1)); }

LMHeadLogprobsOutput lmHeadLogprobs(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& targets,
                                    const LMHeadLogprobsOptions& options) {
  checkInputs(hidden, weight, targets, options);
  const Dtypes d = dtypesFor(hidden, weight);
  const at::Tensor ids = targets.to(at::kLong);
  // The dtypes are chosen above; inside, every cast is explicit.
  c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
  if (at::GradMode::is_enabled() && (hidden.requires_grad() || weight.requires_grad())) {
    const variable_list outs = LMHeadLogprobsFunction::apply(hidden, weight, ids, options, d);
    LMHeadLogprobsOutput out;
    size_t i = 0;
    out.logprobs = outs[i++];
    if (options.entropy) out.entropy = outs[i++];
    if (options.argmax) out.argmax = outs[i++];
    if (options.logit_sum) out.logit_sum = outs[i++];
    return out;
  }
  const Kept k = keptRows(hidden, ids, options.ignore_index);
  checkTargets(k.targets, weight.size(0));
  return assemble(forwardKept(k.hidden, weight, k.targets, options, d), k.index, hidden.size(0));
}

}  // namespace torch_rlhf
