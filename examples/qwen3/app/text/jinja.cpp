// Jinja2 subset for chat templates: template lexing (whitespace control, trim/lstrip blocks), an
// expression parser and a tree-walking renderer over JSON values.
#include "app/text/jinja.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <ctime>
#include <optional>
#include <vector>

#include "app/text/byte_level.hpp"
#include "app/text/chat_template.hpp"
#include "app/text/utf8.hpp"
#include "kvc/core/error.hpp"

namespace kvc::qwen3 {
namespace detail {

using json = nlohmann::ordered_json;

/// A value during rendering: JSON, or Jinja's Undefined (a missing variable, key or attribute).
struct jvalue {
  json j;
  bool undefined = false;
  static jvalue undef() { return {json(), true}; }
};

/// One expression node.
struct jexpr {
  enum class kind {
    literal, variable, attribute, subscript, slice, call, method, filter, test,
    logical_not, negate, binary, logical_and, logical_or, conditional, list, dict
  };
  kind k = kind::literal;
  json literal;
  std::string name;  // variable, attribute, function, method, filter or test name; binary operator
  bool negated = false;  // `is not`
  std::vector<std::unique_ptr<jexpr>> kids;  // operands; for slice: object, start, stop, step (may be null)
  std::vector<std::pair<std::string, std::unique_ptr<jexpr>>> kwargs;
  int line = 0;
};

/// One statement node; a `body` holds the top level.
struct jinja_node {
  enum class kind { body, text, output, if_chain, for_loop, set_var, set_attr };
  kind k = kind::body;
  std::string text;                        // text; set_var/set_attr: variable name
  std::string attr;                        // set_attr: the attribute
  std::vector<std::string> targets;        // for: loop variables (1 or 2)
  std::unique_ptr<jexpr> value;            // output, set: value; for: iterable
  std::unique_ptr<jexpr> filter;           // for ... if filter
  std::vector<std::unique_ptr<jexpr>> conditions;              // if: one per branch (null = else)
  std::vector<std::vector<std::unique_ptr<jinja_node>>> bodies;  // if: branches; for: body, else
  int line = 0;
};

namespace {

using kvc::detail::fail;
using kvc::detail::require;
using expr_ptr = std::unique_ptr<jexpr>;
using node_ptr = std::unique_ptr<jinja_node>;

// Limits that keep a hostile template (GGUF files carry theirs) from exhausting the stack, memory
// or time: nesting depth while parsing, and sizes and loop iterations while rendering.
constexpr int max_nesting = 200;
constexpr std::int64_t max_range = std::int64_t{1} << 20;
constexpr std::size_t max_text_bytes = std::size_t{1} << 26;
constexpr std::size_t max_list_items = std::size_t{1} << 20;
constexpr std::int64_t max_loop_iterations = std::int64_t{1} << 22;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/// The characters (code points, as Python counts them) of UTF-8 text, each as its bytes.
std::vector<std::string> characters(const std::string& s) {
  std::vector<std::string> out;
  for (char c : s) {
    if (out.empty() || (static_cast<unsigned char>(c) & 0xC0) != 0x80) out.emplace_back();
    out.back().push_back(c);
  }
  return out;
}

/// A JSON string as the array of its characters, for indexing, slicing and iterating as Python does.
nlohmann::ordered_json char_list(const nlohmann::ordered_json& s) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (auto& c : characters(s.get_ref<const std::string&>())) out.push_back(std::move(c));
  return out;
}

/// The string of an array of characters.
nlohmann::ordered_json joined(const nlohmann::ordered_json& chars) {
  std::string out;
  for (const auto& c : chars) out += c.get_ref<const std::string&>();
  return out;
}

// ---------------------------------------------------------------------------------------------
// Expression tokens

struct token {
  enum class kind { name, string, number, op, end };
  kind k = kind::end;
  std::string text;
  json number;
};

std::vector<token> tokenize(std::string_view s, const std::string& where) {
  std::vector<token> out;
  std::size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (is_space(c)) {
      ++i;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      std::size_t j = i;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      out.push_back({token::kind::name, std::string(s.substr(i, j - i)), {}});
      i = j;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      std::size_t j = i;
      while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
      bool is_float = j + 1 < s.size() && s[j] == '.' && std::isdigit(static_cast<unsigned char>(s[j + 1]));
      if (is_float) {
        ++j;
        while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
      }
      const std::string digits(s.substr(i, j - i));
      token t{token::kind::number, digits, {}};
      if (is_float) {
        double d = 0;
        std::from_chars(digits.data(), digits.data() + digits.size(), d);  // overflow gives inf, as Python
        t.number = std::isfinite(d) ? json(d) : json(d > 0 ? HUGE_VAL : -HUGE_VAL);
      } else {
        std::int64_t v = 0;
        const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), v);
        require(r.ec == std::errc{}, where, ": the integer literal ", digits, " is out of range");
        t.number = v;
      }
      out.push_back(std::move(t));
      i = j;
    } else if (c == '\'' || c == '"') {
      std::string text;
      std::size_t j = i + 1;
      for (; j < s.size() && s[j] != c; ++j) {
        if (s[j] != '\\' || j + 1 >= s.size()) {
          text.push_back(s[j]);
          continue;
        }
        const char e = s[++j];
        switch (e) {
          case 'n': text.push_back('\n'); break;
          case 't': text.push_back('\t'); break;
          case 'r': text.push_back('\r'); break;
          case '0': text.push_back('\0'); break;
          case '\\': case '\'': case '"': text.push_back(e); break;
          case 'u': case 'U': case 'x': {
            const std::size_t digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
            require(j + digits < s.size() && std::all_of(s.begin() + static_cast<std::ptrdiff_t>(j + 1),
                                                         s.begin() + static_cast<std::ptrdiff_t>(j + 1 + digits),
                                                         [](char h) { return std::isxdigit(static_cast<unsigned char>(h)); }),
                    where, ": bad \\", std::string(1, e), " escape in a string literal");
            const auto cp = std::stoul(std::string(s.substr(j + 1, digits)), nullptr, 16);
            require(cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF), where, ": \\", std::string(1, e),
                    std::string(s.substr(j + 1, digits)), " is not a Unicode code point");
            append_utf8(text, static_cast<char32_t>(cp));
            j += digits;
            break;
          }
          default: text.push_back('\\'), text.push_back(e);
        }
      }
      require(j < s.size(), where, ": unterminated string literal");
      out.push_back({token::kind::string, std::move(text), {}});
      i = j + 1;
    } else {
      static constexpr std::string_view two[] = {"==", "!=", "<=", ">=", "//", "**"};
      std::string op(1, c);
      for (const auto t : two)
        if (s.substr(i, 2) == t) op = std::string(t);
      require(op.size() == 2 || std::string_view("+-*/%~<>()[]{}.,:|=").find(c) != std::string_view::npos, where,
              ": unexpected character '", std::string(1, c), "'");
      out.push_back({token::kind::op, op, {}});
      i += op.size();
    }
  }
  out.push_back({token::kind::end, "", {}});
  return out;
}

