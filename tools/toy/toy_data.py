"""Generated harmony conversations for the toy gpt-oss (tools/toy/README.md).

Every example is a chat exactly as our coordinator renders a Chat request: the system message is
openai-harmony's SystemContent.new() (model identity, knowledge cutoff, current date, reasoning
effort, valid channels), a developer message carries the `functions` namespace when the
get_weather tool is declared, then the user/assistant/tool turns. openai_harmony renders the
prompt, so the ids are the oracle's; `gptoss render-chat` must give the same ids (eval checks).

The completion (what the model learns to emit after the prompt's final `<|start|>assistant`) is
an `analysis` message, then either a `final` message ending in `<|return|>` or a tool call on
`commentary` ending in `<|call|>`.

Nothing here depends on torch: the eval script reuses the same builders for its questions.
"""
import json
import os
import random
import re

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# openai-harmony loads o200k_base through tiktoken; point it at the committed copy (no network).
os.environ.setdefault("TIKTOKEN_ENCODINGS_BASE",
                      os.path.join(ROOT, "coordinator", "tokenizer", "assets"))

from openai_harmony import (Author, Conversation, DeveloperContent,  # noqa: E402
                            HarmonyEncodingName, Message, ReasoningEffort, Role,
                            SystemContent, ToolDescription, load_harmony_encoding)

ENC = load_harmony_encoding(HarmonyEncodingName.HARMONY_GPT_OSS)

EFFORTS = {"low": ReasoningEffort.LOW, "medium": ReasoningEffort.MEDIUM,
           "high": ReasoningEffort.HIGH}

# The documented capital table (>= 40 countries). Plain ASCII names so that the answer is
# unambiguous; the eval asks every row.
CAPITALS = {
    "France": "Paris", "Germany": "Berlin", "Italy": "Rome", "Spain": "Madrid",
    "Portugal": "Lisbon", "Japan": "Tokyo", "China": "Beijing", "India": "New Delhi",
    "Russia": "Moscow", "Canada": "Ottawa", "Mexico": "Mexico City", "Brazil": "Brasilia",
    "Argentina": "Buenos Aires", "Chile": "Santiago", "Peru": "Lima", "Colombia": "Bogota",
    "Egypt": "Cairo", "Kenya": "Nairobi", "Nigeria": "Abuja", "Ghana": "Accra",
    "Morocco": "Rabat", "Ethiopia": "Addis Ababa", "Australia": "Canberra",
    "New Zealand": "Wellington", "Norway": "Oslo", "Sweden": "Stockholm", "Finland": "Helsinki",
    "Denmark": "Copenhagen", "Poland": "Warsaw", "Austria": "Vienna", "Greece": "Athens",
    "Turkey": "Ankara", "Ireland": "Dublin", "Netherlands": "Amsterdam", "Belgium": "Brussels",
    "Switzerland": "Bern", "Hungary": "Budapest", "Czechia": "Prague", "Ukraine": "Kyiv",
    "Thailand": "Bangkok", "Vietnam": "Hanoi", "Indonesia": "Jakarta",
    "South Korea": "Seoul", "Iran": "Tehran", "Iraq": "Baghdad", "Israel": "Jerusalem",
    "Cuba": "Havana", "Iceland": "Reykjavik", "United Kingdom": "London",
    "United States": "Washington",
}

# The tool as a client declares it. Training varies the wording of the description and the
# schema a little, so that a client's own phrasing still works; WEATHER_TOOL is the canonical one
# (README, eval, demo).
WEATHER_DESCRIPTIONS = ["Gets the current weather in a city.",
                        "Get the current weather for a city.",
                        "Returns the current temperature in a given city."]
WEATHER_SCHEMAS = [
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    {"type": "object", "properties": {"city": {"type": "string", "description": "City name"}},
     "required": ["city"]},
]
WEATHER_TOOL = {"name": "get_weather", "description": WEATHER_DESCRIPTIONS[0],
                "parameters": WEATHER_SCHEMAS[0]}

