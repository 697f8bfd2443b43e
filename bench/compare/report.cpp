// Table, JSON and CSV forms of the compare results; every form carries the same fields.
#include "compare/report.hpp"

#include "kvc_support/text_table.hpp"

#include <algorithm>
#include <cstdio>

#include <nlohmann/json.hpp>

namespace kvc::bench {
namespace {

using support::fixed;
using support::sci;
using support::text_column;
using support::write_text_table;

const text_column<policy_result> columns[] = {
    {"policy", [](const policy_result& r) { return r.policy; }},
    {"context", [](const policy_result& r) { return std::to_string(r.context); }},
    {"device B/tok", [](const policy_result& r) { return fixed(r.device_bytes_per_token, 1); }},
    {"host B/tok", [](const policy_result& r) { return fixed(r.host_bytes_per_token, 1); }},
    {"meta B/tok", [](const policy_result& r) { return fixed(r.metadata_bytes_per_token, 1); }},
    {"ratio", [](const policy_result& r) { return fixed(r.compression_ratio, 2) + "x"; }},
    {"attn err", [](const policy_result& r) { return sci(r.attn_rel_error); }},
    {"recall", [](const policy_result& r) { return r.mass_recall < 0 ? std::string("-") : fixed(r.mass_recall, 4); }},
    {"us/token", [](const policy_result& r) { return fixed(r.decode_us_per_token, 1); }},
    {"GB/s", [](const policy_result& r) { return fixed(r.achieved_gbps, 2); }},
    {"% read bw", [](const policy_result& r) { return fixed(100.0 * r.achieved_gbps / r.read_bw_gbps, 1); }},
};

}  // namespace

void write_table(std::ostream& os, const std::vector<policy_result>& results) {
  write_text_table<policy_result>(os, columns, results);
  if (results.empty()) return;
  const auto [lo, hi] = std::minmax_element(results.begin(), results.end(), [](const auto& a, const auto& b) {
    return a.read_bw_gbps < b.read_bw_gbps;
  });
  os << "machine read bandwidth, measured before each policy's steps: " << fixed(lo->read_bw_gbps, 2);
  if (hi->read_bw_gbps != lo->read_bw_gbps) os << " to " << fixed(hi->read_bw_gbps, 2);
  os << " GB/s\n";
}

nlohmann::json result_json(const policy_result& r) {
  return {{"policy", r.policy},
          {"context", r.context},
          {"device_bytes_per_token", r.device_bytes_per_token},
          {"host_bytes_per_token", r.host_bytes_per_token},
          {"metadata_bytes_per_token", r.metadata_bytes_per_token},
          {"compression_ratio", r.compression_ratio},
          {"attn_rel_error", r.attn_rel_error},
          {"mass_recall", r.mass_recall < 0 ? nlohmann::json(nullptr) : nlohmann::json(r.mass_recall)},
          {"decode_us_per_token", r.decode_us_per_token},
          {"bytes_read_per_step", r.bytes_read_per_step},
          {"h2d_bytes_per_step", r.h2d_bytes_per_step},
          {"achieved_gbps", r.achieved_gbps},
          {"read_bw_gbps", r.read_bw_gbps}};
}

void write_json(std::ostream& os, const std::vector<policy_result>& results) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : results) out.push_back(result_json(r));
  os << out.dump(2) << '\n';
}

void write_csv(std::ostream& os, const std::vector<policy_result>& results) {
  os << "policy,context,device_bytes_per_token,host_bytes_per_token,metadata_bytes_per_token,"
        "compression_ratio,attn_rel_error,mass_recall,decode_us_per_token,bytes_read_per_step,"
        "h2d_bytes_per_step,achieved_gbps,read_bw_gbps\n";
  for (const auto& r : results) {
    os << '"' << r.policy << '"' << ',' << r.context << ',' << r.device_bytes_per_token << ','
       << r.host_bytes_per_token << ',' << r.metadata_bytes_per_token << ',' << r.compression_ratio
       << ',' << r.attn_rel_error << ',';
    if (r.mass_recall >= 0) os << r.mass_recall;
    os << ',' << r.decode_us_per_token << ',' << r.bytes_read_per_step << ',' << r.h2d_bytes_per_step
       << ',' << r.achieved_gbps << ',' << r.read_bw_gbps << '\n';
  }
}

}  // namespace kvc::bench
