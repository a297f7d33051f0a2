// Small-file helpers every layer shares (config.json, index files, secrets, keys, PEM files).
// ReadFile is bounded: a hostile or mistaken path (a device, a huge file) costs at most
// max_bytes + 1 bytes of memory.
#pragma once

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace gptoss {

// The whole file: NotFound naming the path when it cannot be opened, DataLoss when reading
// fails, InvalidArgument when it is larger than `max_bytes`.
absl::StatusOr<std::string> ReadFile(const std::string& path, size_t max_bytes = size_t{64} << 20);
bool IsDirectory(const std::string& path);
bool PathExists(const std::string& path);

}  // namespace gptoss
