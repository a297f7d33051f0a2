// End to end over loopback with real processes: one coordinator + one CPU worker serving the
// tiny checkpoint, shared by the tests below (gtest runs them one after another).
#include <cmath>
#include <cstring>
#include <future>
#include <map>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_harness.h"

namespace gptoss::e2e {
namespace {

using ::testing::HasSubstr;

class ServingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto c = Cluster::Start("serving");
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = c->release();
    ASSERT_TRUE(cluster_->WaitServing().ok()) << cluster_->coordinator().Log();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(cluster_, nullptr); }

  v1::Inference::Stub& stub() { return cluster_->stub(); }

  std::string Detokenize(const std::vector<int32_t>& ids) {
    grpc::ClientContext ctx;
    v1::DetokenizeRequest req;
    req.mutable_token_ids()->Add(ids.begin(), ids.end());
    v1::DetokenizeResponse resp;
    EXPECT_TRUE(stub().Detokenize(&ctx, req, &resp).ok());
    return resp.text();
  }

  static Cluster* cluster_;
};
Cluster* ServingTest::cluster_ = nullptr;

// grpc.reflection.v1alpha list_services through a generic bidi call (no reflection stubs are
// installed by Debian); returns the raw reply bytes.
std::string ReflectionListServices(const std::shared_ptr<grpc::Channel>& channel) {
  class Reactor : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
   public:
    Reactor() {
      const std::string list_services("\x3a\x00", 2);  // field 7 (list_services) = ""
      grpc::Slice slice(list_services);
      request_ = grpc::ByteBuffer(&slice, 1);
    }
    void Start(grpc::GenericStub& stub, grpc::ClientContext* ctx) {
      stub.PrepareBidiStreamingCall(
          ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
          grpc::StubOptions(), this);
      StartWrite(&request_);
      StartRead(&reply_);
      StartCall();
    }
    void OnWriteDone(bool) override { StartWritesDone(); }
    void OnReadDone(bool ok) override {
      if (!ok) return;
      std::vector<grpc::Slice> slices;
      if (reply_.Dump(&slices).ok())
        for (auto& s : slices) bytes_.append(reinterpret_cast<const char*>(s.begin()), s.size());
      StartRead(&reply_);
    }
    void OnDone(const grpc::Status& status) override { done_.set_value(status); }
    std::string bytes_;
    std::promise<grpc::Status> done_;

   private:
    grpc::ByteBuffer request_, reply_;
  };
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  Reactor reactor;
  std::future<grpc::Status> done = reactor.done_.get_future();
  reactor.Start(stub, &ctx);
  grpc::Status status = done.get();
  EXPECT_TRUE(status.ok()) << status.error_message();
  return reactor.bytes_;
}

TEST_F(ServingTest, HealthAndReflection) {
  auto overall = cluster_->Health("");
  ASSERT_TRUE(overall.ok()) << overall.status();
  EXPECT_EQ(*overall, cli::HealthStatus::kServing);
  auto inference = cluster_->Health("gptoss.v1.Inference");
  ASSERT_TRUE(inference.ok()) << inference.status();
  EXPECT_EQ(*inference, cli::HealthStatus::kServing);

  const std::string services = ReflectionListServices(cluster_->channel());
  EXPECT_THAT(services, HasSubstr("gptoss.v1.Inference"));
  EXPECT_THAT(services, HasSubstr("grpc.health.v1.Health"));
}

