// Writes the seed corpus of fuzz_sequence_file: small saved sequences of each policy the harness
// loads into (full, quant, sparse), at lengths that reach their stages. Run:
//   make_sequence_seeds tests/fuzz/corpus/sequence
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "kvc/kvc.hpp"
#include "kvc/saved_sequence.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_sequence_seeds DIR\n");
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);
  const kvc::layer_shape shape{2, 1, 8};
  const char* specs[] = {"full:f32,page=4", "quant:k=2,v=4,group=8,residual=8,sink=1,dtype=f32",
                         "sparse:topk=2,sink=1,window=2,channels=2,dtype=f32"};
  const char* names[] = {"full", "quant", "sparse"};
  std::mt19937_64 rng(20261203);
  std::normal_distribution<float> g;
  for (int p = 0; p < 3; ++p)
    for (std::size_t tokens : {0, 3, 21}) {
      kvc::kv_cache cache(specs[p], 2, shape);
      std::vector<float> k(tokens * 8), v(tokens * 8);
      for (auto& x : k) x = g(rng);
      for (auto& x : v) x = g(rng);
      for (int l = 0; l < 2; ++l)
        cache.append(l, kvc::tensor_view<const float, 3>(k.data(), {tokens, 1, 8}),
                     kvc::tensor_view<const float, 3>(v.data(), {tokens, 1, 8}));
      const auto path = dir / (std::string(names[p]) + "-" + std::to_string(tokens) + ".safetensors");
      kvc::io::save_sequence(cache, kvc::default_seq, path);
      std::printf("%s\n", path.string().c_str());
    }
  return 0;
}
