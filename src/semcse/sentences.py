"""Sentence splitting for scientific text: two splitters, chosen by name.

- ``"rules"`` (the training default): a compiled regular expression that ends a sentence at
  ``.``, ``?`` or ``!`` followed by space and a capital, digit, bracket or quote, except after the
  abbreviations of scientific prose ("et al.", "e.g.", "Fig.", "Eq.", "vs.", initials, ...).
  About 100x faster than pysbd; ``bench/sentence_splitters.py`` measures speed and agreement with
  pysbd on the shared collections.
- ``"pysbd"``: pysbd's rule set (slower; handles more edge cases such as lists and ellipses).

Lists of sentences that came with the data are used as they are elsewhere.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from typing import Sequence

SPLITTERS = ("rules", "pysbd")

# lower-cased tokens that end with a period without ending a sentence
ABBREVIATIONS = frozenset("""
al e.g i.e cf vs viz etc approx ca resp fig figs eq eqs eqn eqns tab sec secs ref refs no nos vol pp ch app
dr mr mrs ms prof st jr sr inc ltd co corp dept univ est min max avg std var suppl et seq
""".split())

_BOUNDARY = re.compile(r"""(?<=[.?!])(["')\]]*)\s+(?=["'(\[]?[A-Z0-9])""")
_LAST_TOKEN = re.compile(r"(\S+)$")


def _ends_with_abbreviation(head: str) -> bool:
    match = _LAST_TOKEN.search(head)
    if not match or not head.endswith("."):
        return False
    token = match.group(1).lstrip("(['\"").rstrip(".").lower()
    if token in ABBREVIATIONS:
        return True
    return len(token) == 1 and token.isalpha()  # an initial ("J. Smith") or a single letter ("Section A.")


def split_rules(text: str) -> list[str]:
    """Split ``text`` (whitespace already normalised) with the compiled rules."""
    out, start = [], 0
    for m in _BOUNDARY.finditer(text):
        if _ends_with_abbreviation(text[start:m.start()]):
            continue
        piece = text[start:m.end(1)].strip()
        if piece:
            out.append(piece)
        start = m.end()
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return out


@lru_cache(maxsize=1)
def _segmenter():
    import pysbd

    return pysbd.Segmenter(language="en", clean=False)


@lru_cache(maxsize=65536)
def _split_pysbd(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in _segmenter().segment(text) if s.strip())


def split_sentences(text: str, splitter: str = "pysbd") -> list[str]:
    """Split ``text`` into sentences with the named splitter (``"rules"`` or ``"pysbd"``); ``[]`` for empty text."""
    text = " ".join(text.split())
    if not text:
        return []
    if splitter == "rules":
        return split_rules(text)
    if splitter == "pysbd":
        return list(_split_pysbd(text))
    raise ValueError(f"unknown sentence splitter {splitter!r}; choose one of {', '.join(SPLITTERS)}")


def _split_chunk(texts: list[str], splitter: str) -> list[list[str]]:
    return [split_sentences(t, splitter) for t in texts]


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def split_many(texts: Sequence[str], splitter: str = "rules", workers: int | None = None,
               parallel_from: int | None = None) -> list[list[str]]:
    """Split many texts, in ``workers`` processes (default: the usable cores) when there are at least
    ``parallel_from`` of them (default: where starting processes pays: 1,000 texts for pysbd at ~11 ms each,
    100,000 for the rule splitter at ~0.2 ms); the result is the same as splitting one by one."""
    if parallel_from is None:
        parallel_from = 1_000 if splitter == "pysbd" else 100_000
    workers = min(workers or usable_cores(), 16)
    if workers <= 1 or len(texts) < parallel_from:
        return _split_chunk(list(texts), splitter)
    import logging
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    size = -(-len(texts) // (workers * 4))
    chunks = [list(texts[i:i + size]) for i in range(0, len(texts), size)]
    try:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            parts = pool.map(_split_chunk, chunks, [splitter] * len(chunks))
            return [sentences for part in parts for sentences in part]
    except (BrokenProcessPool, OSError) as exc:  # e.g. a __main__ that spawned children cannot import
        logging.getLogger(__name__).warning("parallel sentence splitting failed (%s); splitting in this process", exc)
        return _split_chunk(list(texts), splitter)


def split_halves(sentences: Sequence[str]) -> tuple[str, str] | None:
    """An abstract's two halves by sentences, the same rule everywhere (validation, benchmark, bench):
    the first ``floor(n / 2)`` sentences and the rest; None for fewer than 2 sentences."""
    if len(sentences) < 2:
        return None
    cut = len(sentences) // 2
    return " ".join(sentences[:cut]), " ".join(sentences[cut:])
