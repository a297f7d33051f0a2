#!/usr/bin/env python3
"""Writes the tokenizer fixtures under tests/data/tokenizer/, with tiktoken as the oracle.

tiktoken's o200k_harmony constructor (tiktoken_ext.openai_public) is used unchanged, except that
its ranks file is the committed copy coordinator/tokenizer/assets/o200k_base.tiktoken (same
sha256 check). Outputs:
  corpus.jsonl        one case per line: {"name", "text" | ("repeat", "count"), "ids" | "ids_rle"}
                      with the ids of tiktoken's encode_ordinary (specials are never produced);
                      ids_rle is [id, count, id, count, ...] (used for the long runs).
  meta.json           tiktoken version, pat_str, n_vocab, every special-token name -> id, and the
                      bytes tiktoken decodes each special id to.
  utf8_replace.jsonl  byte strings with Python's longest valid UTF-8 prefix and
                      bytes.decode("utf-8", "replace") (U+FFFD per maximal subpart).
  sha256.jsonl        hashlib SHA-256 vectors around the 64-byte block boundaries.
  o200k_harmony.tokenizer.json.gz
                      transformers' TikTokenConverter output (the tokenizer.json format that
                      openai/gpt-oss ships), gzip'd: 28 MB raw, 4.5 MB compressed.
Usage: tools/.venv/bin/python tools/tokenizer/make_fixtures.py
"""
import gzip
import hashlib
import io
import json
import pathlib
import random
import re
import sys
import unicodedata

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
from corpus_text import CODE, PROSE  # noqa: E402

RANKS = REPO / "coordinator/tokenizer/assets/o200k_base.tiktoken"
DELTA_HEADER = REPO / "coordinator/tokenizer/bpe_unicode16_delta.h"
OUT = REPO / "tests/data/tokenizer"
# Our own sources, as realistic code (a snapshot is stored in the corpus; later edits don't matter).
OWN_FILES = [
    "CMakeLists.txt", "kernels/ops.h", "kernels/core/tensor.h", "kernels/core/status.h",
    "kernels/rope_yarn.cc", "worker/model/config.h", "coordinator/tokenizer/bpe.cc",
    "coordinator/tokenizer/bpe_pretokenizer.cc", "coordinator/tokenizer/utf8.cc",
    "tools/cli/flags.cc", "deploy/setup.sh", "tools/setup_oracles.sh",
    "tools/tokenizer/gen_unicode_delta.py",
]


def load_encoding():
    import tiktoken
    import tiktoken.load
    from tiktoken_ext import openai_public

    def local_ranks(url, expected_hash=None):
        assert url.endswith("/o200k_base.tiktoken"), url
        return tiktoken.load.load_tiktoken_bpe(str(RANKS), expected_hash=expected_hash)

    openai_public.load_tiktoken_bpe = local_ranks
    return tiktoken.Encoding(**openai_public.o200k_harmony())


def assigned(cp):
    return not (0xD800 <= cp <= 0xDFFF) and unicodedata.category(chr(cp)) != "Cn"


# ---------------------------------------------------------------------------------------------
# Corpus sections. Each yields (name, text) or (name, (unit, count)) for long repeats.


def prose_and_code():
    for k, v in PROSE.items():
        yield f"prose/{k}", v
    yield "prose/all_joined", "\n\n".join(PROSE.values())
    for k, v in CODE.items():
        yield f"code/{k}", v
    for path in OWN_FILES:
        p = REPO / path
        if p.exists():
            yield f"code/repo/{path}", p.read_text()[:24000]
    yield "code/nfd_vietnamese", unicodedata.normalize("NFD", PROSE["vietnamese"])
    yield "code/nfkc_fullwidth", unicodedata.normalize("NFKC", PROSE["fullwidth"])


WS_UNITS = [" ", "\t", "\n", "\r", "\r\n", "\u00a0", "\u3000", "\u2028", "\u2029", "\u0085",
            "\u180e", "\u200b", "\x0b", "\x0c", "\x1c", "\u2003", "\u202f", "\u205f", "\ufeff"]


