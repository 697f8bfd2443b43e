#!/usr/bin/env python3
"""Writes the tokenizer and chat-template golden files under tests/data/tokenizer/.

Uses Hugging Face `tokenizers` (ids, decoding) and `transformers` + `jinja2` (apply_chat_template) on the
Qwen3 tokenizer files in the shared folder (default: ../shared relative to the repository root).
Needs: pip install tokenizers transformers jinja2   (the C++ build and tests never run Python).

Invalid UTF-8: `tokenizers` only accepts Python str, so a byte string with ill-formed UTF-8 cannot be
given to it as is. The defined behaviour (the one kvc::qwen3::tokenizer implements) is to replace each
ill-formed subsequence by U+FFFD exactly as bytes.decode("utf-8", errors="replace") does, then encode.
The goldens store every input as hex (so invalid bytes survive) and the ids HF gives for that
replaced text.

Usage: python3 tools/make_tokenizer_goldens.py [--shared DIR] [--out DIR]
"""
import argparse
import hashlib
import json
import platform
import random
from pathlib import Path

import jinja2
import tokenizers
import transformers
from tokenizers import Tokenizer
from transformers import AutoTokenizer

REPO = Path(__file__).resolve().parent.parent


def corpus():
    """(name, bytes) pairs: varied scripts, whitespace, code, numbers, special tokens, invalid bytes."""
    cases = []

    def add(name, text):
        cases.append((name, text.encode("utf-8") if isinstance(text, str) else text))

    # The research-note vectors.
    add("hello", "Hello world")
    add("space_hello", " Hello world")
    add("dog", "Hello, my dog is cute")
    add("chatml", "<|im_start|>user\nHi<|im_end|>\n")
    add("nihao", "你好，世界")
    add("tabs_newlines", "  12345 tabs\tand\n\nnewlines")
    add("contractions_1", "I'll don't")
    add("think_prompt", "<|im_start|>assistant\n<think>\n\n</think>\n\n")
    # English prose and punctuation.
    english = [
        "The quick brown fox jumps over the lazy dog.",
        "It was the best of times, it was the worst of times, it was the age of wisdom...",
        "Call me Ishmael. Some years ago—never mind how long precisely—having little or no money in my purse",
        "\"Quoted\" 'single' «guillemets» „low“ ‘curly’ — en–dash … ellipsis",
        "ALL CAPS SENTENCE WITH NUMBERS 2024 AND SYMBOLS #@!$%^&*()",
        "mIxEd CaSe wOrDs and camelCaseIdentifiers and snake_case_names",
        "e-mail: someone@example.com, url: https://example.org/path?q=1&r=2#frag",
        "Mr. Smith's dog's bone; they're we've you'd I'm she'll it's",
        "CONTRACTIONS IN CAPS: DON'T WON'T I'LL YOU'RE WE'VE HE'D I'M IT'S",
        "Mixed 'S 'T 'Re 'vE 'Ll 'D endings",
        "a", "A", " ", "  ", "\n", "\r\n", "\t", "", ".", "...", "?!", "a b c d e f g",
        "end with space ", "end with newline\n", "\n\nstarts with newlines",
        "trailing spaces   \nnext line",
        "Über naïve café résumé coöperate façade jalapeño",
        "Ελληνικά: Γειά σου Κόσμε",
        "Русский текст: Привет, мир! Как дела?",
        "עברית: שלום עולם",
        "हिन्दी: नमस्ते दुनिया",
        "ไทย: สวัสดีชาวโลก",
        "Tiếng Việt: Xin chào thế giới",
        "Türkçe: İstanbul ığdır ŞĞÜ",
        "Deutsch: Straße, Maß, Fußgängerübergänge",
        "Polski: Zażółć gęślą jaźń",
    ]
    for i, t in enumerate(english):
        add(f"latin_{i}", t)
    # CJK, Korean, Arabic.
    cjk = [
        "我爱自然语言处理。今天天气很好，我们去公园散步吧！",
        "大型语言模型的键值缓存压缩是一个重要的研究方向。",
        "中文里夹杂English单词和123数字。",
        "繁體中文：這是一個測試句子。",
        "日本語のテキスト：今日はいい天気ですね。カタカナとひらがな。",
        "東京都渋谷区でラーメンを食べました🍜",
        "ｶﾀｶﾅ半角 and ＦＵＬＬＷＩＤＴＨ １２３",
        "한국어 텍스트: 안녕하세요, 세계! 오늘 날씨가 좋네요.",
        "한글 자모 분리: 한 글",
        "العربية: مرحبا بالعالم! كيف حالك اليوم؟",
        "الأرقام العربية: ٠١٢٣٤٥٦٧٨٩",
        "فارسی: سلام دنیا",
        "Mixed: Hello 世界 مرحبا 안녕 こんにちは Привет",
    ]
    for i, t in enumerate(cjk):
        add(f"cjk_{i}", t)
    # Emoji, ZWJ sequences, flags, skin tones, variation selectors, combining marks.
    emoji = [
        "😀😃😄😁", "👍🏽 thumbs up with skin tone", "👨‍👩‍👧‍👦 family ZWJ", "🏳️‍🌈 rainbow flag",
        "🇺🇸🇯🇵🇩🇪 flags", "❤️ heart with VS16", "✈︎ text style", "🧑🏿‍🚀 astronaut",
        "e\u0301 combining acute (NFC composes)", "A\u030A ring", "\u1100\u1161\u11A8 jamo to compose",
        "Å vs A\u030A vs \u212B angstrom", "ﬁ ligature ﬀ", "½ ¼ ¾ ² ³ ⁴ ₁₂", "Ⅻ roman numeral",
        "zero\u200bwidth\u200cjoiner\u200dtest", "\ufeffBOM at start", "nbsp\u00a0between\u2003em\u3000ideographic",
        "line\u2028separator\u2029paragraph", "\u0085next line", "soft\u00adhyphen",
        "𝕳𝖊𝖑𝖑𝖔 math fraktur", "𓀀 egyptian hieroglyph", "🫠🫡🫥 newer emoji",
        "'ſ long s contraction test", "K Kelvin sign",
    ]
    for i, t in enumerate(emoji):
        add(f"emoji_{i}", t)
    # Code, tabs, long whitespace.
    code = [
        "def f(x):\n\treturn x * 2\n",
        "int main() {\n    std::vector<int> v{1, 2, 3};\n    return 0;\n}\n",
        "for (int i = 0; i < n; ++i) {\n\t\tsum += a[i] * b[i];\n\t}",
        "#include <iostream>\n\n\n\nint x;    // comment   \n",
        "    leading four spaces",
        "x" + " " * 100 + "y",
        " " * 257,
        "\t" * 40 + "tabs",
        "\n" * 30,
        " \n \n \n  \t \r\n",
        "a\r\nb\rc\nd",
        "SELECT * FROM users WHERE id = 42 AND name LIKE '%bob%';",
        "{\"key\": [1, 2.5, -3e10, true, null], \"nested\": {\"a\": \"b\"}}",
        "<html><body class=\"x\">&nbsp;&lt;tag&gt;</body></html>",
        "$ ls -la | grep -E '^d' > out.txt 2>&1",
        "=" * 80,
        "-" * 33 + ">" + "*" * 17,
        "path/to/some_file.cpp:123:45: error: expected ';'",
        "λx. x + 1 ∀x∈ℝ: x² ≥ 0 ⇒ √(x²) = |x|",
        "0x7fffffff 0b1010 1_000_000 3.14159 -0.0 1e-9",
    ]
    for i, t in enumerate(code):
        add(f"code_{i}", t)
    # Numbers.
    numbers = ["0", "12", "123", "1234567890", "3.14159265358979", "-42", "+1 (555) 123-4567",
               "2024-01-15T12:34:56Z", "1,000,000.00", "٣٤٥ arabic-indic", "१२३ devanagari", "１２３ fullwidth",
               "Ⅳ and ⑤ and ¹²³", "v1.2.3-rc.4+build.5"]
    for i, t in enumerate(numbers):
        add(f"number_{i}", t)
    # Special and added tokens inside text.
    specials = [
        "<|endoftext|>", "text<|endoftext|>more", "<|im_start|><|im_end|>", "<|im_start|>system\nYou are helpful.<|im_end|>",
        "<think>reasoning</think>answer", "<tool_call>\n{\"name\": \"f\"}\n</tool_call>",
        "<tool_response>ok</tool_response>", "<|fim_prefix|>a<|fim_suffix|>b<|fim_middle|>",
        "<|vision_start|><|image_pad|><|vision_end|>", "<|im_end", "<|im_start|", "< |im_start| >",
        "<|im_start|><|im_start|>", "x<|repo_name|>y<|file_sep|>z", "<thinking> not a token </thinking>",
        "</think></think>", "  <think>  ", "<|box_start|>(1,2)<|box_end|>",
    ]
    for i, t in enumerate(specials):
        add(f"special_{i}", t)
    # Invalid UTF-8 (stored as hex; HF is given the errors="replace" decoding).
    invalid = [
        b"\xff", b"abc\x80def", b"\xc3", b"\xc3(", b"\xe2\x82", b"\xe2\x82(", b"\xf0\x9f\x98", b"\xf0\x9f\x98 x",
        b"\xed\xa0\x80 surrogate", b"\xc0\xaf overlong", b"\xf5\x80\x80\x80 too big", b"\xf4\x90\x80\x80 above max",
        b"\xe0\x80\x80 overlong3", b"ok \xfe\xfe ok", b"\x80\x80\x80", "你好".encode()[:4] + b" cut",
        b"mixed \xe4\xbd valid \xe5\xa5\xbd end", b"\x00nul\x00byte", b"\x01\x02\x1f\x7f controls",
    ]
    for i, t in enumerate(invalid):
        add(f"invalid_{i}", t)

    # Deterministic random mixtures from a pool of characters of many kinds.
    pool = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
    pool += list(" \t\n\r.,;:!?'\"()[]{}<>/\\|-_=+*&^%$#@~`")
    pool += list("你好世界中文字符日本語のテキスト한국어텍스트العربيةПриветмир")
    pool += ["é", "e\u0301", "ß", "ﬁ", "😀", "👍🏽", "👨‍👩‍👧", "\u200d", "\u00a0", "\u3000", "'s", "'ll", "<|im_end|>",
             "<think>", "  ", "\n\n", "🇯🇵", "𝕏", "١", "Ⅻ"]
    rng = random.Random(20260101)
    for i in range(110):
        length = rng.randint(1, 60)
        add(f"random_{i}", "".join(rng.choice(pool) for _ in range(length)))
    # Random raw bytes (mostly invalid UTF-8).
    for i in range(12):
        add(f"random_bytes_{i}", bytes(rng.randrange(256) for _ in range(rng.randint(1, 40))))
    return cases