TEST_F(ServingTest, ModelInfoTokenizeDetokenize) {
  grpc::ClientContext ctx;
  v1::ModelInfo info;
  ASSERT_TRUE(stub().GetModelInfo(&ctx, v1::GetModelInfoRequest(), &info).ok());
  EXPECT_EQ(info.vocab_size(), 201088u);
  EXPECT_EQ(info.context_length(), 4096u);
  EXPECT_EQ(info.backend(), "cpu");
  EXPECT_EQ(info.parallel().world_size(), 1u);
  ASSERT_EQ(info.parallel().workers_size(), 1);
  EXPECT_GT(info.kv_cache().num_full_blocks(), 0u);
  EXPECT_THAT(info.eos_token_ids(), ::testing::IsSupersetOf({200002, 200012, 199999}));

  grpc::ClientContext tctx;
  v1::TokenizeRequest treq;
  treq.set_text("<|start|>héllo wörld");
  treq.set_allow_special(true);
  v1::TokenizeResponse tresp;
  ASSERT_TRUE(stub().Tokenize(&tctx, treq, &tresp).ok());
  ASSERT_GE(tresp.token_ids_size(), 2);
  EXPECT_EQ(tresp.token_ids(0), 200006);  // <|start|>
  std::vector<int32_t> ids(tresp.token_ids().begin(), tresp.token_ids().end());
  EXPECT_EQ(Detokenize(ids), "<|start|>héllo wörld");

  grpc::ClientContext plain_ctx;
  treq.set_allow_special(false);
  ASSERT_TRUE(stub().Tokenize(&plain_ctx, treq, &tresp).ok());
  EXPECT_NE(tresp.token_ids(0), 200006);  // the literal is ordinary text

  grpc::ClientContext bad_ctx;
  v1::DetokenizeRequest bad;
  bad.add_token_ids(1);
  bad.add_token_ids(201088);
  v1::DetokenizeResponse bad_resp;
  grpc::Status st = stub().Detokenize(&bad_ctx, bad, &bad_resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("token_ids[1]"));
}

// 16 concurrent streams; each must equal the same request run alone (greedy), and each stream
// must be well formed: chunks, then exactly one final message, usage = streamed tokens, and the
// text the exact decoding of the (non-stop) tokens.
TEST_F(ServingTest, SixteenConcurrentStreamsMatchSoloRuns) {
  constexpr int kN = 16;
  std::vector<v1::GenerateRequest> requests;
  for (int i = 0; i < kN; ++i) {
    // Different prompt lengths and completion lengths, mixing text and token-id prompts.
    std::string text = absl::StrCat("Request ", i, ":");
    for (int k = 0; k < i % 5; ++k) text += " and then some more words";
    v1::GenerateRequest r = GreedyRequest(text, 4 + i % 5);
    if (i % 4 == 3) {
      r.mutable_token_ids()->add_ids(1000 + i);
      r.mutable_token_ids()->add_ids(2000 + 7 * i);
      r.mutable_token_ids()->add_ids(300 + i);
    }
    r.set_request_id(absl::StrCat("req-", i));
    requests.push_back(r);
  }
  std::vector<GenerateRun> solo;
  for (const auto& r : requests) {
    solo.push_back(RunGenerate(stub(), r));
    ASSERT_TRUE(solo.back().status.ok()) << solo.back().status.error_message();
  }
  std::vector<GenerateRun> together(kN);
  std::vector<std::thread> threads;
  for (int i = 0; i < kN; ++i)
    threads.emplace_back([&, i] { together[i] = RunGenerate(stub(), requests[i]); });
  for (auto& t : threads) t.join();

  for (int i = 0; i < kN; ++i) {
    SCOPED_TRACE(absl::StrCat("request ", i));
    const GenerateRun& run = together[i];
    ASSERT_TRUE(run.status.ok()) << run.status.error_message();
    ASSERT_TRUE(run.final.has_value());
    EXPECT_TRUE(run.final_was_last);
    EXPECT_GE(run.num_chunks, 1);
    EXPECT_EQ(run.token_ids, solo[i].token_ids);
    EXPECT_EQ(run.text, solo[i].text);
    EXPECT_EQ(run.final->usage().completion_tokens(), run.token_ids.size());
    EXPECT_GT(run.final->usage().prompt_tokens(), 0u);
    EXPECT_EQ(run.final->request_id(), absl::StrCat("req-", i));
    EXPECT_GE(run.final->total_time_s(), run.final->time_to_first_token_s());
    if (run.final->finish_reason() == v1::FINISH_REASON_LENGTH) {
      EXPECT_EQ(run.token_ids.size(), requests[i].stop().max_tokens());
      EXPECT_EQ(run.text, Detokenize(run.token_ids));
    } else {
      ASSERT_EQ(run.final->finish_reason(), v1::FINISH_REASON_STOP);
      std::vector<int32_t> text_ids(run.token_ids.begin(), run.token_ids.end() - 1);
      EXPECT_EQ(run.text, Detokenize(text_ids));  // the stop token adds no text
    }
  }
}

