"""Translate the Java regular expressions in botocore models into Python `re` patterns.

AWS validates `pattern` constraints with java.util.regex and full-string matching
(`String.matches`), so a model pattern must be translated before Python can apply it: `\\p{L}`
classes, `\\Q..\\E`, `\\z`, surrogate-pair escapes, mid-pattern `(?i)`, class escapes followed by a
literal `-`. Translation is best effort: `compile_java` returns None for anything it cannot express,
and the caller then skips that constraint rather than rejecting valid input.
"""
from __future__ import annotations

import re
import unicodedata
import warnings
from functools import lru_cache

__all__ = ["compile_java", "translate"]


class Untranslatable(ValueError):
    """The Java pattern uses a feature this translator does not cover."""


_ASCII_PROPS = {
    "Lower": "a-z",
    "Upper": "A-Z",
    "ASCII": "\\x00-\\x7f",
    "Alpha": "a-zA-Z",
    "Digit": "0-9",
    "Alnum": "a-zA-Z0-9",
    "Punct": "!-/:-@\\[-`{-~",
    "Graph": "!-~",
    "Print": " -~",
    "Blank": " \\t",
    "Cntrl": "\\x00-\\x1f\\x7f",
    "XDigit": "0-9a-fA-F",
    "Space": " \\t\\n\\x0b\\f\\r",
    "all": "\\x00-\\U0010ffff",
}
_HSPACE = " \\t\\xa0\\u1680\\u180e\\u2000-\\u200a\\u202f\\u205f\\u3000"
# java.lang.Character-style names mapped to general categories (approximation of their definitions).
_CHAR_PROPS = {
    "IsAlphabetic": ("L", "Nl"),
    "IsLetter": ("L",),
    "IsDigit": ("Nd",),
    "IsUppercase": ("Lu",),
    "IsLowercase": ("Ll",),
    "IsPunctuation": ("P",),
    "IsWhiteSpace": ("Z",),
    "IsWhitespace": ("Z",),
    "IsControl": ("Cc",),
}


@lru_cache(maxsize=1)
def _category_ranges() -> dict[str, list[tuple[int, int]]]:
    """Code point ranges per Unicode general category; one pass (~0.15 s), only when first needed."""
    cats: dict[str, list[tuple[int, int]]] = {}
    prev, start = None, 0
    category = unicodedata.category
    for cp in range(0x110000):
        cat = category(chr(cp))
        if cat != prev:
            if prev is not None:
                cats.setdefault(prev, []).append((start, cp - 1))
            prev, start = cat, cp
    cats.setdefault(prev or "Cn", []).append((start, 0x10FFFF))
    return cats


def _cp(cp: int) -> str:
    return f"\\x{cp:02x}" if cp < 0x100 else (f"\\u{cp:04x}" if cp < 0x10000 else f"\\U{cp:08x}")


@lru_cache(maxsize=None)
def _property_body(name: str) -> str:
    """Character-class body (no brackets) for a Java `\\p{name}`."""
    if name in _ASCII_PROPS:
        return _ASCII_PROPS[name]
    if name.startswith("Is") and name[2:] in _ASCII_PROPS:
        return _ASCII_PROPS[name[2:]]
    cats: tuple[str, ...]
    if name in _CHAR_PROPS:
        cats = _CHAR_PROPS[name]
        if name in ("IsWhiteSpace", "IsWhitespace"):
            return _property_body("Z") + "\\t\\n\\x0b\\f\\r\\x1c-\\x1f"
    else:
        bare = name[2:] if name.startswith("Is") else name
        bare = bare[len("general_category="):] if bare.startswith("general_category=") else bare
        cats = (bare,)
    table = _category_ranges()
    ranges: list[tuple[int, int]] = []
    for cat in cats:
        if len(cat) == 1:
            keys = [k for k in table if k[0] == cat]
        elif cat in table:
            keys = [cat]
        else:
            keys = []
        if not keys:
            raise Untranslatable(f"unknown property {name}")
        for k in keys:
            ranges.extend(table[k])
    ranges.sort()
    merged: list[list[int]] = []
    for lo, hi in ranges:
        if merged and lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return "".join(_cp(lo) if lo == hi else f"{_cp(lo)}-{_cp(hi)}" for lo, hi in merged)


_CLASS_ESCAPES = set("dDsSwW")
_SIMPLE_ESCAPES = {"z": "\\Z", "Z": "(?=\\n?\\Z)", "e": "\\x1b", "R": "(?:\\r\\n|[\\n\\x0b\\f\\r\\x85\\u2028\\u2029])"}


