// Tokenizer behaviour beyond the golden ids: special tokens, decode errors, round trips of
// arbitrary bytes, ill-formed UTF-8, threads, and Load()'s file discovery.
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "coordinator/tokenizer/bpe_pretokenizer.h"
#include "coordinator/tokenizer/bpe_tokenizer.h"
#include "gtest/gtest.h"
#include "tests/coordinator/tokenizer_test_util.h"

namespace gptoss {
namespace {

using ::gptoss::testing::RepoTokenizer;

TEST(Tokenizer, HarmonySpecialTokensAtTheirIds) {
  const Tokenizer& tok = RepoTokenizer();
  EXPECT_EQ(tok.vocab_size(), 201088);
  const std::pair<const char*, int> expected[] = {
      {"<|startoftext|>", 199998},
      {"<|endoftext|>", 199999},
      {"<|return|>", 200002},
      {"<|constrain|>", 200003},
      {"<|channel|>", 200005},
      {"<|start|>", 200006},
      {"<|end|>", 200007},
      {"<|message|>", 200008},
      {"<|call|>", 200012},
      {"<|endofprompt|>", 200018},
      {"<|reserved_200000|>", 200000},
      {"<|reserved_201087|>", 201087},
      {"<|reserved_200018|>", 200018},  // tiktoken's second name for 200018
  };
  for (const auto& [name, id] : expected) {
    auto got = tok.SpecialTokenId(name);
    ASSERT_TRUE(got.ok()) << name << ": " << got.status();
    EXPECT_EQ(*got, id) << name;
    EXPECT_TRUE(tok.IsSpecial(id));
  }
  EXPECT_EQ(*tok.TokenBytes(200006), "<|start|>");
  EXPECT_EQ(*tok.TokenBytes(200018), "<|endofprompt|>");
  EXPECT_EQ(*tok.TokenBytes(201087), "<|reserved_201087|>");
  EXPECT_FALSE(tok.IsSpecial(199997));
  EXPECT_FALSE(tok.IsSpecial(201088));
  EXPECT_FALSE(tok.IsSpecial(-1));
  EXPECT_EQ(tok.SpecialTokenId("<|nope|>").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(tok.SpecialTokenId("start").status().code(), absl::StatusCode::kNotFound);
}

TEST(Tokenizer, EncodeNeverProducesSpecialTokens) {
  const Tokenizer& tok = RepoTokenizer();
  std::string text = "user typed ";
  for (const SpecialToken& s : O200kHarmonySpecialTokens()) text += s.name;
  text += "<|reserved_200018|> and <|start|>assistant<|message|>";
  const std::vector<int> ids = tok.Encode(text);
  for (int id : ids) ASSERT_FALSE(tok.IsSpecial(id)) << id;
  EXPECT_EQ(*tok.Decode(ids), text);
}

TEST(Tokenizer, DecodeSpecialTokensAndErrors) {
  const Tokenizer& tok = RepoTokenizer();
  std::vector<int> ids = {200006};
  for (int id : tok.Encode("user")) ids.push_back(id);
  ids.push_back(200008);
  EXPECT_EQ(*tok.Decode(ids), "<|start|>user<|message|>");
  EXPECT_EQ(*tok.Decode({}), "");
  EXPECT_TRUE(tok.Encode("").empty());
  for (int bad : {-1, 201088, 1 << 30}) {
    auto s = tok.Decode(std::vector<int>{15, bad});
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(s.status().message().find("id #1"), std::string_view::npos) << s.status();
    EXPECT_NE(s.status().message().find(std::to_string(bad)), std::string_view::npos) << s.status();
    EXPECT_FALSE(tok.TokenBytes(bad).ok());
  }
}

TEST(Tokenizer, RoundTripsArbitraryBytes) {
  const Tokenizer& tok = RepoTokenizer();
  std::mt19937 rng(42);
  const std::string alphabet[] = {
      "a",  "Z", " ",        "\n",   "\r\n", "1",        "'s",           "é",
      "中", "😀", "\xF0\x9F", "\x80", "\xFF", "\xC0\xAF", "\xED\xA0\x80", std::string(1, '\0'),
      "\t"};
  for (int round = 0; round < 2000; ++round) {
    std::string text;
    const int n = rng() % 40;
    for (int i = 0; i < n; ++i) {
      if (rng() % 3 == 0) {
        text.push_back(static_cast<char>(rng() & 0xFF));
      } else {
        text += alphabet[rng() % std::size(alphabet)];
      }
    }
    const std::vector<int> ids = tok.Encode(text);
    for (int id : ids) ASSERT_FALSE(tok.IsSpecial(id));
    auto back = tok.Decode(ids);
    ASSERT_TRUE(back.ok());
    ASSERT_EQ(*back, text) << "round " << round;
  }
}

TEST(Tokenizer, IllFormedUtf8SplitsTheText) {
  // Documented behaviour: each maximal stretch of ill-formed bytes is its own piece and the
  // valid text around it is tokenized as separate texts.
  const Tokenizer& tok = RepoTokenizer();
  const std::string left = "hello wor", right = "ld  again";
  const std::string bad = "\xFF\xC0";
  std::vector<int> expected = tok.Encode(left);
  for (int id : tok.Encode(bad)) expected.push_back(id);
  for (int id : tok.Encode(right)) expected.push_back(id);
  EXPECT_EQ(tok.Encode(left + bad + right), expected);
  // A truncated sequence at the end.
  const std::string cut = std::string("caf\xC3");
  EXPECT_EQ(*tok.Decode(tok.Encode(cut)), cut);
}

TEST(Tokenizer, VeryLongPiecesRoundTrip) {
  // One pre-token of 256 KiB (BPE's worst case is a long piece); the golden corpus has the
  // 100k runs with tiktoken's ids. Speed is the benchmark's business, this checks correctness.
  const Tokenizer& tok = RepoTokenizer();
  std::mt19937 rng(7);
  std::string text;
  for (int i = 0; i < (1 << 18); ++i) text.push_back("abcab"[rng() % 5]);
  const std::vector<int> ids = tok.Encode(text);
  EXPECT_LT(ids.size(), text.size() / 2);
  EXPECT_EQ(*tok.Decode(ids), text);
  const std::string spaces(1 << 20, ' ');
  EXPECT_EQ(*tok.Decode(tok.Encode(spaces + "x")), spaces + "x");
}

TEST(Tokenizer, ConcurrentEncodesAgree) {
  const Tokenizer& tok = RepoTokenizer();
  const std::string text =
      "Threads share one tokenizer: 中文, emoji 😀, numbers 12345, and it's fine.\n";
  const std::vector<int> expected = tok.Encode(text);
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      int good = 1;
      for (int i = 0; i < 300; ++i) good &= tok.Encode(text) == expected;
      ok[t] = good;
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_TRUE(ok[t]) << "thread " << t;
}

TEST(TokenizerLoad, DefaultPathAndEnvironment) {
  unsetenv("GPTOSS_TOKENIZER");
  auto t = Tokenizer::Load();
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ((*t)->vocab_size(), 201088);

  const std::string dir = testing::ScratchDir();
  setenv("GPTOSS_TOKENIZER", (dir + "/missing.tiktoken").c_str(), 1);
  auto missing = Tokenizer::Load();
  unsetenv("GPTOSS_TOKENIZER");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("missing.tiktoken"), std::string_view::npos);
}

TEST(TokenizerLoad, DispatchOnPathKind) {
  const std::string dir = testing::ScratchDir();
  // A directory without tokenizer.json.
  auto no_json = Tokenizer::Load(dir);
  ASSERT_FALSE(no_json.ok());
  EXPECT_EQ(no_json.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(no_json.status().message().find("tokenizer.json"), std::string_view::npos);
  // A directory with one goes to the HF loader (this one is not valid JSON).
  testing::WriteFileOrDie(dir + "/tokenizer.json", "{ not json");
  auto bad_json = Tokenizer::Load(dir);
  ASSERT_FALSE(bad_json.ok());
  EXPECT_NE(bad_json.status().message().find("not valid JSON"), std::string_view::npos)
      << bad_json.status();
  // Anything else goes to the tiktoken loader.
  auto explicit_ranks = Tokenizer::Load(testing::RanksPath());
  ASSERT_TRUE(explicit_ranks.ok()) << explicit_ranks.status();
  auto nowhere = Tokenizer::Load(dir + "/nope.tiktoken");
  EXPECT_EQ(nowhere.status().code(), absl::StatusCode::kNotFound);
}

TEST(Pretokenizer, PiecesCoverTheInputForAnyPattern) {
  auto p = Pretokenizer::Create("[a-z]+");  // does not match most characters
  ASSERT_TRUE(p.ok()) << p.status();
  const std::string text = "abc 12 é\xFF xyz";
  std::string joined;
  std::vector<std::string> pieces;
  (*p)->Split(text, [&](std::string_view piece) {
    ASSERT_FALSE(piece.empty());
    joined += piece;
    pieces.emplace_back(piece);
  });
  EXPECT_EQ(joined, text);
  EXPECT_EQ(pieces.front(), "abc");
  EXPECT_EQ(pieces.back(), "xyz");
  EXPECT_FALSE(Pretokenizer::Create("(unclosed").ok());
}

TEST(Pretokenizer, O200kPiecesOfATrickySentence) {
  // Expected pieces follow from the o200k pattern; the golden corpus checks the resulting ids.
  auto p = Pretokenizer::CreateO200k();
  ASSERT_TRUE(p.ok());
  std::vector<std::string> pieces;
  (*p)->Split("I'M fine, THEY'RE   here\n\n 1234",
              [&](std::string_view s) { pieces.emplace_back(s); });
  const std::vector<std::string> expected = {"I'M",   " fine", ",", " THEY'RE", "  ",
                                             " here", "\n\n",  " ", "123",      "4"};
  EXPECT_EQ(pieces, expected);
}

}  // namespace
}  // namespace gptoss
