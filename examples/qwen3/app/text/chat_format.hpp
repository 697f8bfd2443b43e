// The chat format of a model: its own Jinja chat template (tokenizer_config.json), or the
// built-in Qwen3 template when the checkpoint has none.
#pragma once

#include <filesystem>
#include <optional>
#include <span>
#include <string>

#include "app/text/chat_template.hpp"
#include "app/text/jinja.hpp"

namespace kvc::qwen3 {

/// Renders conversations to prompt text as transformers' apply_chat_template does with the
/// model's template: context variables messages, add_generation_prompt, enable_thinking (when
/// set), tools (when given), bos_token and eos_token.
class chat_format {
 public:
  /// The built-in Qwen3 release template (render_chat).
  chat_format() = default;

  /// The template of `tokenizer_config_json` ("chat_template": a string, or a list of
  /// {"name", "template"} from which "default" is taken) with its bos_token/eos_token; the built-in
  /// template when the file holds none. kvc::error naming the file when it is malformed or the
  /// template does not parse.
  static chat_format from_tokenizer_config(const std::filesystem::path& tokenizer_config_json);

  /// from_tokenizer_config of the first of `dirs`/tokenizer_config.json that exists, else built-in.
  static chat_format find(std::span<const std::filesystem::path> dirs);

  /// The prompt text of `messages`.
  std::string render(std::span<const chat_message> messages, const chat_options& options = {}) const;

  /// Where the template came from ("built-in Qwen3" or the file).
  const std::string& source() const { return source_; }

 private:
  std::optional<jinja_template> template_;
  std::string bos_token, eos_token;
  std::string source_ = "built-in Qwen3";
};

}  // namespace kvc::qwen3
