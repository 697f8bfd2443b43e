// Fuzz harness: a chat template's source through kvc::qwen3::jinja_template::parse and render
// with a conversation; only kvc::error may escape (limits bound depth, sizes and loops).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "app/text/jinja.hpp"
#include "kvc/core/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const nlohmann::ordered_json context = nlohmann::ordered_json::parse(R"({
    "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi <think>x</think>"},
                 {"role": "assistant", "content": "", "tool_calls": [{"function": {"name": "f", "arguments": {"a": 1}}}]},
                 {"role": "tool", "content": "{\"ok\": true}"}],
    "tools": [{"type": "function", "function": {"name": "f"}}],
    "add_generation_prompt": true, "enable_thinking": false, "bos_token": "<s>", "eos_token": "</s>"})");
  try {
    const auto t = kvc::qwen3::jinja_template::parse(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
    (void)t.render(context);
  } catch (const kvc::error&) {
    // Rejected or failed template: the expected outcome for most mutations.
  }
  return 0;
}
