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
                                {{"full:bf16", 1.0, 1e-3}, {"quant:k=2,v=2", 6.4, 0.05}, {"sparse:<x>", 8.0, 0.0},
                                 {"bad", 0.0, 1.0}},
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
