// kvc-qwen3: run a Qwen3 / Llama checkpoint on CPU with any kvc cache policy (one-shot, chat or a batch of prompts).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <omp.h>

#include <CLI/CLI.hpp>

#include "app/batch_generate.hpp"
#include "app/calibrate_command.hpp"
#include "app/cli_input.hpp"
#include "app/eval_command.hpp"
#include "app/generate.hpp"
#include "app/gguf_import.hpp"
#include "app/kv_recorder.hpp"
#include "app/search_plan_command.hpp"
#include "kvc/core/error.hpp"
#include "model/model.hpp"

#ifdef KVC_QWEN3_HAVE_TEXT
#include "app/text/chat_format.hpp"
#include "app/text/sampler.hpp"
#include "app/text/tokenizer.hpp"
#endif

namespace fs = std::filesystem;
using namespace kvc::qwen3;

namespace {

struct cli_options {
  fs::path model_dir;
  fs::path tokenizer_file;
  std::string prompt;
  fs::path prompt_file;
  fs::path batch_prompts;  // --batch-prompts: one prompt per line, decoded together
  std::string system;      // --system: a system message before every user prompt
  std::string tokens;
  std::string policy = "full:bf16";
  int max_new_tokens = 128;
  int threads = 0;
  std::uint64_t seed = 0;
  std::optional<float> temperature, top_p, min_p, presence_penalty;
  std::optional<int> top_k;
  bool chat = false;
  bool raw = false;
  std::optional<bool> think;
  int prefill_chunk = 256;
  bool predict_queries = false;
  fs::path dump_kv;  // --dump-kv (kv_recorder)
};

std::vector<std::int32_t> parse_ids(const std::string& text) {
  std::vector<std::int32_t> ids;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item.erase(std::remove_if(item.begin(), item.end(), ::isspace), item.end());
    if (item.empty()) continue;
    std::size_t used = 0;
    long v = 0;
    try {
      v = std::stol(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    kvc::detail::require(used == item.size() && v >= 0, "--tokens: '", item, "' is not a token id");
    ids.push_back(std::int32_t(v));
  }
  kvc::detail::require(!ids.empty(), "--tokens: no token ids given");
  return ids;
}

[[maybe_unused]] std::int32_t argmax(std::span<const float> logits) {
  return std::int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

void print_stats(const model& m, const kvc::kv_cache& cache, const generation_stats& s) {
  const auto f = cache.footprint();
  std::fprintf(stderr,
               "\nprefill: %zu tokens, %.3f s, %.1f tokens/s | decode: %zu tokens, %.3f s, %.2f tokens/s\n"
               "cache '%s': %zu tokens, device %zu B, host %zu B, metadata %zu B (total %zu B) | "
               "weights %.1f MB read per token\n",
               s.prompt_tokens, s.prefill_seconds, s.prefill_tokens_per_second(), s.new_tokens, s.decode_seconds,
               s.decode_tokens_per_second(), cache.spec(0).c_str(), cache.size(0), f.device_bytes, f.host_bytes,
               f.metadata_bytes, f.total(), double(m.weights().bytes_per_token()) / 1e6);
}

std::function<void(std::size_t, std::size_t)> progress_printer() {
  if (!isatty(fileno(stderr))) return {};
  return [](std::size_t done, std::size_t total) {
    std::fprintf(stderr, "\rprefill %zu/%zu tokens%s", done, total, done == total ? "\r\033[K" : "");
    std::fflush(stderr);
  };
}

/// Shows a batch's decode steps on a terminal: called with (steps, prompts still generating).
[[maybe_unused]] std::function<void(std::size_t, std::size_t)> decode_progress_printer() {
  if (!isatty(fileno(stderr))) return {};
  return [](std::size_t steps, std::size_t running) {
    if (running == 0) std::fprintf(stderr, "\r\033[K");
    else std::fprintf(stderr, "\rdecode step %zu, %zu prompts generating\033[K", steps, running);
    std::fflush(stderr);
  };
}

/// True when every layer's policy holds many sequences (kvc::sequence_policy), so that the cache
/// can be truncated, forked and batched.
[[maybe_unused]] bool holds_sequences(const kvc::kv_cache& cache) {
  for (int l = 0; l < cache.layers(); ++l)
    if (!cache.layer(l).supports_sequences()) return false;
  return true;
}

#ifdef KVC_QWEN3_HAVE_TEXT
sampling_params sampling_from(const cli_options& o, bool text_mode) {
  // Chat/text defaults follow Qwen's advice per mode; raw token ids default to greedy.
  sampling_params p = !text_mode ? sampling_params{}
                      : o.think.value_or(true) ? sampling_params::thinking()
                                               : sampling_params::non_thinking();
  if (o.temperature) p.temperature = *o.temperature;
  if (o.top_k) p.top_k = *o.top_k;
  if (o.top_p) p.top_p = *o.top_p;
  if (o.min_p) p.min_p = *o.min_p;
  if (o.presence_penalty) p.presence_penalty = *o.presence_penalty;
  p.seed = o.seed;
  return p;
}

std::vector<std::int32_t> stop_ids(const model& m, const tokenizer* tok) {
  std::vector<std::int32_t> ids(m.config().eos_token_ids.begin(), m.config().eos_token_ids.end());
  if (tok)
    for (const char* s : {"<|im_end|>", "<|endoftext|>"})
      if (auto id = tok->token_id(s)) ids.push_back(*id);
  return ids;
}

/// Streams text to `out`; with thinking on, prints the reasoning and the answer under separate headers.
struct text_printer {
  std::ostream& out;
  const tokenizer& tok;
  stream_decoder dec;
  std::optional<std::int32_t> think_start, think_end;
  bool show_sections;
  bool in_answer = false;

  text_printer(std::ostream& o, const tokenizer& t, bool sections)
      : out(o), tok(t), dec(t, /*skip_special=*/true), think_start(t.token_id("<think>")),
        think_end(t.token_id("</think>")), show_sections(sections && think_end.has_value()) {
    if (show_sections) out << "[thinking]\n";
  }
  void push(std::int32_t id) {
    if (think_start && id == *think_start && show_sections) return;
    if (think_end && id == *think_end) {
      out << dec.flush();
      if (show_sections) out << "\n[answer]\n";
      in_answer = true;
      out.flush();
      return;
    }
    out << dec.push(id);
    out.flush();
  }
  void finish() { out << dec.flush() << std::endl; }
};

/// The conversation of one user prompt: --system's message first, when given.
std::vector<chat_message> conversation_of(const cli_options& o, const std::string& user) {
  std::vector<chat_message> msgs;
  if (!o.system.empty()) msgs.push_back({"system", o.system, "", nullptr});
  msgs.push_back({"user", user, "", nullptr});
  return msgs;
}

/// The token ids of one prompt as --prompt gives them: through the chat template, or as is with --raw.
std::vector<std::int32_t> encode_prompt(const cli_options& o, const tokenizer& tok, const chat_format& chat,
                                        const chat_options& copt, const std::string& user) {
  return tok.encode(o.raw ? user : chat.render(conversation_of(o, user), copt));
}

/// The non-blank lines of a --batch-prompts file (a trailing CR dropped), in order.
std::vector<std::string> read_prompt_lines(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  kvc::detail::require(bool(in), "cannot read --batch-prompts ", file.string());
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") != std::string::npos) lines.push_back(line);
  }
  kvc::detail::require(!lines.empty(), "--batch-prompts ", file.string(), " holds no prompts");
  return lines;
}

/// --batch-prompts: every prompt decoded together (app/batch_generate), one sampler each; prints
/// each reply after its index ("[i] ...") and a summary on stderr.
int run_batch_prompts(const cli_options& o, const model& m, kvc::kv_cache& cache, const tokenizer& tok,
                      const chat_format& chat, const chat_options& copt, const std::vector<std::int32_t>& stop) {
  const auto lines = read_prompt_lines(o.batch_prompts);
  std::vector<std::vector<std::int32_t>> prompts;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    prompts.push_back(encode_prompt(o, tok, chat, copt, lines[i]));
    kvc::detail::require(!prompts.back().empty(), "--batch-prompts: prompt ", i, " has no tokens");
  }
  // One sampler per prompt, each as a --prompt run of that prompt alone would have it.
  std::vector<sampler> samplers(prompts.size(), sampler(sampling_from(o, true)));
  std::vector<token_picker> picks;
  for (auto& smp : samplers)
    picks.push_back([&smp](std::span<const float> logits) {
      const auto id = smp.sample(logits);
      smp.accept(id);
      return id;
    });
  batch_generation_options b;
  b.max_new_tokens = o.max_new_tokens;
  b.stop_ids = stop;
  b.prefill_chunk = o.prefill_chunk;
  b.on_prefill_progress = progress_printer();
  b.on_decode_progress = decode_progress_printer();
  std::vector<std::vector<std::int32_t>> replies;
  const auto s = generate_batch(m, cache, prompts, picks, b, replies);

  const bool sections = o.think.value_or(true) && !o.raw;
  for (std::size_t i = 0; i < replies.size(); ++i) {
    std::ostringstream text;
    text_printer out(text, tok, sections);
    for (const std::int32_t id : replies[i]) out.push(id);
    out.finish();
    std::cout << "[" << i << "] " << text.str();
  }
  std::cout.flush();
  std::string remainders, generated;
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    remainders += (i ? ", " : "") + std::to_string(s.remainder_tokens[i]);
    generated += (i ? ", " : "") + std::to_string(s.new_tokens[i]);
  }
  std::fprintf(stderr,
               "\nbatch: %zu prompts | shared prefix: %zu tokens prefilled once | remainders: %s tokens\n"
               "decode: %zu steps, %zu tokens generated (%s) | prefill %.3f s, decode %.3f s\n",
               prompts.size(), s.shared_prefix_tokens, remainders.c_str(), s.decode_steps, s.total_new_tokens(),
               generated.c_str(), s.prefill_seconds, s.decode_seconds);
  if (s.shared_prefix_tokens > 0)
    std::fprintf(stderr,
                 "cache '%s': %zu B with the prefix in one sequence, %zu B forked into %zu sequences "
                 "(%zu B if each held its own copy), %zu B with the remainders\n",
                 cache.spec(0).c_str(), s.after_prefix.total(), s.after_fork.total(), prompts.size(),
                 s.forks_counted_apart.total(), s.after_prefill.total());
  else
    std::fprintf(stderr, "cache '%s': no shared prefix to fork, %zu B with the prompts\n", cache.spec(0).c_str(),
                 s.after_prefill.total());
  return 0;
}
#endif

