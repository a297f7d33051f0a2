// config.json parsing and writing for gpt-oss (see config.h for the contract).
#include "worker/model/config.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kernels/core/status.h"
#include "nlohmann/json.hpp"

namespace gptoss {
namespace {

using Json = nlohmann::json;

// Upper bounds that keep every shape product of the checkpoint inside int64 (the largest is
// experts * 2I * H/32 * 16 < 2^16 * 2^19 * 2^18) while leaving room far beyond gpt-oss-120b.
constexpr int64_t kMaxVocab = int64_t{1} << 24;
constexpr int64_t kMaxWidth = int64_t{1} << 18;  // hidden_size, intermediate_size
constexpr int64_t kMaxLayers = 1024;
constexpr int64_t kMaxHeads = 4096;
constexpr int64_t kMaxHeadDim = 1024;
constexpr int64_t kMaxExperts = int64_t{1} << 16;
constexpr int64_t kMaxPositions = int64_t{1} << 30;

absl::Status FieldError(const std::string& field, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("config.json: field '", field, "' ", what));
}

std::string Shown(const Json& v) {
  std::string s = v.dump();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

// The value of `key` in `obj`, or nullptr when it is absent or JSON null (HF treats a null like
// an absent field: the default applies).
const Json* Find(const Json& obj, const std::string& key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

bool ExplicitNull(const Json& obj, const std::string& key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_null();
}

// Reads an integer field. `fallback` is used when the field is absent; without a fallback the
// field is required.
absl::StatusOr<int64_t> ReadInt(const Json& obj, const std::string& prefix, const std::string& key,
                                std::optional<int64_t> fallback) {
  const std::string field = prefix + key;
  const Json* v = Find(obj, key);
  if (v == nullptr) {
    if (fallback) return *fallback;
    return FieldError(field, "is missing");
  }
  if (!v->is_number_integer())
    return FieldError(field, absl::StrCat("must be an integer, got ", Shown(*v)));
  if (v->is_number_unsigned()) {
    const uint64_t u = v->get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      return FieldError(field, absl::StrCat("is out of range: ", Shown(*v)));
    return static_cast<int64_t>(u);
  }
  return v->get<int64_t>();
}

// Integer in [lo, hi]; `what` names the constraint in the error.
absl::StatusOr<int> ReadIntIn(const Json& obj, const std::string& prefix, const std::string& key,
                              std::optional<int64_t> fallback, int64_t lo, int64_t hi) {
  GPTOSS_ASSIGN_OR_RETURN(int64_t v, ReadInt(obj, prefix, key, fallback));
  if (v < lo) return FieldError(prefix + key, absl::StrCat("must be >= ", lo, ", got ", v));
  if (v > hi) return FieldError(prefix + key, absl::StrCat("must be <= ", hi, ", got ", v));
  return static_cast<int>(v);
}

// A finite number (integer or floating JSON number).
absl::StatusOr<double> ReadNumber(const Json& obj, const std::string& prefix,
                                  const std::string& key, std::optional<double> fallback) {
  const std::string field = prefix + key;
  const Json* v = Find(obj, key);
  if (v == nullptr) {
    if (fallback) return *fallback;
    return FieldError(field, "is missing");
  }
  if (!v->is_number()) return FieldError(field, absl::StrCat("must be a number, got ", Shown(*v)));
  const double d = v->get<double>();
  if (!std::isfinite(d)) return FieldError(field, "must be finite");
  return d;
}

absl::StatusOr<double> ReadPositive(const Json& obj, const std::string& prefix,
                                    const std::string& key, std::optional<double> fallback) {
  GPTOSS_ASSIGN_OR_RETURN(double d, ReadNumber(obj, prefix, key, fallback));
  if (!(d > 0)) return FieldError(prefix + key, absl::StrCat("must be > 0, got ", d));
  return d;
}

absl::StatusOr<bool> ReadBool(const Json& obj, const std::string& prefix, const std::string& key,
                              bool fallback) {
  const Json* v = Find(obj, key);
  if (v == nullptr) return fallback;
  if (!v->is_boolean())
    return FieldError(prefix + key, absl::StrCat("must be true or false, got ", Shown(*v)));
  return v->get<bool>();
}

absl::StatusOr<std::optional<std::string>> ReadString(const Json& obj, const std::string& prefix,
                                                      const std::string& key) {
  const Json* v = Find(obj, key);
  if (v == nullptr) return std::optional<std::string>();
  if (!v->is_string())
    return FieldError(prefix + key, absl::StrCat("must be a string, got ", Shown(*v)));
  return std::optional<std::string>(v->get<std::string>());
}

// A field that has an alias (num_experts_per_tok / experts_per_token): both must agree.
absl::StatusOr<int> ReadAliased(const Json& obj, const std::string& key, const std::string& alias,
                                int64_t fallback, int64_t lo, int64_t hi) {
  const bool has_key = Find(obj, key) != nullptr;
  const bool has_alias = Find(obj, alias) != nullptr;
  GPTOSS_ASSIGN_OR_RETURN(int v,
                   ReadIntIn(obj, "", has_key || !has_alias ? key : alias, fallback, lo, hi));
  if (has_key && has_alias) {
    GPTOSS_ASSIGN_OR_RETURN(int a, ReadIntIn(obj, "", alias, fallback, lo, hi));
    if (a != v)
      return FieldError(alias, absl::StrCat("(", a, ") disagrees with '", key, "' (", v, ")"));
  }
  return v;
}

// rope_scaling / rope_parameters, resolved the way transformers does (modeling_rope_utils.py):
// the legacy `rope_scaling` wins over `rope_parameters`; `rope_theta` inside the dict wins over
// the top-level one; without any dict GptOssConfig's default YaRN applies.
absl::Status ParseRope(const Json& root, ModelConfig& c) {
  YarnConfig& y = c.rope;
  y.head_dim = c.head_dim;
  GPTOSS_ASSIGN_OR_RETURN(const double top_theta, ReadPositive(root, "", "rope_theta", 150000.0));

  std::string key = "rope_scaling";
  const Json* rope = Find(root, key);
  if (rope == nullptr) {
    key = "rope_parameters";
    rope = Find(root, key);
  }
  if (rope == nullptr) {
    // GptOssConfig.__post_init__ default.
    y.theta = top_theta;
    y.factor = 32.0;
    y.beta_fast = 32.0;
    y.beta_slow = 1.0;
    y.original_max_position_embeddings = 4096;
    y.truncate = false;
    return absl::OkStatus();
  }
  if (!rope->is_object())
    return FieldError(key, absl::StrCat("must be an object, got ", Shown(*rope)));
  const std::string p = key + ".";
  GPTOSS_ASSIGN_OR_RETURN(std::optional<std::string> type, ReadString(*rope, p, "rope_type"));
  if (!type) {
    GPTOSS_ASSIGN_OR_RETURN(type, ReadString(*rope, p, "type"));
  }
  if (!type) return FieldError(p + "rope_type", "is missing (expected \"yarn\")");
  if (*type != "yarn")
    return FieldError(p + "rope_type",
                      absl::StrCat("'", *type, "' is unsupported (gpt-oss uses \"yarn\")"));
  for (const char* unsupported : {"attention_factor", "mscale", "mscale_all_dim"}) {
    if (Find(*rope, unsupported) != nullptr)
      return FieldError(p + unsupported,
                        "is unsupported (the YaRN attention factor is derived from factor)");
  }
  if (const Json* prf = Find(*rope, "partial_rotary_factor")) {
    if (!prf->is_number() || prf->get<double>() != 1.0)
      return FieldError(p + "partial_rotary_factor", absl::StrCat("must be 1, got ", Shown(*prf)));
  }
  GPTOSS_ASSIGN_OR_RETURN(y.theta, ReadPositive(*rope, p, "rope_theta", top_theta));
  GPTOSS_ASSIGN_OR_RETURN(y.original_max_position_embeddings,
                   ReadIntIn(*rope, p, "original_max_position_embeddings",
                             c.max_position_embeddings, 1, kMaxPositions));
  // HF: a null factor means max_position_embeddings / original_max_position_embeddings.
  const double implicit_factor =
      static_cast<double>(c.max_position_embeddings) / y.original_max_position_embeddings;
  GPTOSS_ASSIGN_OR_RETURN(y.factor, ReadNumber(*rope, p, "factor", implicit_factor));
  if (!(y.factor >= 1.0))
    return FieldError(p + "factor", absl::StrCat("must be >= 1, got ", y.factor));
  GPTOSS_ASSIGN_OR_RETURN(y.beta_fast, ReadPositive(*rope, p, "beta_fast", 32.0));
  GPTOSS_ASSIGN_OR_RETURN(y.beta_slow, ReadPositive(*rope, p, "beta_slow", 1.0));
  // HF: rope_parameters.get("truncate", True).
  GPTOSS_ASSIGN_OR_RETURN(y.truncate, ReadBool(*rope, p, "truncate", true));
  return absl::OkStatus();
}

absl::Status ParseLayerTypes(const Json& root, ModelConfig& c) {
  c.layer_types.clear();
  const Json* lt = Find(root, "layer_types");
  if (lt == nullptr) {
    // GptOssConfig default: sliding for even layers, full for odd ones.
    for (int i = 0; i < c.num_hidden_layers; ++i)
      c.layer_types.push_back(i % 2 == 0 ? LayerType::kSlidingAttention
                                         : LayerType::kFullAttention);
    return absl::OkStatus();
  }
  if (!lt->is_array())
    return FieldError("layer_types", absl::StrCat("must be an array, got ", Shown(*lt)));
  if (lt->size() != static_cast<size_t>(c.num_hidden_layers))
    return FieldError("layer_types",
                      absl::StrCat("has ", lt->size(), " entries but num_hidden_layers is ",
                                   c.num_hidden_layers));
  for (size_t i = 0; i < lt->size(); ++i) {
    const Json& e = (*lt)[i];
    const std::string field = absl::StrCat("layer_types[", i, "]");
    if (!e.is_string()) return FieldError(field, absl::StrCat("must be a string, got ", Shown(e)));
    const std::string& s = e.get_ref<const std::string&>();
    if (s == "sliding_attention") {
      c.layer_types.push_back(LayerType::kSlidingAttention);
    } else if (s == "full_attention") {
      c.layer_types.push_back(LayerType::kFullAttention);
    } else {
      return FieldError(
          field,
          absl::StrCat("'", s, "' is not a known layer type (sliding_attention, full_attention)"));
    }
  }
  return absl::OkStatus();
}

absl::Status ParseTokenIds(const Json& root, ModelConfig& c) {
  c.eos_token_ids.clear();
  if (const Json* eos = Find(root, "eos_token_id")) {
    auto add = [&](const Json& v, const std::string& field) -> absl::Status {
      if (!v.is_number_integer())
        return FieldError(field, absl::StrCat("must be an integer token id, got ", Shown(v)));
      const int64_t id = v.get<int64_t>();
      if (id < 0 || id >= c.vocab_size)
        return FieldError(field, absl::StrCat("token id ", id, " is outside the vocabulary [0, ",
                                              c.vocab_size, ")"));
      c.eos_token_ids.push_back(static_cast<int>(id));
      return absl::OkStatus();
    };
    if (eos->is_array()) {
      for (size_t i = 0; i < eos->size(); ++i)
        GPTOSS_RETURN_IF_ERROR(add((*eos)[i], absl::StrCat("eos_token_id[", i, "]")));
    } else {
      GPTOSS_RETURN_IF_ERROR(add(*eos, "eos_token_id"));
    }
  }
  c.pad_token_id = -1;
  if (Find(root, "pad_token_id") != nullptr) {
    GPTOSS_ASSIGN_OR_RETURN(c.pad_token_id,
                     ReadIntIn(root, "", "pad_token_id", std::nullopt, 0, c.vocab_size - 1));
  }
  return absl::OkStatus();
}

absl::Status ParseQuantization(const Json& root, ModelConfig& c) {
  const Json* q = Find(root, "quantization_config");
  if (q == nullptr)
    return FieldError(
        "quantization_config",
        "is missing: bf16 experts are unsupported (only MXFP4 checkpoints such as the official "
        "gpt-oss releases can be served)");
  if (!q->is_object())
    return FieldError("quantization_config", absl::StrCat("must be an object, got ", Shown(*q)));
  GPTOSS_ASSIGN_OR_RETURN(std::optional<std::string> method,
                   ReadString(*q, "quantization_config.", "quant_method"));
  if (!method)
    return FieldError("quantization_config.quant_method", "is missing (expected \"mxfp4\")");
  if (*method != "mxfp4")
    return FieldError("quantization_config.quant_method",
                      absl::StrCat("'", *method, "' is unsupported (only \"mxfp4\")"));
  c.experts_mxfp4 = true;
  return absl::OkStatus();
}

absl::StatusOr<ModelConfig> ParseRoot(const Json& root) {
  if (!root.is_object())
    return absl::InvalidArgumentError("config.json: the top level must be a JSON object");
  GPTOSS_ASSIGN_OR_RETURN(std::optional<std::string> model_type, ReadString(root, "", "model_type"));
  if (!model_type) return FieldError("model_type", "is missing (expected \"gpt_oss\")");
  if (*model_type != "gpt_oss")
    return FieldError("model_type",
                      absl::StrCat("'", *model_type, "' is not supported (expected \"gpt_oss\")"));

  ModelConfig c;
  // Defaults: transformers GptOssConfig.
  GPTOSS_ASSIGN_OR_RETURN(c.vocab_size, ReadIntIn(root, "", "vocab_size", 201088, 1, kMaxVocab));
  GPTOSS_ASSIGN_OR_RETURN(c.hidden_size, ReadIntIn(root, "", "hidden_size", 2880, 1, kMaxWidth));
  // MXFP4 packs 32 input features per scale: H is the input width of gate_up, I of down.
  if (c.hidden_size % 32 != 0)
    return FieldError(
        "hidden_size",
        absl::StrCat("must be a multiple of 32 (the MXFP4 block), got ", c.hidden_size));
  GPTOSS_ASSIGN_OR_RETURN(c.intermediate_size,
                   ReadIntIn(root, "", "intermediate_size", 2880, 1, kMaxWidth));
  if (c.intermediate_size % 32 != 0)
    return FieldError(
        "intermediate_size",
        absl::StrCat("must be a multiple of 32 (the MXFP4 block), got ", c.intermediate_size));
  GPTOSS_ASSIGN_OR_RETURN(c.num_hidden_layers,
                   ReadIntIn(root, "", "num_hidden_layers", 36, 1, kMaxLayers));
  GPTOSS_ASSIGN_OR_RETURN(c.num_attention_heads,
                   ReadIntIn(root, "", "num_attention_heads", 64, 1, kMaxHeads));
  // HF: num_key_value_heads defaults to 8; an explicit null means num_attention_heads.
  GPTOSS_ASSIGN_OR_RETURN(c.num_key_value_heads,
                   ReadIntIn(root, "", "num_key_value_heads",
                             ExplicitNull(root, "num_key_value_heads") ? c.num_attention_heads : 8,
                             1, kMaxHeads));
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    return FieldError("num_key_value_heads", absl::StrCat("(", c.num_key_value_heads,
                                                          ") must divide num_attention_heads (",
                                                          c.num_attention_heads, ")"));
  // HF: head_dim defaults to 64; an explicit null means hidden_size / num_attention_heads.
  GPTOSS_ASSIGN_OR_RETURN(
      c.head_dim,
      ReadIntIn(root, "", "head_dim",
                ExplicitNull(root, "head_dim") ? c.hidden_size / c.num_attention_heads : 64, 1,
                kMaxHeadDim));
  if (c.head_dim % 2 != 0)
    return FieldError("head_dim",
                      absl::StrCat("must be even (RoPE rotates half-dim pairs), got ", c.head_dim));
  GPTOSS_ASSIGN_OR_RETURN(c.num_local_experts,
                   ReadAliased(root, "num_local_experts", "num_experts", 128, 1, kMaxExperts));
  GPTOSS_ASSIGN_OR_RETURN(c.num_experts_per_tok, ReadAliased(root, "num_experts_per_tok",
                                                      "experts_per_token", 4, 1, kMaxExperts));
  if (c.num_experts_per_tok > c.num_local_experts)
    return FieldError("num_experts_per_tok",
                      absl::StrCat("(", c.num_experts_per_tok, ") exceeds num_local_experts (",
                                   c.num_local_experts, ")"));
  GPTOSS_ASSIGN_OR_RETURN(c.max_position_embeddings,
                   ReadIntIn(root, "", "max_position_embeddings", 131072, 1, kMaxPositions));
  GPTOSS_ASSIGN_OR_RETURN(const double eps, ReadPositive(root, "", "rms_norm_eps", 1e-5));
  c.rms_norm_eps = static_cast<float>(eps);
  GPTOSS_ASSIGN_OR_RETURN(const double limit, ReadPositive(root, "", "swiglu_limit", 7.0));
  c.swiglu_limit = static_cast<float>(limit);
  GPTOSS_ASSIGN_OR_RETURN(const double alpha, ReadPositive(root, "", "swiglu_alpha", 1.702));
  c.swiglu_alpha = static_cast<float>(alpha);
  GPTOSS_ASSIGN_OR_RETURN(c.attention_bias, ReadBool(root, "", "attention_bias", true));
  GPTOSS_ASSIGN_OR_RETURN(c.tie_word_embeddings, ReadBool(root, "", "tie_word_embeddings", false));

  GPTOSS_RETURN_IF_ERROR(ParseLayerTypes(root, c));
  bool any_sliding = false;
  for (LayerType t : c.layer_types) any_sliding |= t == LayerType::kSlidingAttention;
  if (ExplicitNull(root, "sliding_window")) {
    // Explicit null: no window. Only valid when no layer slides.
    if (any_sliding)
      return FieldError("sliding_window", "is null but layer_types contains sliding_attention");
    c.sliding_window = 0;
  } else {
    GPTOSS_ASSIGN_OR_RETURN(c.sliding_window,
                     ReadIntIn(root, "", "sliding_window", 128, 1, kMaxPositions));
  }
  GPTOSS_RETURN_IF_ERROR(ParseRope(root, c));
  GPTOSS_RETURN_IF_ERROR(ParseTokenIds(root, c));
  GPTOSS_RETURN_IF_ERROR(ParseQuantization(root, c));
  return c;
}

// A float field as the shortest decimal that reads back to the same float, then as a double:
// 1e-5f prints as 1e-05 (what Python wrote), not 9.99999974737875e-06.
double FloatForJson(float f) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof(buf) - 1, f);
  *res.ptr = '\0';
  return std::strtod(buf, nullptr);
}

// rope_theta is an integer in the official configs ("rope_theta": 150000).
Json NumberForJson(double d) {
  if (d == std::floor(d) && std::fabs(d) < 9007199254740992.0) return Json(static_cast<int64_t>(d));
  return Json(d);
}

}  // namespace

