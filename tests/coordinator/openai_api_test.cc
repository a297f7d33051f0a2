// The OpenAI-compatible HTTP API without a network or a model: request parsing (every field and
// its errors), and whole requests through OpenAiApi::Handle against a real EngineLoop whose
// step runner plays a scripted assistant turn (real o200k_harmony tokens), answered into a
// recording HttpResponder. The same endpoints against the real toy model and the official
// openai client: tests/e2e/openai_api_test.py.
#include <condition_variable>
#include <mutex>

#include "absl/strings/str_split.h"
#include "coordinator/openai/harmony_request.h"
#include "coordinator/openai/completions_call.h"
#include "coordinator/openai/openai_api.h"
#include "coordinator/serving_metrics.h"
#include "tests/metrics_test_util.h"
#include "coordinator/tokenizer/harmony_tokens.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace gptoss::openai {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace h = harmony;

Json P(const std::string& text) { return Json::parse(text); }

absl::Status ChatError(const std::string& body) {
  return ParseChatCompletionRequest(P(body)).status();
}

TEST(OpenAiRequestTest, ChatMessagesBecomeHarmonyMessages) {
  absl::StatusOr<HarmonyRequest> r = ParseChatCompletionRequest(P(R"({
    "model": "m", "temperature": 0, "seed": 7, "max_completion_tokens": 9, "stop": "END",
    "reasoning_effort": "high", "logprobs": true, "top_logprobs": 3,
    "messages": [
      {"role": "system", "content": "Be brief."},
      {"role": "developer", "content": [{"type": "text", "text": "Use tools."}]},
      {"role": "user", "content": "Weather?"},
      {"role": "assistant", "reasoning_content": "Call it.", "content": "Checking.",
       "tool_calls": [{"id": "c1", "type": "function",
                       "function": {"name": "get_weather", "arguments": "{\"city\":\"X\"}"}}]},
      {"role": "tool", "tool_call_id": "c1", "content": "{\"t\": 1}"}],
    "tools": [{"type": "function", "function": {"name": "get_weather",
               "parameters": {"type": "object"}}}]})"));
  ASSERT_TRUE(r.ok()) << r.status();
  const v1::ChatRequest& c = r->chat;
  ASSERT_EQ(c.messages_size(), 6);
  EXPECT_EQ(c.messages(0).role(), v1::ROLE_DEVELOPER);
  EXPECT_EQ(c.messages(0).content(), "Be brief.\n\nUse tools.");
  EXPECT_EQ(c.messages(1).role(), v1::ROLE_USER);
  EXPECT_EQ(c.messages(2).channel(), v1::CHANNEL_ANALYSIS);
  EXPECT_EQ(c.messages(2).content(), "Call it.");
  EXPECT_EQ(c.messages(3).channel(), v1::CHANNEL_COMMENTARY);  // a preamble before the call
  EXPECT_EQ(c.messages(3).recipient(), "");
  EXPECT_EQ(c.messages(4).recipient(), "functions.get_weather");
  EXPECT_EQ(c.messages(4).content_type(), "<|constrain|>json");
  EXPECT_EQ(c.messages(4).content(), "{\"city\":\"X\"}");
  EXPECT_EQ(c.messages(5).role(), v1::ROLE_TOOL);
  EXPECT_EQ(c.messages(5).name(), "functions.get_weather");
  EXPECT_TRUE(c.include_analysis());
  EXPECT_EQ(c.reasoning_effort(), v1::REASONING_EFFORT_HIGH);
  EXPECT_EQ(c.sampling().temperature(), 0.0f);
  EXPECT_EQ(c.sampling().seed(), 7u);
  EXPECT_EQ(c.stop().max_tokens(), 9u);
  EXPECT_EQ(c.stop().stop(0), "END");
  EXPECT_TRUE(c.logprobs().enabled());
  EXPECT_EQ(c.logprobs().top_logprobs(), 3u);
  ASSERT_EQ(c.tools_size(), 1);
  EXPECT_EQ(c.tools(0).parameters_json(), "{\"type\":\"object\"}");
}

