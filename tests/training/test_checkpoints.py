"""Checkpoint integrity: a damaged checkpoint is found, set aside, and --resume continues from the one before."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from semcse.training.checkpoints import checkpoint_problem, complete_checkpoints
from semcse.training.checkpoints import RESULT_FILE
from semcse.training.trainer import train


@pytest.mark.slow
def test_resume_sets_a_damaged_checkpoint_aside_and_continues_from_the_one_before(tiny_config, caplog):
    cfg = tiny_config.replace(max_steps=4, eval_steps=2, save_total_limit=5, keep_checkpoints=True)
    train(cfg)
    out = Path(cfg.out)
    found = complete_checkpoints(out)
    assert [p.name for p in found] == ["checkpoint-2", "checkpoint-4"]
    assert all(checkpoint_problem(p) is None for p in found)

    # as if the run had been killed after checkpoint-4 was written and its weights were then cut short
    (out / RESULT_FILE).unlink()
    weights = found[-1] / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    assert checkpoint_problem(found[-1]).startswith("model.safetensors: cut short")
    with caplog.at_level(logging.INFO, logger="semcse"):
        result = train(cfg.replace(resume=True))
    log = caplog.text
    assert "checkpoint-4 is damaged (model.safetensors: cut short" in log and "resuming from" in log
    assert f"resuming from {found[0]}" in log
    assert (out / "checkpoints" / "damaged-checkpoint-4").is_dir()
    assert result.metrics["steps"] == 4 and json.loads((out / RESULT_FILE).read_text())["status"] == "complete"
    assert checkpoint_problem(out / "checkpoints" / "checkpoint-4") is None  # steps 3-4 trained again


def test_checkpoint_problem_names_the_file_and_the_fault(tmp_path):
    import torch
    from safetensors.torch import save_file

    ck = tmp_path / "checkpoint-1"
    ck.mkdir()
    assert checkpoint_problem(ck).startswith("trainer_state.json")
    (ck / "trainer_state.json").write_text(json.dumps({"global_step": 1}))
    assert checkpoint_problem(ck) == "no model weights (*.safetensors)"
    save_file({"w": torch.arange(1000, dtype=torch.float32)}, str(ck / "model.safetensors"))
    torch.save({"state": torch.arange(1000)}, ck / "optimizer.pt")
    assert checkpoint_problem(ck) is None
    data = bytearray((ck / "optimizer.pt").read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte inside a tensor record
    (ck / "optimizer.pt").write_bytes(bytes(data))
    assert checkpoint_problem(ck).startswith("optimizer.pt: ")
    (ck / "optimizer.pt").write_bytes(b"not a zip")
    assert "not a readable torch file" in checkpoint_problem(ck)