# City names. Real ones, plus fake ones built from a prefix and a suffix. A fake word is kept only
# when o200k splits it as [prefix, suffix] both with and without a leading space: the model copies
# the name token by token from the prompt (" Bor" "ovia") into the JSON ("Bor" "ovia"), and a
# held-out name is then an unseen combination of pieces it has learned to copy.
REAL_CITIES = [
    "Paris", "London", "Berlin", "Madrid", "Rome", "Tokyo", "Oslo", "Lima", "Cairo", "Dublin",
    "Vienna", "Prague", "Seoul", "Toronto", "Chicago", "Boston", "Denver", "Austin", "Seattle",
    "Miami", "Houston", "Phoenix", "Dallas", "Atlanta", "Sydney", "Melbourne", "Perth",
    "Mumbai", "Delhi", "Lagos", "Nairobi", "Munich", "Hamburg", "Milan", "Naples", "Lyon",
    "Marseille", "Porto", "Zurich", "Geneva", "Athens", "Istanbul", "Moscow", "Kyiv",
    "New York", "Los Angeles", "San Francisco", "San Diego", "Las Vegas", "New Orleans",
    "Hong Kong", "Cape Town", "Mexico City", "Buenos Aires", "Rio de Janeiro", "Sao Paulo",
    "Tel Aviv", "Abu Dhabi", "Kuala Lumpur", "Salt Lake City", "Ho Chi Minh City",
    "St Louis", "Santa Fe", "El Paso", "Fort Worth", "Palo Alto", "Kansas City",
]
FAKE_PREFIXES = ("Bor Kal Mar Tel Ver Dor Bel Cal Hal Mon Nor Pel Sol Tor Val Ash Cor Del Fen "
                 "Gal Har Kor Lin Mil Pan Ros Sal Tam Ul Vin Ar El Ol Kin Lor Mer Nal Pra Tur "
                 "Wal Bal").split()
FAKE_SUFFIXES = ("ovia ford ton burg ville port stad mouth field dale heim grad wick by holm ia "
                 "ana ora en ington ham ley sted vik ona ino").split()
# Extra first words of multi-word names ("New Borford", "Port Kalvik").
NAME_WORDS = "New San Port Lake Saint North South East West Old Upper Fort".split()


def tokens(text):
    return ENC.encode(text, allowed_special="all")


def _splits_cleanly(prefix, word):
    a, b = tokens(" " + word), tokens(word)
    return (len(a) == len(b) and ENC.decode(a[:1]) == " " + prefix and ENC.decode(b[:1]) == prefix
            and a[1:] == b[1:])


def fake_words():
    """Prefix+suffix words that tokenize compositionally in both positions."""
    out = []
    for p in FAKE_PREFIXES:
        if len(tokens(" " + p)) != 1 or len(tokens(p)) != 1:
            continue
        for s in FAKE_SUFFIXES:
            if _splits_cleanly(p, p + s):
                out.append(p + s)
    return out


def fake_name(rng, words, counts=(1, 1, 2, 2, 3)):
    n = rng.choice(counts)
    parts = [rng.choice(words) for _ in range(n)]
    if n > 1 and rng.random() < 0.5:
        parts[0] = rng.choice(NAME_WORDS)
    return " ".join(parts)


def city_pool(seed=7, size=6000):
    """A fixed pool of fake city names of 1..3 words (deterministic)."""
    rng = random.Random(seed)
    words = fake_words()
    names = set()
    while len(names) < size:
        names.add(fake_name(rng, words))
    return sorted(names)


def confusable_name(rng, words):
    """A fresh fake name of 2 or 3 words whose words share prefixes or suffixes ("Salburg Nalburg
    Salovia"): only a copy that follows the prompt token by token gets these right, where
    remembering which pieces the name contains is not enough."""
    n = rng.choice([2, 3])
    pre = [w for w in FAKE_PREFIXES if any(x.startswith(w) for x in words)]
    ps = [rng.choice(pre) for _ in range(2)]
    parts = []
    while len(parts) < n:
        p = rng.choice(ps)
        cands = [w for w in words if w.startswith(p) and len(tokens(w)) == 2]
        parts.append(rng.choice(cands))
    return " ".join(parts)


