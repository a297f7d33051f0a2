// gptoss make-checkpoint --preset tiny|wide|20b|120b [--seed N] [--config FILE] --out DIR
//
// Writes a deterministic random gpt-oss checkpoint (config.json + safetensors in the HF layout,
// see worker/model/checkpoint_writer.h). --config FILE takes the model shape from a config.json
// instead of a preset (golden tests use small-vocab configs this way); the config written is
// ModelConfigToJson of the parsed file. Exactly one of --preset and --config is required.
// Progress goes to stderr for checkpoints over 1 GiB; the last line on stdout summarizes.
#include <chrono>
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "tools/cli/commands.h"
#include "kernels/core/flags.h"
#include "worker/model/checkpoint_writer.h"
#include "worker/model/config.h"
#include "worker/model/presets.h"

namespace gptoss::cli {
namespace {

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "gptoss make-checkpoint: %s\n", message.c_str());
  return code;
}

}  // namespace

int RunMakeCheckpoint(int argc, char** argv) {
  auto flags = Flags::Parse(argc, argv, {"preset", "seed", "config", "out"});
  if (!flags.ok()) return Fail(2, std::string(flags.status().message()));
  const bool has_preset = flags->Has("preset"), has_config = flags->Has("config");
  if (has_preset == has_config)
    return Fail(2, has_preset ? "give either --preset or --config, not both"
                              : "missing --preset tiny|wide|20b|120b (or --config FILE)");
  auto out = flags->Required("out");
  if (!out.ok()) return Fail(2, std::string(out.status().message()));
  if (out->empty()) return Fail(2, "--out must not be empty");
  auto seed = flags->GetInt("seed", 0);
  if (!seed.ok()) return Fail(2, std::string(seed.status().message()));
  if (*seed < 0) return Fail(2, absl::StrCat("--seed must be non-negative, got ", *seed));

  absl::StatusOr<ModelConfig> config =
      has_preset ? PresetConfig(*flags->Get("preset")) : LoadModelConfig(*flags->Get("config"));
  if (!config.ok()) return Fail(has_preset ? 2 : 1, std::string(config.status().message()));

  CheckpointWriterOptions options;
  options.seed = static_cast<uint64_t>(*seed);
  const uint64_t total = CheckpointDataBytes(*config);
  if (total > (uint64_t{1} << 30)) {
    // One line per 5% for big presets (20b: ~13 GB, 120b: ~65 GB).
    options.progress = [last = -1](uint64_t done, uint64_t all, const std::string& file) mutable {
      const int pct = static_cast<int>(done * 100 / all);
      if (pct / 5 == last / 5 && done != all) return;
      last = pct;
      std::fprintf(stderr, "make-checkpoint: %3d%%  %.1f / %.1f GB  %s\n", pct, done / 1e9,
                   all / 1e9, file.c_str());
      std::fflush(stderr);
    };
  }
  const auto start = std::chrono::steady_clock::now();
  absl::Status st = WriteCheckpoint(*config, *out, options);
  if (!st.ok()) return Fail(1, std::string(st.message()));
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("wrote %s (%.1f MB of weights, seed %lld) in %.1f s\n", out->c_str(), total / 1e6,
              static_cast<long long>(*seed), secs);
  return 0;
}

}  // namespace gptoss::cli
