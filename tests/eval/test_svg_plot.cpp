// SVG plot writer: log axes with ticks, one labelled point per policy, escaped text.
#include <catch2/catch.hpp>

#include <sstream>

#include "kvc_support/svg_plot.hpp"

namespace {
std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}
}  // namespace

TEST_CASE("svg plot: points, labels, ticks") {
  std::ostringstream os;
  kvc::support::plot_options o;
  o.title = "t <&> t";
  kvc::support::write_svg_scatter(os,
                                {{"full:bf16", 1.0, 1e-3, {}}, {"quant:k=2,v=2", 6.4, 0.05, {}},
                                 {"sparse:<x>", 8.0, 0.0, {}}, {"bad", 0.0, 1.0, {}}},
                                o);
  const std::string svg = os.str();
  CHECK(svg.rfind("<?xml", 0) == 0);
  CHECK(svg.find("</svg>") != std::string::npos);
  CHECK(count(svg, "<circle") == 3);  // x <= 0 cannot be placed on a log axis
  CHECK(svg.find(">full:bf16<") != std::string::npos);
  CHECK(svg.find("quant:k=2,v=2") != std::string::npos);
  CHECK(svg.find("sparse:&lt;x&gt; (0)") != std::string::npos);
  CHECK(svg.find("t &lt;&amp;&gt; t") != std::string::npos);
  // Decade ticks of both axes: 1 and 10 on x, 0.001 and 0.01 (or 1e-03 style) on y.
  CHECK(svg.find(">1<") != std::string::npos);
  CHECK(svg.find(">0.01<") != std::string::npos);
  CHECK(svg.find(">0.001<") != std::string::npos);
  CHECK(count(svg, "<text") >= 3 + 2 + 4);
}

TEST_CASE("svg plot: a series is one colour, joined in x order, with a legend entry") {
  std::ostringstream os;
  kvc::support::write_svg_scatter(os,
                                {{"q2", 6.0, 0.05, "uniform"}, {"q8", 2.0, 1e-4, "uniform"}, {"q4", 3.5, 1e-3, "uniform"},
                                 {"plan a", 3.5, 5e-4, "searched"}, {"plan b", 6.0, 0.01, "searched"}, {"alone", 1.0, 1e-5, {}}},
                                {});
  const std::string svg = os.str();
  CHECK(count(svg, "<polyline") == 2);
  CHECK(svg.find(">uniform<") != std::string::npos);
  CHECK(svg.find(">searched<") != std::string::npos);
  CHECK(count(svg, "<circle") == 6);
  // the uniform line visits its points left to right: q8 (x 2), q4 (3.5), q2 (6)
  const auto line = svg.substr(svg.find("<polyline"), svg.find("/>", svg.find("<polyline")) - svg.find("<polyline"));
  const auto pts = line.substr(line.find("points=\"") + 8);
  std::istringstream in(pts);
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0, x2 = 0, y2 = 0;
  char comma = 0;
  in >> x0 >> comma >> y0 >> x1 >> comma >> y1 >> x2 >> comma >> y2;
  CHECK(x0 < x1);
  CHECK(x1 < x2);
}
