#!/usr/bin/python3
"""Writes the seed corpora of the request and step-plan fuzzers (tests/fuzz/corpus/*), from protos
built here with Debian's python3-protobuf (stubs generated at run time by gptoss_client.py).
Each seed is a realistic request or plan, so the fuzzers start from the interesting paths.

    tests/fuzz/make_seeds.py   # rewrites tests/fuzz/corpus/request and .../step_plan
"""
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "tools", "clients"))
import gptoss_client  # noqa: E402


def main():
    stubs = tempfile.mkdtemp(prefix="gptoss-seed-stubs-")
    pb, _ = gptoss_client.load_stubs(stubs)
    from gptoss.v1 import worker_pb2 as wpb  # noqa: E402 (generated next to inference_pb2)
    seeds = {"request": [], "step_plan": []}

    g = pb.GenerateRequest(text="Once upon a time")
    g.sampling.temperature = 0.7
    g.sampling.top_p = 0.9
    g.sampling.seed = 42
    g.stop.max_tokens = 16
    g.stop.stop.extend(["\n\n", "END"])
    g.logprobs.enabled = True
    g.logprobs.top_logprobs = 5
    seeds["request"].append(b"\x00" + g.SerializeToString())
    ids = pb.GenerateRequest()
    ids.token_ids.ids.extend([200006, 1428, 200008, 12194, 200007])
    ids.stop.max_tokens = 4
    ids.stop.ignore_eos = True
    seeds["request"].append(b"\x00" + ids.SerializeToString())

    c = pb.ChatRequest(include_analysis=True, reasoning_effort=pb.REASONING_EFFORT_HIGH,
                       current_date="2026-12-01")
    c.messages.add(role=pb.ROLE_SYSTEM, content="You are a helpful assistant.")
    c.messages.add(role=pb.ROLE_DEVELOPER, content="Answer briefly.")
    c.messages.add(role=pb.ROLE_USER, content="What's the weather in Paris?")
    c.messages.add(role=pb.ROLE_ASSISTANT, channel=pb.CHANNEL_COMMENTARY,
                   recipient="functions.get_weather", content_type="<|constrain|>json",
                   content='{"city": "Paris"}')
    c.messages.add(role=pb.ROLE_TOOL, name="functions.get_weather",
                   channel=pb.CHANNEL_COMMENTARY, content='{"temperature_c": 21}')
    t = c.tools.add(name="get_weather", description="Current weather of a city")
    t.parameters_json = ('{"type": "object", "properties": {"city": {"type": "string", '
                         '"description": "City name"}, "unit": {"type": "string", "enum": '
                         '["c", "f"], "default": "c"}}, "required": ["city"]}')
    c.stop.max_tokens = 64
    seeds["request"].append(b"\x01" + c.SerializeToString())
    simple = pb.ChatRequest()
    simple.messages.add(role=pb.ROLE_USER, content="Hello")
    seeds["request"].append(b"\x01" + simple.SerializeToString())

    plan = wpb.StepPlan(step_id=1)
    s = plan.sequences.add(sequence_id=7, start_position=0, prompt_len=6, sample=True)
    s.token_ids.extend([1, 2, 3, 4, 5, 6])
    s.full_block_table.extend([0, 1])
    s.sliding_block_table.extend([3, 4])
    s.sampling.temperature = 1.0
    s.sampling.top_p = 1.0
    s.logprobs = True
    s.top_logprobs = 3
    d = plan.sequences.add(sequence_id=8, start_position=9, prompt_len=4, sample=True,
                           sample_index=5)
    d.token_ids.append(42)
    d.full_block_table.extend([2, 5, 6])
    d.sliding_first_block = 1
    d.sliding_block_table.extend([-1, 7])
    d.sampling.top_k = 5
    d.sampling.repetition_penalty = 1.1
    plan.free_sequence_ids.extend([3, 4])
    seeds["step_plan"].append(plan.SerializeToString())
    seeds["step_plan"].append(wpb.StepPlan(step_id=2, free_sequence_ids=[7]).SerializeToString())
    # Overlap: a decode feeding back the token the worker sampled last (kLastSampled = -1).
    fed = wpb.StepPlan(step_id=3)
    f = fed.sequences.add(sequence_id=8, start_position=10, prompt_len=4, sample=True,
                          sample_index=6)
    f.token_ids.append(-1)
    f.full_block_table.extend([2, 5, 6])
    f.sliding_first_block = 1
    f.sliding_block_table.extend([-1, 7])
    seeds["step_plan"].append(fed.SerializeToString())

    for name, items in seeds.items():
        out = os.path.join(HERE, "corpus", name)
        os.makedirs(out, exist_ok=True)
        for i, data in enumerate(items):
            with open(os.path.join(out, "seed%d" % i), "wb") as f:
                f.write(data)
        print("%s: %d seeds in %s" % (name, len(items), out))


if __name__ == "__main__":
    main()
