#!/usr/bin/env python3
"""Python client for the gptoss gRPC API (gptoss.v1.Inference), on Debian's python3-grpcio.

Stubs are generated from proto/gptoss/v1/*.proto at run time into a scratch directory (the
build dir in tests), so nothing generated is committed. Debian's python3-grpc-tools (1.14)
bundles a protoc too old for proto3 `optional`, so the system protoc with Debian's
grpc_python_plugin (protobuf-compiler-grpc, a build dependency anyway) is preferred; a newer
grpc_tools from pip works too.

    gptoss_client.py --server 127.0.0.1:50051 info
    gptoss_client.py --server ADDR generate --text "Once upon a time" --max-tokens 16
    gptoss_client.py --server ADDR chat --message "What is 2+2?" --max-tokens 64
    gptoss_client.py --server ADDR health
    gptoss_client.py --server ADDR selftest      # what the e2e test runs; exit 0 = pass
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTO_ROOT = os.path.join(REPO, "proto")
PROTOS = ["gptoss/v1/inference.proto", "gptoss/v1/worker.proto"]


def generate_stubs(out_dir):
    """Writes gptoss/v1/*_pb2*.py under out_dir; raises RuntimeError naming the problem."""
    os.makedirs(out_dir, exist_ok=True)
    protoc = shutil.which("protoc")
    plugin = shutil.which("grpc_python_plugin")
    if protoc and plugin:
        cmd = [protoc, "-I", PROTO_ROOT, "--python_out", out_dir, "--grpc_python_out", out_dir,
               "--plugin=protoc-gen-grpc_python=" + plugin] + PROTOS
    else:
        cmd = [sys.executable, "-m", "grpc_tools.protoc", "-I", PROTO_ROOT,
               "--python_out", out_dir, "--grpc_python_out", out_dir] + PROTOS
    done = subprocess.run(cmd, cwd=PROTO_ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError("stub generation failed (%s): %s" % (" ".join(cmd), done.stderr))


def load_stubs(out_dir):
    """Returns (inference_pb2, inference_pb2_grpc), generating them if needed."""
    if not os.path.exists(os.path.join(out_dir, "gptoss", "v1", "inference_pb2_grpc.py")):
        generate_stubs(out_dir)
    if out_dir not in sys.path:
        sys.path.insert(0, out_dir)
    from gptoss.v1 import inference_pb2, inference_pb2_grpc  # noqa: E402
    return inference_pb2, inference_pb2_grpc


class Client:
    """A thin wrapper over the generated stub; every call takes a timeout in seconds."""

    def __init__(self, server, stub_dir):
        import grpc
        self.grpc = grpc
        self.pb, pb_grpc = load_stubs(stub_dir)
        # Loopback traffic must not go through $http_proxy (gRPC honours it).
        loopback = server.rsplit(":", 1)[0] in ("127.0.0.1", "localhost", "[::1]")
        options = [("grpc.enable_http_proxy", 0)] if loopback else []
        self.channel = grpc.insecure_channel(server, options=options)
        self.stub = pb_grpc.InferenceStub(self.channel)

    def health(self, service="", timeout=5.0):
        """grpc.health.v1 Check without health stubs: request {service}, reply {status}."""
        call = self.channel.unary_unary("/grpc.health.v1.Health/Check",
                                        request_serializer=lambda b: b,
                                        response_deserializer=lambda b: b)
        svc = service.encode()
        reply = call((b"\x0a" + bytes([len(svc)]) + svc) if svc else b"", timeout=timeout)
        # 0x08 <status>: 1 SERVING, 2 NOT_SERVING (absent field = 0 UNKNOWN).
        return {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}.get(
            reply[1] if len(reply) >= 2 and reply[0] == 0x08 else 0, "UNKNOWN")

    def wait_serving(self, timeout=60.0):
        import time
        deadline = time.time() + timeout
        while True:
            try:
                if self.health(timeout=2.0) == "SERVING":
                    return
            except self.grpc.RpcError:
                pass
            if time.time() > deadline:
                raise RuntimeError("server not SERVING after %.0f s" % timeout)
            time.sleep(0.2)

    def list_services(self, timeout=5.0):
        """Server reflection (grpc.reflection.v1alpha): the names of the served services."""
        call = self.channel.stream_stream(
            "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
            request_serializer=lambda b: b, response_deserializer=lambda b: b)
        # ServerReflectionRequest.list_services (field 7, string) = "".
        replies = list(call(iter([b"\x3a\x00"]), timeout=timeout))
        # The reply's list_services_response (field 6) holds ServiceResponse{name = 1}; the
        # names are the printable runs, enough for a check without reflection stubs.
        names = []
        for reply in replies:
            names += [n.decode() for n in _strings(reply)]
        return names

    def info(self, timeout=10.0):
        return self.stub.GetModelInfo(self.pb.GetModelInfoRequest(), timeout=timeout)

    def generate(self, text=None, token_ids=None, max_tokens=16, temperature=0.0, seed=None,
                 stop=(), timeout=120.0):
        """Returns (token_ids, text, final, n_chunks)."""
        req = self.pb.GenerateRequest()
        if text is not None:
            req.text = text
        if token_ids is not None:
            req.token_ids.ids.extend(token_ids)
        req.sampling.temperature = temperature
        if seed is not None:
            req.sampling.seed = seed
        req.stop.max_tokens = max_tokens
        req.stop.stop.extend(stop)
        ids, pieces, final, chunks = [], [], None, 0
        for resp in self.stub.Generate(req, timeout=timeout):
            if resp.HasField("chunk"):
                chunks += 1
                ids += list(resp.chunk.token_ids)
                pieces.append(resp.chunk.text)
            else:
                final = resp.final
        return ids, "".join(pieces), final, chunks

    def chat(self, messages, max_tokens=64, temperature=0.0, include_analysis=True,
             timeout=120.0):
        """messages: [(role, content)], role in system/developer/user/assistant.
        Returns (events, final) with events = [(kind, channel, text_or_call)]."""
        roles = {"system": self.pb.ROLE_SYSTEM, "developer": self.pb.ROLE_DEVELOPER,
                 "user": self.pb.ROLE_USER, "assistant": self.pb.ROLE_ASSISTANT}
        req = self.pb.ChatRequest(include_analysis=include_analysis)
        for role, content in messages:
            req.messages.add(role=roles[role], content=content)
        req.sampling.temperature = temperature
        req.stop.max_tokens = max_tokens
        events, final = [], None
        for resp in self.stub.Chat(req, timeout=timeout):
            kind = resp.WhichOneof("event")
            if kind == "delta":
                events.append(("delta", self.pb.Channel.Name(resp.delta.channel), resp.delta.text))
            elif kind == "tool_call":
                events.append(("tool_call", "", (resp.tool_call.name,
                                                 resp.tool_call.arguments_json)))
            else:
                final = resp.final
        return events, final


def _strings(data):
    """Printable ASCII runs of at least 3 bytes in a protobuf message."""
    out, cur = [], bytearray()
    for b in data:
        if 32 < b < 127:
            cur.append(b)
        else:
            if len(cur) >= 3:
                out.append(bytes(cur))
            cur = bytearray()
    if len(cur) >= 3:
        out.append(bytes(cur))
    return out


def selftest(client):
    """Generate, Chat, Tokenize/Detokenize, validation, health and reflection. Raises on failure."""
    pb, grpc = client.pb, client.grpc
    checks = []

    def check(cond, what):
        if not cond:
            raise AssertionError(what)
        checks.append(what)

    assert client.health() == "SERVING"
    services = client.list_services()
    check("gptoss.v1.Inference" in services, "reflection lists gptoss.v1.Inference")
    check("gptoss.v1.Coordinator" not in services,
          "the public port does not serve the internal plane (gptoss.v1.Coordinator)")
    info = client.info()
    check(info.vocab_size == 201088 and info.context_length > 0, "GetModelInfo")

    ids = client.stub.Tokenize(pb.TokenizeRequest(text="Hello, world!"), timeout=10).token_ids
    text = client.stub.Detokenize(pb.DetokenizeRequest(token_ids=ids), timeout=10).text
    check(len(ids) > 0 and text == "Hello, world!", "Tokenize/Detokenize round trip")

    ids, text, final, chunks = client.generate(text="The quick brown fox", max_tokens=6)
    check(final is not None and chunks >= 1, "Generate streams chunks then a final message")
    check(final.usage.completion_tokens == len(ids), "Generate usage counts the streamed tokens")
    check(final.finish_reason in (pb.FINISH_REASON_LENGTH, pb.FINISH_REASON_STOP),
          "Generate finish reason")
    again = client.generate(text="The quick brown fox", max_tokens=6)
    check(again[0] == ids, "greedy Generate is repeatable")

    events, final = client.chat([("user", "What is 2 + 2?")], max_tokens=8)
    check(final is not None and final.usage.prompt_tokens > 0, "Chat ends with a final message")
    check(final.usage.completion_tokens <= 8, "Chat honours max_tokens")

    try:
        req = pb.GenerateRequest(text="x")
        req.sampling.top_p = 1.5
        list(client.stub.Generate(req, timeout=10))
        check(False, "top_p 1.5 is rejected")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.INVALID_ARGUMENT and "sampling.top_p" in e.details(),
              "INVALID_ARGUMENT names sampling.top_p")
    return checks


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", default="127.0.0.1:50051")
    ap.add_argument("--stub-dir", default=None,
                    help="where generated stubs go (default: a temporary directory)")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("info")
    sub.add_parser("health")
    sub.add_parser("selftest")
    g = sub.add_parser("generate")
    g.add_argument("--text", required=True)
    g.add_argument("--max-tokens", type=int, default=16)
    g.add_argument("--temperature", type=float, default=0.0)
    c = sub.add_parser("chat")
    c.add_argument("--message", required=True)
    c.add_argument("--max-tokens", type=int, default=64)
    c.add_argument("--temperature", type=float, default=0.0)
    args = ap.parse_args()

    stub_dir = args.stub_dir or tempfile.mkdtemp(prefix="gptoss_stubs_")
    client = Client(args.server, stub_dir)
    if args.cmd == "info":
        print(client.info())
    elif args.cmd == "health":
        print(client.health())
    elif args.cmd == "generate":
        ids, text, final, _ = client.generate(text=args.text, max_tokens=args.max_tokens,
                                              temperature=args.temperature)
        print(text)
        print("ids:", ids)
        print(final)
    elif args.cmd == "chat":
        events, final = client.chat([("user", args.message)], max_tokens=args.max_tokens,
                                    temperature=args.temperature)
        for kind, channel, payload in events:
            print(kind, channel, payload)
        print(final)
    elif args.cmd == "selftest":
        for what in selftest(client):
            print("ok:", what)
    return 0


if __name__ == "__main__":
    sys.exit(main())
