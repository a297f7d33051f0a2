// UTF-8 repair (vs Python's errors="replace"), SHA-256 (vs hashlib), and the streaming
// detokenizer, which must never emit a partial UTF-8 sequence and never lose bytes.
#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "kernels/core/sha256.h"
#include "coordinator/tokenizer/utf8.h"
#include "gtest/gtest.h"
#include "tests/coordinator/tokenizer_test_util.h"

namespace gptoss {
namespace {

using ::gptoss::testing::ReadJsonl;
using ::gptoss::testing::RepoTokenizer;

std::string Unhex(const std::string& hex) {
  return absl::HexStringToBytes(absl::string_view(hex.data(), hex.size()));
}

TEST(Utf8, MatchesPythonOnTheFixture) {
  const auto cases = ReadJsonl("utf8_replace.jsonl");
  ASSERT_GT(cases.size(), 2000u);
  for (const auto& c : cases) {
    const std::string bytes = Unhex(c["hex"].get<std::string>());
    EXPECT_EQ(utf8::ValidPrefixLength(bytes), c["valid_prefix"].get<size_t>()) << c["hex"];
    EXPECT_EQ(utf8::ToValid(bytes), c["replaced"].get<std::string>()) << c["hex"];
    EXPECT_EQ(utf8::IsValid(bytes), c["valid_prefix"].get<size_t>() == bytes.size());
  }
}

TEST(Sha256, MatchesHashlib) {
  const auto cases = ReadJsonl("sha256.jsonl");
  ASSERT_GT(cases.size(), 100u);
  for (const auto& c : cases) {
    const std::string data = Unhex(c["hex"].get<std::string>());
    EXPECT_EQ(Sha256Hex(data), c["sha256"].get<std::string>()) << data.size() << " bytes";
    // Fed in uneven pieces, the digest is the same.
    Sha256 sha;
    for (size_t i = 0; i < data.size(); i += 1 + i % 7)
      sha.Update(std::string_view(data).substr(i, 1 + i % 7));
    std::string hex;
    for (uint8_t b : sha.Finish()) hex += absl::StrCat(absl::Hex(b, absl::kZeroPad2));
    EXPECT_EQ(hex, c["sha256"].get<std::string>()) << data.size() << " bytes, pieces";
  }
}

// Pushes `ids` one at a time; checks each piece is valid UTF-8; returns all pieces + Flush.
std::string Stream(const std::vector<int>& ids) {
  StreamingDetokenizer detok(&RepoTokenizer());
  std::string out;
  for (int id : ids) {
    auto piece = detok.Push(id);
    EXPECT_TRUE(piece.ok()) << piece.status();
    if (!piece.ok()) continue;
    EXPECT_TRUE(utf8::IsValid(*piece)) << absl::CHexEscape(*piece);
    out += *piece;
  }
  const std::string rest = detok.Flush();
  EXPECT_TRUE(utf8::IsValid(rest));
  return out + rest;
}

TEST(StreamingDetokenizer, HoldsBackEmojiSplitAcrossTokens) {
  const Tokenizer& tok = RepoTokenizer();
  const std::string text =
      "Family: 👨‍👩‍👧‍👦, melting 🫠, flag 🏴󠁧󠁢󠁳󠁣󠁴󠁿!";
  const std::vector<int> ids = tok.Encode(text);
  int partial_tokens = 0;
  for (int id : ids) partial_tokens += !utf8::IsValid(*tok.TokenBytes(id));
  ASSERT_GT(partial_tokens, 0) << "the test needs tokens that end inside a character";
  EXPECT_EQ(Stream(ids), text);

  // Byte by byte: nothing comes out until the 4-byte character is complete.
  StreamingDetokenizer detok(&tok);
  const std::string melting = "\xF0\x9F\xAB\xA0";  // U+1FAE0
  std::string out;
  for (size_t i = 0; i < melting.size(); ++i) {
    const int id = tok.Encode(melting.substr(i, 1))[0];
    out = *detok.Push(id);
    EXPECT_EQ(out, i + 1 < melting.size() ? "" : melting) << i;
  }
  EXPECT_EQ(detok.Flush(), "");
}

TEST(StreamingDetokenizer, EqualsOneShotRepairOnRandomIds) {
  const Tokenizer& tok = RepoTokenizer();
  std::mt19937 rng(1234);
  // Byte tokens 128..255 of o200k are the lone UTF-8 lead/continuation bytes: use them often.
  std::vector<int> partial;
  for (int id = 0; id < 200000 && partial.size() < 400; ++id) {
    if (!utf8::IsValid(*tok.TokenBytes(id))) partial.push_back(id);
  }
  ASSERT_GT(partial.size(), 100u);
  for (int round = 0; round < 500; ++round) {
    std::vector<int> ids;
    const int n = 1 + rng() % 30;
    for (int i = 0; i < n; ++i) {
      const int r = rng() % 10;
      ids.push_back(r < 6   ? partial[rng() % partial.size()]
                    : r < 9 ? static_cast<int>(rng() % 199998)
                            : 199998 + static_cast<int>(rng() % 1090));
    }
    const std::string all = *tok.Decode(ids);
    ASSERT_EQ(Stream(ids), utf8::ToValid(all)) << "round " << round;
  }
}

TEST(StreamingDetokenizer, BadIdIsAnErrorAndLosesNothing) {
  const Tokenizer& tok = RepoTokenizer();
  const std::string euro = "\xE2\x82\xAC";
  std::vector<int> first = tok.Encode(euro.substr(0, 1)), rest = tok.Encode(euro.substr(1));
  StreamingDetokenizer detok(&tok);
  EXPECT_EQ(*detok.Push(first[0]), "");
  EXPECT_FALSE(detok.Push(-5).ok());
  EXPECT_FALSE(detok.Push(201088).ok());
  std::string out;
  for (int id : rest) out += *detok.Push(id);
  EXPECT_EQ(out, euro);
  // An unfinished sequence at the end becomes one U+FFFD.
  EXPECT_EQ(*detok.Push(first[0]), "");
  EXPECT_EQ(detok.Flush(), std::string(utf8::kReplacement));
  EXPECT_EQ(detok.Flush(), "");
}

}  // namespace
}  // namespace gptoss
