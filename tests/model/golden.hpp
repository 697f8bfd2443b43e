// Shared helpers of the model tests: the committed tiny checkpoints, their HF goldens and comparisons.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kvc/io/safetensors.hpp"
#include "support/skip.hpp"

namespace kvc::test {

/// tests/data/qwen3 (tiny random checkpoints + goldens made by tools/make_qwen3_goldens.py).
inline std::filesystem::path qwen3_dir() { return data_dir() / "qwen3"; }

/// manifest.json of the goldens.
inline const nlohmann::json& qwen3_manifest() {
  static const nlohmann::json m = [] {
    std::ifstream in(qwen3_dir() / "manifest.json");
    if (!in) skip("tests/data/qwen3/manifest.json is missing (run tools/make_qwen3_goldens.py)");
    return nlohmann::json::parse(in);
  }();
  return m;
}

/// One config's golden arrays.
struct golden {
  std::string name;
  const nlohmann::json* entry = nullptr;
  kvc::io::safetensors_file arrays;
  std::vector<std::int32_t> tokens;

  explicit golden(const std::string& config)
      : name(config),
        entry(&qwen3_manifest().at("configs").at(config)),
        arrays(kvc::io::safetensors_file::open(qwen3_dir() / entry->at("goldens").get<std::string>())),
        tokens(entry->at("tokens").get<std::vector<std::int32_t>>()) {}

  std::filesystem::path f32_dir() const { return qwen3_dir() / entry->at("f32_dir").get<std::string>(); }
  std::filesystem::path bf16_dir() const { return qwen3_dir() / entry->at("bf16_dir").get<std::string>(); }
  bool has(const std::string& key) const { return arrays.find(key) != nullptr; }
  std::vector<float> get(const std::string& key) const { return arrays.at(key).to_float(); }
};

/// Elementwise band |a − ref| ≤ atol + rtol·|ref|: the largest ratio |a − ref| / (atol + rtol·|ref|)
/// (≤ 1 passes) and the largest |a − ref|.
struct band_result {
  double worst_ratio = 0;
  double max_abs = 0;
  std::size_t worst_index = 0;
};
inline band_result band(std::span<const float> a, std::span<const float> ref, double atol, double rtol) {
  band_result r;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    const double d = std::fabs(double(a[i]) - double(ref[i]));
    const double ratio = d / (atol + rtol * std::fabs(double(ref[i])));
    r.max_abs = std::max(r.max_abs, d);
    if (ratio > r.worst_ratio) {
      r.worst_ratio = ratio;
      r.worst_index = i;
    }
  }
  return r;
}

/// Index of the largest element of each row of a [rows, cols] matrix.
inline std::vector<std::size_t> row_argmax(std::span<const float> m, std::size_t cols) {
  std::vector<std::size_t> out;
  for (std::size_t r = 0; r * cols < m.size(); ++r) {
    const auto row = m.subspan(r * cols, cols);
    out.push_back(std::size_t(std::max_element(row.begin(), row.end()) - row.begin()));
  }
  return out;
}

/// Normalised mean squared error: mean((a − ref)²) / var(ref).
inline double nmse(std::span<const float> a, std::span<const float> ref) {
  double mean = 0;
  for (float x : ref) mean += x;
  mean /= double(ref.size());
  double err = 0, var = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    err += (double(a[i]) - ref[i]) * (double(a[i]) - ref[i]);
    var += (ref[i] - mean) * (ref[i] - mean);
  }
  return err / var;
}

}  // namespace kvc::test
