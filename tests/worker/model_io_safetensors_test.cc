// safetensors: writer/reader round trip, alignment handling, and every corruption the reader
// must reject with an error naming the file (and the tensor).
#include <cstring>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kernels/core/tensor.h"
#include "tests/worker/model_io_test_util.h"
#include "worker/model/safetensors.h"
#include "worker/model/safetensors_writer.h"

namespace gptoss {
namespace {

using ::gptoss::testing::ReadBytes;
using ::gptoss::testing::ScratchDir;
using ::gptoss::testing::WriteBytes;
using ::testing::HasSubstr;

// u64 little-endian header length + header + data.
std::string RawFile(const std::string& header, const std::string& data,
                    uint64_t claimed_len = ~uint64_t{0}) {
  const uint64_t n = claimed_len == ~uint64_t{0} ? header.size() : claimed_len;
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ScratchDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  // Writes `bytes` to a file and expects Open to fail with a message holding every `needles`.
  void ExpectRejected(const std::string& bytes, const std::vector<std::string>& needles) {
    const std::string path = Path("bad.safetensors");
    WriteBytes(path, bytes);
    auto ckpt = Checkpoint::Open(path);
    ASSERT_FALSE(ckpt.ok()) << "accepted: " << bytes.substr(8, 200);
    EXPECT_THAT(ckpt.status().message(), HasSubstr("bad.safetensors"));
    for (const std::string& n : needles) EXPECT_THAT(ckpt.status().message(), HasSubstr(n));
  }

  std::string dir_;
};

TEST_F(SafetensorsTest, WriteThenReadRoundTrip) {
  std::vector<uint16_t> a = {1, 2, 3, 4, 5, 6};
  std::vector<float> b = {1.5f, -2.25f};
  std::vector<uint8_t> c = {7, 8, 9};
  std::vector<int32_t> d = {-4};
  const std::string path = Path("rt.safetensors");
  ASSERT_TRUE(WriteSafetensors(path,
                               {{"a", TensorView(a.data(), DType::kBF16, {2, 3})},
                                {"b", TensorView(b.data(), DType::kF32, {2})},
                                {"c", TensorView(c.data(), DType::kU8, {1, 1, 3})},
                                {"d", TensorView(d.data(), DType::kI32, {})}},
                               {{"format", "pt"}})
                  .ok());
  auto ckpt = Checkpoint::Open(path);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  EXPECT_EQ((*ckpt)->names(), std::vector<std::string>({"a", "b", "c", "d"}));
  auto va = (*ckpt)->Get("a");
  ASSERT_TRUE(va.ok());
  EXPECT_EQ(va->dtype, DType::kBF16);
  EXPECT_EQ(va->ShapeString(), "[2,3]");
  EXPECT_EQ(std::memcmp(va->data, a.data(), 12), 0);
  auto vb = (*ckpt)->Get("b");
  ASSERT_TRUE(vb.ok());
  EXPECT_EQ(vb->as<float>()[1], -2.25f);
  auto vc = (*ckpt)->Get("c");
  ASSERT_TRUE(vc.ok());
  EXPECT_EQ(vc->ShapeString(), "[1,1,3]");
  EXPECT_EQ(vc->as<uint8_t>()[2], 9);
  auto vd = (*ckpt)->Get("d");
  ASSERT_TRUE(vd.ok());
  EXPECT_EQ(vd->rank, 0);
  EXPECT_EQ(vd->as<int32_t>()[0], -4);
  auto spec = (*ckpt)->Describe("a");
  ASSERT_TRUE(spec.ok());
  EXPECT_EQ(spec->shape, std::vector<int64_t>({2, 3}));
  EXPECT_EQ((*ckpt)->FileOf("b"), path);
  auto missing = (*ckpt)->Get("nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("'nope'"));
  // Header padded to 8 bytes, as the reference library does.
  const std::string bytes = ReadBytes(path);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ((8 + n) % 8, 0u);
}

TEST_F(SafetensorsTest, UnalignedTensorIsCopiedToAlignedMemory) {
  // One U8 byte first puts the F32 tensor at data offset 1: legal safetensors, unaligned.
  const std::string header =
      R"({"u":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"f":{"dtype":"F32","shape":[2],"data_offsets":[1,9]}})";
  std::string padded = header;
  while ((8 + padded.size()) % 8) padded.push_back(' ');
  float vals[2] = {3.5f, -1.0f};
  std::string data(1, '\x2a');
  data.append(reinterpret_cast<const char*>(vals), 8);
  WriteBytes(Path("u.safetensors"), RawFile(padded, data));
  auto ckpt = Checkpoint::Open(Path("u.safetensors"));
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  auto f = (*ckpt)->Get("f");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(f->data) % 4, 0u);
  EXPECT_EQ(f->as<float>()[0], 3.5f);
  EXPECT_EQ(f->as<float>()[1], -1.0f);
  auto again = (*ckpt)->Get("f");  // the same copy, not a new one
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->data, f->data);
}

TEST_F(SafetensorsTest, MetadataAndEmptyTensorsAreAccepted) {
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"z":{"dtype":"BF16","shape":[0,4],"data_offsets":[0,0]},)"
      R"("x":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})";
  WriteBytes(Path("m.safetensors"), RawFile(header, "ab"));
  auto ckpt = Checkpoint::Open(Path("m.safetensors"));
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  EXPECT_EQ((*ckpt)->names(), std::vector<std::string>({"x", "z"}));
}

