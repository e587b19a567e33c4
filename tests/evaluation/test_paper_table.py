"""The SemCSE paper's table: Perf. arithmetic, the TF-IDF reference and the table an evaluation writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from semcse.config import EvaluateConfig
from semcse.evaluation import evaluate
from semcse.evaluation.paper_table import COLUMNS, normalised, paper_results, perf
from semcse.evaluation.reference import TfidfEncoder
from semcse.similarity import partner_ranks

PAPER_TASKS = ("title-abstract", "abstract-segments", "query-matching", "clustering-fos")


def test_perf_is_the_mean_share_of_the_way_from_the_reference_to_the_best_model():
    ref = {"Title": 7.0, "Segments": 12.0, "Query": 2.0, "Clustering": 0.6}
    scores = {"best": {"Title": 2.0, "Segments": 4.0, "Query": 1.0, "Clustering": 0.8},
              "half": {"Title": 4.5, "Segments": 8.0, "Query": 1.5, "Clustering": 0.7},
              "worse": {"Title": 9.0, "Segments": 12.0, "Query": 3.0, "Clustering": 0.5}}
    out = perf(scores, ref)
    assert out["best"]["perf"] == pytest.approx(1.0)
    assert out["half"]["perf"] == pytest.approx(0.5) and out["half"]["normalised"]["Clustering"] == pytest.approx(0.5)
    assert out["worse"]["perf"] == 0.0  # below the reference is clipped, not negative
    assert normalised(3.0, ref=2.0, best=2.5, higher_is_better=False) == 0.0  # nobody beats the reference
    # the paper's anchors are shipped as data, with the paper's own rows
    paper = paper_results()
    assert paper["anchors"] == {"Title": 7.39, "Segments": 12.86, "Query": 1.738, "Clustering": 0.659}
    semcse_row = next(r for r in paper["rows"] if r["model"] == "SemCSE")
    assert [semcse_row[c] for c in COLUMNS] == [2.47, 2.68, 1.23, 0.739]


def test_tfidf_reference_ranks_by_shared_words():
    queries = ["graph neural networks for molecules", "protein folding with attention", "stochastic gradient descent rates"]
    partners = ["we predict molecules with graph neural networks", "attention models fold proteins; protein folding",
                "convergence rates of stochastic gradient descent"]
    ref = TfidfEncoder(queries + partners)
    ranks = partner_ranks(ref.encode(queries), ref.encode(partners), ref.distance)
    assert ranks.tolist() == [1, 1, 1] and ref.encode(queries).shape[0] == 3


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory, data_root, minilm_path):
    out = tmp_path_factory.mktemp("paper")
    cfg = EvaluateConfig(models=(minilm_path + "::name=minilm", minilm_path + "::name=minilm-cls,pooling=cls"),
                         out=str(out), data_root=str(data_root), tasks=PAPER_TASKS, pool_size=30,
                         diagnostics=False, plots=False, progress=False, paper_table=True)
    return evaluate(cfg), out, cfg


def test_evaluate_writes_the_paper_table_with_perf_against_tfidf(paper_run):
    report, out, _ = paper_run
    table = report.paper_table
    assert list(table["columns"]) == list(COLUMNS)
    assert all(table["columns"][c]["pool_size"] >= 2 for c in COLUMNS)
    assert table["columns"]["Title"]["task"] == "title-abstract" and table["columns"]["Title"]["pool_size"] == 30
    ref = table["reference"]
    assert ref["name"] == "tfidf" and set(ref["scores"]) == set(COLUMNS) and "reconstruction" in ref["note"]
    for c in ("Title", "Segments", "Query"):
        assert 1.0 <= ref["scores"][c] <= table["columns"][c]["pool_size"]
    assert 0.0 <= ref["scores"]["Clustering"] <= 1.0
    rows = {r["model"]: r for r in table["rows"]}
    assert set(rows) == {"minilm", "minilm-cls"}
    for c in COLUMNS:  # Perf.'s parts follow the formula with best = the better of the two models
        higher = c == "Clustering"
        values = [rows[m]["scores"][c] for m in rows]
        best = max(values) if higher else min(values)
        assert rows["minilm"]["scores"][c] == report.result("minilm", table["columns"][c]["task"]).score
        for m in rows:
            assert rows[m]["normalised"][c] == pytest.approx(normalised(rows[m]["scores"][c], ref["scores"][c], best, higher))
    for m in rows:
        assert rows[m]["perf"] == pytest.approx(np.mean(list(rows[m]["normalised"].values())))
    saved = json.loads((out / "results.json").read_text())
    assert saved["paper_table"]["rows"][0]["perf"] == pytest.approx(table["rows"][0]["perf"])
    md = (out / "results.md").read_text()
    assert "## Paper table (SemCSE layout)" in md and "Perf. ↑" in md and "Title (↓, N=30)" in md
    assert "*SemCSE (paper, their pools)* | 2.47 | 2.68 | 1.23 | 0.739 | - |" in md
    assert "*reference: tfidf*" in md


def test_paper_anchors_on_request(paper_run):
    report, out, cfg = paper_run
    again = evaluate(cfg.replace(out=str(Path(out) / "anchors"), perf_reference="paper", paper_table=False,
                                 models=cfg.models[:1]))
    table = again.paper_table
    assert table["reference"]["scores"] == paper_results()["anchors"] and "paper_rows" not in table
    row = table["rows"][0]  # one model: it is the best in every column it beats the anchor in
    assert row["perf"] == pytest.approx(np.mean([1.0 if (row["scores"][c] > table["reference"]["scores"][c]) == (c == "Clustering")
                                                 else 0.0 for c in COLUMNS]))
    assert row["scores"] == report.paper_table["rows"][0]["scores"]  # same pools, cached embeddings
