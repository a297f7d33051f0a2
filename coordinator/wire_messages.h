// The public API's messages on the wire, parsed and serialized by us rather than by gRPC.
// Why: a proto3 string field holding invalid UTF-8 makes protobuf's parser fail, and gRPC's
// callback API then answers UNIMPLEMENTED with an empty message, which tells a client nothing.
// The Inference service therefore takes raw byte buffers and parses them here.
// Contract:
//  - ParseRequest(): OK and `out` filled, or INVALID_ARGUMENT naming the first string field
//    (as a path: "messages[2].content") whose bytes are not UTF-8, or saying that the bytes are
//    not a valid message of that type. Bounded: nesting is walked to at most 64 levels.
//  - SerializeResponse(): the message into a byte buffer (INTERNAL if protobuf refuses it).
#pragma once

#include "absl/status/status.h"
#include "google/protobuf/message.h"
#include "grpcpp/support/byte_buffer.h"

namespace gptoss {

absl::Status ParseRequest(const grpc::ByteBuffer& buffer, google::protobuf::Message* out);
absl::Status SerializeResponse(const google::protobuf::Message& message, grpc::ByteBuffer* out);

}  // namespace gptoss