TEST(OpenAiRequestTest, ToolChoiceModes) {
  const std::string base =
      R"("messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function",
         "function": {"name": "f"}}])";
  auto parse = [&](const std::string& choice) {
    return ParseChatCompletionRequest(P("{" + base + ", \"tool_choice\": " + choice + "}"));
  };
  EXPECT_EQ(parse("\"auto\"")->tool_choice.mode, ToolChoice::Mode::kAuto);
  absl::StatusOr<HarmonyRequest> none = parse("\"none\"");
  EXPECT_EQ(none->tool_choice.mode, ToolChoice::Mode::kNone);
  EXPECT_EQ(none->chat.tools_size(), 0);  // not rendered: the model cannot call them
  EXPECT_EQ(parse("\"required\"")->tool_choice.mode, ToolChoice::Mode::kRequired);
  absl::StatusOr<HarmonyRequest> named = parse(R"({"type": "function", "function": {"name": "f"}})");
  EXPECT_EQ(named->tool_choice.mode, ToolChoice::Mode::kNamed);
  EXPECT_EQ(named->tool_choice.name, "f");
  EXPECT_THAT(parse(R"({"type": "function", "function": {"name": "g"}})").status().message(),
              HasSubstr("tool_choice: no tool named 'g'"));
  EXPECT_THAT(parse("\"sometimes\"").status().message(), HasSubstr("tool_choice"));

  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = Tokenizer::Load("");
  ASSERT_TRUE(tokenizer.ok());
  std::vector<int> prefill = ToolChoicePrefill(named->tool_choice, **tokenizer);
  ASSERT_FALSE(prefill.empty());
  EXPECT_EQ(prefill[0], h::kChannelToken);
  std::vector<int> rest(prefill.begin() + 1, prefill.end());
  EXPECT_EQ(*(*tokenizer)->Decode(rest), "commentary to=functions.f");
  EXPECT_TRUE(ToolChoicePrefill(parse("\"auto\"")->tool_choice, **tokenizer).empty());
}

TEST(OpenAiRequestTest, UnsupportedAndMalformedFieldsNameTheParameter) {
  const std::string m = R"("messages": [{"role": "user", "content": "x"}])";
  struct Case {
    std::string extra, param;
  };
  for (const Case& c : std::vector<Case>{
           {R"("n": 2)", "n"},
           {R"("response_format": {"type": "json_schema"})", "response_format"},
           {R"("logit_bias": {"1": 5})", "logit_bias"},
           {R"("frobnicate": 1)", "frobnicate"},
           {R"("temperature": "hot")", "temperature"},
           {R"("stop": [1])", "stop[0]"},
           {R"("top_logprobs": 3)", "top_logprobs"},
           {R"("top_logprobs": 30, "logprobs": true)", "top_logprobs"},
           {R"("reasoning_effort": "extreme")", "reasoning_effort"},
           {R"("max_tokens": 0)", "max_tokens"},
           {R"("tools": [{"type": "web_search"}])", "tools[0].type"},
           {R"("stream": "yes")", "stream"}}) {
    absl::Status st = ChatError("{" + m + ", " + c.extra + "}");
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << c.extra;
    EXPECT_EQ(ErrorJson(st)["error"]["param"], c.param) << st;
  }
  EXPECT_THAT(ChatError(R"({"messages": []})").message(), HasSubstr("messages"));
  EXPECT_THAT(ChatError(R"({"messages": [{"role": "wizard", "content": "x"}]})").message(),
              HasSubstr("messages[0].role"));
  // A late system or developer message stays in place as a developer message.
  absl::StatusOr<HarmonyRequest> late = ParseChatCompletionRequest(P(R"({"messages": [
      {"role": "user", "content": "x"}, {"role": "system", "content": "late"}]})"));
  ASSERT_TRUE(late.ok()) << late.status();
  ASSERT_EQ(late->chat.messages_size(), 2);
  EXPECT_EQ(late->chat.messages(1).role(), v1::ROLE_DEVELOPER);
  EXPECT_EQ(late->chat.messages(1).content(), "late");
  EXPECT_THAT(ChatError(R"({"messages": [{"role": "tool", "tool_call_id": "nope",
                                          "content": "x"}]})").message(),
              HasSubstr("messages[0].tool_call_id: no earlier tool call"));
  EXPECT_THAT(ChatError(R"({"messages": [{"role": "user", "content": [{"type": "image_url",
                            "image_url": {"url": "x"}}]}]})").message(),
              HasSubstr("messages[0].content[0].type"));
  EXPECT_THAT(ParseBody("{\"a\": [[[[").status().message(), HasSubstr("request body"));
  EXPECT_THAT(ParseBody("[1]").status().message(), HasSubstr("not a JSON object"));
  EXPECT_THAT(ParseBody(std::string(200000, '[')).status().message(), HasSubstr("request body"));
  // Keys per object are bounded before parsing (the ordered map is quadratic in them).
  std::string many = "{";
  for (int i = 0; i < 2000; ++i) many += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":0";
  EXPECT_THAT(ParseBody(many + "}").status().message(), HasSubstr("more than 1024 keys"));
  EXPECT_TRUE(ParseBody(R"({"a": "{:::::}", "b": [":", ":"]})").ok());  // colons in strings
  EXPECT_THAT(ChatError(R"({"messages": [{"role": "user", "content": "x"}],
                           "metadata": {"a": [1, 2, 3]}})").message(),
              HasSubstr("metadata"));
}

