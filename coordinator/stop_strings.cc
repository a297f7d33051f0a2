#include "coordinator/stop_strings.h"

#include <algorithm>

namespace gptoss {

StopStringMatcher::Output StopStringMatcher::Push(std::string_view piece) {
  Output out;
  if (matched_) return out;  // nothing after a match is ever returned
  if (stops_.empty()) {
    out.text = std::string(piece);
    return out;
  }
  held_.append(piece);
  // The earliest match wins; among matches at the same offset, the longest stop string.
  size_t best = std::string::npos;
  const std::string* best_stop = nullptr;
  for (const std::string& stop : stops_) {
    const size_t at = held_.find(stop);
    if (at == std::string::npos) continue;
    if (at < best || (at == best && stop.size() > best_stop->size())) {
      best = at;
      best_stop = &stop;
    }
  }
  if (best_stop != nullptr) {
    out.text = held_.substr(0, best);
    out.match = *best_stop;
    held_.clear();
    matched_ = true;
    return out;
  }
  // Hold back the longest suffix of held_ that is a proper prefix of some stop string.
  size_t keep = 0;
  for (const std::string& stop : stops_) {
    const size_t max_len = std::min(stop.size() - 1, held_.size());
    for (size_t len = max_len; len > keep; --len) {
      if (std::string_view(held_).substr(held_.size() - len) ==
          std::string_view(stop).substr(0, len)) {
        keep = len;
        break;
      }
    }
  }
  out.text = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return out;
}

std::string StopStringMatcher::Flush() {
  std::string out;
  out.swap(held_);
  return out;
}

}  // namespace gptoss
