#!/usr/bin/env python3
"""Evaluates the committed toy checkpoint on held-out questions, through Hugging Face transformers
(MXFP4 dequantized, fp32, eager: the golden-fixture oracle) and through our C++ engine
(`gptoss generate`, greedy), and checks that both give identical greedy tokens.

    tools/.venv/bin/python tools/toy/eval_toy.py --gptoss build/tools/cli/gptoss \
        [--model tools/toy/gptoss-toy] [--threads 1] [--cpp all|N|none] [--speed]

Every figure comes from running the model: the expected answers are computed from the question
(a + b, the capital table, the city in the prompt, the tool's number), never stored.
Questions are held out by construction (toy_data.splits(): arithmetic pairs and fake city names
that the training generator never draws). Results -> tools/toy/eval_results.json.
"""
import argparse
import json
import os
import random
import re
import subprocess
import sys
import time

THREADS = "1"
for i, a in enumerate(sys.argv):  # before torch is imported
    if a == "--threads" and i + 1 < len(sys.argv):
        THREADS = sys.argv[i + 1]
os.environ.setdefault("OMP_NUM_THREADS", THREADS)

import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import toy_data as D  # noqa: E402
from openai_harmony import Role  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
STOP = [200002, 200012, 199999]  # <|return|>, <|call|>, <|endoftext|>
MAX_NEW = 256


def hf_model(path):
    from transformers import GptOssForCausalLM, Mxfp4Config

    model = GptOssForCausalLM.from_pretrained(
        path, dtype=torch.float32, attn_implementation="eager", experts_implementation="eager",
        quantization_config=Mxfp4Config(dequantize=True))
    return model.eval()


@torch.no_grad()
def hf_generate(model, prompt, max_new=MAX_NEW):
    x = torch.tensor([prompt])
    out = model.generate(x, attention_mask=torch.ones_like(x), max_new_tokens=max_new,
                         do_sample=False, eos_token_id=STOP, pad_token_id=199999)
    return out[0, len(prompt):].tolist()


def cpp_generate(gptoss, model_dir, prompt, max_new=MAX_NEW, env=None):
    out = subprocess.run([gptoss, "generate", "--model", model_dir, "--ids",
                          " ".join(map(str, prompt)), "--max-tokens", str(max_new)],
                         check=True, capture_output=True, text=True, env=env)
    return [int(t) for t in out.stdout.split()]


def parse(tokens):
    """Harmony messages of a completion (openai-harmony's parser), or None if malformed."""
    try:
        return D.ENC.parse_messages_from_completion_tokens(tokens, Role.ASSISTANT)
    except Exception:
        return None


def text_of(m):
    return "".join(c.text for c in m.content)


def channel_text(msgs, channel):
    return [text_of(m) for m in msgs or [] if m.channel == channel]


def ints(text):
    return [int(x) for x in re.findall(r"-?\d+", text)]


# ------------------------------------------------------------------------------------------
# Questions (held out by construction) and their checks
# ------------------------------------------------------------------------------------------

def harmony_messages(chat):
    """A chat spec (what the served test sends through the API) as openai-harmony messages."""
    msgs = D.header(chat["effort"], chat["date"], D.tool_description() if chat["tool"] else None)
    for t in chat["turns"]:
        if t["role"] == "user":
            msgs.append(D.user(t["content"]))
        elif t["role"] == "assistant":
            msgs.append(D.assistant_call(t["content"]))
        else:
            msgs.append(D.tool_result(t["content"], to_assistant=t.get("to_assistant", False)))
    return msgs