TEST(OpenAiRequestTest, ResponsesInputItems) {
  absl::StatusOr<HarmonyRequest> r = ParseResponsesRequest(P(R"({
    "model": "m", "instructions": "Be brief.", "reasoning": {"effort": "low"},
    "max_output_tokens": 50, "store": true, "stream": true,
    "input": [{"role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
              {"type": "reasoning", "content": [{"type": "reasoning_text", "text": "Call."}]},
              {"type": "function_call", "call_id": "c9", "name": "f", "arguments": "{}"},
              {"type": "function_call_output", "call_id": "c9", "output": "sunny"}],
    "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}]})"));
  ASSERT_TRUE(r.ok()) << r.status();
  const v1::ChatRequest& c = r->chat;
  ASSERT_EQ(c.messages_size(), 5);
  EXPECT_EQ(c.messages(0).content(), "Be brief.");
  EXPECT_EQ(c.messages(1).content(), "Weather?");
  EXPECT_EQ(c.messages(2).channel(), v1::CHANNEL_ANALYSIS);
  EXPECT_EQ(c.messages(3).recipient(), "functions.f");
  EXPECT_EQ(c.messages(4).name(), "functions.f");
  EXPECT_EQ(c.messages(4).content(), "sunny");
  EXPECT_EQ(c.reasoning_effort(), v1::REASONING_EFFORT_LOW);
  EXPECT_EQ(c.stop().max_tokens(), 50u);
  EXPECT_TRUE(r->stream);
  for (const char* bad : {R"({"input": "x", "previous_response_id": "resp_1"})",
                          R"({"input": "x", "background": true})",
                          R"({"input": "x", "text": {"format": {"type": "json_schema"}}})",
                          R"({"input": [{"type": "computer_call"}]})", R"({"model": "m"})"}) {
    absl::Status st = ParseResponsesRequest(P(bad)).status();
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(ErrorJson(ParseResponsesRequest(P(R"({"input": "x", "previous_response_id": "r"})"))
                          .status())["error"]["param"],
            "previous_response_id");
}

TEST(OpenAiRequestTest, CompletionPrompts) {
  absl::StatusOr<CompletionRequest> text = ParseCompletionRequest(P(R"({"prompt": "Hi"})"));
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(text->generate.text(), "Hi");
  EXPECT_EQ(text->generate.stop().max_tokens(), 16u);  // OpenAI's default
  absl::StatusOr<CompletionRequest> ids =
      ParseCompletionRequest(P(R"({"prompt": [[1, 2, 3]], "logprobs": 2, "max_tokens": 4})"));
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(ids->generate.token_ids().ids_size(), 3);
  EXPECT_TRUE(ids->generate.logprobs().enabled());
  EXPECT_EQ(ids->generate.logprobs().top_logprobs(), 2u);
  for (const char* bad : {R"({"prompt": ["a", "b"]})", R"({"prompt": 5})", R"({"prompt": "a", "echo": true})",
                          R"({"prompt": "a", "best_of": 3})", R"({"prompt": "a", "logprobs": 9})",
                          R"({"prompt": [1, "x"]})", R"({})"})
    EXPECT_EQ(ParseCompletionRequest(P(bad)).status().code(), absl::StatusCode::kInvalidArgument)
        << bad;
}

TEST(OpenAiRequestTest, StatusMappingAndParamRenames) {
  EXPECT_EQ(HttpStatusOf(absl::InvalidArgumentError("x")), 400u);
  EXPECT_EQ(HttpStatusOf(absl::UnauthenticatedError("x")), 401u);
  EXPECT_EQ(HttpStatusOf(absl::NotFoundError("x")), 404u);
  EXPECT_EQ(HttpStatusOf(absl::ResourceExhaustedError("x")), 429u);
  EXPECT_EQ(HttpStatusOf(absl::UnavailableError("x")), 503u);
  EXPECT_EQ(HttpStatusOf(absl::InternalError("x")), 500u);
  EXPECT_EQ(ToOpenAiParams(absl::InvalidArgumentError("sampling.top_p: 2 not in (0, 1]"),
                           "max_tokens")
                .message(),
            "top_p: 2 not in (0, 1]");
  EXPECT_EQ(ToOpenAiParams(absl::InvalidArgumentError("stop.max_tokens: too many"),
                           "max_completion_tokens")
                .message(),
            "max_completion_tokens: too many");
  EXPECT_EQ(ErrorJson(absl::UnavailableError("no workers"))["error"]["param"], nullptr);
}

// ---------------------------------------------------------------------------------------------
// Whole requests against a scripted engine.

// Every sequence samples `script` in order (the request's stop ids end it).
class ScriptRunner : public SyncStepRunner {
 public:
  explicit ScriptRunner(std::vector<int> script) : script_(std::move(script)) {}
  bool ready() const override { return true; }
  absl::StatusOr<StepResult> Run(const StepPlan& plan) override {
    StepResult r;
    r.step_id = plan.step_id;
    for (const SequenceStep& s : plan.sequences) {
      if (!s.sample) continue;
      SequenceResult sr;
      sr.sequence_id = s.sequence_id;
      sr.token_id = script_[std::min<size_t>(s.sample_index, script_.size() - 1)];
      sr.logprob = -0.25f;
      r.results.push_back(sr);
    }
    return r;
  }

 private:
  const std::vector<int> script_;
};

// Records what a request is answered with.
class RecordingResponder : public HttpResponder {
 public:
  void Respond(HttpServer::Response response) override {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = response.result_int();
    body_ = response.body();
    done_ = true;
    cv_.notify_all();
  }
  void StartStream(unsigned status, const std::string& content_type) override {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = status;
    content_type_ = content_type;
  }
  void Write(std::string data) override {
    std::lock_guard<std::mutex> lock(mu_);
    body_ += data;
  }
  void Finish() override {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
    cv_.notify_all();
  }
  void OnClientGone(std::function<void()> callback) override {
    std::lock_guard<std::mutex> lock(mu_);
    gone_ = std::move(callback);
  }
  // Waits for the whole answer.
  std::pair<unsigned, std::string> Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [&] { return done_; });
    return {done_ ? status_ : 0, body_};
  }
  void Disconnect() {
    std::function<void()> gone;
    {
      std::lock_guard<std::mutex> lock(mu_);
      gone = gone_;
    }
    if (gone) gone();
  }
  std::string content_type() {
    std::lock_guard<std::mutex> lock(mu_);
    return content_type_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  unsigned status_ = 0;
  std::string body_, content_type_;
  bool done_ = false;
  std::function<void()> gone_;
};

// The "data:" payloads of an SSE body, parsed ("[DONE]" as the string).
std::vector<Json> Events(const std::string& body) {
  std::vector<Json> out;
  for (absl::string_view block : absl::StrSplit(body, "\n\n", absl::SkipEmpty())) {
    for (absl::string_view line : absl::StrSplit(block, '\n')) {
      if (!absl::StartsWith(line, "data: ")) continue;
      line.remove_prefix(6);
      out.push_back(line == "[DONE]" ? Json("[DONE]") : Json::parse(std::string(line)));
    }
  }
  return out;
}

class OpenAiApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { tokenizer_ = Tokenizer::Load("").value().release(); }
  static void TearDownTestSuite() { delete tokenizer_; }

  void Text(std::vector<int>& ids, const std::string& text) {
    std::vector<int> t = tokenizer_->Encode(text);
    ids.insert(ids.end(), t.begin(), t.end());
  }
  // analysis "Thinking it over.", then a final answer (or a call to get_weather).
  std::vector<int> Script(bool tool_call) {
    std::vector<int> ids = {h::kChannelToken};
    Text(ids, "analysis");
    ids.push_back(h::kMessageToken);
    Text(ids, "Thinking it over.");
    ids.push_back(h::kEndToken);
    ids.push_back(h::kStartToken);
    Text(ids, "assistant");
    ids.push_back(h::kChannelToken);
    if (tool_call) {
      Text(ids, "commentary to=functions.get_weather ");
      ids.push_back(h::kConstrainToken);
      Text(ids, "json");
      ids.push_back(h::kMessageToken);
      Text(ids, "{\"city\": \"San Francisco\"}");
      ids.push_back(h::kCallToken);
    } else {
      Text(ids, "final");
      ids.push_back(h::kMessageToken);
      Text(ids, "The answer is 42.");
      ids.push_back(h::kReturnToken);
    }
    return ids;
  }

  void Serve(std::vector<int> script, const std::string& keys = "") {
    runner_ = std::make_unique<ScriptRunner>(std::move(script));
    SchedulerConfig sc;
    sc.kv.block_size = 16;
    sc.kv.num_full_blocks = 256;
    sc.kv.num_sliding_blocks = 0;
    sc.kv.has_sliding_layers = false;
    sc.vocab_size = 201088;
    sc.max_context_len = 4096;
    sc.max_num_seqs = 8;
    sc.max_batch_tokens = 4096;
    sc.max_waiting = 8;
    engine_ = std::shared_ptr<EngineLoop>(EngineLoop::Create(sc, runner_.get()).value().release());
    engine_->Start();
    renderer_.emplace(harmony::HarmonyRenderer::Create(tokenizer_).value());
    ModelConfig config;
    config.vocab_size = 201088;
    config.max_position_embeddings = 4096;
    registry_ = std::make_shared<prometheus::Registry>();
    metrics_ = std::make_unique<ServingMetrics>(registry_);
    service_ = std::make_unique<InferenceService>(config, "toy", tokenizer_, &*renderer_, nullptr,
                                                  ApiKeys(), metrics_.get());
    service_->SetEngine(engine_, InferenceService::DefaultLimits(config));
    ApiKeys api_keys;
    if (!keys.empty()) api_keys = ApiKeys::FromText(keys, "keys").value();
    api_ = std::make_unique<OpenAiApi>(service_.get(), "toy", api_keys, nullptr,
                                       [] { return true; });
  }
  void TearDown() override {
    if (engine_) engine_->Stop();
  }

  std::pair<unsigned, std::string> Call(const std::string& method, const std::string& target,
                                        const std::string& body,
                                        const std::string& authorization = "",
                                        std::shared_ptr<RecordingResponder> r = nullptr) {
    if (!r) r = std::make_shared<RecordingResponder>();
    HttpServer::Request request;
    request.method_string(method);
    request.target(target);
    request.version(11);
    if (!authorization.empty()) request.set(boost::beast::http::field::authorization, authorization);
    request.body() = body;
    api_->Handle(std::move(request), r);
    return r->Wait();
  }

  static Tokenizer* tokenizer_;
  std::unique_ptr<ScriptRunner> runner_;
  std::shared_ptr<EngineLoop> engine_;
  std::optional<harmony::HarmonyRenderer> renderer_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<ServingMetrics> metrics_;
  std::unique_ptr<InferenceService> service_;
  std::unique_ptr<OpenAiApi> api_;
};
Tokenizer* OpenAiApiTest::tokenizer_ = nullptr;