def whitespace(rng):
    for n in [1, 2, 3, 4, 7, 8, 15, 16, 17, 31, 64, 200, 1000]:
        for unit in [" ", "\t", "\n", "\r\n", " \n", "\n ", "\u3000"]:
            yield f"ws/run{n}/{unit!r}", f"x{unit * n}y{unit * n}.{unit * n}1{unit * n}"
            yield f"ws/edge{n}/{unit!r}", f"{unit * n}word{unit * n}"
    for i in range(200):
        parts = []
        for _ in range(rng.randint(1, 25)):
            r = rng.random()
            if r < 0.5:
                parts.append(rng.choice(WS_UNITS) * rng.randint(1, 4))
            elif r < 0.7:
                parts.append(rng.choice(["a", "Word", "UPPER", "x1", "42", "!?", "'s", "é", "中", "😀"]))
            else:
                parts.append(rng.choice(["\n", " ", "\t"]) * rng.randint(1, 6))
        yield f"ws/random/{i}", "".join(parts)


def digits(rng):
    for n in range(1, 25):
        s = "".join(str((i * 7 + 3) % 10) for i in range(n))
        yield f"digits/len{n}", f"{s} x{s}y -{s} {s}.{s[:3]} a{s}"
    unicode_digits = ["٠١٢٣٤٥٦٧٨٩", "۰۱۲۳۴۵۶۷۸۹", "०१२३४५६७८९", "０１２３４５６７８９", "¹²³⁴", "½¾⅓",
                      "ⅠⅡⅢⅫ", "①②③⑳", "𝟎𝟏𝟐𝟑", "፩፪፫", "〇一二三", "𐒠𐒡"]
    for i, d in enumerate(unicode_digits):
        yield f"digits/unicode{i}", f"{d} {d}{d} a{d}b 1{d}2 {d}."
    for i in range(60):
        yield f"digits/random{i}", "".join(
            rng.choice(["1", "23", "456", "7890", ",", ".", " ", "-", "+", "e", "x", "%", "$", "٣", "²"])
            for _ in range(rng.randint(3, 30)))


def contractions():
    suffixes = ["s", "t", "re", "ve", "m", "ll", "d"]
    prefixes = ["it", "IT", "It", "iT", "x", "", " ", "1", "é", "É", "ǅ", "Σ", "中", "ß", "'", "-"]
    after = ["", " ok", "x", "X", "'", "s", "1", "\n"]
    for suf in suffixes:
        variants = {"".join(c.upper() if (mask >> i) & 1 else c for i, c in enumerate(suf))
                    for mask in range(1 << len(suf))}
        for v in sorted(variants):
            items = [f"{p}'{v}{a}" for p in prefixes for a in after]
            yield f"contractions/{v}/spaced", " ".join(items)
            yield f"contractions/{v}/joined", "".join(items)
    yield "contractions/long_s", "it'ſ IT'ſ it'ſs ſ 'ſ x'ſt"
    yield "contractions/kelvin_etc", "it'K it'\u212a it’s it‘s it`s it''s it's's don't've y'all"
    yield "contractions/sentences", ("I'm sure you're right, but they've said we'd go and she'll stay. "
                                      "I'M SURE YOU'RE RIGHT, BUT THEY'VE SAID WE'D GO AND SHE'LL STAY. "
                                      "It's John's dog's bone; the dogs' bones. O'Neil, rock'n'roll, '90s, 'tis.")


EMOJI = ["👨‍👩‍👧‍👦", "👩🏽‍💻", "🏳️‍🌈", "🏴‍☠️", "🇺🇸🇫🇷🇯🇵🇩🇪", "1️⃣#️⃣*️⃣", "👍🏻👍🏼👍🏽👍🏾👍🏿",
         "🏴󠁧󠁢󠁥󠁮󠁧󠁿", "I ❤️ NY", "😀😃😄😁😆", "☺︎☺️", "a😀b", "😀 smile", "🧑‍🤝‍🧑", "👁️‍🗨️",
         "🫠🫡🫢", "⌚⌛⏰", "🀄🃏", "©️®️™️", "🐈‍⬛", "❤️‍🔥", "🧔🏻‍♂️", "🤷🏽‍♀️"]


