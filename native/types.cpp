#include "types.h"

#include <stdexcept>

namespace torch_rlhf {

namespace {
struct DtypeName {
  const char* name;
  at::ScalarType type;
};
// The dtypes torch-rlhf exposes; uint8 exists so byte buffers can travel.
constexpr DtypeName kDtypes[] = {
    {"float32", at::kFloat}, {"float64", at::kDouble}, {"float16", at::kHalf}, {"bfloat16", at::kBFloat16}, {"int64", at::kLong},
    {"int32", at::kInt},     {"bool", at::kBool},      {"uint8", at::kByte},   {"int8", at::kChar},         {"int16", at::kShort},
};
}  // namespace

at::ScalarType parseDtype(const std::string& name) {
  for (const auto& d : kDtypes)
    if (name == d.name) return d.type;
  throw std::invalid_argument("unknown dtype '" + name + "' (expected float32, float64, float16, bfloat16, int64, int32, bool)");
}

std::string dtypeName(at::ScalarType t) {
  for (const auto& d : kDtypes)
    if (t == d.type) return d.name;
  return std::string(c10::toString(t));
}

at::Device parseDevice(const std::string& name) {
  if (name == "cpu") return at::Device(at::kCPU);
  if (name == "cuda") return at::Device(at::kCUDA);
  if (name.rfind("cuda:", 0) == 0 && name.size() > 5) {
    const std::string idx = name.substr(5);
    if (idx.find_first_not_of("0123456789") == std::string::npos && idx.size() < 4)
      return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(std::stoi(idx)));
  }
  throw std::invalid_argument("unknown device '" + name + "' (expected 'cpu', 'cuda' or 'cuda:N')");
}

std::string deviceName(const at::Device& d) {
  if (d.is_cpu()) return "cpu";
  if (d.is_cuda()) return d.has_index() ? "cuda:" + std::to_string(d.index()) : "cuda";
  return d.str();
}

}  // namespace torch_rlhf
