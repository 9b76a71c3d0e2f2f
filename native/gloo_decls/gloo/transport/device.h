// Declarations only, standing in for Gloo's own header (see ../../README.md): c10d holds a
// Device and an UnboundBuffer only through shared_ptr / unique_ptr.
#pragma once
namespace gloo {
namespace transport {
class Device;
class UnboundBuffer;
}  // namespace transport
}  // namespace gloo
