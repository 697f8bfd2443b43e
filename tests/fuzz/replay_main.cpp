// Replay driver for a libFuzzer harness where libFuzzer is unavailable (GCC builds): runs every
// corpus file and a deterministic stream of mutations of them through LLVMFuzzerTestOneInput.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

using bytes = std::vector<std::uint8_t>;

bytes read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Tokens worth splicing into JSON-bearing inputs.
const std::string_view tokens[] = {
    "{",  "}",  "[",  "]",  ",",  ":",  "\"", "-1", "0",  "1e3", "18446744073709551615",
    "9223372036854775807", "4294967296", "null", "true", "\"F32\"", "\"BF16\"", "\"I8\"",
    "\"F4\"", "\"dtype\"", "\"shape\"", "\"data_offsets\"", "\"__metadata__\"", "[0,0]", "[]",
    "\\u0000", "\xff", " ",
};

// Applies 1-4 random edits: bit flips, byte sets, inserts, erases, duplications, truncation,
// header-length rewrites, JSON token splices, and splices from another corpus file.
bytes mutate(bytes in, const std::vector<bytes>& corpus, std::mt19937_64& rng, std::size_t max_len) {
  auto pick = [&](std::size_t n) { return n == 0 ? std::size_t(0) : std::size_t(rng() % n); };
  const int edits = 1 + int(rng() % 4);
  for (int e = 0; e < edits; ++e) {
    switch (rng() % 10) {
      case 0:
        if (!in.empty()) in[pick(in.size())] ^= std::uint8_t(1u << (rng() % 8));
        break;
      case 1:
        if (!in.empty()) in[pick(in.size())] = std::uint8_t(rng());
        break;
      case 2: in.insert(in.begin() + std::ptrdiff_t(pick(in.size() + 1)), std::uint8_t(rng())); break;
      case 3:
        if (!in.empty()) {
          const std::size_t at = pick(in.size());
          const std::size_t n = 1 + pick(std::min<std::size_t>(16, in.size() - at));
          in.erase(in.begin() + std::ptrdiff_t(at), in.begin() + std::ptrdiff_t(at + n));
        }
        break;
      case 4:
        if (!in.empty()) {
          const std::size_t at = pick(in.size());
          const std::size_t n = 1 + pick(std::min<std::size_t>(32, in.size() - at));
          const bytes chunk(in.begin() + std::ptrdiff_t(at), in.begin() + std::ptrdiff_t(at + n));
          in.insert(in.begin() + std::ptrdiff_t(pick(in.size() + 1)), chunk.begin(), chunk.end());
        }
        break;
      case 5: in.resize(pick(in.size() + 1)); break;
      case 6: {  // rewrite the header length with a plausible or hostile value
        const std::uint64_t size = in.size();
        const std::uint64_t choices[] = {0, 1, size, size - 8, size - 9, size - 16,
                                         100'000'000, 100'000'001, ~std::uint64_t{0},
                                         std::uint64_t(1) << 63, std::uint64_t(rng() % (size + 8))};
        const std::uint64_t n = choices[pick(std::size(choices))];
        if (in.size() < 8) in.resize(8);
        for (int i = 0; i < 8; ++i) in[std::size_t(i)] = std::uint8_t(n >> (8 * i));
        break;
      }
      case 7:
      case 8: {
        const std::string_view t = tokens[pick(std::size(tokens))];
        const std::size_t at = pick(in.size() + 1);
        if (rng() % 2 == 0 || in.size() - at < t.size())
          in.insert(in.begin() + std::ptrdiff_t(at), t.begin(), t.end());
        else
          std::copy(t.begin(), t.end(), in.begin() + std::ptrdiff_t(at));
        break;
      }
      default: {
        const bytes& other = corpus[pick(corpus.size())];
        if (!other.empty()) {
          const std::size_t from = pick(other.size());
          const std::size_t n = 1 + pick(other.size() - from);
          const std::size_t at = pick(in.size() + 1);
          in.resize(std::max(in.size(), at + n));
          std::copy(other.begin() + std::ptrdiff_t(from), other.begin() + std::ptrdiff_t(from + n),
                    in.begin() + std::ptrdiff_t(at));
        }
      }
    }
  }
  if (in.size() > max_len) in.resize(max_len);
  return in;
}

bool run_one(const bytes& input, const std::string& what) {
  try {
    LLVMFuzzerTestOneInput(input.data(), input.size());
    return true;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "FAIL %s: exception escaped: %s\n", what.c_str(), e.what());
  } catch (...) {
    std::fprintf(stderr, "FAIL %s: non-std exception escaped\n", what.c_str());
  }
  std::ofstream("replay-failure.bin", std::ios::binary)
      .write(reinterpret_cast<const char*>(input.data()), std::streamsize(input.size()));
  std::fprintf(stderr, "  input written to replay-failure.bin (%zu bytes)\n", input.size());
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t mutations = 1000, seed = 1;
  std::size_t max_len = 1 << 16;
  std::vector<std::filesystem::path> inputs;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--mutations" && i + 1 < argc) mutations = std::stoull(argv[++i]);
    else if (a == "--seed" && i + 1 < argc) seed = std::stoull(argv[++i]);
    else if (a == "--max-len" && i + 1 < argc) max_len = std::stoull(argv[++i]);
    else if (a.starts_with("--")) {
      std::fprintf(stderr, "usage: %s [--mutations N] [--seed S] [--max-len L] corpus...\n", argv[0]);
      return 2;
    } else inputs.emplace_back(a);
  }

  std::vector<std::filesystem::path> files;
  for (const auto& p : inputs) {
    if (std::filesystem::is_directory(p)) {
      for (const auto& e : std::filesystem::directory_iterator(p))
        if (e.is_regular_file()) files.push_back(e.path());
    } else if (std::filesystem::is_regular_file(p)) {
      files.push_back(p);
    } else {
      std::fprintf(stderr, "no such corpus file or directory: %s\n", p.string().c_str());
      return 2;
    }
  }
  std::sort(files.begin(), files.end());  // deterministic order
  if (files.empty()) {
    std::fprintf(stderr, "empty corpus\n");
    return 2;
  }
  std::vector<bytes> corpus;
  for (const auto& f : files) corpus.push_back(read_file(f));

  std::size_t failures = 0, runs = 0;
  for (std::size_t i = 0; i < corpus.size(); ++i, ++runs)
    failures += !run_one(corpus[i], files[i].filename().string());
  for (std::size_t i = 0; i < corpus.size(); ++i) {
    std::mt19937_64 rng(seed * 0x9e3779b97f4a7c15ull + i);
    for (std::uint64_t m = 0; m < mutations; ++m, ++runs) {
      const bytes input = mutate(corpus[i], corpus, rng, max_len);
      failures += !run_one(input, files[i].filename().string() + " mutation " + std::to_string(m));
      if (failures > 10) break;
    }
  }
  std::printf("replayed %zu corpus files + %zu mutations (seed %llu): %zu failure(s)\n",
              corpus.size(), runs - corpus.size(), static_cast<unsigned long long>(seed), failures);
  return failures == 0 ? 0 : 1;
}
