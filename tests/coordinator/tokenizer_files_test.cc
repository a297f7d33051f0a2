// Bad tokenizer files give clear errors, never crashes: wrong hash, truncation, bad base64,
// duplicate or missing ranks, duplicate tokens, malformed or foreign tokenizer.json.
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "coordinator/tokenizer/bpe.h"
#include "coordinator/tokenizer/bpe_tokenizer.h"
#include "coordinator/tokenizer/hf_tokenizer_json.h"
#include "coordinator/tokenizer/tiktoken_file.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/coordinator/tokenizer_test_util.h"

namespace gptoss {
namespace {

using ::testing::HasSubstr;

std::string Msg(const absl::Status& s) { return std::string(s.message()); }

// A small well-formed ranks file: the 256 single bytes, then "ab" and "abc".
std::string SmallRanks() {
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) tokens.push_back(std::string(1, static_cast<char>(b)));
  tokens.push_back("ab");
  tokens.push_back("abc");
  return SerializeTiktokenRanks(tokens);
}

TEST(TiktokenFile, WrongHashTruncatedMissing) {
  const std::string dir = testing::ScratchDir();
  std::string ranks = testing::ReadFileOrDie(testing::RanksPath());
  ranks[1000] ^= 1;
  testing::WriteFileOrDie(dir + "/flipped.tiktoken", ranks);
  auto flipped = Tokenizer::LoadTiktoken(dir + "/flipped.tiktoken");
  ASSERT_FALSE(flipped.ok());
  EXPECT_EQ(flipped.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Msg(flipped.status()), HasSubstr("sha256"));
  EXPECT_THAT(Msg(flipped.status()),
              HasSubstr("446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"));

  testing::WriteFileOrDie(dir + "/cut.tiktoken", ranks.substr(0, ranks.size() / 2));
  auto cut = Tokenizer::LoadTiktoken(dir + "/cut.tiktoken");
  ASSERT_FALSE(cut.ok());
  EXPECT_THAT(Msg(cut.status()), HasSubstr("truncated"));

  testing::WriteFileOrDie(dir + "/empty.tiktoken", "");
  EXPECT_FALSE(Tokenizer::LoadTiktoken(dir + "/empty.tiktoken").ok());

  auto missing = Tokenizer::LoadTiktoken(dir + "/nope.tiktoken");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  auto directory = Tokenizer::LoadTiktoken(dir);
  EXPECT_THAT(Msg(directory.status()), HasSubstr("not a regular file"));
}

TEST(TiktokenFile, ParsesWellFormedRanks) {
  auto tokens = ParseTiktokenRanks(SmallRanks());
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  ASSERT_EQ(tokens->size(), 258u);
  EXPECT_EQ((*tokens)[257], "abc");
  // CRLF line ends and blank lines are accepted (tiktoken's loader skips blank lines).
  auto crlf = ParseTiktokenRanks("YQ== 1\r\n\r\nYg== 0\r\n");
  ASSERT_TRUE(crlf.ok()) << crlf.status();
  EXPECT_EQ((*crlf)[0], "b");
  EXPECT_EQ(SerializeTiktokenRanks(*tokens), SmallRanks());
}

TEST(TiktokenFile, MalformedRanksNameTheLine) {
  const struct {
    std::string contents;
    std::string message;
  } cases[] = {
      {"YQ== 0\n!!!! 1\n", "line 2"},
      {"YQ== 0\n!!!! 1\n", "base64"},
      {"YQ 0\n", "canonical base64"},        // missing padding
      {"YQ==\n", "expected `base64 rank`"},  // no rank
      {"YQ== 0 1\n", "expected `base64 rank`"},
      {"YQ== x\n", "not a decimal number"},
      {"YQ== -1\n", "not a decimal number"},
      {"YQ== 99999999999\n", "not a decimal number"},
      {"YQ== 7\n", "larger than the number of lines"},  // no gigabyte allocation for a huge rank
      {"YQ== 0\nYg== 0\n", "rank 0 was already given on line 1"},
      {"YQ== 0\nYg== 2\nYw== 3\n", "rank 1 is missing"},
      {" 0\n", "base64"},
      {"", "no tokens"},
      {"\n\n", "no tokens"},
  };
  for (const auto& c : cases) {
    auto r = ParseTiktokenRanks(c.contents);
    ASSERT_FALSE(r.ok()) << absl::CEscape(c.contents);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(Msg(r.status()), HasSubstr(c.message)) << absl::CEscape(c.contents);
  }
}

TEST(BytePairEncoder, RejectsDuplicateTokensAndMissingBytes) {
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) tokens.push_back(std::string(1, static_cast<char>(b)));
  tokens.push_back("ab");
  tokens.push_back("ab");
  auto dup = BytePairEncoder::Create(tokens);
  ASSERT_FALSE(dup.ok());
  EXPECT_THAT(Msg(dup.status()), HasSubstr("ranks 256 and 257 have the same token bytes"));

