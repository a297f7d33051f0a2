#include "coordinator/tokenizer/hf_tokenizer_json.h"

#include <array>
#include <cstdint>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "coordinator/tokenizer/utf8.h"
#include "kernels/core/status.h"
#include "nlohmann/json.hpp"

namespace gptoss {
namespace {

using json = nlohmann::json;

absl::Status Bad(const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("tokenizer.json: ", what));
}

// GPT-2's bytes_to_unicode: printable bytes stand for themselves, the other 68 bytes (controls,
// space, DEL, NBSP, soft hyphen, ...) for U+0100.. in byte order. Returns code point -> byte,
// -1 for code points outside the alphabet.
const std::array<int, 324>& ByteLevelDecoder() {
  static const std::array<int, 324> kTable = [] {
    std::array<int, 324> table;
    table.fill(-1);
    int next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      table[printable ? b : next++] = b;
    }
    return table;
  }();
  return kTable;
}

absl::StatusOr<std::string> DecodeByteLevel(const std::string& text) {
  const auto& table = ByteLevelDecoder();
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    const utf8::ScanResult r = utf8::ScanOne(std::string_view(text).substr(i));
    if (r.kind != utf8::Scan::kValid) return Bad("model.vocab has a key that is not UTF-8");
    const auto* p = reinterpret_cast<const uint8_t*>(text.data() + i);
    uint32_t cp = r.length == 1   ? p[0]
                  : r.length == 2 ? (p[0] & 0x1F) << 6 | (p[1] & 0x3F)
                                  : 0xFFFF;
    if (cp >= table.size() || table[cp] < 0) {
      return Bad(absl::StrCat("model.vocab key \"", absl::CHexEscape(text),
                              "\" is not a byte-level string (U+", absl::Hex(cp), ")"));
    }
    out.push_back(static_cast<char>(table[cp]));
    i += r.length;
  }
  return out;
}

absl::StatusOr<int64_t> IntegerField(const json& object, const char* key,
                                     const std::string& where) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_number_integer()) {
    return Bad(absl::StrCat(where, ".", key, " must be an integer"));
  }
  return it->get<int64_t>();
}

absl::StatusOr<std::string> ParseSplitPattern(const json& root) {
  auto pre = root.find("pre_tokenizer");
  if (pre == root.end() || !pre->is_object()) return Bad("pre_tokenizer must be an object");
  std::vector<const json*> steps;
  auto type = pre->find("type");
  if (type != pre->end() && *type == "Sequence") {
    auto list = pre->find("pretokenizers");
    if (list == pre->end() || !list->is_array())
      return Bad("pre_tokenizer.pretokenizers must be an array");
    for (const json& step : *list) steps.push_back(&step);
  } else {
    steps.push_back(&*pre);
  }
  std::string pattern;
  for (const json* step : steps) {
    if (!step->is_object() || !step->contains("type") || !(*step)["type"].is_string()) {
      return Bad("every pre_tokenizer step must be an object with a string type");
    }
    const std::string& step_type = (*step)["type"].get_ref<const std::string&>();
    if (step_type == "Split") {
      auto p = step->find("pattern");
      if (p == step->end() || !p->is_object() || !p->contains("Regex") ||
          !(*p)["Regex"].is_string()) {
        return Bad("pre_tokenizer Split must have pattern.Regex (a string)");
      }
      if (step->value("behavior", json("Isolated")) != json("Isolated") ||
          step->value("invert", json(false)) != json(false) || !pattern.empty()) {
        return Bad("only one Split pre_tokenizer, behavior Isolated, invert false, is supported");
      }
      pattern = (*p)["Regex"].get<std::string>();
    } else if (step_type == "ByteLevel") {
      // use_regex would apply GPT-2's own split on top; add_prefix_space would insert a space.
      if (step->value("use_regex", json(true)) != json(false) ||
          step->value("add_prefix_space", json(true)) != json(false)) {
        return Bad("pre_tokenizer ByteLevel must have use_regex false and add_prefix_space false");
      }
    } else {
      return Bad(absl::StrCat("unsupported pre_tokenizer step '", step_type, "'"));
    }
  }
  if (pattern.empty()) return Bad("pre_tokenizer has no Split regex");
  return pattern;
}

}  // namespace

absl::StatusOr<HfTokenizerJson> ParseHfTokenizerJson(std::string_view text) {
  const json root = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return Bad("not valid JSON");
  if (!root.is_object()) return Bad("the top level must be an object");
  HfTokenizerJson out;

  auto normalizer = root.find("normalizer");
  if (normalizer != root.end() && !normalizer->is_null()) {
    return Bad("a normalizer is not supported (gpt-oss has none)");
  }
  auto model = root.find("model");
  if (model == root.end() || !model->is_object()) return Bad("model must be an object");
  auto type = model->find("type");
  if (type != model->end() && *type != "BPE") return Bad("model.type must be BPE");
  auto vocab = model->find("vocab");
  if (vocab == model->end() || !vocab->is_object() || vocab->empty()) {
    return Bad("model.vocab must be a non-empty object");
  }
  out.ranks.resize(vocab->size());
  std::vector<bool> seen(vocab->size(), false);
  for (auto it = vocab->begin(); it != vocab->end(); ++it) {
    if (!it.value().is_number_integer()) {
      return Bad(
          absl::StrCat("model.vocab[\"", absl::CHexEscape(it.key()), "\"] must be an integer id"));
    }
    const int64_t id = it.value().get<int64_t>();
    if (id < 0 || id >= static_cast<int64_t>(out.ranks.size()) || seen[id]) {
      return Bad(absl::StrCat("model.vocab ids must be 0..", out.ranks.size() - 1, " each once; \"",
                              absl::CHexEscape(it.key()), "\" has ", id));
    }
    seen[id] = true;
    GPTOSS_ASSIGN_OR_RETURN(out.ranks[id], DecodeByteLevel(it.key()));
  }

  auto added = root.find("added_tokens");
  if (added != root.end() && !added->is_null()) {
    if (!added->is_array()) return Bad("added_tokens must be an array");
    for (size_t i = 0; i < added->size(); ++i) {
      const json& t = (*added)[i];
      const std::string where = absl::StrCat("added_tokens[", i, "]");
      if (!t.is_object()) return Bad(absl::StrCat(where, " must be an object"));
      GPTOSS_ASSIGN_OR_RETURN(const int64_t id, IntegerField(t, "id", where));
      auto content = t.find("content");
      if (content == t.end() || !content->is_string() ||
          content->get_ref<const std::string&>().empty()) {
        return Bad(absl::StrCat(where, ".content must be a non-empty string"));
      }
      if (t.value("special", json(false)) != json(true)) {
        return Bad(absl::StrCat(where, " is not special; only special added tokens are supported"));
      }
      if (id < static_cast<int64_t>(out.ranks.size()) || id > INT32_MAX) {
        return Bad(absl::StrCat(where, ".id ", id, " is not after the vocab (", out.ranks.size(),
                                " tokens)"));
      }
      out.added_tokens.push_back({content->get<std::string>(), static_cast<int>(id)});
    }
  }
  GPTOSS_ASSIGN_OR_RETURN(out.split_pattern, ParseSplitPattern(root));
  return out;
}

}  // namespace gptoss
