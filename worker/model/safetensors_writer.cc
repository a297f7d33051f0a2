// Streaming safetensors writer (see safetensors_writer.h).
#include "worker/model/safetensors_writer.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"
#include "kernels/core/status.h"
#include "nlohmann/json.hpp"

namespace gptoss {
namespace {

using Json = nlohmann::json;

constexpr size_t kBufferBytes = size_t{4} << 20;

absl::Status IoError(const std::string& path, const std::string& what) {
  return absl::InternalError(absl::StrCat(path, ": ", what, ": ", std::strerror(errno)));
}

}  // namespace

absl::StatusOr<std::string> SafetensorsHeader(const std::vector<TensorSpec>& tensors,
                                              const std::map<std::string, std::string>& metadata) {
  Json header = Json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  std::set<std::string> seen;
  for (const TensorSpec& t : tensors) {
    if (t.name.empty() || t.name == "__metadata__")
      return absl::InvalidArgumentError(absl::StrCat("invalid tensor name '", t.name, "'"));
    if (!seen.insert(t.name).second)
      return absl::InvalidArgumentError(absl::StrCat("tensor '", t.name, "' listed twice"));
    if (t.shape.size() > 4)
      return absl::InvalidArgumentError(absl::StrCat("tensor '", t.name, "': rank > 4"));
    for (int64_t d : t.shape)
      if (d < 0)
        return absl::InvalidArgumentError(
            absl::StrCat("tensor '", t.name, "': negative dimension"));
    const uint64_t end = offset + t.bytes();
    header[t.name] = {{"dtype", std::string(SafetensorsDTypeName(t.dtype))},
                      {"shape", t.shape},
                      {"data_offsets", {offset, end}}};
    offset = end;
  }
  std::string json = header.dump();
  // Pad with spaces so the data section starts 8-byte aligned (JSON allows trailing spaces).
  while ((8 + json.size()) % 8 != 0) json.push_back(' ');
  std::string out(8, '\0');
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + json;
}

absl::StatusOr<std::unique_ptr<SafetensorsWriter>> SafetensorsWriter::Create(
    const std::string& path, const std::vector<TensorSpec>& tensors,
    const std::map<std::string, std::string>& metadata) {
  GPTOSS_ASSIGN_OR_RETURN(std::string header, SafetensorsHeader(tensors, metadata));
  std::unique_ptr<SafetensorsWriter> w(new SafetensorsWriter());
  w->path_ = path;
  w->tmp_path_ = path + ".tmp";
  for (const TensorSpec& t : tensors) w->total_ += t.bytes();
  w->file_ = std::fopen(w->tmp_path_.c_str(), "wb");
  if (w->file_ == nullptr) return IoError(w->tmp_path_, "cannot create");
  w->buffer_.resize(kBufferBytes);
  std::setvbuf(w->file_, w->buffer_.data(), _IOFBF, w->buffer_.size());
  if (std::fwrite(header.data(), 1, header.size(), w->file_) != header.size())
    return IoError(w->tmp_path_, "write failed");
  return w;
}

SafetensorsWriter::~SafetensorsWriter() {
  if (file_ != nullptr) {
    std::fclose(file_);
    std::remove(tmp_path_.c_str());
  }
}

absl::Status SafetensorsWriter::Write(const void* data, size_t bytes) {
  if (file_ == nullptr)
    return absl::FailedPreconditionError(absl::StrCat(path_, ": write after Finish"));
  if (bytes > total_ - written_)
    return absl::InvalidArgumentError(absl::StrCat(path_, ": writing ", bytes,
                                                   " bytes overruns the planned data section (",
                                                   total_ - written_, " bytes left)"));
  if (bytes > 0 && data == nullptr)
    return absl::InvalidArgumentError(absl::StrCat(path_, ": null data"));
  if (bytes > 0 && std::fwrite(data, 1, bytes, file_) != bytes)
    return IoError(tmp_path_, "write failed");
  written_ += bytes;
  return absl::OkStatus();
}

absl::Status SafetensorsWriter::Finish() {
  if (file_ == nullptr)
    return absl::FailedPreconditionError(absl::StrCat(path_, ": Finish called twice"));
  if (written_ != total_)
    return absl::FailedPreconditionError(absl::StrCat(path_, ": only ", written_, " of ", total_,
                                                      " planned data bytes were written"));
  std::FILE* f = file_;
  file_ = nullptr;
  const bool flushed = std::fflush(f) == 0;
  const bool closed = std::fclose(f) == 0;
  if (!flushed || !closed) {
    absl::Status st = IoError(tmp_path_, "flush/close failed");
    std::remove(tmp_path_.c_str());
    return st;
  }
  if (std::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
    absl::Status st = IoError(path_, "rename from .tmp failed");
    std::remove(tmp_path_.c_str());
    return st;
  }
  return absl::OkStatus();
}

absl::Status WriteSafetensors(const std::string& path,
                              const std::vector<std::pair<std::string, TensorView>>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  std::vector<TensorSpec> specs;
  for (const auto& [name, view] : tensors) {
    if (view.device != Device::kCpu)
      return absl::InvalidArgumentError(absl::StrCat("tensor '", name, "' is not in host memory"));
    TensorSpec spec{name, view.dtype, {}};
    for (int i = 0; i < view.rank; ++i) spec.shape.push_back(view.dims[i]);
    specs.push_back(std::move(spec));
  }
  GPTOSS_ASSIGN_OR_RETURN(auto writer, SafetensorsWriter::Create(path, specs, metadata));
  for (const auto& [name, view] : tensors) GPTOSS_RETURN_IF_ERROR(writer->Write(view.data, view.bytes()));
  return writer->Finish();
}

}  // namespace gptoss