  tokens.pop_back();
  tokens.erase(tokens.begin() + 0x41);  // no "A"
  auto missing = BytePairEncoder::Create(tokens);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(Msg(missing.status()), HasSubstr("byte 0x41 is not a token"));

  tokens.push_back("");
  EXPECT_THAT(Msg(BytePairEncoder::Create(tokens).status()), HasSubstr("empty"));
}

TEST(BytePairEncoder, MergesByRankLeftmostFirst) {
  // Ranks 256: "ab", 257: "bc", 258: "abc". "abc" is one token; "abcbc" -> "abc" "bc"; with
  // only "aa" (ties), "aaa" -> "aa" "a" (leftmost first).
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) tokens.push_back(std::string(1, static_cast<char>(b)));
  tokens.insert(tokens.end(), {"ab", "bc", "abc", "aa"});
  auto bpe = BytePairEncoder::Create(tokens);
  ASSERT_TRUE(bpe.ok()) << bpe.status();
  auto encode = [&](std::string_view s) {
    std::vector<int> ids;
    (*bpe)->EncodePiece(s, &ids);
    return ids;
  };
  EXPECT_EQ(encode("abc"), std::vector<int>({258}));
  EXPECT_EQ(encode("abcbc"), std::vector<int>({258, 257}));
  EXPECT_EQ(encode("aaa"), std::vector<int>({259, 'a'}));
  EXPECT_EQ(encode("xbc"), std::vector<int>({'x', 257}));
  // The heap path (long pieces) makes the same choices as the small path.
  std::string long_piece;
  std::vector<int> expected;
  for (int i = 0; i < 100; ++i) {
    long_piece += "abcbcaaa";
    expected.insert(expected.end(), {258, 257, 259, 'a'});
  }
  EXPECT_EQ(encode(long_piece), expected);
}

TEST(BpeTokenizer, RejectsBadSpecialTokens) {
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) tokens.push_back(std::string(1, static_cast<char>(b)));
  auto make = [&](std::vector<SpecialToken> specials, std::vector<SpecialToken> aliases = {}) {
    return BpeTokenizer::Create(*BytePairEncoder::Create(tokens), *Pretokenizer::CreateO200k(),
                                std::move(specials), aliases);
  };
  EXPECT_TRUE(make({{"<|a|>", 256}, {"<|b|>", 257}}).ok());
  EXPECT_THAT(Msg(make({{"<|a|>", 256}, {"<|b|>", 258}}).status()),
              HasSubstr("special ids must be 256..257"));
  EXPECT_THAT(Msg(make({{"<|a|>", 256}, {"<|a|>", 257}}).status()), HasSubstr("used twice"));
  EXPECT_THAT(Msg(make({{"<|a|>", 256}}, {{"<|x|>", 300}}).status()), HasSubstr("alias"));
  EXPECT_THAT(Msg(BpeTokenizer::CreateO200kHarmony(tokens).status()), HasSubstr("199998 ranks"));
}

// A structurally valid tokenizer.json with a 256-token byte-level vocab and `pattern`.
nlohmann::json SmallHfJson(const std::string& pattern) {
  nlohmann::json vocab = nlohmann::json::object();
  int next = 256;
  for (int b = 0; b < 256; ++b) {  // GPT-2 bytes_to_unicode
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    const int cp = printable ? b : next++;
    std::string key;
    if (cp < 0x80) {
      key.push_back(static_cast<char>(cp));
    } else {
      key.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      key.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
    vocab[key] = b;
  }
  return {
      {"version", "1.0"},
      {"added_tokens", {{{"id", 256}, {"content", "<|start|>"}, {"special", true}}}},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"},
           {"pattern", {{"Regex", pattern}}},
           {"behavior", "Isolated"},
           {"invert", false}},
          {{"type", "ByteLevel"},
           {"add_prefix_space", false},
           {"trim_offsets", true},
           {"use_regex", false}}}}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", nlohmann::json::array()}}},
  };
}

TEST(HfTokenizerJson, ParsesTheConverterShape) {
  auto parsed = ParseHfTokenizerJson(SmallHfJson("x").dump());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->ranks.size(), 256u);
  for (int b = 0; b < 256; ++b)
    ASSERT_EQ(parsed->ranks[b], std::string(1, static_cast<char>(b))) << b;
  EXPECT_EQ(parsed->split_pattern, "x");
  ASSERT_EQ(parsed->added_tokens.size(), 1u);
  EXPECT_EQ(parsed->added_tokens[0], (SpecialToken{"<|start|>", 256}));
}

