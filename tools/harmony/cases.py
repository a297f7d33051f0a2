"""Inputs of the harmony fixture suite (no oracle calls here; make_fixtures.py runs them).

Conversations are written directly in openai-harmony's own JSON shape (the serde shape of the
Rust `Conversation`/`Message` types), so the committed JSON is byte for byte what the oracle
rendered and what the C++ parser reads. In that shape a missing optional field means "absent"
(Rust `Option::None`), not "default": the defaults of `SystemContent.new()` are spelled out.
"""

# ---------------------------------------------------------------------------------------------
# Conversation building blocks
# ---------------------------------------------------------------------------------------------

IDENTITY = "You are ChatGPT, a large language model trained by OpenAI."
CHANNELS = {"valid_channels": ["analysis", "commentary", "final"], "channel_required": True}


def system(effort="Medium", date=None, tools=None, identity=IDENTITY, cutoff="2024-06",
           channels=CHANNELS, **extra):
    content = {"type": "system_content"}
    if identity is not None:
        content["model_identity"] = identity
    if effort is not None:
        content["reasoning_effort"] = effort
    if date is not None:
        content["conversation_start_date"] = date
    if cutoff is not None:
        content["knowledge_cutoff"] = cutoff
    if channels is not None:
        content["channel_config"] = channels
    if tools is not None:
        content["tools"] = tools
    content.update(extra)
    return {"role": "system", "content": [content]}


def developer(instructions=None, functions=None, tools=None):
    content = {"type": "developer_content"}
    if instructions is not None:
        content["instructions"] = instructions
    if functions is not None or tools is not None:
        content["tools"] = dict(tools or {})
        if functions is not None:
            content["tools"]["functions"] = {"name": "functions", "description": None,
                                             "tools": functions}
    return {"role": "developer", "content": [content]}


def msg(role, text, **fields):
    out = {"role": role, "content": text}
    out.update(fields)
    return out


def user(text, **fields):
    return msg("user", text, **fields)


def assistant(text, channel=None, **fields):
    if channel is not None:
        fields["channel"] = channel
    return msg("assistant", text, **fields)


def tool(name, text, channel="commentary", **fields):
    out = {"role": "tool", "name": name, "content": text, "recipient": "assistant"}
    if channel is not None:
        out["channel"] = channel
    out.update(fields)
    return out


def fn(name, description, parameters=None):
    out = {"name": name, "description": description}
    if parameters is not None:
        out["parameters"] = parameters
    return out


# Tool namespaces as openai-harmony defines them (ToolNamespaceConfig.browser()/.python()); filled
# in by make_fixtures.py from the oracle itself so the text is never retyped here.
BROWSER = "@browser"
PYTHON = "@python"

WEATHER_TOOLS = [
    fn("get_location", "Gets the location of the user."),
    fn("get_current_weather", "Gets the current weather in the provided location.", {
        "type": "object",
        "properties": {
            "location": {"type": "string",
                         "description": "The city and state, e.g. San Francisco, CA"},
            "format": {"type": "string", "enum": ["celsius", "fahrenheit"],
                       "default": "celsius"},
        },
        "required": ["location"],
    }),
    fn("get_multiple_weathers", "Gets the current weather in the provided list of locations.", {
        "type": "object",
        "properties": {
            "locations": {"type": "array", "items": {"type": "string"},
                          "description": 'List of city and state, e.g. ["San Francisco, CA", '
                                         '"New York, NY"]'},
            "format": {"type": "string", "enum": ["celsius", "fahrenheit"],
                       "default": "celsius"},
        },
        "required": ["locations"],
    }),
]

KITCHENSINK = fn("kitchensink", "A function with various complex schemas.", {
    "description": "params object",
    "type": "object",
    "properties": {
        "string": {"type": "string", "title": "STRING", "description": "A string",
                   "examples": ["hello", "world"]},
        "string_nullable": {"type": "string", "nullable": True,
                            "description": "A nullable string", "default": "the default"},
        "string_enum": {"type": "string", "enum": ["a", "b", "c"]},
        "oneof_string_or_number": {
            "oneOf": [
                {"type": "string", "default": "default_string_in_oneof"},
                {"type": "number", "description": "numbers can happen too"},
            ],
            "description": "a oneof",
            "default": 20,
        },
    },
})

