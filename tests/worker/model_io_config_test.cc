// config.json parsing: the two official configs verbatim, HF defaults, and one rejection per
// invalid field (each error must name the field).
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "worker/model/config.h"

namespace gptoss {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

std::string ReadText(const std::string& rel) {
  std::ifstream in(std::string(GPTOSS_SOURCE_DIR) + "/" + rel, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

const std::string& Official20b() {
  static const std::string* text = new std::string(ReadText("tests/data/configs/gpt-oss-20b.json"));
  return *text;
}
const std::string& Official120b() {
  static const std::string* text =
      new std::string(ReadText("tests/data/configs/gpt-oss-120b.json"));
  return *text;
}

TEST(ModelIoConfig, Parses20bOfficialConfig) {
  ASSERT_FALSE(Official20b().empty());
  auto c = ParseModelConfig(Official20b());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->vocab_size, 201088);
  EXPECT_EQ(c->hidden_size, 2880);
  EXPECT_EQ(c->intermediate_size, 2880);
  EXPECT_EQ(c->num_hidden_layers, 24);
  EXPECT_EQ(c->num_attention_heads, 64);
  EXPECT_EQ(c->num_key_value_heads, 8);
  EXPECT_EQ(c->head_dim, 64);
  EXPECT_EQ(c->num_local_experts, 32);
  EXPECT_EQ(c->num_experts_per_tok, 4);
  EXPECT_EQ(c->sliding_window, 128);
  EXPECT_EQ(c->max_position_embeddings, 131072);
  EXPECT_FLOAT_EQ(c->rms_norm_eps, 1e-5f);
  EXPECT_FLOAT_EQ(c->swiglu_limit, 7.0f);
  EXPECT_FLOAT_EQ(c->swiglu_alpha, 1.702f);
  EXPECT_TRUE(c->attention_bias);
  EXPECT_FALSE(c->tie_word_embeddings);
  EXPECT_TRUE(c->experts_mxfp4);
  EXPECT_EQ(c->eos_token_ids, std::vector<int>({200002}));
  EXPECT_EQ(c->pad_token_id, 199999);
  ASSERT_EQ(c->layer_types.size(), 24u);
  for (int i = 0; i < 24; ++i)
    EXPECT_EQ(c->layer_types[i],
              i % 2 == 0 ? LayerType::kSlidingAttention : LayerType::kFullAttention)
        << i;
  EXPECT_EQ(c->rope.head_dim, 64);
  EXPECT_DOUBLE_EQ(c->rope.theta, 150000.0);
  EXPECT_DOUBLE_EQ(c->rope.factor, 32.0);
  EXPECT_DOUBLE_EQ(c->rope.beta_fast, 32.0);
  EXPECT_DOUBLE_EQ(c->rope.beta_slow, 1.0);
  EXPECT_EQ(c->rope.original_max_position_embeddings, 4096);
  EXPECT_FALSE(c->rope.truncate);
}

TEST(ModelIoConfig, Parses120bOfficialConfig) {
  auto c = ParseModelConfig(Official120b());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->num_hidden_layers, 36);
  EXPECT_EQ(c->num_local_experts, 128);
  EXPECT_EQ(c->layer_types.size(), 36u);
  EXPECT_EQ(c->layer_types[35], LayerType::kFullAttention);
}

// The generator writes configs through ModelConfigToJson; for the official configs that must be
// the official bytes, so the 20b/120b presets are the official configs verbatim.
TEST(ModelIoConfig, ToJsonReproducesOfficialConfigsByteForByte) {
  for (const std::string* text : {&Official20b(), &Official120b()}) {
    auto c = ParseModelConfig(*text);
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(ModelConfigToJson(*c), *text);
  }
}

TEST(ModelIoConfig, LoadModelConfigReadsFileAndNamesPathOnError) {
  auto c =
      LoadModelConfig(std::string(GPTOSS_SOURCE_DIR) + "/tests/data/configs/gpt-oss-120b.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->num_local_experts, 128);
  auto missing = LoadModelConfig("/nonexistent/dir/config.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("/nonexistent/dir/config.json"));
}

TEST(ModelIoConfig, AbsentFieldsTakeGptOssConfigDefaults) {
  auto c = ParseModelConfig(
      R"({"model_type": "gpt_oss", "quantization_config": {"quant_method": "mxfp4"}})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->num_hidden_layers, 36);
  EXPECT_EQ(c->num_local_experts, 128);
  EXPECT_EQ(c->vocab_size, 201088);
  EXPECT_EQ(c->head_dim, 64);
  EXPECT_EQ(c->num_key_value_heads, 8);
  EXPECT_EQ(c->sliding_window, 128);
  EXPECT_EQ(c->layer_types.size(), 36u);
  EXPECT_EQ(c->layer_types[0], LayerType::kSlidingAttention);
  EXPECT_EQ(c->layer_types[1], LayerType::kFullAttention);
  EXPECT_TRUE(c->eos_token_ids.empty());
  EXPECT_EQ(c->pad_token_id, -1);
  // GptOssConfig's default rope dict.
  EXPECT_DOUBLE_EQ(c->rope.theta, 150000.0);
  EXPECT_DOUBLE_EQ(c->rope.factor, 32.0);
  EXPECT_EQ(c->rope.original_max_position_embeddings, 4096);
  EXPECT_FALSE(c->rope.truncate);
}

Json Official20bJson() { return Json::parse(Official20b()); }

absl::StatusOr<ModelConfig> ParseEdited(const std::function<void(Json&)>& edit) {
  Json j = Official20bJson();
  edit(j);
  return ParseModelConfig(j.dump());
}

TEST(ModelIoConfig, RopeDictFallbacksFollowTransformers) {
  // Inside an explicit dict, HF reads truncate with default True and derives the original length
  // from max_position_embeddings, and the factor from both when it is null.
  auto c = ParseEdited([](Json& j) {
    j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", nullptr}};
    j["max_position_embeddings"] = 8192;
    j["rope_theta"] = 10000.5;
  });
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->rope.truncate);
  EXPECT_EQ(c->rope.original_max_position_embeddings, 8192);
  EXPECT_DOUBLE_EQ(c->rope.factor, 1.0);
  EXPECT_DOUBLE_EQ(c->rope.beta_fast, 32.0);
  EXPECT_DOUBLE_EQ(c->rope.beta_slow, 1.0);
  EXPECT_DOUBLE_EQ(c->rope.theta, 10000.5);

  // transformers 5 layout: rope_parameters with rope_theta inside (wins over the top level).
  auto v5 = ParseEdited([](Json& j) {
    j.erase("rope_scaling");
    j["rope_parameters"] = {{"rope_type", "yarn"},  {"factor", 4.0},
                            {"rope_theta", 5000.0}, {"original_max_position_embeddings", 128},
                            {"truncate", false},    {"beta_fast", 16},
                            {"beta_slow", 2}};
  });
  ASSERT_TRUE(v5.ok()) << v5.status();
  EXPECT_DOUBLE_EQ(v5->rope.theta, 5000.0);
  EXPECT_DOUBLE_EQ(v5->rope.factor, 4.0);
  EXPECT_DOUBLE_EQ(v5->rope.beta_fast, 16.0);
  EXPECT_DOUBLE_EQ(v5->rope.beta_slow, 2.0);
  EXPECT_EQ(v5->rope.original_max_position_embeddings, 128);
  EXPECT_FALSE(v5->rope.truncate);
}

TEST(ModelIoConfig, EosListAliasesAndNulls) {
  auto c = ParseEdited([](Json& j) {
    j["eos_token_id"] = {200002, 199999, 200012};
    j.erase("num_experts_per_tok");  // only the alias experts_per_token remains
    j["experts_per_token"] = 2;
    j.erase("num_local_experts");
    j["num_experts"] = 16;
    j["pad_token_id"] = nullptr;
    j["num_attention_heads"] = 32;
    j["head_dim"] = nullptr;             // HF: hidden_size / num_attention_heads
    j["num_key_value_heads"] = nullptr;  // HF: num_attention_heads
  });
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->eos_token_ids, std::vector<int>({200002, 199999, 200012}));
  EXPECT_EQ(c->num_experts_per_tok, 2);
  EXPECT_EQ(c->num_local_experts, 16);
  EXPECT_EQ(c->pad_token_id, -1);
  EXPECT_EQ(c->head_dim, 2880 / 32);
  EXPECT_EQ(c->num_key_value_heads, 32);
}

TEST(ModelIoConfig, SmallConfigRoundTripsThroughToJson) {
  auto c = ParseEdited([](Json& j) {
    j["vocab_size"] = 1000;
    j["hidden_size"] = 64;
    j["intermediate_size"] = 96;
    j["num_hidden_layers"] = 3;
    j["layer_types"] = {"full_attention", "sliding_attention", "full_attention"};
    j["eos_token_id"] = {7, 9};
    j["pad_token_id"] = 3;
    j["rms_norm_eps"] = 1e-6;
    j["swiglu_alpha"] = 1.5;
    j["rope_scaling"]["truncate"] = true;
  });
  ASSERT_TRUE(c.ok()) << c.status();
  auto again = ParseModelConfig(ModelConfigToJson(*c));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(ModelConfigToJson(*again), ModelConfigToJson(*c));
  EXPECT_EQ(again->intermediate_size, 96);
  EXPECT_EQ(again->layer_types, c->layer_types);
  EXPECT_EQ(again->eos_token_ids, std::vector<int>({7, 9}));
  EXPECT_EQ(again->pad_token_id, 3);
  EXPECT_FLOAT_EQ(again->rms_norm_eps, 1e-6f);
  EXPECT_FLOAT_EQ(again->swiglu_alpha, 1.5f);
  EXPECT_TRUE(again->rope.truncate);
}

struct BadCase {
  const char* what;
  std::function<void(Json&)> edit;
  const char* field;  // must appear in the error message
};

TEST(ModelIoConfig, EachInvalidFieldIsRejectedByName) {
  const BadCase cases[] = {
      {"model_type other", [](Json& j) { j["model_type"] = "llama"; }, "model_type"},
      {"model_type missing", [](Json& j) { j.erase("model_type"); }, "model_type"},
      {"model_type not string", [](Json& j) { j["model_type"] = 5; }, "model_type"},
      {"vocab zero", [](Json& j) { j["vocab_size"] = 0; }, "vocab_size"},
      {"vocab string", [](Json& j) { j["vocab_size"] = "201088"; }, "vocab_size"},
      {"vocab float", [](Json& j) { j["vocab_size"] = 201088.5; }, "vocab_size"},
      {"vocab huge", [](Json& j) { j["vocab_size"] = 1e30; }, "vocab_size"},
      {"vocab uint64", [](Json& j) { j["vocab_size"] = 18446744073709551615ull; }, "vocab_size"},
      {"hidden negative", [](Json& j) { j["hidden_size"] = -2880; }, "hidden_size"},
      {"hidden not /32", [](Json& j) { j["hidden_size"] = 2881; }, "hidden_size"},
      {"hidden huge", [](Json& j) { j["hidden_size"] = int64_t{1} << 40; }, "hidden_size"},
      {"intermediate not /32", [](Json& j) { j["intermediate_size"] = 100; }, "intermediate_size"},
      {"intermediate zero", [](Json& j) { j["intermediate_size"] = 0; }, "intermediate_size"},
      {"layers zero", [](Json& j) { j["num_hidden_layers"] = 0; }, "num_hidden_layers"},
      {"layers bool", [](Json& j) { j["num_hidden_layers"] = true; }, "num_hidden_layers"},
      {"heads zero", [](Json& j) { j["num_attention_heads"] = 0; }, "num_attention_heads"},
      {"kv not dividing", [](Json& j) { j["num_key_value_heads"] = 7; }, "num_key_value_heads"},
      {"kv zero", [](Json& j) { j["num_key_value_heads"] = 0; }, "num_key_value_heads"},
      {"head_dim odd", [](Json& j) { j["head_dim"] = 63; }, "head_dim"},
      {"head_dim zero", [](Json& j) { j["head_dim"] = 0; }, "head_dim"},
      {"experts zero", [](Json& j) { j["num_local_experts"] = 0; }, "num_local_experts"},
      {"experts alias disagree", [](Json& j) { j["num_experts"] = 16; }, "num_experts"},
      {"topk > experts",
       [](Json& j) {
         j["num_experts_per_tok"] = 33;
         j["experts_per_token"] = 33;
       },
       "num_experts_per_tok"},
      {"topk zero", [](Json& j) { j["num_experts_per_tok"] = 0; }, "num_experts_per_tok"},
      {"topk alias disagree", [](Json& j) { j["experts_per_token"] = 2; }, "experts_per_token"},
      {"max_pos zero", [](Json& j) { j["max_position_embeddings"] = 0; },
       "max_position_embeddings"},
      {"eps zero", [](Json& j) { j["rms_norm_eps"] = 0; }, "rms_norm_eps"},
      {"eps string", [](Json& j) { j["rms_norm_eps"] = "1e-5"; }, "rms_norm_eps"},
      {"swiglu_limit negative", [](Json& j) { j["swiglu_limit"] = -7.0; }, "swiglu_limit"},
      {"swiglu_alpha zero", [](Json& j) { j["swiglu_alpha"] = 0.0; }, "swiglu_alpha"},
      {"attention_bias string", [](Json& j) { j["attention_bias"] = "yes"; }, "attention_bias"},
      {"tie string", [](Json& j) { j["tie_word_embeddings"] = 0; }, "tie_word_embeddings"},
      {"layer_types short", [](Json& j) { j["layer_types"].erase(0); }, "layer_types"},
      {"layer_types not array", [](Json& j) { j["layer_types"] = "sliding_attention"; },
       "layer_types"},
      {"layer type unknown", [](Json& j) { j["layer_types"][3] = "chunked_attention"; },
       "layer_types[3]"},
      {"layer type number", [](Json& j) { j["layer_types"][5] = 1; }, "layer_types[5]"},
      {"sliding_window zero", [](Json& j) { j["sliding_window"] = 0; }, "sliding_window"},
      {"sliding_window null with sliding layers", [](Json& j) { j["sliding_window"] = nullptr; },
       "sliding_window"},
      {"rope_scaling not object", [](Json& j) { j["rope_scaling"] = 32; }, "rope_scaling"},
      {"rope_type linear", [](Json& j) { j["rope_scaling"]["rope_type"] = "linear"; },
       "rope_scaling.rope_type"},
      {"rope_type missing", [](Json& j) { j["rope_scaling"].erase("rope_type"); },
       "rope_scaling.rope_type"},
      {"rope factor < 1", [](Json& j) { j["rope_scaling"]["factor"] = 0.5; },
       "rope_scaling.factor"},
      {"rope factor string", [](Json& j) { j["rope_scaling"]["factor"] = "32"; },
       "rope_scaling.factor"},
      {"rope beta_fast zero", [](Json& j) { j["rope_scaling"]["beta_fast"] = 0; },
       "rope_scaling.beta_fast"},
      {"rope beta_slow negative", [](Json& j) { j["rope_scaling"]["beta_slow"] = -1; },
       "rope_scaling.beta_slow"},
      {"rope original zero",
       [](Json& j) { j["rope_scaling"]["original_max_position_embeddings"] = 0; },
       "rope_scaling.original_max_position_embeddings"},
      {"rope truncate string", [](Json& j) { j["rope_scaling"]["truncate"] = "false"; },
       "rope_scaling.truncate"},
      {"rope mscale", [](Json& j) { j["rope_scaling"]["mscale"] = 1.0; }, "rope_scaling.mscale"},
      {"rope attention_factor", [](Json& j) { j["rope_scaling"]["attention_factor"] = 1.2; },
       "rope_scaling.attention_factor"},
      {"rope partial", [](Json& j) { j["rope_scaling"]["partial_rotary_factor"] = 0.5; },
       "rope_scaling.partial_rotary_factor"},
      {"rope_theta zero", [](Json& j) { j["rope_theta"] = 0; }, "rope_theta"},
      {"rope_theta string", [](Json& j) { j["rope_theta"] = "150000"; }, "rope_theta"},
      {"eos out of vocab", [](Json& j) { j["eos_token_id"] = 201088; }, "eos_token_id"},
      {"eos negative in list",
       [](Json& j) {
         j["eos_token_id"] = {200002, -1};
       },
       "eos_token_id[1]"},
      {"eos string", [](Json& j) { j["eos_token_id"] = "200002"; }, "eos_token_id"},
      {"pad out of vocab", [](Json& j) { j["pad_token_id"] = 300000; }, "pad_token_id"},
      {"no quantization (bf16 experts)", [](Json& j) { j.erase("quantization_config"); },
       "quantization_config"},
      {"quantization not object", [](Json& j) { j["quantization_config"] = "mxfp4"; },
       "quantization_config"},
      {"quant method other", [](Json& j) { j["quantization_config"]["quant_method"] = "gptq"; },
       "quantization_config.quant_method"},
      {"quant method missing", [](Json& j) { j["quantization_config"].erase("quant_method"); },
       "quantization_config.quant_method"},
  };
  for (const BadCase& bc : cases) {
    auto c = ParseEdited(bc.edit);
    ASSERT_FALSE(c.ok()) << bc.what;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << bc.what;
    EXPECT_THAT(c.status().message(), HasSubstr(std::string("'") + bc.field + "'")) << bc.what;
  }
}

TEST(ModelIoConfig, MalformedJsonIsRejected) {
  for (const char* text :
       {"", "{", "[1,2]", "null", "{\"model_type\": \"gpt_oss\",}", "\xff\xfe", "42"}) {
    auto c = ParseModelConfig(text);
    ASSERT_FALSE(c.ok()) << text;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
}

}  // namespace
}  // namespace gptoss
