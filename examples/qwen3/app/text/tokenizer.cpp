// Byte-level BPE tokenizer: tokenizer.json loading, encoding (added tokens, NFC, regex, BPE) and decoding.
#include "tokenizer.hpp"

#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>

#include "byte_level.hpp"
#include "normalize.hpp"
#include "kvc/core/error.hpp"
#include "regex.hpp"
#include "utf8.hpp"

namespace kvc::qwen3 {
namespace detail {
namespace {

using json = nlohmann::json;
using kvc::detail::fail;
using kvc::detail::require;

/// Ids may be sparse, but not beyond this many per entry (plus slack), so that a hostile file cannot
/// make the id tables huge.
constexpr std::int64_t id_slack = 65536;
/// Pre-tokens longer than this (bytes) are not cached (long whitespace or symbol runs).
constexpr std::size_t max_cached_piece = 128;
/// The word cache is cleared when it grows past this many entries.
constexpr std::size_t max_cache_entries = std::size_t{1} << 18;

/// The GPT-2 pre-tokenizer pattern, used by a ByteLevel pre-tokenizer with use_regex = true.
constexpr std::string_view gpt2_pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
using string_map = std::unordered_map<std::string, std::int32_t, string_hash, std::equal_to<>>;

const json& field(const json& obj, const char* key, const char* where) {
  require(obj.is_object(), "tokenizer.json: ", where, " must be an object");
  const auto it = obj.find(key);
  require(it != obj.end(), "tokenizer.json: ", where, " has no \"", key, "\" field");
  return *it;
}

bool flag(const json& obj, const char* key, bool fallback) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return fallback;
  require(it->is_boolean(), "tokenizer.json: \"", key, "\" must be true or false");
  return it->get<bool>();
}

std::int32_t checked_id(const json& v, const char* where, std::int64_t max_token_id) {
  require(v.is_number_integer(), "tokenizer.json: ", where, " id must be an integer");
  const auto id = v.get<std::int64_t>();
  require(id >= 0 && id < max_token_id, "tokenizer.json: ", where, " id ", id, " is out of range [0, ",
          max_token_id, ")");
  return static_cast<std::int32_t>(id);
}

std::uint64_t pair_key(std::int32_t a, std::int32_t b) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
}

std::string shortened(std::string_view s) {
  return s.size() > 60 ? std::string(s.substr(0, 60)) + "..." : std::string(s);
}

}  // namespace

struct tokenizer_impl {
  struct merge {
    std::int32_t rank;
    std::int32_t merged;
  };
  struct added_token {
    std::string content;
    std::int32_t id;
    bool special;
  };

  string_map vocab;                        // token string (byte-level spelling) -> id; includes added tokens
  std::vector<std::string> id_to_token;    // "" for ids without a token
  std::vector<std::string> id_to_bytes;    // what each id decodes to
  std::vector<std::uint8_t> has_token;     // 1 when the id is assigned
  std::vector<std::uint8_t> special;       // 1 for special added tokens
  std::array<std::int32_t, 256> byte_id{};  // id of the one-byte token of each byte, -1 if none
  std::unordered_map<std::uint64_t, merge> merges;
  std::vector<added_token> added;
  std::unordered_map<std::string, std::int32_t> added_ids;
  std::unique_ptr<regex> added_regex;      // alternation of the added tokens, longest first
  std::vector<std::unique_ptr<regex>> splits;  // pre-tokenizer Split patterns, applied in order
  bool use_nfc = false;
  bool ignore_merges = false;
  std::int64_t max_token_id = id_slack;  // set from the number of entries

  mutable std::mutex cache_mutex;
  mutable std::unordered_map<std::string, std::vector<std::int32_t>, string_hash, std::equal_to<>> cache;

  void load(const json& root);
  void load_model(const json& model);
  void load_added(const json& added_tokens);
  void load_normalizer(const json& normalizer);
  void load_pre_tokenizer(const json& pre);
  void add_pre_tokenizer_step(const json& step, bool& byte_level_seen);
  void finish_tables();