TEST_F(ServingTest, SeededSamplingIsReproducibleUnderBatching) {
  v1::GenerateRequest r = GreedyRequest("A seeded story:", 6);
  r.mutable_sampling()->set_temperature(0.9f);
  r.mutable_sampling()->set_top_p(0.95f);
  r.mutable_sampling()->set_seed(1234);
  GenerateRun alone = RunGenerate(stub(), r);
  ASSERT_TRUE(alone.status.ok()) << alone.status.error_message();
  EXPECT_EQ(alone.final->seed(), 1234u);
  std::vector<GenerateRun> runs(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) threads.emplace_back([&, i] { runs[i] = RunGenerate(stub(), r); });
  for (auto& t : threads) t.join();
  for (const GenerateRun& run : runs) EXPECT_EQ(run.token_ids, alone.token_ids);

  // Without a seed the server picks one and reports it; replaying with it gives the same tokens.
  r.mutable_sampling()->clear_seed();
  GenerateRun unseeded = RunGenerate(stub(), r);
  ASSERT_TRUE(unseeded.status.ok());
  r.mutable_sampling()->set_seed(unseeded.final->seed());
  EXPECT_EQ(RunGenerate(stub(), r).token_ids, unseeded.token_ids);
}

TEST_F(ServingTest, StopStringEndsTextBeforeTheMatch) {
  v1::GenerateRequest r = GreedyRequest("Tell me about the sea", 12);
  r.mutable_stop()->set_ignore_eos(true);
  GenerateRun full = RunGenerate(stub(), r);
  ASSERT_TRUE(full.status.ok());
  ASSERT_GE(full.text.size(), 6u) << "the tiny model's greedy text is too short to cut";
  // A stop string taken from the middle of the greedy text (3 bytes, on a UTF-8 boundary).
  size_t at = full.text.size() / 2;
  while (at > 0 && (static_cast<unsigned char>(full.text[at]) & 0xC0) == 0x80) --at;
  size_t end = at + 1;
  while (end < full.text.size() && end - at < 3) {
    ++end;
    while (end < full.text.size() && (static_cast<unsigned char>(full.text[end]) & 0xC0) == 0x80)
      ++end;
  }
  const std::string stop = full.text.substr(at, end - at);
  const size_t first = full.text.find(stop);
  r.mutable_stop()->add_stop(stop);
  GenerateRun cut = RunGenerate(stub(), r);
  ASSERT_TRUE(cut.status.ok());
  ASSERT_TRUE(cut.final.has_value());
  EXPECT_EQ(cut.final->finish_reason(), v1::FINISH_REASON_STOP);
  EXPECT_EQ(cut.final->stop_reason(), stop);
  EXPECT_EQ(cut.text, full.text.substr(0, first));
  EXPECT_LE(cut.token_ids.size(), full.token_ids.size());
}

TEST_F(ServingTest, LogprobsAccompanyEveryToken) {
  v1::GenerateRequest r = GreedyRequest("Logprobs please", 4);
  r.mutable_logprobs()->set_enabled(true);
  r.mutable_logprobs()->set_top_logprobs(3);
  GenerateRun run = RunGenerate(stub(), r);
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  ASSERT_EQ(run.logprobs.size(), run.token_ids.size());
  for (size_t i = 0; i < run.logprobs.size(); ++i) {
    const v1::TokenLogprob& lp = run.logprobs[i];
    EXPECT_EQ(lp.token_id(), run.token_ids[i]);
    EXPECT_LE(lp.logprob(), 0.0f);
    ASSERT_EQ(lp.top_logprobs_size(), 3);
    // Greedy: the sampled token is the most likely one.
    EXPECT_EQ(lp.top_logprobs(0).token_id(), lp.token_id());
    EXPECT_FLOAT_EQ(lp.top_logprobs(0).logprob(), lp.logprob());
    EXPECT_GE(lp.top_logprobs(0).logprob(), lp.top_logprobs(1).logprob());
    EXPECT_GE(lp.top_logprobs(1).logprob(), lp.top_logprobs(2).logprob());
  }
}

