// The Qwen3 ChatML chat template (tokenizer_config.json of the Qwen3 release) rendered in C++.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>

namespace kvc::qwen3 {

/// One message of a conversation.
/// JSON fields are nlohmann::ordered_json so that key order is kept as written, as Python's
/// json.dumps (the template's `tojson`) does; a plain nlohmann::json converts to it (keys sorted).
struct chat_message {
  std::string role;               ///< "system", "user", "assistant" or "tool"
  std::string content;            ///< the text; for assistants it may hold "<think>...</think>" itself
  std::string reasoning_content;  ///< assistant reasoning; empty = not given (then it is split from content)
  nlohmann::ordered_json tool_calls = nullptr;  ///< assistant: array of {"name", "arguments"} or
                                                ///< {"type": "function", "function": {...}}; arguments an
                                                ///< object (printed as JSON) or a string (printed as is)
};

/// Rendering switches, as the keyword arguments of transformers' apply_chat_template.
struct chat_options {
  bool add_generation_prompt = true;   ///< end with "<|im_start|>assistant\n"
  std::optional<bool> enable_thinking;  ///< false: the generation prompt gets an empty think block
  nlohmann::ordered_json tools = nullptr;  ///< array of tool schemas (JSON objects); null or [] = none
};

/// The prompt text for `messages`, byte for byte what transformers' apply_chat_template(tokenize=False)
/// gives with the Qwen3 release template: system turn (with the # Tools block when tools are given),
/// user/system turns, assistant turns (reasoning kept only after the last real user query), tool calls,
/// consecutive tool results grouped into one user turn, and the generation prompt.
/// kvc::error on an unknown role or a malformed tool call.
std::string render_chat(std::span<const chat_message> messages, const chat_options& options = {});

namespace detail {
/// Python json.dumps(x, ensure_ascii=False) with the default ", " / ": " separators, keys in order.
std::string python_json_dumps(const nlohmann::ordered_json& value);
}  // namespace detail

}  // namespace kvc::qwen3
