// Regression tests for the hostile-client findings that need no network: the bounded rendezvous
// store, API keys and the cluster secret, linear special-token parsing, and deep tool schemas.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "coordinator/api_keys.h"
#include "coordinator/chat_prompt.h"
#include "coordinator/rendezvous_store.h"
#include "coordinator/tokenizer/tokenizer.h"
#include "coordinator/wire_messages.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/common/internal_plane.h"

namespace gptoss {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// ---------------------------------------------------------------------------------------------
// RendezvousStore
// ---------------------------------------------------------------------------------------------

struct Outcome {
  std::atomic<int> calls{0};
  absl::StatusOr<std::string> last = absl::UnknownError("not called");
  RendezvousStore::Done Callback() {
    return [this](absl::StatusOr<std::string> v) {
      last = std::move(v);
      ++calls;
    };
  }
  bool WaitCalled(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (calls == 0 && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return calls > 0;
  }
};

int NumThreads() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("Threads:", 0) == 0) return std::atoi(line.c_str() + 8);
  return -1;
}

TEST(RendezvousStoreTest, GetAnswersAtOnceOrWhenTheKeyIsSet) {
  Outcome now, later;
  RendezvousStore store;
  ASSERT_TRUE(store.Set("a", "1").ok());
  store.Get({"a"}, std::chrono::milliseconds(0), now.Callback());
  EXPECT_EQ(now.calls, 1);
  EXPECT_EQ(*now.last, "1");
  store.Get({"b", "a"}, std::chrono::seconds(30), later.Callback());
  EXPECT_EQ(later.calls, 0);
  EXPECT_EQ(store.num_waiters(), 1u);
  ASSERT_TRUE(store.Set("b", "2").ok());
  EXPECT_EQ(later.calls, 1);
  EXPECT_EQ(*later.last, "2");  // the first key's value
  EXPECT_EQ(store.num_waiters(), 0u);
}

TEST(RendezvousStoreTest, ManyShortWaitsUseNoThreadEachAndAllTimeOut) {
  // The finding: StoreGet(timeout_ms=1) left a thread behind per call.
  std::vector<Outcome> outcomes(500);  // outlives the store, whose Close() may call back
  RendezvousStore store;
  const int before = NumThreads();
  for (Outcome& o : outcomes) store.Get({"never"}, std::chrono::milliseconds(1), o.Callback());
  EXPECT_LE(NumThreads(), before);  // the store's one timer thread already existed
  for (Outcome& o : outcomes) {
    ASSERT_TRUE(o.WaitCalled());
    EXPECT_EQ(o.last.status().code(), absl::StatusCode::kDeadlineExceeded);
    EXPECT_EQ(o.calls, 1);
  }
  EXPECT_EQ(store.num_waiters(), 0u);
}