TEST_F(SafetensorsTest, TruncatedOrOversizedHeaderIsRejected) {
  ExpectRejected("", {"shorter than the 8-byte header length"});
  ExpectRejected(std::string("\x05\x00\x00", 3), {"shorter than the 8-byte header length"});
  // Claims 1000 header bytes, has 2.
  ExpectRejected(RawFile("{}", "", 1000), {"header length 1000 exceeds the file size"});
  // Larger than the reference library's 100 MB limit.
  ExpectRejected(RawFile("{}", "", uint64_t{200'000'000}), {"exceeds the 100 MB limit"});
  ExpectRejected(RawFile("{}", "", ~uint64_t{0} - 1), {"exceeds the 100 MB limit"});
  ExpectRejected(RawFile("", ""), {"not valid JSON"});
}

TEST_F(SafetensorsTest, MalformedHeaderJsonIsRejected) {
  ExpectRejected(RawFile("{\"a\": {", ""), {"not valid JSON"});
  ExpectRejected(RawFile("[1, 2]", ""), {"not a JSON object"});
  ExpectRejected(RawFile(R"({"__metadata__": [1]})", ""), {"__metadata__"});
  ExpectRejected(RawFile(R"({"__metadata__": {"k": 1}})", ""), {"__metadata__['k']"});
  ExpectRejected(RawFile(R"({"t": 5})", ""), {"tensor 't'", "must be an object"});
}

TEST_F(SafetensorsTest, EntryFieldErrorsNameTheTensor) {
  ExpectRejected(RawFile(R"({"t":{"shape":[1],"data_offsets":[0,1]}})", "x"),
                 {"tensor 't'", "dtype"});
  ExpectRejected(RawFile(R"({"t":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}})", "xx"),
                 {"tensor 't'", "unsupported dtype 'F16'"});
  ExpectRejected(RawFile(R"({"t":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}})", "x"),
                 {"tensor 't'", "unsupported dtype 'F8_E4M3'"});
  ExpectRejected(RawFile(R"({"t":{"dtype":"U8","shape":"1","data_offsets":[0,1]}})", "x"),
                 {"tensor 't'", "shape"});
  ExpectRejected(RawFile(R"({"t":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}})", "x"),
                 {"tensor 't'", "shape"});
  ExpectRejected(RawFile(R"({"t":{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}})", "x"),
                 {"tensor 't'", "shape"});
  ExpectRejected(RawFile(R"({"t":{"dtype":"U8","shape":[1,1,1,1,1],"data_offsets":[0,1]}})", "x"),
                 {"tensor 't'", "rank > 4"});
  ExpectRejected(
      RawFile(R"({"t":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,1]}})", "x"),
      {"tensor 't'", "too large"});
  ExpectRejected(RawFile(R"({"t":{"dtype":"U8","shape":[1],"data_offsets":[0]}})", "x"),
                 {"tensor 't'", "data_offsets"});
  ExpectRejected(RawFile(R"({"t":{"dtype":"U8","shape":[1],"data_offsets":[0,-1]}})", "x"),
                 {"tensor 't'", "data_offsets"});
  ExpectRejected(RawFile(R"({"t":{"dtype":"U8","shape":[1],"data_offsets":[1,0]}})", "x"),
                 {"tensor 't'", "end before begin"});
}

