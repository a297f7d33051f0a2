// Tool namespaces → the "# Tools" text of harmony system/developer messages, with each tool's
// JSON Schema parameters written as a TypeScript-like type.
// Contract:
//  - Output is byte-identical to openai-harmony 0.0.8 (json_schema_to_typescript and
//    template_tools_section in src/encoding.rs), quirks included: property lines are not
//    indented relative to their braces, a nested object's description is printed twice, enum
//    string values are quoted without escaping, "integer" becomes "number", unknown or missing
//    types are "any", defaults are trailing comments in serde_json's compact form, and string
//    defaults are quoted raw (or unquoted when the schema is an enum).
//  - Descriptions are split into lines like Rust's str::lines(): on "\n", dropping one "\r"
//    before it and the empty piece after a final "\n"; a bare "\r" stays in the line.
//  - Total: any JSON value is accepted (non-schemas render as "any"); recursion depth is bounded
//    by the loader (kSerdeMaxDepth in harmony_serde_json.h).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "coordinator/tokenizer/harmony_conversation.h"
#include "nlohmann/json.hpp"

namespace gptoss::harmony {

std::string JsonSchemaToTypeScript(const nlohmann::ordered_json& schema, const std::string& indent);

// "# Tools\n\n## <ns>\n..." for every namespace in key order, sections joined by blank lines.
std::string RenderToolsSection(const ToolNamespaces& namespaces);

// Rust str::lines().
std::vector<std::string_view> SplitLines(std::string_view text);

}  // namespace gptoss::harmony
