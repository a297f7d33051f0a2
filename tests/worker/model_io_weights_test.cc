// LoadWeights: generate -> Open -> LoadWeights round trips (1 and 2 ranks, tied embeddings,
// no attention bias), and rejection of missing, unexpected and mis-shaped tensors by name.
#include <algorithm>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/worker/model_io_test_util.h"
#include "worker/model/checkpoint_layout.h"
#include "worker/model/checkpoint_writer.h"
#include "worker/model/safetensors.h"
#include "worker/model/safetensors_writer.h"
#include "worker/model/weights.h"

namespace gptoss {
namespace {

using ::gptoss::testing::ScratchDir;
using ::gptoss::testing::SmallConfig;
using ::testing::HasSubstr;

std::unique_ptr<Checkpoint> Generate(const ModelConfig& c, const std::string& dir) {
  CheckpointWriterOptions opt;
  opt.seed = 7;
  absl::Status st = WriteCheckpoint(c, dir, opt);
  EXPECT_TRUE(st.ok()) << st;
  auto ckpt = Checkpoint::Open(dir);
  EXPECT_TRUE(ckpt.ok()) << ckpt.status();
  return ckpt.ok() ? std::move(*ckpt) : nullptr;
}

TensorView MustGet(const Checkpoint& ckpt, const std::string& name) {
  auto v = ckpt.Get(name);
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : TensorView();
}

TEST(ModelIoWeights, SingleRankViewsAreTheCheckpointTensors) {
  const ModelConfig c = SmallConfig();
  auto ckpt = Generate(c, ScratchDir("weights_single"));
  ASSERT_NE(ckpt, nullptr);
  auto layout = ParallelLayout::Create(0, 1, c.num_attention_heads, c.num_key_value_heads,
                                       c.num_local_experts);
  ASSERT_TRUE(layout.ok());
  auto w = LoadWeights(*ckpt, c, *layout);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->embed.data, MustGet(*ckpt, kEmbedName).data);
  EXPECT_EQ(w->embed.ShapeString(), "[512,64]");
  EXPECT_EQ(w->lm_head.data, MustGet(*ckpt, kLmHeadName).data);
  EXPECT_EQ(w->final_norm.data, MustGet(*ckpt, kFinalNormName).data);
  EXPECT_TRUE(w->owned.empty());
  ASSERT_EQ(w->layers.size(), 2u);
  for (int l = 0; l < 2; ++l) {
    const LayerWeights& lw = w->layers[l];
    EXPECT_EQ(lw.type, c.layer_types[l]);
    EXPECT_EQ(lw.q_w.data, MustGet(*ckpt, LayerTensorName(l, "self_attn.q_proj.weight")).data);
    EXPECT_EQ(lw.q_w.ShapeString(), "[64,64]");
    EXPECT_EQ(lw.k_w.ShapeString(), "[32,64]");
    EXPECT_EQ(lw.v_b.ShapeString(), "[32]");
    EXPECT_EQ(lw.o_w.data, MustGet(*ckpt, LayerTensorName(l, "self_attn.o_proj.weight")).data);
    EXPECT_EQ(lw.o_w.ShapeString(), "[64,64]");
    EXPECT_FALSE(lw.o_b.empty());
    EXPECT_EQ(lw.sinks.ShapeString(), "[4]");
    EXPECT_EQ(lw.router_w.ShapeString(), "[4,64]");
    EXPECT_EQ(lw.router_b.ShapeString(), "[4]");
    EXPECT_EQ(lw.input_norm.ShapeString(), "[64]");
    EXPECT_EQ(lw.post_attention_norm.ShapeString(), "[64]");
    const ExpertWeights& ex = lw.experts;
    EXPECT_EQ(ex.first_expert, 0);
    EXPECT_EQ(ex.num_local, 4);
    EXPECT_FLOAT_EQ(ex.swiglu_limit, 7.0f);
    EXPECT_FLOAT_EQ(ex.swiglu_alpha, 1.702f);
    EXPECT_EQ(ex.gate_up_blocks.ShapeString(), "[4,64,2,16]");
    EXPECT_EQ(ex.gate_up_blocks.dtype, DType::kU8);
    EXPECT_EQ(ex.gate_up_scales.ShapeString(), "[4,64,2]");
    EXPECT_EQ(ex.gate_up_bias.ShapeString(), "[4,64]");
    EXPECT_EQ(ex.gate_up_bias.dtype, DType::kBF16);
    EXPECT_EQ(ex.down_blocks.ShapeString(), "[4,64,1,16]");
    EXPECT_EQ(ex.down_scales.ShapeString(), "[4,64,1]");
    EXPECT_EQ(ex.down_bias.ShapeString(), "[4,64]");
  }
}

TEST(ModelIoWeights, TwoRanksGetHeadAndExpertSlices) {
  const ModelConfig c = SmallConfig();
  auto ckpt = Generate(c, ScratchDir("weights_two_ranks"));
  ASSERT_NE(ckpt, nullptr);
  const int64_t D = c.head_dim, H = c.hidden_size;
  for (int rank = 0; rank < 2; ++rank) {
    auto layout = ParallelLayout::Create(rank, 2, c.num_attention_heads, c.num_key_value_heads,
                                         c.num_local_experts);
    ASSERT_TRUE(layout.ok());
    auto w = LoadWeights(*ckpt, c, *layout);
    ASSERT_TRUE(w.ok()) << w.status();
    const LayerWeights& lw = w->layers[1];
    auto full = [&](const char* s) { return MustGet(*ckpt, LayerTensorName(1, s)); };
    // q: rows of heads [2*rank, 2*rank+2); k/v: kv head `rank`.
    EXPECT_EQ(lw.q_w.ShapeString(), "[32,64]");
    EXPECT_EQ(lw.q_w.data, full("self_attn.q_proj.weight").as<uint16_t>() + rank * 2 * D * H);
    EXPECT_EQ(lw.q_b.data, full("self_attn.q_proj.bias").as<uint16_t>() + rank * 2 * D);
    EXPECT_EQ(lw.k_w.ShapeString(), "[16,64]");
    EXPECT_EQ(lw.k_w.data, full("self_attn.k_proj.weight").as<uint16_t>() + rank * D * H);
    EXPECT_EQ(lw.v_b.data, full("self_attn.v_proj.bias").as<uint16_t>() + rank * D);
    EXPECT_EQ(lw.sinks.ShapeString(), "[2]");
    EXPECT_EQ(lw.sinks.data, full("self_attn.sinks").as<uint16_t>() + rank * 2);
    // o: the columns of this rank's heads, copied.
    ASSERT_EQ(lw.o_w.ShapeString(), "[64,32]");
    const TensorView o = full("self_attn.o_proj.weight");
    for (int64_t r = 0; r < H; ++r)
      for (int64_t col = 0; col < 32; ++col)
        ASSERT_EQ(lw.o_w.as<uint16_t>()[r * 32 + col], o.as<uint16_t>()[r * 64 + rank * 32 + col])
            << r << "," << col;
    EXPECT_EQ(w->owned.size(), 2u);  // one o_proj copy per layer
    // The o_proj bias is added once, on rank 0.
    EXPECT_EQ(lw.o_b.empty(), rank != 0);
    // Experts [2*rank, 2*rank+2).
    const ExpertWeights& ex = lw.experts;
    EXPECT_EQ(ex.first_expert, 2 * rank);
    EXPECT_EQ(ex.num_local, 2);
    EXPECT_EQ(ex.gate_up_blocks.ShapeString(), "[2,64,2,16]");
    EXPECT_EQ(ex.gate_up_blocks.data,
              full("mlp.experts.gate_up_proj_blocks").as<uint8_t>() + rank * 2 * 64 * 2 * 16);
    EXPECT_EQ(ex.gate_up_scales.data,
              full("mlp.experts.gate_up_proj_scales").as<uint8_t>() + rank * 2 * 64 * 2);
    EXPECT_EQ(ex.gate_up_bias.data,
              full("mlp.experts.gate_up_proj_bias").as<uint16_t>() + rank * 2 * 64);
    EXPECT_EQ(ex.down_blocks.data,
              full("mlp.experts.down_proj_blocks").as<uint8_t>() + rank * 2 * 64 * 1 * 16);
    EXPECT_EQ(ex.down_scales.data,
              full("mlp.experts.down_proj_scales").as<uint8_t>() + rank * 2 * 64);
    EXPECT_EQ(ex.down_bias.data, full("mlp.experts.down_proj_bias").as<uint16_t>() + rank * 2 * 64);
    // Replicated.
    EXPECT_EQ(lw.router_w.data, full("mlp.router.weight").data);
    EXPECT_EQ(w->embed.data, MustGet(*ckpt, kEmbedName).data);
  }
}

TEST(ModelIoWeights, TiedEmbeddingsAndNoAttentionBias) {
  ModelConfig c = SmallConfig();
  c.tie_word_embeddings = true;
  c.attention_bias = false;
  auto ckpt = Generate(c, ScratchDir("weights_tied"));
  ASSERT_NE(ckpt, nullptr);
  EXPECT_FALSE(ckpt->Has(kLmHeadName));
  EXPECT_FALSE(ckpt->Has(LayerTensorName(0, "self_attn.q_proj.bias")));
  auto layout = ParallelLayout::Create(0, 1, c.num_attention_heads, c.num_key_value_heads,
                                       c.num_local_experts);
  auto w = LoadWeights(*ckpt, c, *layout);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->lm_head.data, w->embed.data);
  EXPECT_TRUE(w->layers[0].q_b.empty());
  EXPECT_TRUE(w->layers[0].o_b.empty());
  EXPECT_FALSE(w->layers[0].router_b.empty());  // the router always has a bias
}