# Every branch of harmony's JSON Schema -> TypeScript translation.
SCHEMA_ZOO = [
    fn("nested", "Nested objects and arrays.\nSecond line of the description.", {
        "type": "object",
        "properties": {
            "user": {
                "type": "object",
                "description": "The user record",
                "properties": {
                    "id": {"type": "integer", "description": "numeric id"},
                    "tags": {"type": "array", "items": {"type": "string", "enum": ["x", "y"]}},
                    "address": {
                        "type": "object",
                        "properties": {"zip": {"type": "string"},
                                       "geo": {"type": "array",
                                               "items": {"type": "number"}}},
                        "required": ["zip"],
                    },
                },
                "required": ["id"],
            },
            "matrix": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
            "records": {"type": "array", "items": {
                "type": "object",
                "properties": {"k": {"type": "string"}, "v": {"type": "boolean",
                                                            "default": False}},
                "required": ["k", "v"]}},
            "anything": {"type": "array"},
        },
        "required": ["user", "records"],
    }),
    fn("scalars", "Scalars, defaults and odd types.", {
        "type": "object",
        "properties": {
            "ratio": {"type": "number", "default": 0.5, "description": "a float default"},
            "big": {"type": "number", "default": 1e20},
            "tiny": {"type": "number", "default": 1.25e-07},
            "whole_float": {"type": "number", "default": 3.0},
            "neg": {"type": "integer", "default": -7},
            "flag": {"type": "boolean", "default": True},
            "union": {"type": ["string", "integer", "null"], "description": "type array"},
            "only_numbers": {"type": ["integer"]},
            "odd_type": {"type": "null"},
            "untyped": {"description": "no type at all"},
            "enum_no_type": {"enum": ["p", "q"]},
            "enum_ints": {"type": "string", "enum": [1, 2]},
            "enum_default": {"type": "string", "enum": ["up", "down"], "default": "up"},
            "quoted_default": {"type": "string", "default": "say \"hi\"\\n"},
            "obj_default": {"type": "object", "default": {"a": [1, "two", None]}},
            "list_default": {"type": "array", "items": {"type": "string"},
                             "default": ["a", "b"]},
            "nullable_num": {"type": "number", "nullable": True},
            "null_in_type": {"type": ["string", "null"], "nullable": True},
            "ref": {"$ref": "#/definitions/Thing"},
            "weird_required": {"type": "string"},
        },
        "required": ["weird_required", 42, "not_a_property"],
        "additionalProperties": False,
    }),
    fn("number_formats", "serde_json number formatting of defaults.", {
        "type": "object",
        "properties": {name: {"type": "number", "default": value} for name, value in [
            ("e16", 1e16), ("e15", 1e15), ("e_minus4", 0.0001), ("e_minus5", 0.00001),
            ("mixed", 123456.789), ("pi", 3.141592653589793), ("denormal", 5e-324),
            ("max", 1.7976931348623157e308), ("neg_zero", -0.0), ("zero", 0.0),
            ("neg_small", -2.5e-10), ("u64_max", 18446744073709551615),
            ("over_u64", 18446744073709551616), ("i64_min", -9223372036854775808),
            ("under_i64", -9223372036854775809), ("third", 1 / 3), ("big_digits", 1.5e300)]},
    }),
    fn("string_escapes", "Defaults with characters serde escapes.", {
        "type": "object",
        "properties": {
            "ctrl": {"type": "string", "enum": ["\u0001\t\"é\u007f\\"],
                     "default": "\u0001\t\"é\u007f\\"},
            "ctrl_list": {"type": "array", "default": ["\b\f\n\r\u001f", "</script>"]},
        },
    }),
    fn("one_of_top", "A oneOf at the top level.", {
        "oneOf": [
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"],
             "description": "variant A"},
            {"type": "object", "properties": {"b": {"type": "number"}},
             "nullable": True, "default": None},
            {"type": "string", "enum": ["c"], "default": "c"},
            {"type": "string", "default": "plain"},
        ],
    }),
    fn("one_of_props", "oneOf inside properties.", {
        "type": "object",
        "properties": {
            "same_desc": {
                "description": "shared description",
                "oneOf": [{"type": "string", "description": "shared description"},
                          {"type": "integer", "description": "other"}],
            },
            "enum_default": {
                "oneOf": [{"type": "string", "enum": ["a", "b"], "default": "a"},
                          {"type": "null", "nullable": True}],
                "default": "b",
                "enum": ["a", "b"],
            },
            "obj_variants": {
                "oneOf": [{"type": "object", "properties": {"x": {"type": "integer"}}},
                          {"type": "array", "items": {"type": "string"}}],
                "default": {"x": 1},
            },
            "not_array": {"oneOf": {"type": "string"}, "description": "oneOf is not a list"},
        },
        "required": ["same_desc"],
    }),
    fn("no_props", "Object without properties.", {"type": "object"}),
    fn("props_not_object", "properties is not an object.",
       {"type": "object", "properties": ["a", "b"]}),
    fn("empty_description", "", {"type": "object", "properties": {}}),
    fn("crlf", "Line one\r\nLine two\r\n\r\nLine four\n", None),
    fn("bare_cr", "bare\rcarriage\r", None),
    fn("trailing_blank_lines", "x\r\n\r\ny\n\n", {"type": "object", "properties": {
        "multi": {"type": "string", "description": "desc line 1\ndesc line 2"}}}),
    fn("boolean_schema", "Schema that is a bare boolean.", True),
    fn("string_schema", "Top-level string schema.", {"type": "string", "enum": ["only"]}),
    fn("titles_examples", "Titles and examples.", {
        "type": "object",
        "properties": {
            "q": {"type": "string", "title": "Query", "examples": ["cats", 7, "dogs"]},
            "e": {"type": "string", "examples": []},
            "t": {"type": "integer", "title": 5},
        },
    }),
]

