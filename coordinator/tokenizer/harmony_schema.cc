#include "coordinator/tokenizer/harmony_schema.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "coordinator/tokenizer/harmony_serde_json.h"

namespace gptoss::harmony {
namespace {

using Json = nlohmann::ordered_json;

// serde_json's Value::get(key): only objects have fields; a present JSON null is still present.
const Json* Get(const Json& v, const char* key) {
  if (!v.is_object()) return nullptr;
  auto it = v.find(key);
  return it == v.end() ? nullptr : &*it;
}

const std::string* GetString(const Json& v, const char* key) {
  const Json* f = Get(v, key);
  return f != nullptr && f->is_string() ? &f->get_ref<const std::string&>() : nullptr;
}

bool IsEnum(const Json& schema) {
  const Json* e = Get(schema, "enum");
  return e != nullptr && e->is_array() && !e->empty();
}

bool IsNullable(const Json& schema) {
  const Json* n = Get(schema, "nullable");
  return n != nullptr && n->is_boolean() && n->get<bool>();
}

// `x | null` for "nullable": true, unless the type text already mentions null anywhere.
std::string WithNullable(std::string type, const Json& schema) {
  if (IsNullable(schema) && type.find("null") == std::string::npos) type += " | null";
  return type;
}

// How harmony writes "default: ..." comments. A string default of a non-enum schema is quoted
// raw (no escaping); of an enum schema it is written raw and unquoted, except in top-level
// oneOf variants (`unquoted_enum_strings` false), where serde_json's quoting applies.
std::string FormatDefault(const Json& value, const Json& schema, bool unquoted_enum_strings) {
  if (value.is_string()) {
    const std::string& s = value.get_ref<const std::string&>();
    if (!IsEnum(schema)) return absl::StrCat("default: \"", s, "\"");
    if (unquoted_enum_strings) return absl::StrCat("default: ", s);
  }
  return absl::StrCat("default: ", SerdeJson(value));
}

std::string TopLevelOneOf(const Json& variants, const std::string& indent) {
  std::string out;
  for (const Json& variant : variants) {
    absl::StrAppend(&out, "\n", indent, " | ");
    out += WithNullable(JsonSchemaToTypeScript(variant, indent + "   "), variant);
    std::vector<std::string> comments;
    if (const std::string* d = GetString(variant, "description")) comments.push_back(*d);
    if (const Json* def = Get(variant, "default")) {
      comments.push_back(FormatDefault(*def, variant, /*unquoted_enum_strings=*/false));
    }
    if (!comments.empty()) absl::StrAppend(&out, " // ", absl::StrJoin(comments, " "));
  }
  return out;
}

// A property whose schema is {"oneOf": [...]}: comments above, one " | variant" line each.
void PropertyOneOf(std::string& out, const std::string& key, const Json& val, const Json& variants,
                   bool required, const std::string& indent) {
  const std::string* property_desc = GetString(val, "description");
  // The property description is not repeated when the first variant carries the same text.
  bool skip_desc = false;
  if (property_desc != nullptr && !variants.empty()) {
    const std::string* first = GetString(variants[0], "description");
    skip_desc = first != nullptr && *first == *property_desc;
  }
  bool desc_above = false;
  if (!skip_desc && property_desc != nullptr) {
    absl::StrAppend(&out, indent, "// ", *property_desc, "\n");
    desc_above = true;
  }
  if (const Json* def = Get(val, "default")) {
    absl::StrAppend(&out, indent, "// ", FormatDefault(*def, val, true), "\n");
  }
  absl::StrAppend(&out, indent, key, required ? "" : "?", ":\n");
  for (size_t i = 0; i < variants.size(); ++i) {
    const Json& variant = variants[i];
    absl::StrAppend(&out, indent, " | ");
    out += WithNullable(JsonSchemaToTypeScript(variant, indent + "   "), variant);
    std::vector<std::string> comments;
    if (!(i == 0 && desc_above)) {
      const std::string* d = GetString(variant, "description");
      if (d != nullptr && (property_desc == nullptr || *d != *property_desc)) {
        comments.push_back(*d);
      }
    }
    if (const Json* def = Get(variant, "default")) {
      comments.push_back(FormatDefault(*def, variant, true));
    }
    if (!comments.empty()) absl::StrAppend(&out, " // ", absl::StrJoin(comments, " "));
    out += "\n";
  }
  absl::StrAppend(&out, indent, ",\n");
}

std::string ObjectType(const Json& schema, const std::string& indent) {
  std::string out;
  if (const std::string* d = GetString(schema, "description")) {
    absl::StrAppend(&out, indent, "// ", *d, "\n");
  }
  out += "{\n";
  const Json* props = Get(schema, "properties");
  if (props != nullptr && props->is_object()) {
    std::set<std::string> required;
    if (const Json* req = Get(schema, "required"); req != nullptr && req->is_array()) {
      for (const Json& r : *req) {
        if (r.is_string()) required.insert(r.get<std::string>());
      }
    }
    // quirk: property lines use the object's own indent, not one level deeper.
    for (const auto& [key, val] : props->items()) {
      const bool is_required = required.count(key) > 0;
      if (const std::string* title = GetString(val, "title")) {
        absl::StrAppend(&out, indent, "// ", *title, "\n", indent, "//\n");
      }
      const Json* one_of = Get(val, "oneOf");
      if (one_of == nullptr) {
        if (const std::string* d = GetString(val, "description")) {
          absl::StrAppend(&out, indent, "// ", *d, "\n");
        }
      }
      if (const Json* ex = Get(val, "examples"); ex != nullptr && ex->is_array() && !ex->empty()) {
        absl::StrAppend(&out, indent, "// Examples:\n");
        for (const Json& e : *ex) {
          if (e.is_string()) {
            absl::StrAppend(&out, indent, "// - \"", e.get_ref<const std::string&>(), "\"\n");
          }
        }
      }
      if (one_of != nullptr && one_of->is_array()) {
        PropertyOneOf(out, key, val, *one_of, is_required, indent);
        continue;
      }
      absl::StrAppend(&out, indent, key, is_required ? "" : "?", ": ");
      out += WithNullable(JsonSchemaToTypeScript(val, indent + "    "), val);
      out += ',';
      if (one_of == nullptr) {
        if (const Json* def = Get(val, "default")) {
          absl::StrAppend(&out, " // ", FormatDefault(*def, val, true));
        }
      }
      out += '\n';
    }
  }
  absl::StrAppend(&out, indent, "}");
  return out;
}

}  // namespace

std::string JsonSchemaToTypeScript(const Json& schema, const std::string& indent) {
  if (const Json* one_of = Get(schema, "oneOf"); one_of != nullptr && one_of->is_array()) {
    return TopLevelOneOf(*one_of, indent);
  }
  const Json* type = Get(schema, "type");
  if (type != nullptr && type->is_array()) {
    std::vector<std::string> names;
    for (const Json& t : *type) {
      if (!t.is_string()) continue;
      const std::string& name = t.get_ref<const std::string&>();
      names.push_back(name == "integer" ? "number" : name);
    }
    if (!names.empty()) return absl::StrJoin(names, " | ");
  }
  if (type == nullptr || !type->is_string()) return "any";
  const std::string& t = type->get_ref<const std::string&>();
  if (t == "object") return ObjectType(schema, indent);
  if (t == "string") {
    if (const Json* e = Get(schema, "enum"); e != nullptr && e->is_array()) {
      std::vector<std::string> values;
      for (const Json& v : *e) {
        if (v.is_string())
          values.push_back(absl::StrCat("\"", v.get_ref<const std::string&>(), "\""));
      }
      if (!values.empty()) return absl::StrJoin(values, " | ");
    }
    return "string";
  }
  if (t == "number" || t == "integer") return "number";
  if (t == "boolean") return "boolean";
  if (t == "array") {
    const Json* items = Get(schema, "items");
    return items != nullptr ? JsonSchemaToTypeScript(*items, indent) + "[]" : "Array<any>";
  }
  return "any";
}

std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    if (nl == std::string_view::npos) {
      lines.push_back(line);
      break;
    }
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    text.remove_prefix(nl + 1);
  }
  return lines;
}

