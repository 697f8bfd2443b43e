// SVG scatter plot with log axes: ticks, grid, labels; no dependencies.
#include "kvc_support/svg_plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "kvc/core/error.hpp"

namespace kvc::support {
namespace {

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

/// Tick label for 10^e times m.
std::string tick_label(double v) {
  char buf[32];
  if (v >= 1e-3 && v < 1e4) std::snprintf(buf, sizeof buf, "%g", v);
  else std::snprintf(buf, sizeof buf, "%.0e", v);
  return buf;
}

struct log_axis {
  double lo = 0, hi = 1;  // log10 bounds
  void fit(std::vector<double> v) {
    v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !(x > 0) || !std::isfinite(x); }), v.end());
    if (v.empty()) v = {1.0};
    const auto [mn, mx] = std::minmax_element(v.begin(), v.end());
    lo = std::log10(*mn);
    hi = std::log10(*mx);
    const double pad = std::max(0.15, 0.08 * (hi - lo));
    lo = std::floor((lo - pad) * 10) / 10;
    hi = std::ceil((hi + pad) * 10) / 10;
    if (hi - lo < 0.5) {
      const double mid = 0.5 * (lo + hi);
      lo = mid - 0.25;
      hi = mid + 0.25;
    }
  }
  double frac(double v) const { return (std::log10(v) - lo) / (hi - lo); }
  /// Tick values: every power of ten in range, plus 2 and 5 multiples when fewer than 3 decades.
  std::vector<std::pair<double, bool>> ticks() const {  // (value, major)
    std::vector<std::pair<double, bool>> t;
    const bool minor = hi - lo < 3;
    for (int e = int(std::floor(lo)); e <= int(std::ceil(hi)); ++e)
      for (int m : {1, 2, 5}) {
        if (m != 1 && !minor) continue;
        const double v = m * std::pow(10.0, e);
        const double l = std::log10(v);
        if (l >= lo - 1e-9 && l <= hi + 1e-9) t.emplace_back(v, m == 1);
      }
    return t;
  }
};

}  // namespace

