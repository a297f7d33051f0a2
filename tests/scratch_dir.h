// ScratchDir: a fresh, empty directory for a test, under $GPTOSS_TEST_TMPDIR (set by ctest, so
// parallel tests never share one) or gtest's temp dir.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

#include "gtest/gtest.h"

namespace gptoss::testing {

inline std::string ScratchDir(const std::string& name) {
  const char* root = std::getenv("GPTOSS_TEST_TMPDIR");
  std::filesystem::path dir =
      std::filesystem::path(root && *root ? root : ::testing::TempDir()) / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

}  // namespace gptoss::testing
