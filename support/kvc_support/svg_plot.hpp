// A small SVG scatter-plot writer: compression ratio vs error, log-log, one labelled point per policy.
#pragma once

#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

namespace kvc::support {

/// One labelled point. Points with x <= 0 or y <= 0 (or not finite) cannot sit on log axes:
/// they are drawn at the bottom edge with the label marked "(y=0)" / skipped when x <= 0.
struct plot_point {
  std::string label;
  double x = 0;
  double y = 0;
  /// Points of one non-empty series share a colour and are joined by a line in x order (a
  /// frontier); the series names go in a legend. Points without one get a colour each.
  std::string series;
};

struct plot_options {
  std::string title = "KV-cache policies";
  std::string x_label = "compression ratio vs bf16 (log)";
  std::string y_label = "error (log)";
  int width = 900;
  int height = 600;
};

/// Writes a standalone SVG: log-scale x and y axes with decade ticks (and 2, 5 minor ticks when
/// the range is narrow), grid lines, axis labels, a title, one circle + text label per point, and
/// a line and a legend entry per series.
void write_svg_scatter(std::ostream& os, const std::vector<plot_point>& points, const plot_options& options);

/// Same, to a file; throws kvc::error when it cannot be written.
void write_svg_scatter(const std::filesystem::path& path, const std::vector<plot_point>& points,
                       const plot_options& options);

}  // namespace kvc::support
