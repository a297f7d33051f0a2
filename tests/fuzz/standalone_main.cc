// Runs a libFuzzer target without libFuzzer, so that the g++ build (and CI) replays the fuzz
// targets as regression tests: every file of the corpus directories given, then --mutations=N
// inputs derived from them by a fixed-seed mutator (bit flips, byte changes, inserts, erases,
// truncations, splices). Bounded by count, never by time; the same inputs on every run. A
// violated invariant aborts the target, and ctest reports the failure.
//
//   <target>_replay [--mutations=N] [--seed=S] CORPUS_DIR...
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace {

using Bytes = std::vector<uint8_t>;

Bytes Mutate(const std::vector<Bytes>& corpus, std::mt19937_64& rng) {
  Bytes b = corpus.empty() ? Bytes() : corpus[rng() % corpus.size()];
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int e = 0; e < edits; ++e) {
    const size_t at = b.empty() ? 0 : rng() % b.size();
    switch (rng() % 6) {
      case 0:
        if (!b.empty()) b[at] ^= static_cast<uint8_t>(1u << (rng() % 8));
        break;
      case 1:
        if (!b.empty()) b[at] = static_cast<uint8_t>(rng());
        break;
      case 2:
        b.insert(b.begin() + static_cast<long>(at), static_cast<uint8_t>(rng()));
        break;
      case 3:
        if (!b.empty()) b.erase(b.begin() + static_cast<long>(at));
        break;
      case 4:
        b.resize(at);
        break;
      default:  // splice in a piece of another input
        if (!corpus.empty()) {
          const Bytes& other = corpus[rng() % corpus.size()];
          if (!other.empty()) {
            const size_t from = rng() % other.size();
            const size_t len = 1 + rng() % (other.size() - from);
            b.insert(b.begin() + static_cast<long>(at), other.begin() + static_cast<long>(from),
                     other.begin() + static_cast<long>(from + len));
          }
        }
    }
  }
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  long mutations = 2000;
  uint64_t seed = 1;
  std::vector<Bytes> corpus;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--mutations=", 12) == 0) {
      mutations = std::atol(argv[i] + 12);
    } else if (std::strncmp(argv[i], "--seed=", 7) == 0) {
      seed = std::strtoull(argv[i] + 7, nullptr, 10);
    } else if (std::filesystem::is_directory(argv[i])) {
      for (const auto& entry : std::filesystem::directory_iterator(argv[i])) {
        std::ifstream in(entry.path(), std::ios::binary);
        corpus.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      }
    } else {
      std::fprintf(stderr, "not a directory: %s\n", argv[i]);
      return 2;
    }
  }
  for (const Bytes& b : corpus) LLVMFuzzerTestOneInput(b.data(), b.size());
  std::mt19937_64 rng(seed);
  for (long i = 0; i < mutations; ++i) {
    const Bytes b = Mutate(corpus, rng);
    LLVMFuzzerTestOneInput(b.data(), b.size());
  }
  std::printf("replayed %zu corpus inputs and %ld mutations (seed %llu)\n", corpus.size(),
              mutations, static_cast<unsigned long long>(seed));
  return 0;
}