// ---------------------------------------------------------------------------------------------
// Expression parser (Jinja2's precedence: conditional < or < and < not < compare < + - < ~ <
// * / // % < unary - < postfix, filters and tests)

class expr_parser {
 public:
  expr_parser(std::vector<token> toks, std::string where, int line)
      : toks_(std::move(toks)), where_(std::move(where)), line_(line) {}

  expr_ptr expression() { return conditional(); }

  bool at_end() const { return peek().k == token::kind::end; }
  const token& peek(std::size_t ahead = 0) const { return toks_[std::min(pos_ + ahead, toks_.size() - 1)]; }
  bool is_name(std::string_view n, std::size_t ahead = 0) const {
    return peek(ahead).k == token::kind::name && peek(ahead).text == n;
  }
  bool is_op(std::string_view o) const { return peek().k == token::kind::op && peek().text == o; }
  bool accept_op(std::string_view o) {
    if (!is_op(o)) return false;
    ++pos_;
    return true;
  }
  bool accept_name(std::string_view n) {
    if (!is_name(n)) return false;
    ++pos_;
    return true;
  }
  void expect_op(std::string_view o) {
    require(accept_op(o), where_, ": expected '", o, "', got '", peek().text, "'");
  }
  std::string expect_name() {
    require(peek().k == token::kind::name, where_, ": expected a name, got '", peek().text, "'");
    return toks_[pos_++].text;
  }
  void expect_end() { require(at_end(), where_, ": unexpected '", peek().text, "'"); }

 private:
  expr_ptr make(jexpr::kind k, std::string name = {}) {
    auto e = std::make_unique<jexpr>();
    e->k = k;
    e->name = std::move(name);
    e->line = line_;
    return e;
  }
  expr_ptr binary(jexpr::kind k, std::string op, expr_ptr a, expr_ptr b) {
    auto e = make(k, std::move(op));
    e->kids.push_back(std::move(a));
    e->kids.push_back(std::move(b));
    return e;
  }

  expr_ptr conditional() {
    const nesting guard(*this);
    auto body = logical_or();
    if (!accept_name("if")) return body;
    auto e = make(jexpr::kind::conditional);
    auto cond = logical_or();
    e->kids.push_back(std::move(cond));
    e->kids.push_back(std::move(body));
    e->kids.push_back(accept_name("else") ? conditional() : nullptr);
    return e;
  }
  expr_ptr logical_or() {
    auto a = logical_and();
    while (accept_name("or")) a = binary(jexpr::kind::logical_or, "or", std::move(a), logical_and());
    return a;
  }
  expr_ptr logical_and() {
    auto a = logical_not();
    while (accept_name("and")) a = binary(jexpr::kind::logical_and, "and", std::move(a), logical_not());
    return a;
  }
  expr_ptr logical_not() {
    const nesting guard(*this);
    if (accept_name("not")) {
      auto e = make(jexpr::kind::logical_not);
      e->kids.push_back(logical_not());
      return e;
    }
    return compare();
  }
  expr_ptr compare() {
    auto a = additive();
    for (;;) {
      std::string op;
      if (peek().k == token::kind::op &&
          (peek().text == "==" || peek().text == "!=" || peek().text == "<" || peek().text == ">" ||
           peek().text == "<=" || peek().text == ">=")) {
        op = toks_[pos_++].text;
      } else if (is_name("in")) {
        ++pos_;
        op = "in";
      } else if (is_name("not") && is_name("in", 1)) {
        pos_ += 2;
        op = "not in";
      } else {
        return a;
      }
      a = binary(jexpr::kind::binary, op, std::move(a), additive());
    }
  }
  /// A left-associative chain `next (op next)*` of the binary operators `ops`.
  expr_ptr chain(expr_ptr (expr_parser::*next)(), std::initializer_list<std::string_view> ops) {
    auto a = (this->*next)();
    for (;;) {
      const auto op = std::find_if(ops.begin(), ops.end(), [&](std::string_view o) { return is_op(o); });
      if (op == ops.end()) return a;
      ++pos_;
      a = binary(jexpr::kind::binary, std::string(*op), std::move(a), (this->*next)());
    }
  }
  expr_ptr additive() { return chain(&expr_parser::concat, {"+", "-"}); }
  expr_ptr concat() { return chain(&expr_parser::multiplicative, {"~"}); }
  expr_ptr multiplicative() { return chain(&expr_parser::unary, {"*", "/", "//", "%"}); }
  /// Counts one level of the parser's recursion (through conditional, not and unary) against max_nesting.
  struct nesting {
    explicit nesting(expr_parser& p) : parser(p) {
      require(++parser.depth_ <= max_nesting, parser.where_, ": the expression nests deeper than ", max_nesting);
    }
    ~nesting() { --parser.depth_; }
    expr_parser& parser;
  };

  expr_ptr unary() {
    const nesting guard(*this);
    if (accept_op("-")) {
      auto e = make(jexpr::kind::negate);
      e->kids.push_back(unary());
      return e;
    }
    if (accept_op("+")) return unary();
    return filters_and_tests(postfix(primary()));
  }

  void call_arguments(jexpr& e) {  // after '('
    while (!accept_op(")")) {
      if (peek().k == token::kind::name && peek(1).k == token::kind::op && peek(1).text == "=") {
        std::string key = expect_name();
        expect_op("=");
        e.kwargs.emplace_back(std::move(key), expression());
      } else {
        e.kids.push_back(expression());
      }
      if (!is_op(")")) expect_op(",");
    }
  }

  expr_ptr primary() {
    const token& t = peek();
    if (t.k == token::kind::string) {
      auto e = make(jexpr::kind::literal);
      std::string s;
      while (peek().k == token::kind::string) s += toks_[pos_++].text;  // adjacent literals join
      e->literal = s;
      return e;
    }
    if (t.k == token::kind::number) {
      auto e = make(jexpr::kind::literal);
      e->literal = toks_[pos_++].number;
      return e;
    }
    if (t.k == token::kind::name) {
      const std::string n = toks_[pos_++].text;
      if (n == "true" || n == "True" || n == "false" || n == "False") {
        auto e = make(jexpr::kind::literal);
        e->literal = n == "true" || n == "True";
        return e;
      }
      if (n == "none" || n == "None") return make(jexpr::kind::literal);
      if (accept_op("(")) {
        auto e = make(jexpr::kind::call, n);
        call_arguments(*e);
        return e;
      }
      return make(jexpr::kind::variable, n);
    }
    if (accept_op("(")) {
      auto e = expression();
      expect_op(")");
      return e;
    }
    if (accept_op("[")) {
      auto e = make(jexpr::kind::list);
      while (!accept_op("]")) {
        e->kids.push_back(expression());
        if (!is_op("]")) expect_op(",");
      }
      return e;
    }
    if (accept_op("{")) {
      auto e = make(jexpr::kind::dict);
      while (!accept_op("}")) {
        e->kids.push_back(expression());
        expect_op(":");
        e->kids.push_back(expression());
        if (!is_op("}")) expect_op(",");
      }
      return e;
    }
    fail(where_, ": unexpected '", t.text.empty() ? std::string("end of expression") : t.text, "'");
  }

