"""End-to-end training with the offline MiniLM: selection, saving, model card, resume, distributed."""

from __future__ import annotations

import json
import logging
import re
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from semcse.config import ConfigError
from semcse.training import trainer as trainer_module
from semcse.training.trainer import train
from semcse.training.model import ModelLoadError
from semcse.training.validation import PartnerRankEvaluator

TEXTS = ["Graph neural networks for molecules.", "A study of transformer training dynamics.", "Protein folding."]


def _encode(path: str | Path) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(path), device="cpu").encode(TEXTS)


def _weak_base(monkeypatch) -> None:
    """Make the untrained base look bad on validation (its ranks + 100): every trained candidate is better and eligible."""
    original = PartnerRankEvaluator.__call__

    def biased(self, model, output_path=None, epoch=-1, steps=-1):
        metrics = original(self, model, output_path, epoch, steps)
        if self.base_ranks is None:  # the base model's evaluation
            self.last_ranks = {t: r + 100 for t, r in self.last_ranks.items()}
            metrics = {k: v + 100 if k.endswith("mean_rank") else v for k, v in metrics.items()}
            metrics["validation_score"] = metrics["validation_selection_score"] = self.selector.score(self.last_ranks)
        return metrics

    monkeypatch.setattr(PartnerRankEvaluator, "__call__", biased)


@pytest.mark.slow
def test_trained_checkpoint_is_saved_loadable_with_similarity_and_card(tiny_config, monkeypatch, minilm_path):
    _weak_base(monkeypatch)
    result = train(tiny_config.replace(interpolation=None, keep_checkpoints=True))
    out = Path(tiny_config.out)
    assert result.selected.startswith("checkpoint-") and result.improved
    assert result.final_validation["score"] < result.base_validation["score"]
    selection = json.loads((out / "selection.json").read_text())
    assert [c["name"] for c in selection["candidates"]] == ["base", "checkpoint-2", "checkpoint-4"]
    assert [c["name"] for c in selection["candidates"] if c["selected"]] == [result.selected]
    assert all(c["eligible"] and set(c["changes"]) == set(result.metrics["validation"]["pool_sizes"])
               for c in selection["candidates"][1:])

    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(out), device="cpu")
    assert model.similarity_fn_name == "euclidean"
    emb = model.encode(TEXTS, convert_to_tensor=True)
    assert torch.allclose(model.similarity(emb, emb), -torch.cdist(emb, emb), atol=1e-5)
    # the saved weights are the selected checkpoint's, not the base model's
    assert np.allclose(emb.numpy(), _encode(out / "checkpoints" / result.selected), atol=1e-6)
    assert not np.allclose(emb.numpy(), _encode(minilm_path), atol=1e-4)

    metrics = json.loads((out / "semcse_train.json").read_text())
    assert metrics["status"] == "complete" and metrics["similarity"] == "euclidean" and metrics["steps"] == 4
    train_logs = [h for h in metrics["log_history"] if "loss" in h]
    assert train_logs and all(k in train_logs[-1] for k in ("d_ap", "d_an", "violating", "norm", "triplet", "l2"))
    assert sum(metrics["positive_mix"]["counts"].values()) == metrics["examples_per_epoch"] == 90
    assert metrics["data"]["train_papers"] == 30 and metrics["data"]["validation_papers"] == 10
    assert (out / "training_curve.png").stat().st_size > 10_000
    card = (out / "README.md").read_text()
    for needle in ("## SemCSE training", minilm_path, "SemCSETripletLoss", "margin=0.2", "learning_rate=2e-05",
                   "30 train / 10 validation", "| **selection score** (geometric mean over the voting tasks) |", result.selected, "euclidean"):
        assert needle in card, needle


