"""``semcse run``: config round trip, budgets, held-out benchmark, kill at each stage and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import numpy as np
import pytest

from _support import SEMCSE
from semcse.config import ConfigError, CorpusConfig, RunConfig, SamplingConfig, SummarizeConfig
from semcse.pipeline import BUDGETS, heldout_benchmark, read_config, resolve, write_config


def test_config_roundtrip_through_toml(tmp_path):
    cfg = RunConfig(corpus=CorpusConfig(source="papers.jsonl", id_field="pid", keep_fields=("year",)), out=str(tmp_path / "r"),
                    papers=12, benchmark_tasks=("title-abstract",),
                    summarize=SummarizeConfig(sampling=SamplingConfig(temperature=0.9), base_urls=("http://127.0.0.1:9/v1",)))
    eff = resolve(cfg)
    write_config(eff, tmp_path / "c.toml")
    back = read_config(tmp_path / "c.toml")
    assert back == eff
    assert back.papers == 12 and back.steps == BUDGETS["small"]["steps"]  # explicit value kept, preset filled in
    assert back.summarize.sampling.temperature == 0.9 and back.summarize.limit == 12 and back.train.max_steps == back.steps
    # training reads the whole split: unsummarised papers top up its validation pools (capped by the budget)
    assert back.summarize.corpus.limit == 12 and back.train.corpus.limit is None and back.train.max_validation_papers == 200
    assert resolve(back) == back  # resolving again changes nothing: the file repeats the run exactly
    # base and trained model are scored at one length: a known base model's (all-MiniLM-L6-v2: 256), else 512
    assert resolve(cfg.replace(base_model="sentence-transformers/all-MiniLM-L6-v2")).evaluate.max_seq_length == 256
    assert resolve(cfg.replace(base_model="some/unknown-encoder")).evaluate.max_seq_length == 512
    assert resolve(cfg.replace(evaluate=cfg.evaluate.replace(max_seq_length=300))).evaluate.max_seq_length == 300


def test_bad_config(tmp_path):
    with pytest.raises(ConfigError, match="--budget must be one of small, medium, paper, got 'huge'"):
        resolve(RunConfig(corpus=CorpusConfig(source="x"), out="o", budget="huge"))
    (tmp_path / "c.toml").write_text('budgett = "small"\n')
    with pytest.raises(ConfigError, match="unknown option 'budgett'"):
        read_config(tmp_path / "c.toml")


def test_unreadable_corpus_leaves_no_run_folder(tmp_path):
    from semcse.pipeline import run

    bad = tmp_path / "papers.jsonl"
    bad.write_text('{"id": "p1", "title": "A", "abstract": "Text."}\n{not json\n', encoding="utf-8")
    with pytest.raises(Exception, match="papers.jsonl"):
        run(RunConfig(corpus=CorpusConfig(source=str(bad)), out=str(tmp_path / "r"), benchmark_tasks=()))
    assert not (tmp_path / "r").exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    with pytest.raises(Exception, match="papers.jsonl"):
        run(RunConfig(corpus=CorpusConfig(source=str(bad)), out=str(kept), benchmark_tasks=()))
    assert kept.is_dir()  # a folder the user made is never removed


def test_config_file_is_read_whole_and_typed(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[run]\nout = "x"\nsteps = 7\n[train]\nlearning_rate = 1e-5\n[summarize]\nconcurrency = 3\n')
    cfg = read_config(path)
    assert cfg.out == "x" and cfg.steps == 7 and cfg.train.learning_rate == 1e-5 and cfg.summarize.concurrency == 3
    assert resolve(cfg.replace(corpus=CorpusConfig(source="papers.jsonl"))).train.learning_rate == 1e-5
    cases = {
        'steps = "ten"\n': r"c.toml: RunConfig.steps must be an integer or absent \(None\), got 'ten' \(str\)",
        '[train]\nlerning_rate = 1\n': r"c.toml: \[train\] TrainConfig: unknown option 'lerning_rate'",
        '[train]\nloss = "cosine"\n': r"\[train\] TrainConfig.loss must be one of 'auto', 'triplet', 'infonce'",
        '[train]\nmargin = -1\n': r"c.toml: \[train\] TrainConfig.margin must be >= 0, got -1",
        '[summarize.sampling]\ntop_p = 0\n': r"\[summarize\] \[sampling\] SamplingConfig.top_p must satisfy 0 < x <= 1, got 0",
        '[run]\npapers = 0\n': r"c.toml: RunConfig.papers must be >= 4, got 0",
        '[summarize.sampling]\ntemperature = true\n': r"\[summarize\] \[sampling\] SamplingConfig.temperature must be a number",
        '[run]\npapers = 5\n[corpus]\nsource = "a"\npapers = 4\n': r"unknown option 'papers'",
        '[run]\nseed = 1\nseed = 2\n': r"invalid TOML",
        '[run]\nbudget = "huge"\n': r"RunConfig.budget must be one of 'small', 'medium', 'paper'",
    }
    for text, message in cases.items():
        path.write_text(text)
        with pytest.raises(ConfigError, match=message):
            read_config(path)
    path.write_text('seed = 1\n[run]\nseed = 2\n')
    with pytest.raises(ConfigError, match=r"seed given both in \[run\] and outside it"):
        read_config(path)


def test_too_few_summarised_papers_is_a_one_line_error(tmp_path, data_root):
    args = SEMCSE + ["run", "--corpus", str(data_root / "scitldr" / "train.jsonl"), "--out", str(tmp_path / "r"), "--papers", "2",
                     "--prompts", "1", "--samples", "1", "--max-tokens", "64", "--heldout-papers", "30", "--pool-size", "30",
                     "--benchmark-task", "none"]
    res = subprocess.run(args, capture_output=True, text=True, timeout=600)
    # refused by --papers' range (the training split needs 4 papers with summaries) before any summary is generated
    assert res.returncode == 2 and "--papers must be >= 4, got 2" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "r").exists()


def test_heldout_benchmark_file_loads(tmp_path):
    from semcse.evaluation import load_benchmark

    names = heldout_benchmark(tmp_path / "b.toml", tmp_path / "held.jsonl", has_titles=True, has_labels=True, pool=50, seed=3)
    assert names == ["title-abstract", "abstract-segments", "clustering"]
    bench = load_benchmark(str(tmp_path / "b.toml"))
    assert [t.name for t in bench.tasks] == names


def _stages(out):
    try:
        return json.loads((out / "stages.json").read_text())
    except (OSError, ValueError):
        return {}


def test_kill_at_each_stage_then_resume(tmp_path, data_root):
    out = tmp_path / "run"
    args = SEMCSE + ["run", "--corpus", str(data_root / "scitldr" / "train.jsonl"), "--out", str(out), "--papers", "6",
                     "--prompts", "1", "--samples", "2", "--max-tokens", "48", "--steps", "6", "--batch-size", "8",
                     "--heldout-papers", "30", "--pool-size", "30", "--benchmark-task", "none"]
    killed = []
    for stage in ("summarize", "train", "evaluate-heldout"):
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 600
        while time.time() < deadline and _stages(out).get(stage, {}).get("status") != "running" and proc.poll() is None:
            time.sleep(0.2)
        time.sleep(3)  # let the stage do some work
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            killed.append(stage)
        proc.wait()
    assert killed, "the run finished before any kill"
    done = subprocess.run(args, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    st = _stages(out)
    assert all(st[s]["status"] == "done" for s in ("split", "summarize", "train", "evaluate-heldout"))
    report = json.loads((out / "report.json").read_text())
    assert report["summaries"]["store"]["records"] == 6 * 2  # every summary exactly once
    held = {row["task"]: row for row in report["evaluation"]["heldout"]}
    assert set(held) == {"title-abstract", "abstract-segments"} and held["title-abstract"]["pool"] == "30"
    md = (out / "report.md").read_text()
    assert "base vs trained" in md and "Stage times" in md
    assert "== stage 4/4 evaluate-heldout ==" in done.stderr  # stages are numbered in the log
    assert "- evaluation: both models at 512 tokens" in md  # one length for base and trained (offline base: 512)
    guard = report["result"]
    assert {r["task"] for r in guard["tasks"]} == {"title-abstract", "abstract-segments"}
    assert guard["result_model"] in (str(out / "model"), report["config"]["base_model"])
    assert md.splitlines()[2] == f"**{guard['sentence']}**"  # the verdict is the report's first line
    assert read_config(out / "config.toml").papers == 6
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(out / "model"))
    assert model.encode(["a sentence"]).shape[1] == 384


def _result(task, model, per_query, higher=False):
    from semcse.evaluation.run import TaskResult

    q = np.asarray(per_query, dtype=float)
    return TaskResult(task=task, type="matching", group="semantic", model=model, similarity="cosine",
                      metric="knn_agreement" if higher else "mean_rank", score=float(q.mean()), higher_is_better=higher,
                      metrics={}, pool_size=len(q), seed=0, data=[], per_query=q)


def test_heldout_guard_hands_over_the_base_when_a_task_is_worse():
    from types import SimpleNamespace

    from semcse.pipeline import heldout_guard

    rng = np.random.default_rng(0)
    ranks = rng.integers(1, 30, size=300)
    agree = rng.uniform(0.2, 0.9, size=300)
    ok = SimpleNamespace(results=[_result("title", "base", ranks), _result("title", "trained", np.maximum(1, ranks - 2)),
                                  _result("clusters", "base", agree, True), _result("clusters", "trained", agree + 0.01, True)])
    verdict = heldout_guard(ok, "runs/x/model", "base-id")
    assert verdict["result_model"] == "runs/x/model" and not verdict["worse_tasks"] and len(verdict["tasks"]) == 2
    assert verdict["verdict"] == "better" and "title" in verdict["better_tasks"] and verdict["sentence"].startswith("Better:")
    level = SimpleNamespace(results=ok.results[:1] + [_result("title", "trained", ranks)] + ok.results[2:3]
                            + [_result("clusters", "trained", agree, True)])
    verdict = heldout_guard(level, "runs/x/model", "base-id")
    assert verdict["verdict"] == "level" and verdict["result_model"] == "runs/x/model" and verdict["sentence"].startswith("Level:")
    bad = SimpleNamespace(results=ok.results[:2] + [_result("clusters", "base", agree, True),
                                                    _result("clusters", "trained", agree - 0.1, True)])
    verdict = heldout_guard(bad, "runs/x/model", "base-id")
    assert verdict["result_model"] == "base-id" and verdict["worse_tasks"] == ["clusters"] and verdict["verdict"] == "worse"
    assert "worse than the base on held-out clusters" in verdict["sentence"] and "`base-id`" in verdict["sentence"]
    assert json.loads(json.dumps(verdict))["worse_tasks"] == ["clusters"]  # written to report.json as it is