std::string RenderToolsSection(const ToolNamespaces& namespaces) {
  std::vector<std::string> sections = {"# Tools"};
  for (const auto& [key, ns] : namespaces) {
    std::vector<std::string> parts = {absl::StrCat("## ", ns.name, "\n")};
    const bool has_tools = !ns.tools.empty();
    if (ns.description.has_value()) {
      // With tools the namespace description becomes a comment; without, plain text.
      for (std::string_view line : SplitLines(*ns.description)) {
        parts.push_back(has_tools ? absl::StrCat("// ", std::string(line)) : std::string(line));
      }
    }
    if (has_tools) {
      parts.push_back(absl::StrCat("namespace ", ns.name, " {\n"));
      for (const ToolDescription& tool : ns.tools) {
        for (std::string_view line : SplitLines(tool.description)) {
          parts.push_back(absl::StrCat("// ", std::string(line)));
        }
        if (tool.parameters.has_value()) {
          parts.push_back(absl::StrCat("type ", tool.name,
                                       " = (_: ", JsonSchemaToTypeScript(*tool.parameters, ""),
                                       ") => any;\n"));
        } else {
          parts.push_back(absl::StrCat("type ", tool.name, " = () => any;\n"));
        }
      }
      parts.push_back(absl::StrCat("} // namespace ", ns.name));
    }
    sections.push_back(absl::StrJoin(parts, "\n"));
  }
  return absl::StrJoin(sections, "\n\n");
}

}  // namespace gptoss::harmony