@pytest.mark.slow
def test_wise_interpolation_is_handed_over_when_eligible(tiny_config, monkeypatch, minilm_path):
    _weak_base(monkeypatch)
    result = train(tiny_config.replace(keep_checkpoints=True))  # default interpolation 0.5
    assert result.selected == "interpolation-0.5-checkpoint-4" and result.improved
    from sentence_transformers import SentenceTransformer

    saved, base = SentenceTransformer(tiny_config.out, device="cpu"), SentenceTransformer(minilm_path, device="cpu")
    last = SentenceTransformer(str(Path(tiny_config.out) / "checkpoints" / "checkpoint-4"), device="cpu")
    key = next(k for k, v in saved.state_dict().items() if v.is_floating_point() and "weight" in k)
    expected = 0.5 * base.state_dict()[key] + 0.5 * last.state_dict()[key]
    assert torch.allclose(saved.state_dict()[key], expected, atol=1e-6)
    assert not torch.allclose(saved.state_dict()[key], last.state_dict()[key])
    selection = json.loads((Path(tiny_config.out) / "selection.json").read_text())
    assert selection["selected"] == result.selected and "WiSE-FT" in selection["rule"]


@pytest.mark.slow
def test_base_anchor_run_logs_its_penalty_saves_only_the_model_and_cleans_up(tiny_config, monkeypatch, minilm_path, caplog):
    _weak_base(monkeypatch)
    caplog.set_level(logging.INFO, logger="semcse.training.trainer")
    result = train(tiny_config.replace(interpolation=None, base_anchor=1.0, progress=True))
    out = Path(tiny_config.out)
    metrics = json.loads((out / "semcse_train.json").read_text())
    train_logs = [h for h in metrics["log_history"] if "loss" in h]
    assert train_logs and train_logs[-1]["base_anchor"] > 0  # the trained model has moved from the base
    assert metrics["loss"]["name"] == "BaseAnchorLoss" and metrics["loss"]["base_anchor"] == 1.0
    from safetensors import safe_open

    with safe_open(str(out / "model.safetensors"), "pt") as saved, \
            safe_open(str(Path(minilm_path) / "model.safetensors"), "pt") as base:
        assert 0 < len(saved.keys()) and set(saved.keys()) <= set(base.keys())  # the frozen base copy is not saved
    assert result.selected.startswith("checkpoint-")
    assert not (out / "checkpoints").exists() and not (out / "prepared").exists()  # removed once the run is complete
    assert "removed the checkpoints and prepared data" in caplog.text
    assert train(tiny_config.replace(interpolation=None, base_anchor=1.0, resume=True)).selected == result.selected
    assert re.search(r"step 4/4  loss [\d.]+ .* ex/s  ETA 0:00", caplog.text)  # the trainer's progress line


@pytest.mark.slow
def test_base_model_is_kept_when_training_only_damages_it(tiny_config, minilm_path):
    cfg = tiny_config.replace(learning_rate=5e-3, warmup_ratio=0.0, loss="infonce", negatives="batch-all", max_steps=3,
                              cached_mini_batch=3)
    result = train(cfg)
    assert result.selected == "base" and not result.improved
    assert result.metrics["loss"]["name"] == "CachedSemCSELoss" and result.metrics["loss"]["mini_batch_size"] == 3
    candidates = result.metrics["selection"]["candidates"]
    assert [c["name"] for c in candidates] == ["base", "checkpoint-2", "checkpoint-3", "interpolation-0.5-checkpoint-3"]
    assert (Path(cfg.out) / "selection.json").exists()
    for c in candidates[1:]:  # training really did damage it: every candidate is blocked or scores worse
        assert c["blocked_by"] or c["score"] >= result.base_validation["score"], c
    assert result.final_validation == result.base_validation
    from sentence_transformers import SentenceTransformer

    saved = SentenceTransformer(cfg.out, device="cpu")
    assert saved.similarity_fn_name == "cosine"
    assert np.allclose(saved.encode(TEXTS), _encode(minilm_path), atol=1e-6)
    assert "this is the base model" in (Path(cfg.out) / "README.md").read_text()
    # the same command again refuses to overwrite the finished run without --resume / --overwrite
    with pytest.raises(ConfigError, match="--resume"):
        train(cfg)
    assert train(cfg.replace(resume=True)).selected == "base"  # resume of a finished run: nothing to do