TEST(HfTokenizerJson, MalformedFilesNameTheField) {
  auto with = [](auto edit) {
    nlohmann::json j = SmallHfJson("x");
    edit(j);
    return ParseHfTokenizerJson(j.dump());
  };
  using J = nlohmann::json;
  const struct {
    absl::StatusOr<HfTokenizerJson> result;
    std::string message;
  } cases[] = {
      {ParseHfTokenizerJson("{\"model\": "), "not valid JSON"},
      {ParseHfTokenizerJson("[1, 2]"), "top level must be an object"},
      {ParseHfTokenizerJson("\xFF\xFE"), "not valid JSON"},
      {with([](J& j) { j.erase("model"); }), "model must be an object"},
      {with([](J& j) { j["model"]["type"] = "WordPiece"; }), "model.type must be BPE"},
      {with([](J& j) { j["model"]["vocab"] = J::array(); }),
       "model.vocab must be a non-empty object"},
      {with([](J& j) { j["model"]["vocab"]["a"] = "zero"; }), "must be an integer id"},
      {with([](J& j) { j["model"]["vocab"]["a"] = 5; }), "each once"},     // duplicate id
      {with([](J& j) { j["model"]["vocab"]["a"] = 1000; }), "each once"},  // id out of range
      {with([](J& j) { j["model"]["vocab"]["a"] = -1; }), "each once"},
      {with([](J& j) { j["model"]["vocab"]["\xE2\x82\xAC"] = 256; }),
       "not a byte-level string"},  // U+20AC
      {with([](J& j) {
         j["normalizer"] = {{"type", "NFC"}};
       }),
       "normalizer"},
      {with([](J& j) { j["added_tokens"] = 5; }), "added_tokens must be an array"},
      {with([](J& j) { j["added_tokens"][0]["special"] = false; }),
       "added_tokens[0] is not special"},
      {with([](J& j) { j["added_tokens"][0]["id"] = 3; }),
       "added_tokens[0].id 3 is not after the vocab"},
      {with([](J& j) { j["added_tokens"][0]["id"] = "x"; }),
       "added_tokens[0].id must be an integer"},
      {with([](J& j) { j["added_tokens"][0].erase("content"); }), "added_tokens[0].content"},
      {with([](J& j) { j.erase("pre_tokenizer"); }), "pre_tokenizer must be an object"},
      {with([](J& j) { j["pre_tokenizer"]["pretokenizers"][1]["use_regex"] = true; }),
       "use_regex false"},
      {with([](J& j) { j["pre_tokenizer"]["pretokenizers"][0]["type"] = "Whitespace"; }),
       "unsupported pre_tokenizer step"},
      {with([](J& j) { j["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Removed"; }),
       "Isolated"},
      {with([](J& j) { j["pre_tokenizer"]["pretokenizers"].erase(0); }), "no Split regex"},
      {with([](J& j) {
         j["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {{"String", " "}};
       }),
       "pattern.Regex"},
  };
  int i = 0;
  for (const auto& c : cases) {
    ASSERT_FALSE(c.result.ok()) << "case " << i;
    EXPECT_EQ(c.result.status().code(), absl::StatusCode::kInvalidArgument) << "case " << i;
    EXPECT_THAT(Msg(c.result.status()), HasSubstr(c.message)) << "case " << i;
    EXPECT_THAT(Msg(c.result.status()), HasSubstr("tokenizer.json")) << "case " << i;
    ++i;
  }
}

TEST(HfTokenizerJson, ForeignTokenizersAreRejected) {
  const std::string dir = testing::ScratchDir();
  testing::WriteFileOrDie(dir + "/pattern.json", SmallHfJson("\\w+").dump());
  auto pattern = Tokenizer::LoadHfTokenizerJson(dir + "/pattern.json");
  ASSERT_FALSE(pattern.ok());
  EXPECT_THAT(Msg(pattern.status()), HasSubstr("not o200k_harmony: the Split regex"));

  testing::WriteFileOrDie(dir + "/vocab.json", SmallHfJson(std::string(kO200kPatStr)).dump());
  auto vocab = Tokenizer::LoadHfTokenizerJson(dir + "/vocab.json");
  ASSERT_FALSE(vocab.ok());
  EXPECT_THAT(Msg(vocab.status()), HasSubstr("differs from o200k_base"));

  EXPECT_EQ(Tokenizer::LoadHfTokenizerJson(dir + "/none.json").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace gptoss