  expr_ptr postfix(expr_ptr e) {
    for (;;) {
      if (accept_op(".")) {
        std::string n = expect_name();
        if (accept_op("(")) {
          auto m = make(jexpr::kind::method, std::move(n));
          m->kids.push_back(std::move(e));
          call_arguments(*m);
          e = std::move(m);
        } else {
          auto a = make(jexpr::kind::attribute, std::move(n));
          a->kids.push_back(std::move(e));
          e = std::move(a);
        }
      } else if (accept_op("[")) {
        expr_ptr parts[3];
        int colons = 0;
        for (;;) {
          if (is_op(":")) {
            ++pos_;
            require(++colons <= 2, where_, ": a slice has at most two ':'");
          } else if (is_op("]")) {
            ++pos_;
            break;
          } else {
            require(!parts[colons], where_, ": expected ':' or ']' in a subscript");
            parts[colons] = expression();
          }
        }
        if (colons == 0) {
          require(bool(parts[0]), where_, ": empty subscript");
          auto s = make(jexpr::kind::subscript);
          s->kids.push_back(std::move(e));
          s->kids.push_back(std::move(parts[0]));
          e = std::move(s);
        } else {
          auto s = make(jexpr::kind::slice);
          s->kids.push_back(std::move(e));
          for (auto& p : parts) s->kids.push_back(std::move(p));
          e = std::move(s);
        }
      } else {
        return e;
      }
    }
  }

  expr_ptr filters_and_tests(expr_ptr e) {
    for (;;) {
      if (accept_op("|")) {
        auto f = make(jexpr::kind::filter, expect_name());
        f->kids.push_back(std::move(e));
        if (accept_op("(")) call_arguments(*f);
        e = std::move(f);
      } else if (accept_name("is")) {
        auto t = make(jexpr::kind::test);
        t->negated = accept_name("not");
        // `is none` / `is true` / `is false` are names here, not literals
        t->name = expect_name();
        t->kids.push_back(std::move(e));
        if (accept_op("(")) call_arguments(*t);
        e = std::move(t);
      } else {
        return e;
      }
    }
  }

  std::vector<token> toks_;
  std::size_t pos_ = 0;
  int depth_ = 0;
  std::string where_;
  int line_;
};

// ---------------------------------------------------------------------------------------------
// Template pieces: text, {{ expression }} and {% statement %}, with whitespace control applied.

struct piece {
  enum class kind { text, output, statement };
  kind k;
  std::string text;
  int line;
};

/// The line of a position in `src`, for positions asked in increasing order (one pass over src).
struct line_counter {
  std::string_view src;
  std::size_t at = 0;
  int line = 1;
  int operator()(std::size_t pos) {
    for (; at < pos && at < src.size(); ++at)
      if (src[at] == '\n') ++line;
    return line;
  }
};

/// Where a tag whose content starts at `from` closes (the index of its closing delimiter). In
/// expressions and statements, quoted strings are skipped and brackets must balance first, so
/// `{{ {'a': {'b': 1}} }}` closes at the last `}}`.
std::size_t find_close(std::string_view src, std::size_t from, std::string_view close, bool code) {
  char quote = 0;
  int depth = 0;
  for (std::size_t i = from; i < src.size(); ++i) {
    const char c = src[i];
    if (quote) {
      if (c == '\\') ++i;
      else if (c == quote) quote = 0;
      continue;
    }
    if (depth == 0 && src.substr(i, close.size()) == close) return i;
    if (!code) continue;
    if (c == '\'' || c == '"') quote = c;
    else if (c == '(' || c == '[' || c == '{') ++depth;
    else if ((c == ')' || c == ']' || c == '}') && depth > 0) --depth;
  }
  return std::string_view::npos;
}

