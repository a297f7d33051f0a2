// StopStringMatcher: finds the request's stop strings in streamed completion text.
// Contract (inference.proto StopParams.stop):
//  - Push() takes the next piece of text and returns what may be sent to the client now, plus
//    the stop string once one appears. The text returned never contains a stop string nor any
//    byte after the first match; text that might be the beginning of a stop string is held
//    back until the next piece decides it (so no client ever sees half a stop string that then
//    matched).
//  - Flush() returns the held-back text at the end of generation (or of a harmony message: a
//    stop string never spans two messages).
//  - Pieces are valid UTF-8 (StreamingDetokenizer output) and stop strings are valid UTF-8, so a
//    held-back suffix always starts on a code point boundary: the output stays valid UTF-8.
//  - Without stop strings Push() returns its input unchanged.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gptoss {

class StopStringMatcher {
 public:
  explicit StopStringMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {}

  struct Output {
    std::string text;                  // safe to send now
    std::optional<std::string> match;  // the stop string that ended the text
  };
  Output Push(std::string_view piece);
  std::string Flush();
  bool matched() const { return matched_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;  // text not yet sent: a possible start of a stop string
  bool matched_ = false;
};

}  // namespace gptoss