def emoji(rng):
    for i, e in enumerate(EMOJI):
        yield f"emoji/fixed{i}", f"{e} x{e}y {e}{e} {e}."
    pool = list(range(0x1F300, 0x1F650)) + list(range(0x1F900, 0x1FA00)) + list(range(0x2600, 0x2700))
    for i in range(120):
        parts = []
        for _ in range(rng.randint(1, 12)):
            parts.append(chr(rng.choice(pool)))
            r = rng.random()
            if r < 0.2:
                parts.append("\u200d")
            elif r < 0.35:
                parts.append(chr(rng.randint(0x1F3FB, 0x1F3FF)))
            elif r < 0.5:
                parts.append("\ufe0f")
            elif r < 0.65:
                parts.append(rng.choice([" ", "a", "Ab", "1", "\n", "!"]))
        yield f"emoji/random{i}", "".join(parts)


MARK_RANGES = [(0x300, 0x36F), (0x1AB0, 0x1ACE), (0x1DC0, 0x1DFF), (0x20D0, 0x20F0), (0xFE20, 0xFE2F),
               (0x591, 0x5C7), (0x64B, 0x65F), (0x93A, 0x94F), (0xE31, 0xE3A)]


def marks(rng):
    yield "marks/zalgo", "Z̸̢̧̛̪̫̻͎͎̟̼̐̀̈́̿a̵̡̛̲̣̺͎͌̈́̽l̶̢̨̻̫̥̑̈́g̷̡̘̜̪̈́̈́͝ơ̴̧̪̘̦̓̏ t̷̬̀e̶̮̓x̵̱̀t̴̰̔"
    yield "marks/leading", "\u0301abc \u0301 1\u0301 !\u0301 \u0301\u0302\u0303x \n\u0301 A\u0301B a\u20dd \u20ddb"
    yield "marks/hebrew", "בְּרֵאשִׁית בָּרָא אֱלֹהִים"
    yield "marks/devanagari", "क्षत्रिय ज्ञान श्रीमान् कि की कु कू"
    yield "marks/thai", "น้ำ ก่ ก้ ก๊ ก๋ กิ่"
    yield "marks/enclosing", "1\u20e3 a\u20dd \u20de x\u0488y"
    yield "marks/upper_lower_mix", "ÀÉÎÕÜ àéîõü A\u0300E\u0301I\u0302 a\u0300e\u0301 ǅǈǋ ǲ ᾈᾉ"
    for i in range(80):
        out = []
        for _ in range(rng.randint(1, 20)):
            r = rng.random()
            if r < 0.5:
                out.append(rng.choice("abcXYZéΣдא中1 '\n"))
            lo, hi = rng.choice(MARK_RANGES)
            out.append("".join(chr(rng.randint(lo, hi)) for _ in range(rng.randint(1, 3))))
        yield f"marks/random{i}", "".join(out)


def scripts(rng):
    """One line per 128-code-point chunk with assigned characters: pseudo-words from the chunk."""
    separators = [" ", " ", " ", "", ", ", "\n", "-", "1", ". ", "'s "]
    for base in range(0, 0x110000, 128):
        chars = [chr(cp) for cp in range(base, base + 128) if assigned(cp)]
        if len(chars) < 4:
            continue
        if base >= 0x20000 and base % 4096 != 0:  # the CJK extension planes: sample every 32nd chunk
            continue
        words = []
        for _ in range(8):
            words.append("".join(rng.choice(chars) for _ in range(rng.randint(1, 6))))
            words.append(rng.choice(separators))
        yield f"scripts/U+{base:05X}", "".join(words)
    unassigned = [0x378, 0x5FF, 0xFFFE, 0xFFFF, 0xE01F0, 0x10FFFF, 0x2FFFF, 0x40000, 0x1FFFE]
    yield "scripts/unassigned", " ".join(f"a{chr(c)}b {chr(c)}{chr(c)} 1{chr(c)}" for c in unassigned)
    yield "scripts/private_use", "\ue000\ue001 x\uf8ff \U000f0000\U0010fffd a\U000f0001b"
    yield "scripts/controls", "".join(chr(c) for c in range(0, 32)) + "\x7f\x80\x9f a\x00b \x00\x00"


