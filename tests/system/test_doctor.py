"""``semcse doctor``: real checks, and a llama.cpp child that dies by a signal is a named failure."""

from __future__ import annotations

import json
import subprocess
import sys

from _support import SEMCSE
from semcse.system.doctor import check_llama_build, check_llama_decode, check_packages, VERDICTS


def test_a_child_killed_by_sigill_is_a_failed_check_naming_the_signal():
    suicide = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGILL)"]
    check = check_llama_decode(command=suicide, timeout=60)
    assert check.verdict == "fail"
    assert "SIGILL" in check.detail and "Illegal instruction" in check.detail
    assert "scripts/install.sh" in check.fix and "semcse doctor" in check.fix


def test_a_child_that_exits_with_an_error_is_a_failed_check():
    failing = [sys.executable, "-c", "import json; print(json.dumps({'error': 'cannot load GGUF model x.gguf'})); raise SystemExit(1)"]
    check = check_llama_decode(command=failing, timeout=60)
    assert check.verdict == "fail" and "cannot load GGUF" in check.detail


def test_real_decode_of_a_long_prompt(llama_engine):
    assert llama_engine["prompt_tokens"] >= 300 and llama_engine["generated_tokens"] == 16
    assert llama_engine["prompt_tokens_per_s"] > 0 and llama_engine["model"].endswith(".gguf")


def test_build_check_flags_a_build_this_cpu_cannot_run():
    assert check_llama_build().verdict in ("ok", "warn")  # the installed build, on this CPU
    lacking = check_llama_build(flags={"sse2"})  # as if the venv were copied to an older CPU
    assert lacking.verdict == "fail" and "AVX2" in lacking.detail


def test_packages_check_reads_semcse_requirements():
    check = check_packages()
    assert check.verdict in ("ok", "warn") and "torch" in check.data["versions"]


def test_cli_json_lists_every_check():
    res = subprocess.run(SEMCSE + ["doctor", "--json", "--no-llama"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    names = [c["name"] for c in report["checks"]]
    assert names == ["python", "packages", "torch threads", "llama.cpp build", "offline encoder", "shared data", "GPU"]
    assert report["verdict"] != "fail" and all(c["verdict"] in VERDICTS and c["detail"] for c in report["checks"])
