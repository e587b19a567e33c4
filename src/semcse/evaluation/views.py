"""Texts of a paper by view name (``title``, ``abstract``, ``text``, halves, ``field:NAME``, ``generated``).

Engines ask a :class:`PaperViews` for the texts of a paper. A title and an abstract are joined by
:func:`semcse.corpus.join_title_abstract`, as in every other stage (the encoder puts its tokenizer's
separator token between them), and halves follow :func:`semcse.sentences.split_halves`.
"""

from __future__ import annotations

from typing import Any

from semcse.corpus import Paper, join_title_abstract
from semcse.evaluation.errors import BenchmarkError


BASE_VIEWS = ("title", "abstract", "text", "first_half", "second_half", "generated")


def field_views(*views: str) -> tuple[str, ...]:
    """The data fields named by ``field:NAME`` views."""
    return tuple(v[6:] for v in views if v.startswith("field:"))


def check_view(view: Any, where: str, what: str) -> None:
    """Raise :class:`BenchmarkError` unless ``view`` names a view."""
    if not isinstance(view, str) or not (view in BASE_VIEWS or (view.startswith("field:") and len(view) > 6)):
        raise BenchmarkError(f"{where}: {what} = {view!r} is not a view; use one of {list(BASE_VIEWS)} or field:NAME")


class PaperViews:
    """Texts of a paper by view name.

    Views: ``title``, ``abstract``, ``text`` (title + abstract), ``first_half`` / ``second_half``
    (the abstract split by sentences: the first floor(n/2) sentences and the rest), ``field:NAME``
    (a string or list of strings kept from the data), ``generated`` (texts of a summaries run, by
    paper id). With ``first_sentence_title`` (e.g. PubMed dumps) the first sentence of the abstract
    is the title and the rest the abstract, split per paper on first use; ``text`` is then the
    record as written.
    """

    def __init__(self, first_sentence_title: bool = False, min_sentences: int = 2):
        self.first_sentence_title = first_sentence_title
        self.min_sentences = min_sentences
        self._parts: dict[int, tuple[str | None, str, list[str] | None]] = {}

    def parts(self, paper: Paper) -> tuple[str | None, str, list[str] | None]:
        """(title, abstract, sentences or None) after the first-sentence rule."""
        if not self.first_sentence_title or paper.title:
            return paper.title, paper.abstract, paper.sentences
        key = id(paper)
        if key not in self._parts:
            self._parts[key] = _first_sentence_split(paper)
        return self._parts[key]

    def texts(self, paper: Paper, view: str, generated: dict[str, list[str]] | None = None) -> list[str]:
        """The texts of one view of a paper (empty when the paper does not have it)."""
        if view == "text":
            out = [paper.abstract if self.first_sentence_title and not paper.title else join_title_abstract(paper.title, paper.abstract)]
        elif view == "generated":
            out = list((generated or {}).get(paper.id, []))
        elif view.startswith("field:"):
            value = paper.extra.get(view[6:])
            if isinstance(value, (list, tuple)):
                out = [str(v) for v in value if v is not None]
            else:
                out = [] if value is None else [str(value)]
        else:
            title, abstract, sentences = self.parts(paper)
            if view == "title":
                out = [title] if title else []
            elif view == "abstract":
                out = [abstract]
            elif view in ("first_half", "second_half"):
                from semcse.sentences import split_halves, split_sentences

                sents = sentences or split_sentences(abstract)
                halves = split_halves(sents) if len(sents) >= self.min_sentences else None
                out = [] if halves is None else [halves[0] if view == "first_half" else halves[1]]
            else:
                raise ValueError(f"unknown view {view!r}")
        return [t.strip() for t in out if t and t.strip()]


def _first_sentence_split(paper: Paper) -> tuple[str | None, str, list[str] | None]:
    """Title = first sentence (pysbd), abstract = the rest; like ``title_from_first_sentence`` in load_corpus.

    Only a prefix of the text is segmented when the first sentence ends inside it (same result,
    a fraction of the cost); otherwise the whole abstract is.
    """
    from semcse.sentences import split_sentences

    if paper.sentences:
        sents = paper.sentences
    else:
        norm = " ".join(paper.abstract.split())
        head = split_sentences(norm[:1500])
        if len(head) > 1 and norm.startswith(head[0]):
            rest = norm[len(head[0]):].strip()
            return head[0], rest, None
        sents = split_sentences(norm)
    if len(sents) < 2:
        return None, " ".join(sents), list(sents)
    return sents[0], " ".join(sents[1:]), list(sents[1:])