def random_mix(rng):
    for i in range(150):
        s = []
        for _ in range(rng.randint(1, 40)):
            cp = rng.randint(0, 0x10FFFF)
            while 0xD800 <= cp <= 0xDFFF:
                cp = rng.randint(0, 0x10FFFF)
            s.append(chr(cp))
        yield f"random/anycp{i}", "".join(s)
    atoms = ["the", " The", "THE", "x", " ", "  ", "\n", "\r\n", "\t", "1", "22", "333", "4444", ",", ".",
             "!", "?", "'", "'s", "'LL", "-", "/", "//", "\\", "(", ")", "{", "}", "<|start|>", "é",
             "中文", "日本", "한국", "😀", "👍🏽", "\u200d", "\u0301", "\u00a0", "Ω", "ß", "ǅ", "ـ", "ー",
             "ㅤ", "\u3000", "ｱ", "𝔸", "ℕ", "…", "—", "“", "”", "∑", "√"]
    for i in range(400):
        yield f"random/atoms{i}", "".join(rng.choice(atoms) for _ in range(rng.randint(1, 60)))


def delta_ranges():
    """The Unicode 16 additions listed in bpe_unicode16_delta.h: [(first, last, kind)]."""
    return [(int(a, 16), int(b, 16), k) for a, b, k in
            re.findall(r"\{0x([0-9A-F]+), 0x([0-9A-F]+), Kind::(\w+)\}", DELTA_HEADER.read_text())]


def unicode16(rng):
    """Code points PCRE2 10.42 does not know (Unicode 15/16), and whitespace, in many contexts."""
    cps = set()
    for a, b, _ in delta_ranges():
        cps |= {a, b} | {rng.randint(a, b) for _ in range(3)}
    for cp in sorted(cps):
        c = chr(cp)
        ctx = ["a" + c, c + "a", "A" + c, c + "A", " " + c, c + c, "1" + c, c + "1", "'" + c + "'s",
               c + "'S", "\n" + c, "x" + c + "y", "!" + c, c + "\u0301"]
        yield f"unicode16/U+{cp:05X}", " ".join(ctx) + " " + "".join(ctx)
    for cp in [ord(c) for c in WS_UNITS if len(c) == 1] + [0x1680, 0x2000, 0x200a, 0x2060, 0x1d, 0x1e, 0x1f]:
        c = chr(cp)
        ctx = ["a" + c + "b", c * 3 + "a", "a" + c * 3, c + "\n", "\n" + c, c + " x", " " + c + "x",
               "!" + c + "!", c]
        yield f"whitespace_chars/U+{cp:04X}", " ".join(ctx) + "|" + "".join(ctx)


