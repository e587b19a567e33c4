"""SciRepEval fixtures in SciRepEval's own layout, built from the real samples in ../shared/data/scirepeval_sample.

``allenai/scirepeval`` configs (split ``evaluation``) and ``allenai/scirepeval_test`` configs
(splits ``train`` / ``test`` or ``test``) are saved with ``datasets``' ``save_to_disk`` under
``<root>/hf/<hub name>/<config>``, as a user saves a hub copy for offline use; a task config
``scirepeval_tasks.jsonl`` in their format names them. One task uses their local forms instead (a
meta JSONL file and a folder with ``train.csv`` / ``test.csv``).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest

FOS_DOCS = 205  # all of fos_small.json (23 fields of study)
MESH_DOCS = 206  # all of mesh_small.json (30 descriptors)
TRIPLETS = 40
SEARCH_QUERIES = 20
TRAIN_SHARE = 0.7


def _save(root: Path, name: str, config: str, splits: dict[str, list[dict]]) -> None:
    from datasets import Dataset, DatasetDict

    DatasetDict({split: Dataset.from_list(rows) for split, rows in splits.items()}).save_to_disk(str(root / name / config))


def _split(rows: list[dict]) -> dict[str, list[dict]]:
    cut = int(len(rows) * TRAIN_SHARE)
    return {"train": rows[:cut], "test": rows[cut:]}


def _paper(doc_id, d: dict) -> dict:
    return {"doc_id": str(doc_id), "title": d.get("title") or "", "abstract": d.get("abstract") or ""}


def build_scirepeval_layout(root: Path, sample: Path) -> dict:
    """Write the fixture layout under ``root``; returns what was written (for the tests' expectations)."""
    import datasets

    datasets.disable_progress_bars()
    hf = root / "hf"
    meta, test = "allenai/scirepeval", "allenai/scirepeval_test"
    # Fields of study: multi-label, labels as 0/1 vectors over fos_labels.txt
    fos_labels = [l for l in (sample / "fos_labels.txt").read_text().splitlines() if l.strip()]
    fos = json.loads((sample / "fos_small.json").read_text())[:FOS_DOCS]
    _save(hf, meta, "fos", {"evaluation": [_paper(d["corpus_id"], d) for d in fos]})
    vectors = [{"paper_id": str(d["corpus_id"]),
                "label": [int(fos_labels[i] in d["labels_text"]) for i in range(len(fos_labels))]} for d in fos]
    _save(hf, test, "fos", _split(vectors))
    # MeSH: single label, the descriptor's index in mesh_descriptors.txt
    mesh = json.loads((sample / "mesh_small.json").read_text())[:MESH_DOCS]
    descriptors = sorted({d["descriptor"] for d in mesh})
    _save(hf, meta, "mesh_descriptors", {"evaluation": [_paper(d["corpus_id"], d) for d in mesh]})
    mesh_labels = [{"paper_id": str(d["corpus_id"]), "label": descriptors.index(d["descriptor"])} for d in mesh]
    _save(hf, test, "mesh", _split(mesh_labels))
    # the same MeSH task in their local form: a meta JSONL file and a folder with train.csv / test.csv
    local = root / "local"
    (local / "mesh").mkdir(parents=True)
    (local / "mesh_meta.jsonl").write_text("\n".join(json.dumps(_paper(d["corpus_id"], d)) for d in mesh) + "\n")
    for split, rows in _split(mesh_labels).items():
        with (local / "mesh" / f"{split}.csv").open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["paper_id", "label"])
            w.writeheader()
            w.writerows(rows)
    # search rows: queries with graded candidates (venue and year are fields of their Search task)
    search = [json.loads(l) for l in (sample / "search_small.jsonl").read_text().splitlines()[:SEARCH_QUERIES]]
    search_rows, qrels = [], []
    for i, r in enumerate(search):
        qid = f"q{i}"
        cands = [{**_paper(c["corpus_id"], c), "venue": c.get("venue") or "", "year": str(c.get("year") or "")}
                 for c in r["candidates"]]
        search_rows.append({"doc_id": qid, "query": r["query"], "candidates": cands})
        qrels += [{"query_id": qid, "cand_id": str(c["corpus_id"]), "score": int(c["score"])} for c in r["candidates"]]
    _save(hf, meta, "search", {"evaluation": search_rows})
    _save(hf, test, "search", {"test": qrels})
    # Citation Count: regression on log citations of the search candidates
    cited = {str(c["corpus_id"]): c for r in search for c in r["candidates"] if c.get("n_citations") is not None}
    _save(hf, meta, "cite_count", {"evaluation": [_paper(pid, c) for pid, c in cited.items()]})
    _save(hf, test, "cite_count", _split([{"paper_id": pid, "label": math.log1p(c["n_citations"])} for pid, c in cited.items()]))
    # citation proximity from SPECTER triplets: the cited paper is relevant (1), the negative not (0)
    trip = json.loads((sample / "specter_small.json").read_text())[:TRIPLETS]
    papers, trip_qrels, ir_rows = {}, [], []
    for t in trip:
        q, p, n = (str(t[k]["corpus_id"]) for k in ("query", "pos", "neg"))
        for pid, k in ((q, "query"), (p, "pos"), (n, "neg")):
            papers.setdefault(pid, _paper(pid, t[k]))
        trip_qrels += [{"query_id": q, "cand_id": p, "score": 1}, {"query_id": q, "cand_id": n, "score": 0}]
        ir_rows.append({"doc_id": q, "query": papers[q], "candidates": [papers[p], papers[n]]})
    _save(hf, meta, "scidocs_view_cite_read", {"evaluation": list(papers.values())})  # simple format: papers
    _save(hf, test, "scidocs_cite", {"test": trip_qrels})
    _save(hf, meta, "high_influence_cite", {"evaluation": ir_rows})  # query paper + candidates rows
    _save(hf, test, "high_influence_cite", {"test": trip_qrels})
    # cite_prediction_new: SPECTER's citation triplets as they are, in train / validation splits
    triplets = json.loads((sample / "specter_small.json").read_text())
    _save(hf, meta, "cite_prediction_new", {"train": triplets[100:130], "validation": triplets[130:160]})

    def hub(name, config):
        return {"name": name, "config": config}

    tasks = [
        {"name": "Fields of study", "type": "classification", "multi_label": True, "metrics": ["f1_macro"],
         "data": {"meta": hub(meta, "fos"), "test": hub(test, "fos")},
         "few_shot": [{"sample_size": 10, "iterations": 50}]},
        {"name": "MeSH", "type": "classification", "metrics": ["f1_macro"],
         "data": {"meta": hub(meta, "mesh_descriptors"), "test": hub(test, "mesh")}},
        {"name": "MeSH local", "type": "classification", "metrics": ["f1_macro"],
         "data": {"meta": "local/mesh_meta.jsonl", "test": "local/mesh"}},
        {"name": "Citation Count", "type": "regression", "metrics": ["kendalltau"],
         "data": {"meta": hub(meta, "cite_count"), "test": hub(test, "cite_count")}},
        {"name": "SciDocs Cite", "type": "proximity", "metrics": ["map", "ndcg"],
         "data": {"simple_format": True, "meta": hub(meta, "scidocs_view_cite_read"), "test": hub(test, "scidocs_cite")},
         "embeddings": {"save": "embeddings/scidocs_view_cite_read.jsonl"}},
        {"name": "Highly Influential Citations", "type": "proximity", "metrics": ["map"],
         "data": {"meta": hub(meta, "high_influence_cite"), "test": hub(test, "high_influence_cite")}},
        {"name": "Search", "type": "adhoc_search", "fields": ["title", "abstract", "venue", "year"], "metrics": ["ndcg"],
         "data": {"meta": hub(meta, "search"), "test": hub(test, "search")}},
        {"name": "Paper-Reviewer Matching", "type": "proximity", "metrics": ["P_5", "P_10"],
         "data": {"meta": hub(meta, "paper_reviewer_matching"), "test": hub(test, "paper_reviewer_matching"),
                  "reviewers": hub(test, "reviewers")}},
    ]
    config = root / "scirepeval_tasks.jsonl"
    config.write_text("\n".join(json.dumps(t) for t in tasks) + "\n")
    bench = root / "scirepeval.toml"
    bench.write_text('name = "scirepeval-fixture"\n[scirepeval]\ntasks = "scirepeval_tasks.jsonl"\ndata = "hf"\n')
    return {"root": root, "sample": sample, "bench": bench, "config": config, "fos_labels": len(fos_labels), "descriptors": descriptors,
            "search_qrels": qrels, "trip_qrels": trip_qrels, "cited": len(cited), "papers": papers}


@pytest.fixture(scope="session")
def scirepeval_layout(tmp_path_factory, data_root) -> dict:
    return build_scirepeval_layout(tmp_path_factory.mktemp("scirepeval"), data_root / "scirepeval_sample")


@pytest.fixture(scope="session")
def scirepeval_run(scirepeval_layout, minilm_path, tmp_path_factory):
    """One `evaluate` of the offline MiniLM on every fixture task (embeddings cached in <out>/cache)."""
    from semcse.config import EvaluateConfig
    from semcse.evaluation import evaluate

    out = tmp_path_factory.mktemp("scirepeval-run") / "out"
    cfg = EvaluateConfig(models=(minilm_path,), out=str(out), benchmark=str(scirepeval_layout["bench"]),
                         data_root=str(scirepeval_layout["root"]), progress=False, plots=False, diagnostics=False,
                         max_seq_length=128)
    return cfg, evaluate(cfg)