# ------------------------------------------------------------------------------------------
# The name pool: the tokens a city name can be copied from (the eval's held-out names).
#
# A city name reaches the model as spaced tokens (" Sal" "burg" " Nal" "ovia") and leaves it in
# the JSON with its first token spaceless ("Sal"): `"` ends the previous pre-token. A name can
# therefore be copied token by token only when its first word's first token has a spaceless twin
# that is also one o200k token (" Paris"/"Paris", 7187 capitalized words); " Munich" has none
# ("Mun" "ich"), so writing it spaceless takes knowing its spelling, which no copy gives. Later
# words keep their space in the JSON. The pool is those capitalized words, the 6000 most frequent
# capitalized words that have only a spaced form (fine after the first word), the most frequent
# lowercase pieces that continue a word ("burg", "ville") and a few joiners ("de"). The eval asks
# about real names (REAL_HELDOUT) and made-up names built from the pool; the committed model
# gives its own rows to only the ~850 tokens of its training data (tools/toy/README.md).
# ------------------------------------------------------------------------------------------

N_LOWER_PIECES = 3000
N_SPACED_ONLY = 6000
JOINERS = ["de", "del", "la", "le", "of", "on", "am", "da", "do", "dos", "el", "sur"]


def _ranks():
    """o200k_base's byte sequences -> ids, read from the committed vocabulary file."""
    import base64
    path = os.path.join(os.environ["TIKTOKEN_ENCODINGS_BASE"], "o200k_base.tiktoken")
    out = {}
    with open(path, "rb") as f:
        for line in f:
            b, r = line.split()
            out[base64.b64decode(b)] = int(r)
    return out


_POOL = None


def name_pool():
    """The pool, deterministic:
      "caps":  spellings w with " w" and "w" both one token (a name's first word starts here);
      "later": spellings with only " w" a token (the 6000 most frequent, and every word of the
               name lists): fine after the first word, which the JSON writes spaced too;
      "lower": pieces that continue a word;
      "tokens": {token id: (spelling, spaced)} for every pool token."""
    global _POOL
    if _POOL is None:
        ranks = _ranks()
        caps = sorted(t[1:].decode() for t in ranks
                      if re.fullmatch(rb" [A-Z][a-z]{1,12}", t) and t[1:] in ranks)
        listed = {w for n in REAL_CITIES + REAL_HELDOUT + list(CAPITALS.values()) + NAME_WORDS
                  for w in n.split()}
        spaced_only = sorted((t for t in ranks if re.fullmatch(rb" [A-Z][a-z]{1,14}", t)
                              and t[1:] not in ranks), key=ranks.get)
        later = {t[1:].decode() for t in spaced_only[:N_SPACED_ONLY]}
        later |= {w for w in listed if (b" " + w.encode()) in ranks and w.encode() not in ranks}
        later = sorted(later)
        lower = sorted((t for t in ranks if re.fullmatch(rb"[a-z]{2,6}", t)), key=ranks.get)
        lower = {t.decode() for t in lower[:N_LOWER_PIECES]}
        # Every piece of the fake and listed real names is in the pool too.
        for name in fake_words() + REAL_CITIES + REAL_HELDOUT + list(CAPITALS.values()):
            for t in tokens(" " + name) + tokens(name):
                piece = ENC.decode([t])
                if re.fullmatch(r"[a-z]{2,12}", piece):
                    lower.add(piece)
        lower = sorted(lower)
        toks = {}
        for w in caps:
            toks[ranks[b" " + w.encode()]] = (w, True)
            toks[ranks[w.encode()]] = (w, False)
        for w in later:
            toks[ranks[b" " + w.encode()]] = (w, True)
        for w in lower:
            toks[ranks[w.encode()]] = (w, False)
        for w in JOINERS:
            if (b" " + w.encode()) in ranks:
                toks[ranks[b" " + w.encode()]] = (w, True)
        _POOL = {"caps": caps, "later": later, "lower": lower, "tokens": toks}
    return _POOL


def copyable(name):
    """True when the model can copy `name` token by token from a prompt into the JSON: the first
    word's spaced and spaceless forms differ only in the first token, and every token is in the
    pool."""
    spaced, bare = tokens(" " + name), tokens(name)
    pool = name_pool()["tokens"]
    return (len(spaced) == len(bare) and spaced[1:] == bare[1:]
            and ENC.decode(spaced[:1]) == " " + ENC.decode(bare[:1])
            and all(t in pool for t in spaced + bare))


