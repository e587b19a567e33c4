"""The embedded engine runs in a child process: its death by a signal is one line, not a crash."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import psutil
import pytest

from _support import SEMCSE, wait_for
from semcse.config import SamplingConfig
from semcse.corpus import load_corpus
from semcse.summaries import SummaryStore
from semcse.summaries.backends.base import BackendError
from semcse.summaries.backends.isolated import IsolatedBackend
from semcse.summaries.backends.llamacpp import LlamaCppBackend
from semcse.summaries.generate import plan_jobs
from semcse.summaries.prompts import load_prompt_set


def test_engine_killed_by_sigill_mid_run_keeps_records_and_names_the_signal(tmp_path, data_root, llama_engine):
    out = tmp_path / "run"
    args = SEMCSE + ["summarize", "--corpus", str(data_root / "scitldr" / "dev.jsonl"), "--limit", "10", "--out", str(out),
                     "--max-prompts", "2", "--samples", "2", "--max-tokens", "24", "--no-progress"]
    log = tmp_path / "stderr.txt"
    with log.open("w") as err:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err)
    seg = out / "records" / "main.jsonl"
    wait_for(proc, lambda: seg.exists() and seg.read_bytes().count(b"\n") >= 4, 300, "the first paper's records", log)
    engines = [c for c in psutil.Process(proc.pid).children() if "spawn_main" in " ".join(c.cmdline())]
    assert len(engines) == 1, engines  # (the other child is multiprocessing's resource tracker)
    os.kill(engines[0].pid, signal.SIGILL)  # what a build using an instruction this CPU lacks suffers
    assert proc.wait(timeout=120) == 1
    err = log.read_text()
    assert "died with SIGILL (Illegal instruction)" in err and "scripts/install.sh" in err and "semcse doctor" in err
    assert "Traceback" not in err
    kept = SummaryStore(out).keys()
    assert 4 <= len(kept) < 40 and len(kept) % 4 == 0  # whole papers kept
    done = subprocess.run(args, capture_output=True, text=True, timeout=600)  # the same command continues
    assert done.returncode == 0, done.stderr
    stats = json.loads((out / "stats.json").read_text())
    assert stats["already_present"] == len(kept) and stats["store"]["records"] == 40


def test_isolated_backend_generates_like_the_in_process_one(data_root, llama_engine):
    job = plan_jobs(load_corpus(data_root / "scitldr" / "dev.jsonl", limit=1).papers, load_prompt_set().head(1), 2, set())[0]
    sampling = SamplingConfig(max_tokens=16, seed=3)
    isolated = IsolatedBackend(LlamaCppBackend, n_parallel=2)
    try:
        assert isolated.model_name.endswith(".gguf")
        [(got_job, gens)] = list(isolated.run([job], sampling))
    finally:
        isolated.close()
    assert got_job.paper_id == job.paper_id and isolated.exitcode == 0
    local = LlamaCppBackend(n_parallel=2)
    try:
        expected = local.generate_paper(job, sampling)
    finally:
        local.close()
    assert [g.text for g in gens] == [g.text for g in expected]


def test_load_error_in_the_child_is_a_backend_error(tmp_path):
    with pytest.raises(BackendError, match="not found"):
        IsolatedBackend(LlamaCppBackend, model=str(tmp_path / "missing.gguf"))