def build_cases(args):
    """Every case has a plain chat spec ("chat": effort, date, tool declared or not, turns), so
    that --write-heldout can hand the same questions to the served test
    (tests/e2e/e2e_toy_test.cc), and the harmony prompt openai-harmony renders from it."""
    rng = random.Random(2024)
    held = D.splits()
    cases = []

    def add(kind, effort, date, tool, turns, **truth):
        chat = {"effort": effort, "date": date, "tool": tool, "turns": turns}
        cases.append({"kind": kind, "chat": chat, "effort": effort,
                      "prompt": D.render_prompt(harmony_messages(chat)), **truth})

    def ask(text):
        return [{"role": "user", "content": text}]

    date = lambda: D.random_date(rng)  # noqa: E731  (any date: the coordinator sends today's)
    arith = rng.sample(held["arith"], args.n_arith)
    for op, a, b in arith:
        add("arith", "medium", date(), False, ask(f"What is {a} {op} {b}?"), op=op, a=a, b=b)
    for country, capital in D.CAPITALS.items():
        add("capital", "medium", date(), False, ask(f"What is the capital of {country}?"),
            country=country, capital=capital)
    cities = rng.sample(held["cities"], args.n_cities)
    # Names never asked about in training: fake names (new combinations of learned pieces),
    # made-up names whose first spelling never starts a training name, real cities (the
    # copyable ones of toy_data.REAL_HELDOUT), and capitals (trained as answers, never as cities).
    capitals = [c for c in D.CAPITALS.values() if D.copyable(c) and c not in D.REAL_CITIES]
    name_sets = {"fake": cities, "made_up": rng.sample(held["pool_cities"], args.n_cities),
                 "real": held["real_cities"], "capital": capitals}
    for name_set, names in name_sets.items():
        for city in names:
            add("weather_call", "medium", date(), True, ask(f"What's the weather in {city}?"),
                city=city, name_set=name_set)
    for i, city in enumerate(cities):
        temp = rng.randint(-30, 45)
        # The round trip as a client sends it back: the call from the history, then the tool
        # message, without a recipient (as our coordinator renders it) or, alternating, with the
        # harmony-canonical `to=assistant` (only the eval asks that one: the API has no field).
        turns = ask(f"What's the weather in {city}?") + [
            {"role": "assistant", "content": json.dumps({"city": city})},
            {"role": "tool", "content": json.dumps({"temperature_c": temp}),
             "to_assistant": i % 2 == 0}]
        add("weather_result", "medium", date(), True, turns, city=city, temp=temp)
    # Reasoning effort: the same questions at low and at high effort.
    for j in range(args.n_effort):
        op, a, b = arith[j]
        country = list(D.CAPITALS)[j % len(D.CAPITALS)]
        for effort in ("low", "high"):
            add("effort", effort, date(), False, ask(f"What is {a} {op} {b}?"), q=f"arith {j}")
            add("effort", effort, date(), False, ask(f"What is the capital of {country}?"),
                q=f"capital {j}")
            add("effort", effort, date(), True, ask(f"What's the weather in {cities[j]}?"),
                q=f"weather {j}")
    # Arbitrary text (the README demo pipes whatever a user types): must stay well-formed harmony.
    for text in ["Hello", "Hi, how are you today?", "Tell me a story about a dragon.",
                 "Wie spät ist es?", "asdf qwerty", "Explain monads in Haskell",
                 "What is the capital of Atlantis?", "¿Dónde está la biblioteca?"]:
        add("free", "medium", date(), False, ask(text), text=text)
    return cases


