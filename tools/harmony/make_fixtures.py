#!/usr/bin/env python3
"""Writes the harmony fixtures under tests/data/harmony/ from openai-harmony (the oracle).

Run from anywhere (needs tools/.venv, see tools/setup_oracles.sh):
    tools/.venv/bin/python tools/harmony/make_fixtures.py

It points TIKTOKEN_ENCODINGS_BASE at the repository's committed o200k_base.tiktoken, so it runs
offline. Outputs (all JSON Lines, UTF-8):
  conversations.jsonl   {"name", "conversation"}: inputs, in openai-harmony's JSON shape (or
                         {"name", "conversation_text"}: the exact JSON text the oracle read).
  render_expected.jsonl {"name", "completion", "completion_keep_analysis", "conversation",
                         "training"}: token ids from render_conversation_for_completion(
                         conv, "assistant", auto_drop_analysis=True/False), render_conversation
                         and render_conversation_for_training; or {"name", "error"} when the
                         oracle rejects the conversation.
  completions.jsonl     {"name", "role", "tokens", "steps", "messages"}: StreamableParser fed
                         one token at a time; steps[i] is the parser state after tokens[i]
                         (state, role, channel, recipient, content_type, delta =
                         last_content_delta, content = current_content, messages = count);
                         messages is the parsed list after process_eos (Rust serde JSON).
  malformed.jsonl       {"name", "role", "tokens", "messages"}: malformed completions; messages
                         is what the oracle parses from the well-formed pieces (see cases.py).
"""
import json
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
os.environ["TIKTOKEN_ENCODINGS_BASE"] = str(ROOT / "coordinator" / "tokenizer" / "assets")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import openai_harmony as oh  # noqa: E402

import cases  # noqa: E402

OUT = ROOT / "tests" / "data" / "harmony"


def resolve_placeholders(value):
    """Replaces the "@browser"/"@python" markers with openai-harmony's own namespace configs."""
    if value == cases.BROWSER:
        return oh.ToolNamespaceConfig.browser().model_dump()
    if value == cases.PYTHON:
        return oh.ToolNamespaceConfig.python().model_dump()
    if isinstance(value, dict):
        return {k: resolve_placeholders(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_placeholders(v) for v in value]
    return value


def dumps(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def render_all(enc, conversation_json):
    inner = enc._inner  # the Rust binding takes the conversation JSON text as is
    drop = {"auto_drop_analysis": True}
    keep = {"auto_drop_analysis": False}
    try:
        return {
            "completion": inner.render_conversation_for_completion(conversation_json,
                                                                   "assistant", drop),
            "completion_keep_analysis": inner.render_conversation_for_completion(
                conversation_json, "assistant", keep),
            "conversation": inner.render_conversation(conversation_json, drop),
            "training": inner.render_conversation_for_training(conversation_json, drop),
        }
    except Exception as e:  # the oracle rejects the conversation
        return {"error": str(e)}


def parse_stepwise(enc, role, tokens):
    parser = oh.StreamableParser(enc, None if role is None else oh.Role(role))
    steps = []
    for t in tokens:
        parser.process(t)
        inner = parser._inner
        steps.append({
            "state": parser.state.value,
            "role": inner.current_role,
            "channel": inner.current_channel,
            "recipient": inner.current_recipient,
            "content_type": inner.current_content_type,
            "delta": inner.last_content_delta,
            "content": inner.current_content,
            "messages": len(json.loads(inner.messages)),
        })
    parser.process_eos()
    return steps, json.loads(parser._inner.messages)


def parse_messages(enc, role, tokens):
    parser = oh.StreamableParser(enc, None if role is None else oh.Role(role))
    for t in tokens:
        parser.process(t)
    parser.process_eos()
    return json.loads(parser._inner.messages)


def main():
    enc = oh.load_harmony_encoding(oh.HarmonyEncodingName.HARMONY_GPT_OSS)
    OUT.mkdir(parents=True, exist_ok=True)

    names = set()
    with open(OUT / "conversations.jsonl", "w", encoding="utf-8") as conv_f, \
            open(OUT / "render_expected.jsonl", "w", encoding="utf-8") as exp_f:
        for name, messages in cases.CONVERSATIONS:
            assert name not in names, name
            names.add(name)
            if isinstance(messages, str):  # raw JSON text, kept byte for byte
                conversation_json = messages
                conv_f.write(dumps({"name": name, "conversation_text": messages}) + "\n")
            else:
                conversation = {"messages": resolve_placeholders(messages)}
                conversation_json = dumps(conversation)
                conv_f.write(dumps({"name": name, "conversation": conversation}) + "\n")
            exp_f.write(dumps({"name": name, **render_all(enc, conversation_json)}) + "\n")

    encode = lambda text: enc.encode(text, allowed_special="all")  # noqa: E731
    with open(OUT / "completions.jsonl", "w", encoding="utf-8") as f:
        for name, role, text in cases.COMPLETIONS:
            tokens = encode(text)
            steps, messages = parse_stepwise(enc, role, tokens)
            f.write(dumps({"name": name, "role": role, "tokens": tokens, "steps": steps,
                           "messages": messages}) + "\n")
        for name, role, parts in cases.RAW_COMPLETIONS:
            tokens = []
            for part in parts:
                if isinstance(part, cases.TEXT):
                    tokens += enc.encode(str(part), disallowed_special=())
                elif isinstance(part, str):
                    tokens += encode(part)
                else:
                    tokens += part
            steps, messages = parse_stepwise(enc, role, tokens)
            f.write(dumps({"name": name, "role": role, "tokens": tokens, "steps": steps,
                           "messages": messages}) + "\n")

    with open(OUT / "malformed.jsonl", "w", encoding="utf-8") as f:
        for name, role, pieces in cases.MALFORMED:
            tokens, messages = [], []
            for i, (kind, text) in enumerate(pieces):
                piece = encode(text)
                tokens += piece
                if kind == "keep":
                    messages += parse_messages(enc, role if i == 0 else None, piece)
            f.write(dumps({"name": name, "role": role, "tokens": tokens,
                           "messages": messages}) + "\n")
    print(f"wrote {len(cases.CONVERSATIONS)} conversations, "
          f"{len(cases.COMPLETIONS) + len(cases.RAW_COMPLETIONS)} completions, "
          f"{len(cases.MALFORMED)} malformed completions to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
