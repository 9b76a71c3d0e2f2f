// Eight floats as one GCC vector, for the few hand-written CPU kernels (decode attention, GELU,
// the skinny products).
// Builds and prebuilds target the x86-64 baseline; TRL_VECTOR_CLONES compiles a kernel twice,
// for x86-64-v3 (AVX2 + FMA: one register per Vec8) and the baseline (SSE pairs), and the
// dynamic loader picks one by the CPU's features. (arch=haswell would dispatch on the CPU
// *model*, so AMD processors got the baseline clone.)
#pragma once
#include <cstdint>

#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#define TRL_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define TRL_VECTOR_CLONES
#endif
#define TRL_INLINE inline __attribute__((always_inline))

// The helpers are always inlined into a kernel, so GCC's note that passing AVX vectors by
// value changes the ABI (-Wpsabi) does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace torch_rlhf::vec {

typedef float Vec8 __attribute__((vector_size(32)));
typedef int32_t Int8 __attribute__((vector_size(32)));

TRL_INLINE Vec8 load8(const float* p) {
  Vec8 v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
TRL_INLINE void store8(float* p, Vec8 v) { __builtin_memcpy(p, &v, sizeof v); }

TRL_INLINE float sum8(Vec8 v) { return ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7])); }

// e^x, Cephes' expf: x = n·ln 2 + r with |r| ≤ ln 2 / 2, a degree-6 polynomial for e^r, and
// 2^n built in the exponent bits. About 1 ulp; inputs are clamped to [-87.3, 88.3], where
// the result stays a normal float (callers here only need e^x to saturate).
TRL_INLINE Vec8 exp8(Vec8 x) {
  const Vec8 lo = Vec8{} - 87.3f, hi = Vec8{} + 88.3f;
  x = x < lo ? lo : x;
  x = x > hi ? hi : x;
  // Round x·log2(e) to the nearest integer with the 1.5·2^23 trick (exact for |n| < 2^22).
  const Vec8 n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  x = x - n * 0.693359375f - n * -2.12194440e-4f;
  const Vec8 z = x * x;
  Vec8 y = 1.9875691500e-4f * x + 1.3981999507e-3f;
  y = y * x + 8.3334519073e-3f;
  y = y * x + 4.1665795894e-2f;
  y = y * x + 1.6666665459e-1f;
  y = y * x + 5.0000001201e-1f;
  y = y * z + x + 1.0f;
  const Int8 bits = (__builtin_convertvector(n, Int8) + 127) << 23;
  return y * (Vec8)bits;  // a vector cast reinterprets the bits
}

}  // namespace torch_rlhf::vec
