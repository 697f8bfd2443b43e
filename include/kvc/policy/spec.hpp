// Policy spec strings ("full:bf16", "quant:k=2,v=2,group=64") parsed and read with clear errors.
#pragma once

#include <charconv>
#include <initializer_list>
#include <limits>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kvc/core/dtype.hpp"
#include "kvc/core/error.hpp"

namespace kvc {

/// A parsed policy spec: `name[:item,item,...]` where an item is `key=value` (an option) or a
/// bare word (a positional argument, e.g. the dtype of `full:bf16`).
struct policy_spec {
  std::string text;  // as given
  std::string name;
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> options;

  /// Parses `text`; throws kvc::error for an empty name, empty items or repeated keys.
  static policy_spec parse(std::string_view text) {
    policy_spec s;
    s.text = std::string(text);
    const auto colon = text.find(':');
    s.name = std::string(text.substr(0, colon));
    detail::require(!s.name.empty(), "policy spec '", text, "': missing policy name (e.g. full:bf16)");
    if (colon == std::string_view::npos) return s;
    std::string_view rest = text.substr(colon + 1);
    while (true) {
      const auto comma = rest.find(',');
      const std::string_view item = rest.substr(0, comma);
      detail::require(!item.empty(), "policy spec '", text, "': empty item");
      const auto eq = item.find('=');
      if (eq == std::string_view::npos) {
        s.args.emplace_back(item);
      } else {
        std::string key(item.substr(0, eq));
        detail::require(!key.empty() && eq + 1 < item.size(), "policy spec '", text,
                        "': item '", item, "' must be key=value");
        for (const auto& [k, _] : s.options)
          detail::require(k != key, "policy spec '", text, "': option '", key, "' given twice");
        s.options.emplace_back(std::move(key), std::string(item.substr(eq + 1)));
      }
      if (comma == std::string_view::npos) break;
      rest = rest.substr(comma + 1);
    }
    return s;
  }
};

/// Reads a spec's options by name with range checks; `finish()` rejects anything unread, so a
/// typo ("topk=" vs "top_k=") is an error, never silently ignored.
class spec_reader {
 public:
  explicit spec_reader(const policy_spec& spec) : spec_(spec), used_(spec.options.size(), false) {}

  const policy_spec& spec() const { return spec_; }

  /// Integer option in [lo, hi]; `fallback` when absent.
  long long integer(std::string_view key, long long fallback, long long lo, long long hi) {
    const std::string* raw = find(key);
    if (!raw) return fallback;
    long long value = 0;
    const auto [end, ec] = std::from_chars(raw->data(), raw->data() + raw->size(), value);
    detail::require(ec == std::errc() && end == raw->data() + raw->size(), where(), key,
                    " must be an integer, got '", *raw, "'");
    detail::require(value >= lo && value <= hi, where(), key, " must be in [", lo, ", ", hi,
                    "], got ", value);
    return value;
  }
  /// Integer option restricted to a list of allowed values.
  long long one_of(std::string_view key, long long fallback, std::initializer_list<long long> allowed) {
    const long long value = integer(key, fallback, std::numeric_limits<long long>::min(),
                                    std::numeric_limits<long long>::max());
    for (long long a : allowed)
      if (a == value) return value;
    std::string list;
    for (long long a : allowed) list += (list.empty() ? "" : ", ") + std::to_string(a);
    detail::fail(where(), key, " must be one of {", list, "}, got ", value);
  }
  /// Floating-point option in [lo, hi].
  double real(std::string_view key, double fallback, double lo, double hi) {
    const std::string* raw = find(key);
    if (!raw) return fallback;
    std::size_t used = 0;
    double value = 0;
    try {
      value = std::stod(*raw, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    detail::require(used == raw->size() && used > 0, where(), key, " must be a number, got '", *raw, "'");
    detail::require(value >= lo && value <= hi, where(), key, " must be in [", lo, ", ", hi, "], got ", value);
    return value;
  }
  /// Boolean option: 0/1/true/false.
  bool flag(std::string_view key, bool fallback) {
    const std::string* raw = find(key);
    if (!raw) return fallback;
    if (*raw == "1" || *raw == "true") return true;
    if (*raw == "0" || *raw == "false") return false;
    detail::fail(where(), key, " must be 0 or 1, got '", *raw, "'");
  }
  /// String option; `fallback` when absent.
  std::string text(std::string_view key, std::string fallback) {
    const std::string* raw = find(key);
    return raw ? *raw : fallback;
  }
  /// dtype option (f32, bf16, f16).
  dtype element_type(std::string_view key, dtype fallback) {
    const std::string* raw = find(key);
    if (!raw) return fallback;
    try {
      return parse_dtype(*raw);
    } catch (const kvc::error& e) {
      detail::fail(where(), key, ": ", e.what());
    }
  }
  /// Throws for options never read and for more than `max_args` positional arguments.
  void finish(std::size_t max_args = 0) const {
    for (std::size_t i = 0; i < used_.size(); ++i)
      detail::require(used_[i], where(), "unknown option '", spec_.options[i].first, "'");
    detail::require(spec_.args.size() <= max_args, where(), "unexpected argument '",
                    spec_.args.size() > max_args ? spec_.args[max_args] : std::string(), "'");
  }

 private:
  const std::string* find(std::string_view key) {
    for (std::size_t i = 0; i < spec_.options.size(); ++i)
      if (spec_.options[i].first == key) {
        used_[i] = true;
        return &spec_.options[i].second;
      }
    return nullptr;
  }
  std::string where() const { return "policy spec '" + spec_.text + "': "; }

  const policy_spec& spec_;
  std::vector<bool> used_;
};

}  // namespace kvc
