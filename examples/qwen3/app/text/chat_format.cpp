// chat_format: a checkpoint's Jinja chat template with its special tokens, or the built-in one.
#include "app/text/chat_format.hpp"

#include <fstream>

#include "kvc/core/error.hpp"

namespace kvc::qwen3 {
namespace {

using json = nlohmann::ordered_json;
using kvc::detail::require;

/// A special token of tokenizer_config.json: a string, an {"content": ...} object, or absent.
std::string special_token(const json& config, const char* key, const std::string& where) {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) return {};
  if (it->is_string()) return it->get<std::string>();
  require(it->is_object() && it->contains("content") && (*it)["content"].is_string(), where, ": \"", key,
          "\" must be a string or an object with a string \"content\"");
  return (*it)["content"].get<std::string>();
}

}  // namespace

chat_format chat_format::from_tokenizer_config(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  require(bool(in), "cannot read ", path.string());
  const json config = json::parse(in, nullptr, /*allow_exceptions=*/false);
  require(!config.is_discarded() && config.is_object(), path.string(), ": not a JSON object");
  chat_format f;
  const auto t = config.find("chat_template");
  if (t == config.end() || t->is_null()) return f;
  std::string source;
  if (t->is_string()) {
    source = t->get<std::string>();
  } else {
    require(t->is_array(), path.string(), ": \"chat_template\" must be a string or a list of named templates");
    for (const auto& named : *t)
      if (named.is_object() && named.value("name", "") == "default" && named.contains("template") &&
          named["template"].is_string())
        source = named["template"].get<std::string>();
    require(!source.empty(), path.string(), ": \"chat_template\" has no template named \"default\"");
  }
  f.template_ = jinja_template::parse(source, path.string() + " chat template");
  f.bos_token = special_token(config, "bos_token", path.string());
  f.eos_token = special_token(config, "eos_token", path.string());
  f.source_ = path.string();
  return f;
}

chat_format chat_format::find(std::span<const std::filesystem::path> dirs) {
  for (const auto& dir : dirs)
    if (!dir.empty() && std::filesystem::exists(dir / "tokenizer_config.json"))
      return from_tokenizer_config(dir / "tokenizer_config.json");
  return {};
}

std::string chat_format::render(std::span<const chat_message> messages, const chat_options& options) const {
  if (!template_) return render_chat(messages, options);
  json list = json::array();
  for (const auto& m : messages) {
    json msg = {{"role", m.role}, {"content", m.content}};
    if (!m.reasoning_content.empty()) msg["reasoning_content"] = m.reasoning_content;
    if (!m.tool_calls.is_null()) msg["tool_calls"] = m.tool_calls;
    list.push_back(std::move(msg));
  }
  json context = {{"messages", std::move(list)}, {"add_generation_prompt", options.add_generation_prompt},
                  {"bos_token", bos_token}, {"eos_token", eos_token}};
  if (options.enable_thinking) context["enable_thinking"] = *options.enable_thinking;
  if (!options.tools.is_null()) context["tools"] = options.tools;
  return template_->render(context);
}

}  // namespace kvc::qwen3
