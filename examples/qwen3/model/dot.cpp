// Dot-product kernels: portable 64-lane C++, AVX2+FMA and AVX-512F (bf16 widened in registers), dispatched at run time.
#include "model/dot.hpp"

#include <bit>
#include <cstdlib>

#include "kvc/core/error.hpp"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define KVC_QWEN3_X86 1
#include <immintrin.h>
#endif

namespace kvc::qwen3 {
namespace {

constexpr std::int64_t lanes = 64;

inline float widen(float x) { return x; }
inline float widen(kvc::bf16 x) { return std::bit_cast<float>(std::uint32_t(x.bits) << 16); }

// Portable: independent lanes the compiler can keep in vector registers without -ffast-math.
template <class W>
float dot_portable(const W* __restrict w, const float* __restrict x, std::int64_t n) {
  float acc[lanes] = {};
  std::int64_t c = 0;
  for (; c + lanes <= n; c += lanes)
    for (std::int64_t l = 0; l < lanes; ++l) acc[l] += widen(w[c + l]) * x[c + l];
  float tail = 0.0f;
  for (; c < n; ++c) tail += widen(w[c]) * x[c];
  for (std::int64_t width = lanes / 2; width > 0; width /= 2)
    for (std::int64_t l = 0; l < width; ++l) acc[l] += acc[l + width];
  return acc[0] + tail;
}
float dot_bf16_portable(const kvc::bf16* w, const float* x, std::int64_t n) { return dot_portable(w, x, n); }
float dot_f32_portable(const float* w, const float* x, std::int64_t n) { return dot_portable(w, x, n); }
float sum_portable(const float* x, std::int64_t n) {
  float acc[lanes] = {};
  std::int64_t c = 0;
  for (; c + lanes <= n; c += lanes)
    for (std::int64_t l = 0; l < lanes; ++l) acc[l] += x[c + l];
  float total = 0.0f;
  for (; c < n; ++c) total += x[c];
  for (float a : acc) total += a;
  return total;
}

#ifdef KVC_QWEN3_X86
// GCC 12's AVX-512 headers trip -Wmaybe-uninitialized inside their own inline functions.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// ---- AVX-512F: four 16-float accumulators = lanes 0..63 -------------------------------------
__attribute__((target("avx512f"))) inline __m512 load16(const float* p) { return _mm512_loadu_ps(p); }
__attribute__((target("avx512f"))) inline __m512 load16(const kvc::bf16* p) {
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
template <class W>
__attribute__((target("avx512f"))) float dot_avx512(const W* __restrict w, const float* __restrict x,
                                                    std::int64_t n) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  std::int64_t c = 0;
  for (; c + 64 <= n; c += 64) {
    a0 = _mm512_fmadd_ps(load16(w + c), _mm512_loadu_ps(x + c), a0);
    a1 = _mm512_fmadd_ps(load16(w + c + 16), _mm512_loadu_ps(x + c + 16), a1);
    a2 = _mm512_fmadd_ps(load16(w + c + 32), _mm512_loadu_ps(x + c + 32), a2);
    a3 = _mm512_fmadd_ps(load16(w + c + 48), _mm512_loadu_ps(x + c + 48), a3);
  }
  float tail = 0.0f;
  for (; c < n; ++c) tail += widen(w[c]) * x[c];
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a2), _mm512_add_ps(a1, a3))) + tail;
}
__attribute__((target("avx512f"))) float dot_bf16_avx512(const kvc::bf16* w, const float* x, std::int64_t n) {
  return dot_avx512(w, x, n);
}
__attribute__((target("avx512f"))) float dot_f32_avx512(const float* w, const float* x, std::int64_t n) {
  return dot_avx512(w, x, n);
}
__attribute__((target("avx512f"))) float sum_avx512(const float* x, std::int64_t n) {
  __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
  std::int64_t c = 0;
  for (; c + 64 <= n; c += 64) {
    a0 = _mm512_add_ps(a0, _mm512_loadu_ps(x + c));
    a1 = _mm512_add_ps(a1, _mm512_loadu_ps(x + c + 16));
    a2 = _mm512_add_ps(a2, _mm512_loadu_ps(x + c + 32));
    a3 = _mm512_add_ps(a3, _mm512_loadu_ps(x + c + 48));
  }
  float tail = 0.0f;
  for (; c < n; ++c) tail += x[c];
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a2), _mm512_add_ps(a1, a3))) + tail;
}