def long_runs(rng):
    yield "long/a", ("a", 100000)
    yield "long/space", (" ", 100000)
    yield "long/newline", ("\n", 100000)
    yield "long/tab", ("\t", 50000)
    yield "long/crlf", ("\r\n", 30000)
    yield "long/e_acute", ("é", 50000)
    yield "long/ab", ("ab", 50000)
    yield "long/grinning", ("😀", 25000)
    yield "long/zhong", ("中", 20000)
    yield "long/bang", ("!", 100000)
    yield "long/zero", ("0", 30000)
    yield "long/space_then_word", ("  " * 20000 + "x", 1)
    yield "long/random_lower", ("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(40000)), 1)
    yield "long/random_ab", ("".join(rng.choice("ab") for _ in range(40000)), 1)
    yield "long/random_upper_lower", ("".join(rng.choice("aAbBzZ") for _ in range(30000)), 1)


def corpus_cases():
    rng = random.Random(20261123)
    for gen in (prose_and_code(), whitespace(rng), digits(rng), contractions(), emoji(rng), marks(rng),
                scripts(rng), random_mix(rng), unicode16(rng), long_runs(rng)):
        yield from gen


# ---------------------------------------------------------------------------------------------


def write_corpus(enc):
    lines = []
    names = set()
    for name, value in corpus_cases():
        assert name not in names, name
        names.add(name)
        if isinstance(value, tuple):
            unit, count = value
            text = unit * count
            record = {"name": name, "repeat": unit, "count": count} if count > 1 else {"name": name, "text": text}
        else:
            text = value
            record = {"name": name, "text": text}
        ids = enc.encode_ordinary(text)
        assert enc.decode_bytes(ids) == text.encode("utf-8"), name
        # Long runs repeat the same few ids thousands of times: store [id, count, ...] runs then.
        rle = []
        for i in ids:
            if rle and rle[-2] == i:
                rle[-1] += 1
            else:
                rle += [i, 1]
        if len(rle) < len(ids) // 4:
            record["ids_rle"] = rle
        else:
            record["ids"] = ids
        lines.append(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
    (OUT / "corpus.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


def write_meta(enc):
    import tiktoken
    specials = sorted(enc._special_tokens.items(), key=lambda kv: (kv[1], kv[0]))
    meta = {
        "oracle": f"tiktoken {tiktoken.__version__}",
        "encoding": enc.name,
        "pat_str": enc._pat_str,
        "n_vocab": enc.n_vocab,
        "ranks_sha256": hashlib.sha256(RANKS.read_bytes()).hexdigest(),
        "special_tokens": [[name, i] for name, i in specials],
        "special_decode": {str(i): enc.decode_single_token_bytes(i).decode("utf-8")
                           for i in sorted(set(enc._special_tokens.values()))},
    }
    (OUT / "meta.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def write_utf8_cases():
    rng = random.Random(7)
    cases = []
    for b in range(256):
        cases += [bytes([b]), bytes([b, 0x41]), bytes([b, 0x80]), bytes([b, 0x80, 0x80]), bytes([b, 0xA0, 0x80, 0x80])]
    edges = ["E0A080", "E09F80", "ED9FBF", "EDA080", "EFBFBF", "F0908080", "F08FBFBF", "F48FBFBF",
             "F4908080", "C280", "C180", "DFBF", "E180", "F1808080", "F3BFBFBF", "F5808080"]
    for e in edges:
        b = bytes.fromhex(e)
        for k in range(1, len(b) + 1):
            cases += [b[:k], b"x" + b[:k] + b"y", b[:k] * 2]
    alphabet = [0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1,
                0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF]
    for _ in range(1500):
        cases.append(bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 14))))
    with open(OUT / "utf8_replace.jsonl", "w") as f:
        for b in cases:
            valid = len(b)
            while True:
                try:
                    b[:valid].decode("utf-8")
                    break
                except UnicodeDecodeError as e:
                    valid = e.start
            f.write(json.dumps({"hex": b.hex(), "valid_prefix": valid,
                                "replaced": b.decode("utf-8", "replace")}) + "\n")
    return len(cases)


def write_sha256_cases():
    rng = random.Random(256)
    with open(OUT / "sha256.jsonl", "w") as f:
        for n in list(range(0, 131)) + [1000, 4097]:
            data = bytes(rng.randrange(256) for _ in range(n))
            f.write(json.dumps({"hex": data.hex(), "sha256": hashlib.sha256(data).hexdigest()}) + "\n")


def write_hf_tokenizer_json(enc):
    from transformers.convert_slow_tokenizer import TikTokenConverter
    # TikTokenConverter gives added tokens consecutive ids in the order it is handed them, so pass
    # them ordered by id, one name per id. (Handing it tiktoken's dict gets every id wrong:
    # the base specials come first and "<|reserved_200018|>" is a second name for 200018.)
    names = {}
    for name, i in sorted(enc._special_tokens.items(), key=lambda kv: kv[1]):
        names.setdefault(i, name if name != "<|reserved_200018|>" else None)
        if names[i] is None:
            names[i] = name
    ordered = [names[i] for i in sorted(names)]
    tok = TikTokenConverter(vocab_file=str(RANKS), pattern=enc._pat_str,
                            extra_special_tokens=ordered).converted()
    for i, name in names.items():
        assert tok.token_to_id(name) == i, (name, i, tok.token_to_id(name))
    text = tok.to_str(pretty=True)
    buf = io.BytesIO()
    with gzip.GzipFile(filename="tokenizer.json", mode="wb", fileobj=buf, mtime=0, compresslevel=9) as gz:
        gz.write(text.encode("utf-8"))
    (OUT / "o200k_harmony.tokenizer.json.gz").write_bytes(buf.getvalue())
    return len(text), len(buf.getvalue())


def main():
    if hashlib.sha256(RANKS.read_bytes()).hexdigest() != \
            "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d":
        sys.exit(f"{RANKS} is not o200k_base")
    OUT.mkdir(parents=True, exist_ok=True)
    enc = load_encoding()
    n = write_corpus(enc)
    write_meta(enc)
    u = write_utf8_cases()
    write_sha256_cases()
    raw, gz = write_hf_tokenizer_json(enc)
    print(f"corpus: {n} cases; utf8: {u} cases; tokenizer.json: {raw} bytes, gzip {gz}")
    for p in sorted(OUT.iterdir()):
        print(f"  {p.relative_to(REPO)}: {p.stat().st_size} bytes")


if __name__ == "__main__":
    main()