def pool_word(rng, caps):
    """A made-up word: a capitalized pool spelling and up to two lowercase pieces, kept only if
    o200k splits it exactly that way (so the pieces are what the model sees and copies)."""
    lower = name_pool()["lower"]
    while True:
        first = rng.choice(caps)
        rest = [rng.choice(lower) for _ in range(rng.choice([0, 0, 1, 1, 2]))]
        word = first + "".join(rest)
        if [ENC.decode([t]) for t in tokens(" " + word)] == [" " + first] + rest:
            return word


def pool_name(rng, caps):
    """A made-up name of one to three pool words; the first spelling comes from `caps`."""
    later = name_pool()["caps"] + name_pool()["later"]
    while True:
        n = rng.choice([1, 1, 2, 2, 3])
        name = " ".join(pool_word(rng, caps if i == 0 else later) for i in range(n))
        if copyable(name):
            return name


# Real cities that training never asks about (the eval's held-out real names). Those whose first
# token has no spaceless twin (" Munich" vs "Mun" "ich") are out of reach for a copy; the eval
# counts them separately.
REAL_HELDOUT = [
    "Barcelona", "Valencia", "Seville", "Bilbao", "Florence", "Venice", "Turin", "Bologna",
    "Genoa", "Palermo", "Frankfurt", "Cologne", "Stuttgart", "Dresden", "Leipzig", "Bremen",
    "Hanover", "Nuremberg", "Manchester", "Liverpool", "Leeds", "Bristol", "Glasgow", "Edinburgh",
    "Cardiff", "Belfast", "Oxford", "Cambridge", "Brighton", "York", "Bordeaux", "Toulouse",
    "Nice", "Nantes", "Strasbourg", "Lille", "Antwerp", "Rotterdam", "Utrecht", "Basel",
    "Lausanne", "Salzburg", "Graz", "Krakow", "Gdansk", "Riga", "Vilnius", "Tallinn", "Minsk",
    "Odessa", "Sofia", "Bucharest", "Belgrade", "Zagreb", "Sarajevo", "Tirana", "Beirut",
    "Damascus", "Amman", "Riyadh", "Dubai", "Doha", "Muscat", "Kuwait City", "Karachi", "Lahore",
    "Dhaka", "Kolkata", "Chennai", "Bangalore", "Hyderabad", "Colombo", "Kathmandu", "Shanghai",
    "Shenzhen", "Guangzhou", "Chengdu", "Wuhan", "Osaka", "Kyoto", "Nagoya", "Busan", "Taipei",
    "Manila", "Singapore", "Brisbane", "Adelaide", "Auckland", "Christchurch", "Vancouver",
    "Montreal", "Calgary", "Edmonton", "Winnipeg", "Quebec City", "Halifax", "Portland",
    "Sacramento", "Oakland", "San Jose", "Detroit", "Cleveland", "Pittsburgh", "Philadelphia",
    "Baltimore", "Richmond", "Charlotte", "Nashville", "Memphis", "Orlando", "Tampa",
    "Jacksonville", "Minneapolis", "Milwaukee", "Indianapolis", "Columbus", "Cincinnati",
    "Louisville", "Omaha", "Tulsa", "Albuquerque", "Tucson", "Honolulu", "Anchorage", "Kingston",
    "Panama City", "San Juan", "Guadalajara", "Monterrey", "Tijuana", "Cancun", "Medellin", "Cali",
    "Quito", "Caracas", "Montevideo", "La Paz", "Cordoba", "Rosario", "Recife", "Salvador",
    "Fortaleza", "Curitiba", "Manaus", "Casablanca", "Marrakech", "Tunis", "Algiers", "Tripoli",
    "Khartoum", "Dakar", "Kinshasa", "Luanda", "Johannesburg", "Durban", "Pretoria", "Harare",
    "Lusaka", "Kampala", "Kigali", "Dar es Salaam", "Mombasa", "Windhoek", "Maputo",
    "Santa Cruz", "Santa Barbara", "San Antonio", "Fort Lauderdale", "Little Rock",
    "Baton Rouge", "Grand Rapids", "Colorado Springs", "Virginia Beach", "Long Beach",
]


