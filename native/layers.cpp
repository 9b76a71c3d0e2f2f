#include "layers.h"

#include <ATen/Context.h>
#include <ATen/autocast_mode.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include <mutex>
#include <utility>

namespace torch_rlhf {

at::Tensor dropoutWhen(const at::Tensor& x, double p, bool train) { return train && p > 0 ? at::dropout(x, p, true) : x; }

at::Tensor addLoRA(const at::Tensor& base, const at::Tensor& x, const LoRA& lora, bool train) {
  if (!lora.defined()) return base;
  const auto in = dropoutWhen(x.to(lora.a.scalar_type()), lora.dropout, train);
  const auto delta = at::linear(at::linear(in, lora.a), lora.b);
  return base.add(delta, lora.scaling).to(base.scalar_type());
}

void appendTensors(std::vector<at::Tensor>& out, const LoRA& lora) {
  if (!lora.defined()) return;
  out.push_back(lora.a);
  out.push_back(lora.b);
}

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// What backward needs besides x: the layer, its weights, and the generator's state at the forward.
struct CheckpointedLayer : torch::CustomClassHolder {
  LayerFn layer;
  std::vector<at::Tensor> params;
  at::Tensor rng_state;
  bool autocast = false;  // the forward's autocast on x's device type, for the recompute
  at::ScalarType autocast_dtype = at::kBFloat16;
};

at::Generator generatorOf(const at::Tensor& x) { return at::globalContext().defaultGenerator(x.device()); }

at::Tensor rngState(at::Generator& gen) {
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}
void setRngState(at::Generator& gen, const at::Tensor& state) {
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

// Puts the forward's generator state back for the recompute, and the current one back after it
// (torch.utils.checkpoint's fork_rng), even when the layer throws.
class ReplayRng {
 public:
  ReplayRng(at::Generator gen, const at::Tensor& forward_state) : gen_(std::move(gen)), now_(rngState(gen_)) {
    setRngState(gen_, forward_state);
  }
  ~ReplayRng() { setRngState(gen_, now_); }
  ReplayRng(const ReplayRng&) = delete;
  ReplayRng& operator=(const ReplayRng&) = delete;

 private:
  at::Generator gen_;
  at::Tensor now_;
};

// The forward's autocast state during the recompute (backward may run outside the autocast
// region the forward ran in), the current one back after it.
class ReplayAutocast {
 public:
  ReplayAutocast(at::DeviceType type, bool enabled, at::ScalarType dtype)
      : type_(type), was_(at::autocast::is_autocast_enabled(type)), was_dtype_(at::autocast::get_autocast_dtype(type)) {
    at::autocast::set_autocast_dtype(type, dtype);
    at::autocast::set_autocast_enabled(type, enabled);
  }
  ~ReplayAutocast() {
    at::autocast::set_autocast_enabled(type_, was_);
    at::autocast::set_autocast_dtype(type_, was_dtype_);
  }
  ReplayAutocast(const ReplayAutocast&) = delete;
  ReplayAutocast& operator=(const ReplayAutocast&) = delete;

 private:
  at::DeviceType type_;
  bool was_;
  at::ScalarType was_dtype_;
};

struct CheckpointFunction : torch::autograd::Function<CheckpointFunction> {
  // Function::apply runs this under no-grad: none of the layer's activations are kept.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, at::TensorList params, c10::intrusive_ptr<CheckpointedLayer> held) {
    auto gen = generatorOf(x);
    held->rng_state = rngState(gen);
    held->autocast = at::autocast::is_autocast_enabled(x.device().type());
    held->autocast_dtype = at::autocast::get_autocast_dtype(x.device().type());
    at::Tensor y = held->layer(x);
    ctx->save_for_backward({x});
    ctx->saved_data["layer"] = at::IValue::make_capsule(held);
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const at::Tensor x = ctx->get_saved_variables()[0];
    const auto held = c10::static_intrusive_pointer_cast<CheckpointedLayer>(ctx->saved_data["layer"].toCapsule());
    const size_t n = held->params.size();
    const at::Tensor input = x.detach().requires_grad_(ctx->needs_input_grad(0));
    at::Tensor y;
    {
      ReplayRng replay(generatorOf(x), held->rng_state);
      ReplayAutocast autocast(x.device().type(), held->autocast, held->autocast_dtype);
      at::AutoGradMode grad(true);
      y = held->layer(input);
    }
    std::vector<at::Tensor> wrt;
    if (input.requires_grad()) wrt.push_back(input);
    for (size_t i = 0; i < n; ++i)
      if (ctx->needs_input_grad(i + 1)) wrt.push_back(held->params[i]);
    variable_list out(n + 2);  // x, each parameter, the layer (no gradient)
    if (wrt.empty() || !y.requires_grad()) return out;
    const auto g = torch::autograd::grad({y}, wrt, {grads[0]}, /*retain_graph=*/false, /*create_graph=*/false, /*allow_unused=*/true);
    size_t j = 0;
    if (input.requires_grad()) out[0] = g[j++];
    for (size_t i = 0; i < n; ++i)
      if (ctx->needs_input_grad(i + 1)) out[i + 1] = g[j++];
    return out;
  }
};

}  // namespace

at::Tensor checkpointed(const LayerFn& layer, const at::Tensor& x, const std::vector<at::Tensor>& params) {
  if (!c10::GradMode::is_enabled()) return layer(x);
  auto held = c10::make_intrusive<CheckpointedLayer>();
  held->layer = layer;
  held->params = params;
  return CheckpointFunction::apply(x, at::TensorList(held->params), held);
}

}  // namespace torch_rlhf
