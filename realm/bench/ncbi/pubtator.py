"""Read a PubTator file (the NCBI disease corpus format) into documents and gold mentions.

Per document a title line ``PMID|t|text``, an abstract line ``PMID|a|text``, then one
tab-separated line per mention ``PMID start end mention type ids``; documents are separated
by blank lines. Offsets index ``title + " " + abstract``. ``ids`` is one concept id or
several: ``|`` joins alternatives (a composite mention, "breast and ovarian cancer"), ``+``
the parts of a mention that needs two concepts. Ids are kept as written (``D006527``,
``C538265``, ``OMIM:215600``).

Checks: every mention's text must equal ``text[start:end]`` (a mention field padded with
spaces is trimmed and its line listed in :attr:`PubTatorCorpus.trimmed`) and belong to the document
above it; a malformed line is a :class:`DataError` naming the file, line and field. A PMID
seen twice (8528200 in the training set) is counted: an identical copy is skipped and
listed in :attr:`PubTatorCorpus.duplicates`, a differing one is an error.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from realm.errors import DataError

__all__ = ["PubTatorMention", "PubTatorDocument", "PubTatorCorpus", "read_pubtator", "parse_pubtator"]

log = logging.getLogger(__name__)

#: ``PMID|t|`` or ``PMID|a|`` (any one-letter section, so a wrong one is named, not misread)
_HEADER = re.compile(r"^[^\t|]+\|[a-z]\|")


@dataclass(frozen=True)
class PubTatorMention:
    """One gold mention: offsets into the document text, its type and its concept ids.

    ``ids`` holds the ``|`` alternatives, each a tuple of its ``+`` parts.
    """

    start: int
    end: int
    text: str
    type: str
    ids: tuple[tuple[str, ...], ...]
    line: int = field(default=0, compare=False)  # where it was read, not what it says

    @property
    def all_ids(self) -> tuple[str, ...]:
        """Every id the mention names, in order, once each."""
        return tuple(dict.fromkeys(i for group in self.ids for i in group))


@dataclass(frozen=True)
class PubTatorDocument:
    """One abstract: its PMID, title, abstract and gold mentions."""

    pmid: str
    title: str
    abstract: str
    mentions: tuple[PubTatorMention, ...] = ()
    line: int = field(default=0, compare=False)

    @property
    def text(self) -> str:
        """The text the mention offsets index: title, a space, abstract."""
        return f"{self.title} {self.abstract}"


@dataclass(frozen=True)
class PubTatorCorpus:
    """The documents of one file (first copy of each PMID), the PMIDs seen again and the
    lines whose mention field was trimmed."""

    path: str
    documents: tuple[PubTatorDocument, ...]
    duplicates: tuple[str, ...] = ()
    trimmed: tuple[int, ...] = ()

    @property
    def mentions(self) -> int:
        """Number of gold mentions over all documents."""
        return sum(len(d.mentions) for d in self.documents)


def _ids(raw: str, path: str, line: int) -> tuple[tuple[str, ...], ...]:
    groups = tuple(tuple(part.strip() for part in alt.split("+")) for alt in raw.split("|"))
    if not raw.strip() or any(not part for group in groups for part in group):
        raise DataError(f"empty concept id in {raw!r}", path=path, row=line, field="ids")
    return groups


class _Builder:
    """The document being read: header lines first, then its mentions."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.pmid: str | None = None
        self.title: str | None = None
        self.abstract: str | None = None
        self.first_line = 0
        self.mentions: list[PubTatorMention] = []
        self.trimmed: list[int] = []

    def header(self, line_no: int, line: str) -> None:
        pmid, kind, text = line.split("|", 2)
        if kind == "t":
            if self.pmid is not None:
                raise DataError(f"title of {pmid} before the document {self.pmid} ended (no blank line)",
                                path=self.path, row=line_no, field="title")
            self.pmid, self.title, self.first_line = pmid, text, line_no
        elif kind == "a":
            if self.pmid != pmid or self.abstract is not None:
                raise DataError(f"abstract of {pmid} without its title line just above",
                                path=self.path, row=line_no, field="abstract")
            self.abstract = text
        else:
            raise DataError(f"unknown section {kind!r} (expected t or a)", path=self.path, row=line_no,
                            field="section")

    def mention(self, line_no: int, line: str) -> None:
        fields = line.split("\t")
        if len(fields) != 6:
            raise DataError(f"{len(fields)} tab-separated fields, expected 6", path=self.path, row=line_no)
        pmid, start, end, text, type_, ids = fields
        if self.abstract is None or pmid != self.pmid:
            raise DataError(f"mention of {pmid} outside its document", path=self.path, row=line_no,
                            field="pmid")
        try:
            begin, stop = int(start), int(end)
        except ValueError:
            raise DataError("offsets must be integers", path=self.path, row=line_no,
                            field="start" if not start.strip().isdigit() else "end") from None
        doc_text = f"{self.title} {self.abstract}"
        if text != text.strip():  # one training line pads its mention with spaces: counted
            self.trimmed.append(line_no)
            text = text.strip()
        if not 0 <= begin < stop <= len(doc_text) or doc_text[begin:stop] != text:
            # the covered text is not quoted: it may be patient data in other corpora
            raise DataError(f"mention text ({len(text)} chars) is not text[{begin}:{stop}]",
                            path=self.path, row=line_no, field="mention")
        self.mentions.append(PubTatorMention(begin, stop, text, type_, _ids(ids, self.path, line_no),
                                             line_no))

    def finish(self, line_no: int) -> PubTatorDocument | None:
        if self.pmid is None:
            return None
        if self.abstract is None:
            raise DataError(f"document {self.pmid} has no abstract line", path=self.path, row=line_no,
                            field="abstract")
        return PubTatorDocument(self.pmid, self.title or "", self.abstract, tuple(self.mentions),
                                self.first_line)


