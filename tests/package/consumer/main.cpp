// Consumer program: a bf16 full cache on a tiny layer, checked against the f64 oracle.
#include <cmath>
#include <cstdio>
#include <vector>

#include "kvc/kvc.hpp"
#if defined(KVC_CONSUMER_WITH_CUDA)
#include "kvc/cuda/runtime.hpp"
#endif

int main() {
  const kvc::layer_shape shape{4, 2, 16};
  kvc::kv_cache cache("full:f32", 1, shape);
  const std::size_t n = 5;
  std::vector<float> q(n * 4 * 16), k(n * 2 * 16), v(n * 2 * 16), out(n * 4 * 16);
  for (std::size_t i = 0; i < q.size(); ++i) q[i] = std::sin(0.37f * float(i));
  for (std::size_t i = 0; i < k.size(); ++i) k[i] = std::cos(0.11f * float(i));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = std::sin(0.05f * float(i) + 1.0f);
  const kvc::tensor_view<const float, 3> qv(q.data(), {n, 4, 16}), kv(k.data(), {n, 2, 16}), vv(v.data(), {n, 2, 16});
  cache.append_and_attend(0, qv, kv, vv, kvc::tensor_view<float, 3>(out.data(), {n, 4, 16}));
  const auto exact = kvc::attention_reference(qv, kv, vv, shape, 0);
  double worst = 0;
  for (std::size_t i = 0; i < out.size(); ++i) worst = std::max(worst, std::fabs(double(out[i]) - exact[i]));
  if (worst > 1e-5 || cache.size(0) != n) {
    std::printf("kvc-fail: max error %g\n", worst);
    return 1;
  }
#if defined(KVC_CONSUMER_WITH_CUDA)
  std::printf("cuda devices: %d\n", kvc::cuda::device_count());
#endif
  std::printf("kvc-ok %zu tokens, max error %.2e\n", cache.size(0), worst);
  return 0;
}