const char* kAsk = R"({"model": "toy", "messages": [{"role": "user", "content": "Well?"}]})";
const char* kTools =
    R"("tools": [{"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}])";

TEST_F(OpenAiApiTest, ChatCompletionSeparatesReasoningFromContent) {
  Serve(Script(false));
  auto [status, body] = Call("POST", "/v1/chat/completions",
                             std::string(kAsk).substr(0, strlen(kAsk) - 1) +
                                 R"(, "logprobs": true})");
  ASSERT_EQ(status, 200u) << body;
  const Json r = Json::parse(body);
  EXPECT_EQ(r["object"], "chat.completion");
  const Json& m = r["choices"][0]["message"];
  EXPECT_EQ(m["content"], "The answer is 42.");
  EXPECT_EQ(m["reasoning_content"], "Thinking it over.");
  EXPECT_FALSE(m.contains("tool_calls"));
  EXPECT_EQ(r["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(r["usage"]["completion_tokens"], Script(false).size());
  // Logprobs cover exactly the content tokens.
  std::string joined;
  for (const Json& e : r["choices"][0]["logprobs"]["content"]) joined += e["token"];
  EXPECT_EQ(joined, "The answer is 42.");
  EXPECT_THAT(body, Not(HasSubstr("<|")));
}

TEST_F(OpenAiApiTest, StreamedChatEqualsTheWholeAnswer) {
  Serve(Script(false));
  auto [status, body] = Call(
      "POST", "/v1/chat/completions",
      R"({"messages": [{"role": "user", "content": "Well?"}], "stream": true,
          "stream_options": {"include_usage": true}})");
  ASSERT_EQ(status, 200u);
  std::vector<Json> events = Events(body);
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events.back(), "[DONE]");
  EXPECT_EQ(events[0]["choices"][0]["delta"]["role"], "assistant");
  std::string content, reasoning;
  int finishes = 0;
  for (size_t i = 0; i + 2 < events.size(); ++i) {
    const Json& delta = events[i]["choices"][0]["delta"];
    if (delta.contains("content")) content += delta["content"];
    if (delta.contains("reasoning_content")) reasoning += delta["reasoning_content"];
    if (!events[i]["choices"][0]["finish_reason"].is_null()) ++finishes;
    EXPECT_TRUE(events[i]["usage"].is_null());
  }
  EXPECT_EQ(content, "The answer is 42.");
  EXPECT_EQ(reasoning, "Thinking it over.");
  EXPECT_EQ(finishes, 1);
  const Json& usage = events[events.size() - 2];
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["completion_tokens"], Script(false).size());
  EXPECT_THAT(body, Not(HasSubstr("<|")));
}