void write_svg_scatter(std::ostream& os, const std::vector<plot_point>& points, const plot_options& o) {
  const double W = o.width, H = o.height, left = 90, right = 30, top = 50, bottom = 70;
  const double pw = W - left - right, ph = H - top - bottom;
  log_axis ax, ay;
  std::vector<double> xs, ys;
  for (const auto& p : points) {
    xs.push_back(p.x);
    ys.push_back(p.y);
  }
  ax.fit(xs);
  ay.fit(ys);
  const auto X = [&](double v) { return left + ax.frac(v) * pw; };
  const auto Y = [&](double v) { return top + (1 - ay.frac(v)) * ph; };

  os << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
     << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << o.width << "\" height=\"" << o.height
     << "\" viewBox=\"0 0 " << o.width << ' ' << o.height << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
     << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
     << "<text x=\"" << num(W / 2) << "\" y=\"28\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">"
     << escape(o.title) << "</text>\n";
  // Grid and ticks.
  os << "<g stroke=\"#ddd\" stroke-width=\"1\">\n";
  for (auto [v, major] : ax.ticks())
    os << "<line x1=\"" << num(X(v)) << "\" y1=\"" << num(top) << "\" x2=\"" << num(X(v)) << "\" y2=\""
       << num(top + ph) << "\"" << (major ? "" : " stroke-dasharray=\"3,3\"") << "/>\n";
  for (auto [v, major] : ay.ticks())
    os << "<line x1=\"" << num(left) << "\" y1=\"" << num(Y(v)) << "\" x2=\"" << num(left + pw) << "\" y2=\""
       << num(Y(v)) << "\"" << (major ? "" : " stroke-dasharray=\"3,3\"") << "/>\n";
  os << "</g>\n";
  os << "<rect x=\"" << num(left) << "\" y=\"" << num(top) << "\" width=\"" << num(pw) << "\" height=\"" << num(ph)
     << "\" fill=\"none\" stroke=\"black\"/>\n";
  for (auto [v, major] : ax.ticks())
    os << "<line x1=\"" << num(X(v)) << "\" y1=\"" << num(top + ph) << "\" x2=\"" << num(X(v)) << "\" y2=\""
       << num(top + ph + (major ? 6 : 3)) << "\" stroke=\"black\"/>\n"
       << "<text x=\"" << num(X(v)) << "\" y=\"" << num(top + ph + 20) << "\" text-anchor=\"middle\">"
       << tick_label(v) << "</text>\n";
  for (auto [v, major] : ay.ticks())
    os << "<line x1=\"" << num(left - (major ? 6 : 3)) << "\" y1=\"" << num(Y(v)) << "\" x2=\"" << num(left)
       << "\" y2=\"" << num(Y(v)) << "\" stroke=\"black\"/>\n"
       << "<text x=\"" << num(left - 9) << "\" y=\"" << num(Y(v) + 4) << "\" text-anchor=\"end\">" << tick_label(v)
       << "</text>\n";
  os << "<text x=\"" << num(left + pw / 2) << "\" y=\"" << num(H - 20) << "\" text-anchor=\"middle\" font-size=\"14\">"
     << escape(o.x_label) << "</text>\n"
     << "<text transform=\"translate(22," << num(top + ph / 2) << ") rotate(-90)\" text-anchor=\"middle\" "
     << "font-size=\"14\">" << escape(o.y_label) << "</text>\n";
  // Series: one colour each, a line through their points in x order, a legend entry.
  const char* colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"};
  std::vector<std::string> series;
  for (const auto& p : points)
    if (!p.series.empty() && std::find(series.begin(), series.end(), p.series) == series.end()) series.push_back(p.series);
  const auto series_color = [&](const std::string& name) {
    return colors[std::size_t(std::find(series.begin(), series.end(), name) - series.begin()) % std::size(colors)];
  };
  for (std::size_t k = 0; k < series.size(); ++k) {
    std::vector<std::pair<double, double>> line;
    for (const auto& p : points)
      if (p.series == series[k] && p.x > 0 && p.y > 0 && std::isfinite(p.x) && std::isfinite(p.y))
        line.emplace_back(X(p.x), Y(p.y));
    std::sort(line.begin(), line.end());
    os << "<polyline fill=\"none\" stroke-width=\"1.5\" stroke=\"" << series_color(series[k]) << "\" points=\"";
    for (const auto& [lx, ly] : line) os << num(lx) << ',' << num(ly) << ' ';
    os << "\"/>\n";
    const double ly = top + 18 + 18 * double(k);
    os << "<line x1=\"" << num(left + pw - 170) << "\" y1=\"" << num(ly - 4) << "\" x2=\"" << num(left + pw - 145)
       << "\" y2=\"" << num(ly - 4) << "\" stroke-width=\"2\" stroke=\"" << series_color(series[k]) << "\"/>\n"
       << "<text x=\"" << num(left + pw - 138) << "\" y=\"" << num(ly) << "\">" << escape(series[k]) << "</text>\n";
  }
  // Points.
  std::size_t i = 0;
  std::vector<std::pair<double, double>> placed;  // label anchors so far: labels never overprint
  for (const auto& p : points) {
    if (!(p.x > 0) || !std::isfinite(p.x)) continue;
    const bool zero = !(p.y > 0) || !std::isfinite(p.y);
    const double cx = X(p.x), cy = zero ? top + ph : Y(p.y);
    const char* c = p.series.empty() ? colors[i++ % std::size(colors)] : series_color(p.series);
    const double lx = cx > left + 0.66 * pw ? cx - 8 : cx + 8;  // right third: label left of the point
    double ly = cy - 6;
    for (bool moved = true; moved;) {  // step below any label already placed at nearly the same spot
      moved = false;
      for (const auto& [px, py] : placed)
        if (std::abs(px - lx) < 120 && std::abs(py - ly) < 13) {
          ly = py + 14;
          moved = true;
        }
    }
    placed.emplace_back(lx, ly);
    os << "<circle cx=\"" << num(cx) << "\" cy=\"" << num(cy) << "\" r=\"5\" fill=\"" << c << "\"/>\n"
       << "<text x=\"" << num(lx) << "\" y=\"" << num(ly) << "\" fill=\""
       << c << "\"" << (cx > left + 0.66 * pw ? " text-anchor=\"end\"" : "") << ">"
       << escape(p.label + (zero ? " (0)" : "")) << "</text>\n";
  }
  os << "</svg>\n";
}

void write_svg_scatter(const std::filesystem::path& path, const std::vector<plot_point>& points,
                       const plot_options& options) {
  std::ofstream os(path);
  kvc::detail::require(bool(os), "cannot write plot '", path.string(), "'");
  write_svg_scatter(os, points, options);
  kvc::detail::require(bool(os), "cannot write plot '", path.string(), "'");
}

}  // namespace kvc::support
