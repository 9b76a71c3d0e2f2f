// Integer division that cannot kill the process. x86's idiv traps (SIGFPE) on the one
// quotient that overflows, the type's minimum divided by -1, and libtorch's CPU kernels for
// int32 and int64 pass it straight through (division by zero they check themselves). A
// remainder by -1 is 0 for every dividend, so it divides by 1 instead; a quotient that does
// not fit becomes a JS error.
#pragma once
#include <ATen/ATen.h>

#include <limits>
#include <stdexcept>
#include <string>

namespace torch_rlhf {

namespace integer_division {

// Whether libtorch computes x ⊘ y in a type whose idiv can trap.
inline bool traps(at::ScalarType t) { return t == at::kInt || t == at::kLong; }

inline int64_t minimumOf(at::ScalarType t) {
  return t == at::kInt ? std::numeric_limits<int32_t>::min() : std::numeric_limits<int64_t>::min();
}

// The op's name is added by the dispatcher.
[[noreturn]] inline void overflow(at::ScalarType t) {
  throw std::overflow_error("integer overflow: " + std::to_string(minimumOf(t)) + " / -1 does not fit in " + c10::toString(t));
}

// Throws when a rounded quotient x / y would overflow (x is the minimum where y is -1).
inline void checkQuotient(const at::Tensor& x, const at::Tensor& y) {
  const at::ScalarType t = at::result_type(x, y);
  if (!traps(t)) return;
  if (at::logical_and(at::eq(x.to(t), minimumOf(t)), at::eq(y, -1)).any().item<bool>()) overflow(t);
}
inline void checkQuotient(const at::Tensor& x, const at::Scalar& y) {
  const at::ScalarType t = at::result_type(x, y);
  if (!traps(t) || y.toLong() != -1) return;
  if (at::eq(x.to(t), minimumOf(t)).any().item<bool>()) overflow(t);
}

// The divisor to use for a remainder: -1 replaced by 1, which gives the same 0 without idiv's
// trap.
inline at::Tensor remainderDivisor(const at::Tensor& x, const at::Tensor& y) {
  if (!traps(at::result_type(x, y))) return y;
  return at::where(at::eq(y, -1), at::ones({}, y.options()), y);
}
inline at::Scalar remainderDivisor(const at::Tensor& x, const at::Scalar& y) {
  if (!traps(at::result_type(x, y)) || y.toLong() != -1) return y;
  return at::Scalar(1);
}

}  // namespace integer_division

}  // namespace torch_rlhf
