// Declarations only, standing in for Gloo's own header (see ../README.md): PyTorch's wheels
// carry libtorch's Gloo compiled in but not Gloo's headers, and c10d's ProcessGroupGloo.hpp
// names Gloo's types only through pointers. Nothing declared here is defined or called by us.
#pragma once
#include <chrono>

namespace gloo {
class Context {
 public:
  void setTimeout(std::chrono::milliseconds timeout);  // named by an inline c10d method we never call
};
}  // namespace gloo
