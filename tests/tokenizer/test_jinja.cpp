// Jinja interpreter: byte-for-byte equality with Python jinja2 (transformers' settings) on chat
// templates and a language-coverage template, and clear errors for what it does not support.
#include <catch2/catch.hpp>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "app/text/jinja.hpp"
#include "kvc/core/error.hpp"
#include "support/skip.hpp"

using kvc::qwen3::jinja_template;
using json = nlohmann::ordered_json;

namespace {

json load_goldens() {
  std::ifstream in(kvc::test::data_dir() / "tokenizer" / "jinja_goldens.json");
  REQUIRE(in.good());
  return json::parse(in);
}

std::string render(std::string_view source, const json& context = json::object()) {
  return jinja_template::parse(source, "test template").render(context);
}

}  // namespace

TEST_CASE("jinja renders what Python jinja2 renders, byte for byte", "[jinja]") {
  const auto goldens = load_goldens();
  REQUIRE(goldens.at("templates").size() == 4);
  std::size_t cases = 0;
  for (const auto& t : goldens.at("templates")) {
    const auto tmpl = jinja_template::parse(t.at("source").get<std::string>(), t.at("name").get<std::string>());
    for (const auto& c : t.at("cases")) {
      INFO("template " << t.at("name").get<std::string>() << ", case " << c.at("name").get<std::string>());
      CHECK(tmpl.render(c.at("context")) == c.at("rendered").get<std::string>());
      ++cases;
    }
  }
  CHECK(cases >= 20);
}

TEST_CASE("jinja: whitespace control, trim_blocks and lstrip_blocks", "[jinja]") {
  CHECK(render("a\n{% if true %}\nb\n{% endif %}\nc") == "a\nb\nc");  // trim_blocks eats the newline after a tag
  CHECK(render("a\n    {% if true %}b{% endif %}") == "a\nb");         // lstrip_blocks the indent before it
  CHECK(render("a\n    {%+ if true %}b{% endif %}") == "a\n    b");
  CHECK(render("a  \n {{- 'b' -}} \n c") == "abc");
  CHECK(render("{{ 'x' }}\n{{ 'y' }}") == "x\ny");                      // not after {{ }}
  CHECK(render("{# note #}\nx") == "x");
}

TEST_CASE("jinja: scoping of set inside loops, and namespaces", "[jinja]") {
  CHECK(render("{% set x = 1 %}{% for i in [1, 2] %}{% set x = i * 10 %}{{ x }},{% endfor %}{{ x }}") == "10,20,1");
  CHECK(render("{% set ns = namespace(x=1) %}{% for i in [1, 2] %}{% set ns.x = ns.x + i %}{% endfor %}{{ ns.x }}") ==
        "4");
  CHECK(render("{% for a in [1, 2] %}{% for b in 'xy' %}{{ loop.index }}{{ b }}{% endfor %}{{ loop.index }};{% endfor %}") ==
        "1x2y1;1x2y2;");
}

TEST_CASE("jinja: values print as Python prints them", "[jinja]") {
  CHECK(render("{{ none }} {{ true }} {{ 1.0 }} {{ [1, 'a', none] }} {{ {'k': false} }} [{{ undefined_name }}]") ==
        "None True 1.0 [1, 'a', None] {'k': False} []");
  CHECK(render("{{ m.content }}", json{{"m", {{"content", "hi"}}}}) == "hi");
  CHECK(render("{{ xs[-1] }} {{ xs[5] is defined }}", json{{"xs", {1, 2, 3}}}) == "3 False");
}

TEST_CASE("jinja: bad templates and failed renders name the line and the construct", "[jinja]") {
  CHECK_THROWS_WITH(render("x\n{% if a %}"), Catch::Contains("missing 'endif'"));
  CHECK_THROWS_WITH(render("{{ x"), Catch::Contains("line 1") && Catch::Contains("never closed"));
  CHECK_THROWS_WITH(render("\n\n{{ x | frobnicate }}"), Catch::Contains("line 3") && Catch::Contains("'frobnicate'"));
  CHECK_THROWS_WITH(render("{% macro m() %}{% endmacro %}"), Catch::Contains("'macro' is not supported"));
  CHECK_THROWS_WITH(render("{% endfor %}"), Catch::Contains("without a matching"));
  CHECK_THROWS_WITH(render("{{ raise_exception('Only user and assistant roles') }}"),
                    Catch::Contains("Only user and assistant roles"));
  CHECK_THROWS_WITH(render("{{ a.b }}"), Catch::Contains("undefined"));
  CHECK_THROWS_WITH(render("{{ 'a' + 1 }}"), Catch::Contains("cannot apply '+'"));
  CHECK_THROWS_WITH(render("{{ 1 // 0 }}"), Catch::Contains("division by zero"));
  CHECK_THROWS_WITH(render("{{ 'unterminated }}"), Catch::Contains("never closed") || Catch::Contains("unterminated"));
  CHECK_THROWS_WITH(render("{{ 'caf\xC3' }}"), Catch::Contains("not valid UTF-8"));
  const json bad_content = {{"m", "\xFF\xFE"}};  // text that is not UTF-8, given to tojson
  CHECK_THROWS_AS(render("{{ m | tojson }}", bad_content), kvc::error);
  CHECK_THROWS_WITH(render("{{ 99999999999999999999 }}"), Catch::Contains("integer literal 99999999999999999999 is out of range"));
  CHECK_THROWS_WITH(render("{{ '\\U00110000' }}"), Catch::Contains("not a Unicode code point"));
  CHECK_THROWS_WITH(render("{% for x in 3 %}{% endfor %}"), Catch::Contains("cannot loop over 3"));
  CHECK_THROWS_AS(jinja_template::parse("{% if %}{% endif %}", "t"), kvc::error);
}

TEST_CASE("jinja: hostile templates hit limits, not the stack or the memory", "[jinja]") {
  CHECK_THROWS_WITH(render("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}"),
                    Catch::Contains("nests deeper"));
  CHECK(render("{{ " + std::string(50, '(') + "1" + std::string(50, ')') + " }}") == "1");  // well below the limit
  std::string nested_ifs;
  for (int i = 0; i < 500; ++i) nested_ifs += "{% if true %}";
  CHECK_THROWS_WITH(render(nested_ifs), Catch::Contains("blocks nest deeper"));
  std::string nots = "{{ ";
  for (int i = 0; i < 5000; ++i) nots += "not ";
  CHECK_THROWS_WITH(render(nots + "x }}"), Catch::Contains("nests deeper"));
  CHECK_THROWS_WITH(render("{% for i in range(100000000) %}{% endfor %}"), Catch::Contains("range() of more than"));
  CHECK_THROWS_WITH(render("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}"),
                    Catch::Contains("a string grows past"));
  CHECK_THROWS_WITH(render("{% for i in range(5000) %}{% for j in range(5000) %}{% endfor %}{% endfor %}"),
                    Catch::Contains("loop iterations"));
}
