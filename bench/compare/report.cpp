// Table, JSON and CSV forms of the compare results; every form carries the same fields.
#include "compare/report.hpp"

#include <algorithm>
#include <cstdio>
#include <iomanip>
#include <sstream>

#include <nlohmann/json.hpp>

namespace kvc::bench {
namespace {

struct column {
  const char* name;
  std::string (*cell)(const policy_result&);
};

std::string fixed(double x, int digits) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(digits) << x;
  return os.str();
}
std::string sci(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2e", x);
  return buf;
}

const column columns[] = {
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
  std::vector<std::size_t> width;
  for (const auto& c : columns) {
    std::size_t w = std::string(c.name).size();
    for (const auto& r : results) w = std::max(w, c.cell(r).size());
    width.push_back(w);
  }
  const auto line = [&](auto&& text_of) {
    for (std::size_t i = 0; i < std::size(columns); ++i) {
      const std::string s = text_of(i);
      os << (i ? "  " : "") << (i == 0 ? std::left : std::right) << std::setw(int(width[i])) << s;
    }
    os << std::left << '\n';
  };
  line([&](std::size_t i) { return std::string(columns[i].name); });
  line([&](std::size_t i) { return std::string(width[i], '-'); });
  for (const auto& r : results) line([&](std::size_t i) { return columns[i].cell(r); });
  if (!results.empty())
    os << "machine read bandwidth: " << fixed(results.front().read_bw_gbps, 2) << " GB/s\n";
}

void write_json(std::ostream& os, const std::vector<policy_result>& results) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : results) {
    out.push_back({{"policy", r.policy},
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
                   {"read_bw_gbps", r.read_bw_gbps}});
  }
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