  void encode_segment(std::string_view text, std::vector<std::int32_t>& out) const;
  void encode_piece(std::string_view piece, std::vector<std::int32_t>& out) const;
  void bpe(std::string_view piece, std::vector<std::int32_t>& out) const;
};

void tokenizer_impl::load(const json& root) {
  require(root.is_object(), "tokenizer.json: the top level must be an object");
  std::int64_t entries = 0;
  if (const auto m = root.find("model"); m != root.end() && m->is_object())
    if (const auto v = m->find("vocab"); v != m->end()) entries += static_cast<std::int64_t>(v->size());
  if (const auto a = root.find("added_tokens"); a != root.end()) entries += static_cast<std::int64_t>(a->size());
  max_token_id = 2 * entries + id_slack;
  load_model(field(root, "model", "the top level"));
  const auto added_it = root.find("added_tokens");
  if (added_it != root.end() && !added_it->is_null()) load_added(*added_it);
  const auto norm_it = root.find("normalizer");
  if (norm_it != root.end()) load_normalizer(*norm_it);
  load_pre_tokenizer(field(root, "pre_tokenizer", "the top level"));
  const auto dec_it = root.find("decoder");
  if (dec_it != root.end() && !dec_it->is_null()) {
    const auto& type = field(*dec_it, "type", "decoder");
    require(type.is_string() && type.get<std::string>() == "ByteLevel",
            "tokenizer.json: only a ByteLevel decoder is supported, got ", type.dump());
  }
  finish_tables();
}

void tokenizer_impl::load_model(const json& model) {
  const auto& type = field(model, "type", "model");
  require(type.is_string() && type.get<std::string>() == "BPE", "tokenizer.json: model.type must be \"BPE\", got ",
          type.dump());
  require(!flag(model, "byte_fallback", false), "tokenizer.json: model.byte_fallback is not supported");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const auto it = model.find(key);
    require(it == model.end() || it->is_null() || (it->is_string() && it->get<std::string>().empty()),
            "tokenizer.json: model.", key, " must be empty");
  }
  const auto dropout = model.find("dropout");
  require(dropout == model.end() || dropout->is_null(), "tokenizer.json: BPE dropout is not supported");
  ignore_merges = flag(model, "ignore_merges", false);

  const auto& v = field(model, "vocab", "model");
  require(v.is_object(), "tokenizer.json: model.vocab must be an object of token -> id");
  vocab.reserve(v.size() + 64);
  for (const auto& [token, id_json] : v.items()) {
    const auto id = checked_id(id_json, "model.vocab", max_token_id);
    vocab[token] = id;
    if (static_cast<std::size_t>(id) >= id_to_token.size()) id_to_token.resize(id + 1), has_token.resize(id + 1);
    id_to_token[id] = token;
    has_token[id] = 1;
  }

  const auto& m = field(model, "merges", "model");
  require(m.is_array(), "tokenizer.json: model.merges must be an array");
  merges.reserve(m.size());
  std::int32_t rank = 0;
  for (const auto& entry : m) {
    std::string left, right;
    if (entry.is_string()) {
      const auto& s = entry.get_ref<const std::string&>();
      const auto space = s.find(' ');
      require(space != std::string::npos && s.find(' ', space + 1) == std::string::npos,
              "tokenizer.json: merge #", rank, " \"", shortened(s), "\" is not \"a b\"");
      left = s.substr(0, space);
      right = s.substr(space + 1);
    } else {
      require(entry.is_array() && entry.size() == 2 && entry[0].is_string() && entry[1].is_string(),
              "tokenizer.json: merge #", rank, " must be \"a b\" or [\"a\", \"b\"]");
      left = entry[0].get<std::string>();
      right = entry[1].get<std::string>();
    }
    const auto a = vocab.find(left), b = vocab.find(right), ab = vocab.find(left + right);
    require(a != vocab.end() && b != vocab.end() && ab != vocab.end(), "tokenizer.json: merge #", rank, " (",
            shortened(left), " ", shortened(right), ") uses a token missing from the vocab");
    merges.try_emplace(pair_key(a->second, b->second), merge{rank, ab->second});  // first (lowest) rank wins
    ++rank;
  }
}

