// What the per-layer forwards of both architectures share (native/gpt.cpp's GPT-2 block,
// native/llama.cpp's decoder layer): a projection's LoRA adapter applied beside its frozen base
// weight, never merged into a copy of it, and gradient (activation) checkpointing of a whole
// layer. The same layer code serves inference, generation and checkpointed training.
#pragma once
#include <ATen/ATen.h>

#include <functional>
#include <vector>

namespace torch_rlhf {

// A LoRA adapter beside a projection, as PEFT's lora.Linear: A (r, in), B (out, r), both in the
// adapter's own dtype, which may differ from the base weight's (a float32 adapter on a bf16 base).
// Its layout does not depend on the base weight's (GPT-2's Conv1D stores that (in, out)).
struct LoRA {
  at::Tensor a, b;  // undefined: no adapter
  double scaling = 1.0;
  double dropout = 0.0;
  bool defined() const { return a.defined(); }
};

// base + s·B(A(dropout(x))) as PEFT computes it: x cast to the adapter's dtype, two small products
// (B·A is never made), the sum back in the base output's dtype. base unchanged without an adapter.
at::Tensor addLoRA(const at::Tensor& base, const at::Tensor& x, const LoRA& lora, bool train);

// at::dropout when training with p > 0, else x: the modules' Dropout, drawing from the same
// generator in the same order, so a checkpointed layer's masks equal the modules' path's.
at::Tensor dropoutWhen(const at::Tensor& x, double p, bool train);

// Every tensor of an adapter (for the list a checkpointed layer differentiates).
void appendTensors(std::vector<at::Tensor>& out, const LoRA& lora);

// One layer, x → its output, with its weights bound in.
using LayerFn = std::function<at::Tensor(const at::Tensor& x)>;

// `layer`(x) with gradient (activation) checkpointing, as torch.utils.checkpoint: the forward
// runs under no-grad and keeps only x (and the state of x's device generator, so dropout draws
// the same masks when recomputed); backward runs the layer again with grad enabled and
// differentiates it with respect to x and each of `params` (the layer's weights: those that
// require grad receive their gradient). Without grad mode it is just layer(x).
at::Tensor checkpointed(const LayerFn& layer, const at::Tensor& x, const std::vector<at::Tensor>& params);

}  // namespace torch_rlhf