TEST(ModelIoWeights, CheckpointForAnotherConfigListsEveryDifference) {
  const ModelConfig c = SmallConfig();
  auto ckpt = Generate(c, ScratchDir("weights_other_config"));
  ASSERT_NE(ckpt, nullptr);
  auto load = [&](const ModelConfig& other) {
    auto layout = ParallelLayout::Create(0, 1, other.num_attention_heads, other.num_key_value_heads,
                                         other.num_local_experts);
    EXPECT_TRUE(layout.ok());
    return LoadWeights(*ckpt, other, *layout);
  };
  // More layers: layer 2 and 3 tensors are missing, each named.
  ModelConfig deeper = c;
  deeper.num_hidden_layers = 4;
  deeper.layer_types.resize(4, LayerType::kFullAttention);
  auto w = load(deeper);
  ASSERT_FALSE(w.ok());
  EXPECT_THAT(w.status().message(), HasSubstr("missing tensors"));
  EXPECT_THAT(w.status().message(), HasSubstr("model.layers.2.input_layernorm.weight"));
  EXPECT_THAT(w.status().message(), HasSubstr("more"));  // long lists are truncated with a count
  // Tied embeddings: lm_head.weight is unexpected.
  ModelConfig tied = c;
  tied.tie_word_embeddings = true;
  w = load(tied);
  ASSERT_FALSE(w.ok());
  EXPECT_THAT(w.status().message(), HasSubstr("1 unexpected tensors: lm_head.weight"));
  // Other expert count: same names, wrong shapes; the error names the tensor and both shapes.
  ModelConfig wide = c;
  wide.num_local_experts = 8;
  w = load(wide);
  ASSERT_FALSE(w.ok());
  EXPECT_THAT(w.status().message(), HasSubstr("model.layers.0.mlp.router.weight"));
  EXPECT_THAT(w.status().message(), HasSubstr("BF16 [4,64] but the config needs BF16 [8,64]"));
  // A layout that does not belong to the config.
  auto layout = ParallelLayout::Create(0, 1, 8, 2, 4);
  ASSERT_TRUE(layout.ok());
  w = LoadWeights(*ckpt, c, *layout);
  ASSERT_FALSE(w.ok());
  EXPECT_THAT(w.status().message(), HasSubstr("parallel layout"));
}