void tokenizer_impl::load_added(const json& added_tokens) {
  require(added_tokens.is_array(), "tokenizer.json: added_tokens must be an array");
  for (const auto& t : added_tokens) {
    const auto id = checked_id(field(t, "id", "an added token"), "added_tokens", max_token_id);
    const auto& content = field(t, "content", "an added token");
    require(content.is_string() && !content.get_ref<const std::string&>().empty(),
            "tokenizer.json: added token ", id, " must have a non-empty string content");
    const auto& text = content.get_ref<const std::string&>();
    require(is_valid_utf8(text), "tokenizer.json: added token ", id, " is not valid UTF-8");
    require(!flag(t, "lstrip", false) && !flag(t, "rstrip", false) && !flag(t, "single_word", false),
            "tokenizer.json: added token \"", shortened(text),
            "\" uses lstrip/rstrip/single_word, which are not supported");
    added.push_back({text, id, flag(t, "special", false)});
    added_ids[text] = id;
    vocab[text] = id;
    if (static_cast<std::size_t>(id) >= id_to_token.size()) id_to_token.resize(id + 1), has_token.resize(id + 1);
    id_to_token[id] = text;
    has_token[id] = 1;
  }
}

void tokenizer_impl::load_normalizer(const json& normalizer) {
  if (normalizer.is_null()) return;
  const auto& type = field(normalizer, "type", "normalizer");
  require(type.is_string(), "tokenizer.json: normalizer.type must be a string");
  const auto& name = type.get_ref<const std::string&>();
  if (name == "NFC") {
    use_nfc = true;
  } else if (name == "Sequence") {
    const auto& list = field(normalizer, "normalizers", "normalizer");
    require(list.is_array(), "tokenizer.json: normalizer.normalizers must be an array");
    for (const auto& n : list) load_normalizer(n);
  } else {
    fail("tokenizer.json: normalizer \"", name, "\" is not supported (only NFC)");
  }
}

void tokenizer_impl::load_pre_tokenizer(const json& pre) {
  bool byte_level_seen = false;
  require(!pre.is_null(), "tokenizer.json: a pre_tokenizer is required");
  const auto& type = field(pre, "type", "pre_tokenizer");
  require(type.is_string(), "tokenizer.json: pre_tokenizer.type must be a string");
  if (type.get_ref<const std::string&>() == "Sequence") {
    const auto& list = field(pre, "pretokenizers", "pre_tokenizer");
    require(list.is_array(), "tokenizer.json: pre_tokenizer.pretokenizers must be an array");
    for (const auto& step : list) add_pre_tokenizer_step(step, byte_level_seen);
  } else {
    add_pre_tokenizer_step(pre, byte_level_seen);
  }
  require(byte_level_seen, "tokenizer.json: the pre_tokenizer must contain a ByteLevel step");
}

void tokenizer_impl::add_pre_tokenizer_step(const json& step, bool& byte_level_seen) {
  const auto& type = field(step, "type", "a pre_tokenizer step");
  require(type.is_string(), "tokenizer.json: pre_tokenizer type must be a string");
  const auto& name = type.get_ref<const std::string&>();
  require(!byte_level_seen, "tokenizer.json: pre_tokenizer steps after ByteLevel are not supported");
  if (name == "Split") {
    const auto& behavior = field(step, "behavior", "Split");
    require(behavior.is_string() && behavior.get<std::string>() == "Isolated",
            "tokenizer.json: only Split behavior \"Isolated\" is supported, got ", behavior.dump());
    require(!flag(step, "invert", false), "tokenizer.json: Split with invert = true is not supported");
    const auto& pattern = field(step, "pattern", "Split");
    if (pattern.contains("Regex") && pattern["Regex"].is_string()) {
      splits.push_back(std::make_unique<regex>(pattern["Regex"].get<std::string>(), false));
    } else if (pattern.contains("String") && pattern["String"].is_string()) {
      splits.push_back(std::make_unique<regex>(pattern["String"].get<std::string>(), true));
    } else {
      fail("tokenizer.json: Split.pattern must be {\"Regex\": ...} or {\"String\": ...}");
    }
  } else if (name == "ByteLevel") {
    require(!flag(step, "add_prefix_space", false),
            "tokenizer.json: ByteLevel add_prefix_space = true is not supported");
    if (flag(step, "use_regex", true)) splits.push_back(std::make_unique<regex>(gpt2_pattern, false));
    byte_level_seen = true;
  } else {
    fail("tokenizer.json: pre_tokenizer \"", name, "\" is not supported (Split, ByteLevel)");
  }
}

