"""Fixtures for the training tests: small real corpora from ../shared/data and a tiny training config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from semcse.config import CorpusConfig, TrainConfig
from semcse.corpus import Paper, load_corpus


@pytest.fixture(scope="session")
def scitldr_train(data_root: Path) -> Path:
    return data_root / "scitldr" / "train.jsonl"


@pytest.fixture(scope="session")
def scitldr_papers(scitldr_train: Path) -> list[Paper]:
    return load_corpus(scitldr_train, limit=300).papers


@pytest.fixture()
def small_corpus(tmp_path: Path, scitldr_train: Path) -> tuple[Path, Path]:
    """A 40-paper SciTLDR corpus and a JSONL of 3 summaries per paper (the TLDR + two abstract sentences
    reworded as plain texts), so every positive kind occurs."""
    rows = [json.loads(line) for line in scitldr_train.open()][:40]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"paper_id": r["paper_id"], "title": r["title"], "source": r["source"]}) + "\n" for r in rows))
    summaries = tmp_path / "summaries.jsonl"
    summaries.write_text("".join(json.dumps({"paper_id": r["paper_id"], "summaries": [
        r["target"][0], "In short: " + r["source"][0], "This paper: " + r["source"][-1]]}) + "\n" for r in rows))
    return corpus, summaries


@pytest.fixture()
def tiny_config(small_corpus: tuple[Path, Path], minilm_path: str, tmp_path: Path) -> TrainConfig:
    corpus, summaries = small_corpus
    return TrainConfig(corpus=CorpusConfig(source=str(corpus)), summaries=(str(summaries),), out=str(tmp_path / "model"),
                       base_model=minilm_path, max_seq_length=48, batch_size=8, max_steps=4, eval_steps=2,
                       logging_steps=1, validation_papers=10, progress=False)