// Rewrites the generated checkpoint with `edit` applied to its tensor list.
class EditedCheckpointTest : public ::testing::Test {
 protected:
  absl::StatusOr<ModelWeights> LoadEdited(
      const std::function<void(std::vector<std::pair<std::string, TensorView>>&)>& edit) {
    const std::string src = ScratchDir("weights_edit_src");
    original_ = Generate(config_, src);
    EXPECT_NE(original_, nullptr);
    std::vector<std::pair<std::string, TensorView>> tensors;
    for (const std::string& name : original_->names())
      tensors.emplace_back(name, MustGet(*original_, name));
    edit(tensors);
    const std::string dst = ScratchDir("weights_edit_dst");
    EXPECT_TRUE(WriteSafetensors(dst + "/model.safetensors", tensors).ok());
    auto ckpt = Checkpoint::Open(dst);
    EXPECT_TRUE(ckpt.ok()) << ckpt.status();
    edited_ = std::move(*ckpt);
    auto layout = ParallelLayout::Create(0, 1, config_.num_attention_heads,
                                         config_.num_key_value_heads, config_.num_local_experts);
    return LoadWeights(*edited_, config_, *layout);
  }
  ModelConfig config_ = SmallConfig();
  std::unique_ptr<Checkpoint> original_, edited_;
  std::vector<float> f32_sinks_ = std::vector<float>(4, 0.5f);
};