void tokenizer_impl::finish_tables() {
  const auto n = id_to_token.size();
  special.assign(n, 0);
  for (const auto& a : added) special[a.id] = a.special ? 1 : 0;

  // Byte-level spelling -> byte, for the decoder.
  std::unordered_map<char32_t, unsigned char> cp_to_byte;
  for (int b = 0; b < 256; ++b) cp_to_byte[byte_to_codepoint()[b]] = static_cast<unsigned char>(b);
  id_to_bytes.assign(n, {});
  for (std::size_t id = 0; id < n; ++id) {
    const std::string& tok = id_to_token[id];
    std::string bytes;
    bool all_mapped = true;
    for (std::size_t pos = 0; pos < tok.size() && all_mapped;) {
      const auto st = next_utf8_step(tok, pos);
      if (st.kind != utf8_step_kind::valid) {
        all_mapped = false;
        break;
      }
      utf8proc_int32_t cp = 0;
      utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(tok.data() + pos), st.length, &cp);
      const auto it = cp_to_byte.find(static_cast<char32_t>(cp));
      if (it == cp_to_byte.end()) all_mapped = false;
      else bytes.push_back(static_cast<char>(it->second));
      pos += st.length;
    }
    id_to_bytes[id] = all_mapped ? bytes : tok;  // as the ByteLevel decoder: unmapped tokens stay as they are
  }

  for (int b = 0; b < 256; ++b) {
    const auto it = vocab.find(bytes_to_byte_level(std::string(1, static_cast<char>(b))));
    byte_id[b] = it == vocab.end() ? -1 : it->second;
  }

  if (!added.empty()) {
    std::vector<const added_token*> order;
    for (const auto& a : added) order.push_back(&a);
    std::stable_sort(order.begin(), order.end(),
                     [](const added_token* x, const added_token* y) { return x->content.size() > y->content.size(); });
    std::string pattern;
    for (const auto* a : order) {
      if (!pattern.empty()) pattern += '|';
      pattern += "\\Q";
      std::string_view rest = a->content;  // \E inside \Q...\E must be split out
      for (std::size_t e; (e = rest.find("\\E")) != std::string_view::npos; rest.remove_prefix(e + 2)) {
        pattern.append(rest.substr(0, e));
        pattern += "\\E\\\\E\\Q";
      }
      pattern.append(rest);
      pattern += "\\E";
    }
    added_regex = std::make_unique<regex>(pattern, false);
  }
}

