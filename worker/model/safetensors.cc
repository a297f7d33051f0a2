// safetensors reading and validation (see safetensors.h for the rules).
#include "worker/model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/core/files.h"
#include "kernels/core/status.h"
#include "nlohmann/json.hpp"

namespace gptoss {
namespace {

using Json = nlohmann::json;

// The reference implementation's limit (safetensors MAX_HEADER_SIZE).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr int kMaxRank = 4;
constexpr char kIndexFile[] = "model.safetensors.index.json";
constexpr char kSingleFile[] = "model.safetensors";

bool ParseDType(const std::string& s, DType* out) {
  if (s == "BF16")
    *out = DType::kBF16;
  else if (s == "F32")
    *out = DType::kF32;
  else if (s == "U8")
    *out = DType::kU8;
  else if (s == "I32")
    *out = DType::kI32;
  else
    return false;
  return true;
}

std::string Shown(const Json& v) {
  std::string s = v.dump();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

}  // namespace

int64_t TensorSpec::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string TensorSpec::ShapeString() const { return "[" + absl::StrJoin(shape, ",") + "]"; }

std::string_view SafetensorsDTypeName(DType dtype) { return DTypeName(dtype); }

Checkpoint::Mapping::~Mapping() {
  if (base != nullptr) ::munmap(const_cast<uint8_t*>(base), size);
}

Checkpoint::~Checkpoint() = default;

absl::Status Checkpoint::AddFile(const std::string& path,
                                 std::map<std::string, Entry, std::less<>>* entries) {
  auto fail = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail("not a regular file");
  }
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  if (file_size < 8) {
    ::close(fd);
    return fail(
        absl::StrCat("file is ", file_size, " bytes, shorter than the 8-byte header length"));
  }
  void* base = ::mmap(nullptr, file_size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int mmap_errno = errno;
  ::close(fd);
  if (base == MAP_FAILED)
    return absl::InternalError(absl::StrCat(path, ": mmap failed: ", std::strerror(mmap_errno)));
  auto mapping = std::make_unique<Mapping>();
  mapping->path = path;
  mapping->base = static_cast<const uint8_t*>(base);
  mapping->size = file_size;

  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | mapping->base[i];  // little-endian
  if (header_len > kMaxHeaderBytes)
    return fail(absl::StrCat("header length ", header_len, " exceeds the 100 MB limit"));
  if (header_len > file_size - 8)
    return fail(
        absl::StrCat("header length ", header_len, " exceeds the file size ", file_size, " - 8"));
  mapping->data_start = 8 + header_len;
  const uint64_t data_size = file_size - mapping->data_start;

  const char* header = reinterpret_cast<const char*>(mapping->base + 8);
  Json root = Json::parse(header, header + header_len, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return fail("header is not valid JSON");
  if (!root.is_object()) return fail("header is not a JSON object");

  const int file_index = static_cast<int>(files_.size());
  struct Placed {
    std::string name;
    uint64_t begin, end;
  };
  std::vector<Placed> placed;
  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string& name = it.key();
    const Json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) return fail("__metadata__ must be an object of strings");
      for (auto m = v.begin(); m != v.end(); ++m)
        if (!m.value().is_string())
          return fail(absl::StrCat("__metadata__['", m.key(), "'] must be a string"));
      continue;
    }
    auto tfail = [&](const std::string& what) {
      return fail(absl::StrCat("tensor '", name, "': ", what));
    };
    if (!v.is_object()) return tfail("entry must be an object");
    Entry e;
    e.file = file_index;
    auto dt = v.find("dtype");
    if (dt == v.end() || !dt->is_string()) return tfail("missing string 'dtype'");
    if (!ParseDType(dt->get<std::string>(), &e.dtype))
      return tfail(absl::StrCat("unsupported dtype '", dt->get<std::string>(),
                                "' (supported: BF16, F32, U8, I32)"));
    auto sh = v.find("shape");
    if (sh == v.end() || !sh->is_array()) return tfail("missing array 'shape'");
    if (sh->size() > kMaxRank)
      return tfail(absl::StrCat("shape ", Shown(*sh), " has rank > ", kMaxRank));
    uint64_t numel = 1;
    for (const Json& d : *sh) {
      if (!d.is_number_unsigned())
        return tfail(absl::StrCat("shape ", Shown(*sh), " must hold non-negative integers"));
      const uint64_t dim = d.get<uint64_t>();
      if (dim > (uint64_t{1} << 62) || __builtin_mul_overflow(numel, dim, &numel) ||
          numel > (uint64_t{1} << 62))
        return tfail(absl::StrCat("shape ", Shown(*sh), " is too large"));
      e.shape.push_back(static_cast<int64_t>(dim));
    }
    auto off = v.find("data_offsets");
    if (off == v.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
        !(*off)[1].is_number_unsigned())
      return tfail("'data_offsets' must be two non-negative integers");
    e.begin = (*off)[0].get<uint64_t>();
    e.end = (*off)[1].get<uint64_t>();
    if (e.end < e.begin)
      return tfail(absl::StrCat("data_offsets [", e.begin, ",", e.end, "] end before begin"));
    const uint64_t bytes = numel * DTypeSize(e.dtype);
    if (e.end - e.begin != bytes)
      return tfail(absl::StrCat("data_offsets [", e.begin, ",", e.end, "] span ", e.end - e.begin,
                                " bytes but ", std::string(DTypeName(e.dtype)), " ", Shown(*sh),
                                " needs ", bytes));
    if (e.end > data_size)
      return tfail(absl::StrCat("data_offsets [", e.begin, ",", e.end,
                                "] run past the data section (", data_size, " bytes)"));
    if (entries->count(name)) return tfail("appears twice");
    placed.push_back({name, e.begin, e.end});
    entries->emplace(name, std::move(e));
  }
  // Sorted by offset, the tensors must tile [0, data_size) exactly.
  std::sort(placed.begin(), placed.end(), [](const Placed& a, const Placed& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t cursor = 0;
  const Placed* prev = nullptr;
  for (const Placed& p : placed) {
    if (p.begin < cursor)
      return fail(absl::StrCat("tensor '", p.name, "' data_offsets [", p.begin, ",", p.end,
                               "] overlap tensor '", prev->name, "' [", prev->begin, ",", prev->end,
                               "]"));
    if (p.begin > cursor)
      return fail(absl::StrCat(
          "tensor '", p.name, "' data_offsets [", p.begin, ",", p.end, "] leave a gap after ",
          prev ? absl::StrCat("tensor '", prev->name, "'") : std::string("the header"), " (bytes [",
          cursor, ",", p.begin, ") belong to no tensor)"));
    cursor = p.end;
    prev = &p;
  }
  if (cursor != data_size)
    return fail(
        absl::StrCat("the data section is ", data_size, " bytes but the tensors cover ", cursor));
  files_.push_back(std::move(mapping));
  return absl::OkStatus();
}

absl::Status Checkpoint::OpenSharded(const std::string& dir, const std::string& index_path) {
  auto fail = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(index_path, ": ", what));
  };
  GPTOSS_ASSIGN_OR_RETURN(std::string text, ReadFile(index_path));
  Json root = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return fail("not valid JSON");
  if (!root.is_object()) return fail("must be a JSON object");
  auto wm = root.find("weight_map");
  if (wm == root.end() || !wm->is_object()) return fail("missing object 'weight_map'");
  if (wm->empty()) return fail("'weight_map' lists no tensors");
  auto md = root.find("metadata");
  if (md != root.end() && !md->is_object() && !md->is_null())
    return fail("'metadata' must be an object");

