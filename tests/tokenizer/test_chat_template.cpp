// Chat template: byte-for-byte equality with transformers' apply_chat_template goldens, and errors.
#include <catch2/catch.hpp>

#include <fstream>
#include <nlohmann/json.hpp>
#include <vector>

#include "app/text/chat_template.hpp"
#include "kvc/core/error.hpp"
#include "support/skip.hpp"

using kvc::qwen3::chat_message;
using kvc::qwen3::chat_options;
using kvc::qwen3::render_chat;

namespace {

nlohmann::ordered_json load_goldens() {
  const auto path = kvc::test::data_dir() / "tokenizer" / "chat_goldens.json";
  std::ifstream in(path);
  REQUIRE(in.good());
  return nlohmann::ordered_json::parse(in);
}

std::vector<chat_message> to_messages(const nlohmann::ordered_json& list) {
  std::vector<chat_message> out;
  for (const auto& m : list) {
    chat_message msg;
    msg.role = m.at("role").get<std::string>();
    msg.content = m.at("content").get<std::string>();
    if (m.contains("reasoning_content")) msg.reasoning_content = m["reasoning_content"].get<std::string>();
    if (m.contains("tool_calls")) msg.tool_calls = m["tool_calls"];
    out.push_back(std::move(msg));
  }
  return out;
}

}  // namespace

TEST_CASE("render_chat matches transformers byte for byte", "[chat]") {
  const auto goldens = load_goldens();
  REQUIRE(goldens.at("cases").size() >= 20);
  for (const auto& c : goldens.at("cases")) {
    INFO("case " << c.at("name").get<std::string>());
    const auto messages = to_messages(c.at("messages"));
    chat_options opt;
    const auto& o = c.at("options");
    opt.add_generation_prompt = o.value("add_generation_prompt", false);  // HF's default
    if (o.contains("enable_thinking")) opt.enable_thinking = o["enable_thinking"].get<bool>();
    if (o.contains("tools")) opt.tools = o["tools"];
    CHECK(render_chat(messages, opt) == c.at("rendered").get<std::string>());
  }
}

TEST_CASE("render_chat: generation prompt and the empty think block", "[chat]") {
  const std::vector<chat_message> msgs = {{"user", "Hi", "", nullptr}};
  CHECK(render_chat(msgs) == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  chat_options off;
  off.enable_thinking = false;
  CHECK(render_chat(msgs, off) ==
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n");
  off.add_generation_prompt = false;
  CHECK(render_chat(msgs, off) == "<|im_start|>user\nHi<|im_end|>\n");
}

TEST_CASE("render_chat: bad messages raise kvc::error", "[chat]") {
  const std::vector<chat_message> bad_role = {{"narrator", "x", "", nullptr}};
  CHECK_THROWS_WITH(render_chat(bad_role), Catch::Contains("unknown role \"narrator\""));
  std::vector<chat_message> bad_call = {{"user", "x", "", nullptr}, {"assistant", "", "", nullptr}};
  bad_call[1].tool_calls = nlohmann::ordered_json::array({{{"arguments", "{}"}}});
  CHECK_THROWS_WITH(render_chat(bad_call), Catch::Contains("no \"name\""));
}

TEST_CASE("python_json_dumps prints like json.dumps(ensure_ascii=False)", "[chat]") {
  using kvc::qwen3::detail::python_json_dumps;
  const auto j = nlohmann::ordered_json::parse(R"({"z": 1, "a": [true, null, 2.5, "é\n\"q\""], "m": {}})");
  CHECK(python_json_dumps(j) == "{\"z\": 1, \"a\": [true, null, 2.5, \"é\\n\\\"q\\\"\"], \"m\": {}}");
  CHECK(python_json_dumps(nlohmann::ordered_json(1.0)) == "1.0");
  CHECK(python_json_dumps(nlohmann::ordered_json::array()) == "[]");
}

TEST_CASE("render_chat accepts plain nlohmann::json tools (keys then come sorted)", "[chat]") {
  const nlohmann::json tool = {{"type", "function"}, {"function", {{"name", "f"}, {"parameters", nlohmann::json::object()}}}};
  chat_options opt;
  opt.tools = nlohmann::json::array({tool});
  const std::vector<chat_message> msgs = {{"user", "x", "", nullptr}};
  const auto text = render_chat(msgs, opt);
  CHECK(text.find("<tools>\n{\"function\": {\"name\": \"f\", \"parameters\": {}}, \"type\": \"function\"}\n</tools>") !=
        std::string::npos);
}