void tokenizer_impl::bpe(std::string_view piece, std::vector<std::int32_t>& out) const {
  struct symbol {
    std::int32_t id;
    std::int32_t prev;
    std::int32_t next;
  };
  struct candidate {
    std::int32_t rank;
    std::int32_t left;   // symbol index
    std::int32_t right;  // symbol index
    std::int32_t left_id;
    std::int32_t right_id;
    std::int32_t merged;
    bool operator>(const candidate& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
  };
  std::vector<symbol> syms;
  syms.reserve(piece.size());
  for (char c : piece) {
    const auto id = byte_id[static_cast<unsigned char>(c)];
    if (id < 0) continue;  // no unk token: bytes without a token are dropped, as tokenizers does
    const auto i = static_cast<std::int32_t>(syms.size());
    syms.push_back({id, i - 1, i + 1});
  }
  if (syms.empty()) return;
  syms.back().next = -1;

  std::vector<candidate> heap;
  const auto push = [&](std::int32_t l, std::int32_t r) {
    const auto it = merges.find(pair_key(syms[l].id, syms[r].id));
    if (it == merges.end()) return;
    heap.push_back({it->second.rank, l, r, syms[l].id, syms[r].id, it->second.merged});
    std::push_heap(heap.begin(), heap.end(), std::greater<>{});
  };
  for (std::int32_t i = 0; i + 1 < static_cast<std::int32_t>(syms.size()); ++i) push(i, i + 1);
  std::vector<std::uint8_t> dead(syms.size(), 0);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<>{});
    const candidate c = heap.back();
    heap.pop_back();
    if (dead[c.left] || dead[c.right] || syms[c.left].next != c.right || syms[c.left].id != c.left_id ||
        syms[c.right].id != c.right_id)
      continue;  // stale: one side has merged since
    syms[c.left].id = c.merged;
    dead[c.right] = 1;
    syms[c.left].next = syms[c.right].next;
    if (syms[c.left].next >= 0) syms[syms[c.left].next].prev = c.left;
    if (syms[c.left].prev >= 0) push(syms[c.left].prev, c.left);
    if (syms[c.left].next >= 0) push(c.left, syms[c.left].next);
  }
  for (std::int32_t i = 0; i >= 0; i = syms[i].next) out.push_back(syms[i].id);
}

void tokenizer_impl::encode_piece(std::string_view piece, std::vector<std::int32_t>& out) const {
  if (piece.size() == 1) {
    const auto id = byte_id[static_cast<unsigned char>(piece[0])];
    if (id >= 0) out.push_back(id);
    return;
  }
  const bool cacheable = piece.size() <= max_cached_piece;
  if (cacheable) {
    std::lock_guard lock(cache_mutex);
    const auto it = cache.find(piece);
    if (it != cache.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const auto start = out.size();
  const auto whole = ignore_merges ? vocab.find(bytes_to_byte_level(piece)) : vocab.end();
  if (whole != vocab.end()) {
    out.push_back(whole->second);
  } else {
    bpe(piece, out);
  }
  if (cacheable) {
    std::lock_guard lock(cache_mutex);
    if (cache.size() >= max_cache_entries) cache.clear();
    cache.emplace(std::string(piece), std::vector<std::int32_t>(out.begin() + start, out.end()));
  }
}

void tokenizer_impl::encode_segment(std::string_view text, std::vector<std::int32_t>& out) const {
  if (text.empty()) return;
  std::string normalized;
  if (use_nfc) {
    normalized = nfc(text);
    text = normalized;
  }
  // Apply the Split patterns in turn; each is Isolated, so pieces are matches and the gaps between them.
  std::vector<std::string_view> pieces{text};
  for (const auto& re : splits) {
    std::vector<std::string_view> next;
    for (const auto p : pieces) {
      std::size_t last = 0;
      for (const auto& [b, e] : re->find_all(p)) {
        if (b > last) next.push_back(p.substr(last, b - last));
        next.push_back(p.substr(b, e - b));
        last = e;
      }
      if (last < p.size()) next.push_back(p.substr(last));
    }
    pieces = std::move(next);
  }
  for (const auto p : pieces) encode_piece(p, out);
}

}  // namespace detail

tokenizer::tokenizer(std::shared_ptr<detail::tokenizer_impl> impl) : impl_(std::move(impl)) {}

tokenizer tokenizer::from_json(std::string_view json_text) {
  auto impl = std::make_shared<detail::tokenizer_impl>();
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(json_text.begin(), json_text.end());
  } catch (const nlohmann::json::exception& e) {
    kvc::detail::fail("tokenizer.json: malformed JSON: ", e.what());
  }
  try {
    impl->load(root);
  } catch (const nlohmann::json::exception& e) {
    kvc::detail::fail("tokenizer.json: unexpected content: ", e.what());
  }
  return tokenizer(std::move(impl));
}

