// The trained toy model (tools/toy/gptoss-toy) served for real: a coordinator and worker
// processes, asked the held-out questions of tests/data/toy_heldout.json through the Chat API.
// That file holds questions only (tools/toy/eval_toy.py --write-heldout: arithmetic pairs and
// city names the training never drew); every expected answer is computed here from the question.
// Checked: the quality targets of the toy model, what the streaming harmony parser makes of real
// model output (analysis and final deltas, a tool call event with its arguments, TOOL_CALLS after
// <|call|>, STOP after <|return|>, nothing raw), and that two workers answer what one answers.
#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <regex>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/e2e_harness.h"

namespace gptoss::e2e {
namespace {

using nlohmann::json;

const std::string kToyModel = std::string(GPTOSS_SOURCE_DIR) + "/tools/toy/gptoss-toy";

std::vector<json> HeldOutCases() {
  std::ifstream in(std::string(GPTOSS_SOURCE_DIR) + "/tests/data/toy_heldout.json");
  json doc = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc["cases"].is_array()) return {};
  return doc["cases"].get<std::vector<json>>();
}

v1::ReasoningEffort Effort(const std::string& e) {
  return e == "low"    ? v1::REASONING_EFFORT_LOW
         : e == "high" ? v1::REASONING_EFFORT_HIGH
                       : v1::REASONING_EFFORT_MEDIUM;
}

// The chat as a client sends it: the canonical get_weather declaration (the README's), greedy.
v1::ChatRequest Request(const json& c) {
  const json& chat = c["chat"];
  v1::ChatRequest r;
  r.set_reasoning_effort(Effort(chat["effort"]));
  r.set_current_date(chat["date"].get<std::string>());
  r.set_include_analysis(true);
  r.mutable_sampling()->set_temperature(0.0f);
  r.mutable_stop()->set_max_tokens(256);
  if (chat["tool"].get<bool>()) {
    v1::FunctionTool* tool = r.add_tools();
    tool->set_name("get_weather");
    tool->set_description("Gets the current weather in a city.");
    tool->set_parameters_json(
        R"({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})");
  }
  for (const json& t : chat["turns"]) {
    v1::ChatMessage* m = r.add_messages();
    m->set_content(t["content"].get<std::string>());
    const std::string role = t["role"];
    if (role == "user") {
      m->set_role(v1::ROLE_USER);
    } else if (role == "assistant") {  // the call from the history
      m->set_role(v1::ROLE_ASSISTANT);
      m->set_channel(v1::CHANNEL_COMMENTARY);
      m->set_recipient("functions.get_weather");
      m->set_content_type("<|constrain|>json");
    } else {
      m->set_role(v1::ROLE_TOOL);
      m->set_channel(v1::CHANNEL_COMMENTARY);
      m->set_name("functions.get_weather");
    }
  }
  return r;
}

// What one answer amounts to: the text per channel, the tool calls, the finish reason, and a
// transcript of every event (to compare clusters).
struct Answer {
  grpc::Status status;
  std::map<int, std::string> text;  // channel -> concatenated delta text
  std::vector<v1::ToolCall> calls;
  v1::FinishReason finish = v1::FINISH_REASON_UNSPECIFIED;
  bool raw = false;  // some delta carried "<|"
  std::string transcript;
};

Answer Ask(v1::Inference::Stub& stub, const json& c) {
  ChatRun run = RunChat(stub, Request(c), absl::Seconds(300));
  Answer a;
  a.status = run.status;
  for (const v1::ChatResponse& e : run.events) {
    if (e.has_delta()) {
      a.text[e.delta().channel()] += e.delta().text();
      a.raw |= absl::StrContains(e.delta().text(), "<|");
      absl::StrAppend(&a.transcript, "[", e.delta().channel(), " ", e.delta().recipient(), "]",
                      e.delta().text());
    } else if (e.has_tool_call()) {
      a.calls.push_back(e.tool_call());
      absl::StrAppend(&a.transcript, "[call ", e.tool_call().name(), "]",
                      e.tool_call().arguments_json());
    }
  }
  if (run.final) {
    a.finish = run.final->finish_reason();
    absl::StrAppend(&a.transcript, "[finish ", a.finish, "]");
  }
  return a;
}

// Every case asked, 16 at a time (the engine batches them).
std::vector<Answer> AskAll(Cluster& cluster, const std::vector<json>& cases) {
  std::vector<Answer> answers(cases.size());
  std::atomic<size_t> next{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&] {
      for (size_t i; (i = next++) < cases.size();) answers[i] = Ask(cluster.stub(), cases[i]);
    });
  }
  for (std::thread& t : threads) t.join();
  return answers;
}

std::vector<int> Ints(const std::string& text) {
  std::vector<int> out;
  static const std::regex number("-?[0-9]+");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), number);
       it != std::sregex_iterator(); ++it)
    out.push_back(std::stoi(it->str()));
  return out;
}

// Tallies of one check: passed / asked, printed for the record.
struct Tally {
  int pass = 0, n = 0;
  void Add(bool ok) { pass += ok, ++n; }
  double rate() const { return n ? static_cast<double>(pass) / n : 0; }
};