// ---- AVX2 + FMA: eight 8-float accumulators = lanes 0..63 -----------------------------------
__attribute__((target("avx2,fma"))) inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
__attribute__((target("avx2,fma"))) inline __m256 load8(const kvc::bf16* p) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
__attribute__((target("avx2,fma"))) inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}
template <class W>
__attribute__((target("avx2,fma"))) float dot_avx2(const W* __restrict w, const float* __restrict x,
                                                   std::int64_t n) {
  __m256 a[8];
  for (auto& v : a) v = _mm256_setzero_ps();
  std::int64_t c = 0;
  for (; c + 64 <= n; c += 64)
    for (int k = 0; k < 8; ++k) a[k] = _mm256_fmadd_ps(load8(w + c + 8 * k), _mm256_loadu_ps(x + c + 8 * k), a[k]);
  float tail = 0.0f;
  for (; c < n; ++c) tail += widen(w[c]) * x[c];
  for (int k = 0; k < 4; ++k) a[k] = _mm256_add_ps(a[k], a[k + 4]);
  for (int k = 0; k < 2; ++k) a[k] = _mm256_add_ps(a[k], a[k + 2]);
  return hsum8(_mm256_add_ps(a[0], a[1])) + tail;
}
__attribute__((target("avx2,fma"))) float dot_bf16_avx2(const kvc::bf16* w, const float* x, std::int64_t n) {
  return dot_avx2(w, x, n);
}
__attribute__((target("avx2,fma"))) float dot_f32_avx2(const float* w, const float* x, std::int64_t n) {
  return dot_avx2(w, x, n);
}
__attribute__((target("avx2,fma"))) float sum_avx2(const float* x, std::int64_t n) {
  __m256 a[8];
  for (auto& v : a) v = _mm256_setzero_ps();
  std::int64_t c = 0;
  for (; c + 64 <= n; c += 64)
    for (int k = 0; k < 8; ++k) a[k] = _mm256_add_ps(a[k], _mm256_loadu_ps(x + c + 8 * k));
  float tail = 0.0f;
  for (; c < n; ++c) tail += x[c];
  for (int k = 0; k < 4; ++k) a[k] = _mm256_add_ps(a[k], a[k + 4]);
  for (int k = 0; k < 2; ++k) a[k] = _mm256_add_ps(a[k], a[k + 2]);
  return hsum8(_mm256_add_ps(a[0], a[1])) + tail;
}
#pragma GCC diagnostic pop
#endif

constexpr dot_kernels portable{"portable", dot_bf16_portable, dot_f32_portable, sum_portable};
#ifdef KVC_QWEN3_X86
constexpr dot_kernels avx2{"avx2", dot_bf16_avx2, dot_f32_avx2, sum_avx2};
constexpr dot_kernels avx512{"avx512", dot_bf16_avx512, dot_f32_avx512, sum_avx512};
#endif

}  // namespace

std::vector<std::string_view> supported_isas() {
  std::vector<std::string_view> out;
#ifdef KVC_QWEN3_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) out.push_back("avx512");
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) out.push_back("avx2");
#endif
  out.push_back("portable");
  return out;
}

const dot_kernels& dot_kernels_for(std::string_view isa) {
  bool ok = false;
  for (auto s : supported_isas()) ok = ok || s == isa;
  kvc::detail::require(ok, "dot kernels '", isa, "' are unknown or not supported by this CPU");
#ifdef KVC_QWEN3_X86
  if (isa == "avx512") return avx512;
  if (isa == "avx2") return avx2;
#endif
  return portable;
}

const dot_kernels& best_dot_kernels() {
  static const dot_kernels& chosen = [] () -> const dot_kernels& {
    if (const char* env = std::getenv("KVC_QWEN3_ISA"); env && *env) return dot_kernels_for(env);
    return dot_kernels_for(supported_isas().front());
  }();
  return chosen;
}

}  // namespace kvc::qwen3
