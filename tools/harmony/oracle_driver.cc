// harmony_oracle_driver: the C++ side of tools/harmony/differential.py. Reads JSON Lines on
// stdin and answers one line each:
//   {"render": <conversation>}            → {"ids": [...]} or {"error": "..."}
//     (RenderForCompletion for the assistant, auto_drop_analysis on)
//   {"parse": [ids], "role": "assistant"|null}
//       → {"steps": [...], "eos_error": bool, "messages": [...]}
//     (every channel accepted, as openai-harmony does; steps carry the same fields as
//      completions.jsonl plus "error")
// Usage: harmony_oracle_driver PATH/TO/o200k_base.tiktoken
#include <iostream>
#include <string>

#include "coordinator/tokenizer/harmony_json.h"
#include "coordinator/tokenizer/harmony_parser.h"
#include "coordinator/tokenizer/harmony_renderer.h"
#include "coordinator/tokenizer/harmony_serde_json.h"

namespace {

using Json = nlohmann::ordered_json;
using namespace gptoss::harmony;

Json Opt(const std::optional<std::string>& s) { return s ? Json(*s) : Json(nullptr); }

Json Render(const HarmonyRenderer& renderer, const Json& conversation) {
  absl::StatusOr<Conversation> conv = ConversationFromJson(conversation);
  if (!conv.ok()) return {{"error", std::string(conv.status().message())}};
  absl::StatusOr<std::vector<int>> ids = renderer.RenderForCompletion(*conv);
  if (!ids.ok()) return {{"error", std::string(ids.status().message())}};
  return {{"ids", *ids}};
}

Json Parse(const gptoss::Tokenizer* tokenizer, const Json& request) {
  std::optional<Role> role;
  if (request["role"].is_string()) role = RoleFromName(request["role"].get<std::string>());
  HarmonyStreamParser parser(tokenizer, role, ParserOptions{.valid_channels = {}});
  Json steps = Json::array();
  for (int token : request["parse"].get<std::vector<int>>()) {
    const ParserStep step = parser.Process(token);
    Json s;
    s["state"] = std::string(ParserStateName(parser.state()));
    s["role"] =
        parser.current_role() ? Json(std::string(RoleName(*parser.current_role()))) : Json(nullptr);
    s["channel"] = Opt(parser.current_channel());
    s["recipient"] = Opt(parser.current_recipient());
    s["content_type"] = Opt(parser.current_content_type());
    s["delta"] = Opt(parser.last_content_delta());
    s["content"] = parser.current_content();
    s["messages"] = parser.messages().size();
    s["error"] = step.error.has_value();
    steps.push_back(std::move(s));
  }
  const ParserStep eos = parser.ProcessEos();
  Json messages = Json::array();
  for (const Message& m : parser.messages()) messages.push_back(MessageToJson(m));
  return {{"steps", std::move(steps)},
          {"eos_error", eos.error.has_value()},
          {"messages", std::move(messages)}};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: harmony_oracle_driver o200k_base.tiktoken < requests.jsonl\n";
    return 2;
  }
  auto tokenizer = gptoss::Tokenizer::LoadTiktoken(argv[1]);
  if (!tokenizer.ok()) {
    std::cerr << tokenizer.status() << "\n";
    return 1;
  }
  absl::StatusOr<HarmonyRenderer> renderer = HarmonyRenderer::Create(tokenizer->get());
  if (!renderer.ok()) {
    std::cerr << renderer.status() << "\n";
    return 1;
  }
  std::string line;
  while (std::getline(std::cin, line)) {
    absl::StatusOr<Json> request = ParseSerdeJson(line);  // numbers as harmony reads them
    Json answer;
    if (!request.ok() || !request->is_object()) {
      answer = {{"error", "bad request line"}};
    } else if (request->contains("render")) {
      answer = Render(*renderer, (*request)["render"]);
    } else if (request->contains("parse") && (*request)["parse"].is_array()) {
      answer = Parse(tokenizer->get(), *request);
    } else {
      answer = {{"error", "bad request line"}};
    }
    std::cout << answer.dump(-1, ' ', false, Json::error_handler_t::replace) << "\n";
  }
  return 0;
}