# Number literals whose values serde_json computes in its own way (no float_roundtrip): digits
# past u64 are truncated, "-0" is a float, tiny exponents underflow in steps.
RAW_NUMBERS = ("""{"messages":[{"role":"developer","content":[{"type":"developer_content","""
               """"tools":{"functions":{"name":"functions","tools":[{"name":"numbers","""
               """"description":"serde number parsing","parameters":{"type":"object","""
               """"properties":{""" + ",".join(
                   f'"n{i}":{{"type":"number","default":{lit}}}' for i, lit in enumerate([
                       "28838332508203042873", "-28838332508203042873",
                       "18446744073709551616.5", "18446744073709551615.5",
                       "1844674407370955161.6", "-0", "-0.0", "0.1e-400",
                       "123456789012345678901234567890e-10", "1E5", "1e-7", "5e-324",
                       "2.4703282292062327e-324", "1.0000000000000002", "9007199254740993",
                       "9007199254740993.0", "0.30000000000000004", "1e23",
                       "8.98846567431158e307", "1.7976931348623157e308", "12345678901234567890123",
                       "0.000001234567890123456789", "7e+0", "1e-2147483649", "0e99999999999",
                       "9223372036854775808", "-9223372036854775808", "-9223372036854775809",
                       "18446744073709551615", "-18446744073709551615"])) +
               """}}}]}}}]},{"role":"user","content":"go"}]}""")


def nested_parameters(depth):
    """A developer tool whose parameters nest `depth` levels: the document nests 9 + depth."""
    schema = "{}"
    for _ in range(depth - 1):
        schema = '{"type":"array","items":' + schema + "}"
    return ('{"messages":[{"role":"developer","content":[{"type":"developer_content","tools":'
            '{"functions":{"name":"functions","tools":[{"name":"deep","description":"d",'
            '"parameters":' + schema + "}]}}}]}]}")


