#!/usr/bin/env python3
"""Writes tests/data/tokenizer/jinja_goldens.json: chat templates and the text Python's jinja2
renders for each context, set up as transformers' apply_chat_template sets it up
(ImmutableSandboxedEnvironment, trim_blocks and lstrip_blocks, json.dumps as tojson,
raise_exception). kvc's Jinja interpreter (examples/qwen3/app/text/jinja.cpp) is checked against it.

Templates: SmolLM2-Instruct's (from the GGUF of tools/fetch_smollm2.py, Apache-2.0), a ChatML
template with tools in the style of Qwen2.5, a Llama-3 style template, and one written to exercise
the language (filters, tests, slices, loops, whitespace control).
Needs: pip install jinja2 gguf   (the C++ build and tests never run Python).

Usage: python3 tools/make_jinja_goldens.py [--gguf models/SmolLM2-135M-Instruct.Q4_1.gguf]
"""
import argparse
import json
import platform
from pathlib import Path

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

REPO = Path(__file__).resolve().parent.parent

CHATML_TOOLS = """{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are a helpful assistant.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- else %}
        {{- '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""

LLAMA3 = """{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"""

FEATURES = """{# every construct kvc's interpreter supports #}
{% set ns = namespace(count=0, seen=[]) %}
{% for m in messages if m.role != 'system' %}
  {% set ns.count = ns.count + 1 %}
  {{ loop.index }}/{{ loop.length }} {{ m.role | upper }}{{ ':' if loop.first else ';' }} {{ m.content[:12] | trim }}
  {%- if loop.last %} (last, revindex0={{ loop.revindex0 }}){% endif %}
{% else %}
  no messages
{% endfor %}
count={{ ns.count }} reversed={{ (messages[::-1] | first).role if messages else '-' }}
"""


def features_template():
    return FEATURES + """\
{%- set words = "  a,b,,c  ".strip().split(",") %}
words={{ words | join("|") }} n={{ words | length }} first={{ words | first }} last={{ words | last }}
{{ "x" ~ 1 ~ none ~ true }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 * 3 + 1 - 4 }}
{{ 'abc' in 'xabcx' }} {{ 'q' not in ['a', 'b'] }} {{ 'k' in {'k': 1} }} {{ 3 > 2 and 2 >= 2 and 1 < 2 and 1 <= 1 }}
{{ x is defined }} {{ x is undefined }} {{ none is none }} {{ 'a' is string }} {{ 1 is number }} {{ {} is mapping }}
{{ [1] is sequence }} {{ true is true }} {{ false is false }} {{ 1.5 is float }} {{ 2 is integer }} {{ 1 is not string }}
{{ missing | default('dflt') }} {{ '' | default('empty', true) }} {{ [3, 1, 2] | reverse | list }} {{ 'abc' | reverse }}
{{ {'b': 1, 'a': [1, 2.5, 'z', none, true]} | tojson }} {{ {'k': {'n': [1, 2]}} | tojson(indent=2) }}
{{ {'b': 1, 'a': 2} | items | list | length }} {%- for k, v in {'p': 1, 'q': 2}.items() %} {{ k }}={{ v }}{% endfor %}
{{ 'Hello World'.lower() }} {{ 'hello world'.title() }} {{ 'hello'.capitalize() }} {{ 'a-b-c'.replace('-', '+') }}
{{ '\\n\\nxy\\n'.lstrip('\\n') }}|{{ 'xxhixx'.strip('x') }}|{{ '  pad  '.rstrip() }}|{{ 'a b  c'.split() }}|{{ 'a:b:c'.split(':', 1) }}
{{ 'abc'.startswith('ab') }} {{ 'abc'.endswith('bc') }} {{ range(3) | list }} {{ range(1, 7, 2) | list }}
{{ [1, 2] + [3] }} {{ 'caf\\u00e9' | length }} {{ {'a': 1}.get('a') }} {{ {'a': 1}.get('z', 'none') }} {{ 3.0 }} {{ 1.5 if false else 2 }}
{%- if messages | length > 2 %}
long
{%- elif messages | length > 1 %}
two
{%- else %}
short
{%- endif %}
    {% if true %}lstrip_blocks removed the indent{% endif %}
    {%+ if true %}but not with a plus{% endif %}
  {{- ' minus trims left' -}}
   .
"""


def environment():
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


def conversations():
    tool = {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                              "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}
    call = {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
    return [
        ("user", {"messages": [{"role": "user", "content": "What is the capital of France?"}], "add_generation_prompt": True}),
        ("system_user", {"messages": [{"role": "system", "content": "Be brief."},
                                      {"role": "user", "content": "Hi"}], "add_generation_prompt": True}),
        ("multi_turn", {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"},
                                     {"role": "user", "content": "  Tell me a joke.  \n"}], "add_generation_prompt": False}),
        ("unicode", {"messages": [{"role": "user", "content": "Grüße, 世界 🌍 — \"quotes\" and 'apostrophes'\n\tand tabs"}],
                     "add_generation_prompt": True}),
        ("empty", {"messages": [], "add_generation_prompt": True}),
        ("tools", {"messages": [{"role": "user", "content": "Weather in Paris?"},
                                {"role": "assistant", "content": "", "tool_calls": [call]},
                                {"role": "tool", "content": "{\"temp\": 21}"},
                                {"role": "tool", "content": "{\"sky\": \"clear\"}"},
                                {"role": "assistant", "content": "It is 21 °C and clear."}],
                   "tools": [tool], "add_generation_prompt": True}),
    ]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--gguf", type=Path, default=REPO / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf")
    parser.add_argument("--out", type=Path, default=REPO / "tests" / "data" / "tokenizer" / "jinja_goldens.json")
    args = parser.parse_args()
    from gguf import GGUFReader
    field = GGUFReader(args.gguf).fields["tokenizer.chat_template"]
    smollm2 = bytes(field.parts[field.data[0]]).decode("utf-8")

    templates = {"smollm2": smollm2, "chatml_tools": CHATML_TOOLS, "llama3": LLAMA3, "features": features_template()}
    env = environment()
    out = {"generator": {"script": "tools/make_jinja_goldens.py", "jinja2": jinja2.__version__,
                         "python": platform.python_version()}, "templates": []}
    for name, source in templates.items():
        compiled = env.from_string(source)
        cases = []
        for case_name, context in conversations():
            if name == "chatml_tools" and case_name == "empty":
                continue  # the template reads messages[0]
            ctx = dict(context, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>")
            if "tools" not in ctx:
                ctx["tools"] = None
            cases.append({"name": case_name, "context": ctx, "rendered": compiled.render(**ctx)})
        out["templates"].append({"name": name, "source": source, "cases": cases})
    args.out.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{args.out}: {sum(len(t['cases']) for t in out['templates'])} cases")


if __name__ == "__main__":
    main()