absl::StatusOr<ModelConfig> ParseModelConfig(std::string_view json_text) {
  Json root = Json::parse(json_text.begin(), json_text.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return absl::InvalidArgumentError("config.json: not valid JSON");
  return ParseRoot(root);
}

absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open config file '", path, "'"));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat("cannot read config file '", path, "'"));
  auto config = ParseModelConfig(text.str());
  if (!config.ok())
    return absl::Status(config.status().code(),
                        absl::StrCat(path, ": ", config.status().message()));
  return config;
}

std::string ModelConfigToJson(const ModelConfig& c) {
  Json j = Json::object();  // std::map keys: sorted, as save_pretrained(sort_keys=True)
  j["architectures"] = Json::array({"GptOssForCausalLM"});
  j["attention_bias"] = c.attention_bias;
  j["attention_dropout"] = 0.0;
  if (c.eos_token_ids.size() == 1) {
    j["eos_token_id"] = c.eos_token_ids[0];
  } else if (!c.eos_token_ids.empty()) {
    j["eos_token_id"] = c.eos_token_ids;
  }
  j["experts_per_token"] = c.num_experts_per_tok;
  j["head_dim"] = c.head_dim;
  j["hidden_act"] = "silu";
  j["hidden_size"] = c.hidden_size;
  j["initial_context_length"] = c.rope.original_max_position_embeddings;
  j["initializer_range"] = 0.02;
  j["intermediate_size"] = c.intermediate_size;
  Json layer_types = Json::array();
  for (LayerType t : c.layer_types)
    layer_types.push_back(t == LayerType::kSlidingAttention ? "sliding_attention"
                                                            : "full_attention");
  j["layer_types"] = layer_types;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["model_type"] = "gpt_oss";
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_experts_per_tok"] = c.num_experts_per_tok;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_key_value_heads"] = c.num_key_value_heads;
  j["num_local_experts"] = c.num_local_experts;
  j["output_router_logits"] = false;
  if (c.pad_token_id >= 0) j["pad_token_id"] = c.pad_token_id;
  if (c.experts_mxfp4) {
    j["quantization_config"] = {
        {"modules_to_not_convert",
         Json::array({"model.layers.*.self_attn", "model.layers.*.mlp.router", "model.embed_tokens",
                      "lm_head"})},
        {"quant_method", "mxfp4"}};
  }
  j["rms_norm_eps"] = FloatForJson(c.rms_norm_eps);
  j["rope_scaling"] = {
      {"beta_fast", c.rope.beta_fast},
      {"beta_slow", c.rope.beta_slow},
      {"factor", c.rope.factor},
      {"original_max_position_embeddings", c.rope.original_max_position_embeddings},
      {"rope_type", "yarn"},
      {"truncate", c.rope.truncate}};
  j["rope_theta"] = NumberForJson(c.rope.theta);
  j["router_aux_loss_coef"] = 0.9;
  j["sliding_window"] = c.sliding_window > 0 ? Json(c.sliding_window) : Json(nullptr);
  // The official configs omit swiglu_alpha (HF's default 1.702); write it only when it differs.
  if (c.swiglu_alpha != 1.702f) j["swiglu_alpha"] = FloatForJson(c.swiglu_alpha);
  j["swiglu_limit"] = FloatForJson(c.swiglu_limit);
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["transformers_version"] = "4.55.0.dev0";
  j["use_cache"] = true;
  j["vocab_size"] = c.vocab_size;
  return j.dump(2) + "\n";
}

}  // namespace gptoss
