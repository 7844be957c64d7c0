"""Item ids, parameter-grid expansion, and selection (``--method`` patterns, ``-k`` expressions).

Item ids are pytest-like: ``finetune`` for a method's defaults, ``finetune[epochs=25,lr=0.1]`` for a grid
point. ``--method`` takes fnmatch patterns over method names and item ids, or an explicit id with
parameters (``'finetune[epochs=3]'``) which creates that item even if it is not in the grid. ``-k`` takes
a boolean expression of substrings (``finetune and not lr=0.001``), as pytest's ``-k``.
"""

from __future__ import annotations

import difflib
import fnmatch
import itertools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from unlearnbench.errors import UsageError


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """``". Did you mean: x?"`` for the closest choice, or a list of the valid names."""
    options = sorted(set(choices))
    close = difflib.get_close_matches(name, options, n=3, cutoff=0.5)
    if close:
        return f". Did you mean: {', '.join(close)}?"
    if options and len(options) <= 12:
        return f". Available: {', '.join(options)}"
    return ""


def format_value(value: Any) -> str:
    """A parameter value as it appears in an item id."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def item_id(method: str, params: Mapping[str, Any]) -> str:
    """``method`` or ``method[k=v,...]`` with keys in the given order."""
    if not params:
        return method
    return f"{method}[{','.join(f'{k}={format_value(v)}' for k, v in params.items())}]"


def parse_value(text: str) -> Any:
    """A parameter literal: int, float, bool (true/false), null, or a string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text.strip()


_EXPLICIT = re.compile(r"^(?P<name>[A-Za-z_][\w.-]*)\[(?P<body>[^\[\]]*)\]$")


def parse_explicit_item(pattern: str) -> tuple[str, dict[str, Any]] | None:
    """``'finetune[epochs=3,lr=0.01]'`` → ("finetune", {...}); None if ``pattern`` is not of that form."""
    match = _EXPLICIT.match(pattern.strip())
    if match is None or "=" not in match.group("body"):
        return None
    params: dict[str, Any] = {}
    for part in match.group("body").split(","):
        if "=" not in part:
            raise UsageError(f"bad parameter {part!r} in {pattern!r}: expected key=value")
        key, value = part.split("=", 1)
        params[key.strip()] = parse_value(value)
    return match.group("name"), params


def expand_grid(
    grid: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]] | None,
) -> list[dict[str, Any]]:
    """Grid points: the cartesian product of a mapping of lists, or an explicit list of dicts."""
    if not grid:
        return []
    if isinstance(grid, Mapping):
        keys = list(grid)
        for key in keys:
            if isinstance(grid[key], (str, bytes)) or not isinstance(grid[key], Sequence):
                raise TypeError(f"grid values must be lists, got {grid[key]!r} for {key!r}")
        return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]
    points = [dict(p) for p in grid]
    for point in points:
        if not isinstance(point, dict):
            raise TypeError(f"grid points must be dicts, got {point!r}")
    return points


def matches_pattern(method: str, identifier: str, pattern: str) -> bool:
    """fnmatch of a ``--method`` pattern against the method name or the full item id."""
    if pattern == identifier or pattern == method:
        return True
    # "[" starts an fnmatch character class: match ids literally where the pattern has parameters.
    escaped = pattern.replace("[", "[[]") if "=" in pattern else pattern
    return fnmatch.fnmatchcase(method, escaped) or fnmatch.fnmatchcase(identifier, escaped)


# --------------------------------------------------------------------------- -k expressions

_TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")


class KeywordExpression:
    """A compiled ``-k`` expression: ``and``, ``or``, ``not``, parentheses, and substring words."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = [t for t in _TOKEN.findall(text) if t]
        self.pos = 0
        if not self.tokens:
            raise UsageError("-k expression is empty")
        self.tree = self._or()
        if self.pos != len(self.tokens):
            raise UsageError(f"-k expression {text!r}: unexpected {self.tokens[self.pos]!r}")

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self) -> str:
        token = self._peek()
        if token is None:
            raise UsageError(f"-k expression {self.text!r} ends too early")
        self.pos += 1
        return token

    def _or(self) -> Any:
        node = self._and()
        while self._peek() == "or":
            self._take()
            node = ("or", node, self._and())
        return node

    def _and(self) -> Any:
        node = self._not()
        while self._peek() == "and":
            self._take()
            node = ("and", node, self._not())
        return node

    def _not(self) -> Any:
        if self._peek() == "not":
            self._take()
            return ("not", self._not())
        token = self._take()
        if token == "(":
            node = self._or()
            if self._take() != ")":
                raise UsageError(f"-k expression {self.text!r}: missing ')'")
            return node
        if token in (")", "and", "or"):
            raise UsageError(f"-k expression {self.text!r}: unexpected {token!r}")
        return ("word", token)

    def matches(self, identifier: str) -> bool:
        """Whether the expression holds for an item id (words match case-insensitive substrings)."""
        lowered = identifier.lower()

        def ev(node: Any) -> bool:
            kind = node[0]
            if kind == "word":
                return bool(node[1].lower() in lowered)
            if kind == "not":
                return not ev(node[1])
            if kind == "and":
                return ev(node[1]) and ev(node[2])
            return ev(node[1]) or ev(node[2])

        return ev(self.tree)


def canonical_params(params: Mapping[str, Any]) -> str:
    """Order-independent JSON of parameters, for de-duplicating items."""
    return json.dumps(params, sort_keys=True, default=str)
