#include "coordinator/wire_messages.h"

#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "coordinator/tokenizer/utf8.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/stubs/logging.h"
#include "google/protobuf/unknown_field_set.h"

namespace gptoss {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::UnknownField;
using google::protobuf::UnknownFieldSet;

constexpr int kMaxDepth = 64;

// Walks the message's fields by number (as unknown fields, which never fail on UTF-8) and
// returns the path of the first string field that is not UTF-8.
std::optional<std::string> FindInvalidUtf8(const UnknownFieldSet& fields, const Descriptor* type,
                                           const std::string& prefix, int depth) {
  if (depth > kMaxDepth) return std::nullopt;
  std::map<int, int> seen;  // occurrences per field number: the index of a repeated field
  for (int i = 0; i < fields.field_count(); ++i) {
    const UnknownField& f = fields.field(i);
    const FieldDescriptor* field = type->FindFieldByNumber(f.number());
    const int index = seen[f.number()]++;
    if (field == nullptr || f.type() != UnknownField::TYPE_LENGTH_DELIMITED) continue;
    std::string path = absl::StrCat(prefix, prefix.empty() ? "" : ".", field->name());
    if (field->is_repeated()) absl::StrAppend(&path, "[", index, "]");
    if (field->type() == FieldDescriptor::TYPE_STRING) {
      if (!utf8::IsValid(f.length_delimited())) return path;
    } else if (field->type() == FieldDescriptor::TYPE_MESSAGE) {
      UnknownFieldSet nested;
      if (!nested.ParseFromString(f.length_delimited())) continue;
      if (auto found = FindInvalidUtf8(nested, field->message_type(), path, depth + 1))
        return found;
    }
  }
  return std::nullopt;
}

// protobuf logs every invalid-UTF-8 parse to stderr; here that is a client's error, which the
// client is told about, and a hostile client must not be able to flood the log with it.
void QuietUtf8ParseErrors() {
  static std::once_flag once;
  std::call_once(once, [] {
    google::protobuf::SetLogHandler([](google::protobuf::LogLevel level, const char* filename,
                                       int line, const std::string& message) {
      if (message.find("invalid UTF-8") != std::string::npos) return;
      std::fprintf(stderr, "[libprotobuf %d %s:%d] %s\n", static_cast<int>(level), filename, line,
                   message.c_str());
    });
  });
}

}  // namespace

absl::Status ParseRequest(const grpc::ByteBuffer& buffer, google::protobuf::Message* out) {
  QuietUtf8ParseErrors();
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (buffer.Dump(&slices).ok()) {
    bytes.reserve(buffer.Length());
    for (const grpc::Slice& s : slices)
      bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  if (out->ParseFromString(bytes)) return absl::OkStatus();
  UnknownFieldSet fields;
  if (fields.ParseFromString(bytes)) {
    if (std::optional<std::string> path = FindInvalidUtf8(fields, out->GetDescriptor(), "", 0))
      return absl::InvalidArgumentError(absl::StrCat(
          *path, ": not valid UTF-8 (string fields must be UTF-8; send other bytes as token ids)"));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("the request is not a valid ", out->GetDescriptor()->full_name(), " message"));
}

absl::Status SerializeResponse(const google::protobuf::Message& message, grpc::ByteBuffer* out) {
  std::string bytes;
  if (!message.SerializeToString(&bytes))
    return absl::InternalError(absl::StrCat("cannot serialize ", message.GetTypeName()));
  grpc::Slice slice(bytes);
  *out = grpc::ByteBuffer(&slice, 1);
  return absl::OkStatus();
}

}  // namespace gptoss