std::vector<piece> split_pieces(std::string_view src, const std::string& name) {
  std::vector<piece> out;
  line_counter line_at{src};
  std::size_t pos = 0;
  bool strip_next = false;   // the previous tag ended with '-'
  bool trim_newline = false;  // the previous tag was a block or comment (trim_blocks)
  bool line_starting = true;
  while (pos <= src.size()) {
    std::size_t open = pos;
    for (;;) {
      open = src.find('{', open);
      if (open == std::string_view::npos || open + 1 >= src.size()) {
        open = std::string_view::npos;
        break;
      }
      const char n = src[open + 1];
      if (n == '{' || n == '%' || n == '#') break;
      ++open;
    }
    std::string text(src.substr(pos, open == std::string_view::npos ? std::string_view::npos : open - pos));
    if (strip_next) {
      std::size_t k = 0;
      while (k < text.size() && is_space(text[k])) ++k;
      text.erase(0, k);
    } else if (trim_newline) {
      if (text.starts_with("\r\n")) text.erase(0, 2);
      else if (text.starts_with("\n")) text.erase(0, 1);
    }
    if (open == std::string_view::npos) {
      if (!text.empty()) out.push_back({piece::kind::text, std::move(text), line_at(pos)});
      break;
    }
    const char type = src[open + 1];
    const bool block = type == '%' || type == '#';
    const char modifier = open + 2 < src.size() ? src[open + 2] : 0;
    if (modifier == '-') {
      while (!text.empty() && is_space(text.back())) text.pop_back();
    } else if (block && modifier != '+') {  // lstrip_blocks: spaces between a line start and the tag
      const auto nl = text.rfind('\n');
      const std::size_t from = nl == std::string::npos ? 0 : nl + 1;
      if ((nl != std::string::npos || line_starting) &&
          std::all_of(text.begin() + static_cast<std::ptrdiff_t>(from), text.end(),
                      [](char c) { return c == ' ' || c == '\t'; }))
        text.erase(from);
    }
    if (!text.empty()) out.push_back({piece::kind::text, std::move(text), line_at(pos)});

    const std::string_view close = type == '{' ? "}}" : type == '%' ? "%}" : "#}";
    const std::size_t inner = open + 2 + (modifier == '-' || modifier == '+' ? 1 : 0);
    const std::size_t end = find_close(src, inner, close, type != '#');
    const int line = line_at(open);
    require(end != std::string_view::npos, name, " line ", line, ": '", src.substr(open, 2), "' is never closed by '",
            close, "'");
    std::size_t inner_end = end;
    strip_next = inner_end > inner && src[inner_end - 1] == '-';
    if (strip_next) --inner_end;
    trim_newline = block;
    pos = end + 2;
    line_starting = block && !strip_next && pos < src.size() && src[pos] == '\n';
    if (type == '#') continue;
    out.push_back({type == '{' ? piece::kind::output : piece::kind::statement,
                   std::string(src.substr(inner, inner_end - inner)), line});
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Statement tree

class tree_builder {
 public:
  tree_builder(std::vector<piece> pieces, std::string name) : pieces_(std::move(pieces)), name_(std::move(name)) {}

  node_ptr build() {
    auto root = std::make_unique<jinja_node>();
    std::string stop;
    root->bodies.emplace_back();
    parse_body(root->bodies.back(), {}, stop);
    require(stop.empty(), name_, ": '", stop, "' without a matching opening tag");
    return root;
  }

 private:
  std::string where(int line) const { return name_ + " line " + std::to_string(line); }

  /// Parses nodes into `body` until a statement whose keyword is in `stops`; its keyword goes to
  /// `stop` and its parser stays in `stop_parser_` (empty `stop` at the end of the template).
  void parse_body(std::vector<node_ptr>& body, std::initializer_list<std::string_view> stops, std::string& stop) {
    require(++depth_ <= max_nesting, name_, ": blocks nest deeper than ", max_nesting);
    struct leave {
      int& depth;
      ~leave() { --depth; }
    } guard{depth_};
    while (next_ < pieces_.size()) {
      const piece& p = pieces_[next_++];
      if (p.k == piece::kind::text) {
        auto n = std::make_unique<jinja_node>();
        n->k = jinja_node::kind::text;
        n->text = p.text;
        body.push_back(std::move(n));
        continue;
      }
      expr_parser parser(tokenize(p.text, where(p.line)), where(p.line), p.line);
      if (p.k == piece::kind::output) {
        auto n = std::make_unique<jinja_node>();
        n->k = jinja_node::kind::output;
        n->value = parser.expression();
        parser.expect_end();
        body.push_back(std::move(n));
        continue;
      }
      const std::string keyword = parser.expect_name();
      if (std::find(stops.begin(), stops.end(), keyword) != stops.end()) {
        stop = keyword;
        stop_parser_.emplace(std::move(parser));
        stop_line_ = p.line;
        return;
      }
      if (keyword == "if") body.push_back(parse_if(parser, p.line));
      else if (keyword == "for") body.push_back(parse_for(parser, p.line));
      else if (keyword == "set") body.push_back(parse_set(parser, p.line));
      else if (keyword == "generation") parse_generation(body, p.line);
      else if (keyword == "endif" || keyword == "endfor" || keyword == "elif" || keyword == "else" ||
               keyword == "endgeneration")
        fail(where(p.line), ": '", keyword, "' without a matching opening tag");
      else fail(where(p.line), ": the statement '", keyword, "' is not supported");
    }
    if (stops.size() != 0) fail(name_, ": the template ends inside a block (missing '", *(stops.end() - 1), "')");
  }

  node_ptr parse_if(expr_parser& parser, int line) {
    auto n = std::make_unique<jinja_node>();
    n->k = jinja_node::kind::if_chain;
    n->line = line;
    n->conditions.push_back(parser.expression());
    parser.expect_end();
    for (;;) {
      std::string stop;
      n->bodies.emplace_back();
      parse_body(n->bodies.back(), {"elif", "else", "endif"}, stop);
      require(!stop.empty(), where(line), ": 'if' is never closed by 'endif'");
      if (stop == "endif") {
        stop_parser_->expect_end();
        return n;
      }
      require(n->conditions.back() != nullptr, where(stop_line_), ": '", stop, "' after 'else'");
      if (stop == "elif") {
        n->conditions.push_back(stop_parser_->expression());
      } else {
        n->conditions.push_back(nullptr);
      }
      stop_parser_->expect_end();
    }
  }

  node_ptr parse_for(expr_parser& parser, int line) {
    auto n = std::make_unique<jinja_node>();
    n->k = jinja_node::kind::for_loop;
    n->line = line;
    n->targets.push_back(parser.expect_name());
    while (parser.accept_op(",")) n->targets.push_back(parser.expect_name());
    require(n->targets.size() <= 2, where(line), ": a for loop unpacks at most two names");
    require(parser.accept_name("in"), where(line), ": expected 'in' in the for loop");
    n->value = parser.expression();  // `if` here would be parsed as a conditional: see below
    if (n->value->k == jexpr::kind::conditional && !n->value->kids[2]) {  // `for x in xs if cond`
      n->filter = std::move(n->value->kids[0]);
      n->value = std::move(n->value->kids[1]);
    }
    require(!parser.accept_name("recursive"), where(line), ": recursive loops are not supported");
    parser.expect_end();
    std::string stop;
    n->bodies.emplace_back();
    parse_body(n->bodies.back(), {"else", "endfor"}, stop);
    require(!stop.empty(), where(line), ": 'for' is never closed by 'endfor'");
    stop_parser_->expect_end();
    n->bodies.emplace_back();
    if (stop == "else") {
      parse_body(n->bodies.back(), {"endfor"}, stop);
      require(stop == "endfor", where(line), ": 'for' is never closed by 'endfor'");
      stop_parser_->expect_end();
    }
    return n;
  }

  node_ptr parse_set(expr_parser& parser, int line) {
    auto n = std::make_unique<jinja_node>();
    n->line = line;
    n->text = parser.expect_name();
    if (parser.accept_op(".")) {
      n->k = jinja_node::kind::set_attr;
      n->attr = parser.expect_name();
    } else {
      n->k = jinja_node::kind::set_var;
    }
    require(parser.accept_op("="), where(line), ": block 'set' (without '=') is not supported");
    n->value = parser.expression();
    parser.expect_end();
    return n;
  }

  /// transformers' {% generation %} marks assistant text for masks; rendering keeps its body.
  void parse_generation(std::vector<node_ptr>& body, int line) {
    std::string stop;
    parse_body(body, {"endgeneration"}, stop);
    require(stop == "endgeneration", where(line), ": 'generation' is never closed by 'endgeneration'");
    stop_parser_->expect_end();
  }

  std::vector<piece> pieces_;
  std::string name_;
  std::size_t next_ = 0;
  std::optional<expr_parser> stop_parser_;
  int stop_line_ = 0;
  int depth_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Rendering

bool truthy(const jvalue& v) {
  const json& j = v.j;
  if (v.undefined || j.is_null()) return false;
  if (j.is_boolean()) return j.get<bool>();
  if (j.is_number_integer()) return j.get<std::int64_t>() != 0;
  if (j.is_number()) return j.get<double>() != 0.0;
  if (j.is_string()) return !j.get_ref<const std::string&>().empty();
  return !j.empty();  // arrays, objects
}

std::string python_float(double d) {
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (std::isnan(d)) return "nan";
  return json(d).dump();  // shortest round-trip, with ".0" for whole values, as Python's repr
}

std::string python_repr(const json& j);

/// What {{ x }} prints: Python's str() of the value (strings as they are, None, True/False).
std::string to_text(const jvalue& v) {
  if (v.undefined) return "";
  const json& j = v.j;
  if (j.is_string()) return j.get<std::string>();
  return python_repr(j);
}

std::string python_repr(const json& j) {
  if (j.is_null()) return "None";
  if (j.is_boolean()) return j.get<bool>() ? "True" : "False";
  if (j.is_number_integer() || j.is_number_unsigned()) return j.dump();
  if (j.is_number_float()) return python_float(j.get<double>());
  if (j.is_string()) {
    const std::string& s = j.get_ref<const std::string&>();
    const char q = s.find('\'') != std::string::npos && s.find('"') == std::string::npos ? '"' : '\'';
    std::string out(1, q);
    for (char c : s) {
      if (c == '\\') out += "\\\\";
      else if (c == q) out += std::string("\\") + q;
      else if (c == '\n') out += "\\n";
      else if (c == '\t') out += "\\t";
      else if (c == '\r') out += "\\r";
      else out.push_back(c);
    }
    return out + q;
  }
  std::string out = j.is_array() ? "[" : "{";
  bool first = true;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!first) out += ", ";
    first = false;
    if (j.is_object()) out += python_repr(json(it.key())) + ": ";
    out += python_repr(*it);
  }
  return out + (j.is_array() ? "]" : "}");
}

/// Python json.dumps(x, ensure_ascii=False, indent=indent) (indent < 0: one line).
std::string json_dumps(const json& j, int indent, int depth = 0) {
  if (indent < 0 || !(j.is_array() || j.is_object()) || j.empty()) return python_json_dumps(j);
  const std::string pad = "\n" + std::string(static_cast<std::size_t>(indent * (depth + 1)), ' ');
  std::string out = j.is_array() ? "[" : "{";
  bool first = true;
  for (auto it = j.begin(); it != j.end(); ++it) {
    out += first ? pad : "," + pad;
    first = false;
    if (j.is_object()) out += json(it.key()).dump() + ": ";
    out += json_dumps(*it, indent, depth + 1);
  }
  return out + "\n" + std::string(static_cast<std::size_t>(indent * depth), ' ') + (j.is_array() ? "]" : "}");
}

std::string strip_chars(std::string s, const std::optional<std::string>& chars, bool left, bool right) {
  const auto strip_this = [&](char c) { return chars ? chars->find(c) != std::string::npos : is_space(c); };
  if (right)
    while (!s.empty() && strip_this(s.back())) s.pop_back();
  if (left) {
    std::size_t k = 0;
    while (k < s.size() && strip_this(s[k])) ++k;
    s.erase(0, k);
  }
  return s;
}

std::string case_mapped(std::string s, int mode) {  // 0 lower, 1 upper, 2 capitalize, 3 title (ASCII)
  bool word_start = true;
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto& c = s[i];
    const auto u = static_cast<unsigned char>(c);
    const bool up = mode == 1 || (mode == 2 && i == 0) || (mode == 3 && word_start);
    c = static_cast<char>(up ? std::toupper(u) : std::tolower(u));
    word_start = !std::isalnum(u);
  }
  return s;
}

