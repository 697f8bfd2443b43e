// kvc-bench-qwen3-decode: decode tokens/s of a mid-size random bf16 Qwen3-shaped model vs the machine's read bandwidth.
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kvc/core/dtype.hpp"
#include "kvc/io/safetensors_writer.hpp"
#include "model/dot.hpp"
#include "model/model.hpp"

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

namespace {

struct bench_options {
  int hidden = 2048, layers = 8, heads = 16, kv_heads = 8, head_dim = 128, intermediate = 4096, vocab = 32000;
  int prompt = 64, decode = 32, repeats = 3;
  std::size_t bandwidth_bytes = std::size_t(1) << 30;
  std::string policy = "full:bf16";
};

double seconds_since(clock_type::time_point t) { return std::chrono::duration<double>(clock_type::now() - t).count(); }

/// Multi-threaded streaming read of a buffer much larger than the LLC; each measure() is one
/// pass, in GB/s. Passes are interleaved with the decode runs so both see the same machine load.
class bandwidth_probe {
 public:
  explicit bandwidth_probe(std::size_t bytes) : buf_(bytes / sizeof(float)) {
    const std::size_t n = buf_.size();
#pragma omp parallel for schedule(static)
    for (std::size_t i = 0; i < n; ++i) buf_[i] = float(i & 1023) * 1e-3f;  // first touch by the reading threads
  }
  double measure() {
    const std::size_t n = buf_.size();
    const auto& k = kvc::qwen3::best_dot_kernels();
    const auto t = clock_type::now();
    double total = 0;
#pragma omp parallel reduction(+ : total)
    {
      // Each thread streams its static share of the buffer (the same split as the first touch).
      const int threads = omp_get_num_threads(), id = omp_get_thread_num();
      const std::size_t chunk = (n / 64 + std::size_t(threads) - 1) / std::size_t(threads) * 64;
      const std::size_t begin = std::min(n, chunk * std::size_t(id)), end = std::min(n, begin + chunk);
      total += k.sum(buf_.data() + begin, std::int64_t(end - begin));
    }
    const double s = seconds_since(t);
    sink_ += total;
    return double(n * sizeof(float)) / s / 1e9;
  }
  double sink() const { return sink_; }

 private:
  std::vector<float> buf_;
  double sink_ = 0;
};

/// Writes a random bf16 Qwen3 checkpoint (config.json + model.safetensors) into `dir`.
void write_checkpoint(const fs::path& dir, const bench_options& o) {
  fs::create_directories(dir);
  nlohmann::json cfg = {{"architectures", {"Qwen3ForCausalLM"}}, {"model_type", "qwen3"},
                        {"hidden_size", o.hidden}, {"intermediate_size", o.intermediate},
                        {"num_hidden_layers", o.layers}, {"num_attention_heads", o.heads},
                        {"num_key_value_heads", o.kv_heads}, {"head_dim", o.head_dim},
                        {"vocab_size", o.vocab}, {"rms_norm_eps", 1e-6}, {"rope_theta", 1e6},
                        {"tie_word_embeddings", false}, {"torch_dtype", "bfloat16"},
                        {"max_position_embeddings", 40960}};
  std::ofstream(dir / "config.json") << cfg.dump(2);
  std::vector<std::vector<std::byte>> storage;
  std::vector<kvc::io::tensor_to_write> tensors;
  std::uint64_t state = 0x9e3779b97f4a7c15ull;
  auto add = [&](const std::string& name, std::vector<std::int64_t> shape, float scale, float offset) {
    std::int64_t numel = 1;
    for (auto d : shape) numel *= d;
    std::vector<std::byte> bytes(std::size_t(numel) * 2);
    auto* p = reinterpret_cast<std::uint16_t*>(bytes.data());
    for (std::int64_t i = 0; i < numel; ++i) {
      state ^= state << 13, state ^= state >> 7, state ^= state << 17;  // xorshift64
      const float u = float(state >> 40) / float(1 << 24) - 0.5f;       // uniform [-0.5, 0.5)
      p[i] = kvc::to_bf16(offset + scale * u).bits;
    }
    storage.push_back(std::move(bytes));
    tensors.push_back({name, "BF16", std::move(shape), {}});
  };
  const std::int64_t H = o.hidden, Q = o.heads * o.head_dim, KV = o.kv_heads * o.head_dim, I = o.intermediate;
  const float lin = 3.4f / std::sqrt(float(H));  // ~N(0, 1/fan_in) spread
  add("model.embed_tokens.weight", {o.vocab, H}, 2.0f, 0.0f);
  add("lm_head.weight", {o.vocab, H}, lin, 0.0f);
  add("model.norm.weight", {H}, 1.0f, 1.0f);
  for (int l = 0; l < o.layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {H}, 1.0f, 1.0f);
    add(p + "post_attention_layernorm.weight", {H}, 1.0f, 1.0f);
    add(p + "self_attn.q_proj.weight", {Q, H}, lin, 0.0f);
    add(p + "self_attn.k_proj.weight", {KV, H}, lin, 0.0f);
    add(p + "self_attn.v_proj.weight", {KV, H}, lin, 0.0f);
    add(p + "self_attn.o_proj.weight", {H, Q}, 3.4f / std::sqrt(float(Q)), 0.0f);
    add(p + "self_attn.q_norm.weight", {o.head_dim}, 1.0f, 1.0f);
    add(p + "self_attn.k_norm.weight", {o.head_dim}, 1.0f, 1.0f);
    add(p + "mlp.gate_proj.weight", {I, H}, lin, 0.0f);
    add(p + "mlp.up_proj.weight", {I, H}, lin, 0.0f);
    add(p + "mlp.down_proj.weight", {H, I}, 3.4f / std::sqrt(float(I)), 0.0f);
  }
  for (std::size_t i = 0; i < tensors.size(); ++i) tensors[i].data = storage[i];
  kvc::io::write_safetensors(dir / "model.safetensors", tensors);
}

