"""CloudWatch Logs filter patterns: parse once, then test each event's message.

Three forms, as AWS documents them (FilterAndPatternSyntax):

- unstructured terms: `ERROR timeout` (all), `"quoted phrase"`, `-term` (none of), `?a ?b` (any of), and
  `%regex%`; terms are case-sensitive; an unquoted term may hold letters, digits and `_ . - / @ # +`;
- JSON: `{ $.a.b[0] = "x" && ($.n > 5 || $.flag IS TRUE) }` with `= != < > <= >=`, `*` wildcards and
  `%regex%` values, `IS NULL | TRUE | FALSE`, `EXISTS`, `NOT EXISTS`; a message that is not a JSON object
  never matches;
- space-delimited: `[ip, user, ..., status = 4*, size > 1000]`, where `...` stands for any number of
  fields and a field may carry conditions joined with `&&` / `||`.

A malformed pattern raises InvalidParameterException worded as AWS words it.
"""
from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from .errors import invalid

Predicate = Callable[[str], bool]

_BARE = re.compile(r"[\w.\-/@#+]+")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
MAX_PATTERN = 1024


def bad_pattern(detail: str | None = None) -> Exception:
    return invalid(f"Invalid filter pattern: {detail}" if detail else "Invalid filter pattern")


def bad_chars(chars: str) -> Exception:
    return invalid(f"Invalid character(s) in term '{chars}'")


@dataclass(slots=True)
class Pattern:
    """A compiled filter pattern. `all_of` / `any_of` / `none_of` are plain substrings the store may test
    in SQL first (they are necessary, not sufficient, unless `exact`); `test` is the whole condition."""

    test: Predicate | None = None  # None: every event matches
    all_of: tuple[str, ...] = ()
    any_of: tuple[str, ...] = ()
    none_of: tuple[str, ...] = ()
    exact: bool = True  # the substring tests alone decide

    def matches(self, message: str) -> bool:
        if self.test is not None:
            return self.test(message)
        return (all(t in message for t in self.all_of)
                and (not self.any_of or any(t in message for t in self.any_of))
                and not any(t in message for t in self.none_of))


def compile_pattern(pattern: str | None) -> Pattern:
    text = (pattern or "").strip()
    if not text:
        return Pattern()
    if len(text) > MAX_PATTERN:
        raise invalid(f"1 validation error detected: Value at 'filterPattern' failed to satisfy constraint: "
                      f"Member must have length less than or equal to {MAX_PATTERN}")
    if text[0] == "{":
        if text[-1] != "}":
            raise invalid("If a filter pattern starts with '{' it must end with '}'")
        return Pattern(test=_JsonParser(text[1:-1]).parse(), exact=False)
    if text[0] == "[":
        if text[-1] != "]":
            raise invalid("If a filter pattern starts with '[' it must end with ']'")
        return Pattern(test=_compile_delimited(text[1:-1]), exact=False)
    return _compile_terms(text)


# ---------------------------------------------------------------- unstructured terms

def _regex(body: str) -> re.Pattern[str]:
    if not body:
        raise bad_chars("%%")
    try:
        return re.compile(body)
    except re.error:
        raise bad_pattern() from None


def _read_quoted(text: str, pos: int) -> tuple[str, int]:
    """The string in double quotes starting at text[pos] (backslash escapes the next character)."""
    out: list[str] = []
    i = pos + 1
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
            continue
        if c == '"':
            return "".join(out), i + 1
        out.append(c)
        i += 1
    raise bad_pattern()


def _compile_terms(text: str) -> Pattern:
    all_of: list[str] = []
    any_of: list[str] = []
    none_of: list[str] = []
    regexes: list[tuple[str, re.Pattern[str]]] = []
    pos = 0
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        op = ""
        if text[pos] in "?-" and pos + 1 < len(text) and not text[pos + 1].isspace():
            op, pos = text[pos], pos + 1
        if text[pos] == '"':
            term, pos = _read_quoted(text, pos)
            if not term:
                raise bad_chars('""')
            kind = "text"
        elif text[pos] == "%":
            end = text.find("%", pos + 1)
            if end < 0:
                raise bad_chars("%")
            kind, term, pos = "regex", text[pos + 1:end], end + 1
        else:
            end = pos
            while end < len(text) and not text[end].isspace():
                end += 1
            term = text[pos:end]
            if not _BARE.fullmatch(term):
                raise bad_chars("".join(dict.fromkeys(c for c in term if not _BARE.fullmatch(c))))
            kind, pos = "text", end
        if kind == "regex":
            regexes.append((op, _regex(term)))
        else:
            {"": all_of, "?": any_of, "-": none_of}[op].append(term)
    if not regexes:
        return Pattern(all_of=tuple(all_of), any_of=tuple(any_of), none_of=tuple(none_of))
    need = [r for op, r in regexes if op == ""]
    either = [r for op, r in regexes if op == "?"]
    never = [r for op, r in regexes if op == "-"]

    def test(message: str) -> bool:
        return (all(t in message for t in all_of) and all(r.search(message) for r in need)
                and (not (any_of or either) or any(t in message for t in any_of)
                     or any(r.search(message) for r in either))
                and not any(t in message for t in none_of) and not any(r.search(message) for r in never))

    return Pattern(test=test, all_of=tuple(all_of), none_of=tuple(none_of), exact=False)