def conversations():
    """(name, messages, kwargs) for apply_chat_template."""
    weather_tool = {"type": "function", "function": {
        "name": "get_weather", "description": "Get the current weather in a city (°C, 天气).",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string", "description": "City name"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
            "required": ["city"]}}}
    calc_tool = {"type": "function", "function": {
        "name": "calculate", "description": "Evaluate an expression",
        "parameters": {"type": "object", "properties": {"expr": {"type": "string"}, "precision": {"type": "integer"}},
                       "required": ["expr"]}}}
    sys = {"role": "system", "content": "You are a helpful assistant."}
    u1 = {"role": "user", "content": "What is 2+2?"}
    a1_think = {"role": "assistant", "content": "<think>\nSimple arithmetic.\n</think>\n\n2+2 = 4."}
    u2 = {"role": "user", "content": "And 3*3? 请用中文回答。"}
    cases = [
        ("user_only", [u1], {}),
        ("system_user", [sys, u1], {}),
        ("system_user_thinking_true", [sys, u1], {"enable_thinking": True}),
        ("system_user_thinking_false", [sys, u1], {"enable_thinking": False}),
        ("no_generation_prompt", [sys, u1], {"add_generation_prompt": False}),
        ("no_generation_prompt_thinking_false", [sys, u1], {"add_generation_prompt": False, "enable_thinking": False}),
        ("multi_turn_think_in_content", [sys, u1, a1_think, u2], {}),
        ("multi_turn_think_false", [sys, u1, a1_think, u2], {"enable_thinking": False}),
        ("multi_turn_reasoning_field", [u1, {"role": "assistant", "content": "4.", "reasoning_content": "2 plus 2."}, u2], {}),
        ("last_assistant_with_reasoning", [u1, {"role": "assistant", "content": "The answer is 4.",
                                                "reasoning_content": "\nAdd them.\n"}], {"add_generation_prompt": False}),
        ("last_assistant_no_reasoning", [u1, {"role": "assistant", "content": "4"}], {"add_generation_prompt": False}),
        ("last_assistant_think_in_content", [u1, {"role": "assistant", "content": "<think>\n\nhmm\n\n</think>\n\n\nFour."}],
         {"add_generation_prompt": False}),
        ("three_turns", [sys, u1, a1_think, u2, {"role": "assistant", "content": "<think>x</think>9"},
                         {"role": "user", "content": "Thanks!"}], {}),
        ("system_in_middle", [u1, {"role": "assistant", "content": "4"}, {"role": "system", "content": "Be brief."},
                              {"role": "user", "content": "ok"}], {}),
        ("tools_no_system", [{"role": "user", "content": "Weather in Paris?"}], {"tools": [weather_tool]}),
        ("tools_with_system", [sys, {"role": "user", "content": "Weather in 東京?"}], {"tools": [weather_tool, calc_tool]}),
        ("tool_call_and_response", [
            sys, {"role": "user", "content": "Weather in Paris and 2**10?"},
            {"role": "assistant", "content": "", "tool_calls": [
                {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}},
                {"type": "function", "function": {"name": "calculate", "arguments": {"expr": "2**10", "precision": 0}}}]},
            {"role": "tool", "content": "{\"temp\": 18.5}"},
            {"role": "tool", "content": "1024"},
        ], {"tools": [weather_tool, calc_tool]}),
        ("tool_call_with_content_and_reply", [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": "<think>\nNeed the tool.\n</think>\n\nLet me check.", "tool_calls": [
                {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}]},
            {"role": "tool", "content": "sunny, 20°C"},
            {"role": "assistant", "content": "<think>\nGot it.\n</think>\n\nIt is sunny and 20°C."},
            {"role": "user", "content": "Thanks"},
        ], {"tools": [weather_tool], "enable_thinking": False}),
        ("multi_step_tool", [
            {"role": "user", "content": "Plan a trip."},
            {"role": "assistant", "content": "", "reasoning_content": "First weather.", "tool_calls": [
                {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Rome"}}}]},
            {"role": "tool", "content": "rainy"},
            {"role": "assistant", "content": "", "reasoning_content": "Then compute.", "tool_calls": [
                {"type": "function", "function": {"name": "calculate", "arguments": {"expr": "1+1"}}}]},
            {"role": "tool", "content": "2"},
        ], {"tools": [weather_tool, calc_tool]}),
        ("tool_response_as_user", [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "", "reasoning_content": "call", "tool_calls": [
                {"name": "calculate", "arguments": {"expr": "3"}}]},
            {"role": "user", "content": "<tool_response>3</tool_response>"},
        ], {}),
        ("unicode_and_newlines", [{"role": "system", "content": "Système:\n\n  indent\t tab"},
                                  {"role": "user", "content": "😀 emoji\n\nand <|im_end|> inside"}], {"enable_thinking": False}),
        ("empty_user", [{"role": "user", "content": ""}], {}),
    ]
    return cases


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=REPO / ".." / "shared")
    ap.add_argument("--out", type=Path, default=REPO / "tests" / "data" / "tokenizer")
    args = ap.parse_args()
    qwen = args.shared / "data" / "qwen3"
    args.out.mkdir(parents=True, exist_ok=True)
    generator = {
        "script": "tools/make_tokenizer_goldens.py",
        "tokenizers": tokenizers.__version__,
        "transformers": transformers.__version__,
        "jinja2": jinja2.__version__,
        "python": platform.python_version(),
        "tokenizer_json_sha256": hashlib.sha256((qwen / "tokenizer.json").read_bytes()).hexdigest(),
        "tokenizer_config_json_sha256": hashlib.sha256((qwen / "tokenizer_config.json").read_bytes()).hexdigest(),
    }

    tok = Tokenizer.from_file(str(qwen / "tokenizer.json"))
    cases = []
    for name, raw in corpus():
        text = raw.decode("utf-8", errors="replace")
        try:
            raw.decode("utf-8")
            valid = True
        except UnicodeDecodeError:
            valid = False
        ids = tok.encode(text, add_special_tokens=False).ids
        cases.append({"name": name, "hex": raw.hex(), "valid_utf8": valid, "ids": ids})
    rng = random.Random(7)
    decode_cases = []
    for i in range(40):  # random id runs, including partial UTF-8 tokens and special tokens
        ids = [rng.randrange(tok.get_vocab_size(with_added_tokens=True)) for _ in range(rng.randint(1, 12))]
        for skip in (False, True):
            decode_cases.append({"ids": ids, "skip_special": skip,
                                 "hex": tok.decode(ids, skip_special_tokens=skip).encode("utf-8").hex()})
    with open(args.out / "encode_goldens.json", "w", encoding="utf-8") as f:
        json.dump({"generator": generator,
                   "invalid_utf8": "inputs with ill-formed UTF-8 are given to tokenizers as "
                                   "bytes.decode('utf-8', errors='replace')",
                   "cases": cases, "decode_cases": decode_cases}, f, ensure_ascii=False, indent=0)
        f.write("\n")

    hf = AutoTokenizer.from_pretrained(str(qwen))
    chats = []
    for name, messages, kwargs in conversations():
        kwargs = {"add_generation_prompt": True, **kwargs}  # HF's default is False; be explicit
        rendered = hf.apply_chat_template(messages, tokenize=False, **kwargs)
        chats.append({"name": name, "messages": messages, "options": kwargs, "rendered": rendered})
    with open(args.out / "chat_goldens.json", "w", encoding="utf-8") as f:
        json.dump({"generator": generator, "cases": chats}, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"{len(cases)} encode cases, {len(decode_cases)} decode cases, {len(chats)} chat cases -> {args.out}")


if __name__ == "__main__":
    main()
