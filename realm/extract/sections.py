"""Split a note into sections from its headers (rules in ``realm/resources/sections.csv``).

A header is a line-initial phrase followed by a colon: ``Family History:`` in an ICU note,
``EARS:`` in a genetics exam observation. Known headers map to a canonical section, an
optional default assertion (everything under *Family history* is about the family) and the
organ words the header stands for (``EARS: low set`` means *low set ears*). Unknown
upper-case headers still open a section, named after their normalized text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from realm.errors import ConfigError
from realm.records import Assertion
from realm.resources import read_rule_table, resource_path

__all__ = ["SectionRule", "Section", "SectionDetector", "load_section_rules"]

# A header: up to six words of letters, '/', '&' at a line start, then ':' not followed by a
# digit (times such as 10:30 are not headers).
_HEADER = re.compile(r"(?m)^[ \t]*([A-Za-z][A-Za-z/&\- ]{0,60}?)[ \t]*:(?!\d)")


@dataclass(frozen=True)
class SectionRule:
    """One header literal and what it means."""

    header: str
    section: str
    assertion: Assertion | None = None
    organ_words: tuple[str, ...] = ()


@dataclass(frozen=True)
class Section:
    """A section of a note: its name, the header's span and the body's span."""

    name: str | None
    header: tuple[int, int] | None
    body: tuple[int, int]
    assertion: Assertion | None = None
    organ_words: tuple[str, ...] = ()


def load_section_rules(path: str | Path | None = None) -> list[SectionRule]:
    """Read section rules (default: the packaged ``sections.csv``)."""
    rows = read_rule_table(resource_path("sections.csv") if path is None else path,
                           ("header", "section"))
    rules = []
    for row in rows:
        header, section, raw = row.get("header"), row.get("section"), row.get("assertion")
        if not header or not section:
            raise ConfigError(f"{row.path} row {row.line}: needs 'header' and 'section'")
        try:
            assertion = Assertion(raw) if raw else None
        except ValueError:
            raise ConfigError(f"{row.path} row {row.line}: unknown assertion {raw!r}") from None
        organs = tuple(w.strip().lower() for w in row.get("organ_words").split("|") if w.strip())
        rules.append(SectionRule(header.lower(), section, assertion, organs))
    return rules


def _key(header: str) -> str:
    return " ".join(re.split(r"[\s/&\-]+", header.lower())).strip()


class SectionDetector:
    """Find sections by header rules."""

    def __init__(self, rules: list[SectionRule]) -> None:
        self._rules = {_key(r.header): r for r in rules}

    @classmethod
    def default(cls) -> SectionDetector:
        """The detector with the packaged rules."""
        return cls(load_section_rules())

    def rules(self) -> list[SectionRule]:
        """Every rule, one per header literal."""
        return list(self._rules.values())

    def rule(self, header: str) -> SectionRule | None:
        """The rule for a header text, if known."""
        return self._rules.get(_key(header))

    def sections(self, text: str) -> list[Section]:
        """Sections in order; text before the first header is a section named None."""
        heads = []
        for m in _HEADER.finditer(text):
            raw = m.group(1)
            rule = self.rule(raw)
            # unknown headers count only when written in capitals, as exam and ICU templates do;
            # otherwise "Mother reports: ..." would open a section
            if rule is None and not (raw.isupper() and len(raw.strip()) > 1):
                continue
            heads.append((m.start(1), m.start(1) + len(raw.rstrip()), m.end(), raw, rule))
        out: list[Section] = []
        first = heads[0][0] if heads else len(text)
        if first > 0 and text[:first].strip():
            out.append(Section(None, None, (0, first)))
        for i, (h_start, h_end, body_start, raw, rule) in enumerate(heads):
            body_end = heads[i + 1][0] if i + 1 < len(heads) else len(text)
            if rule is not None:
                out.append(Section(rule.section, (h_start, h_end), (body_start, body_end), rule.assertion, rule.organ_words))
            else:
                out.append(Section(_key(raw).replace(" ", "_"), (h_start, h_end), (body_start, body_end)))
        if not out:
            out.append(Section(None, None, (0, len(text))))
        return out
