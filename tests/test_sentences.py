"""Sentence splitters: the rule splitter on scientific prose, and parallel splitting equals serial."""

from __future__ import annotations

import json

import pytest

from semcse.sentences import split_many, split_sentences


def test_rule_splitter_keeps_abbreviations_initials_and_brackets_together():
    text = ("We follow Smith et al. (2020) and use e.g. BERT. Results in Fig. 2 show a 3.5% gain! Is it good? Yes. "
            "J. Doe agrees. (See Section 4.) Then we stop.")
    expected = ["We follow Smith et al. (2020) and use e.g. BERT.", "Results in Fig. 2 show a 3.5% gain!", "Is it good?",
                "Yes.", "J. Doe agrees.", "(See Section 4.)", "Then we stop."]
    assert split_sentences(text, "rules") == expected == split_sentences(text, "pysbd")
    with pytest.raises(ValueError, match="unknown sentence splitter"):
        split_sentences(text, "nltk")


def test_parallel_splitting_gives_the_serial_result(data_root):
    abstracts = [" ".join(json.loads(line)["source"]) for line in (data_root / "scitldr" / "dev.jsonl").open()][:60]
    for splitter in ("rules", "pysbd"):
        serial = [split_sentences(a, splitter) for a in abstracts]
        assert split_many(abstracts, splitter, workers=2, parallel_from=1) == serial
