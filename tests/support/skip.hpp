// Skipping a whole test executable (CTest SKIP_RETURN_CODE 77) with a message saying why.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace kvc::test {

inline constexpr int skip_exit_code = 77;

/// Prints "SKIPPED: why" and exits with the skip code; CTest reports the test as skipped.
[[noreturn]] inline void skip(const std::string& why) {
  std::printf("SKIPPED: %s\n", why.c_str());
  std::fflush(stdout);
  std::exit(skip_exit_code);
}

/// The shared folder beside the checkout (tokenizer files); env KVC_SHARED_DIR overrides.
inline std::filesystem::path shared_dir() {
  if (const char* env = std::getenv("KVC_SHARED_DIR")) return env;
  return KVC_SHARED_DIR;
}

/// Committed test fixtures (tests/data).
inline std::filesystem::path data_dir() { return KVC_TEST_DATA_DIR; }

}  // namespace kvc::test
