// Checks a tokenizer against a golden file of Hugging Face ids ({"cases": [{"name", "hex", "ids"}]}).
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace kvc::test {

/// The bytes of a hex string ("48690a" -> "Hi\n").
inline std::string from_hex(const std::string& hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

/// The golden file's JSON.
inline nlohmann::json load_json(const std::filesystem::path& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  return nlohmann::json::parse(in);
}

/// CHECKs that `tok` encodes every case's bytes to its ids; returns the number of cases.
template <class Tokenizer>
std::size_t check_encode_goldens(const Tokenizer& tok, const nlohmann::json& goldens) {
  const auto& cases = goldens.at("cases");
  for (const auto& c : cases) {
    INFO("case " << c.at("name").get<std::string>());
    CHECK(tok.encode(from_hex(c.at("hex").get<std::string>())) == c.at("ids").get<std::vector<std::int32_t>>());
  }
  return cases.size();
}

}  // namespace kvc::test
