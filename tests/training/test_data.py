"""Prepared training data: partitioned preparation equals the one-piece one; the cache is reused."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from semcse.config import CorpusConfig, TrainConfig
from semcse.summaries.store import SummaryStore
from semcse.training.checkpoints import PREPARED
from semcse.training.data import prepare_data


def _by_id(papers) -> dict:
    return {p.id: (p.title, p.abstract, tuple(p.sentences), tuple(p.summaries)) for p in papers}


def test_partitions_do_not_change_the_data_and_the_cache_is_reused(tmp_path: Path, scitldr_train: Path, caplog):
    rows = [json.loads(line) for line in scitldr_train.open()][:90]
    store = SummaryStore(tmp_path / "store")  # summaries from a store (prompt, sample order) and a JSONL file
    jsonl = tmp_path / "more.jsonl"
    jsonl.write_text("".join(json.dumps({"paper_id": r["paper_id"], "summaries": r["target"]}) + "\n" for r in rows[:60]))
    from semcse.summaries.store import SummaryRecord

    with store.writer() as w:
        w.write([SummaryRecord(r["paper_id"], f"p{q}", s, f"Summary {q}/{s}: " + r["source"][0]) for r in rows[30:]
                 for q in (2, 1) for s in (1, 0)])
    cfg = TrainConfig(corpus=CorpusConfig(source=str(scitldr_train), limit=120), summaries=(str(jsonl), str(tmp_path / "store")),
                      validation_papers=0.2, max_validation_papers=30, seed=5)
    whole = prepare_data(cfg, partitions=1)
    for k in (3, 50):  # 50 partitions of 120 papers: most are empty
        parted = prepare_data(cfg, partitions=k)
        assert _by_id(parted.train_papers) == _by_id(whole.train_papers)
        assert [p.id for p in parted.validation_papers] == [p.id for p in whole.validation_papers]
        assert _by_id(parted.validation_papers) == _by_id(whole.validation_papers)
        assert parted.report.to_dict() == whole.report.to_dict()
    everything = {**_by_id(whole.train_papers), **_by_id(whole.validation_papers)}
    summaries = everything[rows[40]["paper_id"]][3]  # JSONL texts first, then the store's in (prompt, sample) order
    assert summaries[0] == rows[40]["target"][0].strip()
    assert [s.split(":")[0] for s in summaries[-4:]] == ["Summary 1/0", "Summary 1/1", "Summary 2/0", "Summary 2/1"]
    assert whole.report.papers_used == 90 and whole.report.train_papers + whole.report.validation_papers == 90

    out = cfg.replace(out=str(tmp_path / "run"))
    with caplog.at_level(logging.INFO, logger="semcse"):
        first = prepare_data(out, partitions=3)
        again = prepare_data(out)
    assert "prepared the training data" in caplog.text and "using the prepared training data" in caplog.text
    assert len(list((tmp_path / "run" / PREPARED).iterdir())) == 1
    assert _by_id(again.train_papers) == _by_id(first.train_papers) == _by_id(whole.train_papers)
    assert again.builder.epoch(0) == first.builder.epoch(0)
    (tmp_path / "store" / "records" / "main.jsonl").open("a").write(
        json.dumps({"paper_id": rows[0]["paper_id"], "prompt_id": "p9", "sample": 0, "text": "A new summary."}) + "\n")
    changed = prepare_data(out)  # the inputs changed: a new fingerprint, prepared afresh
    assert len(list((tmp_path / "run" / PREPARED).iterdir())) == 2
    assert changed.report.summaries == first.report.summaries + 1
