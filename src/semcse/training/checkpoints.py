"""Training checkpoints on disk: which are complete, and whether one is intact enough to resume from.

A checkpoint is complete once its ``trainer_state.json`` is written (the Trainer writes it last).
A complete checkpoint can still be damaged later (a full disk, a copy cut short, a bad sector):
:func:`checkpoint_problem` reads every file the Trainer would load on resume and says what is wrong,
so ``--resume`` can set a damaged checkpoint aside and continue from the one before it.
"""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

CHECKPOINTS = "checkpoints"
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
