// o200k_harmony against tiktoken: ids on the committed corpus (tests/data/tokenizer/corpus.jsonl,
// written by tools/tokenizer/make_fixtures.py), special tokens (meta.json), and the HF
// tokenizer.json made by transformers' TikTokenConverter, which must behave identically.
#include <zlib.h>

#include <string>
#include <vector>

#include "coordinator/tokenizer/bpe_pretokenizer.h"
#include "kernels/core/sha256.h"
#include "gtest/gtest.h"
#include "tests/coordinator/tokenizer_test_util.h"

namespace gptoss {
namespace {

using ::gptoss::testing::CorpusIds;
using ::gptoss::testing::CorpusText;
using ::gptoss::testing::ReadJsonl;
using ::gptoss::testing::RepoTokenizer;

const std::vector<nlohmann::json>& Corpus() {
  static const auto* const kCorpus = new std::vector<nlohmann::json>(ReadJsonl("corpus.jsonl"));
  return *kCorpus;
}

// Compares ids and reports the first difference with its neighbourhood, not 50k numbers.
::testing::AssertionResult SameIds(const std::vector<int>& want, const std::vector<int>& got) {
  if (want == got) return ::testing::AssertionSuccess();
  size_t i = 0;
  while (i < want.size() && i < got.size() && want[i] == got[i]) ++i;
  auto window = [&](const std::vector<int>& v) {
    std::string s;
    for (size_t k = i; k < v.size() && k < i + 8; ++k) s += std::to_string(v[k]) + " ";
    return s;
  };
  return ::testing::AssertionFailure()
         << "lengths " << want.size() << " (tiktoken) vs " << got.size()
         << "; first difference at #" << i << ": tiktoken [" << window(want) << "] ours ["
         << window(got) << "]";
}

TEST(TokenizerGolden, CorpusIsLargeAndVaried) {
  size_t bytes = 0;
  std::set<std::string> sections;
  for (const auto& r : Corpus()) {
    bytes += CorpusText(r).size();
    const std::string name = r["name"].get<std::string>();
    sections.insert(name.substr(0, name.find('/')));
  }
  EXPECT_GT(Corpus().size(), 2000u);
  EXPECT_GT(bytes, 1000000u);
  for (const char* s : {"prose", "code", "ws", "digits", "contractions", "emoji", "marks",
                        "scripts", "random", "unicode16", "whitespace_chars", "long"}) {
    EXPECT_TRUE(sections.count(s)) << "corpus lacks section " << s;
  }
}

TEST(TokenizerGolden, IdsEqualTiktokenAndRoundTrip) {
  const Tokenizer& tok = RepoTokenizer();
  int failures = 0;
  for (const auto& r : Corpus()) {
    const std::string name = r["name"].get<std::string>();
    const std::string text = CorpusText(r);
    const std::vector<int> ids = tok.Encode(text);
    const auto same = SameIds(CorpusIds(r), ids);
    EXPECT_TRUE(same) << name;
    auto decoded = tok.Decode(ids);
    ASSERT_TRUE(decoded.ok()) << name << ": " << decoded.status();
    EXPECT_EQ(*decoded, text) << name;
    if (!same && ++failures > 20) FAIL() << "stopping after 20 mismatching cases";
  }
}

TEST(TokenizerGolden, SpecialTokensMatchTiktoken) {
  const Tokenizer& tok = RepoTokenizer();
  const auto meta = nlohmann::json::parse(
      testing::ReadFileOrDie(testing::SourcePath("tests/data/tokenizer/meta.json")), nullptr,
      false);
  ASSERT_FALSE(meta.is_discarded());
  EXPECT_EQ(tok.vocab_size(), meta["n_vocab"].get<int>());
  EXPECT_EQ(meta["pat_str"].get<std::string>(), std::string(kO200kPatStr));
  EXPECT_EQ(meta["ranks_sha256"].get<std::string>(),
            Sha256Hex(testing::ReadFileOrDie(testing::RanksPath())));
  // Every name tiktoken accepts (including the alias <|reserved_200018|>) maps to its id.
  for (const auto& entry : meta["special_tokens"]) {
    const std::string name = entry[0].get<std::string>();
    auto id = tok.SpecialTokenId(name);
    ASSERT_TRUE(id.ok()) << name << ": " << id.status();
    EXPECT_EQ(*id, entry[1].get<int>()) << name;
  }
  EXPECT_EQ(meta["special_tokens"].size(), 1091u);
  // Decoding a special id gives the same text as tiktoken.
  for (const auto& [id_text, bytes] : meta["special_decode"].items()) {
    const int id = std::stoi(id_text);
    EXPECT_TRUE(tok.IsSpecial(id)) << id;
    auto got = tok.TokenBytes(id);
    ASSERT_TRUE(got.ok()) << id;
    EXPECT_EQ(std::string(*got), bytes.get<std::string>()) << id;
  }
  EXPECT_EQ(meta["special_decode"].size(), 1090u);
}

// Inflates the committed tokenizer.json.gz into the scratch directory.
std::string InflateTokenizerJson() {
  const std::string out = testing::ScratchDir() + "/tokenizer.json";
  gzFile in = gzopen(
      testing::SourcePath("tests/data/tokenizer/o200k_harmony.tokenizer.json.gz").c_str(), "rb");
  EXPECT_NE(in, nullptr);
  if (in == nullptr) return out;
  std::string data;
  char buf[1 << 16];
  int n;
  while ((n = gzread(in, buf, sizeof(buf))) > 0) data.append(buf, n);
  EXPECT_EQ(n, 0) << "gzread failed";
  gzclose(in);
  testing::WriteFileOrDie(out, data);
  return out;
}

TEST(TokenizerGolden, HfTokenizerJsonEqualsTiktokenLoader) {
  const std::string path = InflateTokenizerJson();
  auto hf = Tokenizer::LoadHfTokenizerJson(path);
  ASSERT_TRUE(hf.ok()) << hf.status();
  auto dispatched = Tokenizer::Load(path);  // *.json dispatches to the HF loader
  ASSERT_TRUE(dispatched.ok()) << dispatched.status();
  const Tokenizer& tiktoken = RepoTokenizer();
  EXPECT_EQ((*hf)->vocab_size(), tiktoken.vocab_size());
  for (const auto& r : Corpus()) {
    const std::string text = CorpusText(r);
    EXPECT_TRUE(SameIds(tiktoken.Encode(text), (*hf)->Encode(text))) << r["name"];
  }
  for (int id = 0; id < tiktoken.vocab_size(); ++id) {
    ASSERT_EQ(*(*hf)->TokenBytes(id), *tiktoken.TokenBytes(id)) << id;
    ASSERT_EQ((*hf)->IsSpecial(id), tiktoken.IsSpecial(id)) << id;
  }
  EXPECT_EQ(*(*hf)->SpecialTokenId("<|start|>"), 200006);
}

}  // namespace
}  // namespace gptoss