# ---------------------------------------------------------------- values shared by JSON and delimited

_MISSING = object()


@dataclass(frozen=True, slots=True)
class _Value:
    kind: str  # "str" | "num" | "regex"
    text: str
    number: float = 0.0
    regex: re.Pattern[str] | None = None


def _compare(actual: Any, op: str, value: _Value, *, strings_only: bool = False) -> bool:
    """One comparison, as CloudWatch applies it: numbers compare as numbers, strings by equality with `*`
    wildcards, %regex% by search; a missing field or a mismatch of types never matches."""
    if actual is _MISSING or actual is None or isinstance(actual, (dict, list)):
        return False
    if value.kind == "regex":
        if isinstance(actual, bool) or op not in ("=", "!="):
            return False
        hit = value.regex is not None and value.regex.search(str(actual)) is not None
        return hit if op == "=" else not hit
    if value.kind == "num":
        if isinstance(actual, bool):
            return False
        if isinstance(actual, str):
            # A JSON string never equals a number; a delimited field is text that may spell one.
            if not strings_only or not _NUMBER.fullmatch(actual):
                return strings_only and op == "!="
        a = float(actual)
        return {"=": a == value.number, "!=": a != value.number, "<": a < value.number, ">": a > value.number,
                "<=": a <= value.number, ">=": a >= value.number}[op]
    if op not in ("=", "!="):
        raise bad_pattern()
    if isinstance(actual, bool):
        s = "true" if actual else "false"
    elif isinstance(actual, (int, float)):
        s = json.dumps(actual)
    else:
        s = str(actual)
    hit = fnmatch.fnmatchcase(s, value.text) if "*" in value.text else s == value.text
    return hit if op == "=" else not hit


# ---------------------------------------------------------------- JSON patterns

_JSON_TOKEN = re.compile(r"""
    (?P<ws>\s+) | (?P<and>&&) | (?P<or>\|\|) | (?P<lp>\() | (?P<rp>\)) |
    (?P<op>!=|<=|>=|=|<|>) | (?P<str>"(?:[^"\\]|\\.)*") | (?P<regex>%[^%]*%) |
    (?P<sel>\$(?:\.[^\s.\[\]=!<>&|()"]+|\[\d+\]|\.\*|\[\*\])*) |
    (?P<word>[^\s=!<>&|()"]+)
""", re.VERBOSE)