TEST_F(SafetensorsTest, DtypeShapeSizeMismatchIsRejected) {
  // BF16 [3] needs 6 bytes; the offsets give 4.
  ExpectRejected(RawFile(R"({"t":{"dtype":"BF16","shape":[3],"data_offsets":[0,4]}})", "xxxx"),
                 {"tensor 't'", "span 4 bytes", "needs 6"});
  // F32 [2,2] needs 16 bytes.
  ExpectRejected(RawFile(R"({"t":{"dtype":"F32","shape":[2,2],"data_offsets":[0,8]}})", "xxxxxxxx"),
                 {"tensor 't'", "needs 16"});
}

TEST_F(SafetensorsTest, OffsetsOutOfRangeOverlappingOrLeavingGapsAreRejected) {
  ExpectRejected(RawFile(R"({"t":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}})", "xx"),
                 {"tensor 't'", "run past the data section (2 bytes)"});
  ExpectRejected(RawFile(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                         R"("b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})",
                         "xxxxxx"),
                 {"overlap", "'a'", "'b'"});
  ExpectRejected(RawFile(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                         R"("b":{"dtype":"U8","shape":[2],"data_offsets":[3,5]}})",
                         "xxxxx"),
                 {"tensor 'b'", "gap"});
  ExpectRejected(RawFile(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}})", "xxx"),
                 {"tensor 'a'", "gap"});
  // Bytes after the last tensor that no tensor claims.
  ExpectRejected(RawFile(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})", "xxxx"),
                 {"data section is 4 bytes but the tensors cover 2"});
}

TEST_F(SafetensorsTest, OpenNamesMissingPaths) {
  auto none = Checkpoint::Open(Path("does-not-exist"));
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(none.status().message(), HasSubstr("does-not-exist"));
  auto empty_dir = Checkpoint::Open(dir_);
  ASSERT_FALSE(empty_dir.ok());
  EXPECT_THAT(empty_dir.status().message(), HasSubstr("model.safetensors"));
}

// A valid two-shard checkpoint: a, b in shard 0; c in shard 1.
class ShardedTest : public SafetensorsTest {
 protected:
  void WriteShards() {
    ASSERT_TRUE(WriteSafetensors(Path("s0.safetensors"), {{"a", TensorView(a_, DType::kU8, {2})},
                                                          {"b", TensorView(a_, DType::kU8, {2})}})
                    .ok());
    ASSERT_TRUE(
        WriteSafetensors(Path("s1.safetensors"), {{"c", TensorView(a_, DType::kU8, {2})}}).ok());
  }
  void WriteIndex(const std::string& text) {
    WriteBytes(Path("model.safetensors.index.json"), text);
  }
  void ExpectIndexRejected(const std::vector<std::string>& needles) {
    auto ckpt = Checkpoint::Open(dir_);
    ASSERT_FALSE(ckpt.ok());
    for (const std::string& n : needles) EXPECT_THAT(ckpt.status().message(), HasSubstr(n));
  }
  uint8_t a_[2] = {1, 2};
};

TEST_F(ShardedTest, ValidIndexOpens) {
  WriteShards();
  WriteIndex(R"({"metadata": {"total_size": 6},
                 "weight_map": {"a": "s0.safetensors", "b": "s0.safetensors", "c": "s1.safetensors"}})");
  auto ckpt = Checkpoint::Open(dir_);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  EXPECT_EQ((*ckpt)->names(), std::vector<std::string>({"a", "b", "c"}));
  EXPECT_EQ((*ckpt)->FileOf("c"), Path("s1.safetensors"));
  auto c = (*ckpt)->Get("c");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->as<uint8_t>()[1], 2);
}