int run(const cli_options& o) {
  if (o.threads > 0) omp_set_num_threads(o.threads);
  auto m = model::load(resolve_model_path(o.model_dir));  // a .gguf is imported once
  m.set_query_prediction(o.predict_queries);
  auto cache = m.make_cache(o.policy);
  generation_options g;
  g.max_new_tokens = o.max_new_tokens;
  g.prefill_chunk = o.prefill_chunk;
  g.on_prefill_progress = progress_printer();
  g.stop_ids.assign(m.config().eos_token_ids.begin(), m.config().eos_token_ids.end());

  const bool want_text = !o.prompt.empty() || !o.prompt_file.empty() || o.chat || !o.batch_prompts.empty();
#ifdef KVC_QWEN3_HAVE_TEXT
  std::optional<tokenizer> tok;
  const fs::path model_dir = resolve_model_path(o.model_dir);  // a GGUF's import directory
  const fs::path tok_file = find_tokenizer(model_dir, o.tokenizer_file);
  if (!tok_file.empty()) tok = tokenizer::from_file(tok_file);
  kvc::detail::require(!want_text || tok.has_value(), "--prompt, --prompt-file, --chat and --batch-prompts need a tokenizer: ",
                       (model_dir / "tokenizer.json").string(), " is absent; pass --tokenizer FILE");
  sampler pick_sampler(sampling_from(o, want_text));
  g.stop_ids = stop_ids(m, tok ? &*tok : nullptr);
  const token_picker pick = [&](std::span<const float> logits) {
    const auto id = pick_sampler.sample(logits);
    pick_sampler.accept(id);
    return id;
  };
#else
  kvc::detail::require(!want_text, "this kvc-qwen3 was built without the tokenizer (examples/qwen3/app/text): use --tokens");
  kvc::detail::require(!o.temperature || *o.temperature == 0, "this build has no sampler: only greedy decoding");
  const token_picker pick = argmax;
#endif

  if (!want_text && !o.dump_kv.empty()) {  // greedy, recording the cache's inputs (app/kv_recorder)
    const auto prompt = parse_ids(o.tokens);
    kv_recorder rec(m);
    rec.trace().metadata["model"] = o.model_dir.filename().string();
    const auto ids = record_greedy(m, cache, prompt, o.max_new_tokens, std::size_t(o.prefill_chunk), rec);
    for (std::size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
    std::cout << std::endl;
    kvc::io::write_kv_trace(o.dump_kv, rec.trace());
    std::fprintf(stderr, "wrote a KV trace of %zu tokens x %d layers to %s\n", rec.trace().tokens,
                 rec.trace().layers(), o.dump_kv.string().c_str());
    return 0;
  }
  if (!want_text) {  // token ids in, token ids out
    const auto prompt = parse_ids(o.tokens);
    bool first = true;
#ifdef KVC_QWEN3_HAVE_TEXT
    std::optional<stream_decoder> text;  // with a tokenizer, ids stream out as text
    if (tok) text.emplace(*tok);
#endif
    g.on_token = [&](std::int32_t id) {
#ifdef KVC_QWEN3_HAVE_TEXT
      if (text) {
        std::cout << text->push(id) << std::flush;
        return true;
      }
#endif
      std::cout << (first ? "" : " ") << id << std::flush;
      first = false;
      return true;
    };
    const auto s = generate(m, cache, prompt, pick, g);
#ifdef KVC_QWEN3_HAVE_TEXT
    if (text) std::cout << text->flush();
#endif
    std::cout << std::endl;
    print_stats(m, cache, s);
    return 0;
  }

#ifdef KVC_QWEN3_HAVE_TEXT
  chat_options copt;
  copt.add_generation_prompt = true;
  copt.enable_thinking = o.think;
  const bool sections = o.think.value_or(true);
  std::string first_prompt = o.prompt;
  if (!o.prompt_file.empty()) {
    std::ifstream in(o.prompt_file, std::ios::binary);
    kvc::detail::require(bool(in), "cannot read --prompt-file ", o.prompt_file.string());
    first_prompt.assign(std::istreambuf_iterator<char>(in), {});
  }
  // The checkpoint's own chat template (a GGUF's comes with its import), else the built-in Qwen3 one.
  const fs::path template_dirs[] = {model_dir, o.tokenizer_file.parent_path()};
  const chat_format chat = o.raw ? chat_format() : chat_format::find(template_dirs);
  if (!o.batch_prompts.empty()) return run_batch_prompts(o, m, cache, *tok, chat, copt, g.stop_ids);
  if (!o.chat) {
    const auto ids = encode_prompt(o, *tok, chat, copt, first_prompt);
    text_printer out(std::cout, *tok, sections && !o.raw);
    g.on_token = [&](std::int32_t id) {
      out.push(id);
      return true;
    };
    const auto s = generate(m, cache, ids, pick, g);
    out.finish();
    print_stats(m, cache, s);
    return 0;
  }
  // Interactive chat: the conversation is re-rendered each turn and the cache keeps the history.
  // It is truncated to the common prefix of what it holds and the new rendering (the template may
  // change earlier turns, e.g. drop their reasoning, and a reply may encode differently), so only
  // the tokens past that prefix are prefilled.
  std::vector<chat_message> history;
  if (!o.system.empty()) history.push_back({"system", o.system, "", nullptr});
  std::vector<std::int32_t> in_cache;  // exactly the tokens the cache holds
  const bool can_truncate = holds_sequences(cache);
  std::string line = first_prompt;
  std::fprintf(stderr, "chat: empty line or EOF ends\n");
  for (int turn = 1;; ++turn) {
    if (line.empty()) {
      std::cout << "\n> " << std::flush;
      if (!std::getline(std::cin, line) || line.empty()) break;
    }
    history.push_back({"user", line, "", nullptr});
    line.clear();
    const auto ids = tok->encode(chat.render(history, copt));
    std::size_t common = 0;
    while (common < in_cache.size() && common < ids.size() && in_cache[common] == ids[common]) ++common;
    if (common == ids.size()) --common;  // the prefill needs at least one token, for the logits
    if (common < in_cache.size()) {
      if (!can_truncate) common = 0, cache.clear();  // a policy with one sequence: start again
      else cache.truncate(kvc::default_seq, common);
      in_cache.resize(common);
    }
    std::fprintf(stderr, "turn %d: prefilled %zu new tokens, reused %zu from the cache\n", turn, ids.size() - common,
                 common);
    text_printer out(std::cout, *tok, sections);
    g.on_token = [&](std::int32_t id) {
      out.push(id);
      return true;
    };
    std::vector<std::int32_t> reply;
    const auto s = generate(m, cache, std::span<const std::int32_t>(ids).subspan(common), pick, g, &reply);
    out.finish();
    print_stats(m, cache, s);
    // generate() does not forward the last token it emits (the stop token, or the last one when
    // max_new_tokens is reached): the cache holds the prompt and the reply without it.
    in_cache = ids;
    if (!reply.empty()) in_cache.insert(in_cache.end(), reply.begin(), reply.end() - 1);
    if (!reply.empty() && std::find(g.stop_ids.begin(), g.stop_ids.end(), reply.back()) != g.stop_ids.end())
      reply.pop_back();  // the template closes the turn itself
    history.push_back({"assistant", tok->decode(reply), "", nullptr});
  }
#endif
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string_view(argv[1]) == "eval") return kvc::qwen3::eval_main(argc - 1, argv + 1);
  if (argc > 1 && std::string_view(argv[1]) == "calibrate") return kvc::qwen3::calibrate_main(argc - 1, argv + 1);
  if (argc > 1 && std::string_view(argv[1]) == "search-plan") return kvc::qwen3::search_plan_main(argc - 1, argv + 1);
  if (argc > 1 && std::string_view(argv[1]) == "channel-agreement")
    return kvc::qwen3::channel_agreement_main(argc - 1, argv + 1);
  CLI::App app{"kvc-qwen3: Qwen3 / Llama reference forward pass with kvc KV-cache policies"};
  cli_options o;
  app.add_option("--model", o.model_dir, "checkpoint directory (config.json + safetensors) or a .gguf file")->required();
  app.add_option("--tokenizer", o.tokenizer_file, "tokenizer.json (default: the one in --model)");
  auto* p = app.add_option("--prompt", o.prompt, "user prompt (rendered through the chat template)");
  auto* pf = app.add_option("--prompt-file", o.prompt_file, "read the prompt from a file");
  auto* t = app.add_option("--tokens", o.tokens, "prompt as comma-separated token ids, e.g. 1,2,3");
  auto* bp = app.add_option("--batch-prompts", o.batch_prompts,
                            "one prompt per line (blank lines skipped), each rendered as --prompt is, all decoded "
                            "together: their shared prefix prefilled once and forked, one decode batch per step");
  p->excludes(pf)->excludes(t)->excludes(bp);
  pf->excludes(t)->excludes(bp);
  t->excludes(bp);
  auto* raw = app.add_flag("--raw", o.raw, "encode --prompt (or each batch prompt) as is, without the chat template");
  app.add_option("--system", o.system, "a system message before the user's (--prompt, --batch-prompts, --chat)")
      ->excludes(raw);
  app.add_option("--policy", o.policy, "KV cache policy spec")->capture_default_str();
  app.add_option("--max-new-tokens", o.max_new_tokens, "tokens to generate")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--threads", o.threads, "OpenMP threads (0: the OpenMP default)");
  app.add_option("--seed", o.seed, "sampler seed")->capture_default_str();
  app.add_option("--temperature", o.temperature, "0 = greedy");
  app.add_option("--top-k", o.top_k, "keep the k most likely tokens (0 = all)");
  app.add_option("--top-p", o.top_p, "nucleus sampling threshold");
  app.add_option("--min-p", o.min_p, "drop tokens below min-p x the top probability");
  app.add_option("--presence-penalty", o.presence_penalty, "subtracted once from each seen token's logit");
  app.add_option("--prefill-chunk", o.prefill_chunk, "prompt tokens per forward call")->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_flag("--predict-queries", o.predict_queries,
               "TailorKV next-layer query prediction: hand each layer a predicted query before decode steps");
  app.add_option("--dump-kv", o.dump_kv, "with --tokens: greedy-decode and write each layer's q/k/v (as the "
                 "cache receives them) to this KV trace file (safetensors; see kvc/io/kv_trace.hpp)");
  app.add_flag("--chat", o.chat, "interactive multi-turn chat through the chat template; the cache keeps the history")
      ->excludes(bp);
  bool think = false, no_think = false;
  auto* th = app.add_flag("--think", think, "thinking mode on (the default; prints thinking and answer separately)");
  app.add_flag("--no-think", no_think, "thinking mode off (the template's empty think block)")->excludes(th);
  CLI11_PARSE(app, argc, argv);
  if (think) o.think = true;
  if (no_think) o.think = false;
  if (o.tokens.empty() && o.prompt.empty() && o.prompt_file.empty() && !o.chat && o.batch_prompts.empty()) {
    std::fprintf(stderr, "one of --tokens, --prompt, --prompt-file, --batch-prompts or --chat is required\n%s",
                 app.help().c_str());
    return 2;
  }
  try {
    return run(o);
  } catch (const kvc::error& e) {
    std::fprintf(stderr, "kvc-qwen3: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kvc-qwen3: %s\n", e.what());
    return 1;
  }
}