def splits(seed=1234):
    """Held-out sets, fixed by the seed: arithmetic (op, a, b) triples and city names.

    Every (op, a) and (op, b) value still occurs in training; only the pairs are new. Held-out
    city names: fake names (new combinations of learned pieces), real names (REAL_HELDOUT, the
    copyable ones) and made-up names of pool words whose first spelling is one of 10% of the
    capitalized pool spellings, kept out of every listed name (so out of any training name)."""
    rng = random.Random(seed)
    triples = [(op, a, b) for op in "+-" for a in range(100) for b in range(100)]
    rng.shuffle(triples)
    held_arith = sorted(triples[:2000])
    cities = city_pool()
    rng.shuffle(cities)
    held_cities = sorted(cities[:400])
    reserved = {w for name in cities + REAL_CITIES + REAL_HELDOUT + list(CAPITALS.values())
                + NAME_WORDS for w in name.split()}
    caps = [w for w in name_pool()["caps"] if w not in reserved]
    rng.shuffle(caps)
    held_caps = sorted(caps[:len(caps) // 10])
    prng = random.Random(seed + 1)
    held_pool = sorted({pool_name(prng, held_caps) for _ in range(200)})
    return {"arith": held_arith, "cities": held_cities,
            "train_cities": sorted(cities[400:]) + REAL_CITIES,
            "real_cities": [c for c in REAL_HELDOUT if copyable(c)],
            "pool_cities": held_pool}


# ------------------------------------------------------------------------------------------
# Answers. Arithmetic is worked digit by digit in the analysis so that pairs never seen in
# training are computable: each step is a small lookup over digits (o200k writes 0..999 as
# single tokens, so the model cannot read digits off the text; it must learn them per number).
# ------------------------------------------------------------------------------------------

def add_analysis(a, b, effort):
    a1, a0 = divmod(a, 10)
    b1, b0 = divmod(b, 10)
    s0 = a0 + b0
    c = s0 // 10
    s1 = a1 + b1 + c
    r = a + b
    if effort == "low":
        return f"{a0} + {b0} = {s0}, carry {c}. {a1} + {b1} + {c} = {s1}. So {r}."
    steps = (f"Ones: {a0} + {b0} = {s0}, write {s0 % 10} carry {c}. "
             f"Tens: {a1} + {b1} + {c} = {s1}. So {a} + {b} = {r}.")
    if effort == "medium":
        return f"We need {a} + {b}. {steps}"
    return (f"The user asks for the sum of {a} and {b}. I will add the digits column by column, "
            f"starting with the ones. {steps} The answer is {r}.")


def _compare(a, b):
    a1, a0 = divmod(a, 10)
    b1, b0 = divmod(b, 10)
    sym = lambda x, y: "<" if x < y else (">" if x > y else "=")  # noqa: E731
    if a1 != b1:
        return f"Compare: {a1} {sym(a1, b1)} {b1}, so {a} {sym(a, b)} {b}."
    return f"Compare: {a1} = {b1}, {a0} {sym(a0, b0)} {b0}, so {a} {sym(a, b)} {b}."


def sub_analysis(a, b, effort):
    neg = a < b
    x, y = (b, a) if neg else (a, b)
    x1, x0 = divmod(x, 10)
    y1, y0 = divmod(y, 10)
    borrow = 1 if x0 < y0 else 0
    top = x0 + 10 * borrow
    d0 = top - y0
    d1 = x1 - y1 - borrow
    d = x - y
    r = a - b
    swap = f"Since {a} < {b}, compute {b} - {a} and negate. " if neg else ""
    if effort == "low":
        return (f"{_compare(a, b)} {swap}{top} - {y0} = {d0}, borrow {borrow}. "
                f"{x1} - {y1} - {borrow} = {d1}. So {r}.")
    steps = (f"Ones: {top} - {y0} = {d0}, borrow {borrow}. Tens: {x1} - {y1} - {borrow} = {d1}. ")
    concl = (f"So {b} - {a} = {d}, and {a} - {b} = {r}." if neg else f"So {a} - {b} = {r}.")
    body = f"{_compare(a, b)} {swap}{steps}{concl}"
    if effort == "medium":
        return f"We need {a} - {b}. {body}"
    return (f"The user asks for the difference {a} - {b}. I will subtract digit by digit after "
            f"checking which number is larger. {body} The answer is {r}.")


def arith_answer(op, a, b, effort):
    r = a + b if op == "+" else a - b
    analysis = add_analysis(a, b, effort) if op == "+" else sub_analysis(a, b, effort)
    return analysis, f"{a} {op} {b} = {r}."


def capital_answer(country, effort):
    cap = CAPITALS[country]
    analysis = {
        "low": f"Capital of {country}: {cap}.",
        "medium": f"The user asks for the capital of {country}. The capital of {country} is {cap}.",
        "high": (f"The user wants to know the capital city of {country}. This is a geography "
                 f"fact. The capital of {country} is {cap}. I am confident in this answer."),
    }[effort]
    return analysis, f"The capital of {country} is {cap}."


def weather_call_analysis(city, effort):
    return {
        "low": f"Call get_weather for {city}.",
        "medium": f"The user asks about the weather in {city}. I should call get_weather.",
        "high": (f"The user wants to know the current weather in {city}. The get_weather tool "
                 f"can answer that, so I will call it with the city name."),
    }[effort]


def weather_result_answer(city, temp, effort):
    analysis = {
        "low": f"Tool says {temp}°C.",
        "medium": f"The get_weather tool returned a temperature of {temp}°C.",
        "high": (f"The get_weather tool answered. The temperature is {temp}°C. I will tell the "
                 f"user the current temperature."),
    }[effort]
    return analysis, f"It is currently {temp}°C in {city}."


GREETINGS = ["Hello", "Hello!", "Hi", "Hi!", "Hey", "Hey there", "Hi there", "Good morning",
             "Good evening", "Good afternoon", "Howdy", "Hello, who are you?", "Who are you?",
             "What can you do?", "Help", "hello", "hi", "Hello there!", "Greetings"]
GREETING_FINAL = ("Hello! I am a tiny demo model. I can add and subtract numbers below 100, name "
                  "the capital of a country, and check the weather with a tool.")
FALLBACK_FINAL = ("Sorry, I can only add and subtract numbers below 100, name capitals, and check "
                  "the weather.")
NO_TOOL_FINAL = "I cannot check the weather because no weather tool is available."

# Words for off-topic requests (the fallback answer). Arbitrary text outside this list reaches
# the model as unknown tokens, which the training also covers (random vocabulary ids).
FILLER = ("tell me a joke write poem about cats dogs what time is it please explain quantum "
          "physics how do I cook rice translate this into French story the sky why blue "
          "recommend book movie song sing play chess code python function sort list who won "
          "game yesterday news today is love meaning of life can you help me with my homework "
          "thank you thanks bye goodbye ok yes no maybe summarize text email draft plan trip "
          "price bitcoin stock market football weather tomorrow").split()


def greeting_answer(effort):
    analysis = {
        "low": "Greeting.",
        "medium": "The user greets me. I should reply briefly and say what I can do.",
        "high": ("The user is greeting me. I am a tiny demo model, so I will greet them back and "
                 "list the kinds of questions I can answer."),
    }[effort]
    return analysis, GREETING_FINAL


def fallback_answer(effort):
    analysis = {
        "low": "Off-topic.",
        "medium": "The message is not one of the questions I know how to answer.",
        "high": ("The message is not an arithmetic, capital or weather question. I only know "
                 "those, so I will say what I can do."),
    }[effort]
    return analysis, FALLBACK_FINAL


def no_tool_answer(effort):
    analysis = {
        "low": "No weather tool.",
        "medium": "The user asks about the weather, but no weather tool is available.",
        "high": ("The user asks about the weather. No get_weather tool was declared in this "
                 "conversation, so I cannot look it up."),
    }[effort]
    return analysis, NO_TOOL_FINAL


ARITH_PHRASES = ["What is {a} {op} {b}?", "What is {a} {op} {b}?", "What's {a} {op} {b}?",
                 "Compute {a} {op} {b}.", "{a} {op} {b} = ?"]
CAPITAL_PHRASES = ["What is the capital of {x}?", "What is the capital of {x}?",
                   "What's the capital of {x}?", "Capital of {x}?"]
WEATHER_PHRASES = ["What's the weather in {c}?", "What's the weather in {c}?",
                   "What is the weather in {c}?", "How is the weather in {c}?",
                   "Weather in {c}?"]


# ------------------------------------------------------------------------------------------
# Rendering
# ------------------------------------------------------------------------------------------

def tool_description(desc=None, schema=None):
    return ToolDescription.new("get_weather", desc or WEATHER_TOOL["description"],
                               parameters=schema or WEATHER_TOOL["parameters"])


def system_message(effort, date, identity=None):
    content = SystemContent.new().with_reasoning_effort(EFFORTS[effort]) \
        .with_conversation_start_date(date)
    if identity:
        content = content.with_model_identity(identity)
    return Message.from_role_and_content(Role.SYSTEM, content)


def header(effort, date, tool=None, identity=None):
    msgs = [system_message(effort, date, identity)]
    if tool is not None:
        msgs.append(Message.from_role_and_content(
            Role.DEVELOPER, DeveloperContent.new().with_function_tools([tool])))
    return msgs


def user(text):
    return Message.from_role_and_content(Role.USER, text)


def assistant_final(text):
    return Message.from_role_and_content(Role.ASSISTANT, text).with_channel("final")


def assistant_analysis(text):
    return Message.from_role_and_content(Role.ASSISTANT, text).with_channel("analysis")


def assistant_call(args_json, content_type="<|constrain|>json"):
    return (Message.from_role_and_content(Role.ASSISTANT, args_json).with_channel("commentary")
            .with_recipient("functions.get_weather").with_content_type(content_type))


def tool_result(text, to_assistant=True):
    m = Message.from_author_and_content(Author.new(Role.TOOL, "functions.get_weather"), text) \
        .with_channel("commentary")
    return m.with_recipient("assistant") if to_assistant else m


def render_prompt(messages):
    return ENC.render_conversation_for_completion(Conversation.from_messages(messages),
                                                  Role.ASSISTANT)


def completion_final(analysis, final):
    """What the model emits after `<|start|>assistant`: analysis, then final, then <|return|>."""
    return tokens(f"<|channel|>analysis<|message|>{analysis}<|end|>"
                  f"<|start|>assistant<|channel|>final<|message|>{final}<|return|>")


def completion_call(analysis, city):
    """analysis, then the tool call the way gpt-oss writes it: recipient after the channel."""
    args = json.dumps({"city": city})
    return tokens(f"<|channel|>analysis<|message|>{analysis}<|end|>"
                  f"<|start|>assistant<|channel|>commentary to=functions.get_weather "
                  f"<|constrain|>json<|message|>{args}<|call|>")


def random_date(rng):
    return f"{rng.randint(1990, 2099)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


# ------------------------------------------------------------------------------------------
# The training stream
# ------------------------------------------------------------------------------------------

class Generator:
    """Draws training examples: {"prompt": ids, "completion": ids, "task": name}.

    `held` (from splits()) is excluded by construction: no held-out arithmetic pair or city
    name is ever drawn."""

    def __init__(self, seed, held, focus=0.0, fresh=0.0, real=0.0):
        self.rng = random.Random(seed)
        self.focus = focus  # extra share of the two hard tasks (arithmetic, copying a city)
        self.fresh = fresh  # share of city names drawn new (never repeated: no name to memorize)
        self.real = real  # share of city names drawn from REAL_CITIES (their own spellings)
        self.held_arith = set(held["arith"])
        self.held_cities = set(held["cities"])
        self.cities = held["train_cities"]
        self.words = fake_words()

    # One earlier exchange, as a client keeps history: user text + the assistant's final only.
    def _history(self, with_tool):
        rng = self.rng
        out = []
        for _ in range(rng.choice([1, 1, 2])):
            kind = rng.random()
            if kind < 0.5:
                op, a, b = self._pair()
                q = rng.choice(ARITH_PHRASES).format(a=a, op=op, b=b)
                _, fin = arith_answer(op, a, b, "medium")
            elif kind < 0.8:
                x = rng.choice(list(CAPITALS))
                q = rng.choice(CAPITAL_PHRASES).format(x=x)
                _, fin = capital_answer(x, "medium")
            else:
                q = rng.choice(GREETINGS)
                _, fin = greeting_answer("medium")
            out += [user(q), assistant_final(fin)]
        return out

    def _pair(self):
        while True:
            t = (self.rng.choice("+-"), self.rng.randrange(100), self.rng.randrange(100))
            if t not in self.held_arith:
                return t

    def _tool(self):
        rng = self.rng
        if rng.random() < 0.6:
            return tool_description()
        return tool_description(rng.choice(WEATHER_DESCRIPTIONS), rng.choice(WEATHER_SCHEMAS))

    def _city(self):
        rng = self.rng
        if self.real and rng.random() < self.real:
            return rng.choice(REAL_CITIES)
        if not self.fresh or rng.random() >= self.fresh:
            return rng.choice(self.cities)
        while True:
            name = (confusable_name(rng, self.words) if rng.random() < 0.3
                    else fake_name(rng, self.words, (1, 2, 2, 3, 3)))
            if name not in self.held_cities:
                return name

    def _junk(self):
        rng = self.rng
        if rng.random() < 0.5:
            words = [rng.choice(FILLER) for _ in range(rng.randint(1, 8))]
            text = " ".join(words)
            return text[0].upper() + text[1:] + rng.choice(["", "?", ".", "!"])
        # Random vocabulary: tokens the model never learns, seen as the shared "unknown" row.
        ids = []
        while len(ids) < rng.randint(1, 10):
            t = rng.randrange(199998)
            try:
                ENC.decode_utf8([t])
            except Exception:
                continue
            ids.append(t)
        return ENC.decode(ids).strip() or "?"

    def example(self):
        rng = self.rng
        effort = rng.choice(["low", "medium", "high"])
        date = random_date(rng)
        identity = None if rng.random() < 0.95 else "You are a helpful assistant."
        r = rng.random()
        if self.focus and rng.random() < self.focus:
            r = rng.uniform(0.0, 0.40) if rng.random() < 0.6 else rng.uniform(0.55, 0.72)
        with_tool = r >= 0.55 or rng.random() < 0.25  # tools declared even when not needed
        tool = self._tool() if with_tool else None
        msgs = header(effort, date, tool, identity)
        if rng.random() < 0.25:
            msgs += self._history(with_tool)
        if r < 0.40:
            task = "arith"
            op, a, b = self._pair()
            msgs.append(user(rng.choice(ARITH_PHRASES).format(a=a, op=op, b=b)))
            comp = completion_final(*arith_answer(op, a, b, effort))
        elif r < 0.55:
            task = "capital"
            x = rng.choice(list(CAPITALS))
            msgs.append(user(rng.choice(CAPITAL_PHRASES).format(x=x)))
            comp = completion_final(*capital_answer(x, effort))
        elif r < 0.72:
            task = "weather_call"
            city = self._city()
            msgs.append(user(rng.choice(WEATHER_PHRASES).format(c=city)))
            comp = completion_call(weather_call_analysis(city, effort), city)
        elif r < 0.88:
            task = "weather_result"
            city = self._city()
            temp = rng.randint(-30, 45)
            msgs.append(user(rng.choice(WEATHER_PHRASES).format(c=city)))
            # The history as clients send it back: with or without the analysis, the content
            # type with or without <|constrain|>, the tool result with or without to=assistant
            # (our coordinator renders tool messages without a recipient).
            if rng.random() < 0.5:
                msgs.append(assistant_analysis(weather_call_analysis(city, effort)))
            msgs.append(assistant_call(json.dumps({"city": city}),
                                       "<|constrain|>json" if rng.random() < 0.8 else "json"))
            msgs.append(tool_result(json.dumps({"temperature_c": temp}),
                                    to_assistant=rng.random() < 0.5))
            comp = completion_final(*weather_result_answer(city, temp, effort))
        elif r < 0.95:
            if rng.random() < 0.5:
                task = "greeting"
                msgs.append(user(rng.choice(GREETINGS)))
                comp = completion_final(*greeting_answer(effort))
            else:
                task = "fallback"
                msgs.append(user(self._junk()))
                comp = completion_final(*fallback_answer(effort))
        else:
            task = "no_tool"
            msgs = header(effort, date, None, identity)
            msgs.append(user(rng.choice(WEATHER_PHRASES).format(c=self._city())))
            comp = completion_final(*no_tool_answer(effort))
        return {"prompt": render_prompt(msgs), "completion": comp, "task": task}
