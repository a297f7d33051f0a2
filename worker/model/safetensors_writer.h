// SafetensorsWriter: writes one `.safetensors` file, streaming, so that a checkpoint far larger
// than memory (gpt-oss-120b, ~65 GB) can be produced one chunk at a time.
//
// Contract: the tensor list (names, dtypes, shapes) is fixed up front; the header lists them with
// contiguous data_offsets in the given order and is padded with spaces to a multiple of 8 bytes
// (as the reference library does), so a tensor is aligned to its element size whenever the
// tensors before it have sizes that are multiples of it (list wider dtypes first). Write()
// appends the next bytes of the data section; Finish() checks that exactly the planned number of
// bytes arrived and renames the `.tmp` file into place, so an interrupted run never leaves a
// plausible-looking file behind. Output is a pure function of the inputs (sorted JSON keys), so
// the same tensors give the same bytes on every machine.
#pragma once

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/core/tensor.h"
#include "worker/model/safetensors.h"

namespace gptoss {

class SafetensorsWriter {
 public:
  static absl::StatusOr<std::unique_ptr<SafetensorsWriter>> Create(
      const std::string& path, const std::vector<TensorSpec>& tensors,
      const std::map<std::string, std::string>& metadata = {});
  ~SafetensorsWriter();  // without Finish(): removes the partial file
  SafetensorsWriter(const SafetensorsWriter&) = delete;
  SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;

  absl::Status Write(const void* data, size_t bytes);
  absl::Status Finish();

  uint64_t data_bytes() const { return total_; }
  uint64_t written() const { return written_; }

 private:
  SafetensorsWriter() = default;
  std::string path_, tmp_path_;
  std::FILE* file_ = nullptr;
  uint64_t total_ = 0;
  uint64_t written_ = 0;
  std::vector<char> buffer_;
};

// The complete header bytes (length prefix + padded JSON) for `tensors` laid out in order.
absl::StatusOr<std::string> SafetensorsHeader(
    const std::vector<TensorSpec>& tensors,
    const std::map<std::string, std::string>& metadata = {});

// Convenience for small outputs (logits files, tests): host tensors written in the given order.
absl::Status WriteSafetensors(const std::string& path,
                              const std::vector<std::pair<std::string, TensorView>>& tensors,
                              const std::map<std::string, std::string>& metadata = {});

}  // namespace gptoss
