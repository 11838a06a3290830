"""CloudWatch Logs filter patterns for unstructured text, compiled to substring tests.

Supported: empty (match all), terms (all must appear, case-sensitive), "quoted phrases",
`?a ?b` (any of), and `-term` exclusions next to required terms. Anything else (JSON `{ $.x = 1 }`,
space-delimited `[a, b]`, regex `%re%`, `?` mixed with plain terms) is matched as one literal
substring, so such a pattern never errors and never matches more than it says.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(r'([?-]?)(?:"((?:[^"\\]|\\.)*)"|([^\s"]+))')


@dataclass(frozen=True, slots=True)
class TextFilter:
    all_of: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()
    none_of: tuple[str, ...] = ()

    def matches(self, message: str) -> bool:
        return (all(t in message for t in self.all_of)
                and (not self.any_of or any(t in message for t in self.any_of))
                and not any(t in message for t in self.none_of))


def compile_pattern(pattern: str | None) -> TextFilter:
    text = (pattern or "").strip()
    if not text:
        return TextFilter()
    if text[0] in "{[%":
        return TextFilter(all_of=(text,))
    terms: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        m = _TOKEN.match(text, pos)
        if m is None:  # an unbalanced quote
            return TextFilter(all_of=(text,))
        op, quoted, bare = m.group(1), m.group(2), m.group(3)
        term = re.sub(r"\\(.)", r"\1", quoted) if quoted is not None else bare
        if not term:
            return TextFilter(all_of=(text,))
        terms.append((op, term))
        pos = m.end()
    ops = {op for op, _ in terms}
    if ops == {"?"}:
        return TextFilter(any_of=tuple(t for _, t in terms))
    if "?" in ops:
        return TextFilter(all_of=(text,))
    return TextFilter(all_of=tuple(t for op, t in terms if op == ""),
                      none_of=tuple(t for op, t in terms if op == "-"))
