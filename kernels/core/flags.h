// Minimal command-line flags for the gptoss subcommands: `--name value`, `--name=value` and
// boolean `--name`. Unknown flags and missing values are errors naming the flag, never crashes.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace gptoss::cli {

class Flags {
 public:
  // `value_flags` take a value; `bool_flags` do not. Positional arguments are rejected.
  // `--help` is always known: then help() is true and Usage() lists every flag (the deployment
  // tests check manifests against it).
  static absl::StatusOr<Flags> Parse(int argc, char** argv, const std::set<std::string>& value_flags,
                                     const std::set<std::string>& bool_flags = {});

  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  bool help() const { return Has("help"); }
  // "flags:\n  --name VALUE\n  --switch\n" over every known flag, sorted.
  std::string Usage() const;
  std::optional<std::string> Get(const std::string& name) const;
  absl::StatusOr<std::string> Required(const std::string& name) const;
  std::string GetOr(const std::string& name, const std::string& fallback) const;
  absl::StatusOr<int64_t> GetInt(const std::string& name, int64_t fallback) const;
  absl::StatusOr<double> GetDouble(const std::string& name, double fallback) const;

 private:
  std::map<std::string, std::string> values_;
  std::set<std::string> value_flags_, bool_flags_;
};

// Parses "1 2 3" (spaces, commas or tabs) into token ids; errors name the bad element.
absl::StatusOr<std::vector<int>> ParseIdList(const std::string& text);

}  // namespace gptoss::cli
