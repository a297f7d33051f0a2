// Checkpoint: read-only access to the tensors of a safetensors checkpoint through mmap.
//
// Open() accepts a single `.safetensors` file, or a directory holding either
// `model.safetensors.index.json` (sharded, as the official gpt-oss repos) or `model.safetensors`.
// Everything is validated before Open returns, and every error names the file and, where there is
// one, the tensor:
//  - the file is at least 8 bytes; the little-endian u64 header length is <= 100 MB and fits in
//    the file; the header is a JSON object (optionally with a string->string `__metadata__`);
//  - every entry has a supported dtype (BF16, F32, U8, I32; others such as F16 or F8_E4M3 are a
//    clear "unsupported dtype" error), a shape of rank <= 4 with non-negative dims, and
//    data_offsets [begin, end] with end - begin == numel * dtype size;
//  - sorted by offset the entries tile the data section exactly: no overlap, no gap, nothing
//    beyond its end and nothing left over (the rule the reference safetensors library enforces);
//  - for a sharded checkpoint, index.json has a `weight_map` object of tensor -> shard file name
//    (plain names inside the directory), every shard exists and is valid, every mapped tensor is
//    in its shard, and no tensor is in two shards or in a shard the map does not name for it.
//
// Views returned by Get() point into the read-only mapping (writing through them faults) and
// live as long as the Checkpoint. safetensors does not align data_offsets, so a tensor whose
// address is not a multiple of its element size is copied once into an aligned buffer owned by
// the Checkpoint (our generator writes aligned files, so its checkpoints are never copied).
// Get() is thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kernels/core/tensor.h"

namespace gptoss {

// What a tensor is, without its data: used to plan files (writer) and to check them (weights).
struct TensorSpec {
  std::string name;
  DType dtype = DType::kBF16;
  std::vector<int64_t> shape;

  int64_t numel() const;
  uint64_t bytes() const { return static_cast<uint64_t>(numel()) * DTypeSize(dtype); }
  std::string ShapeString() const;
};

// The safetensors dtype string of a DType ("BF16", "F32", "U8", "I32").
std::string_view SafetensorsDTypeName(DType dtype);

class Checkpoint {
 public:
  static absl::StatusOr<std::unique_ptr<Checkpoint>> Open(const std::string& dir_or_file);
  ~Checkpoint();
  Checkpoint(const Checkpoint&) = delete;
  Checkpoint& operator=(const Checkpoint&) = delete;

  // A host view of the tensor (see the alignment note above). NotFound names the tensor.
  absl::StatusOr<TensorView> Get(std::string_view name) const;
  bool Has(std::string_view name) const { return entries_.count(name) > 0; }
  // dtype and shape of a tensor, without touching its data.
  absl::StatusOr<TensorSpec> Describe(std::string_view name) const;
  // All tensor names, sorted.
  std::vector<std::string> names() const;
  // The path given to Open.
  const std::string& path() const { return path_; }
  // The file that holds `name` (empty if there is no such tensor).
  std::string FileOf(std::string_view name) const;

 private:
  struct Mapping {
    std::string path;
    const uint8_t* base = nullptr;
    size_t size = 0;
    size_t data_start = 0;  // 8 + header length
    ~Mapping();
  };
  struct Entry {
    int file = 0;
    DType dtype = DType::kF32;
    std::vector<int64_t> shape;
    uint64_t begin = 0;  // relative to the data section
    uint64_t end = 0;
  };

  Checkpoint() = default;
  absl::Status AddFile(const std::string& path, std::map<std::string, Entry, std::less<>>* entries);
  absl::Status OpenSharded(const std::string& dir, const std::string& index_path);

  std::string path_;
  std::vector<std::unique_ptr<Mapping>> files_;
  std::map<std::string, Entry, std::less<>> entries_;
  mutable std::mutex realign_mu_;
  mutable std::map<std::string, std::vector<uint64_t>, std::less<>> realigned_;
};

}  // namespace gptoss