bool parse_int(const char* arg, const char* name, int& out) {
  const std::size_t len = std::strlen(name);
  if (std::strncmp(arg, name, len) != 0 || arg[len] != '=') return false;
  out = std::atoi(arg + len + 1);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  bench_options o;
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    if (parse_int(a, "--hidden", o.hidden) || parse_int(a, "--layers", o.layers) ||
        parse_int(a, "--intermediate", o.intermediate) || parse_int(a, "--vocab", o.vocab) ||
        parse_int(a, "--prompt", o.prompt) || parse_int(a, "--decode", o.decode) ||
        parse_int(a, "--repeats", o.repeats))
      continue;
    if (std::strncmp(a, "--policy=", 9) == 0) {
      o.policy = a + 9;
      continue;
    }
    std::fprintf(stderr,
                 "usage: %s [--hidden=N] [--layers=N] [--intermediate=N] [--vocab=N] [--prompt=N] "
                 "[--decode=N] [--repeats=N] [--policy=SPEC]\n",
                 argv[0]);
    return 2;
  }
  const bool tty = isatty(fileno(stderr));
  const fs::path dir = fs::temp_directory_path() / ("kvc-bench-qwen3-" + std::to_string(getpid()));
  try {
    std::fprintf(stderr, "writing a random bf16 checkpoint (hidden %d, %d layers, intermediate %d, vocab %d)...\n",
                 o.hidden, o.layers, o.intermediate, o.vocab);
    auto t = clock_type::now();
    write_checkpoint(dir, o);
    std::fprintf(stderr, "  %.1f s\n", seconds_since(t));
    const auto m = kvc::qwen3::model::load(dir);
    const double weight_bytes = double(m.weights().bytes_per_token());

    bandwidth_probe probe(o.bandwidth_bytes);
    double bw = 0;

    std::vector<std::int32_t> prompt(std::size_t(o.prompt));
    for (int i = 0; i < o.prompt; ++i) prompt[std::size_t(i)] = std::int32_t((i * 7919 + 13) % o.vocab);
    double best_tps = 0, prefill_tps = 0;
    for (int r = 0; r < o.repeats; ++r) {
      for (int pass = 0; pass < 2; ++pass) bw = std::max(bw, probe.measure());
      auto cache = m.make_cache(o.policy);
      t = clock_type::now();
      auto logits = m.forward(prompt, cache, kvc::qwen3::logits_mode::last);
      prefill_tps = std::max(prefill_tps, o.prompt / seconds_since(t));
      t = clock_type::now();
      for (int s = 0; s < o.decode; ++s) {
        const std::int32_t next[] = {std::int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin())};
        logits = m.forward(next, cache, kvc::qwen3::logits_mode::last);
        if (tty) std::fprintf(stderr, "\rrun %d/%d: decode %d/%d", r + 1, o.repeats, s + 1, o.decode);
      }
      best_tps = std::max(best_tps, o.decode / seconds_since(t));
    }
    if (tty) std::fprintf(stderr, "\r\033[K");
    const double achieved = weight_bytes * best_tps / 1e9;
    std::printf("threads            %d (kernels: %s)\n", omp_get_max_threads(), kvc::qwen3::best_dot_kernels().isa);
    std::printf("model              hidden %d, layers %d, heads %d/%d x %d, intermediate %d, vocab %d, bf16\n",
                o.hidden, o.layers, o.heads, o.kv_heads, o.head_dim, o.intermediate, o.vocab);
    std::printf("cache policy       %s\n", o.policy.c_str());
    std::printf("weights per token  %.1f MB\n", weight_bytes / 1e6);
    std::printf("prefill            %.1f tokens/s (%d-token prompt)\n", prefill_tps, o.prompt);
    std::printf("decode             %.2f tokens/s (best of %d runs of %d tokens)\n", best_tps, o.repeats, o.decode);
    std::printf("decode weight read %.2f GB/s\n", achieved);
    std::printf("read bandwidth     %.2f GB/s (streaming sum, %zu MiB, best of %d passes)%s\n", bw,
                o.bandwidth_bytes >> 20, 2 * o.repeats, probe.sink() == 42.0 ? " " : "");
    std::printf("ratio              %.0f%% of read bandwidth (goal >= 60%%)\n", 100 * achieved / bw);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kvc-bench-qwen3-decode: %s\n", e.what());
    std::error_code ec;
    fs::remove_all(dir, ec);
    return 1;
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}
