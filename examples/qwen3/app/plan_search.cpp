// Layer sensitivities by teacher-forced eval, and the knapsack that turns them into a plan under a budget.
#include "app/plan_search.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include "kvc/core/error.hpp"
#include "kvc/memory_plan.hpp"

namespace kvc::qwen3 {

namespace {

/// One layer's bytes under `spec`, for one sequence of `context` tokens.
kvc::memory_footprint layer_bytes(const model& m, const std::string& spec, std::size_t context) {
  return kvc::plan_kv_bytes(kvc::cache_plan::uniform(spec, 1), m.attention_shape(), context, 1).total();
}

}  // namespace

layer_sensitivity measure_sensitivity(const model& m, std::span<const std::int32_t> tokens, const eval_options& eval,
                                      const std::vector<std::string>& candidates, std::size_t plan_context,
                                      const eval_progress& progress) {
  kvc::detail::require(!candidates.empty(), "search-plan: no candidate policies");
  kvc::detail::require(plan_context > 0, "search-plan: the plan context must be at least 1 token");
  const int layers = m.config().num_layers;
  layer_sensitivity s;
  s.candidates = candidates;
  s.plan_context = plan_context;
  for (const std::string& c : candidates) {
    const kvc::memory_footprint f = layer_bytes(m, c, plan_context);
    s.device_bytes.push_back(f.device_bytes);
    s.host_bytes.push_back(f.host_bytes);
  }
  s.kl.assign(std::size_t(layers), std::vector<double>(candidates.size(), 0.0));
  for (int l = 0; l < layers; ++l) {
    // the runs of this layer: "layer l: SPEC" names the plan with only layer l on SPEC
    std::map<std::string, kvc::cache_plan> plans;
    eval_options o = eval;
    o.policies.clear();
    std::vector<std::size_t> index;  // o.policies[i] is candidate index[i]
    for (std::size_t c = 0; c < candidates.size(); ++c) {
      if (candidates[c] == eval.baseline) continue;
      kvc::cache_plan p = kvc::cache_plan::uniform(eval.baseline, layers);
      p.layers[std::size_t(l)] = candidates[c];
      const std::string name = "layer " + std::to_string(l) + ": " + candidates[c];
      plans.emplace(name, std::move(p));
      o.policies.push_back(name);
      index.push_back(c);
    }
    if (progress) progress("layer " + std::to_string(l), std::size_t(l), std::size_t(layers));
    if (o.policies.empty()) continue;
    const auto results = run_eval(m, tokens, o, {}, [&](const std::string& spec) {
      const auto it = plans.find(spec);
      return it == plans.end() ? m.make_cache(spec) : kvc::kv_cache(it->second, m.attention_shape());
    });
    for (std::size_t i = 0; i < index.size(); ++i) s.kl[std::size_t(l)][index[i]] = results[i + 1].kl_mean;
    s.tokens_scored = results[0].tokens_scored;
  }
  if (progress) progress("layers", std::size_t(layers), std::size_t(layers));
  return s;
}

nlohmann::json sensitivity_to_json(const layer_sensitivity& s) {
  return {{"candidates", s.candidates}, {"device_bytes", s.device_bytes}, {"host_bytes", s.host_bytes},
          {"plan_context", s.plan_context}, {"tokens_scored", s.tokens_scored}, {"kl", s.kl}};
}

layer_sensitivity sensitivity_from_json(const nlohmann::json& j, int layers, std::string_view source) {
  using kvc::detail::require;
  require(j.is_object(), source, ": the sensitivities must be a JSON object");
  for (const char* key : {"candidates", "device_bytes", "host_bytes", "plan_context", "tokens_scored", "kl"})
    require(j.contains(key), source, ": field '", key, "' is missing");
  layer_sensitivity s;
  try {
    s.candidates = j.at("candidates").get<std::vector<std::string>>();
    s.device_bytes = j.at("device_bytes").get<std::vector<std::size_t>>();
    s.host_bytes = j.at("host_bytes").get<std::vector<std::size_t>>();
    s.plan_context = j.at("plan_context").get<std::size_t>();
    s.tokens_scored = j.at("tokens_scored").get<std::size_t>();
    s.kl = j.at("kl").get<std::vector<std::vector<double>>>();
  } catch (const nlohmann::json::exception& e) {
    kvc::detail::fail(source, ": a field has the wrong type (", e.what(), ")");
  }
  const std::size_t C = s.candidates.size();
  require(C > 0 && s.device_bytes.size() == C && s.host_bytes.size() == C, source, ": ", C,
          " candidates but ", s.device_bytes.size(), " device and ", s.host_bytes.size(), " host byte counts");
  require(s.kl.size() == std::size_t(layers), source, ": KL for ", s.kl.size(), " layers, the model has ", layers);
  for (std::size_t l = 0; l < s.kl.size(); ++l) {
    require(s.kl[l].size() == C, source, ": layer ", l, " has ", s.kl[l].size(), " KL values for ", C, " candidates");
    for (double x : s.kl[l]) require(std::isfinite(x) && x >= 0, source, ": layer ", l, " has KL ", x);
  }
  return s;
}

layer_sensitivity merge_sensitivities(layer_sensitivity a, const layer_sensitivity& b, std::string_view source) {
  using kvc::detail::require;
  require(a.kl.size() == b.kl.size(), source, ": KL for ", b.kl.size(), " layers, the first report has ", a.kl.size());
  require(a.plan_context == b.plan_context, source, ": plan_context ", b.plan_context, ", the first report has ",
          a.plan_context);
  require(a.tokens_scored == b.tokens_scored, source, ": tokens_scored ", b.tokens_scored, ", the first report has ",
          a.tokens_scored, " (a different calibration protocol)");
  for (std::size_t c = 0; c < b.candidates.size(); ++c) {
    if (std::find(a.candidates.begin(), a.candidates.end(), b.candidates[c]) != a.candidates.end()) continue;
    a.candidates.push_back(b.candidates[c]);
    a.device_bytes.push_back(b.device_bytes[c]);
    a.host_bytes.push_back(b.host_bytes[c]);
    for (std::size_t l = 0; l < a.kl.size(); ++l) a.kl[l].push_back(b.kl[l][c]);
  }
  return a;
}

searched_plan choose_plan(const layer_sensitivity& s, std::size_t budget, std::size_t resolution) {
  const std::size_t L = s.kl.size(), C = s.candidates.size();
  kvc::detail::require(L > 0 && C > 0, "search-plan: nothing measured");
  kvc::detail::require(resolution > 0, "search-plan: resolution must be positive");
  std::size_t smallest = 0;
  for (std::size_t l = 0; l < L; ++l) smallest += *std::min_element(s.device_bytes.begin(), s.device_bytes.end());
  kvc::detail::require(smallest <= budget, "search-plan: the budget of ", budget,
                       " device bytes is below the smallest plan of these candidates, ", smallest,
                       " bytes (every layer on its cheapest candidate)");
  // Units: the costs' greatest common divisor when that leaves few enough (exact: a uniform plan
  // at exactly the budget stays feasible), else budget / resolution with every cost rounded up.
  std::size_t unit = 0;
  for (const std::size_t b : s.device_bytes) unit = std::gcd(unit, b);
  if (unit == 0 || budget / unit > resolution) unit = std::max<std::size_t>(1, (budget + resolution - 1) / resolution);
  const std::size_t cap = budget / unit;  // whole units the plan may use
  std::vector<std::size_t> cost(C);
  for (std::size_t c = 0; c < C; ++c) cost[c] = (s.device_bytes[c] + unit - 1) / unit;
  constexpr double inf = std::numeric_limits<double>::infinity();
  // best[l + 1][u]: the least KL of layers 0..l using exactly u units; pick[l][u] its choice
  std::vector<std::vector<double>> best(L + 1, std::vector<double>(cap + 1, inf));
  std::vector<std::vector<int>> pick(L, std::vector<int>(cap + 1, -1));
  best[0][0] = 0;
  for (std::size_t l = 0; l < L; ++l)
    for (std::size_t u = 0; u <= cap; ++u) {
      if (best[l][u] == inf) continue;
      for (std::size_t c = 0; c < C; ++c) {
        if (u + cost[c] > cap) continue;
        const double kl = best[l][u] + s.kl[l][c];
        if (kl < best[l + 1][u + cost[c]]) {
          best[l + 1][u + cost[c]] = kl;
          pick[l][u + cost[c]] = int(c);
        }
      }
    }
  std::size_t u = std::size_t(std::min_element(best[L].begin(), best[L].end()) - best[L].begin());
  kvc::detail::require(best[L][u] < inf, "search-plan: the budget of ", budget,
                       " device bytes fits no plan once costs are rounded to ", unit, "-byte units");
  searched_plan r;
  r.choice.assign(L, -1);
  for (std::size_t l = L; l-- > 0;) {
    const int c = pick[l][u];
    r.choice[l] = c;
    u -= cost[std::size_t(c)];
  }
  r.plan.layers.resize(L);
  r.plan.scores.resize(L);
  for (std::size_t l = 0; l < L; ++l) {
    const std::size_t c = std::size_t(r.choice[l]);
    r.plan.layers[l] = s.candidates[c];
    r.plan.scores[l] = s.kl[l][c];
    r.predicted_kl += s.kl[l][c];
    r.device_bytes += s.device_bytes[c];
    r.host_bytes += s.host_bytes[c];
  }
  return r;
}

std::size_t uniform_device_bytes(const model& m, const std::string& spec, std::size_t plan_context) {
  return std::size_t(m.config().num_layers) * layer_bytes(m, spec, plan_context).device_bytes;
}

}  // namespace kvc::qwen3
