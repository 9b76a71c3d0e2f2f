#include "optim.h"

#include <c10/core/GradMode.h>

#include <cmath>
#include <limits>

namespace torch_rlhf {

void adamwStep(const std::vector<at::Tensor>& params, const std::vector<at::Tensor>& exp_avg, const std::vector<at::Tensor>& exp_avg_sq,
               const std::vector<at::Tensor>& max_exp_avg_sq, std::vector<double>& steps, const AdamWOptions& o) {
  TORCH_CHECK(exp_avg.size() == params.size() && exp_avg_sq.size() == params.size() && steps.size() == params.size(),
              "adamw: state does not match the parameters");
  TORCH_CHECK(!o.amsgrad || max_exp_avg_sq.size() == params.size(), "adamw: amsgrad state missing");
  c10::NoGradGuard no_grad;
  for (size_t i = 0; i < params.size(); ++i) {
    const at::Tensor& p = params[i];
    const at::Tensor& g0 = p.grad();
    if (!g0.defined()) continue;
    TORCH_CHECK(!g0.is_sparse(), "adamw: sparse gradients are not supported");
    at::Tensor grad = o.maximize ? -g0 : g0;
    const double step = (steps[i] += 1);
    p.mul_(1 - o.lr * o.weight_decay);
    exp_avg[i].lerp_(grad, 1 - o.beta1);
    exp_avg_sq[i].mul_(o.beta2).addcmul_(grad, grad, 1 - o.beta2);
    const double bias_correction1 = 1 - std::pow(o.beta1, step);
    const double bias_correction2 = 1 - std::pow(o.beta2, step);
    const double step_size = o.lr / bias_correction1;
    const double bias_correction2_sqrt = std::sqrt(bias_correction2);
    at::Tensor denom;
    if (o.amsgrad) {
      max_exp_avg_sq[i].copy_(at::maximum(max_exp_avg_sq[i], exp_avg_sq[i]));
      denom = (max_exp_avg_sq[i].sqrt() / bias_correction2_sqrt).add_(o.eps);
    } else {
      denom = (exp_avg_sq[i].sqrt() / bias_correction2_sqrt).add_(o.eps);
    }
    p.addcdiv_(exp_avg[i], denom, -step_size);
  }
}

void sgdStep(const std::vector<at::Tensor>& params, std::vector<at::Tensor>& momentum_buffers, const SGDOptions& o) {
  TORCH_CHECK(momentum_buffers.size() == params.size(), "sgd: state does not match the parameters");
  TORCH_CHECK(!o.nesterov || (o.momentum > 0 && o.dampening == 0), "sgd: Nesterov momentum requires a momentum and zero dampening");
  c10::NoGradGuard no_grad;
  for (size_t i = 0; i < params.size(); ++i) {
    const at::Tensor& p = params[i];
    if (!p.grad().defined()) continue;
    at::Tensor d_p = o.maximize ? -p.grad() : p.grad();
    if (o.weight_decay != 0) d_p = d_p.add(p, o.weight_decay);
    if (o.momentum != 0) {
      at::Tensor& buf = momentum_buffers[i];
      if (!buf.defined()) {
        buf = d_p.clone().detach();
      } else {
        buf.mul_(o.momentum).add_(d_p, 1 - o.dampening);
      }
      d_p = o.nesterov ? d_p.add(buf, o.momentum) : buf;
    }
    p.add_(d_p, -o.lr);
  }
}

double clipGradNorm(const std::vector<at::Tensor>& params, double max_norm, double norm_type, bool error_if_nonfinite) {
  c10::NoGradGuard no_grad;
  std::vector<at::Tensor> grads;
  for (const auto& p : params)
    if (p.grad().defined()) grads.push_back(p.grad());
  if (grads.empty()) return 0.0;
  at::Tensor total;
  if (std::isinf(norm_type)) {
    std::vector<at::Tensor> maxes;
    for (const auto& g : grads) maxes.push_back(g.detach().abs().max().to(grads[0].device()));
    total = at::stack(maxes).max();
  } else {
    std::vector<at::Tensor> norms;
    for (const auto& g : grads) norms.push_back(at::norm(g.detach(), norm_type).to(grads[0].device()));
    total = at::norm(at::stack(norms), norm_type);
  }
  const double total_norm = total.item<double>();
  if (error_if_nonfinite && !std::isfinite(total_norm))
    TORCH_CHECK(false, "clipGradNorm: the total norm of order ", norm_type, " of the gradients is non-finite, so it cannot be clipped");
  const double clip_coef = max_norm / (total_norm + 1e-6);
  if (clip_coef < 1.0)
    for (auto& g : grads) g.mul_(clip_coef);
  return total_norm;
}

}  // namespace torch_rlhf