TEST_F(EditedCheckpointTest, MissingTensorIsNamed) {
  auto w = LoadEdited([](auto& t) {
    t.erase(std::find_if(t.begin(), t.end(), [](auto& p) {
      return p.first == "model.layers.1.mlp.experts.down_proj_scales";
    }));
  });
  ASSERT_FALSE(w.ok());
  EXPECT_THAT(w.status().message(),
              HasSubstr("1 missing tensors: model.layers.1.mlp.experts.down_proj_scales"));
}

TEST_F(EditedCheckpointTest, ExtraTensorIsNamed) {
  auto w =
      LoadEdited([&](auto& t) { t.emplace_back("model.layers.0.mlp.shared_expert", t[0].second); });
  ASSERT_FALSE(w.ok());
  EXPECT_THAT(w.status().message(),
              HasSubstr("1 unexpected tensors: model.layers.0.mlp.shared_expert"));
}

TEST_F(EditedCheckpointTest, WrongDtypeIsNamed) {
  auto w = LoadEdited([&](auto& t) {
    for (auto& [name, view] : t)
      if (name == "model.layers.0.self_attn.sinks")
        view = TensorView(f32_sinks_.data(), DType::kF32, {4});
  });
  ASSERT_FALSE(w.ok());
  EXPECT_THAT(
      w.status().message(),
      HasSubstr("'model.layers.0.self_attn.sinks' is F32 [4] but the config needs BF16 [4]"));
}

TEST_F(EditedCheckpointTest, WrongShapeIsNamed) {
  auto w = LoadEdited([&](auto& t) {
    for (auto& [name, view] : t)
      if (name == "model.layers.1.mlp.experts.gate_up_proj_blocks")
        view = view.Reshaped({4, 32, 4, 16});
  });
  ASSERT_FALSE(w.ok());
  EXPECT_THAT(
      w.status().message(),
      HasSubstr("gate_up_proj_blocks' is U8 [4,32,4,16] but the config needs U8 [4,64,2,16]"));
}

}  // namespace
}  // namespace gptoss
