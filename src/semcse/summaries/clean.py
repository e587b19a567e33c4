"""Cleaning and filtering of generated texts, with every rejection counted by reason."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from difflib import SequenceMatcher

_PREFIX = re.compile(
    r"^\s*(?:(?:sure|certainly|okay|ok)[,!.]?\s*)?"
    r"(?:(?:here\s+(?:is|are)|this\s+is)\s+(?:a|an|the|my)?\s*[\w\s,'-]{0,60}?:\s*)?"
    r"(?:\**\s*(?:one[- ]sentence\s+)?(?:summary|tl;?dr|answer|explanation|description|statement|"
    r"main\s+contribution|contribution|finding|paraphrase|query|search\s+query|plain[- ]language\s+summary|(?:new\s+|alternative\s+)?title|key\s*words?|key\s+phrases)"
    r"\s*\**\s*[:\-]\s*\**)?",
    re.IGNORECASE,
)
_CHAT_ARTEFACTS = re.compile(r"<\|[^|>]{1,40}\|>|</?s>|\[/?INST\]|^(?:assistant|user|system)\s*[:\n]", re.IGNORECASE | re.MULTILINE)
_REFUSAL = re.compile(
    r"\b(?:i(?:'m| am)\s+(?:sorry|unable|not able)|i\s+can(?:not|'t)\s+(?:help|provide|summari[sz]e|assist)|"
    r"as an ai\b|i\s+don't\s+have\s+access|cannot\s+fulfil)",
    re.IGNORECASE,
)
_WORD = re.compile(r"\w+")
_SENT_END = re.compile(r"[.!?](?:[\"')\]]*)(?=\s|$)")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def clean_text(raw: str, truncated: bool = False) -> str:
    """Strip chat artefacts, "Summary:"-style prefixes, markdown emphasis and wrapping quotes.

    A text cut off by the token limit (``truncated``) is trimmed to its last complete sentence.
    """
    text = _CHAT_ARTEFACTS.sub(" ", raw)
    text = text.strip()
    for _ in range(2):  # "Sure! Here is a summary: **Summary:** ..."
        text = _PREFIX.sub("", text, count=1).strip()
    text = text.replace("**", "").replace("__", "")
    text = " ".join(text.split())
    while len(text) >= 2 and text[0] in "\"'“‘" and text[-1] in "\"'”’":
        text = text[1:-1].strip()
    if truncated:
        ends = list(_SENT_END.finditer(text))
        text = text[: ends[-1].end()].strip() if ends else ""
    return text


@dataclass
class TextFilter:
    """Decides whether a cleaned text is a usable summary; returns a rejection reason or None.

    Reasons: ``empty``, ``too_short`` (fewer than ``min_words`` words), ``copy_of_abstract``
    (near-verbatim part of the abstract), ``prompt_echo`` (repeats the instruction), ``refusal``.
    """

    min_words: int = 5
    copy_threshold: float = 0.9
    echo_threshold: float = 0.8

    def reason(self, text: str, abstract: str, instruction: str) -> str | None:
        if not text:
            return "empty"
        words = _words(text)
        if len(words) < self.min_words:
            return "too_short"
        if _REFUSAL.search(text):
            return "refusal"
        if SequenceMatcher(None, text.lower(), instruction.lower(), autojunk=False).ratio() >= self.echo_threshold:
            return "prompt_echo"
        low_abs = " ".join(abstract.lower().split())
        if len(words) >= 8 and (text.lower() in low_abs or _containment(words, _words(abstract)) >= self.copy_threshold):
            return "copy_of_abstract"
        return None


def _containment(words: list[str], source: list[str], n: int = 4) -> float:
    """Share of the text's word 4-grams that occur verbatim in the source."""
    if len(words) < n:
        return 0.0
    grams = {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}
    src = {tuple(source[i : i + n]) for i in range(len(source) - n + 1)}
    return len(grams & src) / len(grams)


@dataclass
class RejectionCounter:
    """Counts accepted texts and rejections by reason."""

    accepted: int = 0
    rejected: Counter = field(default_factory=Counter)

    def add(self, reason: str | None) -> None:
        if reason is None:
            self.accepted += 1
        else:
            self.rejected[reason] += 1
