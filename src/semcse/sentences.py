"""Sentence splitting for scientific text.

Uses pysbd (rule-based, handles "et al.", "e.g.", "Fig. 2", decimals and abbreviations), never a
regex on periods. Lists of sentences that came with the data are used as they are elsewhere.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def _segmenter():
    import pysbd

    return pysbd.Segmenter(language="en", clean=False)


@lru_cache(maxsize=65536)
def _split_cached(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in _segmenter().segment(text) if s.strip())


def split_sentences(text: str) -> list[str]:
    """Split ``text`` into sentences; returns ``[]`` for empty text."""
    text = " ".join(text.split())
    if not text:
        return []
    return list(_split_cached(text))
