"""REGEX constraints: the Rust `regex` syntax the Unleash engine speaks, translated to Python `re`.

The two dialects agree on most of what a flag needs. Where they differ, the pattern is rewritten
(`$` is the end of the text, a flag such as `(?i)` may appear mid-pattern and rules until the end
of its group, `[[:alpha:]]` is an ASCII class, `\\z` ends the text, `(?<name>...)` names a group).
What Rust refuses (look-around, back-references) and the few constructs with no faithful
translation are refused too, and a refused pattern never matches, as an invalid one never does.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7F",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1F\\x7F",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\x0B\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_PASSED_ESCAPES = frozenset("dDwWAntrfva")
_CLASS_ESCAPES = frozenset("dDwWntrfva")
_FLAG_LETTERS = frozenset("imsxU")  # and u; `a` stands for (?-u), Python's ASCII mode
_PYTHON_FLAGS = frozenset("imsa")  # x is applied while translating, U changes no match
_WORD_BOUNDARIES = {
    "{start}": r"\b(?=\w)",
    "{end}": r"\b(?<=\w)",
    "{start-half}": r"(?<!\w)",
    "{end-half}": r"(?!\w)",
}
# Unicode White_Space, Rust's \s; Python's adds \x1c-\x1f
_WHITESPACE = (
    "\\t\\n\\x0b\\x0c\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
)
_NOT_WORD_BOUNDARY = r"(?:(?<=\w)(?=\w)|(?<!\w)(?!\w))"
_REPEAT = re.compile(r"\{[0-9]+(?:,[0-9]*)?\}")
_CODEPOINT = re.compile(r"\{([0-9A-Fa-f]{1,8})\}")
_HEX_DIGITS = {"x": 2, "u": 4, "U": 8}
_GROUP_NAME = re.compile(r"<([A-Za-z_][A-Za-z0-9_.\[\]]*)>")


class RefusedPatternError(ValueError):
    """The pattern is invalid in Rust, or has no faithful Python translation."""


@dataclass
class _Group:
    flags: frozenset[str]  # the flags in force where the group opened
    current: frozenset[str]
    scoped: int = 0  # `(?flags:` groups opened for mid-group flags, closed with the group


@dataclass
class _Translator:
    pattern: str
    initial: frozenset[str] = frozenset()
    index: int = 0
    out: list[str] = field(default_factory=list)
    groups: list[_Group] = field(default_factory=list)
    names: set[str] = field(default_factory=set)

    def translate(self) -> str:
        top = _Group(frozenset(), self.initial)
        self.groups.append(top)
        if self.initial:
            self.out.append(_scoped_flags(frozenset(), self.initial))
            top.scoped = 1
        while self.index < len(self.pattern):
            self._step()
        if len(self.groups) != 1:
            raise RefusedPatternError("unbalanced parentheses")
        self.out.append(")" * self.groups[0].scoped)
        return "".join(self.out)

    def _peek(self, text: str) -> bool:
        return self.pattern.startswith(text, self.index)

    def _step(self) -> None:
        char = self.pattern[self.index]
        self.index += 1
        if "x" in self.groups[-1].current and (char.isspace() or char == "#"):
            if char == "#":  # a comment, to the end of the line
                end = self.pattern.find("\n", self.index)
                self.index = len(self.pattern) if end < 0 else end + 1
        elif char == "\\":
            self.out.append(self._escape(_PASSED_ESCAPES))
        elif char == "$":
            self.out.append("$" if "m" in self.groups[-1].current else r"\Z")
        elif char == "(":
            self._open_group()
        elif char == ")":
            self._close_group()
        elif char == "|":
            self._alternate()
        elif char == "[":
            self.out.append(self._char_class())
        elif char == "{":
            self._repeat()
        else:
            self.out.append(char)

    def _escape(self, passed: frozenset[str]) -> str:
        if self.index >= len(self.pattern):
            raise RefusedPatternError("trailing backslash")
        char = self.pattern[self.index]
        self.index += 1
        if char in passed:
            return "\\" + char
        if char in _HEX_DIGITS:
            return re.escape(chr(self._codepoint(_HEX_DIGITS[char])))
        if char in "sS":
            return self._whitespace(char, in_class=passed is _CLASS_ESCAPES)
        if passed is _PASSED_ESCAPES and char in "zbB<>":
            return self._assertion(char)
        if not char.isascii() or char.isalnum():
            raise RefusedPatternError(f"unsupported escape \\{char}")
        return re.escape(char)

    def _whitespace(self, char: str, *, in_class: bool) -> str:
        if "a" in self.groups[-1].current:  # ASCII whitespace is the same in both
            return "\\" + char
        if in_class:
            return _WHITESPACE if char == "s" else r"\S\x1c-\x1f"
        return f"[{_WHITESPACE}]" if char == "s" else f"[^{_WHITESPACE}]"

    def _assertion(self, char: str) -> str:
        if char == "b":
            for spelling, translated in _WORD_BOUNDARIES.items():
                if self._peek(spelling):
                    self.index += len(spelling)
                    return translated
            return r"\b"
        return {
            "z": r"\Z",
            "B": _NOT_WORD_BOUNDARY,  # Python's \B never matches an empty text, Rust's does
            "<": _WORD_BOUNDARIES["{start}"],
            ">": _WORD_BOUNDARIES["{end}"],
        }[char]

    def _codepoint(self, digits: int) -> int:
        braced = _CODEPOINT.match(self.pattern, self.index)
        if braced:
            self.index = braced.end()
            value = int(braced.group(1), 16)
        else:
            text = self.pattern[self.index : self.index + digits]
            if len(text) != digits or not all(c in "0123456789abcdefABCDEF" for c in text):
                raise RefusedPatternError("malformed hexadecimal escape")
            self.index += digits
            value = int(text, 16)
        if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
            raise RefusedPatternError("escape outside Unicode")
        return value

    def _open_group(self) -> None:
        current = self.groups[-1].current
        if not self._peek("?"):
            self.out.append("(")
        elif self._peek("?:"):
            self.index += 2
            self.out.append("(?:")
        elif self._peek("?P<") or self._peek("?<"):
            self.index += 2 if self._peek("?P<") else 1
            name = _GROUP_NAME.match(self.pattern, self.index)
            if name is None or name.group(1) in self.names:
                raise RefusedPatternError("malformed or repeated group name")
            self.names.add(name.group(1))
            self.index = name.end()
            self.out.append(f"(?P<g{len(self.names)}>")  # Rust allows names Python does not
        else:
            self.index += 1
            self._flag_group(current)
            return
        self.groups.append(_Group(current, current))

    def _flag_group(self, current: frozenset[str]) -> None:
        end = self.index
        while end < len(self.pattern) and self.pattern[end] not in ":)":
            end += 1
        if end == len(self.pattern):
            raise RefusedPatternError("unterminated flag group")
        updated = _apply_flags(current, self.pattern[self.index : end])
        scoped = _scoped_flags(current, updated)
        self.index = end + 1
        if self.pattern[end] == ":":
            self.out.append(scoped)
            self.groups.append(_Group(updated, updated))
            return
        group = self.groups[-1]
        if updated != current:
            self.out.append(scoped)
            group.scoped += 1
            group.current = updated

    def _close_group(self) -> None:
        if len(self.groups) == 1:
            raise RefusedPatternError("unbalanced parentheses")
        group = self.groups.pop()
        self.out.append(")" * group.scoped + ")")

    def _alternate(self) -> None:
        group = self.groups[-1]
        self.out.append(")" * group.scoped + "|")
        group.scoped = 0
        if group.current != group.flags:  # flags set earlier in the group go on in the branch
            self.out.append(_scoped_flags(group.flags, group.current))
            group.scoped = 1

    def _repeat(self) -> None:
        match = _REPEAT.match(self.pattern, self.index - 1)
        if match is None:
            raise RefusedPatternError("malformed repetition")
        self.out.append(match.group(0))
        self.index = match.end()

    def _char_class(self) -> str:
        negated = self._peek("^")
        self.index += negated
        parts: list[str] = []
        first = True
        while True:
            if self.index >= len(self.pattern):
                raise RefusedPatternError("unterminated class")
            char = self.pattern[self.index]
            self.index += 1
            if char == "]" and not first:
                break
            first = False
            if "x" in self.groups[-1].current and char.isspace():
                continue
            if char == "\\":
                parts.append(self._escape(_CLASS_ESCAPES))
            elif char == "[":
                parts.append(self._posix_class())
            elif char in "&~-" and self._peek(char):
                raise RefusedPatternError("class set operations are not supported")
            elif char == "-":
                parts.append("-")
            else:
                parts.append(re.escape(char))
        if len(parts) == 1 and parts[0].startswith("^"):  # [[:^alpha:]]
            if negated:
                raise RefusedPatternError("doubly negated class")
            return "[" + parts[0] + "]"
        if any(part.startswith("^") for part in parts):
            raise RefusedPatternError("a negated POSIX class inside a larger class")
        return "[" + ("^" if negated else "") + "".join(parts) + "]"

    def _posix_class(self) -> str:
        end = self.pattern.find(":]", self.index)
        if not self._peek(":") or end < 0:
            raise RefusedPatternError("nested classes are not supported")
        name = self.pattern[self.index + 1 : end]
        self.index = end + 2
        negated = name.startswith("^")
        ranges = _POSIX_CLASSES.get(name.removeprefix("^"))
        if ranges is None:
            raise RefusedPatternError(f"unknown POSIX class {name!r}")
        return ("^" if negated else "") + ranges


def _apply_flags(current: frozenset[str], spec: str) -> frozenset[str]:
    flags = set(current)
    enabling = True
    seen: set[str] = set()
    for letter in spec:
        if letter == "-" and enabling:
            enabling = False
            continue
        if letter in seen or (letter not in _FLAG_LETTERS and letter != "u"):
            raise RefusedPatternError(f"unsupported or repeated flag {letter!r}")
        seen.add(letter)
        # Unicode on is the default; off is Python's ASCII mode, `a`
        flag, on = ("a", not enabling) if letter == "u" else (letter, enabling)
        (flags.add if on else flags.discard)(flag)
    if not spec or spec.endswith("-"):
        raise RefusedPatternError("empty flag group")
    return frozenset(flags)


def _scoped_flags(before: frozenset[str], after: frozenset[str]) -> str:
    added = "".join(sorted((after - before) & _PYTHON_FLAGS))
    removed = "".join(sorted((before - after) & _PYTHON_FLAGS))
    if "a" in removed:
        raise RefusedPatternError("Unicode cannot be turned back on inside (?-u)")
    if not added and not removed:
        return "(?:"
    return f"(?{added}-{removed}:" if removed else f"(?{added}:"


def compile_rust_regex(pattern: str, *, case_insensitive: bool) -> re.Pattern[str]:
    """Compile a Rust-syntax pattern; raises RefusedPatternError when it cannot be used."""
    initial = frozenset("i") if case_insensitive else frozenset()
    translated = _Translator(pattern, initial).translate()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return re.compile(translated)
    except (re.error, FutureWarning, DeprecationWarning) as error:
        raise RefusedPatternError(str(error)) from error
