// Harmony special tokens of o200k_harmony and the generation stop set.
// Contract:
//  - The ids are fixed by the o200k_harmony vocabulary (checked against the loaded tokenizer by
//    HarmonyRenderer::Create and by the tests); code that holds a Tokenizer may look them up by
//    name instead.
//  - Generation stops on <|return|> (done), <|call|> (tool call) and <|endoftext|>, never on
//    <|end|>: <|end|> closes one message and the model goes on with the next <|start|>.
#pragma once

#include <array>

namespace gptoss::harmony {

inline constexpr int kEndOfTextToken = 199999;  // <|endoftext|>
inline constexpr int kReturnToken = 200002;     // <|return|>: last message, sampling is done
inline constexpr int kConstrainToken = 200003;  // <|constrain|>: in headers, before "json"
inline constexpr int kChannelToken = 200005;    // <|channel|>
inline constexpr int kStartToken = 200006;      // <|start|>
inline constexpr int kEndToken = 200007;        // <|end|>: end of one message
inline constexpr int kMessageToken = 200008;    // <|message|>: header → content
inline constexpr int kCallToken = 200012;       // <|call|>: end of a tool call message

inline constexpr std::array<int, 3> kGenerationStopTokens = {kReturnToken, kCallToken,
                                                             kEndOfTextToken};

constexpr bool IsGenerationStopToken(int id) {
  for (int s : kGenerationStopTokens) {
    if (s == id) return true;
  }
  return false;
}

}  // namespace gptoss::harmony