class renderer {
 public:
  renderer(const std::string& name, const json& context) : name_(name) { frames_.push_back(context); }

  void run(const std::vector<node_ptr>& body, std::string& out) {
    for (const auto& n : body) run(*n, out);
  }

 private:
  [[noreturn]] void error(int line, const std::string& what) const {
    fail(name_, " line ", line, ": ", what);
  }

  void run(const jinja_node& n, std::string& out) {
    switch (n.k) {
      case jinja_node::kind::body: run(n.bodies.front(), out); break;
      case jinja_node::kind::text: out += n.text; break;
      case jinja_node::kind::output:
        out += to_text(eval(*n.value));
        if (out.size() > max_text_bytes) error(n.line, "the output exceeds " + std::to_string(max_text_bytes) + " bytes");
        break;
      case jinja_node::kind::if_chain:
        for (std::size_t b = 0; b < n.conditions.size(); ++b)
          if (!n.conditions[b] || truthy(eval(*n.conditions[b]))) {
            run(n.bodies[b], out);
            break;
          }
        break;
      case jinja_node::kind::for_loop: run_for(n, out); break;
      case jinja_node::kind::set_var: frames_.back()[n.text] = defined(eval(*n.value), n.line, "the value of set"); break;
      case jinja_node::kind::set_attr: {
        json* target = nullptr;
        for (auto f = frames_.rbegin(); f != frames_.rend() && !target; ++f)
          if (auto it = f->find(n.text); it != f->end()) target = &*it;
        if (!target || !target->is_object() || !target->contains("__namespace__"))
          error(n.line, "'set " + n.text + "." + n.attr + "' needs '" + n.text + "' to be a namespace()");
        (*target)[n.attr] = defined(eval(*n.value), n.line, "the value of set");
        break;
      }
    }
  }

  void run_for(const jinja_node& n, std::string& out) {
    const jvalue seq = eval(*n.value);
    if (seq.undefined) error(n.line, "the for loop's sequence is undefined");
    std::vector<json> items;
    if (seq.j.is_array()) {
      items.assign(seq.j.begin(), seq.j.end());
    } else if (seq.j.is_object()) {
      for (auto it = seq.j.begin(); it != seq.j.end(); ++it)
        if (it.key() != "__namespace__") items.emplace_back(it.key());
    } else if (seq.j.is_string()) {
      for (auto& c : characters(seq.j.get<std::string>())) items.emplace_back(std::move(c));
    } else if (!seq.j.is_null()) {
      error(n.line, "cannot loop over " + python_repr(seq.j));
    } else {
      error(n.line, "cannot loop over None");
    }
    if (n.filter) {
      std::vector<json> kept;
      for (auto& item : items) {
        frames_.emplace_back(json::object());
        bind(n, item);
        if (truthy(eval(*n.filter))) kept.push_back(std::move(item));
        frames_.pop_back();
      }
      items = std::move(kept);
    }
    const auto count = static_cast<std::int64_t>(items.size());
    iterations_ += count;
    if (iterations_ > max_loop_iterations)
      error(n.line, "the template runs more than " + std::to_string(max_loop_iterations) + " loop iterations");
    for (std::int64_t i = 0; i < count; ++i) {
      frames_.emplace_back(json::object());
      bind(n, items[static_cast<std::size_t>(i)]);
      frames_.back()["loop"] = json{{"index", i + 1}, {"index0", i}, {"revindex", count - i},
                                    {"revindex0", count - i - 1}, {"first", i == 0}, {"last", i == count - 1},
                                    {"length", count}};
      run(n.bodies[0], out);
      frames_.pop_back();
    }
    if (count == 0) run(n.bodies[1], out);
  }

  void bind(const jinja_node& n, const json& item) {
    if (n.targets.size() == 1) {
      frames_.back()[n.targets[0]] = item;
      return;
    }
    if (!item.is_array() || item.size() != 2)
      error(n.line, "cannot unpack " + python_repr(item) + " into " + n.targets[0] + ", " + n.targets[1]);
    frames_.back()[n.targets[0]] = item[0];
    frames_.back()[n.targets[1]] = item[1];
  }

  json defined(jvalue v, int line, const std::string& what) const {
    if (v.undefined) error(line, what + " is undefined");
    return std::move(v.j);
  }

  jvalue lookup(const std::string& name) const {
    for (auto f = frames_.rbegin(); f != frames_.rend(); ++f)
      if (auto it = f->find(name); it != f->end()) return {*it};
    return jvalue::undef();
  }