TEST_F(ServingTest, ChatStreamsEventsAndOneFinal) {
  v1::ChatRequest req;
  auto* sys = req.add_messages();
  sys->set_role(v1::ROLE_SYSTEM);
  sys->set_content("You are a terse assistant.");
  auto* user = req.add_messages();
  user->set_role(v1::ROLE_USER);
  user->set_content("What is the weather in Paris?");
  auto* tool = req.add_tools();
  tool->set_name("get_weather");
  tool->set_description("Current weather for a city");
  tool->set_parameters_json(R"({"type":"object","properties":{"city":{"type":"string"}}})");
  req.set_include_analysis(true);
  req.set_reasoning_effort(v1::REASONING_EFFORT_LOW);
  req.set_current_date("2026-11-23");
  req.mutable_sampling()->set_temperature(0.0f);
  req.mutable_stop()->set_max_tokens(12);
  ChatRun run = RunChat(stub(), req);
  ASSERT_TRUE(run.status.ok()) << run.status.error_message();
  ASSERT_TRUE(run.final.has_value());
  EXPECT_TRUE(run.final_was_last);
  EXPECT_GT(run.final->usage().prompt_tokens(), 50u);  // system + developer (tools) + user
  EXPECT_LE(run.final->usage().completion_tokens(), 12u);
  ChatRun again = RunChat(stub(), req);
  ASSERT_TRUE(again.status.ok());
  EXPECT_EQ(again.final->usage().completion_tokens(), run.final->usage().completion_tokens());
  EXPECT_EQ(again.events.size(), run.events.size());
}

