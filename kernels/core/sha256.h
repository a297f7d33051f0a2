// SHA-256 (FIPS 180-4), used to verify that a ranks file is exactly the official o200k_base.
// Self-contained so that the tokenizer needs no crypto library; speed is irrelevant here
// (one 3.6 MB file per process start).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace gptoss {

class Sha256 {
 public:
  Sha256();
  void Update(std::string_view data);
  std::array<uint8_t, 32> Finish();  // the object must not be used afterwards

 private:
  void Block(const uint8_t* p);

  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> buffer_;
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

// Lower-case hex digest of `data`.
std::string Sha256Hex(std::string_view data);

}  // namespace gptoss
