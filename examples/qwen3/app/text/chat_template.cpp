// Qwen3 chat template: a direct C++ transcription of the release-time Jinja template.
#include "chat_template.hpp"

#include <string_view>

#include "kvc/core/error.hpp"

namespace kvc::qwen3 {
namespace detail {

std::string python_json_dumps(const nlohmann::ordered_json& value) {
  if (value.is_object()) {
    std::string out = "{";
    bool first = true;
    for (const auto& [key, item] : value.items()) {
      if (!first) out += ", ";
      first = false;
      out += nlohmann::ordered_json(key).dump();
      out += ": ";
      out += python_json_dumps(item);
    }
    return out + "}";
  }
  if (value.is_array()) {
    std::string out = "[";
    bool first = true;
    for (const auto& item : value) {
      if (!first) out += ", ";
      first = false;
      out += python_json_dumps(item);
    }
    return out + "]";
  }
  // Scalars: nlohmann prints them as Python does (strings keep UTF-8 and escape controls as \uXXXX,
  // floats use the shortest round-trip form with ".0" for whole values, null/true/false).
  return value.dump();
}

}  // namespace detail

namespace {

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }
bool ends_with(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && s.substr(s.size() - p.size()) == p;
}

std::string_view lstrip_newlines(std::string_view s) {
  while (!s.empty() && s.front() == '\n') s.remove_prefix(1);
  return s;
}
std::string_view rstrip_newlines(std::string_view s) {
  while (!s.empty() && s.back() == '\n') s.remove_suffix(1);
  return s;
}
std::string_view strip_newlines(std::string_view s) { return rstrip_newlines(lstrip_newlines(s)); }

/// Python s.split(sep)[-1]: the text after the last `sep` (all of s when absent).
std::string_view after_last(std::string_view s, std::string_view sep) {
  const auto p = s.rfind(sep);
  return p == std::string_view::npos ? s : s.substr(p + sep.size());
}
/// Python s.split(sep)[0]: the text before the first `sep`.
std::string_view before_first(std::string_view s, std::string_view sep) {
  const auto p = s.find(sep);
  return p == std::string_view::npos ? s : s.substr(0, p);
}

/// Jinja truthiness of a JSON value: null, false, 0, "" and empty containers are false.
bool truthy(const nlohmann::ordered_json& v) {
  if (v.is_null()) return false;
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number()) return v.get<double>() != 0.0;
  if (v.is_string()) return !v.get_ref<const std::string&>().empty();
  if (v.is_array() || v.is_object()) return !v.empty();
  return true;
}

void render_tool_call(std::string& out, const nlohmann::ordered_json& call) {
  kvc::detail::require(call.is_object(), "render_chat: each tool call must be a JSON object");
  const nlohmann::ordered_json* fn = &call;
  if (const auto it = call.find("function"); it != call.end() && truthy(*it)) fn = &*it;
  kvc::detail::require(fn->is_object() && fn->contains("name"), "render_chat: a tool call has no \"name\"");
  const auto& name = (*fn)["name"];
  out += "<tool_call>\n{\"name\": \"";
  out += name.is_string() ? name.get<std::string>() : detail::python_json_dumps(name);
  out += "\", \"arguments\": ";
  const auto args = fn->find("arguments");
  kvc::detail::require(args != fn->end(), "render_chat: tool call ", name.dump(), " has no \"arguments\"");
  out += args->is_string() ? args->get<std::string>() : detail::python_json_dumps(*args);
  out += "}\n</tool_call>";
}

}  // namespace

std::string render_chat(std::span<const chat_message> messages, const chat_options& options) {
  std::string out;
  const auto n = static_cast<std::ptrdiff_t>(messages.size());
  const bool first_is_system = n > 0 && messages[0].role == "system";

  if (truthy(options.tools)) {
    kvc::detail::require(options.tools.is_array(), "render_chat: tools must be a JSON array");
    out += "<|im_start|>system\n";
    if (first_is_system) out += messages[0].content + "\n\n";
    out +=
        "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n<tools>";
    for (const auto& tool : options.tools) {
      out += "\n";
      out += detail::python_json_dumps(tool);
    }
    out +=
        "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
        "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
        "<args-json-object>}\n</tool_call><|im_end|>\n";
  } else if (first_is_system) {
    out += "<|im_start|>system\n" + messages[0].content + "<|im_end|>\n";
  }

  // The last user message that is not just a wrapped tool response.
  std::ptrdiff_t last_query_index = n - 1;
  for (std::ptrdiff_t i = n - 1; i >= 0; --i) {
    const auto& m = messages[i];
    if (m.role == "user" && !(starts_with(m.content, "<tool_response>") && ends_with(m.content, "</tool_response>"))) {
      last_query_index = i;
      break;
    }
  }

  for (std::ptrdiff_t i = 0; i < n; ++i) {
    const auto& m = messages[i];
    const bool last = i == n - 1;
    if (m.role == "user" || (m.role == "system" && i != 0)) {
      out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
    } else if (m.role == "assistant") {
      std::string_view content = m.content;
      std::string_view reasoning;
      if (!m.reasoning_content.empty()) {
        reasoning = m.reasoning_content;
      } else if (content.find("</think>") != std::string_view::npos) {
        const std::string_view full = m.content;
        content = lstrip_newlines(after_last(full, "</think>"));
        reasoning = lstrip_newlines(after_last(rstrip_newlines(before_first(full, "</think>")), "<think>"));
      }
      if (i > last_query_index && (last || !reasoning.empty())) {
        out += "<|im_start|>" + m.role + "\n<think>\n";
        out += strip_newlines(reasoning);
        out += "\n</think>\n\n";
        out += lstrip_newlines(content);
      } else {
        out += "<|im_start|>" + m.role + "\n";
        out += content;
      }
      if (truthy(m.tool_calls)) {
        kvc::detail::require(m.tool_calls.is_array(), "render_chat: tool_calls must be a JSON array");
        bool first = true;
        for (const auto& call : m.tool_calls) {
          if (!first || !content.empty()) out += "\n";
          first = false;
          render_tool_call(out, call);
        }
      }
      out += "<|im_end|>\n";
    } else if (m.role == "tool") {
      if (i == 0 || messages[i - 1].role != "tool") out += "<|im_start|>user";
      out += "\n<tool_response>\n" + m.content + "\n</tool_response>";
      if (last || messages[i + 1].role != "tool") out += "<|im_end|>\n";
    } else if (m.role != "system") {
      kvc::detail::fail("render_chat: unknown role \"", m.role, "\" (system, user, assistant, tool)");
    }
  }

  if (options.add_generation_prompt) {
    out += "<|im_start|>assistant\n";
    if (options.enable_thinking.has_value() && !*options.enable_thinking) out += "<think>\n\n</think>\n\n";
  }
  return out;
}

}  // namespace kvc::qwen3