TEST(ToyModelTest, AnswersHeldOutQuestionsThroughTheApi) {
  const std::vector<json> cases = HeldOutCases();
  ASSERT_GT(cases.size(), 400u) << "tests/data/toy_heldout.json is missing or malformed";
  ClusterOptions options;
  options.model = kToyModel;
  options.kv_cache_mb = 256;
  auto one = Cluster::Start("toy_one_worker", options);
  ASSERT_TRUE(one.ok()) << one.status();
  ASSERT_TRUE((*one)->WaitServing().ok()) << (*one)->coordinator().Log();
  const std::vector<Answer> answers = AskAll(**one, cases);

  std::map<std::string, Tally> t;
  std::map<std::string, std::map<std::string, size_t>> effort;  // question -> effort -> chars
  for (size_t i = 0; i < cases.size(); ++i) {
    const json& c = cases[i];
    const Answer& a = answers[i];
    ASSERT_TRUE(a.status.ok()) << i << ": " << a.status.error_message();
    const std::string kind = c["kind"];
    const std::string final = a.text.count(v1::CHANNEL_FINAL) ? a.text.at(v1::CHANNEL_FINAL) : "";
    const bool analysed = a.text.count(v1::CHANNEL_ANALYSIS) > 0;
    t["nothing raw"].Add(!a.raw);
    if (kind == "weather_call") {
      const std::string set = " (" + c["name_set"].get<std::string>() + " names)";
      t["call: analysis, then TOOL_CALLS" + set].Add(analysed &&
                                                     a.finish == v1::FINISH_REASON_TOOL_CALLS);
      const bool one_call = a.calls.size() == 1 && a.calls[0].name() == "get_weather";
      json args(json::value_t::discarded);
      if (one_call) args = json::parse(a.calls[0].arguments_json(), nullptr, false);
      t["call: valid JSON" + set].Add(!args.is_discarded());
      t["call: right city" + set].Add(args == json{{"city", c["city"]}});
      continue;
    }
    if (kind == "effort") {  // (its weather questions end in a call)
      effort[c["q"]][c["effort"]] =
          a.text.count(v1::CHANNEL_ANALYSIS) ? a.text.at(v1::CHANNEL_ANALYSIS).size() : 0;
      continue;
    }
    t["answer: analysis, final, STOP"].Add(analysed && !final.empty() &&
                                           a.finish == v1::FINISH_REASON_STOP && a.calls.empty());
    if (kind == "arith") {
      const int x = c["a"], y = c["b"];
      const std::string op = c["op"];
      t["arithmetic exact"].Add(
          final == absl::StrCat(x, " ", op, " ", y, " = ", op == "+" ? x + y : x - y, "."));
    } else if (kind == "capital") {
      t["capital exact"].Add(final == absl::StrCat("The capital of ",
                                                   c["country"].get<std::string>(), " is ",
                                                   c["capital"].get<std::string>(), "."));
    } else if (kind == "weather_result") {
      const std::vector<int> n = Ints(final);
      t["tool result: final states N"].Add(std::find(n.begin(), n.end(), c["temp"].get<int>()) !=
                                           n.end());
    }
  }
  for (const auto& [q, by] : effort)
    t["effort: low analysis shorter than high"].Add(by.at("low") < by.at("high"));
  for (const auto& [name, tally] : t)
    std::printf("[toy served] %-45s %4d / %4d  (%.1f%%)\n", name.c_str(), tally.pass, tally.n,
                100 * tally.rate());

  // The targets (tools/toy/README.md) that the committed model meets. Its tool calls are asserted
  // on the held-out fake names: unseen combinations of the name pieces it was trained on. The
  // calls for real, made-up and capital names (tokens it has no rows of its own for, or never
  // copied as a city) are printed above but not asserted: issue 11 keeps that target open.
  EXPECT_EQ(t["nothing raw"].rate(), 1.0);
  EXPECT_EQ(t["answer: analysis, final, STOP"].rate(), 1.0);
  EXPECT_EQ(t["call: analysis, then TOOL_CALLS (fake names)"].rate(), 1.0);
  EXPECT_GE(t["arithmetic exact"].rate(), 0.95);
  EXPECT_EQ(t["capital exact"].rate(), 1.0);
  EXPECT_EQ(t["call: valid JSON (fake names)"].rate(), 1.0);
  EXPECT_EQ(t["call: right city (fake names)"].rate(), 1.0);
  EXPECT_GE(t["tool result: final states N"].rate(), 0.95);
  EXPECT_EQ(t["effort: low analysis shorter than high"].rate(), 1.0);

  // Two workers (attention heads and experts split over two processes) give the same greedy
  // answers, event for event, on every fourth question.
  one->reset();
  options.workers = 2;
  auto two = Cluster::Start("toy_two_workers", options);
  ASSERT_TRUE(two.ok()) << two.status();
  ASSERT_TRUE((*two)->WaitServing().ok()) << (*two)->coordinator().Log();
  std::vector<json> some;
  std::vector<size_t> index;
  for (size_t i = 0; i < cases.size(); i += 4) some.push_back(cases[i]), index.push_back(i);
  const std::vector<Answer> again = AskAll(**two, some);
  for (size_t j = 0; j < some.size(); ++j) {
    ASSERT_TRUE(again[j].status.ok()) << again[j].status.error_message();
    EXPECT_EQ(again[j].transcript, answers[index[j]].transcript) << "question " << index[j];
  }
}

}  // namespace
}  // namespace gptoss::e2e
