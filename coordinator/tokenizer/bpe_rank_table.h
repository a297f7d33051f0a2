// RankTable: token bytes -> rank, built once, read by every Encode on every thread.
// Why not absl::flat_hash_map<string_view, rank>: BPE does a lookup for every candidate pair,
// and with 200k keys each lookup of a view-keyed map costs three cache misses (control bytes,
// slot, key bytes in the blob) plus a std::hash call (Debian's absl does not treat
// std::string_view as its own). Here a slot holds the first 8 key bytes inline, so a lookup is
// one cache line for keys of up to 8 bytes, which is most tokens.
// Contract: open addressing, linear probing, load factor <= 1/2; the table is immutable after
// Build, so the probe lengths are fixed by the vocabulary, not by the text being encoded.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace gptoss {

class RankTable {
 public:
  static constexpr uint32_t kNoRank = UINT32_MAX;

  // `token(r)` gives the bytes of rank r (< count), non-empty and unique, valid as long as the
  // table is used (the table keeps no copy of keys longer than 8 bytes: it reads them through
  // `blob` + `offsets`).
  void Build(const char* blob, const uint32_t* offsets, uint32_t count);

  uint32_t Find(std::string_view key) const { return Find(key, HashOf(key)); }

  // For batches: hash first, Prefetch, and Find later, so that several cache misses overlap.
  uint64_t HashOf(std::string_view key) const {
    return Hash(LoadHead(key.data(), key.size()), key.data(), key.size());
  }
  void Prefetch(uint64_t hash) const { __builtin_prefetch(&slots_[hash & mask_]); }

  uint32_t Find(std::string_view key, uint64_t hash) const {
    const size_t n = key.size();
    const uint64_t head = LoadHead(key.data(), n);
    size_t i = hash & mask_;
    while (true) {
      const Slot& s = slots_[i];
      if (s.length == 0) return kNoRank;
      if (s.length == n && s.head == head &&
          (n <= 8 || std::memcmp(blob_ + offsets_[s.rank] + 8, key.data() + 8, n - 8) == 0)) {
        return s.rank;
      }
      i = (i + 1) & mask_;
    }
  }

 private:
  struct Slot {
    uint64_t head;  // first min(length, 8) bytes, little-endian, zero padded
    uint32_t rank;
    uint32_t length;  // 0 = empty
  };

  // Reads the first min(n, 8) bytes without touching bytes past key[n - 1].
  static uint64_t LoadHead(const char* p, size_t n) {
    uint64_t v = 0;
    if (n >= 8) {
      std::memcpy(&v, p, 8);
    } else if (n >= 4) {  // two overlapping 4-byte loads
      uint32_t lo, hi;
      std::memcpy(&lo, p, 4);
      std::memcpy(&hi, p + n - 4, 4);
      v = lo | (uint64_t{hi} << (8 * (n - 4)));
    } else if (n > 0) {  // bytes 0, n/2, n-1 cover n = 1..3
      const auto* u = reinterpret_cast<const uint8_t*>(p);
      v = u[0] | (uint64_t{u[n / 2]} << (8 * (n / 2))) | (uint64_t{u[n - 1]} << (8 * (n - 1)));
    }
    return v;
  }

  static uint64_t Mix(uint64_t x) {
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ULL;
    x ^= x >> 32;
    return x;
  }

  static uint64_t Hash(uint64_t head, const char* p, size_t n) {
    uint64_t h = (head ^ (uint64_t{n} << 59)) * 0x9e3779b97f4a7c15ULL;
    for (size_t i = 8; i < n; i += 8) {
      const size_t take = n - i < 8 ? n - i : 8;
      h = (h ^ LoadHead(p + i, take)) * 0x9e3779b97f4a7c15ULL;
      h ^= h >> 29;
    }
    return Mix(h);
  }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  const char* blob_ = nullptr;
  const uint32_t* offsets_ = nullptr;
};

}  // namespace gptoss
