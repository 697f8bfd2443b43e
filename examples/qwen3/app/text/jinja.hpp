// A Jinja2 interpreter for the subset Hugging Face chat templates use, with transformers' settings.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace kvc::qwen3 {

namespace detail {
struct jinja_node;
}

/// A parsed Jinja2 template, rendered as transformers' apply_chat_template renders chat templates:
/// trim_blocks and lstrip_blocks on, `tojson` as Python's json.dumps(ensure_ascii=False), and the
/// globals `raise_exception(msg)`, `namespace(...)`, `range(...)` and `strftime_now(fmt)`.
///
/// Supported: `{{ }}`, `{% if/elif/else %}`, `{% for x in xs [if c] %}` (with `loop.*`, `else`,
/// `k, v` unpacking), `{% set x = ... %}` and `{% set ns.attr = ... %}`, `{# #}`, `-`/`+` whitespace
/// control, `{% generation %}`; expressions with literals (strings, numbers, lists, dicts),
/// attribute, subscript and slice access, `+ - * / // % ~`, comparisons, `in`, `not in`, `and`,
/// `or`, `not`, `x if c else y`, tests (`is [not] defined/none/string/number/mapping/sequence/
/// iterable/true/false/boolean/integer/float`), the common filters (length, count, tojson, trim,
/// upper, lower, capitalize, title, string, int, float, first, last, join, default, list, reverse,
/// items, safe) and the Python string and dict methods templates call (strip, lstrip, rstrip, split,
/// startswith, endswith, replace, upper, lower, title, capitalize, items, keys, values, get).
/// Anything else is a kvc::error naming the template, the line and the construct.
class jinja_template {
 public:
  /// Parses `source`; `name` prefixes error messages (e.g. "chat template").
  static jinja_template parse(std::string_view source, std::string name = "template");

  /// Renders with the variables of `context` (a JSON object). kvc::error on a render-time error
  /// (an undefined value used where a value is needed, a type mismatch, raise_exception).
  std::string render(const nlohmann::ordered_json& context) const;

 private:
  jinja_template(std::shared_ptr<const detail::jinja_node> root, std::string name);
  std::shared_ptr<const detail::jinja_node> root_;
  std::string name_;
};

}  // namespace kvc::qwen3
