// gptoss tokenize / detokenize: the o200k_harmony tokenizer on stdin/stdout.
//   tokenize:   UTF-8 text on stdin -> ids on one line, separated by spaces.
//               --jsonl: each line is a JSON string -> each output line a JSON array of ids.
//   detokenize: ids on stdin (spaces, commas, tabs, newlines) -> the exact text bytes.
//               --jsonl: each line a JSON array of ids -> each output line a JSON string
//               (ill-formed UTF-8 from partial tokens becomes U+FFFD, since JSON needs UTF-8).
// `tokenize | detokenize` reproduces the input byte for byte.
#include <cstdio>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "coordinator/tokenizer/tokenizer.h"
#include "coordinator/tokenizer/utf8.h"
#include "nlohmann/json.hpp"
#include "tools/cli/commands.h"
#include "kernels/core/flags.h"

namespace gptoss::cli {
namespace {

using json = nlohmann::json;

int Fail(const char* command, const absl::Status& status) {
  std::fprintf(stderr, "gptoss %s: %s\n", command, std::string(status.message()).c_str());
  return 1;
}

void Write(const std::string& s) { std::fwrite(s.data(), 1, s.size(), stdout); }

std::string ReadAll(std::istream& in) {
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Calls fn(line, line_number) for each line of stdin; a final empty line (after the last '\n')
// is not a line. Stops at the first error.
absl::Status ForEachLine(const std::function<absl::Status(const std::string&, int)>& fn) {
  std::string line;
  int number = 0;
  while (std::getline(std::cin, line)) {
    ++number;
    absl::Status s = fn(line, number);
    if (!s.ok())
      return absl::InvalidArgumentError(absl::StrCat("line ", number, ": ", s.message()));
  }
  return absl::OkStatus();
}

struct Setup {
  Flags flags;
  std::unique_ptr<Tokenizer> tokenizer;
};

// Parses --tokenizer/--jsonl and loads the tokenizer; on failure prints and sets `exit_code`.
std::unique_ptr<Setup> Init(const char* command, int argc, char** argv, int* exit_code) {
  absl::StatusOr<Flags> flags = Flags::Parse(argc, argv, {"tokenizer"}, {"jsonl"});
  if (!flags.ok()) {
    *exit_code = 2;
    Fail(command, flags.status());
    return nullptr;
  }
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer =
      Tokenizer::Load(flags->GetOr("tokenizer", ""));
  if (!tokenizer.ok()) {
    *exit_code = Fail(command, tokenizer.status());
    return nullptr;
  }
  return std::make_unique<Setup>(Setup{*std::move(flags), *std::move(tokenizer)});
}

}  // namespace

int RunTokenize(int argc, char** argv) {
  int exit_code = 0;
  std::unique_ptr<Setup> setup = Init("tokenize", argc, argv, &exit_code);
  if (!setup) return exit_code;
  const Tokenizer& tok = *setup->tokenizer;
  if (!setup->flags.Has("jsonl")) {
    const std::string text = ReadAll(std::cin);
    const size_t valid = utf8::ValidPrefixLength(text);
    if (valid != text.size()) {
      return Fail("tokenize",
                  absl::InvalidArgumentError(absl::StrCat(
                      "stdin is not valid UTF-8 (first bad byte at offset ", valid, ")")));
    }
    Write(absl::StrCat(absl::StrJoin(tok.Encode(text), " "), "\n"));
    return 0;
  }
  absl::Status status = ForEachLine([&](const std::string& line, int) -> absl::Status {
    const json value = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (value.is_discarded() || !value.is_string()) {
      return absl::InvalidArgumentError("expected a JSON string (valid JSON, UTF-8)");
    }
    Write(absl::StrCat("[", absl::StrJoin(tok.Encode(value.get_ref<const std::string&>()), ","),
                       "]\n"));
    return absl::OkStatus();
  });
  return status.ok() ? 0 : Fail("tokenize", status);
}

int RunDetokenize(int argc, char** argv) {
  int exit_code = 0;
  std::unique_ptr<Setup> setup = Init("detokenize", argc, argv, &exit_code);
  if (!setup) return exit_code;
  const Tokenizer& tok = *setup->tokenizer;
  if (!setup->flags.Has("jsonl")) {
    absl::StatusOr<std::vector<int>> ids = ParseIdList(ReadAll(std::cin));
    if (!ids.ok()) return Fail("detokenize", ids.status());
    absl::StatusOr<std::string> text = tok.Decode(*ids);
    if (!text.ok()) return Fail("detokenize", text.status());
    Write(*text);
    return 0;
  }
  absl::Status status = ForEachLine([&](const std::string& line, int) -> absl::Status {
    const json value = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (value.is_discarded() || !value.is_array()) {
      return absl::InvalidArgumentError("expected a JSON array of token ids");
    }
    std::vector<int> ids;
    ids.reserve(value.size());
    for (size_t i = 0; i < value.size(); ++i) {
      const json& id = value[i];
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX) {
        return absl::InvalidArgumentError(absl::StrCat("element ", i, " is not a token id"));
      }
      ids.push_back(static_cast<int>(id.get<int64_t>()));
    }
    absl::StatusOr<std::string> text = tok.Decode(ids);
    if (!text.ok()) return text.status();
    Write(json(utf8::ToValid(*text)).dump() + "\n");
    return absl::OkStatus();
  });
  return status.ok() ? 0 : Fail("detokenize", status);
}

}  // namespace gptoss::cli
