#!/usr/bin/env python3
"""End to end through OpenAI's Python SDK: the OpenAI-compatible HTTP API of `gptoss serve`.

Starts `gptoss serve --http-port 0` (the embedded toy model, model id "gptoss-toy") and checks,
with the official `openai` package and with raw HTTP:

  * /health, /v1/models, /metrics;
  * chat completions: reasoning in `message.reasoning_content` (never in `content`), the toy's
    greedy answers, a get_weather tool call and its round trip, streaming (role first, reasoning
    then content, tool-call deltas, one finish_reason, a usage chunk equal to the non-streamed
    usage, streamed text equal to the non-streamed text), reasoning effort low < high;
  * completions: string and token-id prompts, max_tokens, streaming;
  * responses: a reasoning item before the message, a function_call round trip, streaming
    events, previous_response_id and background refused;
  * errors in OpenAI's shape (400, 404, 413), raw SSE framing, clients that hang up mid-stream,
    and that no raw harmony ("<|") reaches content, reasoning, tool arguments or output text;
  * hostile clients: invalid UTF-8 and lone surrogates, slow headers (cut at the 10 s header
    timeout while others are served), a flood of idle connections (bounded memory, 200 or a
    quick 503, service back once they close), 16 concurrent identical streams, and wrong JSON
    types deep inside a request (400 naming the field);
  * then a second server with --api-key-file: 401 for a wrong or missing key, the right key works.

Usage: openai_api_test.py --cli GPTOSS --source SOURCE_DIR --scratch DIR [--workers N]
(--source is where openai_api_test.sh looks for .venv-test; token ids come from `GPTOSS tokenize`.)
Prints PASS/FAIL per check; exit 1 on any failure (with the server logs), 0 when all pass,
77 (ctest: skipped) with the reason printed when the openai package is missing.
"""
import argparse
import http.client
import json
import os
import re
import resource
import secrets
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback

MODEL = "gptoss-toy"
CAPITAL_Q = "What is the capital of France?"
CAPITAL_A = "The capital of France is Paris."
SUM_Q = "What is 58 + 17?"
SUM_A = "58 + 17 = 75."
WEATHER_Q = "What's the weather in Borford?"
WEATHER_ARGS = {"city": "Borford"}
TOOL_OUTPUT = '{"temperature_c": 21}'
WEATHER_A = "It is currently 21°C in Borford."
WEATHER_FUNCTION = {
    "name": "get_weather",
    "description": "Gets the current weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]},
}
CHAT_TOOLS = [{"type": "function", "function": WEATHER_FUNCTION}]
RESPONSES_TOOLS = [dict({"type": "function"}, **WEATHER_FUNCTION)]
SEED = 1234
MAX_BODY = 4 << 20  # the server's request body limit (4 MiB)
REQUEST_TIMEOUT = 180  # seconds, any one request

openai = None  # imported in main(): a missing package is a skip, not a crash


# ---------------------------------------------------------------------------------------------
# Helpers


