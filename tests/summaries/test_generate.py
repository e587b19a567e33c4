"""``semcse summarize`` end to end with the embedded model: stats, resume, kill -9, shards."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections import Counter

from _support import SEMCSE, wait_for
from semcse.config import CorpusConfig, SamplingConfig, SummarizeConfig
from semcse.summaries import SummaryStore, summarize
from semcse.summaries.generate import CONTINUOUS_MAX_SEQUENCES, in_shard, parse_shard, resolve_engine

SMALL = ["--max-prompts", "2", "--samples", "2", "--max-tokens", "24", "--no-progress"]


def _cli(args, **kw):
    return subprocess.run(SEMCSE + ["summarize", *args], capture_output=True, text=True, timeout=600, **kw)


def test_cli_run_then_rerun_does_nothing(tmp_path, data_root):
    out = tmp_path / "run"
    args = ["--corpus", str(data_root / "scitldr" / "dev.jsonl"), "--limit", "3", "--out", str(out), *SMALL]
    first = _cli(args)
    assert first.returncode == 0, first.stderr
    stats = json.loads((out / "stats.json").read_text())
    run = stats["this_run"]
    assert stats["expected_records"] == 3 * 2 * 2 and run["generated"] == 12
    assert run["accepted"] + sum(run["rejected"].values()) + sum(run["failed"].values()) == 12
    assert set(run["failed"]) <= {"truncated"}  # 24 tokens cut some summaries: failed, not rejected
    assert run["summaries_per_s"] > 0 and run["generated_tokens"] > 0 and stats["model"].endswith(".Q8_0.gguf")
    # auto at 2 x 2, the packaged model; flash attention on
    assert stats["engine"] == {"schedule": "continuous", "quantization": "q8_0", "flash_attn": True}
    assert stats["store"]["records"] == 12 and stats["store"]["missing"] == 0
    assert "summaries/s" in first.stderr and "tokens/s" in first.stderr
    second = _cli(args)
    assert second.returncode == 0 and "nothing to generate" in second.stderr
    again = json.loads((out / "stats.json").read_text())
    assert again["this_run"]["generated"] == 0
    assert again["model"] == stats["model"]  # named from the records, not "None"
    assert len(SummaryStore(out)) == 12


def test_kill_9_then_resume_has_every_record_exactly_once(tmp_path, data_root):
    out = tmp_path / "run"
    args = ["--corpus", str(data_root / "scitldr" / "dev.jsonl"), "--limit", "8", "--out", str(out), *SMALL]
    log = tmp_path / "stderr.txt"
    with log.open("w") as err:
        proc = subprocess.Popen(SEMCSE + ["summarize", *args], stdout=subprocess.DEVNULL, stderr=err)
    seg = out / "records" / "main.jsonl"
    wait_for(proc, lambda: seg.exists() and seg.read_bytes().count(b"\n") >= 8, 300, "8 records", log)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = seg.read_bytes().count(b"\n")
    assert 0 < done_before < 32
    with seg.open("ab") as fh:  # and a torn write, as if killed inside os.write
        fh.write(b'{"paper_id": "torn", "prompt_')
    resumed = _cli(args)
    assert resumed.returncode == 0, resumed.stderr
    lines = [json.loads(line) for line in seg.read_text().splitlines()]
    keys = Counter((r["paper_id"], r["prompt_id"], r["sample"]) for r in lines)
    assert len(keys) == 8 * 2 * 2 and max(keys.values()) == 1  # no loss, no duplicates, torn line gone
    stats = json.loads((out / "stats.json").read_text())
    assert stats["already_present"] == done_before and stats["this_run"]["generated"] == 32 - done_before


def test_shards_partition_the_corpus_and_merge(tmp_path, data_root):
    corpus = CorpusConfig(source=str(data_root / "scitldr" / "dev.jsonl"), limit=6)
    ids = [f"id{i}" for i in range(1000)]
    counts = Counter(i for pid in ids for i in range(3) if in_shard(pid, (i, 3)))
    assert sum(counts.values()) == 1000 and min(counts.values()) > 250  # each id in exactly one shard
    sampling = SamplingConfig(max_tokens=16)
    results = [
        summarize(SummarizeConfig(corpus=corpus, out=str(tmp_path / f"s{i}"), shard=f"{i}/2", max_prompts=1, samples=1,
                                  sampling=sampling, progress=False))
        for i in range(2)
    ]
    per_shard = [set(SummaryStore(r.run_dir).keys()) for r in results]
    assert not per_shard[0] & per_shard[1]
    assert (results[0].run_dir / "stats.shard-0-of-2.json").exists()
    merged = tmp_path / "merged"
    done = _cli(["merge", str(tmp_path / "s0"), str(tmp_path / "s1"), "--out", str(merged)])
    assert done.returncode == 0, done.stderr
    assert {k[0] for k in SummaryStore(merged).keys()} == {p for p in _ids(data_root, 6)}


def _ids(data_root, n):
    with open(data_root / "scitldr" / "dev.jsonl") as fh:
        return [json.loads(next(fh))["paper_id"] for _ in range(n)]


def test_bad_shard_spec_and_missing_out(tmp_path, data_root):
    bad = _cli(["--corpus", str(data_root / "scitldr" / "dev.jsonl"), "--out", str(tmp_path / "r"), "--shard", "2/2"])
    assert bad.returncode == 2 and "0 <= I < N" in bad.stderr
    assert parse_shard("1/4") == (1, 4)
    missing = _cli(["--corpus", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "r")])
    assert missing.returncode == 2 and "corpus not found" in missing.stderr


def _task_records(out, data_root, task: str):
    """Every record of a 2-paper ``--task`` run (the run must succeed)."""
    res = _cli(["--corpus", str(data_root / "scitldr" / "dev.jsonl"), "--limit", "2", "--out", str(out), "--task", task,
                "--max-tokens", "24", "--no-progress"])
    assert res.returncode == 0, res.stderr
    return SummaryStore(out).records(status=None)


def test_flash_attention_can_be_switched_off_and_the_stats_say_so(tmp_path, data_root):
    out = tmp_path / "fa"
    res = _cli(["--corpus", str(data_root / "scitldr" / "dev.jsonl"), "--limit", "2", "--out", str(out), "--max-prompts", "1",
                "--samples", "1", "--max-tokens", "64", "--no-progress", "--no-flash-attn"])
    assert res.returncode == 0, res.stderr
    stats = json.loads((out / "stats.json").read_text())
    assert stats["engine"]["flash_attn"] is False and stats["this_run"]["generated"] == 2 and stats["this_run"]["accepted"] >= 1
    assert any(r.text.strip() for r in SummaryStore(out).records(status=None))


def test_queries_task_and_export(tmp_path, data_root):
    out = tmp_path / "q"
    recs = _task_records(out, data_root, "queries")
    assert len(recs) == 2 and {r.prompt_id for r in recs} == {"search_query"}
    assert all("\n" not in r.text for r in recs)  # queries stop at the first line
    exp = _cli(["export", str(out), "--to", str(tmp_path / "q.parquet"), "--include-rejected"])
    assert exp.returncode == 0 and "exported 2 records" in exp.stdout


def test_titles_task_gives_three_one_line_texts_per_paper(tmp_path, data_root):
    out = tmp_path / "t"
    recs = _task_records(out, data_root, "titles")
    assert Counter(r.prompt_id for r in recs) == {"new_title": 2, "keywords": 2, "search_query": 2}
    assert all("\n" not in r.text for r in recs)
    assert json.loads((out / "stats.json").read_text())["task"] == "titles"


def test_a_second_writer_is_refused_before_it_writes_anything(tmp_path, data_root):
    out = tmp_path / "run"
    (out).mkdir()
    (out / "summarize.config.json").write_text('{"the running job": true}')
    with SummaryStore(out).writer("main"):  # as if another summarize were running on this directory
        res = _cli(["--corpus", str(data_root / "scitldr" / "dev.jsonl"), "--limit", "1", "--out", str(out), *SMALL])
    assert res.returncode == 2 and "being written by another process" in res.stderr and "Traceback" not in res.stderr
    assert json.loads((out / "summarize.config.json").read_text()) == {"the running job": True}  # untouched


def test_bad_files_are_one_line_errors(tmp_path, data_root):
    fake = tmp_path / "papers.parquet"
    fake.write_text('{"id": "a", "title": "t", "abstract": "x"}\n')
    res = _cli(["--corpus", str(fake), "--out", str(tmp_path / "o")])
    assert res.returncode == 2 and "not a readable Parquet file" in res.stderr and "Traceback" not in res.stderr
    res = _cli(["batch-write", "--corpus", str(tmp_path / "missing" / "x.jsonl"), "--out", str(tmp_path / "o2"), "--server-model", "m"])
    assert res.returncode == 2 and "corpus not found" in res.stderr and "Traceback" not in res.stderr
    res = _cli(["--corpus", "data/missing.jsonl", "--out", str(tmp_path / "o3")], cwd=tmp_path)  # not sent to the Hub
    assert res.returncode == 2 and "corpus not found: data/missing.jsonl (no such file)" in res.stderr


def test_resuming_with_other_record_settings_warns(tmp_path, caplog):
    from semcse.summaries.generate import _write_run_config

    cfg = SummarizeConfig(corpus=CorpusConfig(source="a.jsonl"), out=str(tmp_path))
    _write_run_config(tmp_path, cfg)
    with caplog.at_level("WARNING", logger="semcse.summaries.generate"):
        _write_run_config(tmp_path, cfg.replace(concurrency=32))  # how, not what: no warning
        assert not caplog.records
        _write_run_config(tmp_path, cfg.replace(corpus=CorpusConfig(source="b.jsonl"),
                                                sampling=SamplingConfig(temperature=0.2)))
    assert len(caplog.records) == 1 and "changes corpus, sampling" in caplog.text and "new --out" in caplog.text
    assert json.loads((tmp_path / "summarize.config.json").read_text())["corpus"]["source"] == "b.jsonl"


def test_pending_jobs_count_the_missing_requests_and_render_prompts_only_when_reached(data_root, monkeypatch):
    from semcse.corpus import load_corpus
    from semcse.summaries.generate import plan_jobs
    from semcse.summaries.prompts import PromptSet, load_prompt_set

    papers = load_corpus(data_root / "scitldr" / "dev.jsonl", limit=4).papers
    prompts = load_prompt_set().head(2)
    rendered = []
    original = PromptSet.messages
    monkeypatch.setattr(PromptSet, "messages", lambda self, *a: rendered.append(a) or original(self, *a))
    p0, p1 = (p.id for p in prompts.prompts)
    done = {(papers[0].id, p, s) for p in (p0, p1) for s in range(3)} | {(papers[1].id, p0, 0), (papers[1].id, p1, 2)}
    jobs = plan_jobs(papers, prompts, 3, done)
    assert len(jobs) == 3 and jobs.requests == 4 + 6 + 6 and not rendered  # nothing rendered while planning
    first = jobs[0]
    assert first.paper_id == papers[1].id and [(r.prompt_id, r.sample) for r in first.requests] == [
        (p0, 1), (p0, 2), (p1, 0), (p1, 1)]
    assert first.requests[0].messages and len(rendered) == 4
    assert [j.paper_id for j in jobs] == [p.id for p in papers[1:]] and len(rendered) == 4 + 16


def test_auto_engine_settings_follow_the_sequences_per_paper_and_the_model():
    cfg = SummarizeConfig()
    assert (cfg.schedule, cfg.quantization) == ("auto", "auto")
    small, large = resolve_engine(cfg, CONTINUOUS_MAX_SEQUENCES), resolve_engine(cfg, CONTINUOUS_MAX_SEQUENCES + 1)
    assert (small.schedule, small.quantization) == ("continuous", "q8_0")
    assert (large.schedule, large.quantization) == ("per-paper", "q8_0")
    own = resolve_engine(cfg.replace(model="/models/mine.Q4_K_M.gguf"), 2)
    assert own.quantization == "as-shipped"  # a user's own GGUF is never converted unasked
    chosen = resolve_engine(cfg.replace(schedule="per-paper", quantization="q4_0"), 2)
    assert (chosen.schedule, chosen.quantization) == ("per-paper", "q4_0")