TEST_F(OpenAiApiTest, ToolCallsWholeAndStreamed) {
  Serve(Script(true));
  const std::string ask = std::string(kAsk).substr(0, strlen(kAsk) - 1) + ", " + kTools;
  auto [status, body] = Call("POST", "/v1/chat/completions", ask + "}");
  ASSERT_EQ(status, 200u) << body;
  const Json r = Json::parse(body);
  EXPECT_EQ(r["choices"][0]["finish_reason"], "tool_calls");
  const Json& m = r["choices"][0]["message"];
  EXPECT_TRUE(m["content"].is_null());
  ASSERT_EQ(m["tool_calls"].size(), 1u);
  EXPECT_EQ(m["tool_calls"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(m["tool_calls"][0]["function"]["arguments"], "{\"city\": \"San Francisco\"}");
  EXPECT_THAT(m["tool_calls"][0]["id"].get<std::string>(), ::testing::StartsWith("call_"));

  auto [sstatus, sbody] = Call("POST", "/v1/chat/completions", ask + R"(, "stream": true})");
  ASSERT_EQ(sstatus, 200u);
  std::string arguments, name, id;
  std::string finish;
  for (const Json& e : Events(sbody)) {
    if (e == "[DONE]") continue;
    const Json& choice = e["choices"][0];
    if (!choice["finish_reason"].is_null()) finish = choice["finish_reason"];
    if (!choice["delta"].contains("tool_calls")) continue;
    const Json& call = choice["delta"]["tool_calls"][0];
    EXPECT_EQ(call["index"], 0);
    if (call.contains("id")) {
      EXPECT_TRUE(id.empty());  // the id comes once, with the name
      id = call["id"];
      name = call["function"]["name"];
    }
    arguments += call["function"]["arguments"].get<std::string>();
  }
  EXPECT_EQ(name, "get_weather");
  EXPECT_EQ(arguments, "{\"city\": \"San Francisco\"}");
  EXPECT_EQ(finish, "tool_calls");
  EXPECT_THAT(body + sbody, Not(HasSubstr("<|")));
}

TEST_F(OpenAiApiTest, ResponsesItemsAndEvents) {
  Serve(Script(true));
  const std::string ask =
      R"({"input": "Weather?", "tools": [{"type": "function", "name": "get_weather",
          "parameters": {"type": "object"}}])";
  auto [status, body] = Call("POST", "/v1/responses", ask + "}");
  ASSERT_EQ(status, 200u) << body;
  const Json r = Json::parse(body);
  EXPECT_EQ(r["object"], "response");
  EXPECT_EQ(r["status"], "completed");
  ASSERT_EQ(r["output"].size(), 2u);
  EXPECT_EQ(r["output"][0]["type"], "reasoning");
  EXPECT_EQ(r["output"][0]["content"][0]["text"], "Thinking it over.");
  EXPECT_EQ(r["output"][1]["type"], "function_call");
  EXPECT_EQ(r["output"][1]["name"], "get_weather");
  EXPECT_EQ(r["output"][1]["arguments"], "{\"city\": \"San Francisco\"}");
  EXPECT_EQ(r["usage"]["output_tokens"], Script(true).size());

  auto [sstatus, sbody] = Call("POST", "/v1/responses", ask + R"(, "stream": true})");
  ASSERT_EQ(sstatus, 200u);
  std::vector<Json> events = Events(sbody);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front()["type"], "response.created");
  EXPECT_EQ(events.back()["type"], "response.completed");
  std::string arguments;
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i]["sequence_number"], i);
    if (events[i]["type"] == "response.function_call_arguments.delta")
      arguments += events[i]["delta"];
  }
  EXPECT_EQ(arguments, "{\"city\": \"San Francisco\"}");
  const Json& streamed = events.back()["response"]["output"];
  ASSERT_EQ(streamed.size(), 2u);
  EXPECT_EQ(streamed[0]["type"], "reasoning");
  EXPECT_EQ(streamed[1]["arguments"], "{\"city\": \"San Francisco\"}");
  EXPECT_THAT(sbody, HasSubstr("event: response.output_item.added\n"));
  EXPECT_THAT(body + sbody, Not(HasSubstr("<|")));
}

