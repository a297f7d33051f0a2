// Byte-pair encoding by rank, exactly as tiktoken does it: a piece that is itself a token is
// that token; otherwise start from single bytes and repeatedly merge the adjacent pair whose
// concatenation has the lowest rank (the leftmost one on ties) until no pair is a token.
// Contract:
//  - Created from the token bytes by rank (rank == token id); validates that tokens are
//    non-empty and unique and that all 256 single bytes are tokens, so every byte string has an
//    encoding and EncodePiece never fails.
//  - EncodePiece is O(n log n) in the piece length (a heap beyond a small size), so 100k repeated
//    characters in one pre-token are not quadratic. Thread-safe (const, no shared scratch).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "coordinator/tokenizer/bpe_rank_table.h"

namespace gptoss {

class BytePairEncoder {
 public:
  static constexpr uint32_t kNoRank = RankTable::kNoRank;

  static absl::StatusOr<std::unique_ptr<BytePairEncoder>> Create(
      const std::vector<std::string>& token_bytes);

  // Appends the ranks of `piece` (non-empty) to `out`.
  void EncodePiece(std::string_view piece, std::vector<int>* out) const;
  // Same for several pieces, in order; faster, because the lookups of the whole pieces are
  // issued together and their cache misses overlap.
  void EncodePieces(std::span<const std::string_view> pieces, std::vector<int>* out) const;

  // Rank of exactly these bytes, or kNoRank.
  uint32_t Rank(std::string_view bytes) const {
    if (bytes.size() == 2) {  // every initial BPE pair: a 256 KiB table that stays in cache
      return pair_rank_[static_cast<uint8_t>(bytes[0]) << 8 | static_cast<uint8_t>(bytes[1])];
    }
    if (bytes.size() == 1) return byte_rank_[static_cast<uint8_t>(bytes[0])];
    return ranks_.Find(bytes);
  }
  // Bytes of token `rank`; rank must be < size().
  std::string_view Token(uint32_t rank) const {
    return std::string_view(blob_).substr(offsets_[rank], offsets_[rank + 1] - offsets_[rank]);
  }
  int size() const { return static_cast<int>(offsets_.size()) - 1; }

 private:
  BytePairEncoder() = default;
  // A lookup split in two so that the cache misses of independent lookups overlap: Start
  // hashes and prefetches, Finish probes.
  struct Lookup {
    std::string_view key;
    uint64_t hash;
  };
  Lookup Start(std::string_view key) const {
    Lookup l{key, 0};
    if (key.size() > 2) {
      l.hash = ranks_.HashOf(key);
      ranks_.Prefetch(l.hash);
    }
    return l;
  }
  uint32_t Finish(const Lookup& l) const {
    return l.key.size() <= 2 ? Rank(l.key) : ranks_.Find(l.key, l.hash);
  }

  void EncodeUnknownPiece(std::string_view piece, std::vector<int>* out) const;
  void MergeSmall(std::string_view piece, std::vector<int>* out) const;
  void MergeLarge(std::string_view piece, std::vector<int>* out) const;

  std::string blob_;               // all token bytes, back to back, in rank order
  std::vector<uint32_t> offsets_;  // token r is blob_[offsets_[r], offsets_[r + 1])
  RankTable ranks_;                // reads keys through blob_ and offsets_
  uint32_t byte_rank_[256];
  std::vector<uint32_t> pair_rank_;  // rank of the 2-byte token (b0 << 8 | b1), or kNoRank
};

}  // namespace gptoss
