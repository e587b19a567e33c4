"""Training checkpoints on disk: which are complete, whether one is intact enough to resume from,
and the run directory checked against --resume / --overwrite.

A checkpoint is complete once its ``trainer_state.json`` is written (the Trainer writes it last).
A complete checkpoint can still be damaged later (a full disk, a copy cut short, a bad sector):
:func:`checkpoint_problem` reads every file the Trainer would load on resume and says what is wrong,
so ``--resume`` can set a damaged checkpoint aside and continue from the one before it.
"""

from __future__ import annotations

import json
import logging
import shutil
import struct
import zipfile
from pathlib import Path

from semcse.config import ConfigError, TrainConfig

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
PREPARED = "prepared"  # <out>/prepared/<fingerprint>/: the prepared papers, reused by resumes and ranks
# the files of a run directory beside the model
RESULT_FILE = "semcse_train.json"
CONFIG_FILE = "train_config.json"
BASE_FILE = "base_validation.json"
BASE_RANKS_FILE = "base_validation_ranks.npz"
SELECTION_FILE = "selection.json"
CURVE_FILE = "training_curve.png"
# options that may differ between a run and its resume
RESUME_FREE = {"resume", "overwrite", "progress", "dataloader_workers", "eval_steps", "logging_steps", "save_total_limit",
               "interpolation", "selection_confidence", "min_vote_pool", "cached_mini_batch", "keep_checkpoints"}
DAMAGED_PREFIX = "damaged-"  # a damaged checkpoint is renamed out of the Trainer's ``checkpoint-*`` glob


def complete_checkpoints(out: Path) -> list[Path]:
    """Checkpoints under ``out/checkpoints`` whose trainer state was written, oldest first."""
    root = Path(out) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = [p for p in root.glob("checkpoint-*") if p.is_dir() and (p / "trainer_state.json").exists()
             and p.name.split("-")[-1].isdigit()]
    return sorted(found, key=lambda p: int(p.name.split("-")[-1]))


def _safetensors_problem(path: Path) -> str | None:
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            return "shorter than a safetensors header"
        (n,) = struct.unpack("<Q", head)
        if n > size - 8:
            return f"header of {n} bytes in a file of {size}"
        try:
            header = json.loads(fh.read(n))
        except ValueError as exc:
            return f"unreadable header ({exc})"
    ends = [t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"]
    if 8 + n + max(ends, default=0) > size:
        return f"cut short: {size} bytes, its header needs {8 + n + max(ends)}"
    return None


def _torch_zip_problem(path: Path) -> str | None:
    """torch.save writes a zip archive with a CRC per record: a truncated or altered file fails the check."""
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        return f"not a readable torch file ({exc})"
    return f"record {bad} fails its checksum" if bad else None


def checkpoint_problem(checkpoint: Path) -> str | None:
    """What makes ``checkpoint`` unusable for resuming (``"file: problem"``), or None if it is intact."""
    checkpoint = Path(checkpoint)
    try:
        state = json.loads((checkpoint / "trainer_state.json").read_text())
        if not isinstance(state, dict) or "global_step" not in state:
            return "trainer_state.json: no global_step"
    except (OSError, ValueError) as exc:
        return f"trainer_state.json: {exc}"
    weights = sorted(checkpoint.rglob("*.safetensors"))
    if not weights and not list(checkpoint.rglob("pytorch_model*.bin")):
        return "no model weights (*.safetensors)"
    checks = [(p, _safetensors_problem) for p in weights]
    checks += [(p, _torch_zip_problem) for p in sorted(checkpoint.glob("*.pt")) + sorted(checkpoint.glob("*.pth"))]
    for path, check in checks:
        try:
            problem = check(path)
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
            problem = f"unreadable ({exc.__class__.__name__}: {exc})"
        if problem:
            return f"{path.relative_to(checkpoint)}: {problem}"
    return None


def set_aside(checkpoint: Path) -> Path:
    """Rename a damaged checkpoint to ``damaged-<name>`` (kept for inspection, never loaded or rotated)."""
    target = checkpoint.with_name(DAMAGED_PREFIX + checkpoint.name)
    n = 1
    while target.exists():
        target, n = checkpoint.with_name(f"{DAMAGED_PREFIX}{n}-{checkpoint.name}"), n + 1
    checkpoint.rename(target)
    return target


def remove_training_state(out: Path) -> int:
    """After a finished run: delete ``checkpoints/`` and ``prepared/`` (only a resume needs them), so the
    folder holds the model and its reports. Returns the bytes freed."""
    freed = 0
    for name in (CHECKPOINTS, PREPARED):
        folder = Path(out) / name
        if folder.is_dir():
            freed += sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
            shutil.rmtree(folder, ignore_errors=True)
    return freed


def prepare_out_dir(cfg: TrainConfig) -> Path | None:
    """Check the output directory against --resume / --overwrite; returns the checkpoint to resume."""
    out = Path(cfg.out)
    saved = out / CONFIG_FILE
    if cfg.overwrite:
        shutil.rmtree(out / CHECKPOINTS, ignore_errors=True)
        for name in (RESULT_FILE, CONFIG_FILE, BASE_FILE, BASE_RANKS_FILE, SELECTION_FILE, CURVE_FILE):
            (out / name).unlink(missing_ok=True)
    checkpoints = complete_checkpoints(out)
    if not cfg.resume:
        if checkpoints or (out / RESULT_FILE).exists():
            raise ConfigError(f"{out} holds an earlier training run; pass --resume to continue it or --overwrite to start over")
        return None
    if saved.exists():
        before = json.loads(saved.read_text())
        now = cfg.to_dict()
        changed = sorted(k for k in set(before) | set(now) if k not in RESUME_FREE and before.get(k) != now.get(k))
        if changed:
            raise ConfigError(f"--resume: options differ from the run in {out}: "
                              + "; ".join(f"{k}: {before.get(k)!r} -> {now.get(k)!r}" for k in changed))
    root = out / CHECKPOINTS
    if root.is_dir():  # a checkpoint cut off while being written
        for partial in root.glob("checkpoint-*"):
            if partial.is_dir() and partial not in checkpoints:
                log.warning("removing incomplete checkpoint %s", partial)
                shutil.rmtree(partial, ignore_errors=True)
    while checkpoints and (problem := checkpoint_problem(checkpoints[-1])):
        damaged = checkpoints.pop()
        log.warning("--resume: %s is damaged (%s); set aside as %s, resuming from the checkpoint before it",
                    damaged, problem, set_aside(damaged).name)
    if not checkpoints:
        log.info("--resume: no usable checkpoint in %s; starting from the beginning", root)
        return None
    log.info("resuming from %s", checkpoints[-1])
    return checkpoints[-1]