TEST_F(ShardedTest, BadIndexIsRejected) {
  WriteShards();
  WriteIndex("{not json");
  ExpectIndexRejected({"model.safetensors.index.json", "not valid JSON"});
  WriteIndex("[]");
  ExpectIndexRejected({"must be a JSON object"});
  WriteIndex(R"({"metadata": {}})");
  ExpectIndexRejected({"weight_map"});
  WriteIndex(R"({"weight_map": {}})");
  ExpectIndexRejected({"lists no tensors"});
  WriteIndex(R"({"weight_map": {"a": 3}})");
  ExpectIndexRejected({"weight_map['a']"});
  WriteIndex(R"({"weight_map": {"a": "../s0.safetensors"}})");
  ExpectIndexRejected({"not a plain file name"});
  WriteIndex(R"({"weight_map": {"a": "/etc/passwd"}})");
  ExpectIndexRejected({"not a plain file name"});
  WriteIndex(R"({"metadata": 5, "weight_map": {"a": "s0.safetensors"}})");
  ExpectIndexRejected({"metadata"});
}

TEST_F(ShardedTest, MissingShardIsRejected) {
  WriteShards();
  WriteIndex(
      R"({"weight_map": {"a": "s0.safetensors", "b": "s0.safetensors", "c": "s9.safetensors"}})");
  ExpectIndexRejected({"shard 's9.safetensors' does not exist"});
}

TEST_F(ShardedTest, InconsistentMappingsAreRejected) {
  WriteShards();
  // c is in s1 but mapped to s0.
  WriteIndex(
      R"({"weight_map": {"a": "s0.safetensors", "b": "s0.safetensors", "c": "s0.safetensors"}})");
  ExpectIndexRejected({"'c'", "does not hold it"});
  // b is in s0 but the map does not list it.
  WriteIndex(R"({"weight_map": {"a": "s0.safetensors", "c": "s1.safetensors"}})");
  ExpectIndexRejected({"tensor 'b'", "does not list it"});
  // a mapped to s1, where it is not; it is in s0 (mapped for b).
  WriteIndex(
      R"({"weight_map": {"a": "s1.safetensors", "b": "s0.safetensors", "c": "s1.safetensors"}})");
  ExpectIndexRejected({"tensor 'a'", "maps it to 's1.safetensors'"});
}

TEST_F(ShardedTest, TensorInTwoShardsIsRejected) {
  WriteShards();
  ASSERT_TRUE(
      WriteSafetensors(Path("s2.safetensors"), {{"a", TensorView(a_, DType::kU8, {2})}}).ok());
  WriteIndex(
      R"({"weight_map": {"a": "s0.safetensors", "b": "s0.safetensors", "c": "s2.safetensors"}})");
  ExpectIndexRejected({"tensor 'a' is in two shards"});
}

TEST_F(ShardedTest, CorruptShardIsRejectedNamingIt) {
  WriteShards();
  WriteBytes(Path("s1.safetensors"),
             RawFile(R"({"c":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})", "x"));
  WriteIndex(
      R"({"weight_map": {"a": "s0.safetensors", "b": "s0.safetensors", "c": "s1.safetensors"}})");
  ExpectIndexRejected({"s1.safetensors", "tensor 'c'"});
}

TEST(SafetensorsWriter, RejectsMisuse) {
  const std::string dir = gptoss::testing::ScratchDir("writer_misuse");
  EXPECT_FALSE(SafetensorsHeader({{"a", DType::kU8, {1}}, {"a", DType::kU8, {1}}}).ok());
  EXPECT_FALSE(SafetensorsHeader({{"__metadata__", DType::kU8, {1}}}).ok());
  EXPECT_FALSE(SafetensorsHeader({{"a", DType::kU8, {-1}}}).ok());
  auto w = SafetensorsWriter::Create(dir + "/w.safetensors", {{"a", DType::kU8, {4}}});
  ASSERT_TRUE(w.ok());
  uint8_t buf[8] = {};
  EXPECT_FALSE((*w)->Write(buf, 8).ok());  // overrun
  ASSERT_TRUE((*w)->Write(buf, 3).ok());
  EXPECT_FALSE((*w)->Finish().ok());  // short
  auto w2 = SafetensorsWriter::Create(dir + "/missing-dir/w.safetensors", {{"a", DType::kU8, {4}}});
  EXPECT_FALSE(w2.ok());
}

}  // namespace
}  // namespace gptoss
