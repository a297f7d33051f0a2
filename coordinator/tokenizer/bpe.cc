#include "coordinator/tokenizer/bpe.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace gptoss {
namespace {

// Pieces shorter than this use the cache-friendly O(n^2) scan (pieces are a few bytes in real
// text); longer ones use the heap. Both pick the same merge at every step, so the cut-off only
// changes speed.
constexpr size_t kSmallPiece = 128;

// Min-heap of uint64 with four children per node: half the depth of a binary heap and the
// children of a node share a cache line, which matters once a 100k-byte piece makes the heap
// larger than the caches.
class QuaternaryHeap {
 public:
  explicit QuaternaryHeap(size_t capacity) { v_.reserve(capacity); }
  bool empty() const { return v_.empty(); }
  void Push(uint64_t x) {
    size_t i = v_.size();
    v_.push_back(x);
    while (i > 0) {
      const size_t parent = (i - 1) / 4;
      if (v_[parent] <= x) break;
      v_[i] = v_[parent];
      i = parent;
    }
    v_[i] = x;
  }
  uint64_t Pop() {
    const uint64_t top = v_[0];
    const uint64_t x = v_.back();
    v_.pop_back();
    const size_t n = v_.size();
    if (n == 0) return top;
    size_t i = 0;
    while (true) {
      const size_t first = 4 * i + 1;
      if (first >= n) break;
      size_t best = first;
      const size_t last = std::min(first + 4, n);
      for (size_t c = first + 1; c < last; ++c) {
        if (v_[c] < v_[best]) best = c;
      }
      if (x <= v_[best]) break;
      v_[i] = v_[best];
      i = best;
    }
    v_[i] = x;
    return top;
  }

