// Names shared with TypeScript for dtypes and devices, and their libtorch values.
#pragma once
#include <ATen/ATen.h>
#include <string>

namespace torch_rlhf {

// "float32" → at::kFloat, …; throws std::invalid_argument naming the accepted names.
at::ScalarType parseDtype(const std::string& name);
std::string dtypeName(at::ScalarType t);

// "cpu", "cuda", "cuda:N" → at::Device; anything else throws std::invalid_argument.
at::Device parseDevice(const std::string& name);
std::string deviceName(const at::Device& d);

}  // namespace torch_rlhf