  static jvalue member(const json& obj, const json& key) {
    if (obj.is_object() && key.is_string()) {
      const auto it = obj.find(key.get<std::string>());
      return it == obj.end() ? jvalue::undef() : jvalue{*it};
    }
    if (obj.is_string() && key.is_number_integer()) return member(char_list(obj), key);
    if (obj.is_array() && key.is_number_integer()) {
      const auto n = static_cast<std::int64_t>(obj.size());
      std::int64_t i = key.get<std::int64_t>();
      if (i < 0) i += n;
      if (i < 0 || i >= n) return jvalue::undef();
      return {obj[static_cast<std::size_t>(i)]};
    }
    return jvalue::undef();
  }

  jvalue eval(const jexpr& e) {
    switch (e.k) {
      case jexpr::kind::literal: return {e.literal};
      case jexpr::kind::variable: return lookup(e.name);
      case jexpr::kind::attribute: {
        const jvalue obj = eval(*e.kids[0]);
        if (obj.undefined) error(e.line, "cannot read '." + e.name + "' of an undefined value");
        return member(obj.j, json(e.name));
      }
      case jexpr::kind::subscript: {
        const jvalue obj = eval(*e.kids[0]);
        const json key = defined(eval(*e.kids[1]), e.line, "a subscript");
        if (obj.undefined) error(e.line, "cannot subscript an undefined value");
        return member(obj.j, key);
      }
      case jexpr::kind::slice: return slice(e);
      case jexpr::kind::call: return call(e);
      case jexpr::kind::method: return method(e);
      case jexpr::kind::filter: return filter(e);
      case jexpr::kind::test: {
        const bool r = test(e);
        return {json(e.negated ? !r : r)};
      }
      case jexpr::kind::logical_not: return {json(!truthy(eval(*e.kids[0])))};
      case jexpr::kind::negate: {
        const json v = defined(eval(*e.kids[0]), e.line, "the operand of '-'");
        if (v.is_number_integer()) return {json(-v.get<std::int64_t>())};
        if (v.is_number()) return {json(-v.get<double>())};
        error(e.line, "cannot negate " + python_repr(v));
      }
      case jexpr::kind::logical_and: {
        jvalue a = eval(*e.kids[0]);
        return truthy(a) ? eval(*e.kids[1]) : a;
      }
      case jexpr::kind::logical_or: {
        jvalue a = eval(*e.kids[0]);
        return truthy(a) ? a : eval(*e.kids[1]);
      }
      case jexpr::kind::conditional:
        if (truthy(eval(*e.kids[0]))) return eval(*e.kids[1]);
        return e.kids[2] ? eval(*e.kids[2]) : jvalue::undef();
      case jexpr::kind::list: {
        json out = json::array();
        for (const auto& k : e.kids) out.push_back(defined(eval(*k), e.line, "a list item"));
        return {out};
      }
      case jexpr::kind::dict: {
        json out = json::object();
        for (std::size_t i = 0; i + 1 < e.kids.size(); i += 2) {
          const json key = defined(eval(*e.kids[i]), e.line, "a dict key");
          if (!key.is_string()) error(e.line, "dict keys must be strings");
          out[key.get<std::string>()] = defined(eval(*e.kids[i + 1]), e.line, "a dict value");
        }
        return {out};
      }
      case jexpr::kind::binary: return binary(e);
    }
    error(e.line, "unknown expression");
  }

  jvalue binary(const jexpr& e) {
    const jvalue av = eval(*e.kids[0]), bv = eval(*e.kids[1]);
    const std::string& op = e.name;
    if (op == "==" || op == "!=") {
      const bool eq = av.undefined || bv.undefined ? av.undefined == bv.undefined : av.j == bv.j;
      return {json(op == "==" ? eq : !eq)};
    }
    if (op == "~") return {sized(json(to_text(av) + to_text(bv)), e.line)};
    const json a = defined(av, e.line, "the left operand of '" + op + "'");
    const json b = defined(bv, e.line, "the right operand of '" + op + "'");
    if (op == "in" || op == "not in") {
      bool found = false;
      if (b.is_string() && a.is_string()) found = b.get_ref<const std::string&>().find(a.get<std::string>()) != std::string::npos;
      else if (b.is_array()) found = std::find(b.begin(), b.end(), a) != b.end();
      else if (b.is_object() && a.is_string()) found = b.contains(a.get<std::string>());
      else error(e.line, "'in' needs a string, list or dict on its right, got " + python_repr(b));
      return {json(op == "in" ? found : !found)};
    }
    if (op == "<" || op == ">" || op == "<=" || op == ">=") {
      if (!((a.is_number() && b.is_number()) || (a.is_string() && b.is_string())))
        error(e.line, "cannot compare " + python_repr(a) + " " + op + " " + python_repr(b));
      const bool r = op == "<" ? a < b : op == ">" ? b < a : op == "<=" ? !(b < a) : !(a < b);
      return {json(r)};
    }
    if (op == "+" && a.is_string() && b.is_string()) return {sized(json(a.get<std::string>() + b.get<std::string>()), e.line)};
    if (op == "+" && a.is_array() && b.is_array()) {
      if (a.size() + b.size() > max_list_items) error(e.line, "a list grows past " + std::to_string(max_list_items) + " items");
      json out = a;
      out.insert(out.end(), b.begin(), b.end());
      return {out};
    }
    if (!a.is_number() || !b.is_number())
      error(e.line, "cannot apply '" + op + "' to " + python_repr(a) + " and " + python_repr(b));
    const bool ints = a.is_number_integer() && b.is_number_integer();
    if (ints && op != "/") {
      const auto x = a.get<std::int64_t>(), y = b.get<std::int64_t>();
      if ((op == "//" || op == "%") && y == 0) error(e.line, "integer division by zero");
      if (op == "+") return {json(x + y)};
      if (op == "-") return {json(x - y)};
      if (op == "*") return {json(x * y)};
      const std::int64_t q = x / y - ((x % y != 0) && ((x < 0) != (y < 0)) ? 1 : 0);  // Python floors
      return {op == "//" ? json(q) : json(x - q * y)};
    }
    const double x = a.get<double>(), y = b.get<double>();
    if (op == "+") return {json(x + y)};
    if (op == "-") return {json(x - y)};
    if (op == "*") return {json(x * y)};
    if (y == 0) error(e.line, "division by zero");
    if (op == "/") return {json(x / y)};
    if (op == "//") return {json(std::floor(x / y))};
    return {json(x - std::floor(x / y) * y)};
  }

  /// `v` when a string within max_text_bytes, else a render error.
  json sized(json v, int line) const {
    if (v.is_string() && v.get_ref<const std::string&>().size() > max_text_bytes)
      error(line, "a string grows past " + std::to_string(max_text_bytes) + " bytes");
    return v;
  }

