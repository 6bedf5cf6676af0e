"""ConText: is a mention negated, historical, about family, or hypothetical?

After Harkema et al. (2009) and medspaCy's ConText, with the rules as data
(``realm/resources/context_rules.csv``): a *trigger* ("no", "history of") opens a scope
forward, backward or both, within its clause; a *termination* ("but", "however") closes
scopes; a *pseudo-trigger* ("no increase", "not examined") looks like a trigger but is
consumed and never applied. A rule's ``max_scope`` caps how many words may lie between the
trigger and the target, because in terse exam notes ("no macrodactyly, slight sandal gap")
a scope to the clause end over-negates. When several triggers apply the nearest wins.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from realm.errors import ConfigError
from realm.records import Assertion
from realm.resources import read_rule_table, resource_path

__all__ = ["ContextRule", "ContextHit", "ConText", "load_context_rules", "clause_bounds"]

DIRECTIONS = ("forward", "backward", "bidirectional")
KINDS = ("trigger", "pseudo", "termination")
#: Clause ends: sentence punctuation (not a decimal point), semicolons, newlines, and the
#: colon after a section header; a scope never crosses them.
_CLAUSE_END = re.compile(r"[;!?\n\r]|\.(?!\d)|:(?!\d)")
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class ContextRule:
    """One row of the rules table."""

    literal: str
    category: Assertion | None
    direction: str
    kind: str
    max_scope: int | None = None


@dataclass(frozen=True)
class ContextHit:
    """The assertion of a target and the trigger's span that caused it."""

    assertion: Assertion
    trigger: tuple[int, int]


def load_context_rules(path: str | Path | None = None) -> list[ContextRule]:
    """Read rules from a CSV (default: the packaged ``context_rules.csv``)."""
    rows = read_rule_table(resource_path("context_rules.csv") if path is None else path,
                           ("literal", "category", "direction", "kind"))
    rules = []
    for row in rows:
        where = f"{row.path} rule {row.line}"  # the rule's line in the file
        literal, direction, kind = row.get("literal"), row.get("direction"), row.get("kind")
        category, scope = row.get("category"), row.get("max_scope")
        if not literal or direction not in DIRECTIONS or kind not in KINDS:
            raise ConfigError(f"{where}: needs a literal, a direction in {DIRECTIONS} and a kind in {KINDS}")
        try:
            cat = Assertion(category) if category else None
        except ValueError:
            raise ConfigError(f"{where}: unknown category {category!r}") from None
        if cat is None and kind != "termination":
            raise ConfigError(f"{where}: a {kind} needs a category")
        if scope and not scope.isdigit():
            raise ConfigError(f"{where}: max_scope must be a whole number, got {scope!r}")
        rules.append(ContextRule(literal, cat, direction, kind, int(scope) if scope else None))
    return rules


def clause_bounds(text: str) -> list[tuple[int, int]]:
    """Half-open (start, end) of every clause of ``text``."""
    bounds, start = [], 0
    for m in _CLAUSE_END.finditer(text):
        bounds.append((start, m.start()))
        start = m.end()
    bounds.append((start, len(text)))
    return bounds


@dataclass(frozen=True)
class _Found:
    start: int
    end: int
    rule: ContextRule


class ConText:
    """Assign assertions to target spans of a text from trigger rules."""

    def __init__(self, rules: Sequence[ContextRule]) -> None:
        self.rules = tuple(rules)
        self._by_literal = {r.literal.lower(): r for r in self.rules}
        # longest first, so "no evidence of" wins over "no" and "without" over "with"
        parts = sorted(self._by_literal, key=len, reverse=True)
        alternation = "|".join(r"[\s\-]+".join(map(re.escape, p.split())) for p in parts)
        self._pattern = re.compile(rf"(?<![\w/])(?:{alternation})(?![\w/])", re.IGNORECASE)
        # the same pattern, case-sensitive, for lower-cased ASCII text: several times faster
        # (\b lets the engine skip positions inside words before the look-behind)
        self._lower_pattern = re.compile(rf"\b(?<![\w/])(?:{alternation})(?![\w/])")

    @classmethod
    def default(cls) -> ConText:
        """ConText with the packaged rules."""
        return cls(load_context_rules())

    def _find(
        self, text: str, start: int = 0, end: int | None = None, *, lowered: str | None = None
    ) -> list[_Found]:
        """Rules found in ``text[start:end]``; ``lowered`` is ``text.lower()`` when that keeps
        every offset (ASCII text), so the faster case-sensitive pattern can run on it."""
        found = []
        pattern, target = (self._lower_pattern, lowered) if lowered is not None else (self._pattern, text)
        for m in pattern.finditer(target, start, len(text) if end is None else end):
            key = " ".join(re.split(r"[\s\-]+", m.group(0).lower()))
            rule = self._by_literal.get(key)
            if rule is not None:
                found.append(_Found(m.start(), m.end(), rule))
        return found

    def assert_spans(self, text: str, targets: Sequence[tuple[int, int]]) -> list[ContextHit | None]:
        """For each (start, end) target: the nearest applicable trigger's assertion, or None."""
        if not targets:
            return []
        clauses = clause_bounds(text)
        clause_starts = [s for s, _ in clauses]
        # a target belongs to the last clause starting at or before it
        owner = [bisect_right(clause_starts, t_start) - 1 for t_start, _ in targets]
        # search triggers only in clauses that hold a target (once each): most hold none
        found: dict[int, list[_Found]] = {}
        lowered = text.lower() if text.isascii() else None
        for index in owner:
            if index not in found:
                found[index] = self._find(text, *clauses[index], lowered=lowered)
        return [
            self._assert_one(text, target, found[i]) if found[i] else None
            for target, i in zip(targets, owner)
        ]

    def _assert_one(self, text: str, target: tuple[int, int], local: list[_Found]) -> ContextHit | None:
        t_start, t_end = target
        best: tuple[int, int, ContextHit] | None = None
        for f in local:
            rule = f.rule
            if rule.kind != "trigger":
                continue
            forward = rule.direction in ("forward", "bidirectional")
            backward = rule.direction in ("backward", "bidirectional")
            if forward and (f.end <= t_start or f.start == t_start and f.end < t_end):
                gap = (min(f.end, t_start), t_start)
            elif backward and (f.start >= t_end or f.end == t_end and f.start > t_start):
                gap = (t_end, max(f.start, t_end))
            else:
                continue
            if self._blocked(rule, gap, local, text, backward=gap[0] == t_end):
                continue
            distance = gap[1] - gap[0]
            rank = (distance, -len(rule.literal))
            if best is None or rank < best[:2]:
                best = (*rank, ContextHit(rule.category, (f.start, f.end)))  # type: ignore[arg-type]
        return best[2] if best else None

    def _blocked(
        self, rule: ContextRule, gap: tuple[int, int], local: list[_Found], text: str, *, backward: bool
    ) -> bool:
        """True when a termination, too many words, or (looking backward) a comma lie in the gap:
        in exam lists a comma separates items, so ``Hypotonia, normal cry`` does not negate
        *Hypotonia*, while ``no webbing, cysts or pits`` negates all three."""
        lo, hi = gap
        if rule.max_scope is not None and len(_WORD.findall(text, lo, hi)) > rule.max_scope:
            return True
        if backward and "," in text[lo:hi]:
            return True
        for f in local:
            if lo <= f.start and f.end <= hi and f.rule.kind == "termination":
                if f.rule.category is None or f.rule.category == rule.category:
                    return True
        return False
