// Shared helpers of the harmony tests: committed fixtures (tests/data/harmony, written by
// tools/harmony/make_fixtures.py from openai-harmony) and the committed tokenizer.
#pragma once

#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "coordinator/tokenizer/harmony_conversation.h"
#include "coordinator/tokenizer/harmony_json.h"
#include "coordinator/tokenizer/harmony_serde_json.h"
#include "coordinator/tokenizer/tokenizer.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace gptoss::harmony::testing {

inline std::string HarmonyDataPath(const std::string& name) {
  return std::string(GPTOSS_SOURCE_DIR) + "/tests/data/harmony/" + name;
}

// One JSON document per non-empty line, read with serde_json's number semantics (the oracle's),
// so schema defaults in the conversations mean what they meant to openai-harmony. Fails the
// test on an unreadable file or line.
inline std::vector<nlohmann::ordered_json> ReadJsonLines(const std::string& name) {
  std::vector<nlohmann::ordered_json> out;
  std::ifstream in(HarmonyDataPath(name));
  EXPECT_TRUE(in.good()) << "cannot open " << HarmonyDataPath(name);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    absl::StatusOr<nlohmann::ordered_json> j = ParseSerdeJson(line);
    EXPECT_TRUE(j.ok()) << name << ": bad line " << out.size() + 1 << ": " << j.status();
    if (j.ok()) out.push_back(*std::move(j));
  }
  return out;
}

inline std::optional<std::string> OptString(const nlohmann::ordered_json& j) {
  if (j.is_null()) return std::nullopt;
  return j.get<std::string>();
}

// A suite entry's conversation: {"conversation": {...}} or the raw {"conversation_text": "..."}.
inline absl::StatusOr<Conversation> SuiteConversation(const nlohmann::ordered_json& entry) {
  if (entry.contains("conversation_text")) {
    return ConversationFromJsonText(entry["conversation_text"].get<std::string>());
  }
  return ConversationFromJson(entry["conversation"]);
}

// The committed o200k_harmony tokenizer, loaded once per test binary.
inline const Tokenizer* SharedTokenizer() {
  static const Tokenizer* tokenizer = [] {
    auto t = Tokenizer::LoadTiktoken(std::string(GPTOSS_SOURCE_DIR) +
                                     "/coordinator/tokenizer/assets/o200k_base.tiktoken");
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? t->release() : nullptr;
  }();
  return tokenizer;
}

}  // namespace gptoss::harmony::testing
