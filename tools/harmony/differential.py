#!/usr/bin/env python3
"""Randomized comparison of the C++ harmony renderer/parser with openai-harmony (the oracle).

Generates random conversations (random JSON Schemas, odd numbers and strings, all message
fields) and random completion token streams, runs them through openai-harmony and through
harmony_oracle_driver (tools/harmony/oracle_driver.cc), and counts agreements. Not a CI test:
the committed fixtures (make_fixtures.py) are; this hunts for cases worth adding to them.

    cmake --build build-NAME --target harmony_oracle_driver
    tools/.venv/bin/python tools/harmony/differential.py build-NAME/tools/harmony/harmony_oracle_driver \
        [--cases 1000] [--seed 1]

Parser expectations: where openai-harmony raises, the C++ parser must report an error too; where
it does not, steps and messages must be identical, except for the one intended difference: a
special token inside content (harmony keeps its text as content, the C++ parser reports it).
Exits non-zero on any other difference.
"""
import argparse
import base64
import json
import os
import pathlib
import random
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
ASSETS = ROOT / "coordinator" / "tokenizer" / "assets"
os.environ["TIKTOKEN_ENCODINGS_BASE"] = str(ASSETS)

import openai_harmony as oh  # noqa: E402

START, CHANNEL, CONSTRAIN, MESSAGE = 200006, 200005, 200003, 200008
END_TOKENS = [200007, 200002, 200012]
WORDS = ["a", "b", "type", "object", "string", "x y", "é", "日本", "😊", "", " ", "\n", "\r\n",
         "\t", "<", "|", '"q"', "\\", "\u0001", "null", "default", "oneOf", "to=", "<|end|>",
         "\u00a0"]
TYPES = ["object", "string", "number", "integer", "boolean", "array", "null", "weird"]
SCHEMA_KEYS = ["type", "description", "properties", "required", "enum", "default", "oneOf",
               "items", "nullable", "title", "examples"]


class Generator:
    def __init__(self, seed, enc):
        self.rng = random.Random(seed)
        self.enc = enc
        self.byte_token = {}
        with open(ASSETS / "o200k_base.tiktoken", "rb") as f:
            for line in f:
                b64, rank = line.split()
                raw = base64.b64decode(b64)
                if len(raw) == 1:
                    self.byte_token[raw[0]] = int(rank)

    def text(self):
        return "".join(self.rng.choice(WORDS) for _ in range(self.rng.randint(0, 4)))

    def value(self, depth):
        r = self.rng
        k = r.randint(0, 9)
        if k == 0:
            return None
        if k == 1:
            return r.choice([True, False])
        if k == 2:
            return r.randint(-10**20, 10**20) if r.random() < .2 else r.randint(-100, 100)
        if k == 3:
            return r.choice([0.5, 1e-7, 1e22, -0.0, 3.0, 1 / 3, 2.5e-5, 12345.678, 1e16, 1e15])
        if k == 6 and depth < 3:
            return [self.value(depth + 1) for _ in range(r.randint(0, 3))]
        if k == 7 and depth < 3:
            return {self.text() or "k": self.value(depth + 1) for _ in range(r.randint(0, 3))}
        return self.text()

    def schema(self, depth):
        r = self.rng
        if r.random() < 0.05:
            return self.value(depth + 2)
        s = {}
        keys = SCHEMA_KEYS[:]
        r.shuffle(keys)
        for key in keys[:r.randint(0, 6)]:
            if key == "type":
                s[key] = (r.choice(TYPES) if r.random() < .85
                          else [r.choice(TYPES + [3]) for _ in range(r.randint(0, 3))])
            elif key == "properties" and depth < 4:
                s[key] = ({(self.text() or "p") + str(i): self.schema(depth + 1)
                           for i in range(r.randint(0, 4))} if r.random() < .9
                          else self.value(depth))
            elif key == "oneOf" and depth < 4:
                s[key] = ([self.schema(depth + 1) for _ in range(r.randint(0, 3))]
                          if r.random() < .9 else self.value(depth))
            elif key == "items" and depth < 4:
                s[key] = self.schema(depth + 1)
            elif key == "required":
                s[key] = [r.choice([self.text() or "p0", "p1", 5]) for _ in range(r.randint(0, 3))]
            elif key in ("enum", "examples"):
                s[key] = [self.value(depth) for _ in range(r.randint(0, 3))]
            elif key == "nullable":
                s[key] = r.choice([True, False, 1, None])
            else:
                s[key] = self.value(depth)
        if r.random() < 0.5:
            s["type"] = "object"
            s.setdefault("properties", {"p0": self.schema(depth + 1), "p1": self.schema(depth + 1)})
        return s

    def conversation(self):
        r = self.rng
        msgs = []
        if r.random() < .7:
            c = {"type": "system_content"}
            for k in ("model_identity", "knowledge_cutoff", "conversation_start_date"):
                if r.random() < .6:
                    c[k] = self.text()
            if r.random() < .7:
                c["reasoning_effort"] = r.choice(["Low", "Medium", "High"])
            if r.random() < .6:
                c["channel_config"] = {"valid_channels": [self.text() for _ in range(r.randint(0, 3))],
                                       "channel_required": r.random() < .5}
            msgs.append({"role": "system", "content": [c]})
        if r.random() < .8:
            c = {"type": "developer_content"}
            if r.random() < .5:
                c["instructions"] = self.text()
            tools = {}
            for _ in range(r.randint(0, 3)):
                key = r.choice(["functions", "zz", "a", self.text() or "k"])
                tools[key] = {
                    "name": r.choice([key, self.text()]),
                    "description": self.text() if r.random() < .5 else None,
                    "tools": [{"name": self.text() or "f", "description": self.text(),
                               "parameters": self.schema(0) if r.random() < .8 else None}
                              for _ in range(r.randint(0, 3))]}
            c["tools"] = tools
            msgs.append({"role": "developer", "content": [c]})
        for _ in range(r.randint(0, 6)):
            role = r.choice(["user", "assistant", "assistant", "tool"])
            m = {"role": role, "content": self.text()}
            if role == "tool":
                m["name"] = r.choice(["functions.f", "browser.search", "python"])
            if r.random() < .6:
                m["channel"] = r.choice(["analysis", "final", "commentary", self.text()])
            if r.random() < .3:
                m["recipient"] = r.choice(["functions.f", "all", "assistant", self.text()])
            if r.random() < .2:
                m["content_type"] = r.choice(["json", "<|constrain|>json", "<|constrain|>",
                                              self.text()])
            if r.random() < .1:
                m["name"] = self.text()
            msgs.append(m)
        return {"messages": msgs}

    def ordinary(self, text):
        return self.enc.encode(text, disallowed_special=())

    def completion(self):
        r = self.rng
        toks = []
        for _ in range(r.randint(1, 4)):
            toks.append(START)
            toks += self.ordinary(r.choice(["assistant", "user", "functions.f", "tool", "system"]))
            if r.random() < .4:
                toks += self.ordinary(r.choice([" to=functions.f", " to=browser.search",
                                                " to=assistant"]))
            if r.random() < .8:
                toks.append(CHANNEL)
                toks += self.ordinary(r.choice(["analysis", "final", "commentary"]))
            if r.random() < .3:
                if r.random() < .5:
                    toks += self.ordinary(" ") + [CONSTRAIN] + self.ordinary("json")
                else:
                    toks += self.ordinary(r.choice([" json", " code"]))
            toks.append(MESSAGE)
            for _ in range(r.randint(0, 12)):
                x = r.random()
                if x < .2:
                    toks.append(self.byte_token[r.randint(0x80, 0xff)])  # broken UTF-8
                elif x < .3:
                    toks.append(9552)  # " \xf0\x9f": an unfinished 4-byte character
                else:
                    toks += self.ordinary(self.text())
            if r.random() < .9:
                toks.append(r.choice(END_TOKENS))
        role = None
        if toks[:2] == [START] + self.ordinary("assistant") and r.random() < .5:
            toks, role = toks[2:], "assistant"  # the prompt already ended in <|start|>assistant
        return toks, role


