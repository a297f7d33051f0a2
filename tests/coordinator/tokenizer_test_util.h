// Shared helpers for the tokenizer tests: the repository's tokenizer (loaded once per binary),
// committed fixtures under tests/data/tokenizer, and a scratch directory.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "coordinator/tokenizer/tokenizer.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace gptoss::testing {

inline std::string SourcePath(const std::string& relative) {
  return std::string(GPTOSS_SOURCE_DIR) + "/" + relative;
}
inline std::string RanksPath() {
  return SourcePath("coordinator/tokenizer/assets/o200k_base.tiktoken");
}

inline std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void WriteFileOrDie(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary);
  out << data;
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

// One JSON value per non-empty line of tests/data/tokenizer/<name>.
inline std::vector<nlohmann::json> ReadJsonl(const std::string& name) {
  std::vector<nlohmann::json> out;
  std::ifstream in(SourcePath("tests/data/tokenizer/" + name));
  EXPECT_TRUE(in.good()) << "missing fixture " << name;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    out.push_back(nlohmann::json::parse(line, nullptr, false));
    EXPECT_FALSE(out.back().is_discarded()) << name << ": bad line " << out.size();
  }
  return out;
}

// Per-test scratch directory under $GPTOSS_TEST_TMPDIR (set by ctest) or the system temp dir.
inline std::string ScratchDir() {
  const char* base = std::getenv("GPTOSS_TEST_TMPDIR");
  std::filesystem::path dir =
      base ? base : std::filesystem::temp_directory_path() / "gptoss_tokenizer_test";
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  if (info) dir /= std::string(info->test_suite_name()) + "." + info->name();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

// The committed o200k_harmony tokenizer, loaded once per test binary.
inline const Tokenizer& RepoTokenizer() {
  static const Tokenizer* const kTokenizer = [] {
    auto t = Tokenizer::LoadTiktoken(RanksPath());
    if (!t.ok()) {
      ADD_FAILURE() << t.status();
      std::abort();
    }
    return t->release();
  }();
  return *kTokenizer;
}

// Ids of one corpus.jsonl record ("ids", or "ids_rle" = [id, count, ...]).
inline std::vector<int> CorpusIds(const nlohmann::json& record) {
  std::vector<int> ids;
  if (record.contains("ids")) return record["ids"].get<std::vector<int>>();
  const auto& rle = record["ids_rle"];
  for (size_t i = 0; i + 1 < rle.size(); i += 2)
    ids.insert(ids.end(), rle[i + 1].get<int>(), rle[i].get<int>());
  return ids;
}

// Text of one corpus.jsonl record ("text", or "repeat" x "count").
inline std::string CorpusText(const nlohmann::json& record) {
  if (record.contains("text")) return record["text"].get<std::string>();
  std::string out;
  const std::string unit = record["repeat"].get<std::string>();
  for (int i = 0; i < record["count"].get<int>(); ++i) out += unit;
  return out;
}

}  // namespace gptoss::testing
