// gptoss-tokenizer-bench: single-thread encode/decode throughput of the o200k_harmony tokenizer
// on the committed golden corpus (tests/data/tokenizer/corpus.jsonl), or on the JSONL file named
// by $GPTOSS_TOKENIZER_CORPUS. tools/tokenizer/bench_compare.py runs this and tiktoken on the same
// corpus and prints both.
//
// Benchmarks (bytes/s counts UTF-8 input bytes, items/s counts tokens):
//   BM_Encode/all          every corpus case, one Encode call each
//   BM_Encode/varied       all but the long runs (scripts, emoji, whitespace, digits, ...)
//   BM_Encode/natural      prose + code cases only (what real prompts look like)
//   BM_Encode/long_runs    the 100k-repeated-character cases (BPE worst case)
//   BM_Decode/all          Decode of the ids of every case
//   BM_Load                loading the ranks file (sha256 + parse + tables)
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "benchmark/benchmark.h"
#include "coordinator/tokenizer/tokenizer.h"
#include "nlohmann/json.hpp"

namespace {

struct Corpus {
  std::vector<std::string> all, varied, natural, long_runs;
};

std::string Prefix(const std::string& name) { return name.substr(0, name.find('/')); }

const Corpus& LoadCorpus() {
  static const Corpus* const kCorpus = [] {
    auto* c = new Corpus();
    const char* env = std::getenv("GPTOSS_TOKENIZER_CORPUS");
    const std::string path = env ? env : GPTOSS_SOURCE_DIR "/tests/data/tokenizer/corpus.jsonl";
    std::ifstream in(path);
    if (!in) {
      std::fprintf(stderr, "cannot open corpus %s\n", path.c_str());
      std::exit(1);
    }
    std::string line;
    while (std::getline(in, line)) {
      const auto r = nlohmann::json::parse(line, nullptr, false);
      if (r.is_discarded() || !r.is_object() || !r.contains("name")) continue;
      std::string text;
      if (r.contains("text") && r["text"].is_string()) {
        text = r["text"].get<std::string>();
      } else if (r.contains("repeat") && r.contains("count")) {
        for (int i = 0; i < r["count"].get<int>(); ++i) text += r["repeat"].get<std::string>();
      }
      const std::string section = Prefix(r["name"].get<std::string>());
      c->all.push_back(text);
      if (section == "prose" || section == "code") c->natural.push_back(text);
      if (section == "long") c->long_runs.push_back(text);
      if (section != "long") c->varied.push_back(text);
    }
    return c;
  }();
  return *kCorpus;
}

const gptoss::Tokenizer& Tok() {
  static const gptoss::Tokenizer* const kTok = [] {
    auto t = gptoss::Tokenizer::Load();
    if (!t.ok()) {
      std::fprintf(stderr, "%s\n", t.status().ToString().c_str());
      std::exit(1);
    }
    return t->release();
  }();
  return *kTok;
}

void Encode(benchmark::State& state, const std::vector<std::string>* texts) {
  const gptoss::Tokenizer& tok = Tok();
  int64_t bytes = 0, tokens = 0;
  for (auto _ : state) {
    for (const std::string& t : *texts) {
      std::vector<int> ids = tok.Encode(t);
      benchmark::DoNotOptimize(ids.data());
      bytes += static_cast<int64_t>(t.size());
      tokens += static_cast<int64_t>(ids.size());
    }
  }
  state.SetBytesProcessed(bytes);
  state.SetItemsProcessed(tokens);
}

void Decode(benchmark::State& state) {
  const gptoss::Tokenizer& tok = Tok();
  std::vector<std::vector<int>> ids;
  for (const std::string& t : LoadCorpus().all) ids.push_back(tok.Encode(t));
  int64_t bytes = 0, tokens = 0;
  for (auto _ : state) {
    for (const auto& v : ids) {
      auto text = tok.Decode(v);
      benchmark::DoNotOptimize(text->data());
      bytes += static_cast<int64_t>(text->size());
      tokens += static_cast<int64_t>(v.size());
    }
  }
  state.SetBytesProcessed(bytes);
  state.SetItemsProcessed(tokens);
}

void Load(benchmark::State& state) {
  for (auto _ : state) {
    auto t = gptoss::Tokenizer::Load();
    benchmark::DoNotOptimize(t.ok());
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Corpus& c = LoadCorpus();
  benchmark::RegisterBenchmark("BM_Encode/all", Encode, &c.all)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_Encode/varied", Encode, &c.varied)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_Encode/natural", Encode, &c.natural)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_Encode/long_runs", Encode, &c.long_runs)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_Decode/all", Decode)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_Load", Load)->Unit(benchmark::kMillisecond);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
