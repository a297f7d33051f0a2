// Hex SHA-256 of a file for the tests (kernels/core/sha256.h does the hashing); "" when the file
// cannot be read.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "kernels/core/sha256.h"

namespace gptoss::testing {

inline std::string Sha256OfFile(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return "";
  Sha256 sha;
  std::vector<char> buf(1 << 20);
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), f)) > 0) sha.Update({buf.data(), n});
  std::fclose(f);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (uint8_t b : sha.Finish()) hex += {kHex[b >> 4], kHex[b & 15]};
  return hex;
}

}  // namespace gptoss::testing