CONVERSATIONS = [
    ("default_system_user", [system(), user("What is 2 + 2?")]),
    ("effort_low", [system(effort="Low"), user("What is the capital of France?")]),
    ("effort_medium_with_date", [system(effort="Medium", date="2025-06-28"),
                                 user("What is the capital of France?")]),
    ("effort_high", [system(effort="High", date="2025-06-28"),
                     user("Prove that there are infinitely many primes.")]),
    ("system_minimal", [system(effort=None, identity=None, cutoff=None, channels=None),
                        user("Hi")]),
    ("system_no_effort_custom_identity",
     [system(effort=None, identity="You are a terse assistant.", cutoff="2025-01"),
      user("Hi")]),
    ("system_custom_channels",
     [system(channels={"valid_channels": ["thinking", "answer"], "channel_required": False}),
      user("Hi")]),
    ("system_empty_channels",
     [system(channels={"valid_channels": [], "channel_required": True}), user("Hi")]),
    ("system_browser_tool", [system(tools={"browser": BROWSER}), user("Search for cats.")]),
    ("system_browser_python_tools",
     [system(effort="High", date="2025-06-28", tools={"browser": BROWSER, "python": PYTHON}),
      user("Plot sin(x).")]),
    ("system_empty_tools_map", [system(tools={}), user("Hi")]),
    ("developer_only", [developer(instructions="Always answer in French."), user("Hello")]),
    ("developer_empty", [developer(), user("Hello")]),
    ("weather_functions",
     [system(effort="High", date="2025-06-28"),
      developer(instructions="Always respond in riddles", functions=WEATHER_TOOLS + [KITCHENSINK]),
      user("What is the weather like in SF?")]),
    ("schema_zoo", [system(), developer(functions=SCHEMA_ZOO), user("Use the tools.")]),
    ("functions_without_system",
     [developer(functions=[WEATHER_TOOLS[0]]), user("Where am I?")]),
    ("empty_functions_namespace",
     [system(), developer(instructions="No tools today.", functions=[]), user("Hi")]),
    ("custom_namespaces",
     [system(),
      developer(tools={
          "zeta": {"name": "zeta", "description": "Zeta namespace\nwith two lines",
                   "tools": [fn("ping", "Ping it.")]},
          "alpha": {"name": "alpha_ns", "description": "Only a description, no tools.",
                    "tools": []},
      }),
      user("Hi")]),
    ("multi_turn_drop_analysis",
     [system(), user("What is 2 + 2?"),
      assistant("User asks: “What is 2 + 2?” Simple arithmetic. Provide answer.", "analysis"),
      assistant("2 + 2 equals 4.", "final"), user("What about 9 / 2?")]),
    ("multi_turn_ends_with_final",
     [system(), user("What is 2 + 2?"), assistant("thinking 2+2", "analysis"),
      assistant("4", "final"), user("What is 3 + 5?"), assistant("thinking 3+5", "analysis"),
      assistant("8", "final")]),
    ("ongoing_analysis_kept",
     [user("What is the weather in SF?"),
      assistant("User asks: “What is the weather in SF?” We need to use lookup_weather tool.",
                "analysis"),
      assistant('{"location": "San Francisco"}', "commentary",
                recipient="functions.lookup_weather", content_type="<|constrain|>json"),
      tool("functions.lookup_weather", '{"temperature": 20, "description": "sunny"}',
           channel=None, recipient=None)]),
    ("tool_call_round_trip",
     [system(date="2025-06-28"), developer(functions=WEATHER_TOOLS), user("Weather in Tokyo?"),
      assistant("Need to call get_current_weather.", "analysis"),
      assistant('{"location":"Tokyo, JP"}', "commentary", recipient="functions.get_current_weather",
                content_type="<|constrain|>json"),
      tool("functions.get_current_weather", '{"temp_c": 21, "sky": "clear"}')]),
    ("tool_round_trip_then_final",
     [system(date="2025-06-28"), developer(functions=WEATHER_TOOLS), user("Weather in Tokyo?"),
      assistant("Need to call get_current_weather.", "analysis"),
      assistant('{"location":"Tokyo, JP"}', "commentary", recipient="functions.get_current_weather",
                content_type="<|constrain|>json"),
      tool("functions.get_current_weather", '{"temp_c": 21, "sky": "clear"}'),
      assistant("It is sunny; answer.", "analysis"),
      assistant("It's 21°C and clear in Tokyo.", "final"), user("And in Osaka?")]),
    ("preamble_and_tool_call",
     [system(), developer(functions=WEATHER_TOOLS), user("Weather in Paris and Rome?"),
      assistant("Checking both cities now.", "commentary"),
      assistant('{"locations":["Paris","Rome"]}', "commentary",
                recipient="functions.get_multiple_weathers", content_type="json")]),
    ("browser_round_trip",
     [system(tools={"browser": BROWSER}), user("Latest news on fusion?"),
      assistant("Search the web.", "analysis"),
      assistant('{"query":"fusion news","topn":5}', "analysis", recipient="browser.search",
                content_type="code"),
      tool("browser.search", "[0] Fusion milestone (example.com)", channel="analysis")]),
    ("python_round_trip",
     [system(tools={"python": PYTHON}), user("What is 2**100?"),
      assistant("print(2**100)", "analysis", recipient="python", content_type="code"),
      tool("python", "1267650600228229401496703205376", channel="analysis")]),
    ("unicode",
     [system(), user("Grüße! 你好，世界 🌍🚀 👨‍👩‍👧‍👦 שלום مرحبا नमस्ते e\u0301 \u200b\ttab\nnewline"),
      assistant("Ünïcödé rëply — “quotes” ✓", "final"),
      user("<|start|>assistant<|message|> is just text here <|end|>")]),
    ("empty_contents",
     [system(), user(""), assistant("", "analysis"), assistant("", "final"), user([])]),
    ("author_names_and_recipients",
     [system(), user("Hi, I'm Alice.", name="alice"),
      assistant("Hello Alice.", "final", name="bot"),
      user("Broadcast this.", recipient="all"),
      assistant("Broadcasting.", "commentary", recipient="all"),
      msg("developer", "Plain text developer note.", name="ops")]),
    ("multiple_text_contents",
     [system(), {"role": "user", "content": [{"type": "text", "text": "Part one. "},
                                             {"type": "text", "text": "Part two."}]},
      {"role": "system", "content": [{"type": "text", "text": "extra system text "},
                                     {"type": "system_content", "model_identity": "X"}]}]),
    ("content_types",
     [system(), user("x"),
      assistant("{}", "commentary", recipient="functions.f", content_type="<|constrain|>"),
      assistant("a", "commentary", recipient="functions.g", content_type="<|constrain|>json x"),
      assistant("b", "commentary", content_type="json"),
      assistant("c", content_type="text/plain")]),
    ("first_final_is_user_quirk",
     [system(), user("early", channel="final"), assistant("dropped?", "analysis"),
      assistant("answer", "final")]),
    ("assistant_without_channel_last",
     [system(), user("Hi"), assistant("think", "analysis"), assistant("plain reply")]),
    ("system_tool_functions_key_ignored",
     [system(tools={"functions": {"name": "functions", "description": None,
                                  "tools": [fn("f", "In the system message.")]}}),
      user("Hi")]),
    ("string_content_shortcut_and_nulls",
     [{"role": "user", "name": None, "content": "hello", "channel": None, "recipient": None,
       "content_type": None, "unknown_field": 1}]),
    ("empty_conversation", []),
    # Raw JSON text (a str), passed to the oracle byte for byte: numbers that serde_json reads
    # in its own way, and its nesting limit.
    ("numbers_serde_quirks", RAW_NUMBERS),
    ("nesting_at_serde_limit", nested_parameters(118)),
    # Conversations openai-harmony rejects: the C++ renderer must reject them too.
    ("error_nesting_over_serde_limit", nested_parameters(119)),
    ("error_number_out_of_range", RAW_NUMBERS.replace("1E5", "1e400")),
    ("error_system_content_in_user",
     [{"role": "user", "content": [{"type": "system_content", "model_identity": "x"}]}]),
    ("error_developer_content_in_system",
     [{"role": "system", "content": [{"type": "developer_content", "instructions": "x"}]}]),
    ("error_tool_without_name", [user("hi"), {"role": "tool", "content": "result"}]),
]