def _cli(cfg, *extra: str) -> list[str]:
    corpus, summaries = cfg.corpus.source, cfg.summaries[0]
    return ["train", "--corpus", corpus, "--summaries", summaries, "--base-model", cfg.base_model, "--out", cfg.out,
            "--max-seq-length", "48", "--batch-size", "4", "--validation-papers", "10", "--logging-steps", "1", *extra]


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
            "PYTHONUNBUFFERED": "1"}


@pytest.mark.slow
def test_killed_run_resumes_from_its_last_checkpoint(tiny_config, tmp_path):
    args = [sys.executable, "-m", "semcse", *_cli(tiny_config, "--max-steps", "10", "--eval-steps", "2")]
    log1 = tmp_path / "first.log"
    with log1.open("w") as fh:
        proc = subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, env=_env(), start_new_session=True)
        checkpoints = Path(tiny_config.out) / "checkpoints"
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None:
            if list(checkpoints.glob("checkpoint-*/trainer_state.json")):
                break
            time.sleep(0.2)
        assert proc.poll() is None, "training finished before it could be killed:\n" + log1.read_text()[-3000:]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (Path(tiny_config.out) / "semcse_train.json").exists()
    done = sorted(int(p.parent.name.split("-")[1]) for p in checkpoints.glob("checkpoint-*/trainer_state.json"))
    assert done and done[-1] < 10

    again = subprocess.run(args, capture_output=True, text=True, env=_env(), timeout=600)
    assert again.returncode == 2 and "--resume" in again.stderr  # no silent restart over an earlier run
    resumed = subprocess.run(args + ["--resume"], capture_output=True, text=True, env=_env(), timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming from {checkpoints / f'checkpoint-{done[-1]}'}" in resumed.stderr
    logged_steps = [int(line.split("step ")[1].split("/")[0]) for line in resumed.stderr.splitlines() if " step " in line and "/10" in line]
    assert logged_steps and min(logged_steps) > done[-1] and max(logged_steps) == 10  # continued, did not restart
    metrics = json.loads((Path(tiny_config.out) / "semcse_train.json").read_text())
    assert metrics["steps"] == 10
    assert [h["step"] for h in metrics["log_history"] if "loss" in h] == list(range(1, 11))  # history of both runs


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["torchrun", "accelerate"])
def test_two_process_distributed_run(tiny_config, launcher):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free_port = s.getsockname()[1]
    if launcher == "torchrun":
        launch = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={free_port}"]
    else:  # accelerate's torch.distributed launcher; with no GPU the trainer runs both processes on CPU (gloo)
        launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes=2",
                  "--num_machines=1", "--mixed_precision=no", "--dynamo_backend=no", f"--main_process_port={free_port}"]
    args = [*launch, "-m", "semcse", *_cli(tiny_config, "--max-steps", "3", "--eval-steps", "2")]
    proc = subprocess.run(args, capture_output=True, text=True, env=_env(), timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = Path(tiny_config.out)
    metrics = json.loads((out / "semcse_train.json").read_text())
    assert metrics["world_size"] == 2 and metrics["steps"] == 3
    assert proc.stdout.count('"selected"') == 1  # one report, from the main process
    from sentence_transformers import SentenceTransformer

    assert SentenceTransformer(str(out), device="cpu").encode(TEXTS).shape == (3, 384)


def test_cli_rejects_bad_inputs_with_clear_messages(tiny_config, tmp_path, data_root):
    from typer.testing import CliRunner

    from semcse.cli import _register, app

    _register()
    runner = CliRunner()

    def run(*args: str):
        result = runner.invoke(app, list(args))
        return result.exit_code, result.output + (result.stderr if hasattr(result, "stderr") else "")

    base = ["--base-model", tiny_config.base_model, "--out", str(tmp_path / "o")]
    corpus, summaries = tiny_config.corpus.source, tiny_config.summaries[0]
    # summaries of another corpus: CSAbstruct abstract ids against SciTLDR papers
    other = tmp_path / "other.jsonl"
    other.write_text("".join(json.dumps({"id": f"cs-{i}", "summaries": ["a summary"]}) + "\n" for i in range(5)))
    code, text = run("train", "--corpus", corpus, "--summaries", str(other), *base)
    assert code == 2 and "none of the 5 summarised paper ids occurs in the corpus" in text
    # an empty corpus
    empty = tmp_path / "empty.jsonl"
    empty.write_text(json.dumps({"paper_id": "x", "title": "t", "source": []}) + "\n")
    code, text = run("train", "--corpus", str(empty), "--summaries", summaries, *base)
    assert code == 2 and "no usable papers" in text
    # a store with no summaries, and no summaries given
    (tmp_path / "store" / "records").mkdir(parents=True)
    (tmp_path / "store" / "records" / "main.jsonl").write_text("")
    code, text = run("train", "--corpus", corpus, "--summaries", str(tmp_path / "store"), *base)
    assert code == 2 and "no accepted summaries" in text
    code, text = run("train", "--corpus", corpus, *base)
    assert code == 2 and "--summaries is required" in text
    code, text = run("train", "--corpus", corpus, "--summaries", summaries, *base, "--negatives", "hard")
    assert code == 2 and "--negatives must be one of same-kind, batch-all, got 'hard'" in text
    # no --base-model: the default (the offline all-MiniLM-L6-v2) is named, then the input is still checked
    code, text = run("train", "--corpus", corpus, "--summaries", summaries, "--out", str(tmp_path / "o"), "--negatives", "hard")
    assert code == 2 and "(the default; choose another with --base-model)" in text and "--negatives must be one of" in text
    assert not (tmp_path / "o" / "checkpoints").exists()


def test_plan_steps_and_resume_config_check(tiny_config, tmp_path):
    assert trainer_module.plan_steps(tiny_config.replace(max_steps=None, epochs=2.0), 90, 1) == (24, 12, 2)
    assert trainer_module.plan_steps(tiny_config.replace(max_steps=30), 90, 1) == (30, 12, 3)
    out = Path(tiny_config.out)
    out.mkdir(parents=True)
    (out / "train_config.json").write_text(json.dumps(tiny_config.to_dict()))
    with pytest.raises(ConfigError, match="learning_rate"):
        trainer_module.prepare_out_dir(tiny_config.replace(resume=True, learning_rate=1e-3))
    assert trainer_module.prepare_out_dir(tiny_config.replace(resume=True, logging_steps=5)) is None
    with pytest.raises(ConfigError, match="--base-anchor must be >= 0"):
        trainer_module._check_config(tiny_config.replace(base_anchor=-1.0))
    with pytest.raises(ConfigError, match="--base-anchor cannot be combined with --cached-mini-batch"):
        trainer_module._check_config(tiny_config.replace(base_anchor=1.0, cached_mini_batch=4))


def test_every_train_config_field_is_a_cli_option():
    import dataclasses

    import typer.main

    from semcse.cli import _register, app
    from semcse.config import CorpusConfig, TrainConfig

    _register()
    command = next(c for c in typer.main.get_command(app).commands.values() if c.name == "train")
    options = {opt for param in command.params for opt in param.opts}
    corpus_options = {"source": "--corpus", "format": "--format"}
    missing = [f.name for f in dataclasses.fields(TrainConfig) if f.name != "corpus" and f"--{f.name.replace('_', '-')}" not in options]
    assert not missing, missing
    used_corpus = {"source", "format", "split", "id_field", "title_field", "abstract_field", "title_from_first_sentence",
                   "max_abstract_chars", "limit"}
    for name in used_corpus:
        assert corpus_options.get(name, f"--{name.replace('_', '-')}") in options, name
    assert {f.name for f in dataclasses.fields(CorpusConfig)} >= used_corpus


@pytest.mark.slow
def test_nan_stops_training_with_a_clear_warning_and_keeps_the_base(tiny_config, caplog):
    cfg = tiny_config.replace(learning_rate=1e4, warmup_ratio=0.0, max_steps=8, eval_steps=4, batch_size=4, max_seq_length=32)
    result = train(cfg)
    assert result.steps < 8  # stopped at the first non-finite log, not run to the end
    assert any("non-finite" in w and "loss" in w for w in result.warnings)
    assert "TRAINING HEALTH" in caplog.text
    assert result.selected == "base" and result.final_validation == result.base_validation


def test_display_name_for_the_model_card(tmp_path):
    corpus = tmp_path / "scitldr" / "train.jsonl"
    corpus.parent.mkdir()
    corpus.write_text("{}\n")
    assert trainer_module.display_name(str(corpus)) == "scitldr/train.jsonl"
    assert trainer_module.display_name("allenai/scibert_scivocab_uncased") == "allenai/scibert_scivocab_uncased"


def test_training_with_frozen_lower_layers_changes_only_the_upper_ones(tiny_config, minilm_path):
    from sentence_transformers import SentenceTransformer

    cfg = tiny_config.replace(freeze_layers=4, keep_checkpoints=True)
    train(cfg)
    base = SentenceTransformer(minilm_path, device="cpu").state_dict()
    last = SentenceTransformer(str(Path(cfg.out) / "checkpoints" / "checkpoint-4"), device="cpu").state_dict()
    moved = {k for k in base if base[k].is_floating_point() and not torch.equal(base[k], last[k])}
    assert moved and all(".encoder.layer.4." in k or ".encoder.layer.5." in k or ".pooler." in k for k in moved), sorted(moved)[:5]
    with pytest.raises(ModelLoadError, match="between 0 and 5"):
        train(cfg.replace(freeze_layers=6, overwrite=True))


@pytest.mark.slow
def test_auto_objective_trains_a_sentence_embedder_with_a_frozen_guide(tiny_config, monkeypatch, minilm_path):
    _weak_base(monkeypatch)
    cfg = tiny_config.replace(loss="auto", interpolation=None, batch_size=8, cached_mini_batch=4)
    result = train(cfg)
    out = Path(cfg.out)
    metrics = json.loads((out / "semcse_train.json").read_text())
    assert metrics["config"]["loss"] == "gist"  # auto resolved by the base's kind, recorded as such
    assert metrics["loss"]["name"] == "CachedGISTEmbedLoss" and metrics["similarity"] == "cosine"
    assert result.selected.startswith("checkpoint-")
    from safetensors import safe_open

    with safe_open(str(out / "model.safetensors"), "pt") as saved, \
            safe_open(str(Path(minilm_path) / "model.safetensors"), "pt") as base:
        assert set(saved.keys()) <= set(base.keys())  # the guide is not saved with the model
        key = next(k for k in saved.keys() if "layer.5" in k and k.endswith("weight"))
        assert not torch.equal(saved.get_tensor(key), base.get_tensor(key))  # the model trained
    loss_line = next(line for line in (out / "README.md").read_text().splitlines() if line.startswith("- Loss:"))
    assert "GIST" in loss_line and "the base model (frozen copy)" in loss_line and "SentenceTransformer(" not in loss_line
    assert metrics["loss"]["guide"] == "the base model (frozen copy)"  # by name, not the guide's repr


def test_auto_objective_is_the_papers_triplet_for_a_raw_encoder(tiny_config, minilm_path, tmp_path):
    import shutil

    from semcse.training.trainer import resolve_objective

    raw = tmp_path / "raw-encoder"  # the same weights as a plain Hugging Face encoder (no sentence-transformers modules)
    raw.mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt"):
        if (Path(minilm_path) / name).exists():
            shutil.copy(Path(minilm_path) / name, raw / name)
    assert resolve_objective(tiny_config.replace(loss="auto", base_model=str(raw))).loss == "triplet"
    assert resolve_objective(tiny_config.replace(loss="auto")).loss == "gist"
    assert resolve_objective(tiny_config.replace(loss="infonce")).loss == "infonce"  # only auto is resolved