def oracle_steps(enc, tokens, role):
    parser = oh.StreamableParser(enc, None if role is None else oh.Role(role))
    steps = []
    try:
        for t in tokens:
            parser.process(t)
            inner = parser._inner
            steps.append({"state": parser.state.value, "role": inner.current_role,
                          "channel": inner.current_channel, "recipient": inner.current_recipient,
                          "content_type": inner.current_content_type,
                          "delta": inner.last_content_delta, "content": inner.current_content,
                          "messages": len(json.loads(inner.messages))})
        parser.process_eos()
    except Exception as e:  # noqa: BLE001 - harmony raises HarmonyError/RuntimeError
        return steps, None, str(e)
    return steps, json.loads(parser._inner.messages), None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("driver")
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    enc = oh.load_harmony_encoding(oh.HarmonyEncodingName.HARMONY_GPT_OSS)
    gen = Generator(args.seed, enc)
    cases = []
    for _ in range(args.cases):
        cases.append(("render", gen.conversation()))
        cases.append(("parse", gen.completion()))
    requests = "".join(
        json.dumps({"render": c} if kind == "render" else {"parse": c[0], "role": c[1]}) + "\n"
        for kind, c in cases)
    answers = subprocess.run([args.driver, str(ASSETS / "o200k_base.tiktoken")],
                             input=requests.encode(), capture_output=True,
                             check=True).stdout.decode().splitlines()
    stats = dict.fromkeys(["render_same", "render_both_rejected", "render_different",
                           "parse_same", "parse_both_errors", "parse_special_in_content",
                           "parse_different"], 0)
    for (kind, case), line in zip(cases, answers):
        got = json.loads(line)
        if kind == "render":
            try:
                want = enc._inner.render_conversation_for_completion(
                    json.dumps(case), "assistant", {"auto_drop_analysis": True})
            except Exception:  # noqa: BLE001
                want = None
            if want is None and "error" in got:
                stats["render_both_rejected"] += 1
            elif want is not None and got.get("ids") == want:
                stats["render_same"] += 1
            else:
                stats["render_different"] += 1
                print("RENDER DIFFERS:", json.dumps(case)[:1500], "\n  ours:", got.get("error"))
            continue
        tokens, role = case
        want_steps, want_messages, oracle_error = oracle_steps(enc, tokens, role)
        ours_error = got["eos_error"] or any(s["error"] for s in got["steps"])
        if oracle_error and ours_error:
            stats["parse_both_errors"] += 1
        elif ours_error and want_messages is not None and any(
                isinstance(m["content"], str) and "<|" in m["content"] for m in want_messages):
            stats["parse_special_in_content"] += 1  # the intended difference
        elif not oracle_error and not ours_error and want_messages == got["messages"] and \
                want_steps == [{k: v for k, v in s.items() if k != "error"} for s in got["steps"]]:
            stats["parse_same"] += 1
        else:
            stats["parse_different"] += 1
            print("PARSE DIFFERS:", tokens, role, "\n  oracle error:", oracle_error,
                  "\n  ours error:", ours_error)
    print(json.dumps(stats))
    return 1 if stats["render_different"] or stats["parse_different"] else 0


if __name__ == "__main__":
    sys.exit(main())