# ---------------------------------------------------------------------------------------------
# Completions for the streaming parser: text with literal special tokens, encoded by the oracle
# with allowed_special="all". `role` is the role the parser starts with (the prompt ended with
# "<|start|>assistant"), or None when the completion itself starts with <|start|>.
# ---------------------------------------------------------------------------------------------

COMPLETIONS = [
    ("analysis_then_final_return", "assistant",
     "<|channel|>analysis<|message|>User asks 2+2. Answer 4.<|end|>"
     "<|start|>assistant<|channel|>final<|message|>2 + 2 = 4.<|return|>"),
    ("analysis_then_tool_call_channel_first", "assistant",
     "<|channel|>analysis<|message|>Need weather; call tool.<|end|>"
     "<|start|>assistant<|channel|>commentary to=functions.get_current_weather <|constrain|>json"
     "<|message|>{\"location\":\"San Francisco, CA\",\"format\":\"celsius\"}<|call|>"),
    ("tool_call_recipient_first", "assistant",
     " to=functions.get_current_weather<|channel|>commentary <|constrain|>json"
     "<|message|>{\"location\": \"Tokyo\"}<|call|>"),
    ("tool_call_constrain_adjacent", None,
     "<|start|>assistant<|channel|>commentary to=functions.get_weather<|constrain|>json"
     "<|message|>{\"latitude\":48.8566,\"longitude\":2.3522}<|call|>"),
    ("tool_call_content_type_json_no_constrain", "assistant",
     "<|channel|>commentary to=functions.lookup json<|message|>{\"q\": 1}<|call|>"),
    ("final_with_end", "assistant", "<|channel|>final<|message|>Hello there!<|end|>"),
    ("role_none_full_messages", None,
     "<|start|>assistant<|channel|>analysis<|message|>thinking...<|end|>"
     "<|start|>assistant<|channel|>final<|message|>done<|return|>"),
    ("preamble_then_tool_call", "assistant",
     "<|channel|>analysis<|message|>Plan.<|end|>"
     "<|start|>assistant<|channel|>commentary<|message|>Let me check the weather.<|end|>"
     "<|start|>assistant<|channel|>commentary to=functions.get_multiple_weathers <|constrain|>json"
     "<|message|>{\"locations\":[\"Paris\",\"Rome\"]}<|call|>"),
    ("python_tool_call", "assistant",
     "<|channel|>analysis to=python code<|message|>import math\nprint(math.pi)<|call|>"),
    ("browser_tool_call", "assistant",
     "<|channel|>analysis to=browser.search code<|message|>{\"query\": \"fusion\"}<|call|>"),
    ("tool_message", None,
     "<|start|>functions.get_weather to=assistant<|channel|>commentary<|message|>"
     "{\"sunny\": true}<|end|>"),
    ("tool_message_browser", None,
     "<|start|>browser.search to=assistant<|channel|>commentary<|message|>"
     "{\"result\": \"https://openai.com/\"}<|end|>"),
    ("user_system_developer_messages", None,
     "<|start|>user<|message|>hi<|end|><|start|>system<|message|>sys<|end|>"
     "<|start|>developer<|message|>dev<|end|>"),
    ("no_channel_message", "assistant", "<|message|>no channel here<|end|>"),
    ("empty_final", "assistant", "<|channel|>final<|message|><|return|>"),
    ("truncated_no_stop_token", "assistant",
     "<|channel|>final<|message|>This answer was cut off by max_tok"),
    ("unicode_split_tokens", "assistant",
     "<|channel|>final<|message|>Hello Müller, Γειά σου, こんにちは, 안녕하세요 😊👋🏾👨‍👩‍👧‍👦🇺🇸 "
     "naïve vs naïve — ✓<|return|>"),
    ("multiline_json_args", "assistant",
     "<|channel|>commentary to=functions.create_event <|constrain|>json<|message|>"
     "{\n  \"title\": \"Lunch\",\n  \"attendees\": [\"a@b.c\"],\n  \"when\": \"2025-07-01T12:00\"\n}"
     "<|call|>"),
    ("three_messages_analysis_commentary_final", "assistant",
     "<|channel|>analysis<|message|>a<|end|><|start|>assistant<|channel|>commentary<|message|>b"
     "<|end|><|start|>assistant<|channel|>final<|message|>c<|return|>"),
    ("assistant_name_not_parsed", None,
     "<|start|>assistant to=functions.x<|channel|>commentary json<|message|>{}<|call|>"),
]