def wait_for(predicate, timeout, what, proc=None):
    """Polls predicate() until it returns something true; fails at once if proc exits."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the server exited with {proc.returncode} while waiting for "
                                 f"{what} (last: {last})")
        try:
            last = predicate()
            if last:
                return last
        except Exception as e:  # not up yet
            last = e
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last})")


def http_request(port, method, path, body=None, headers=None, timeout=REQUEST_TIMEOUT):
    """One raw HTTP/1.1 exchange: (status, {lower-case header: value}, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data
    finally:
        conn.close()


def post_json(port, path, obj, headers=None):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    return http_request(port, "POST", path, json.dumps(obj).encode(), h)


def parse_http_response(raw, eof):
    """(status, headers, body) once `raw` holds a whole HTTP/1.x response, else None."""
    head_end = raw.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    lines = raw[:head_end].decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    rest = raw[head_end + 4:]
    if "content-length" in headers:
        n = int(headers["content-length"])
        return (status, headers, rest[:n]) if len(rest) >= n else None
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body, pos = b"", 0
        while True:
            eol = rest.find(b"\r\n", pos)
            if eol < 0:
                return None
            size = int(rest[pos:eol].split(b";")[0], 16)
            if size == 0:
                return status, headers, body
            start = eol + 2
            if len(rest) < start + size + 2:
                return None
            body += rest[start:start + size]
            pos = start + size + 2
    return (status, headers, rest) if eof else None  # delimited by the connection's close


def raw_exchange(port, data, timeout=60):
    """Sends `data` on a fresh connection while watching for the response, so that a server
    answering early (before reading a huge body) and closing is still heard."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setblocking(False)
    out = memoryview(data)
    sent, raw, eof, send_error = 0, b"", False, None
    deadline = time.time() + timeout
    try:
        while time.time() < deadline and not eof and not parse_http_response(raw, False):
            writing = sent < len(out) and send_error is None
            readable, writable, _ = select.select([s], [s] if writing else [], [], 0.5)
            if readable:
                try:
                    chunk = s.recv(1 << 16)
                except BlockingIOError:
                    continue
                except (ConnectionResetError, ConnectionAbortedError):
                    eof = True
                    continue
                if not chunk:
                    eof = True
                raw += chunk
            elif writable:
                try:
                    sent += s.send(out[sent:sent + (1 << 18)])
                except BlockingIOError:
                    pass
                except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError) as e:
                    send_error = e
    finally:
        s.close()
    parsed = parse_http_response(raw, True)
    if not parsed:
        raise AssertionError(f"no complete HTTP response (sent {sent} of {len(out)} bytes, "
                             f"received {len(raw)} bytes {raw[:200]!r}, send error: {send_error!r})")
    return parsed


def walk_strings(obj, path="$"):
    if isinstance(obj, str):
        yield path, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from walk_strings(v, f"{path}.{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from walk_strings(v, f"{path}[{i}]")


def as_plain(obj):
    if hasattr(obj, "to_dict"):
        return obj.to_dict(warnings=False)
    if hasattr(obj, "model_dump"):
        return obj.model_dump()
    return obj


def assert_no_harmony(obj, where):
    """No raw harmony markup ("<|...|>") in any string of an answer (SDK object or JSON)."""
    for path, s in walk_strings(as_plain(obj)):
        assert "<|" not in s, f"{where}: raw harmony in {path}: {s!r}"


def field(obj, name):
    """A field of an SDK object, declared or not (the SDK keeps unknown fields as extras)."""
    value = getattr(obj, name, None)
    if value is None:
        extra = getattr(obj, "model_extra", None) or {}
        value = extra.get(name)
    return value


def check_error_envelope(envelope, param=None):
    """OpenAI's error shape: {"error": {"message", "type", "param", "code"}}."""
    assert isinstance(envelope, dict) and isinstance(envelope.get("error"), dict), \
        f"not an OpenAI error object: {envelope!r}"
    err = envelope["error"]
    missing = {"message", "type", "param", "code"} - set(err)
    assert not missing, f"error object lacks {sorted(missing)}: {envelope!r}"
    assert isinstance(err["message"], str) and err["message"], f"empty message: {envelope!r}"
    if param is not None:
        assert err["param"] == param, f"param {err['param']!r}, want {param!r}: {envelope!r}"
    return err


def check_raw_error(status, headers, body, want_status, param=None):
    assert status == want_status, f"HTTP {status}, want {want_status}: {body[:500]!r}"
    assert headers.get("content-type", "").startswith("application/json"), \
        f"error Content-Type {headers.get('content-type')!r}"
    return check_error_envelope(json.loads(body), param)


def expect_api_error(exc_type, status, call, param=None):
    """call() must raise exc_type (an openai.APIStatusError) with HTTP `status`, in OpenAI's
    error shape, naming `param` when given. Returns the inner error object."""
    try:
        result = call()
    except openai.APIStatusError as e:
        assert isinstance(e, exc_type), \
            f"got {type(e).__name__} (HTTP {e.status_code}: {e.message}), want {exc_type.__name__}"
        assert e.status_code == status, f"HTTP {e.status_code}, want {status}"
        return check_error_envelope(json.loads(e.response.text), param)
    if hasattr(result, "close"):  # a stream
        result.close()
    raise AssertionError(f"the request succeeded; want {exc_type.__name__} (HTTP {status})")


def user(text):
    return [{"role": "user", "content": text}]


def usage_tuple(u):
    assert u is not None, "no usage"
    return (u.prompt_tokens, u.completion_tokens, u.total_tokens)


def check_usage(u, where):
    p, c, t = usage_tuple(u)
    assert p > 0 and c > 0 and t == p + c, f"{where}: usage {p} + {c} = {t}"


def chat(client, messages, **kw):
    """A non-streamed chat completion at temperature 0, with the checks every answer gets."""
    if isinstance(messages, str):
        messages = user(messages)
    kw.setdefault("temperature", 0)
    resp = client.chat.completions.create(model=MODEL, messages=messages, **kw)
    assert_no_harmony(resp, "chat completion")
    assert resp.object == "chat.completion", resp.object
    assert resp.model == MODEL, resp.model
    assert len(resp.choices) == 1, f"{len(resp.choices)} choices"
    assert resp.choices[0].message.role == "assistant"
    check_usage(resp.usage, "chat completion")
    return resp


def chat_stream(client, messages, **kw):
    """A streamed chat completion with include_usage; returns what it carried, after checking
    the order of the chunks: role first, reasoning before content, one finish_reason on the
    last choice chunk, then one usage chunk with no choices."""
    if isinstance(messages, str):
        messages = user(messages)
    kw.setdefault("temperature", 0)
    stream = client.chat.completions.create(model=MODEL, messages=messages, stream=True,
                                            stream_options={"include_usage": True}, **kw)
    chunks = list(stream)
    assert len(chunks) >= 2, f"{len(chunks)} chunks"
    for c in chunks:
        assert_no_harmony(c, "chat chunk")
        assert c.object == "chat.completion.chunk", c.object
    last = chunks[-1]
    assert last.choices == [], f"the last chunk has choices: {as_plain(last)}"
    assert last.usage is not None, f"the last chunk has no usage: {as_plain(last)}"
    body = chunks[:-1]
    assert all(c.choices for c in body), "a chunk other than the last has no choices"
    assert body[0].choices[0].delta.role == "assistant", \
        f"first delta {as_plain(body[0].choices[0].delta)}"
    reasoning, content, tool_deltas, finishes = [], [], [], []
    for i, c in enumerate(body):
        assert len(c.choices) == 1 and c.choices[0].index == 0, as_plain(c)
        choice = c.choices[0]
        d = choice.delta
        r = field(d, "reasoning_content")
        if r:
            assert not content, f"reasoning_content after content in chunk {i}: {r!r}"
            reasoning.append(r)
        if d.content:
            content.append(d.content)
        if d.tool_calls:
            tool_deltas.extend(d.tool_calls)
        if choice.finish_reason is not None:
            finishes.append((i, choice.finish_reason))
    assert len(finishes) == 1 and finishes[0][0] == len(body) - 1, \
        f"finish_reason must come once, on the last choice chunk: {finishes} of {len(body)}"
    return {"reasoning": "".join(reasoning), "content": "".join(content),
            "tool_deltas": tool_deltas, "finish_reason": finishes[0][1], "usage": last.usage,
            "chunks": len(chunks)}


def parse_sse(raw, want_done=True):
    """Splits an SSE body into its events ({"event": name or None, "data": text}); checks the
    `data: ...\\n\\n` framing and, when want_done, the closing `data: [DONE]\\n\\n`."""
    text = raw.decode("utf-8")
    if want_done:
        assert text.endswith("data: [DONE]\n\n"), f"the stream does not end with [DONE]: {text[-200:]!r}"
    assert text.endswith("\n\n"), f"the stream does not end with a blank line: {text[-200:]!r}"
    events = []
    for block in text[:-2].split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith(":"):  # an SSE comment (keep-alive)
                continue
            if line.startswith("event: "):
                name = line[len("event: "):]
            elif line.startswith("data: "):
                data.append(line[len("data: "):])
            else:
                raise AssertionError(f"not an SSE line: {line!r}")
        if not data and name is None:
            continue  # comments only
        assert len(data) == 1, f"an event with {len(data)} data lines: {block!r}"
        events.append({"event": name, "data": data[0]})
    return events


def tokenize(cli, text):
    r = subprocess.run([cli, "tokenize"], input=text, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"gptoss tokenize: {r.stdout}{r.stderr}"
    ids = [int(x) for x in r.stdout.split()]
    assert ids, "gptoss tokenize printed no ids"
    return ids


# ---------------------------------------------------------------------------------------------
# The server


class Server:
    """One `gptoss serve` with the HTTP API, in its own process group (coordinator + workers)."""

    def __init__(self, name, args, extra=(), api_key=None):
        self.name = name
        self.api_key = api_key
        self.port_file = os.path.join(args.scratch, name + ".ports")
        self.log_path = os.path.join(args.scratch, name + ".log")
        self.cmd = [args.cli, "serve", "--port", "0", "--port-file", self.port_file,
                    "--http-port", "0", "--workers", str(args.workers), "--drain-grace-s", "5",
                    *extra]
        self.proc = None
        self.ports = None
        self.stopped = False

    def start(self):
        self.log = open(self.log_path, "w")
        self.log.write("$ " + " ".join(self.cmd) + "\n")
        self.log.flush()
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)

        def ports():
            if not os.path.exists(self.port_file):
                return None
            lines = open(self.port_file).read().split()
            return [int(x) for x in lines] if len(lines) >= 4 else None

        self.ports = wait_for(ports, 120, f"4 lines in {self.port_file}", self.proc)
        self.http_port = self.ports[3]
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        wait_for(lambda: http_request(self.http_port, "GET", "/health", headers=headers,
                                      timeout=10)[0] == 200,
                 300, f"GET /health == 200 on port {self.http_port}", self.proc)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def client(self, api_key=None):
        return openai.OpenAI(base_url=f"http://127.0.0.1:{self.http_port}/v1",
                             api_key=api_key or self.api_key or "no-key-needed",
                             max_retries=0, timeout=REQUEST_TIMEOUT)

    def stop(self):
        """SIGTERM (drain), then SIGKILL whatever is left of the process group."""
        if self.proc is None or self.stopped:
            return None if self.proc is None else self.proc.returncode
        self.stopped = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # workers the server did not reap
        except (ProcessLookupError, PermissionError):
            pass
        if self.proc.poll() is None:
            self.proc.wait(timeout=30)
        self.log.close()
        return self.proc.returncode

    def log_tail(self, n=6000):
        try:
            return open(self.log_path, errors="replace").read()[-n:]
        except OSError as e:
            return f"(cannot read {self.log_path}: {e})"


# ---------------------------------------------------------------------------------------------
# Checks against the server without API keys. Each raises AssertionError on failure.


def check_port_file(ctx):
    assert len(ctx.server.ports) == 4, f"port file: {ctx.server.ports}"
    grpc_port, internal, metrics, http_port = ctx.server.ports
    for name, p in (("gRPC", grpc_port), ("internal", internal), ("HTTP", http_port)):
        assert 0 < p < 65536, f"{name} port {p}"
    assert metrics == -1, f"metrics port {metrics}, want -1 (no --metrics-port)"
    assert len({grpc_port, internal, http_port}) == 3, f"ports collide: {ctx.server.ports}"


def check_health(ctx):
    status, _, body = http_request(ctx.port, "GET", "/health")
    assert status == 200, f"HTTP {status}: {body[:300]!r}"


def check_models(ctx):
    models = ctx.client.models.list()
    ids = [m.id for m in models.data]
    assert ids == [MODEL], f"model ids {ids}"
    assert models.data[0].object == "model", models.data[0].object
    status, headers, body = http_request(ctx.port, "GET", "/v1/models")
    assert status == 200, f"HTTP {status}"
    assert headers.get("content-type", "").startswith("application/json"), headers
    listing = json.loads(body)
    assert listing.get("object") == "list", listing
    assert [m.get("id") for m in listing.get("data", [])] == [MODEL], listing


def check_chat_capital(ctx):
    resp = chat(ctx.client, CAPITAL_Q)
    choice = resp.choices[0]
    assert choice.message.content == CAPITAL_A, f"content {choice.message.content!r}"
    reasoning = field(choice.message, "reasoning_content")
    assert isinstance(reasoning, str) and reasoning.strip(), f"reasoning_content {reasoning!r}"
    assert choice.finish_reason == "stop", choice.finish_reason
    assert not choice.message.tool_calls, choice.message.tool_calls


def check_chat_arithmetic(ctx):
    resp = chat(ctx.client, SUM_Q)
    msg = resp.choices[0].message
    assert msg.content == SUM_A, f"content {msg.content!r}"
    reasoning = field(msg, "reasoning_content")
    assert isinstance(reasoning, str) and reasoning.strip(), f"reasoning_content {reasoning!r}"
    assert resp.choices[0].finish_reason == "stop", resp.choices[0].finish_reason


def check_chat_stream_matches(ctx):
    for question in (CAPITAL_Q, SUM_Q):
        whole = chat(ctx.client, question, seed=SEED)
        msg = whole.choices[0].message
        s = chat_stream(ctx.client, question, seed=SEED)
        assert s["content"] == msg.content, f"streamed {s['content']!r} != {msg.content!r}"
        assert s["reasoning"] == field(msg, "reasoning_content"), \
            f"streamed reasoning {s['reasoning']!r} != {field(msg, 'reasoning_content')!r}"
        assert s["reasoning"], "no reasoning_content delta"
        assert s["finish_reason"] == whole.choices[0].finish_reason == "stop", s["finish_reason"]
        assert not s["tool_deltas"], "tool_calls deltas without tools"
        assert usage_tuple(s["usage"]) == usage_tuple(whole.usage), \
            f"streamed usage {usage_tuple(s['usage'])} != {usage_tuple(whole.usage)}"


def check_chat_tool_call_round_trip(ctx):
    first = chat(ctx.client, WEATHER_Q, tools=CHAT_TOOLS)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls", f"finish_reason {choice.finish_reason}"
    calls = choice.message.tool_calls or []
    assert len(calls) == 1, f"{len(calls)} tool calls: {as_plain(choice.message)}"
    call = calls[0]
    assert call.type == "function", call.type
    assert isinstance(call.id, str) and call.id, f"tool call id {call.id!r}"
    assert call.function.name == "get_weather", call.function.name
    assert json.loads(call.function.arguments) == WEATHER_ARGS, call.function.arguments
    messages = user(WEATHER_Q) + [
        {"role": "assistant", "content": choice.message.content,
         "tool_calls": [{"id": call.id, "type": "function",
                         "function": {"name": call.function.name,
                                      "arguments": call.function.arguments}}]},
        {"role": "tool", "tool_call_id": call.id, "content": TOOL_OUTPUT},
    ]
    second = chat(ctx.client, messages, tools=CHAT_TOOLS)
    assert second.choices[0].message.content == WEATHER_A, \
        f"content {second.choices[0].message.content!r}"
    assert second.choices[0].finish_reason == "stop", second.choices[0].finish_reason
    assert not second.choices[0].message.tool_calls, "a second tool call"


def check_chat_tool_call_stream(ctx):
    whole = chat(ctx.client, WEATHER_Q, tools=CHAT_TOOLS, seed=SEED)
    assert whole.choices[0].message.tool_calls, f"no tool call: {as_plain(whole)}"
    want_args = whole.choices[0].message.tool_calls[0].function.arguments
    s = chat_stream(ctx.client, WEATHER_Q, tools=CHAT_TOOLS, seed=SEED)
    assert s["finish_reason"] == "tool_calls", s["finish_reason"]
    deltas = s["tool_deltas"]
    assert deltas, "no tool_calls deltas"
    head = deltas[0]
    assert head.index == 0, f"index {head.index}"
    assert isinstance(head.id, str) and head.id, f"first tool-call delta has no id: {as_plain(head)}"
    assert head.type == "function", f"first tool-call delta type {head.type!r}"
    assert head.function is not None and head.function.name == "get_weather", as_plain(head)
    for d in deltas[1:]:
        assert d.index == head.index, f"a second call (index {d.index})"
        assert d.id in (None, head.id), f"the id changed: {d.id!r}"
        assert d.function is None or d.function.name in (None, "", head.function.name), as_plain(d)
    args = "".join((d.function.arguments or "") for d in deltas if d.function is not None)
    assert args == want_args, f"streamed arguments {args!r} != {want_args!r}"
    assert json.loads(args) == WEATHER_ARGS, args
    assert usage_tuple(s["usage"]) == usage_tuple(whole.usage), \
        f"streamed usage {usage_tuple(s['usage'])} != {usage_tuple(whole.usage)}"


def check_reasoning_effort(ctx):
    lengths = {}
    for effort in ("low", "high"):
        resp = chat(ctx.client, SUM_Q, reasoning_effort=effort)
        reasoning = field(resp.choices[0].message, "reasoning_content")
        assert isinstance(reasoning, str) and reasoning.strip(), f"{effort}: {reasoning!r}"
        lengths[effort] = len(reasoning)
    assert lengths["low"] < lengths["high"], f"reasoning chars: {lengths}"
    ctx.note(f"reasoning chars low {lengths['low']} < high {lengths['high']}")


def completion(ctx, prompt, max_tokens=8):
    c = ctx.client.completions.create(model=MODEL, prompt=prompt, max_tokens=max_tokens,
                                      temperature=0)
    assert c.object == "text_completion", c.object
    assert c.model == MODEL, c.model
    assert len(c.choices) == 1, f"{len(c.choices)} choices"
    text, finish = c.choices[0].text, c.choices[0].finish_reason
    assert isinstance(text, str), text
    u = c.usage
    assert u is not None, "no usage"
    assert u.prompt_tokens > 0 and 0 <= u.completion_tokens <= max_tokens, usage_tuple(u)
    assert u.total_tokens == u.prompt_tokens + u.completion_tokens, usage_tuple(u)
    assert finish in ("length", "stop"), finish
    if finish == "length":
        assert u.completion_tokens == max_tokens, f"length after {u.completion_tokens} tokens"
    if u.completion_tokens < max_tokens:
        assert finish == "stop", f"{finish} after {u.completion_tokens} of {max_tokens} tokens"
    return c


def check_completions(ctx):
    c = completion(ctx, CAPITAL_Q)
    ctx.note(f"{c.choices[0].text!r} ({c.choices[0].finish_reason}, "
             f"{c.usage.completion_tokens} tokens)")


def check_completions_stream(ctx):
    c = completion(ctx, CAPITAL_Q)
    chunks = list(ctx.client.completions.create(model=MODEL, prompt=CAPITAL_Q, max_tokens=8,
                                                temperature=0, stream=True))
    assert chunks, "no chunks"
    text = "".join(ch.choices[0].text for ch in chunks if ch.choices)
    finishes = [ch.choices[0].finish_reason for ch in chunks
                if ch.choices and ch.choices[0].finish_reason is not None]
    assert text == c.choices[0].text, f"streamed {text!r} != {c.choices[0].text!r}"
    assert finishes == [c.choices[0].finish_reason], f"finish reasons {finishes}"


def check_completions_token_ids(ctx):
    ids = tokenize(ctx.args.cli, CAPITAL_Q)
    by_text = completion(ctx, CAPITAL_Q)
    by_ids = completion(ctx, ids)
    assert by_ids.usage.prompt_tokens == len(ids), \
        f"prompt_tokens {by_ids.usage.prompt_tokens} for {len(ids)} ids"
    assert by_text.usage.prompt_tokens == len(ids), \
        f"prompt_tokens {by_text.usage.prompt_tokens} for the text of {len(ids)} tokens"
    assert by_ids.choices[0].text == by_text.choices[0].text, \
        f"{by_ids.choices[0].text!r} (ids) != {by_text.choices[0].text!r} (text)"


def responses_create(ctx, **kw):
    kw.setdefault("temperature", 0)
    resp = ctx.client.responses.create(model=MODEL, **kw)
    assert_no_harmony(resp, "response")
    assert resp.model == MODEL, resp.model
    return resp


def check_responses_reasoning_then_message(ctx):
    resp = responses_create(ctx, input=CAPITAL_Q, reasoning={"effort": "low"})
    assert "Paris" in resp.output_text, f"output_text {resp.output_text!r}"
    types = [o.type for o in resp.output]
    assert "reasoning" in types and "message" in types, f"output item types {types}"
    assert types.index("reasoning") < types.index("message"), f"output item types {types}"
    assert resp.status in (None, "completed"), resp.status


def check_responses_function_call_round_trip(ctx):
    first = responses_create(ctx, input=WEATHER_Q, tools=RESPONSES_TOOLS)
    calls = [o for o in first.output if o.type == "function_call"]
    assert len(calls) == 1, f"output item types {[o.type for o in first.output]}"
    call = calls[0]
    assert call.name == "get_weather", call.name
    assert isinstance(call.call_id, str) and call.call_id, f"call_id {call.call_id!r}"
    assert json.loads(call.arguments) == WEATHER_ARGS, call.arguments
    second = responses_create(ctx, tools=RESPONSES_TOOLS, input=[
        {"role": "user", "content": WEATHER_Q},
        {"type": "function_call", "call_id": call.call_id, "name": call.name,
         "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": TOOL_OUTPUT},
    ])
    assert second.output_text == WEATHER_A, f"output_text {second.output_text!r}"


def check_responses_stream(ctx):
    whole = responses_create(ctx, input=CAPITAL_Q, reasoning={"effort": "low"})
    events = list(ctx.client.responses.create(model=MODEL, input=CAPITAL_Q,
                                              reasoning={"effort": "low"}, temperature=0,
                                              stream=True))
    for e in events:
        assert_no_harmony(e, "response event")
    types = [e.type for e in events]
    assert types and types[0] == "response.created", f"first event {types[:1]}"
    assert types[-1] == "response.completed", f"last event {types[-1:]}"
    assert "response.output_text.delta" in types, f"no output_text deltas in {sorted(set(types))}"
    first_delta = types.index("response.output_text.delta")
    assert 0 < first_delta < len(types) - 1, types
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == whole.output_text, f"streamed {text!r} != {whole.output_text!r}"
    assert events[-1].response.output_text == whole.output_text, \
        f"completed response text {events[-1].response.output_text!r}"


def check_responses_unsupported(ctx):
    expect_api_error(openai.BadRequestError, 400, lambda: ctx.client.responses.create(
        model=MODEL, input=CAPITAL_Q, previous_response_id="resp_0123456789abcdef"))
    expect_api_error(openai.BadRequestError, 400, lambda: ctx.client.responses.create(
        model=MODEL, input=CAPITAL_Q, background=True))


def check_error_n(ctx):
    expect_api_error(openai.BadRequestError, 400, lambda: ctx.client.chat.completions.create(
        model=MODEL, messages=user(CAPITAL_Q), n=2), param="n")


def check_error_json_schema(ctx):
    expect_api_error(openai.BadRequestError, 400, lambda: ctx.client.chat.completions.create(
        model=MODEL, messages=user(CAPITAL_Q), response_format={
            "type": "json_schema",
            "json_schema": {"name": "answer", "schema": {
                "type": "object", "properties": {"city": {"type": "string"}}}}}))


def check_error_temperature(ctx):
    expect_api_error(openai.BadRequestError, 400, lambda: ctx.client.chat.completions.create(
        model=MODEL, messages=user(CAPITAL_Q), temperature=5), param="temperature")


def check_error_unknown_model(ctx):
    other = "no-such-model"
    expect_api_error(openai.NotFoundError, 404, lambda: ctx.client.chat.completions.create(
        model=other, messages=user(CAPITAL_Q)))
    expect_api_error(openai.NotFoundError, 404, lambda: ctx.client.completions.create(
        model=other, prompt=CAPITAL_Q, max_tokens=4))
    expect_api_error(openai.NotFoundError, 404, lambda: ctx.client.responses.create(
        model=other, input=CAPITAL_Q))


def check_error_malformed_json(ctx):
    for path in ("/v1/chat/completions", "/v1/completions", "/v1/responses"):
        status, headers, body = http_request(
            ctx.port, "POST", path, b'{"model": "gptoss-toy", "messages": [{"role": ',
            {"Content-Type": "application/json"})
        check_raw_error(status, headers, body, 400)


def check_error_body_too_large(ctx):
    body = json.dumps({"model": MODEL, "messages": user("x" * (MAX_BODY + (1 << 20)))}).encode()
    assert len(body) > MAX_BODY
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{ctx.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    status, headers, resp = raw_exchange(ctx.port, head + body)
    check_raw_error(status, headers, resp, 413)
    check_health(ctx)  # still serving


def raw_stream(ctx, path, obj):
    status, headers, body = post_json(ctx.port, path, obj)
    assert status == 200, f"HTTP {status}: {body[:300]!r}"
    ctype = headers.get("content-type", "")
    assert ctype.startswith("text/event-stream"), f"Content-Type {ctype!r}"
    return body


def check_sse_framing_chat(ctx):
    body = raw_stream(ctx, "/v1/chat/completions", {
        "model": MODEL, "messages": user(CAPITAL_Q), "temperature": 0, "stream": True})
    events = parse_sse(body)
    assert events[-1] == {"event": None, "data": "[DONE]"}, events[-1]
    chunks = [json.loads(e["data"]) for e in events[:-1]]
    assert chunks, "no chunks before [DONE]"
    for e in events[:-1]:
        assert e["event"] is None, f"an `event:` line in a chat stream: {e}"
    content, reasoning = "", ""
    for c in chunks:
        assert_no_harmony(c, "raw chat chunk")
        assert c.get("object") == "chat.completion.chunk", c
        for choice in c.get("choices", []):
            delta = choice.get("delta", {})
            content += delta.get("content") or ""
            reasoning += delta.get("reasoning_content") or ""
    assert content == CAPITAL_A, f"content {content!r}"
    assert reasoning, "no reasoning_content"


def check_sse_framing_completions(ctx):
    body = raw_stream(ctx, "/v1/completions", {
        "model": MODEL, "prompt": CAPITAL_Q, "max_tokens": 8, "temperature": 0, "stream": True})
    events = parse_sse(body)
    assert events[-1] == {"event": None, "data": "[DONE]"}, events[-1]
    chunks = [json.loads(e["data"]) for e in events[:-1]]
    assert chunks, "no chunks before [DONE]"
    for c in chunks:
        assert c.get("object") == "text_completion", c


def check_sse_framing_responses(ctx):
    # OpenAI's Responses stream names each event (`event: <type>`) and may end without [DONE]:
    # both are accepted here; each event still carries exactly one `data:` line of JSON.
    body = raw_stream(ctx, "/v1/responses", {
        "model": MODEL, "input": CAPITAL_Q, "reasoning": {"effort": "low"}, "temperature": 0,
        "stream": True})
    events = parse_sse(body, want_done=False)
    if events and events[-1]["data"] == "[DONE]":
        events = events[:-1]
    payloads = [json.loads(e["data"]) for e in events]
    for e, p in zip(events, payloads):
        assert_no_harmony(p, "raw response event")
        assert isinstance(p.get("type"), str), p
        assert e["event"] in (None, p["type"]), f"event: {e['event']} carries type {p['type']}"
    assert payloads and payloads[0]["type"] == "response.created", payloads[:1]
    assert payloads[-1]["type"] == "response.completed", payloads[-1:]
    text = "".join(p.get("delta", "") for p in payloads if p["type"] == "response.output_text.delta")
    assert "Paris" in text, f"streamed text {text!r}"


def open_stream_and_hang_up(ctx, path, obj, wait_for_data, reset):
    data = json.dumps(obj).encode()
    s = socket.create_connection(("127.0.0.1", ctx.port), timeout=REQUEST_TIMEOUT)
    try:
        s.sendall((f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{ctx.port}\r\n"
                   f"Content-Type: application/json\r\nAccept: text/event-stream\r\n"
                   f"Content-Length: {len(data)}\r\n\r\n").encode() + data)
        got = b""
        while wait_for_data and b"data: " not in got:
            chunk = s.recv(4096)
            assert chunk, f"the server closed before any event: {got[:300]!r}"
            got += chunk
        assert got.startswith(b"HTTP/1.1 200") or not wait_for_data, got[:200]
        if reset:  # an abortive close: RST instead of FIN
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        s.close()


def check_client_disconnect(ctx):
    long_chat = {"model": MODEL, "messages": user(SUM_Q), "reasoning_effort": "high",
                 "temperature": 0, "stream": True}
    open_stream_and_hang_up(ctx, "/v1/chat/completions", long_chat, True, reset=False)
    open_stream_and_hang_up(ctx, "/v1/chat/completions", long_chat, True, reset=True)
    open_stream_and_hang_up(ctx, "/v1/responses", {
        "model": MODEL, "input": SUM_Q, "reasoning": {"effort": "high"}, "temperature": 0,
        "stream": True}, True, reset=False)
    open_stream_and_hang_up(ctx, "/v1/chat/completions", long_chat, False, reset=True)
    assert ctx.server.alive(), "the server exited after clients hung up"
    resp = chat(ctx.client, CAPITAL_Q)  # the next requests work
    assert resp.choices[0].message.content == CAPITAL_A, resp.choices[0].message.content
    s = chat_stream(ctx.client, CAPITAL_Q)
    assert s["content"] == CAPITAL_A, s["content"]
    check_health(ctx)


def check_metrics(ctx):
    status, headers, body = http_request(ctx.port, "GET", "/metrics")
    assert status == 200, f"HTTP {status}"
    ctype = headers.get("content-type", "")
    assert ctype.startswith("text/plain") or ctype.startswith("application/openmetrics-text"), \
        f"Content-Type {ctype!r}"
    text = body.decode()
    sample = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? \S+( \S+)?$')
    bad = [line for line in text.splitlines()
           if line and not line.startswith("#") and not sample.match(line)]
    assert not bad, f"not Prometheus text: {bad[:3]}"
    assert re.search(r"^# TYPE gptoss_\w+ ", text, re.M), "no gptoss_ metric family"


# Hostile clients: bytes that are not UTF-8, slow headers, a flood of idle connections, many
# concurrent streams, and JSON of the wrong types deep inside a request.

HEADER_TIMEOUT = 10  # seconds: the server's deadline for a request's headers
MAX_CONNECTIONS = 4096  # the server's open HTTP connections; one more is answered 503 and closed


def check_invalid_utf8(ctx):
    # Bytes that are not UTF-8 inside a JSON string: 400 in OpenAI's shape, itself valid UTF-8.
    status, headers, body = http_request(
        ctx.port, "POST", "/v1/chat/completions",
        b'{"messages":[{"role":"user","content":"\xff\xfe"}]}',
        {"Content-Type": "application/json"})
    check_raw_error(status, headers, body, 400)
    body.decode("utf-8")  # strict: the error must not echo the raw bytes
    # Valid JSON, but a lone surrogate escape: a client error, not a crash or a 5xx.
    status, headers, body = http_request(
        ctx.port, "POST", "/v1/chat/completions",
        b'{"model":"gptoss-toy","messages":[{"role":"user","content":"\\ud800"}]}',
        {"Content-Type": "application/json"})
    assert 400 <= status < 500, f"lone surrogate: HTTP {status}, want 4xx: {body[:500]!r}"
    if headers.get("content-type", "").startswith("application/json"):
        check_error_envelope(json.loads(body.decode("utf-8")))
    ctx.note(f"lone surrogate: HTTP {status}")
    assert ctx.server.alive(), "the server exited"
    check_health(ctx)


def in_thread(fn):
    """Runs fn() in a daemon thread; returns (thread, result) where result gets "value" or
    "error" when fn finishes."""
    result = {}

    def run():
        try:
            result["value"] = fn()
        except BaseException as e:  # reported by the caller
            result["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, result


def join_result(t, result, timeout, what):
    t.join(timeout)
    assert not t.is_alive(), f"{what}: no answer in {timeout}s"
    if "error" in result:
        e = result["error"]
        raise AssertionError(f"{what}: {type(e).__name__}: {e}") from e
    return result.get("value")


def wait_closed(s, timeout):
    """Waits until the peer closes `s` (EOF or reset); True if it did within timeout."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        readable, _, _ = select.select([s], [], [], max(0.0, min(0.5, deadline - time.time())))
        if readable:
            try:
                if not s.recv(4096):
                    return True
            except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
                return True
    return False


def check_slow_headers(ctx):
    # Slowloris: the request line and one header byte a second, never the blank line. The
    # server must cut it at its header deadline while serving other clients meanwhile.
    s = socket.create_connection(("127.0.0.1", ctx.port), timeout=10)
    t0 = time.time()
    closed_after, got = None, b""
    try:
        s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
        other = ctx.server.client()
        t, result = in_thread(lambda: chat(other, SUM_Q))
        header = b"X-Slow: " + b"a" * 64
        i = 0
        limit = HEADER_TIMEOUT + 5
        while time.time() - t0 < limit:
            readable, _, _ = select.select([s], [], [], 1.0)
            if readable:
                try:
                    chunk = s.recv(4096)
                except (ConnectionResetError, ConnectionAbortedError):
                    chunk = b""
                if not chunk:
                    closed_after = time.time() - t0
                    break
                got += chunk  # an answer (a 408, say) before the close is fine
                continue
            try:
                s.send(header[i:i + 1])
                i = (i + 1) % len(header)
            except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                closed_after = time.time() - t0
                break
    finally:
        s.close()
    resp = join_result(t, result, REQUEST_TIMEOUT, "the concurrent chat")
    assert resp.choices[0].message.content == SUM_A, resp.choices[0].message.content
    assert closed_after is not None, \
        f"the slow-header connection was still open after {time.time() - t0:.1f}s " \
        f"(received {got[:200]!r})"
    assert closed_after <= HEADER_TIMEOUT + 3, \
        f"the slow-header connection closed after {closed_after:.1f}s, want <= {HEADER_TIMEOUT + 3}s"
    answer = f"answer {got.splitlines()[0]!r}" if got else "no answer"
    ctx.note(f"closed after {closed_after:.1f}s ({i} header bytes, {answer})")


def vm_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS in /proc/{pid}/status")


def open_files_limit(pid):
    try:
        with open(f"/proc/{pid}/limits") as f:
            for line in f:
                if line.startswith("Max open files"):
                    return line.split()[3]
    except OSError:
        pass
    return "?"


def probe_while_flooded(ctx, timeout=5.0):
    """One chat request while the server is flooded: a 200, a clean 503, or a quick reset or
    close; never a hang. Returns a description of what came back."""
    body = json.dumps({"model": MODEL, "messages": user(SUM_Q), "temperature": 0}).encode()
    t0 = time.time()
    try:
        status, headers, data = http_request(ctx.port, "POST", "/v1/chat/completions", body,
                                             {"Content-Type": "application/json"}, timeout=timeout)
    except (socket.timeout, TimeoutError) as e:
        raise AssertionError(f"a request during the flood hung ({time.time() - t0:.1f}s: {e!r})")
    except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError,
            http.client.RemoteDisconnected, http.client.BadStatusLine) as e:
        elapsed = time.time() - t0
        assert elapsed < timeout, f"closed only after {elapsed:.1f}s"
        return f"connection closed ({type(e).__name__}) in {elapsed:.2f}s"
    elapsed = time.time() - t0
    assert status in (200, 503), f"HTTP {status} during the flood: {data[:300]!r}"
    assert elapsed < timeout, f"HTTP {status} after {elapsed:.1f}s"
    if status == 200:
        content = json.loads(data)["choices"][0]["message"]["content"]
        assert content == SUM_A, f"content {content!r}"
    return f"HTTP {status} in {elapsed:.2f}s"


def chat_ok_within(ctx, seconds):
    """A normal chat request answered 200 (retrying 503s and resets) within `seconds`."""
    body = json.dumps({"model": MODEL, "messages": user(SUM_Q), "temperature": 0}).encode()
    t0 = time.time()
    last = None
    while True:
        try:
            status, _, data = http_request(ctx.port, "POST", "/v1/chat/completions", body,
                                           {"Content-Type": "application/json"}, timeout=30)
            if status == 200:
                content = json.loads(data)["choices"][0]["message"]["content"]
                assert content == SUM_A, f"content {content!r}"
                return time.time() - t0
            last = f"HTTP {status}: {data[:200]!r}"
        except (OSError, http.client.HTTPException) as e:
            last = f"{type(e).__name__}: {e}"
        if time.time() - t0 > seconds:
            raise AssertionError(f"no 200 within {seconds}s (last: {last})")
        time.sleep(0.1)


def check_idle_flood(ctx):
    # Many idle connections that send nothing: bounded memory, later clients get an answer
    # (200, or the documented connection-level 503 past the limit) and service resumes once
    # they are gone.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    limit = 1 << 20 if hard == resource.RLIM_INFINITY else hard
    n = min(10000, limit - 300)
    pid = ctx.server.proc.pid
    if n < 100:
        ctx.note(f"no flood: RLIMIT_NOFILE hard limit {hard} leaves {n} connections (< 100)")
        print(f"    idle_flood: skipping the flood, RLIMIT_NOFILE hard limit is {hard}", flush=True)
        ctx.note(f"then 200 in {chat_ok_within(ctx, 3):.2f}s")
        return
    rss_before = vm_rss_kb(pid)
    socks, failed = [], None
    t0 = time.time()
    try:
        for _ in range(n):
            if time.time() - t0 > 8:  # well inside the header timeout of the first ones
                failed = f"stopped after {time.time() - t0:.1f}s"
                break
            try:
                socks.append(socket.create_connection(("127.0.0.1", ctx.port), timeout=3))
            except OSError as e:
                failed = f"{type(e).__name__}: {e}"
                break
        opened_in = time.time() - t0
        rss_flooded = vm_rss_kb(pid)
        during = probe_while_flooded(ctx)
        rss_flooded = max(rss_flooded, vm_rss_kb(pid))
        assert ctx.server.alive(), "the server exited under the flood"
    finally:
        for s in socks:
            s.close()
    growth_mb = (rss_flooded - rss_before) / 1024
    assert len(socks) >= min(n, MAX_CONNECTIONS + 1), \
        f"opened only {len(socks)} of {n} connections ({failed})"
    assert growth_mb < 600, f"VmRSS grew {growth_mb:.0f} MB with {len(socks)} idle connections"
    after = chat_ok_within(ctx, 3)
    ctx.note(f"{len(socks)} idle connections in {opened_in:.1f}s (server open-files limit "
             f"{open_files_limit(pid)}{'; ' + failed if failed else ''}), VmRSS "
             f"{rss_before // 1024} -> {rss_flooded // 1024} MB; during: {during}; "
             f"after closing: 200 in {after:.2f}s")


def check_concurrent_streams(ctx):
    # 16 clients stream the same greedy chat at once: each gets the whole, same answer.
    want = chat(ctx.client, SUM_Q).choices[0].message.content
    assert want == SUM_A, f"non-streamed content {want!r}"
    n = 16
    barrier = threading.Barrier(n)

    def one():
        client = ctx.server.client()
        barrier.wait(timeout=60)
        stream = client.chat.completions.create(model=MODEL, messages=user(SUM_Q),
                                                temperature=0, stream=True)
        content, reasoning, finishes = [], [], []
        for c in stream:
            assert_no_harmony(c, "concurrent chat chunk")
            for choice in c.choices:
                content.append(choice.delta.content or "")
                reasoning.append(field(choice.delta, "reasoning_content") or "")
                if choice.finish_reason is not None:
                    finishes.append(choice.finish_reason)
        return "".join(content), "".join(reasoning), finishes

    threads = [in_thread(one) for _ in range(n)]
    deadline = time.time() + REQUEST_TIMEOUT
    results = [join_result(t, r, max(1.0, deadline - time.time()), f"stream {i}")
               for i, (t, r) in enumerate(threads)]
    contents = [c for c, _, _ in results]
    for i, (content, reasoning, finishes) in enumerate(results):
        assert "<|" not in content and "<|" not in reasoning, f"stream {i}: raw harmony"
        assert content == want, f"stream {i}: content {content!r} != {want!r} (all: {contents})"
        assert reasoning == results[0][1], \
            f"stream {i}: reasoning {reasoning!r} != stream 0's {results[0][1]!r}"
        assert finishes == ["stop"], f"stream {i}: finish reasons {finishes}"


def check_invalid_json_types(ctx):
    # Well-formed JSON with the wrong types deep inside: 400 naming the offending field.
    ok = user(CAPITAL_Q)
    cases = [
        ("messages", {"messages": "x"}),
        ("messages", {"messages": [{"role": 5}]}),
        ("tools", {"messages": ok, "tools": [{"type": "function", "function": {"name": 7}}]}),
        ("tool_choice", {"messages": ok, "tool_choice": 5}),
        ("stream_options", {"messages": ok, "stream_options": "yes"}),
    ]
    params = []
    for key, body in cases:
        body = dict({"model": MODEL}, **body)
        status, headers, data = post_json(ctx.port, "/v1/chat/completions", body)
        try:
            err = check_raw_error(status, headers, data, 400)
        except AssertionError as e:
            raise AssertionError(f"{json.dumps(body)}: {e}") from e
        param = err["param"]
        assert isinstance(param, str) and param, \
            f"{json.dumps(body)}: param {param!r}, want the offending field: {data[:300]!r}"
        assert param.startswith(key), f"{json.dumps(body)}: param {param!r} does not name {key}"
        params.append(param)
    ctx.note("params " + ", ".join(params))


def check_server_survived(ctx):
    assert ctx.server.alive(), "the server exited"
    check_health(ctx)
    resp = chat(ctx.client, SUM_Q)
    assert resp.choices[0].message.content == SUM_A, resp.choices[0].message.content


# Checks against the server with --api-key-file.


def check_auth_wrong_key(ctx):
    wrong = ctx.server.client(api_key="wrong-key-" + secrets.token_hex(12))
    expect_api_error(openai.AuthenticationError, 401, lambda: wrong.models.list())
    expect_api_error(openai.AuthenticationError, 401, lambda: wrong.chat.completions.create(
        model=MODEL, messages=user(CAPITAL_Q), temperature=0))
    expect_api_error(openai.AuthenticationError, 401, lambda: wrong.responses.create(
        model=MODEL, input=CAPITAL_Q, temperature=0))


def check_auth_missing_key(ctx):
    status, headers, body = http_request(ctx.port, "GET", "/v1/models")
    check_raw_error(status, headers, body, 401)
    status, headers, body = post_json(ctx.port, "/v1/chat/completions",
                                      {"model": MODEL, "messages": user(CAPITAL_Q)})
    check_raw_error(status, headers, body, 401)
    status, headers, body = post_json(ctx.port, "/v1/completions",
                                      {"model": MODEL, "prompt": CAPITAL_Q, "max_tokens": 4})
    check_raw_error(status, headers, body, 401)


def check_auth_right_key(ctx):
    assert [m.id for m in ctx.client.models.list().data] == [MODEL]
    resp = chat(ctx.client, CAPITAL_Q)
    assert resp.choices[0].message.content == CAPITAL_A, resp.choices[0].message.content
    s = chat_stream(ctx.client, CAPITAL_Q)
    assert s["content"] == CAPITAL_A, s["content"]
    r = responses_create(ctx, input=CAPITAL_Q, reasoning={"effort": "low"})
    assert "Paris" in r.output_text, r.output_text


OPEN_CHECKS = [
    check_port_file, check_health, check_models,
    check_chat_capital, check_chat_arithmetic, check_chat_stream_matches,
    check_chat_tool_call_round_trip, check_chat_tool_call_stream, check_reasoning_effort,
    check_completions, check_completions_stream, check_completions_token_ids,
    check_responses_reasoning_then_message, check_responses_function_call_round_trip,
    check_responses_stream, check_responses_unsupported,
    check_error_n, check_error_json_schema, check_error_temperature, check_error_unknown_model,
    check_error_malformed_json, check_error_body_too_large,
    check_sse_framing_chat, check_sse_framing_completions, check_sse_framing_responses,
    check_client_disconnect, check_invalid_utf8, check_slow_headers, check_idle_flood,
    check_concurrent_streams, check_invalid_json_types, check_metrics, check_server_survived,
]
KEYED_CHECKS = [check_auth_wrong_key, check_auth_missing_key, check_auth_right_key]


# ---------------------------------------------------------------------------------------------


class Context:
    def __init__(self, args, server):
        self.args = args
        self.server = server
        self.port = server.http_port
        self.client = server.client()
        self.notes = []

    def note(self, text):
        self.notes.append(text)


def run_checks(ctx, checks, failures):
    for check in checks:
        name = check.__name__[len("check_"):]
        if not ctx.server.alive():
            print(f"FAIL: {name}: the {ctx.server.name} server is not running "
                  f"(exit code {ctx.server.proc.returncode})", flush=True)
            failures.append(f"{ctx.server.name}/{name}")
            continue
        ctx.notes = []
        t0 = time.time()
        try:
            check(ctx)
        except Exception as e:  # AssertionError, an SDK error, a socket error
            detail = f"{type(e).__name__}: {e}"
            if openai is not None and isinstance(e, openai.APIStatusError):
                detail += f" (body: {e.body!r})"
            where = [f"line {f.lineno} in {f.name}: {f.line}"
                     for f in traceback.extract_tb(e.__traceback__)
                     if os.path.abspath(f.filename) == os.path.abspath(__file__)]
            print(f"FAIL: {name} ({time.time() - t0:.1f}s): {detail}", flush=True)
            for w in where[-3:]:
                print(f"    at {w}", flush=True)
            failures.append(f"{ctx.server.name}/{name}")
        else:
            extra = f": {'; '.join(ctx.notes)}" if ctx.notes else ""
            print(f"PASS: {name} ({time.time() - t0:.1f}s){extra}", flush=True)


def clean_environment():
    """The SDK reads OPENAI_* and the proxy variables; none may redirect the loopback calls."""
    for k in list(os.environ):
        if k.startswith("OPENAI_") or k.lower() in ("http_proxy", "https_proxy", "all_proxy"):
            del os.environ[k]
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"


def main():
    global openai
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cli", required=True, help="the gptoss binary")
    ap.add_argument("--source", required=True, help="the source tree")
    ap.add_argument("--scratch", required=True, help="a scratch directory (recreated)")
    ap.add_argument("--workers", type=int, default=1, help="workers per server")
    args = ap.parse_args()
    try:
        import openai as sdk
    except ImportError as e:
        print(f"SKIPPED: the openai package is not importable ({e}); "
              f"pip install -r tests/e2e/openai_requirements.txt")
        return 77
    openai = sdk
    print(f"openai {openai.__version__}, {sys.executable}", flush=True)
    clean_environment()
    args.cli = os.path.abspath(args.cli)
    shutil.rmtree(args.scratch, ignore_errors=True)
    os.makedirs(args.scratch)

    failures = []
    servers = []
    t0 = time.time()
    try:
        # 1. No API keys.
        open_server = Server("open", args)
        servers.append(open_server)
        try:
            open_server.start()
        except Exception as e:
            print(f"FAIL: start the server: {e}", flush=True)
            failures.append("open/start")
        else:
            print(f"server up: ports {open_server.ports} ({time.time() - t0:.1f}s)", flush=True)
            run_checks(Context(args, open_server), OPEN_CHECKS, failures)
        code = open_server.stop()
        print(f"the server without keys stopped: exit code {code}", flush=True)

        # 2. --api-key-file: two keys, one per line (the second one is used).
        key_file = os.path.join(args.scratch, "api_keys.txt")
        key = "sk-gptoss-" + secrets.token_urlsafe(24)
        with open(key_file, "w") as f:
            f.write("# API keys of the e2e test\n" + "sk-other-" + secrets.token_hex(16) + "\n"
                    + key + "\n")
        os.chmod(key_file, 0o600)
        keyed_server = Server("keyed", args, ["--api-key-file", key_file], api_key=key)
        servers.append(keyed_server)
        try:
            keyed_server.start()
        except Exception as e:
            print(f"FAIL: start the server with --api-key-file: {e}", flush=True)
            failures.append("keyed/start")
        else:
            run_checks(Context(args, keyed_server), KEYED_CHECKS, failures)
    finally:
        for s in servers:
            s.stop()

    if failures:
        for s in servers:
            print(f"---- {s.name} server log ({s.log_path}, tail) ----")
            print(s.log_tail())
        print(f"FAILED: {len(failures)} check(s): {', '.join(failures)} "
              f"({time.time() - t0:.0f}s)")
        return 1
    print(f"all {len(OPEN_CHECKS) + len(KEYED_CHECKS)} checks passed ({time.time() - t0:.0f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