tokenizer tokenizer::from_file(const std::filesystem::path& tokenizer_json) {
  std::ifstream in(tokenizer_json, std::ios::binary);
  kvc::detail::require(in.good(), "tokenizer: cannot open \"", tokenizer_json.string(), "\"");
  std::ostringstream text;
  text << in.rdbuf();
  kvc::detail::require(!in.bad(), "tokenizer: cannot read \"", tokenizer_json.string(), "\"");
  try {
    return from_json(text.str());
  } catch (const kvc::error& e) {
    kvc::detail::fail(e.what(), " (in \"", tokenizer_json.string(), "\")");
  }
}

std::vector<std::int32_t> tokenizer::encode(std::string_view text) const {
  const auto& t = *impl_;
  std::string repaired;
  if (!detail::is_valid_utf8(text)) {
    repaired = detail::replace_invalid_utf8(text);
    text = repaired;
  }
  std::vector<std::int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (!t.added_regex) {
    t.encode_segment(text, out);
    return out;
  }
  std::size_t last = 0;
  for (const auto& [b, e] : t.added_regex->find_all(text)) {
    t.encode_segment(text.substr(last, b - last), out);
    out.push_back(t.added_ids.at(std::string(text.substr(b, e - b))));
    last = e;
  }
  t.encode_segment(text.substr(last), out);
  return out;
}

std::string_view tokenizer::token_bytes(std::int32_t id) const {
  const auto& t = *impl_;
  kvc::detail::require(id >= 0 && static_cast<std::size_t>(id) < t.has_token.size() && t.has_token[id],
                       "tokenizer: unknown token id ", id, " (vocab size ", t.has_token.size(), ")");
  return t.id_to_bytes[id];
}

std::string tokenizer::decode(std::span<const std::int32_t> ids, bool skip_special) const {
  std::string bytes;
  for (const auto id : ids) {
    const auto b = token_bytes(id);
    if (skip_special && impl_->special[id]) continue;
    bytes.append(b);
  }
  return detail::is_valid_utf8(bytes) ? bytes : detail::replace_invalid_utf8(bytes);
}

std::optional<std::int32_t> tokenizer::token_id(std::string_view token) const {
  const auto it = impl_->vocab.find(token);
  if (it == impl_->vocab.end()) return std::nullopt;
  return it->second;
}

std::int32_t tokenizer::require_token_id(std::string_view token) const {
  const auto id = token_id(token);
  kvc::detail::require(id.has_value(), "tokenizer: the vocabulary has no token \"", token, "\"");
  return *id;
}

std::size_t tokenizer::vocab_size() const { return impl_->id_to_token.size(); }

bool tokenizer::is_special(std::int32_t id) const {
  return id >= 0 && static_cast<std::size_t>(id) < impl_->special.size() && impl_->special[id] != 0;
}

stream_decoder::stream_decoder(const tokenizer& tok, bool skip_special) : tok_(tok), skip_special_(skip_special) {}

std::string stream_decoder::push(std::int32_t id) {
  const auto bytes = tok_.token_bytes(id);
  if (skip_special_ && tok_.is_special(id)) return {};
  pending_.append(bytes);
  std::string out;
  std::size_t pos = 0;
  while (pos < pending_.size()) {
    const auto st = detail::next_utf8_step(pending_, pos);
    if (st.kind == detail::utf8_step_kind::incomplete) break;
    if (st.kind == detail::utf8_step_kind::valid) out.append(pending_, pos, st.length);
    else out.append(detail::replacement_character);
    pos += st.length;
  }
  pending_.erase(0, pos);
  return out;
}

std::string stream_decoder::flush() {
  std::string out = detail::replace_invalid_utf8(pending_);
  pending_.clear();
  return out;
}

}  // namespace kvc::qwen3
