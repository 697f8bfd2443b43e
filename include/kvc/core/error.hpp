// kvc::error, the one exception type of the library, and the checks that raise it.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace kvc {

/// Raised for every caller mistake: wrong shapes or head counts, unknown dtypes or policy specs,
/// budgets out of range, malformed files. The message names the argument and what was expected.
class error : public std::runtime_error {
 public:
  explicit error(const std::string& what) : std::runtime_error(what) {}
};

namespace detail {

/// Builds a message from any streamable parts: fail("head_dim must be even, got ", d).
template <class... Parts>
[[noreturn]] void fail(Parts&&... parts) {
  std::ostringstream os;
  (os << ... << std::forward<Parts>(parts));
  throw kvc::error(os.str());
}

/// Throws kvc::error built from `parts` unless `ok`.
template <class... Parts>
void require(bool ok, Parts&&... parts) {
  if (!ok) fail(std::forward<Parts>(parts)...);
}

}  // namespace detail
}  // namespace kvc
