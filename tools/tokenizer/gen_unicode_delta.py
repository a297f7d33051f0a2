#!/usr/bin/env python3
"""Generates coordinator/tokenizer/bpe_unicode16_delta.h.

Why: tiktoken 0.14.0 matches the o200k pattern with fancy-regex on regex-syntax 0.8.11, whose
Unicode tables are version 16.0.0. Debian 12's PCRE2 10.42 carries Unicode 14.0.0 tables, so the
~9.5k code points assigned in Unicode 15, 15.1 and 16 (Kawi, CJK Ext. H/I, Garay, ...) are
unassigned ("other") to PCRE2 but letters/marks/numbers to tiktoken, and would pre-tokenize
differently. The pattern only asks five questions of a character besides its identity: upper
(Lu, Lt), lower (Ll), letter of both kinds (Lm, Lo), mark (M), number (N). This script lists,
with their Unicode 16 kind, exactly the code points whose kind differs between the two versions;
the pre-tokenizer matches a copy of the text in which each of them is replaced by a stand-in of
the same kind and UTF-8 length that PCRE2 already knows. It also checks that no code point
changes kind otherwise (then a stand-in could not express the change).

Whitespace is not part of the delta: Rust's `\s` is Unicode White_Space and PCRE2's `\s`
(with UCP) is the same set plus U+180E, which the pre-tokenizer handles the same way.

Inputs: the Unicode 16 tables that regex-syntax 0.8.11 ships (general_category.rs and
perl_space.rs in regex-syntax/src/unicode_tables of github.com/rust-lang/regex at tag
regex-syntax-0.8.11), and this Python's unicodedata, which must be 14.0.0 (PCRE2 10.42's version).
Usage:
  tools/.venv/bin/python tools/tokenizer/gen_unicode_delta.py --tables DIR [--out FILE]
The golden test (tests/data/tokenizer/corpus.jsonl, sections unicode16 and whitespace_chars)
checks the result against tiktoken itself.
"""
import argparse
import pathlib
import re
import sys
import unicodedata

REPO = pathlib.Path(__file__).resolve().parents[2]
CHAR = r"((?:\\u\{[0-9a-f]+\}|\\.|[^'\\]))"
ESCAPES = {"\\t": 9, "\\n": 10, "\\r": 13, "\\'": 39, "\\\\": 92, '\\"': 34, "\\0": 0}


def code_point(tok):
    if tok.startswith("\\u{"):
        return int(tok[3:-1], 16)
    if tok.startswith("\\"):
        return ESCAPES[tok]
    return ord(tok)


def read_table(text, name):
    m = re.search(r"pub const %s: &'static \[\(char, char\)\] =\s*&\[(.*?)\];" % name, text, re.S)
    if not m:
        sys.exit(f"table {name} not found")
    out = set()
    for a, b in re.findall(r"\('%s', '%s'\)" % (CHAR, CHAR), m.group(1)):
        out.update(range(code_point(a), code_point(b) + 1))
    return out