  jvalue slice(const jexpr& e) {
    const json value = defined(eval(*e.kids[0]), e.line, "the sliced value");
    if (!value.is_array() && !value.is_string()) error(e.line, "cannot slice " + python_repr(value));
    const json obj = value.is_string() ? char_list(value) : value;
    const auto n = static_cast<std::int64_t>(obj.size());
    const auto bound = [&](std::size_t k) -> std::optional<std::int64_t> {
      if (!e.kids[k]) return std::nullopt;
      const json v = defined(eval(*e.kids[k]), e.line, "a slice bound");
      if (v.is_null()) return std::nullopt;
      if (!v.is_number_integer()) error(e.line, "slice bounds must be integers");
      return v.get<std::int64_t>();
    };
    const std::int64_t step = bound(3).value_or(1);
    if (step == 0) error(e.line, "slice step cannot be zero");
    const auto clamp = [&](std::optional<std::int64_t> v, std::int64_t fallback) {
      if (!v) return fallback;
      std::int64_t x = *v < 0 ? *v + n : *v;
      return step > 0 ? std::clamp<std::int64_t>(x, 0, n) : std::clamp<std::int64_t>(x, -1, n - 1);
    };
    const std::int64_t start = clamp(bound(1), step > 0 ? 0 : n - 1), stop = clamp(bound(2), step > 0 ? n : -1);
    json out = json::array();
    for (std::int64_t i = start; step > 0 ? i < stop : i > stop; i += step) out.push_back(obj[static_cast<std::size_t>(i)]);
    return {value.is_string() ? joined(out) : out};
  }

  std::vector<json> positional(const jexpr& e, std::size_t first = 0) {
    std::vector<json> out;
    for (std::size_t i = first; i < e.kids.size(); ++i) out.push_back(defined(eval(*e.kids[i]), e.line, "an argument"));
    return out;
  }

  void arity(const jexpr& e, const std::vector<json>& args, std::size_t lo, std::size_t hi) const {
    if (args.size() < lo || args.size() > hi)
      error(e.line, "'" + e.name + "' takes " + std::to_string(lo) + (lo == hi ? "" : "-" + std::to_string(hi)) +
                        " arguments, got " + std::to_string(args.size()));
  }

  std::string string_arg(const jexpr& e, const json& v) const {
    if (!v.is_string()) error(e.line, "'" + e.name + "' needs a string argument, got " + python_repr(v));
    return v.get<std::string>();
  }

  jvalue call(const jexpr& e) {
    if (e.name == "namespace") {
      json ns = json::object();
      ns["__namespace__"] = true;
      for (const auto& [k, v] : e.kwargs) ns[k] = defined(eval(*v), e.line, "a namespace value");
      return {ns};
    }
    const auto args = positional(e);
    if (e.name == "raise_exception") {
      arity(e, args, 1, 1);
      error(e.line, "raise_exception: " + to_text({args[0]}));
    }
    if (e.name == "range") {
      arity(e, args, 1, 3);
      for (const auto& a : args)
        if (!a.is_number_integer()) error(e.line, "range() needs integers");
      std::int64_t lo = 0, hi = args[0].get<std::int64_t>(), st = 1;
      if (args.size() >= 2) lo = hi, hi = args[1].get<std::int64_t>();
      if (args.size() == 3) st = args[2].get<std::int64_t>();
      if (st == 0) error(e.line, "range() step cannot be zero");
      const double items = std::ceil((static_cast<double>(hi) - static_cast<double>(lo)) / static_cast<double>(st));
      if (items > static_cast<double>(max_range)) error(e.line, "range() of more than " + std::to_string(max_range) + " items");
      json out = json::array();
      for (std::int64_t i = lo; st > 0 ? i < hi : i > hi; i += st) out.push_back(i);
      return {out};
    }
    if (e.name == "strftime_now") {
      arity(e, args, 1, 1);
      const std::time_t now = std::time(nullptr);
      std::tm tm{};
      localtime_r(&now, &tm);
      char buf[256];
      const std::size_t len = std::strftime(buf, sizeof buf, string_arg(e, args[0]).c_str(), &tm);
      return {json(std::string(buf, len))};
    }
    const jvalue callee = lookup(e.name);
    error(e.line, callee.undefined ? "'" + e.name + "' is undefined" : "'" + e.name + "' is not callable");
  }

  jvalue method(const jexpr& e) {
    const jvalue objv = eval(*e.kids[0]);
    if (objv.undefined) error(e.line, "cannot call '." + e.name + "()' on an undefined value");
    const json& obj = objv.j;
    const auto args = positional(e, 1);
    const std::string& m = e.name;
    if (obj.is_string()) {
      const std::string s = obj.get<std::string>();
      if (m == "strip" || m == "lstrip" || m == "rstrip") {
        arity(e, args, 0, 1);
        std::optional<std::string> chars;
        if (!args.empty() && !args[0].is_null()) chars = string_arg(e, args[0]);
        return {json(strip_chars(s, chars, m != "rstrip", m != "lstrip"))};
      }
      if (m == "startswith" || m == "endswith") {
        arity(e, args, 1, 1);
        const std::string p = string_arg(e, args[0]);
        return {json(m == "startswith" ? s.starts_with(p) : s.ends_with(p))};
      }
      if (m == "split") {
        arity(e, args, 0, 2);
        json out = json::array();
        const std::int64_t max_split = args.size() == 2 ? args[1].get<std::int64_t>() : -1;
        if (args.empty() || args[0].is_null()) {  // runs of whitespace, no empty parts
          std::size_t i = 0;
          std::int64_t splits = 0;
          while (i < s.size()) {
            while (i < s.size() && is_space(s[i])) ++i;
            if (i >= s.size()) break;
            if (max_split >= 0 && splits == max_split) {
              out.push_back(strip_chars(s.substr(i), std::nullopt, false, true));
              break;
            }
            std::size_t j = i;
            while (j < s.size() && !is_space(s[j])) ++j;
            out.push_back(s.substr(i, j - i));
            ++splits;
            i = j;
          }
          return {out};
        }
        const std::string sep = string_arg(e, args[0]);
        if (sep.empty()) error(e.line, "split() separator cannot be empty");
        std::size_t from = 0;
        for (std::int64_t splits = 0;; ++splits) {
          const std::size_t at = max_split >= 0 && splits >= max_split ? std::string::npos : s.find(sep, from);
          if (at == std::string::npos) {
            out.push_back(s.substr(from));
            break;
          }
          out.push_back(s.substr(from, at - from));
          from = at + sep.size();
        }
        return {out};
      }
      if (m == "replace") {
        arity(e, args, 2, 2);
        const std::string a = string_arg(e, args[0]), b = string_arg(e, args[1]);
        if (a.empty()) error(e.line, "replace() of an empty string is not supported");
        std::string out;
        std::size_t from = 0;
        for (std::size_t at; (at = s.find(a, from)) != std::string::npos; from = at + a.size()) out += s.substr(from, at - from) + b;
        return {sized(json(out + s.substr(from)), e.line)};
      }
      const int mode = m == "lower" ? 0 : m == "upper" ? 1 : m == "capitalize" ? 2 : m == "title" ? 3 : -1;
      if (mode >= 0) {
        arity(e, args, 0, 0);
        return {json(case_mapped(s, mode))};
      }
    }
    if (obj.is_object()) {
      if (m == "items" || m == "keys" || m == "values") {
        arity(e, args, 0, 0);
        json out = json::array();
        for (auto it = obj.begin(); it != obj.end(); ++it) {
          if (it.key() == "__namespace__") continue;
          if (m == "items") out.push_back(json::array({it.key(), *it}));
          else out.push_back(m == "keys" ? json(it.key()) : *it);
        }
        return {out};
      }
      if (m == "get") {
        arity(e, args, 1, 2);
        const jvalue v = member(obj, args[0]);
        return v.undefined ? jvalue{args.size() == 2 ? args[1] : json()} : v;
      }
    }
    error(e.line, "the method '." + m + "()' is not supported on " + python_repr(obj).substr(0, 40));
  }

