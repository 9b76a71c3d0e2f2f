// Optimizer steps over all parameters in one native call (PyTorch's exact update rules).
#pragma once
#include <ATen/ATen.h>
#include <vector>

namespace torch_rlhf {

struct AdamWOptions {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 1e-2;
  bool amsgrad = false, maximize = false;
};

// torch.optim.AdamW (decoupled weight decay). Parameters without a gradient are skipped and
// keep their step count. `steps[i]` is parameter i's step count, advanced in place. State
// tensors must have the parameter's shape (zeros at first); max_exp_avg_sq only with amsgrad.
void adamwStep(const std::vector<at::Tensor>& params, const std::vector<at::Tensor>& exp_avg, const std::vector<at::Tensor>& exp_avg_sq,
               const std::vector<at::Tensor>& max_exp_avg_sq, std::vector<double>& steps, const AdamWOptions& o);

struct SGDOptions {
  double lr = 1e-3, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false, maximize = false;
};

// torch.optim.SGD. `momentum_buffers[i]` is undefined until the first step that uses it;
// this creates it, as PyTorch does.
void sgdStep(const std::vector<at::Tensor>& params, std::vector<at::Tensor>& momentum_buffers, const SGDOptions& o);

// torch.nn.utils.clip_grad_norm_: scales the gradients in place so their joint norm is at
// most max_norm; returns the norm before clipping. Throws if it is not finite and
// error_if_nonfinite is set.
double clipGradNorm(const std::vector<at::Tensor>& params, double max_norm, double norm_type, bool error_if_nonfinite);

}  // namespace torch_rlhf