 private:
  std::vector<uint64_t> v_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<BytePairEncoder>> BytePairEncoder::Create(
    const std::vector<std::string>& token_bytes) {
  if (token_bytes.size() >= kNoRank) return absl::InvalidArgumentError("too many tokens");
  std::unique_ptr<BytePairEncoder> bpe(new BytePairEncoder());
  size_t total = 0;
  for (const std::string& t : token_bytes) total += t.size();
  bpe->blob_.reserve(total);
  bpe->offsets_.reserve(token_bytes.size() + 1);
  for (const std::string& t : token_bytes) {
    bpe->offsets_.push_back(static_cast<uint32_t>(bpe->blob_.size()));
    bpe->blob_.append(t);
  }
  bpe->offsets_.push_back(static_cast<uint32_t>(bpe->blob_.size()));
  for (uint32_t r = 0; r < token_bytes.size(); ++r) {
    if (token_bytes[r].empty()) {
      return absl::InvalidArgumentError(absl::StrCat("token of rank ", r, " is empty"));
    }
  }
  // blob_ and offsets_ are complete and never change again; the table reads keys through them.
  bpe->ranks_.Build(bpe->blob_.data(), bpe->offsets_.data(),
                    static_cast<uint32_t>(token_bytes.size()));
  std::fill(std::begin(bpe->byte_rank_), std::end(bpe->byte_rank_), kNoRank);
  for (uint32_t r = 0; r < token_bytes.size(); ++r) {
    const std::string_view t = bpe->Token(r);
    const uint32_t found = bpe->ranks_.Find(t);  // the first rank inserted with these bytes
    if (found != r) {
      return absl::InvalidArgumentError(
          absl::StrCat("ranks ", found, " and ", r, " have the same token bytes \"",
                       absl::CHexEscape(absl::string_view(t.data(), t.size())), "\""));
    }
    if (t.size() == 1) bpe->byte_rank_[static_cast<uint8_t>(t[0])] = r;
  }
  bpe->pair_rank_.assign(1 << 16, kNoRank);
  for (uint32_t r = 0; r < token_bytes.size(); ++r) {
    const std::string_view t = bpe->Token(r);
    if (t.size() == 2)
      bpe->pair_rank_[static_cast<uint8_t>(t[0]) << 8 | static_cast<uint8_t>(t[1])] = r;
  }
  for (int b = 0; b < 256; ++b) {
    if (bpe->byte_rank_[b] == kNoRank) {
      return absl::InvalidArgumentError(
          absl::StrCat("byte 0x", absl::Hex(b, absl::kZeroPad2),
                       " is not a token; every single "
                       "byte must be one so that any text can be encoded"));
    }
  }
  return bpe;
}

void BytePairEncoder::EncodePiece(std::string_view piece, std::vector<int>* out) const {
  const uint32_t whole = Rank(piece);
  if (whole != kNoRank) {  // most pieces of real text are one token
    out->push_back(static_cast<int>(whole));
  } else {
    EncodeUnknownPiece(piece, out);
  }
}

void BytePairEncoder::EncodePieces(std::span<const std::string_view> pieces,
                                   std::vector<int>* out) const {
  constexpr size_t kBatch = 32;
  uint64_t hashes[kBatch];
  for (size_t begin = 0; begin < pieces.size(); begin += kBatch) {
    const size_t end = std::min(pieces.size(), begin + kBatch);
    for (size_t i = begin; i < end; ++i) {
      if (pieces[i].size() <= 2) continue;  // direct tables
      hashes[i - begin] = ranks_.HashOf(pieces[i]);
      ranks_.Prefetch(hashes[i - begin]);
    }
    for (size_t i = begin; i < end; ++i) {
      const std::string_view piece = pieces[i];
      const uint32_t whole =
          piece.size() <= 2 ? Rank(piece) : ranks_.Find(piece, hashes[i - begin]);
      if (whole != kNoRank) {
        out->push_back(static_cast<int>(whole));
      } else {
        EncodeUnknownPiece(piece, out);
      }
    }
  }
}

void BytePairEncoder::EncodeUnknownPiece(std::string_view piece, std::vector<int>* out) const {
  if (piece.size() < kSmallPiece) {
    MergeSmall(piece, out);
  } else {
    MergeLarge(piece, out);
  }
}

void BytePairEncoder::MergeSmall(std::string_view piece, std::vector<int>* out) const {
  // parts[i] = start of part i; pair[i] = rank of part i + part i+1 (kNoRank if not a token).
  // parts[count - 1] == piece.size() is the end sentinel.
  const size_t n = piece.size();
  uint32_t parts[kSmallPiece + 1];
  uint32_t pair[kSmallPiece + 1];
  size_t count = n + 1;
  for (size_t i = 0; i <= n; ++i) parts[i] = static_cast<uint32_t>(i);
  for (size_t i = 0; i + 1 < n; ++i) pair[i] = Rank(piece.substr(i, 2));
  pair[n - 1] = kNoRank;
  auto span_rank = [&](size_t first_part, size_t end_part) {  // parts [first, end) joined
    return Rank(piece.substr(parts[first_part], parts[end_part] - parts[first_part]));
  };
  while (true) {
    uint32_t best = kNoRank;
    size_t at = 0;
    for (size_t i = 0; i + 2 < count; ++i) {  // strict '<' keeps the leftmost of equal ranks
      if (pair[i] < best) {
        best = pair[i];
        at = i;
      }
    }
    if (best == kNoRank) break;
    // Merge part at+1 into part at, then recompute the two pairs that now involve part at.
    std::copy(parts + at + 2, parts + count, parts + at + 1);
    std::copy(pair + at + 2, pair + count - 1, pair + at + 1);
    --count;
    auto span = [&](size_t first_part, size_t end_part) {
      return piece.substr(parts[first_part], parts[end_part] - parts[first_part]);
    };
    const bool has_right = at + 2 < count;
    const Lookup right = Start(has_right ? span(at, at + 2) : std::string_view());
    const Lookup left = Start(at > 0 ? span(at - 1, at + 1) : std::string_view());
    pair[at] = has_right ? Finish(right) : kNoRank;
    if (at > 0) pair[at - 1] = Finish(left);
  }
  for (size_t i = 0; i + 1 < count; ++i) out->push_back(static_cast<int>(span_rank(i, i + 1)));
}

void BytePairEncoder::MergeLarge(std::string_view piece, std::vector<int>* out) const {
  // Parts form a linked list keyed by start offset: end[s] is the end of the part starting at s,
  // prev[s] the start of the part before it, pair[s] the rank of part s + its successor. The
  // heap holds (rank << 32 | start); popping the minimum gives the lowest rank and, on ties,
  // the leftmost start, the same choice as MergeSmall. Entries whose rank no longer equals
  // pair[start] are stale: a start's pair only changes by growing, and distinct byte strings
  // have distinct ranks.
  const uint32_t n = static_cast<uint32_t>(piece.size());
  std::vector<uint32_t> end(n), prev(n), pair(n, kNoRank);
  QuaternaryHeap heap(2 * n);
  auto push = [&](uint32_t start) {
    if (pair[start] != kNoRank) heap.Push(uint64_t{pair[start]} << 32 | start);
  };
  for (uint32_t i = 0; i < n; ++i) {
    end[i] = i + 1;
    prev[i] = i - 1;  // wraps for i == 0; never read there
    if (i + 1 < n) {
      pair[i] = Rank(piece.substr(i, 2));
      push(i);
    }
  }
  while (!heap.empty()) {
    const uint64_t top = heap.Pop();
    const uint32_t s = static_cast<uint32_t>(top);
    if (pair[s] != static_cast<uint32_t>(top >> 32)) continue;  // stale
    const uint32_t t = end[s];                                  // the right part, absorbed into s
    const uint32_t u = end[t];                                  // the new end of s
    end[s] = u;
    pair[t] = kNoRank;
    if (u < n) prev[u] = s;
    const uint32_t p = s > 0 ? prev[s] : 0;
    const Lookup right = Start(u < n ? piece.substr(s, end[u] - s) : std::string_view());
    const Lookup left = Start(s > 0 ? piece.substr(p, u - p) : std::string_view());
    pair[s] = u < n ? Finish(right) : kNoRank;
    push(s);
    if (s > 0) {
      pair[p] = Finish(left);
      push(p);
    }
  }
  for (uint32_t s = 0; s < n; s = end[s]) {
    out->push_back(static_cast<int>(Rank(piece.substr(s, end[s] - s))));
  }
}

}  // namespace gptoss