TEST_F(OpenAiApiTest, CompletionsLengthAndSpecialTokens) {
  Serve(Script(false));
  auto [status, body] =
      Call("POST", "/v1/completions", R"({"prompt": "Hi", "max_tokens": 2, "logprobs": 1})");
  ASSERT_EQ(status, 200u) << body;
  const Json r = Json::parse(body);
  EXPECT_EQ(r["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(r["choices"][0]["text"], "analysis");  // <|channel|> adds no text by default
  EXPECT_EQ(r["choices"][0]["logprobs"]["tokens"].size(), 2u);
  EXPECT_EQ(r["usage"]["completion_tokens"], 2);
  auto [s2, raw] = Call("POST", "/v1/completions",
                        R"({"prompt": "Hi", "max_tokens": 2, "skip_special_tokens": false})");
  EXPECT_EQ(Json::parse(raw)["choices"][0]["text"], "<|channel|>analysis");
}

TEST_F(OpenAiApiTest, ErrorsAreOpenAiShapedWithTheirStatus) {
  Serve(Script(false), "0123456789abcdef-key\n");
  EXPECT_EQ(Call("POST", "/v1/chat/completions", kAsk).first, 401u);
  EXPECT_EQ(Call("POST", "/v1/chat/completions", kAsk, "Bearer wrong-key-0123456789").first, 401u);
  const std::string auth = "Bearer 0123456789abcdef-key";
  EXPECT_EQ(Call("POST", "/v1/chat/completions", kAsk, auth).first, 200u);
  auto [model_status, model_body] = Call("POST", "/v1/chat/completions",
                                         R"({"model": "other", "messages": []})", auth);
  EXPECT_EQ(model_status, 404u);
  EXPECT_EQ(Json::parse(model_body)["error"]["code"], "model_not_found");
  EXPECT_EQ(Call("GET", "/v1/chat/completions", "", auth).first, 405u);
  EXPECT_EQ(Call("POST", "/v1/nothing", "{}", auth).first, 404u);
  EXPECT_EQ(Call("GET", "/v1/responses/resp_1", "", auth).first, 404u);
  auto [bad_status, bad_body] = Call("POST", "/v1/chat/completions", "{oops", auth);
  EXPECT_EQ(bad_status, 400u);
  EXPECT_EQ(Json::parse(bad_body)["error"]["type"], "invalid_request_error");
  auto [models_status, models] = Call("GET", "/v1/models", "", auth);
  EXPECT_EQ(models_status, 200u);
  EXPECT_EQ(Json::parse(models)["data"][0]["id"], "toy");
  EXPECT_EQ(Call("GET", "/health", "").first, 200u);  // open, like gRPC health
  // Every API call is counted once, by route and outcome, as the gRPC rpcs are.
  auto count = [&](const std::string& rpc, const std::string& code) {
    return gptoss::testing::Value(*registry_, "gptoss_requests_total",
                                  {{"rpc", rpc}, {"code", code}});
  };
  EXPECT_EQ(count("http:ChatCompletions", "OK"), 1);
  EXPECT_EQ(count("http:ChatCompletions", "UNAUTHENTICATED"), 2);
  EXPECT_EQ(count("http:ChatCompletions", "NOT_FOUND"), 1);
  EXPECT_EQ(count("http:ChatCompletions", "INVALID_ARGUMENT"), 2);  // 405 and the bad JSON
  EXPECT_EQ(count("http:Models", "OK"), 1);
}

TEST_F(OpenAiApiTest, AClientThatGoesAwayCancelsItsRequest) {
  // A script that never ends by itself: the request lives until cancelled.
  std::vector<int> forever = {h::kChannelToken};
  Text(forever, "analysis");
  forever.push_back(h::kMessageToken);
  Text(forever, " and");
  Serve(forever);
  auto r = std::make_shared<RecordingResponder>();
  HttpServer::Request request;
  request.method_string("POST");
  request.target("/v1/chat/completions");
  request.body() = R"({"messages": [{"role": "user", "content": "x"}], "stream": true})";
  api_->Handle(std::move(request), r);
  // Polled with generous bounds (10 s): a loaded CI machine must not fail a liveness check.
  for (int i = 0; i < 2000 && engine_->num_live() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(engine_->num_live(), 1);
  r->Disconnect();
  for (int i = 0; i < 2000 && engine_->num_live() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(engine_->num_live(), 0);
}

}  // namespace
}  // namespace gptoss::openai