TEST(RendezvousStoreTest, LimitsAreEnforced) {
  RendezvousLimits limits;
  limits.max_keys = 3;
  limits.max_value_bytes = 10;
  limits.max_total_bytes = 25;
  limits.max_waiters = 2;
  limits.max_key_bytes = 8;
  Outcome w1, w2, w3;  // outlive the store
  RendezvousStore store(limits);
  EXPECT_EQ(store.Set("k", std::string(11, 'x')).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store.Set(std::string(9, 'k'), "v").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store.Set("", "v").code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(store.Set("a", std::string(10, 'x')).ok());
  ASSERT_TRUE(store.Set("b", std::string(10, 'x')).ok());
  EXPECT_EQ(store.Set("c", std::string(10, 'x')).code(), absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(store.Set("a", "").ok());  // overwriting frees its bytes
  ASSERT_TRUE(store.Set("c", std::string(10, 'x')).ok());
  EXPECT_EQ(store.Set("d", "").code(), absl::StatusCode::kResourceExhausted);  // 3 keys
  store.Get({"x"}, std::chrono::seconds(30), w1.Callback());
  store.Get({"y"}, std::chrono::seconds(30), w2.Callback());
  store.Get({"z"}, std::chrono::seconds(30), w3.Callback());
  ASSERT_EQ(w3.calls, 1);
  EXPECT_EQ(w3.last.status().code(), absl::StatusCode::kResourceExhausted);
  store.EraseWithPrefix("");
  EXPECT_EQ(store.num_keys(), 0u);
  store.Close();  // waiters end
  EXPECT_EQ(w1.calls, 1);
  EXPECT_EQ(w1.last.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(w2.calls, 1);
  EXPECT_EQ(store.Set("a", "b").code(), absl::StatusCode::kUnavailable);
}

TEST(RendezvousStoreTest, EraseWithPrefixKeepsOtherWorlds) {
  RendezvousStore store;
  ASSERT_TRUE(store.Set("world1/a", "x").ok());
  ASSERT_TRUE(store.Set("world2/a", "y").ok());
  store.EraseWithPrefix("world1/");
  EXPECT_EQ(store.num_keys(), 1u);
  Outcome o;
  store.Get({"world2/a"}, std::chrono::milliseconds(0), o.Callback());
  EXPECT_EQ(*o.last, "y");
}

// ---------------------------------------------------------------------------------------------
// Secrets and keys
// ---------------------------------------------------------------------------------------------

TEST(ConstantTimeEqualsTest, ComparesWholeStrings) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
  EXPECT_FALSE(ConstantTimeEquals("abcd", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("", "a"));
  EXPECT_FALSE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST(InternalPlaneTest, SecretIsRequiredAndValidated) {
  unsetenv(kClusterSecretEnv);
  absl::StatusOr<InternalPlane> none = InternalPlane::Load({});
  ASSERT_FALSE(none.ok());
  EXPECT_THAT(none.status().message(), HasSubstr("--cluster-secret-file"));
  EXPECT_THAT(none.status().message(), HasSubstr(kClusterSecretEnv));
  EXPECT_FALSE(InternalPlane::WithSecret("short").ok());
  EXPECT_FALSE(InternalPlane::WithSecret("has a space in it 0123456789").ok());
  EXPECT_FALSE(InternalPlane::WithSecret("line\nbreak0123456789abcdef").ok());
  setenv(kClusterSecretEnv, "env-secret-0123456789abcdef", 1);
  EXPECT_TRUE(InternalPlane::Load({}).ok());
  unsetenv(kClusterSecretEnv);

  const std::string dir = ::testing::TempDir();
  std::ofstream(dir + "/secret") << "  file-secret-0123456789abcdef\n";
  InternalPlaneFiles files;
  files.secret_file = dir + "/secret";
  EXPECT_TRUE(InternalPlane::Load(files).ok());
  files.tls_cert = dir + "/cert.pem";  // without key and CA
  absl::StatusOr<InternalPlane> partial = InternalPlane::Load(files);
  ASSERT_FALSE(partial.ok());
  EXPECT_THAT(partial.status().message(), HasSubstr("go together"));
  files = {};
  files.secret_file = dir + "/no-such-file";
  EXPECT_EQ(InternalPlane::Load(files).status().code(), absl::StatusCode::kNotFound);
}

TEST(ApiKeysTest, ParsesTheFileAndNamesBadLinesWithoutTheKey) {
  absl::StatusOr<ApiKeys> keys = ApiKeys::FromText(
      "# ops team\n\n  key-one-0123456789abcdef  \nkey-two-0123456789abcdef\n", "keys.txt");
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_TRUE(keys->enabled());
  EXPECT_TRUE(keys->Check("Bearer key-one-0123456789abcdef").ok());
  EXPECT_TRUE(keys->Check("bearer key-two-0123456789abcdef").ok());
  for (const char* bad : {"", "key-one-0123456789abcdef", "Bearer ", "Bearer key-one",
                          "Basic key-one-0123456789abcdef", "Bearer key-one-0123456789abcdeg"}) {
    absl::Status st = keys->Check(bad);
    EXPECT_EQ(st.code(), absl::StatusCode::kUnauthenticated) << bad;
    EXPECT_THAT(st.message(), Not(HasSubstr("0123456789"))) << bad;
  }
  absl::StatusOr<ApiKeys> short_key = ApiKeys::FromText("ok-key-0123456789abcdef\nshort-secret\n", "k");
  ASSERT_FALSE(short_key.ok());
  EXPECT_THAT(short_key.status().message(), HasSubstr("k line 2"));
  EXPECT_THAT(short_key.status().message(), Not(HasSubstr("short-secret")));
  EXPECT_FALSE(ApiKeys::FromText("# nothing\n", "k").ok());
  EXPECT_TRUE(ApiKeys().Check("").ok());  // no keys: open
}

// ---------------------------------------------------------------------------------------------
// Bounded work
// ---------------------------------------------------------------------------------------------

// Forwards to the real tokenizer and counts the bytes of every special-token lookup.
class CountingTokenizer final : public Tokenizer {
 public:
  explicit CountingTokenizer(const Tokenizer* inner) : inner_(inner) {}
  std::vector<int> Encode(std::string_view text) const override { return inner_->Encode(text); }
  absl::StatusOr<std::string> Decode(std::span<const int> ids) const override {
    return inner_->Decode(ids);
  }
  absl::StatusOr<std::string_view> TokenBytes(int id) const override {
    return inner_->TokenBytes(id);
  }
  bool IsSpecial(int id) const override { return inner_->IsSpecial(id); }
  absl::StatusOr<int> SpecialTokenId(std::string_view name) const override {
    looked_up_ += name.size();
    return inner_->SpecialTokenId(name);
  }
  int vocab_size() const override { return inner_->vocab_size(); }
  size_t MaxSpecialTokenBytes() const override { return inner_->MaxSpecialTokenBytes(); }
  mutable size_t looked_up_ = 0;

 private:
  const Tokenizer* inner_;
};

TEST(EncodeWithSpecialsTest, HostileLiteralsCostLinearWork) {
  // The finding: '<|' * 300000 + '|>' re-scanned the text for every '<|' (98 s for 400 KB).
  absl::StatusOr<std::unique_ptr<Tokenizer>> real = Tokenizer::Load();
  ASSERT_TRUE(real.ok()) << real.status();
  CountingTokenizer counting(real->get());
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "<|";
  text += "|>";
  const std::vector<int> ids = EncodeWithSpecials(counting, text);
  EXPECT_EQ(ids, (*real)->Encode(text));  // not a special token: all of it is text
  // Only the last few '<|' see a '|>' within a literal's length: a bound independent of the text.
  const size_t max_literal = (*real)->MaxSpecialTokenBytes();
  EXPECT_LE(counting.looked_up_, max_literal * max_literal);
  EXPECT_GE((*real)->MaxSpecialTokenBytes(), std::string("<|reserved_200018|>").size());
}

TEST(EncodeWithSpecialsTest, LiteralsBecomeIdsAndTheRestIsText) {
  absl::StatusOr<std::unique_ptr<Tokenizer>> t = Tokenizer::Load();
  ASSERT_TRUE(t.ok()) << t.status();
  const int start = *(*t)->SpecialTokenId("<|start|>");
  const int end = *(*t)->SpecialTokenId("<|end|>");
  std::vector<int> expected = {start};
  for (int id : (*t)->Encode("user<|nope|>hi")) expected.push_back(id);
  expected.push_back(end);
  EXPECT_EQ(EncodeWithSpecials(**t, "<|start|>user<|nope|>hi<|end|>"), expected);
  EXPECT_EQ(EncodeWithSpecials(**t, "<|start|"), (*t)->Encode("<|start|"));
}

TEST(ChatPromptHardeningTest, DeeplyNestedToolSchemaIsRefusedNotACrash) {
  // The finding: '{"a":' * 100000 + '1' + '}' * 100000 segfaulted the coordinator.
  v1::ChatRequest request;
  v1::ChatMessage* m = request.add_messages();
  m->set_role(v1::ROLE_USER);
  m->set_content("hi");
  v1::FunctionTool* tool = request.add_tools();
  tool->set_name("deep");
  std::string json;
  for (int i = 0; i < 100000; ++i) json += "{\"a\":";
  json += "1";
  json += std::string(100000, '}');
  tool->set_parameters_json(json);
  absl::StatusOr<harmony::Conversation> c = ConversationFromChatRequest(request, "2026-12-01");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(c.status().message(), HasSubstr("tools[0].parameters_json"));
  EXPECT_THAT(c.status().message(), HasSubstr("nested deeper"));
}

// ---------------------------------------------------------------------------------------------
// Requests parsed from the wire
// ---------------------------------------------------------------------------------------------

grpc::ByteBuffer Wire(const google::protobuf::Message& m) {
  grpc::ByteBuffer buffer;
  EXPECT_TRUE(SerializeResponse(m, &buffer).ok());
  return buffer;
}

TEST(WireMessagesTest, InvalidUtf8IsNamedByItsFieldPath) {
  // The finding: invalid UTF-8 in a string field answered UNIMPLEMENTED with an empty message.
  v1::ChatRequest chat;
  chat.add_messages()->set_content("fine");
  chat.add_messages()->set_content("bad \xff byte");
  v1::ChatRequest parsed;
  absl::Status st = ParseRequest(Wire(chat), &parsed);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("messages[1].content: not valid UTF-8"));

  v1::ChatRequest tool;
  tool.add_messages()->set_content("ok");
  tool.add_tools()->set_description("\xc3\x28");
  EXPECT_THAT(ParseRequest(Wire(tool), &parsed).message(),
              HasSubstr("tools[0].description: not valid UTF-8"));

  v1::TokenizeRequest tok;
  tok.set_text("\xe2\x82");
  v1::TokenizeRequest tok_parsed;
  EXPECT_THAT(ParseRequest(Wire(tok), &tok_parsed).message(), HasSubstr("text: not valid UTF-8"));
}

TEST(WireMessagesTest, ValidAndGarbageRequests) {
  v1::ChatRequest chat;
  chat.add_messages()->set_content("h\xc3\xa9llo");
  v1::ChatRequest parsed;
  ASSERT_TRUE(ParseRequest(Wire(chat), &parsed).ok());
  EXPECT_EQ(parsed.messages(0).content(), "h\xc3\xa9llo");
  grpc::Slice garbage(std::string("\xff\xff\xff\xff\xff"));
  absl::Status st = ParseRequest(grpc::ByteBuffer(&garbage, 1), &parsed);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(st.message(), HasSubstr("not a valid gptoss.v1.ChatRequest"));
}

}  // namespace
}  // namespace gptoss