def write_heldout(cases, path):
    """The questions as the served test replays them (no answers: the test computes them)."""
    keep = ("kind", "chat", "op", "a", "b", "country", "capital", "city", "temp", "name_set",
            "effort", "q")
    out = [{k: c[k] for k in keep if k in c} for c in cases
           if not any(t.get("to_assistant") for t in c["chat"]["turns"])]
    with open(path, "w") as f:
        json.dump({"generated_by": "tools/toy/eval_toy.py --write-heldout", "cases": out}, f,
                  indent=None, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {path}: {len(out)} questions")


def score(case, tokens):
    msgs = parse(tokens)
    kind = case["kind"]
    finals = channel_text(msgs, "final")
    final = finals[-1] if finals else ""
    ok_end = bool(tokens) and tokens[-1] in STOP
    r = {"well_formed": msgs is not None and ok_end}
    if kind == "arith":
        truth = case["a"] + case["b"] if case["op"] == "+" else case["a"] - case["b"]
        r["exact"] = final == f"{case['a']} {case['op']} {case['b']} = {truth}."
        r["number"] = bool(ints(final)) and ints(final)[-1] == truth
    elif kind == "capital":
        cap = D.CAPITALS[case["country"]]
        r["exact"] = final == f"The capital of {case['country']} is {cap}."
        r["contains"] = cap in final
    elif kind == "weather_call":
        call = [m for m in msgs or [] if m.recipient]
        r["call"] = bool(call) and tokens[-1] == 200012
        r["header"], r["valid_json"], r["right_city"] = False, False, False
        if call:
            m = call[-1]
            r["header"] = (m.recipient == "functions.get_weather" and m.channel == "commentary"
                           and m.content_type == "<|constrain|>json")
            try:
                args = json.loads(text_of(m))
                r["valid_json"] = True
                r["right_city"] = args == {"city": case["city"]}
            except ValueError:
                pass
    elif kind == "weather_result":
        r["states_temp"] = case["temp"] in ints(final)
        r["names_city"] = case["city"] in final
    elif kind == "effort":
        analysis = [m for m in msgs or [] if m.channel == "analysis"]
        r["analysis_tokens"] = len(D.tokens(text_of(analysis[0]))) if analysis else 0
    elif kind == "free":
        r["analysis_then_final"] = bool(msgs) and [m.channel for m in msgs] == ["analysis", "final"]
        r["final"] = final
    return r


def summarize(cases):
    out = {}
    for kind in ["arith", "capital", "weather_call", "weather_result", "free"]:
        rs = [c["hf_score"] for c in cases if c["kind"] == kind]
        if not rs:
            continue
        keys = [k for k in rs[0] if isinstance(rs[0][k], bool)]
        out[kind] = {"n": len(rs), **{k: round(sum(r[k] for r in rs) / len(rs), 4) for k in keys}}
    for name_set in sorted({c.get("name_set") for c in cases} - {None}):
        rs = [c["hf_score"] for c in cases if c.get("name_set") == name_set]
        out["weather_call"]["right_city_" + name_set] = {
            "n": len(rs), "right": round(sum(r["right_city"] for r in rs) / len(rs), 4)}
    eff = [c for c in cases if c["kind"] == "effort"]
    if eff:
        by_q = {}
        for c in eff:
            by_q.setdefault(c["q"], {})[c["effort"]] = c["hf_score"]["analysis_tokens"]
        low = [v["low"] for v in by_q.values()]
        high = [v["high"] for v in by_q.values()]
        out["effort"] = {"n_questions": len(by_q),
                         "mean_analysis_tokens_low": round(sum(low) / len(low), 1),
                         "mean_analysis_tokens_high": round(sum(high) / len(high), 1),
                         "low_shorter_than_high": round(
                             sum(v["low"] < v["high"] for v in by_q.values()) / len(by_q), 4)}
    return out


def trained_vocab(model):
    """Token ids whose lm_head row differs from the shared row of untrained tokens."""
    w = model.lm_head.weight
    shared = w[-1]  # the last id is a reserved special token no data uses
    differs = (w != shared).any(dim=1)
    return set(torch.nonzero(differs).flatten().tolist())


# ------------------------------------------------------------------------------------------
# Speed: decode tokens/s, same checkpoint, same prompt, same greedy tokens
# ------------------------------------------------------------------------------------------

def speed(model, gptoss, model_dir, prompt, threads_list):
    rows = []
    for th in threads_list:
        torch.set_num_threads(th)
        hf_generate(model, prompt, 4)  # warm-up
        t = time.perf_counter()
        hf_generate(model, prompt, 1)
        t1 = time.perf_counter() - t
        t = time.perf_counter()
        toks = hf_generate(model, prompt)
        tn = time.perf_counter() - t
        row = {"threads": th, "new_tokens": len(toks),
               "hf_decode_tok_s": round((len(toks) - 1) / (tn - t1), 1),
               "hf_total_s": round(tn, 3)}
        if gptoss:
            env = dict(os.environ, OMP_NUM_THREADS=str(th), OPENBLAS_NUM_THREADS=str(th),
                       GPTOSS_NUM_THREADS=str(th))
            cpp_generate(gptoss, model_dir, prompt, 4, env)  # warm the page cache
            t = time.perf_counter()
            cpp_generate(gptoss, model_dir, prompt, 1, env)
            c1 = time.perf_counter() - t
            t = time.perf_counter()
            ctoks = cpp_generate(gptoss, model_dir, prompt, MAX_NEW, env)
            cn = time.perf_counter() - t
            row.update({"cpp_decode_tok_s": round((len(ctoks) - 1) / (cn - c1), 1),
                        "cpp_total_s_incl_load": round(cn, 3), "same_tokens": ctoks == toks})
        rows.append(row)
        print("speed", row, flush=True)
    torch.set_num_threads(int(THREADS))
    return rows


def check_render_chat(gptoss, cases):
    """`gptoss render-chat` (our C++ renderer) must give openai-harmony's prompt ids."""
    convs = [
        D.header("medium", "2031-02-03") + [D.user("What is 12 + 34?")],
        D.header("low", "1999-12-31", D.tool_description()) + [D.user("What's the weather in Oslo?")],
        D.header("high", "2025-06-28", D.tool_description()) + [
            D.user("What's the weather in San Borovia?"),
            D.assistant_call(json.dumps({"city": "San Borovia"})),
            D.tool_result(json.dumps({"temperature_c": -4}), to_assistant=False)],
        D.header("medium", "2025-06-28") + [D.user("Hello"), D.assistant_final(D.GREETING_FINAL),
                                            D.user("What is the capital of Peru?")],
    ]
    results = []
    for msgs in convs:
        conv = D.Conversation.from_messages(msgs)
        want = D.ENC.render_conversation_for_completion(conv, Role.ASSISTANT)
        got = subprocess.run([gptoss, "render-chat"], input=conv.to_json(), capture_output=True,
                             text=True)
        ids = [int(t) for t in got.stdout.split()] if got.returncode == 0 else None
        results.append(ids == want)
        if ids != want:
            print("render-chat differs:", got.stderr.strip()[:300], flush=True)
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(HERE, "gptoss-toy"))
    ap.add_argument("--gptoss", default=None, help="the built gptoss CLI (C++ engine)")
    ap.add_argument("--cpp", default="all", help="all | none | N (first N cases of each kind)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--n-arith", type=int, default=200)
    ap.add_argument("--n-cities", type=int, default=60)
    ap.add_argument("--n-effort", type=int, default=10)
    ap.add_argument("--speed", action="store_true", help="also measure decode tokens/s")
    ap.add_argument("--out", default=os.path.join(HERE, "eval_results.json"))
    ap.add_argument("--hf-cache", default=os.path.join(HERE, "scratch", "hf_outputs.json"),
                    help="HF generations are saved here; --reuse-hf reads them back")
    ap.add_argument("--reuse-hf", action="store_true")
    ap.add_argument("--write-heldout", default=None,
                    help="write the questions for tests/e2e/e2e_toy_test.cc here and exit")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.write_heldout:
        write_heldout(build_cases(args), args.write_heldout)
        return
    if args.gptoss:
        # Run a private copy: the build tree's binary may be relinked while the eval runs.
        import shutil
        import tempfile
        copy = os.path.join(tempfile.mkdtemp(prefix="toy_eval_"), "gptoss")
        shutil.copy2(args.gptoss, copy)
        args.gptoss = copy

    model = hf_model(args.model)
    known = trained_vocab(model)
    cases = build_cases(args)
    t0 = time.time()
    cached = {}
    if args.reuse_hf:
        with open(args.hf_cache) as f:
            cached = {tuple(e["prompt"]): e["hf"] for e in json.load(f)}
    for i, c in enumerate(cases):
        c["hf"] = cached.get(tuple(c["prompt"])) or hf_generate(model, c["prompt"])
        c["hf_score"] = score(c, c["hf"])
        c["hf_untrained_tokens"] = [t for t in c["hf"] if t not in known]
        if i % 25 == 0:
            print(f"hf {i}/{len(cases)} {time.time() - t0:.0f}s {c['kind']}: "
                  f"{D.ENC.decode(c['hf'])!r}", flush=True)
    hf_seconds = time.time() - t0
    os.makedirs(os.path.dirname(args.hf_cache), exist_ok=True)
    with open(args.hf_cache, "w") as f:
        json.dump([{"prompt": c["prompt"], "hf": c["hf"]} for c in cases], f)
    summary = {"hf": summarize(cases), "hf_seconds": round(hf_seconds, 1),
               "hf_generated_tokens": sum(len(c["hf"]) for c in cases),
               "untrained_tokens_emitted": sum(len(c["hf_untrained_tokens"]) for c in cases),
               "trained_vocab_rows": len(known)}
    print(json.dumps(summary, indent=1), flush=True)

    if args.gptoss and args.cpp != "none":
        limit = None if args.cpp == "all" else int(args.cpp)
        seen, same, t0 = {}, [], time.time()
        for c in cases:
            seen[c["kind"]] = seen.get(c["kind"], 0) + 1
            if limit is not None and seen[c["kind"]] > limit:
                continue
            c["cpp"] = cpp_generate(args.gptoss, args.model, c["prompt"])
            same.append(c["cpp"] == c["hf"])
            if c["cpp"] != c["hf"]:
                print("C++ != HF:", c["kind"], D.ENC.decode(c["hf"]), "|", D.ENC.decode(c["cpp"]),
                      flush=True)
        summary["cpp_vs_hf"] = {"cases": len(same), "identical_greedy": sum(same),
                                "seconds": round(time.time() - t0, 1)}
        summary["render_chat_matches_harmony"] = check_render_chat(args.gptoss, cases)
        print(json.dumps(summary["cpp_vs_hf"]), summary["render_chat_matches_harmony"], flush=True)
    if args.speed:
        # The longest answer of the effort set: a high-effort question.
        prompt = max((c for c in cases if c["kind"] == "effort"), key=lambda c: len(c["hf"]))
        summary["speed"] = speed(model, args.gptoss, args.model, prompt["prompt"], [1, 2])
    examples = {}
    for c in cases:
        examples.setdefault(c["kind"], [])
        if len(examples[c["kind"]]) < 3:
            examples[c["kind"]].append(D.ENC.decode(c["hf"]))
    summary["examples"] = examples
    summary["failures"] = [
        {"kind": c["kind"], "completion": D.ENC.decode(c["hf"]),
         **{k: v for k, v in c.items()
           if k in ("op", "a", "b", "country", "city", "temp", "name_set")}}
        for c in cases if c["kind"] != "effort" and c["kind"] != "free"
        and not all(v for k, v in c["hf_score"].items() if isinstance(v, bool))][:80]
    with open(args.out, "w") as f:
        json.dump(summary, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