// Every invalid argument is rejected with INVALID_ARGUMENT naming the field, before anything
// is streamed.
TEST_F(ServingTest, InvalidGenerateArgumentsNameTheField) {
  struct Case {
    std::string field;
    std::function<void(v1::GenerateRequest&)> mutate;
  };
  const std::vector<Case> cases = {
      {"prompt", [](auto& r) { r.clear_prompt(); }},
      {"prompt", [](auto& r) { r.set_text(""); }},
      {"prompt.token_ids[1]",
       [](auto& r) { r.mutable_token_ids()->add_ids(5), r.mutable_token_ids()->add_ids(-1); }},
      {"prompt.token_ids[0]", [](auto& r) { r.mutable_token_ids()->add_ids(201088); }},
      {"prompt",
       [](auto& r) {
         for (int i = 0; i < 4096; ++i) r.mutable_token_ids()->add_ids(100);
         r.mutable_stop()->clear_max_tokens();
       }},
      {"stop.max_tokens",
       [](auto& r) {
         for (int i = 0; i < 4000; ++i) r.mutable_token_ids()->add_ids(100);
         r.mutable_stop()->set_max_tokens(97);
       }},
      {"stop.max_tokens", [](auto& r) { r.mutable_stop()->set_max_tokens(0); }},
      {"sampling.temperature", [](auto& r) { r.mutable_sampling()->set_temperature(2.5f); }},
      {"sampling.temperature",
       [](auto& r) { r.mutable_sampling()->set_temperature(std::nanf("")); }},
      {"sampling.top_p", [](auto& r) { r.mutable_sampling()->set_top_p(0.0f); }},
      {"sampling.top_p", [](auto& r) { r.mutable_sampling()->set_top_p(1.5f); }},
      {"sampling.top_k", [](auto& r) { r.mutable_sampling()->set_top_k(201089); }},
      {"sampling.min_p", [](auto& r) { r.mutable_sampling()->set_min_p(-0.1f); }},
      {"sampling.presence_penalty",
       [](auto& r) { r.mutable_sampling()->set_presence_penalty(2.5f); }},
      {"sampling.frequency_penalty",
       [](auto& r) { r.mutable_sampling()->set_frequency_penalty(-3.0f); }},
      {"sampling.repetition_penalty",
       [](auto& r) { r.mutable_sampling()->set_repetition_penalty(0.0f); }},
      {"stop.stop",
       [](auto& r) {
         for (int i = 0; i < 17; ++i) r.mutable_stop()->add_stop("x");
       }},
      {"stop.stop[0]", [](auto& r) { r.mutable_stop()->add_stop(""); }},
      {"stop.stop_token_ids[0]", [](auto& r) { r.mutable_stop()->add_stop_token_ids(300000); }},
      {"logprobs.top_logprobs",
       [](auto& r) {
         r.mutable_logprobs()->set_enabled(true), r.mutable_logprobs()->set_top_logprobs(21);
       }},
      {"logprobs.top_logprobs", [](auto& r) { r.mutable_logprobs()->set_top_logprobs(2); }},
      {"priority", [](auto& r) { r.set_priority(101); }},
      {"request_id", [](auto& r) { r.set_request_id(std::string(200, 'r')); }},
  };
  for (const Case& c : cases) {
    v1::GenerateRequest r = GreedyRequest("hello", 4);
    c.mutate(r);
    GenerateRun run = RunGenerate(stub(), r, absl::Seconds(30));
    SCOPED_TRACE(c.field + ": " + run.status.error_message());
    EXPECT_EQ(run.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(absl::StartsWith(run.status.error_message(), c.field + ":"));
    EXPECT_EQ(run.num_chunks, 0);
    EXPECT_FALSE(run.final.has_value());
  }
}

TEST_F(ServingTest, InvalidChatArgumentsNameTheField) {
  struct Case {
    std::string field;
    std::function<void(v1::ChatRequest&)> mutate;
  };
  auto add = [](v1::ChatRequest& r, v1::Role role, const std::string& content) {
    auto* m = r.add_messages();
    m->set_role(role);
    m->set_content(content);
    return m;
  };
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += R"({"type":"object","properties":{"a":)";
  deep += "{}";
  for (int i = 0; i < 100; ++i) deep += "}}";
  const std::vector<Case> cases = {
      {"messages", [](auto& r) { r.clear_messages(); }},
      {"messages[1].role", [&](auto& r) { add(r, v1::ROLE_UNSPECIFIED, "x"); }},
      {"messages[1].name", [&](auto& r) { add(r, v1::ROLE_TOOL, "{}"); }},
      {"messages[0].name", [](auto& r) { r.mutable_messages(0)->set_name("bob"); }},
      {"messages[0].recipient",
       [](auto& r) { r.mutable_messages(0)->set_recipient("functions.f"); }},
      {"messages[0].channel",
       [](auto& r) { r.mutable_messages(0)->set_channel(v1::CHANNEL_FINAL); }},
      {"messages[1].role", [&](auto& r) { add(r, v1::ROLE_SYSTEM, "late system"); }},
      {"tools[0].name", [](auto& r) { r.add_tools()->set_name("bad name!"); }},
      {"tools[1].name",
       [](auto& r) { r.add_tools()->set_name("f"), r.add_tools()->set_name("f"); }},
      {"tools[0].parameters_json",
       [](auto& r) {
         auto* t = r.add_tools();
         t->set_name("f"), t->set_parameters_json("{");
       }},
      {"tools[0].parameters_json",
       [](auto& r) {
         auto* t = r.add_tools();
         t->set_name("f"), t->set_parameters_json("[1,2]");
       }},
      {"tools[0].parameters_json",
       [&](auto& r) {
         auto* t = r.add_tools();
         t->set_name("f"), t->set_parameters_json(deep);
       }},
      {"stop.ignore_eos", [](auto& r) { r.mutable_stop()->set_ignore_eos(true); }},
      {"current_date", [](auto& r) { r.set_current_date("tomorrow"); }},
      {"sampling.top_p", [](auto& r) { r.mutable_sampling()->set_top_p(2.0f); }},
  };
  for (const Case& c : cases) {
    v1::ChatRequest r;
    add(r, v1::ROLE_USER, "hello");
    r.mutable_stop()->set_max_tokens(4);
    c.mutate(r);
    ChatRun run = RunChat(stub(), r, absl::Seconds(30));
    SCOPED_TRACE(c.field + ": " + run.status.error_message());
    EXPECT_EQ(run.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(absl::StartsWith(run.status.error_message(), c.field + ":"));
    EXPECT_TRUE(run.events.empty());
    EXPECT_FALSE(run.final.has_value());
  }
}

// Parses "free_full=F/T" from an engine log line; -1 if absent.
std::pair<int, int> FreeFull(const std::string& line) {
  const size_t at = line.find("free_full=");
  if (at == std::string::npos) return {-1, -1};
  int free = -1, total = -1;
  std::sscanf(line.c_str() + at, "free_full=%d/%d", &free, &total);
  return {free, total};
}

// Cancel lines the engine has logged so far.
int CountCancels(Cluster& cluster) {
  int n = 0;
  for (const std::string& line : cluster.CoordinatorLogLines())
    n += absl::StartsWith(line, "engine: cancel seq=");
  return n;
}

// After a client-side end (cancel or deadline) of the only running request, the engine must
// drop it and return all its KV blocks at its next plan: between the engine's "cancel seq=N"
// line and the line that reports N cancelled (with every full block free again), at most the
// steps that were in flight run (two: with overlap the next step is sent before the last one's
// result is back). `cancels_before` is
// CountCancels() before the client ended the request: the next cancel line is this request's.
void ExpectBlocksFreedWithinOneStep(Cluster& cluster, int cancels_before) {
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (true) {
    const std::vector<std::string> lines = cluster.CoordinatorLogLines();
    int cancel_line = -1;
    for (int i = 0, seen = 0; i < static_cast<int>(lines.size()) && cancel_line < 0; ++i)
      if (absl::StartsWith(lines[i], "engine: cancel seq=") && seen++ == cancels_before)
        cancel_line = i;
    if (cancel_line >= 0) {
      const std::string seq = lines[cancel_line].substr(strlen("engine: cancel seq="));
      int steps_between = 0;
      for (size_t i = cancel_line + 1; i < lines.size(); ++i) {
        if (!absl::StartsWith(lines[i], "engine: step=")) continue;
        if (absl::StrContains(lines[i], absl::StrCat("[", seq, ":cancelled]"))) {
          const auto [free, total] = FreeFull(lines[i]);
          EXPECT_EQ(free, total) << lines[i];
          EXPECT_LE(steps_between, 2) << "blocks freed " << steps_between << " steps later";
          return;
        }
        ++steps_between;
      }
    }
    if (absl::Now() > deadline) {
      ADD_FAILURE() << "the cancelled sequence was never dropped:\n" << cluster.coordinator().Log();
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

TEST_F(ServingTest, CancelMidStreamFreesKvBlocks) {
  v1::GenerateRequest r = GreedyRequest("A very long story begins", 3000);
  r.mutable_stop()->set_ignore_eos(true);
  grpc::ClientContext ctx;
  auto reader = stub().Generate(&ctx, r);
  v1::GenerateResponse resp;
  int chunks = 0;
  while (chunks < 3 && reader->Read(&resp)) chunks += resp.has_chunk();
  ASSERT_EQ(chunks, 3);
  const int cancels_before = CountCancels(*cluster_);
  ctx.TryCancel();
  while (reader->Read(&resp)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  ExpectBlocksFreedWithinOneStep(*cluster_, cancels_before);
  // The server keeps serving.
  GenerateRun after = RunGenerate(stub(), GreedyRequest("still there?", 2));
  EXPECT_TRUE(after.status.ok()) << after.status.error_message();
}

TEST_F(ServingTest, DeadlineEndsTheRequestAndFreesKvBlocks) {
  v1::GenerateRequest r = GreedyRequest("Another very long story begins", 3000);
  r.mutable_stop()->set_ignore_eos(true);
  const int cancels_before = CountCancels(*cluster_);
  GenerateRun run = RunGenerate(stub(), r, absl::Milliseconds(1500));
  EXPECT_EQ(run.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_FALSE(run.final.has_value());
  ExpectBlocksFreedWithinOneStep(*cluster_, cancels_before);
  GenerateRun after = RunGenerate(stub(), GreedyRequest("and now?", 2));
  EXPECT_TRUE(after.status.ok()) << after.status.error_message();
}

}  // namespace
}  // namespace gptoss::e2e