# Completions assembled from parts: a str is encoded with special tokens allowed, TEXT(str) as
# ordinary text (a literal "<|start|>" typed by the model is text, not a token), a list of ints
# is taken as is. Token 9552 is the bytes " \xf0\x9f" (harmony's own UTF-8 tests): the start of
# a 4-byte character that the next token does not complete.
class TEXT(str):
    pass


RAW_COMPLETIONS = [
    ("invalid_utf8_twice", None, ["<|start|>assistant<|message|>", [9552, 9552],
                                  "worked<|end|>"]),
    ("invalid_utf8_then_ascii", None, ["<|start|>assistant<|message|>", [9552], "XY<|end|>"]),
    ("invalid_utf8_then_word_no_eos_marker", None,
     ["<|start|>assistant<|message|>", [9552], " interesting story"]),
    ("literal_special_text_in_content", "assistant",
     ["<|channel|>final<|message|>", TEXT("Use the <|start|> token? No: a < b | c > d."),
      "<|return|>"]),
    ("literal_special_text_in_header_recipient", "assistant",
     ["<|channel|>commentary", TEXT(" to=functions.x<|end|>"), "<|message|>{}<|call|>"]),
]

# Malformed model output. Each case is a list of pieces; the parser gets their concatenation.
# A "keep" piece is parsed by the oracle on its own (plus EOS) and its messages are expected
# from the C++ parser too; a "drop" piece is garbage the C++ parser must report (an error event)
# and skip, recovering at the next <|start|>. The first piece is parsed with the case's start
# role; later pieces start with <|start|> (role None).
MALFORMED = [
    ("missing_start_token", "assistant", [
        ("keep", "<|channel|>analysis<|message|>ok<|end|>"),
        ("drop", "assistant<|channel|>final<|message|>no start token<|end|>"),
        ("keep", "<|start|>assistant<|channel|>final<|message|>recovered<|return|>"),
    ]),
    ("unknown_channel", "assistant", [
        ("drop", "<|channel|>secret<|message|>hidden text<|end|>"),
        ("keep", "<|start|>assistant<|channel|>final<|message|>visible<|return|>"),
    ]),
    ("truncated_header_then_start", None, [
        ("drop", "<|start|>assistant<|channel|>"),
        ("keep", "<|start|>assistant<|channel|>final<|message|>after truncated header<|end|>"),
    ]),
    ("eos_mid_header", "assistant", [
        ("keep", "<|channel|>analysis<|message|>thinking<|end|>"),
        ("drop", "<|start|>assistant<|channel|>fin"),
    ]),
    ("stray_constrain_in_content", "assistant", [
        ("keep", "<|channel|>final<|message|>Hello"),
        ("drop", "<|constrain|> world<|end|>"),
        ("keep", "<|start|>assistant<|channel|>final<|message|>again<|return|>"),
    ]),
    ("stray_reserved_in_content", "assistant", [
        ("keep", "<|channel|>final<|message|>before"),
        ("drop", "<|reserved_200013|>after<|return|>"),
    ]),
    ("endoftext_in_content", "assistant", [
        ("keep", "<|channel|>final<|message|>answer"),
        ("drop", "<|endoftext|>"),
    ]),
    ("start_inside_content", "assistant", [
        ("keep", "<|channel|>analysis<|message|>half a thought"),
        ("keep", "<|start|>assistant<|channel|>final<|message|>new message<|return|>"),
    ]),
    ("missing_message_token", "assistant", [
        ("drop", "I must refuse<|end|>"),
        ("keep", "<|start|>assistant<|channel|>analysis<|message|>We must refuse<|end|>"),
        ("keep", "<|start|>assistant<|channel|>final<|message|>I'm sorry.<|return|>"),
    ]),
    ("stop_token_while_expecting_start", "assistant", [
        ("keep", "<|channel|>final<|message|>one<|end|>"),
        ("drop", "<|end|><|return|>garbage"),
        ("keep", "<|start|>assistant<|channel|>final<|message|>two<|return|>"),
    ]),
    ("empty_channel_value", None, [
        ("drop", "<|start|>assistant<|channel|><|message|>x<|end|>"),
        ("keep", "<|start|>assistant<|channel|>final<|message|>y<|end|>"),
    ]),
    ("unknown_role_single_word", None, [
        ("drop", "<|start|>robot<|message|>beep<|end|>"),
        ("keep", "<|start|>user<|message|>hi<|end|>"),
    ]),
    ("extra_header_words", "assistant", [
        ("drop", "<|channel|>final to=functions.x json extra<|message|>x<|end|>"),
        ("keep", "<|start|>assistant<|channel|>final<|message|>ok<|end|>"),
    ]),
    ("message_token_while_expecting_start", None, [
        ("drop", "<|message|>text<|end|>"),
        ("keep", "<|start|>assistant<|channel|>final<|message|>ok<|end|>"),
    ]),
    ("return_in_header", None, [
        ("drop", "<|start|>assistant<|channel|>final<|return|>"),
        ("keep", "<|start|>assistant<|channel|>final<|message|>ok<|end|>"),
    ]),
    ("channel_token_in_content", "assistant", [
        ("keep", "<|channel|>analysis<|message|>a"),
        ("drop", "<|channel|>final<|message|>b<|end|>"),
        ("keep", "<|start|>assistant<|channel|>final<|message|>c<|return|>"),
    ]),
]
