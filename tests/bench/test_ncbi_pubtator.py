"""The PubTator reader: documents, mentions and composite ids, and its checks on bad lines."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realm.bench.ncbi.pubtator import PubTatorDocument, PubTatorMention, parse_pubtator, read_pubtator
from realm.errors import DataError

SAMPLE = (
    "10192393|t|A common human skin tumour.\n"
    "10192393|a|Breast and ovarian cancer; Wilson disease.\n"
    "10192393\t20\t26\ttumour\tDiseaseClass\tD009369\n"
    "10192393\t28\t53\tBreast and ovarian cancer\tCompositeMention\tD001943|D010051\n"
    "10192393\t55\t69\tWilson disease\tSpecificDisease\tOMIM:277900+C538265\n"
    "\n"
    "42|t|No mentions here.\n"
    "42|a|None.\n"
)


def _write(docs: list[PubTatorDocument]) -> str:
    """PubTator text of ``docs`` (the format the reader reads)."""
    blocks = []
    for d in docs:
        lines = [f"{d.pmid}|t|{d.title}", f"{d.pmid}|a|{d.abstract}"]
        lines += [f"{d.pmid}\t{m.start}\t{m.end}\t{m.text}\t{m.type}\t" + "|".join("+".join(g) for g in m.ids)
                  for m in d.mentions]
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def test_reads_documents_mentions_and_composite_ids() -> None:
    corpus = parse_pubtator(SAMPLE.splitlines(keepends=True), "s.txt")
    first, second = corpus.documents
    assert (first.pmid, second.pmid, second.mentions) == ("10192393", "42", ())
    assert first.text[20:26] == "tumour"
    assert [m.ids for m in first.mentions] == [(("D009369",),), (("D001943",), ("D010051",)),
                                               (("OMIM:277900", "C538265"),)]
    assert first.mentions[2].all_ids == ("OMIM:277900", "C538265")
    assert first.mentions[1].line == 4 and corpus.mentions == 3 and corpus.duplicates == ()


def test_a_repeated_document_is_counted_not_merged() -> None:
    corpus = parse_pubtator((SAMPLE + "\n" + SAMPLE).splitlines(keepends=True), "s.txt")
    assert [d.pmid for d in corpus.documents] == ["10192393", "42"]
    assert corpus.duplicates == ("10192393", "42") and corpus.mentions == 3
    changed = SAMPLE + "\n" + SAMPLE.replace("A common", "A cammon")
    with pytest.raises(DataError, match=r"s\.txt, row 10, field 'pmid': document 10192393 appears twice"):
        parse_pubtator(changed.splitlines(keepends=True), "s.txt")


def test_a_padded_mention_field_is_trimmed_and_listed() -> None:
    padded = SAMPLE.replace("\ttumour\t", "\ttumour  \t")
    corpus = parse_pubtator(padded.splitlines(keepends=True), "s.txt")
    assert corpus.trimmed == (3,) and corpus.documents[0].mentions[0].text == "tumour"


@pytest.mark.parametrize(("bad", "line", "field"), [
    (SAMPLE.replace("\t20\t26\ttumour", "\t21\t27\ttumour"), 3, "mention"),
    (SAMPLE.replace("\t20\t26\t", "\tx\t26\t"), 3, "start"),
    (SAMPLE.replace("\t55\t69\t", "\t55\t9999\t"), 5, "mention"),
    (SAMPLE.replace("\tD009369\n", "\t\n"), 3, "ids"),
    (SAMPLE.replace("\tD001943|D010051\n", "\tD001943||D010051\n"), 4, "ids"),
    (SAMPLE.replace("10192393\t55", "99\t55"), 5, "pmid"),
    (SAMPLE.replace("42|a|", "43|a|"), 8, "abstract"),
    (SAMPLE.replace("42|a|", "42|x|"), 8, "section"),
    (SAMPLE.replace("\n\n42|t|", "\n42|t|"), 6, "title"),
])
def test_bad_lines_name_file_line_and_field(bad: str, line: int, field: str) -> None:
    with pytest.raises(DataError, match=rf"bad\.txt, row {line}, field '{field}'"):
        parse_pubtator(bad.splitlines(keepends=True), "bad.txt")


def test_a_line_of_neither_kind_and_a_missing_file_are_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"row 2: neither"):
        parse_pubtator(["1|t|x\n", "garbage\n"], "g.txt")
    with pytest.raises(DataError, match=r"row 3: 5 tab-separated"):
        parse_pubtator(["1|t|x\n", "1|a|y\n", "1\t0\t1\tx\tT\n"], "g.txt")
    with pytest.raises(DataError, match="no such file"):
        read_pubtator(tmp_path / "missing.txt")


_WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-'(),.", min_size=1, max_size=8)
_ID = st.one_of(st.from_regex(r"[DC][0-9]{6}", fullmatch=True), st.from_regex(r"OMIM:[0-9]{6}", fullmatch=True))
_IDS = st.lists(st.lists(_ID, min_size=1, max_size=2).map(tuple), min_size=1, max_size=3).map(tuple)
_TYPE = st.sampled_from(["SpecificDisease", "DiseaseClass", "Modifier", "CompositeMention"])


@st.composite
def _document(draw: st.DrawFn, pmid: str) -> PubTatorDocument:
    title = " ".join(draw(st.lists(_WORD, min_size=1, max_size=6)))
    abstract = " ".join(draw(st.lists(_WORD, min_size=1, max_size=12)))
    text = f"{title} {abstract}"
    mentions = []
    for _ in range(draw(st.integers(0, 4))):
        start = draw(st.integers(0, len(text) - 1))
        end = draw(st.integers(start + 1, len(text)))
        covered = text[start:end]
        if covered != covered.strip():  # a padded field is trimmed on reading: not a round trip
            continue
        mentions.append(PubTatorMention(start, end, covered, draw(_TYPE), draw(_IDS)))
    return PubTatorDocument(pmid, title, abstract, tuple(mentions))


_CORPUS = st.integers(1, 4).flatmap(lambda n: st.tuples(*[_document(str(1000 + i)) for i in range(n)]))


@settings(max_examples=60, deadline=None)
@given(_CORPUS)
def test_round_trip_of_generated_documents(docs: tuple[PubTatorDocument, ...]) -> None:
    corpus = parse_pubtator(_write(list(docs)).splitlines(keepends=True))
    assert corpus.documents == docs  # line numbers are not compared
    assert corpus.duplicates == () and corpus.trimmed == ()


@settings(max_examples=60, deadline=None)
@given(_CORPUS, st.data())
def test_a_shifted_mention_is_an_error_naming_its_line(docs: tuple[PubTatorDocument, ...], data: st.DataObject) -> None:
    lines = _write(list(docs)).splitlines(keepends=True)
    mention_lines = [i for i, line in enumerate(lines) if "\t" in line]
    if not mention_lines:
        return
    i = data.draw(st.sampled_from(mention_lines))
    pmid, start, end, text, type_, ids = lines[i].rstrip("\n").split("\t")
    doc_text = next(d.text for d in docs if d.pmid == pmid)
    shifted = (int(start) + 1, int(end) + 1)
    if doc_text[shifted[0]:shifted[1]] == text:  # the shift covers the same characters: still right
        return
    lines[i] = "\t".join([pmid, str(shifted[0]), str(shifted[1]), text, type_, ids]) + "\n"
    with pytest.raises(DataError, match=rf"row {i + 1}, field 'mention'"):
        parse_pubtator(lines, "gen.txt")
