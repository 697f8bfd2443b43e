// Error norms shared by the numeric tests.
#pragma once

#include <cmath>
#include <cstddef>
#include <span>

namespace kvc::test {

/// ‖a − b‖₂ / ‖b‖₂ (b is the exact reference).
template <class A, class B>
double relative_error(std::span<const A> a, std::span<const B> b) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < b.size(); ++i) {
    const double d = double(a[i]) - double(b[i]);
    num += d * d;
    den += double(b[i]) * double(b[i]);
  }
  return std::sqrt(num / den);
}

}  // namespace kvc::test