class _Translator:
    """One pass over a Java pattern, emitting the Python equivalent."""

    def __init__(self, src: str) -> None:
        self.s = src
        self.i = 0
        self.flags = ""

    def run(self) -> str:
        out: list[str] = []
        s = self.s
        while self.i < len(s):
            c = s[self.i]
            if c == "\\":
                out.append(self._escape_outside())
            elif c == "[":
                out.append(self._char_class())
            elif c == "(" and s.startswith("(?", self.i):
                out.append(self._group_open())
            else:
                out.append(c)
                self.i += 1
        body = "".join(out)
        return (f"(?{self.flags})" if self.flags else "") + body

    # -- outside character classes -------------------------------------------------------------
    def _escape_outside(self) -> str:
        s, i = self.s, self.i
        if i + 1 >= len(s):
            raise Untranslatable("trailing backslash")
        c = s[i + 1]
        if c == "Q":
            end = s.find("\\E", i + 2)
            lit = s[i + 2:] if end < 0 else s[i + 2:end]
            self.i = len(s) if end < 0 else end + 2
            return re.escape(lit)
        if c in "pP":
            name = self._prop_name()
            return ("[^" if c == "P" else "[") + _property_body(name) + "]"
        if c in "hH":
            self.i += 2
            return ("[^" if c == "H" else "[") + _HSPACE + "]"
        if c in _SIMPLE_ESCAPES:
            self.i += 2
            return _SIMPLE_ESCAPES[c]
        if c in "ux":
            return self._codepoint_escape()
        if c == "c" or c == "G":
            raise Untranslatable(f"\\{c}")
        self.i += 2
        return "\\" + c

    def _prop_name(self) -> str:
        s, i = self.s, self.i
        if i + 2 < len(s) and s[i + 2] == "{":
            end = s.find("}", i + 3)
            if end < 0:
                raise Untranslatable("unterminated \\p{")
            self.i = end + 1
            return s[i + 3:end]
        self.i = i + 3  # one-letter form \pL
        return s[i + 2:i + 3]

    def _codepoint_escape(self) -> str:
        """\\uXXXX (combining UTF-16 surrogate pairs) and \\x{h..h}."""
        s, i = self.s, self.i
        if s[i + 1] == "x":
            if s.startswith("{", i + 2):
                end = s.find("}", i + 3)
                self.i = end + 1
                return _cp(int(s[i + 3:end], 16))
            self.i = i + 4
            return s[i:i + 4]
        hi = int(s[i + 2:i + 6], 16)
        self.i = i + 6
        if 0xD800 <= hi <= 0xDBFF and s.startswith("\\u", self.i):
            lo = int(s[self.i + 2:self.i + 6], 16)
            if 0xDC00 <= lo <= 0xDFFF:
                self.i += 6
                return _cp(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
        return _cp(hi)

    def _group_open(self) -> str:
        s, i = self.s, self.i
        m = re.compile(r"\(\?<([A-Za-z][A-Za-z0-9]*)>").match(s, i)
        if m:
            self.i = m.end()
            return f"(?P<{m.group(1)}>"
        m = re.compile(r"\(\?([a-zA-Z]+)\)").match(s, i)
        if m:  # inline flags: Python only allows them at the start -> hoist (over-applies, best effort)
            self.i = m.end()
            for f in m.group(1):
                if f not in "imsx":
                    raise Untranslatable(f"flag {f}")
                if f not in self.flags:
                    self.flags += f
            return ""
        self.i += 2
        return "(?"

    # -- character classes -----------------------------------------------------------------------
    def _char_class(self) -> str:
        """Parse `[...]` (with Java's nested unions); emit a Python class or an equivalent group."""
        negated, positive, negprops = self._class_items()
        pos = "".join(positive)
        if not negprops:
            return ("[^" if negated else "[") + pos + "]"
        if negated:
            if len(negprops) != 1:
                raise Untranslatable("negated class with several \\P")
            return f"(?:(?![{pos}])[{negprops[0]}])" if pos else f"[{negprops[0]}]"
        alts = [f"[^{n}]" for n in negprops] + ([f"[{pos}]"] if pos else [])
        return "(?:" + "|".join(alts) + ")"

    def _class_items(self) -> tuple[bool, list[str], list[str]]:
        s = self.s
        self.i += 1
        negated = s.startswith("^", self.i)
        if negated:
            self.i += 1
        items: list[str] = []
        negprops: list[str] = []
        first = True
        after_class_escape = False
        while True:
            if self.i >= len(s):
                raise Untranslatable("unterminated class")
            c = s[self.i]
            if c == "]" and not first:
                self.i += 1
                return negated, items, negprops
            first = False
            was_class_escape = after_class_escape
            after_class_escape = False
            if c == "[":
                inner_neg, inner, inner_negprops = self._class_items()
                if inner_neg or inner_negprops:
                    raise Untranslatable("negated nested class")
                items.extend(inner)
                after_class_escape = True
            elif s.startswith("&&", self.i):
                raise Untranslatable("class intersection")
            elif c == "\\":
                nxt = s[self.i + 1] if self.i + 1 < len(s) else ""
                if nxt in "pP":
                    name = self._prop_name()
                    (negprops if nxt == "P" else items).append(_property_body(name))
                    after_class_escape = True
                elif nxt in "hH":
                    if nxt == "H":
                        raise Untranslatable("\\H in class")
                    self.i += 2
                    items.append(_HSPACE)
                    after_class_escape = True
                elif nxt in "ux":
                    items.append(self._codepoint_escape())
                elif nxt == "Q":
                    end = s.find("\\E", self.i + 2)
                    lit = s[self.i + 2:end]
                    self.i = end + 2
                    items.append("".join("\\" + ch if not ch.isalnum() else ch for ch in lit))
                else:
                    self.i += 2
                    items.append("\\" + nxt)
                    after_class_escape = nxt in _CLASS_ESCAPES
            elif c == "-" and was_class_escape and not s.startswith("]", self.i + 1):
                self.i += 1
                items.append("\\-")
            elif c in "&~|[":
                self.i += 1
                items.append("\\" + c)  # literal in Java here; Python warns about doubled set operators
            else:
                self.i += 1
                items.append(c)


def translate(java_pattern: str) -> str:
    """Python source for a Java regex; raises Untranslatable for unsupported constructs."""
    return _Translator(java_pattern).run()


@lru_cache(maxsize=4096)
def compile_java(java_pattern: str) -> re.Pattern[str] | None:
    """Compiled Python regex for a model pattern (use `.fullmatch`), or None if not translatable."""
    try:
        source = translate(java_pattern)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return re.compile(source, re.ASCII)
    except (Untranslatable, re.error, ValueError, IndexError, OverflowError):
        return None