class _JsonParser:
    def __init__(self, body: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(body):
            m = _JSON_TOKEN.match(body, pos)
            if m is None:
                raise bad_chars(body[pos])
            pos = m.end()
            if m.lastgroup != "ws":
                self.tokens.append((m.lastgroup or "", m.group()))
        self.i = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.i] if self.i < len(self.tokens) else ("end", "")

    def take(self, kind: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if kind is not None and tok[0] != kind:
            raise bad_pattern()
        self.i += 1
        return tok

    def parse(self) -> Predicate:
        if not self.tokens:
            raise bad_pattern()
        cond = self.or_expr()
        if self.peek()[0] != "end":
            raise bad_pattern()

        def test(message: str) -> bool:
            try:
                doc = json.loads(message)
            except ValueError:
                return False
            return isinstance(doc, dict) and cond(doc)

        return test

    def or_expr(self) -> Callable[[Any], bool]:
        return self._joined("or", self.and_expr, any)

    def and_expr(self) -> Callable[[Any], bool]:
        return self._joined("and", self.atom, all)

    def _joined(self, op: str, operand: Callable[[], Callable[[Any], bool]],
                combine: Callable[[Any], bool]) -> Callable[[Any], bool]:
        """`operand (op operand)*`, its tests combined by any (||) or all (&&)."""
        parts = [operand()]
        while self.peek()[0] == op:
            self.take()
            parts.append(operand())
        return parts[0] if len(parts) == 1 else (lambda doc: combine(p(doc) for p in parts))

    def atom(self) -> Callable[[Any], bool]:
        kind, text = self.peek()
        if kind == "lp":
            self.take()
            inner = self.or_expr()
            self.take("rp")
            return inner
        if kind == "word" and text.startswith("$"):
            raise bad_chars("".join(dict.fromkeys(c for c in text if not re.fullmatch(r"[\w.$\[\]*-]", c)))
                            or text)
        if kind != "sel":
            raise bad_pattern()
        self.take()
        path = _selector(text)
        nxt = self.peek()
        if nxt[0] == "word" and nxt[1].upper() == "IS":
            self.take()
            what = self.take("word")[1].upper()
            expected = {"NULL": None, "TRUE": True, "FALSE": False}
            if what not in expected:
                raise bad_pattern()
            want = expected[what]
            return lambda doc: (v := _resolve(doc, path)) is not _MISSING and v is want
        if nxt[0] == "word" and nxt[1].upper() == "NOT":
            self.take()
            if self.take("word")[1].upper() != "EXISTS":
                raise bad_pattern()
            return lambda doc: _resolve(doc, path) is _MISSING
        if nxt[0] == "word" and nxt[1].upper() == "EXISTS":
            self.take()
            return lambda doc: _resolve(doc, path) is not _MISSING
        op = self.take("op")[1]
        value = self.value()
        if value.kind != "num" and op not in ("=", "!="):
            raise bad_pattern()
        return lambda doc: _compare(_resolve(doc, path), op, value)

    def value(self) -> _Value:
        kind, text = self.take()
        if kind == "str":
            return _Value("str", json.loads(text) if "\\" in text else text[1:-1])
        if kind == "regex":
            return _Value("regex", text, regex=_regex(text[1:-1]))
        if kind == "word":
            if _NUMBER.fullmatch(text):
                return _Value("num", text, float(text))
            return _Value("str", text)
        raise bad_pattern()


def _selector(text: str) -> list[str | int]:
    path: list[str | int] = []
    for m in re.finditer(r"\.([^.\[\]]+)|\[(\d+)\]", text[1:]):
        path.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
    return path


def _resolve(doc: Any, path: list[str | int]) -> Any:
    for step in path:
        if step == "*":
            return _MISSING
        if isinstance(step, int):
            if not isinstance(doc, list) or step >= len(doc):
                return _MISSING
            doc = doc[step]
        else:
            if not isinstance(doc, dict) or step not in doc:
                return _MISSING
            doc = doc[step]
    return doc


# ---------------------------------------------------------------- space-delimited patterns

_FIELD_SPLIT = re.compile(r'"([^"]*)"|\[([^\]]*)\]|(\S+)')
_COND = re.compile(r"""\s*(?P<name>[A-Za-z_][\w]*)\s*(?P<op>!=|<=|>=|=|<|>)\s*
                       (?P<value>"(?:[^"\\]|\\.)*"|%[^%]*%|[^\s&|,]+)\s*""", re.VERBOSE)


@dataclass(slots=True)
class _Delimited:
    names: list[str | None] = field(default_factory=list)  # None: `...`
    groups: list[Callable[[dict[str, str]], bool]] = field(default_factory=list)


def _split_top(text: str, sep: str) -> list[str]:
    parts, depth, quote, cur = [], 0, False, []
    i = 0
    while i < len(text):
        c = text[i]
        if c == '"':
            quote = not quote
        if not quote and text.startswith(sep, i) and depth == 0:
            parts.append("".join(cur))
            cur = []
            i += len(sep)
            continue
        cur.append(c)
        i += 1
    if quote:
        raise bad_pattern()
    parts.append("".join(cur))
    return parts


def _delimited_value(raw: str) -> _Value:
    if raw.startswith('"'):
        if len(raw) < 2 or not raw.endswith('"'):
            raise bad_pattern()
        return _Value("str", raw[1:-1])
    if raw.startswith("%"):
        return _Value("regex", raw, regex=_regex(raw[1:-1]))
    if _NUMBER.fullmatch(raw):
        return _Value("num", raw, float(raw))
    return _Value("str", raw)


def _condition(text: str) -> tuple[str, Callable[[dict[str, str]], bool]]:
    m = _COND.fullmatch(text)
    if m is None:
        raise bad_pattern()
    name, op, value = m.group("name"), m.group("op"), _delimited_value(m.group("value"))
    if value.kind != "num" and op not in ("=", "!="):
        raise bad_pattern()
    return name, lambda fields: _compare(fields.get(name, _MISSING), op, value, strings_only=True)


def _compile_delimited(body: str) -> Predicate:
    spec = _Delimited()
    if body.strip():
        for element in _split_top(body, ","):
            element = element.strip()
            if element == "...":
                spec.names.append(None)
                continue
            if re.fullmatch(r"[A-Za-z_]\w*", element):
                spec.names.append(element)
                continue
            alternatives = []
            field_name = None
            for alt in _split_top(element, "||"):
                conj = []
                for part in _split_top(alt, "&&"):
                    name, cond = _condition(part)
                    field_name = field_name or name
                    conj.append(cond)
                alternatives.append(conj)
            if field_name is None:
                raise bad_pattern()
            spec.names.append(field_name)
            spec.groups.append(lambda f, alts=alternatives: any(all(c(f) for c in conj) for conj in alts))
    names, groups = spec.names, spec.groups

    def test(message: str) -> bool:
        fields = [m.group(m.lastindex or 0) for m in _FIELD_SPLIT.finditer(message)]
        return any(all(g(bound) for g in groups) for bound in _bindings(names, fields))

    return test


def _bindings(names: list[str | None], fields: list[str]):
    """Every way to line the pattern's fields up with the event's (`...` takes zero or more)."""
    def walk(i: int, j: int, bound: dict[str, str]):
        if i == len(names):
            if j == len(fields):
                yield bound
            return
        name = names[i]
        if name is None:
            for k in range(j, len(fields) + 1):
                yield from walk(i + 1, k, bound)
            return
        if j >= len(fields):
            return
        yield from walk(i + 1, j + 1, {**bound, name: fields[j]})

    if not names:
        yield {}
        return
    yield from walk(0, 0, {})