def parse_pubtator(lines: Iterable[str], path: str | Path = "<text>") -> PubTatorCorpus:
    """The corpus in ``lines`` (``path`` names the source in errors)."""
    path = str(path)
    building = _Builder(path)
    docs: dict[str, PubTatorDocument] = {}
    duplicates: list[str] = []
    trimmed: list[int] = []

    def keep(doc: PubTatorDocument | None) -> None:
        if doc is None:
            return
        if doc.pmid not in docs:
            docs[doc.pmid] = doc
        elif docs[doc.pmid] == doc:  # line numbers aside
            duplicates.append(doc.pmid)
        else:
            raise DataError(f"document {doc.pmid} appears twice with different content",
                            path=path, row=doc.line, field="pmid")

    line_no = 0
    for line_no, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            keep(building.finish(line_no))
            trimmed += building.trimmed
            building = _Builder(path)
        elif _HEADER.match(line):
            building.header(line_no, line)
        elif "\t" in line:
            building.mention(line_no, line)
        else:
            raise DataError("neither a PMID|t|, PMID|a| nor a mention line", path=path, row=line_no)
    keep(building.finish(line_no + 1))
    trimmed += building.trimmed
    if duplicates:
        log.warning("%s: %d repeated document(s) skipped: %s", path, len(duplicates), ", ".join(duplicates))
    if trimmed:
        log.warning("%s: %d mention field(s) padded with spaces, trimmed (lines %s)", path, len(trimmed),
                    ", ".join(map(str, trimmed)))
    return PubTatorCorpus(path, tuple(docs.values()), tuple(duplicates), tuple(trimmed))


def read_pubtator(path: str | Path) -> PubTatorCorpus:
    """The corpus in the PubTator file at ``path``."""
    path = Path(path)
    if not path.is_file():
        raise DataError("no such file", path=path)
    with path.open(encoding="utf-8") as fh:
        return parse_pubtator(fh, path)
