// libFuzzer target for the tokenizer: every input is used both as text and as a token-id stream.
//  - text: Decode(Encode(x)) == x for any bytes (ill-formed UTF-8 included), no special ids;
//  - ids: Decode fails exactly when an id is out of range; the streaming detokenizer emits only
//    valid UTF-8 and, with Flush, exactly utf8::ToValid of the decoded bytes.
// Any violation aborts, so libFuzzer reports it with the input. Build and run: fuzz/CMakeLists.txt
// (target tokenizer_fuzz; e.g. -max_total_time=600 -max_len=4096).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "coordinator/tokenizer/tokenizer.h"
#include "coordinator/tokenizer/utf8.h"

namespace {

const gptoss::Tokenizer* tokenizer = nullptr;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "tokenizer_fuzz: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  auto t = gptoss::Tokenizer::Load();  // $GPTOSS_TOKENIZER or the repository copy
  if (!t.ok()) {
    std::fprintf(stderr, "tokenizer_fuzz: %s\n", t.status().ToString().c_str());
    std::abort();
  }
  tokenizer = t->release();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const gptoss::Tokenizer& tok = *tokenizer;
  const std::string text(reinterpret_cast<const char*>(data), size);

  const std::vector<int> ids = tok.Encode(text);
  for (int id : ids)
    Check(id >= 0 && !tok.IsSpecial(id), "Encode produced a special or negative id");
  auto decoded = tok.Decode(ids);
  Check(decoded.ok() && *decoded == text, "Decode(Encode(x)) != x");

  // The same bytes as little-endian 24-bit ids (covers the whole vocabulary and a bit beyond).
  std::vector<int> stream;
  bool out_of_range = false;
  for (size_t i = 0; i + 3 <= size; i += 3) {
    const int id = (data[i] | data[i + 1] << 8 | data[i + 2] << 16) % (tok.vocab_size() + 64);
    stream.push_back(id);
    out_of_range |= id >= tok.vocab_size();
  }
  auto bytes = tok.Decode(stream);
  Check(bytes.ok() != out_of_range, "Decode accepted a bad id or rejected a good one");
  gptoss::StreamingDetokenizer detok(&tok);
  std::string streamed;
  for (int id : stream) {
    auto piece = detok.Push(id);
    Check(piece.ok() == (id < tok.vocab_size()), "Push status disagrees with the id range");
    if (!piece.ok()) continue;
    Check(gptoss::utf8::IsValid(*piece), "Push emitted ill-formed UTF-8");
    streamed += *piece;
  }
  streamed += detok.Flush();
  if (!out_of_range)
    Check(streamed == gptoss::utf8::ToValid(*bytes), "stream != ToValid(Decode(ids))");
  return 0;
}