KINDS = {"Lu": "kUpper", "Lt": "kUpper", "Ll": "kLower", "Lm": "kLetter", "Lo": "kLetter",
         "Mn": "kMark", "Mc": "kMark", "Me": "kMark", "Nd": "kNumber", "Nl": "kNumber", "No": "kNumber"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tables", required=True, help="regex-syntax/src/unicode_tables directory")
    ap.add_argument("--out", default=str(REPO / "coordinator/tokenizer/bpe_unicode16_delta.h"))
    args = ap.parse_args()
    if unicodedata.unidata_version != "14.0.0":
        sys.exit(f"need unicodedata 14.0.0 (PCRE2 10.42), have {unicodedata.unidata_version}")
    gc = (pathlib.Path(args.tables) / "general_category.rs").read_text()
    if "Unicode version: 16.0.0." not in gc:
        sys.exit("general_category.rs is not the Unicode 16.0.0 table")
    names = {"Lu": "UPPERCASE_LETTER", "Ll": "LOWERCASE_LETTER", "Lt": "TITLECASE_LETTER",
             "Lm": "MODIFIER_LETTER", "Lo": "OTHER_LETTER", "Mn": "NONSPACING_MARK",
             "Mc": "SPACING_MARK", "Me": "ENCLOSING_MARK", "Nd": "DECIMAL_NUMBER",
             "Nl": "LETTER_NUMBER", "No": "OTHER_NUMBER"}
    kind16 = {}
    for cat, table in names.items():
        for cp in read_table(gc, table):
            kind16[cp] = KINDS[cat]
    delta = {}
    for cp in range(0x110000):
        old = KINDS.get(unicodedata.category(chr(cp)))
        new = kind16.get(cp)
        if old == new:
            continue
        if old is not None or cp < 0x800:
            sys.exit(f"U+{cp:04X} changes from {old} to {new}; a same-length stand-in cannot express it")
        delta[cp] = new
    # Stand-ins: characters PCRE2 already classifies, with the same kind in Unicode 14 and 16,
    # for each kind and UTF-8 length (every delta code point is >= U+0800: 3 or 4 bytes).
    stand_ins = {"kUpper": (0x10A0, 0x10400), "kLower": (0x1D00, 0x10428), "kLetter": (0x4E00, 0x20000),
                 "kMark": (0x0900, 0x101FD), "kNumber": (0x0966, 0x104A0)}
    for kind, cps in stand_ins.items():
        for cp, length in zip(cps, (3, 4)):
            old = KINDS.get(unicodedata.category(chr(cp)))
            if old != kind or kind16.get(cp) != kind or len(chr(cp).encode()) != length:
                sys.exit(f"bad stand-in U+{cp:04X} for {kind}")
    white_space = read_table((pathlib.Path(args.tables) / "perl_space.rs").read_text(), "WHITE_SPACE")
    # PCRE2 10.42's \s with UCP, probed over all code points: White_Space plus U+180E.
    pcre2_space = white_space | {0x180E}
    if 0x180E in white_space or 0x200B in pcre2_space or KINDS.get(unicodedata.category("\u200b")) \
            or 0x200B in kind16:
        sys.exit("U+180E / U+200B assumptions do not hold")
    items = []
    for cp in sorted(delta):
        if items and items[-1][1] == cp - 1 and items[-1][2] == delta[cp]:
            items[-1][1] = cp
        else:
            items.append([cp, cp, delta[cp]])
    out = [
        "// GENERATED by tools/tokenizer/gen_unicode_delta.py; do not edit.",
        "// Code points that PCRE2 10.42 (Unicode 14.0.0) sees as unassigned but tiktoken's regex",
        "// (regex-syntax 0.8.11, Unicode 16.0.0) as letters, marks or numbers, with their Unicode 16",
        "// kind. See Pretokenizer for how they are used.",
        "#pragma once",
        "",
        "#include <cstdint>",
        "",
        "namespace gptoss::unicode16 {",
        "",
        "// What the o200k pattern can tell apart: upper = Lu|Lt, lower = Ll, letter = Lm|Lo,",
        "// mark = M, number = N.",
        "enum class Kind : uint8_t { kUpper, kLower, kLetter, kMark, kNumber };",
        "",
        "struct Addition {",
        "  uint32_t first, last;  // code point range, inclusive",
        "  Kind kind;",
        "};",
        "",
        f"// {len(delta)} code points in {len(items)} ranges, sorted.",
        "inline constexpr Addition kAdditions[] = {",
    ]
    for a, b, k in items:
        out.append(f"    {{0x{a:05X}, 0x{b:05X}, Kind::{k}}},")
    out += ["};", "",
            "// Stand-ins by kind (index = Kind) and UTF-8 length: characters PCRE2 already classifies",
            "// as that kind (same kind in Unicode 14 and 16).",
            "inline constexpr uint32_t kStandIn3[] = {%s};" % ", ".join(f"0x{stand_ins[k][0]:04X}" for k in stand_ins),
            "inline constexpr uint32_t kStandIn4[] = {%s};" % ", ".join(f"0x{stand_ins[k][1]:05X}" for k in stand_ins),
            "",
            "// PCRE2's \\s (with UCP) is Unicode White_Space plus U+180E MONGOLIAN VOWEL SEPARATOR; Rust's",
            "// \\s is White_Space. U+200B ZERO WIDTH SPACE (3 bytes, Cf) is neither, like U+180E in Rust.",
            "inline constexpr uint32_t kPcre2OnlySpace = 0x180E;",
            "inline constexpr uint32_t kNonSpaceStandIn = 0x200B;",
            "", "}  // namespace gptoss::unicode16", ""]
    pathlib.Path(args.out).write_text("\n".join(out))
    print(f"wrote {args.out}: {len(delta)} code points, {len(items)} ranges")


if __name__ == "__main__":
    main()