  jvalue filter(const jexpr& e) {
    const jvalue in = eval(*e.kids[0]);
    const std::string& f = e.name;
    if (f == "default" || f == "d") {
      const auto args = positional(e, 1);
      arity(e, args, 0, 2);
      const bool use_default = in.undefined || (args.size() == 2 && args[1].is_boolean() && args[1].get<bool>() && !truthy(in));
      return use_default ? jvalue{args.empty() ? json("") : args[0]} : in;
    }
    const json v = defined(in, e.line, "the input of filter '" + f + "'");
    if (f == "tojson") {
      int indent = -1;
      for (const auto& [k, a] : e.kwargs) {
        const json x = defined(eval(*a), e.line, "a tojson argument");
        if (k == "indent" && x.is_number_integer()) indent = static_cast<int>(x.get<std::int64_t>());
        else if (k != "ensure_ascii") error(e.line, "tojson: the argument '" + k + "' is not supported");
      }
      const auto args = positional(e, 1);
      if (!args.empty() && args[0].is_number_integer()) indent = static_cast<int>(args[0].get<std::int64_t>());
      return {json(json_dumps(v, indent))};
    }
    if (f == "length" || f == "count") {
      if (v.is_string()) return {json(static_cast<std::int64_t>(char_list(v).size()))};
      if (v.is_array() || v.is_object())
        return {json(static_cast<std::int64_t>(v.size()) - (v.is_object() && v.contains("__namespace__") ? 1 : 0))};
      error(e.line, "'length' of " + python_repr(v));
    }
    if (f == "string") return {json(to_text({v}))};
    if (f == "safe") return {v};
    if (f == "trim") return {json(strip_chars(to_text({v}), std::nullopt, true, true))};
    if (f == "upper" || f == "lower" || f == "capitalize" || f == "title") {
      const int mode = f == "lower" ? 0 : f == "upper" ? 1 : f == "capitalize" ? 2 : 3;
      return {json(case_mapped(to_text({v}), mode))};
    }
    if (f == "int") {
      if (v.is_number()) return {json(static_cast<std::int64_t>(v.get<double>()))};
      if (v.is_string()) {
        try {
          return {json(std::stoll(v.get<std::string>()))};
        } catch (const std::exception&) {
          return {json(0)};
        }
      }
      return {json(0)};
    }
    if (f == "float") return {json(v.is_number() ? v.get<double>() : 0.0)};
    if (f == "first" || f == "last") {
      if (!(v.is_array() || v.is_string())) error(e.line, "'" + f + "' needs a list or string");
      return v.empty() ? jvalue::undef() : member(v, json(f == "first" ? 0 : -1));
    }
    if (f == "list") {
      if (v.is_array()) return {v};
      json out = json::array();
      if (v.is_string())
        out = char_list(v);
      else if (v.is_object())
        for (auto it = v.begin(); it != v.end(); ++it) out.push_back(it.key());
      else error(e.line, "'list' of " + python_repr(v));
      return {out};
    }
    if (f == "reverse") {
      if (v.is_string()) {
        const json chars = char_list(v);
        return {joined(json(json::array_t(chars.rbegin(), chars.rend())))};
      }
      if (!v.is_array()) error(e.line, "'reverse' needs a list or string");
      return {json(json::array_t(v.rbegin(), v.rend()))};
    }
    if (f == "join") {
      const auto args = positional(e, 1);
      arity(e, args, 0, 1);
      const std::string sep = args.empty() ? "" : string_arg(e, args[0]);
      if (!v.is_array()) error(e.line, "'join' needs a list");
      std::string out;
      for (std::size_t i = 0; i < v.size(); ++i) out += (i ? sep : "") + to_text({v[i]});
      return {sized(json(out), e.line)};
    }
    if (f == "items") {
      if (!v.is_object()) error(e.line, "'items' needs a dict");
      json out = json::array();
      for (auto it = v.begin(); it != v.end(); ++it) out.push_back(json::array({it.key(), *it}));
      return {out};
    }
    error(e.line, "the filter '" + f + "' is not supported");
  }

  bool test(const jexpr& e) {
    const jvalue v = eval(*e.kids[0]);
    const std::string& t = e.name;
    if (t == "defined") return !v.undefined;
    if (t == "undefined") return v.undefined;
    if (v.undefined) return false;
    const json& j = v.j;
    if (t == "none") return j.is_null();
    if (t == "string") return j.is_string();
    if (t == "number") return j.is_number();
    if (t == "integer") return j.is_number_integer();
    if (t == "float") return j.is_number_float();
    if (t == "boolean") return j.is_boolean();
    if (t == "true") return j.is_boolean() && j.get<bool>();
    if (t == "false") return j.is_boolean() && !j.get<bool>();
    if (t == "mapping") return j.is_object();
    if (t == "sequence" || t == "iterable") return j.is_array() || j.is_string() || j.is_object();
    error(e.line, "the test 'is " + t + "' is not supported");
  }

  const std::string& name_;
  std::vector<json> frames_;
  std::int64_t iterations_ = 0;
};

}  // namespace
}  // namespace detail

jinja_template::jinja_template(std::shared_ptr<const detail::jinja_node> root, std::string name)
    : root_(std::move(root)), name_(std::move(name)) {}

jinja_template jinja_template::parse(std::string_view source, std::string name) {
  kvc::detail::require(detail::is_valid_utf8(source), name, ": the template is not valid UTF-8");
  // jinja2's keep_trailing_newline = False: one newline at the end of the source is dropped
  if (source.ends_with("\r\n")) source.remove_suffix(2);
  else if (source.ends_with("\n")) source.remove_suffix(1);
  auto root = detail::tree_builder(detail::split_pieces(source, name), name).build();
  return jinja_template(std::move(root), std::move(name));
}

std::string jinja_template::render(const nlohmann::ordered_json& context) const {
  kvc::detail::require(context.is_object(), name_, ": the render context must be a JSON object");
  std::string out;
  detail::renderer r(name_, context);
  try {
    r.run(root_->bodies.front(), out);
  } catch (const nlohmann::json::exception& e) {  // e.g. tojson of text that is not UTF-8
    kvc::detail::fail(name_, ": ", e.what());
  }
  return out;
}

}  // namespace kvc::qwen3
