// Reading and writing cache plans as JSON (nlohmann_json), with errors that name the entry.
#include "kvc/io/plan_file.hpp"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "kvc/core/error.hpp"

namespace kvc::io {

cache_plan parse_plan_json(std::string_view text, std::string_view origin) {
  using nlohmann::json;
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    detail::fail(origin, ": not valid JSON: ", e.what());
  }
  detail::require(doc.is_object(), origin, ": a plan must be a JSON object");
  cache_plan plan;
  if (doc.contains("model")) {
    detail::require(doc["model"].is_string(), origin, ": \"model\" must be a string");
    plan.model = doc["model"].get<std::string>();
  }
  detail::require(doc.contains("layers") && doc["layers"].is_array(), origin,
                  ": missing \"layers\" array");
  const auto& entries = doc["layers"];
  detail::require(!entries.empty(), origin, ": \"layers\" is empty");
  const std::size_t n = entries.size();
  plan.layers.assign(n, std::string());
  std::vector<double> scores(n, 0.0);
  std::size_t with_score = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const auto& e = entries[i];
    detail::require(e.is_object(), origin, ": layers[", i, "] must be an object");
    detail::require(e.contains("layer") && e["layer"].is_number_integer(), origin, ": layers[", i,
                    "] needs an integer \"layer\"");
    const auto layer = e["layer"].get<long long>();
    detail::require(layer >= 0 && std::size_t(layer) < n, origin, ": layers[", i, "]: layer ", layer,
                    " out of range [0, ", n, ")");
    detail::require(plan.layers[std::size_t(layer)].empty(), origin, ": layer ", layer, " appears twice");
    detail::require(e.contains("policy") && e["policy"].is_string() && !e["policy"].get<std::string>().empty(),
                    origin, ": layers[", i, "] needs a non-empty string \"policy\"");
    plan.layers[std::size_t(layer)] = e["policy"].get<std::string>();
    if (e.contains("score")) {
      detail::require(e["score"].is_number(), origin, ": layers[", i, "]: \"score\" must be a number");
      scores[std::size_t(layer)] = e["score"].get<double>();
      ++with_score;
    }
  }
  detail::require(with_score == 0 || with_score == n, origin, ": \"score\" given for ", with_score,
                  " of ", n, " layers (all or none)");
  if (with_score == n) plan.scores = std::move(scores);
  return plan;
}

cache_plan read_plan_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  detail::require(bool(in), "cannot open plan file '", path.string(), "'");
  std::ostringstream buf;
  buf << in.rdbuf();
  return parse_plan_json(buf.str(), path.string());
}

std::string plan_to_json(const cache_plan& plan) {
  nlohmann::ordered_json doc;
  doc["model"] = plan.model;
  doc["layers"] = nlohmann::ordered_json::array();
  for (std::size_t l = 0; l < plan.layers.size(); ++l) {
    nlohmann::ordered_json e{{"layer", l}, {"policy", plan.layers[l]}};
    if (!plan.scores.empty()) e["score"] = plan.scores[l];
    doc["layers"].push_back(e);
  }
  return doc.dump(2) + "\n";
}

void write_plan_file(const std::filesystem::path& path, const cache_plan& plan) {
  std::ofstream out(path, std::ios::binary);
  detail::require(bool(out), "cannot write plan file '", path.string(), "'");
  out << plan_to_json(plan);
  detail::require(bool(out), "error writing plan file '", path.string(), "'");
}

}  // namespace kvc::io
