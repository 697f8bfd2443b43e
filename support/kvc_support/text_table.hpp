// Aligned text tables (first column left, the rest right) and the number formats they use;
// shared by kvc-bench compare, kvc-qwen3 eval and the trace replay.
#pragma once

#include <algorithm>
#include <cstdio>
#include <iomanip>
#include <ostream>
#include <span>
#include <sstream>
#include <string>
#include <vector>

namespace kvc::support {

/// One column: a header and the text of a row's cell.
template <class Row>
struct text_column {
  const char* name;
  std::string (*cell)(const Row&);
};

/// x with `digits` digits after the point.
inline std::string fixed(double x, int digits) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(digits) << x;
  return os.str();
}

/// x in scientific notation with three significant digits.
inline std::string sci(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2e", x);
  return buf;
}

/// Header, a rule of dashes, then one line per row, every column as wide as its widest cell.
template <class Row>
void write_text_table(std::ostream& os, std::span<const text_column<Row>> columns,
                      const std::vector<Row>& rows) {
  std::vector<std::size_t> width;
  for (const auto& c : columns) {
    std::size_t w = std::string(c.name).size();
    for (const auto& r : rows) w = std::max(w, c.cell(r).size());
    width.push_back(w);
  }
  const auto line = [&](auto&& text_of) {
    for (std::size_t i = 0; i < columns.size(); ++i)
      os << (i ? "  " : "") << (i == 0 ? std::left : std::right) << std::setw(int(width[i])) << text_of(i);
    os << std::left << '\n';
  };
  line([&](std::size_t i) { return std::string(columns[i].name); });
  line([&](std::size_t i) { return std::string(width[i], '-'); });
  for (const auto& r : rows) line([&](std::size_t i) { return columns[i].cell(r); });
}

}  // namespace kvc::support