  // Shards in order of first mention, each opened once.
  std::vector<std::string> shard_names;
  std::map<std::string, std::string> want;  // tensor -> shard file name
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    if (!it.value().is_string())
      return fail(absl::StrCat("weight_map['", it.key(), "'] must be a file name string"));
    const std::string shard = it.value().get<std::string>();
    if (shard.empty() || shard == "." || shard == ".." || shard.find('/') != std::string::npos ||
        shard.find('\\') != std::string::npos || shard.find('\0') != std::string::npos)
      return fail(absl::StrCat("weight_map['", it.key(), "'] = '", shard,
                               "' is not a plain file name inside the checkpoint directory"));
    if (std::find(shard_names.begin(), shard_names.end(), shard) == shard_names.end())
      shard_names.push_back(shard);
    want[it.key()] = shard;
  }
  for (const std::string& shard : shard_names) {
    const std::string shard_path = dir + "/" + shard;
    if (!PathExists(shard_path))
      return fail(absl::StrCat("shard '", shard, "' does not exist in ", dir));
    std::map<std::string, Entry, std::less<>> shard_entries;
    GPTOSS_RETURN_IF_ERROR(AddFile(shard_path, &shard_entries));
    for (auto& [name, entry] : shard_entries) {
      if (auto prior = entries_.find(name); prior != entries_.end())
        return fail(absl::StrCat("tensor '", name, "' is in two shards: '",
                                 files_[prior->second.file]->path, "' and '", shard_path, "'"));
      auto w = want.find(name);
      if (w == want.end())
        return fail(absl::StrCat("tensor '", name, "' is in shard '", shard,
                                 "' but weight_map does not list it"));
      if (w->second != shard)
        return fail(absl::StrCat("tensor '", name, "' is in shard '", shard,
                                 "' but weight_map maps it to '", w->second, "'"));
      entries_.emplace(name, std::move(entry));
    }
  }
  for (const auto& [name, shard] : want) {
    if (!entries_.count(name))
      return fail(absl::StrCat("weight_map maps tensor '", name, "' to shard '", shard,
                               "', which does not hold it"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Checkpoint>> Checkpoint::Open(const std::string& dir_or_file) {
  std::unique_ptr<Checkpoint> ckpt(new Checkpoint());
  ckpt->path_ = dir_or_file;
  if (!PathExists(dir_or_file))
    return absl::NotFoundError(absl::StrCat("checkpoint '", dir_or_file, "' does not exist"));
  if (!IsDirectory(dir_or_file)) {
    GPTOSS_RETURN_IF_ERROR(ckpt->AddFile(dir_or_file, &ckpt->entries_));
    return ckpt;
  }
  const std::string index = dir_or_file + "/" + kIndexFile;
  const std::string single = dir_or_file + "/" + kSingleFile;
  if (PathExists(index)) {
    GPTOSS_RETURN_IF_ERROR(ckpt->OpenSharded(dir_or_file, index));
  } else if (PathExists(single)) {
    GPTOSS_RETURN_IF_ERROR(ckpt->AddFile(single, &ckpt->entries_));
  } else {
    return absl::NotFoundError(absl::StrCat("checkpoint directory '", dir_or_file, "' has neither ",
                                            kIndexFile, " nor ", kSingleFile));
  }
  return ckpt;
}

absl::StatusOr<TensorView> Checkpoint::Get(std::string_view name) const {
  auto it = entries_.find(name);
  if (it == entries_.end())
    return absl::NotFoundError(
        absl::StrCat("checkpoint '", path_, "' has no tensor '", std::string(name), "'"));
  const Entry& e = it->second;
  const Mapping& m = *files_[e.file];
  const uint8_t* src = m.base + m.data_start + e.begin;
  TensorView v;
  v.dtype = e.dtype;
  v.device = Device::kCpu;
  v.rank = static_cast<int>(e.shape.size());
  for (int i = 0; i < v.rank; ++i) v.dims[i] = e.shape[i];
  const size_t bytes = e.end - e.begin;
  if (reinterpret_cast<uintptr_t>(src) % DTypeSize(e.dtype) == 0) {
    v.data = const_cast<uint8_t*>(src);  // read-only mapping
    return v;
  }
  // Unaligned element data: one aligned copy, kept for the Checkpoint's lifetime.
  std::lock_guard<std::mutex> lock(realign_mu_);
  auto cached = realigned_.find(name);
  if (cached == realigned_.end()) {
    std::vector<uint64_t> buffer(bytes / 8 + 1);
    std::memcpy(buffer.data(), src, bytes);
    cached = realigned_.emplace(std::string(name), std::move(buffer)).first;
  }
  v.data = cached->second.data();
  return v;
}

absl::StatusOr<TensorSpec> Checkpoint::Describe(std::string_view name) const {
  auto it = entries_.find(name);
  if (it == entries_.end())
    return absl::NotFoundError(
        absl::StrCat("checkpoint '", path_, "' has no tensor '", std::string(name), "'"));
  return TensorSpec{std::string(name), it->second.dtype, it->second.shape};
}

std::vector<std::string> Checkpoint::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& [name, entry] : entries_) out.push_back(name);
  return out;
}

std::string Checkpoint::FileOf(std::string_view name) const {
  auto it = entries_.find(name);
  return it == entries_.end() ? std::string() : files_[it->second.file]->path;
}

}  // namespace gptoss
