"""The command line's error contract: one line and an exit code, the traceback only with --debug."""

from __future__ import annotations

import subprocess
import sys

from _support import SEMCSE

# run the real CLI in a child whose doctor checks raise an error semcse does not know (a bug, as a user meets it)
BUGGY = ("import sys, semcse.system.doctor as d\n"
         "def broken(**kw):\n    raise ZeroDivisionError('division by zero')\n"
         "d.run_checks = broken\n"
         "from semcse.cli import main\nsys.argv = ['semcse', *sys.argv[1:]]\nmain()\n")


def _buggy(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BUGGY, *args], capture_output=True, text=True, timeout=120)


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback():
    res = _buggy("doctor", "--no-llama")
    assert res.returncode == 1 and "Traceback" not in res.stderr
    line = [x for x in res.stderr.splitlines() if x.startswith("error:")]
    assert len(line) == 1 and "unexpected ZeroDivisionError: division by zero" in line[0] and "--debug" in line[0]
    debug = _buggy("--debug", "doctor", "--no-llama")
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "ZeroDivisionError" in debug.stderr


def test_debug_adds_the_traceback_to_an_input_error(tmp_path):
    fake = tmp_path / "papers.parquet"
    fake.write_text("not parquet\n")
    args = ["summarize", "--corpus", str(fake), "--out", str(tmp_path / "o")]
    plain = subprocess.run(SEMCSE + args, capture_output=True, text=True, timeout=120)
    debug = subprocess.run([*SEMCSE, "--debug", *args],
                           capture_output=True, text=True, timeout=120)
    for res in (plain, debug):
        assert res.returncode == 2 and "not a readable Parquet file" in res.stderr
    assert "Traceback" not in plain.stderr and "Traceback" in debug.stderr


def test_version():
    from semcse import __version__

    res = subprocess.run(SEMCSE + ["--version"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == f"semcse {__version__}"


def _captured_config(monkeypatch, module: str, name: str, args: list[str]):
    """Run ``semcse ARGS`` in-process with the API function ``module.name`` replaced by one that records
    the config the command built (and stops there)."""
    import importlib

    from typer.testing import CliRunner

    from semcse.cli import _register, app

    class Captured(Exception):
        pass

    def record(cfg, *a, **kw):
        raise Captured(cfg)

    monkeypatch.setattr(importlib.import_module(module), name, record)
    _register()
    res = CliRunner().invoke(app, args)
    assert isinstance(res.exception, Captured), res.output
    return res.exception.args[0]


def test_options_become_the_config_fields_of_their_names(monkeypatch, tmp_path):
    cfg = _captured_config(monkeypatch, "semcse.training", "train", [
        "train", "--corpus", "papers.jsonl", "--format", "jsonl", "--limit", "5", "--summaries", "a", "--summaries", "b",
        "--out", str(tmp_path / "o"), "--base-model", "m", "--p-abstract", "0.3", "--interpolation", "0", "--no-group-by-kind"])
    assert (cfg.corpus.source, cfg.corpus.format, cfg.corpus.limit) == ("papers.jsonl", "jsonl", 5)
    assert cfg.summaries == ("a", "b") and cfg.out == str(tmp_path / "o") and cfg.base_model == "m"
    assert (cfg.p_abstract, cfg.interpolation, cfg.group_by_kind, cfg.margin) == (0.3, None, False, 0.2)

    cfg = _captured_config(monkeypatch, "semcse.summaries", "summarize", [
        "summarize", "--corpus", "papers.jsonl", "--out", "run", "--limit", "7", "--label-field", "y", "--seed", "3",
        "--top-k", "0", "--base-url", "http://127.0.0.1:1/v1", "--base-url", "http://127.0.0.1:2/v1", "--backend", "openai"])
    assert cfg.limit == 7 and cfg.corpus.limit is None  # --limit counts after sharding, not in the corpus reader
    assert (cfg.corpus.label_field, cfg.sampling.seed, cfg.sampling.top_k, cfg.sampling.max_tokens) == ("y", 3, 0, 128)
    assert cfg.base_urls == ("http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1") and cfg.backend == "openai"

    cfg = _captured_config(monkeypatch, "semcse.embed", "embed_corpus", [
        "embed", "--model", "m", "--corpus", "papers.jsonl", "--out", "idx", "--limit", "9", "--fp32"])
    assert (cfg.corpus.limit, cfg.fp16, cfg.out, cfg.batch_size) == (9, False, "idx", 64)
    cfg = _captured_config(monkeypatch, "semcse.search", "search", ["search", "--index", "idx", "-k", "4", "q1", "q2"])
    assert (cfg.queries, cfg.k, cfg.index) == (("q1", "q2"), 4, "idx")


def test_every_command_reading_a_corpus_takes_the_same_corpus_options(monkeypatch, tmp_path):
    given = ["--corpus", "p.csv", "--format", "csv", "--id-field", "pid", "--abstract-field", "text", "--title-from-first-sentence",
             "--max-abstract-chars", "500"]
    expected = dict(source="p.csv", format="csv", id_field="pid", abstract_field="text", title_from_first_sentence=True,
                    max_abstract_chars=500, title_field=None)
    commands = [("semcse.training", "train", ["train", "--summaries", "s", "--out", "o", "--base-model", "m"]),
                ("semcse.summaries", "summarize", ["summarize", "--out", "o"]),
                ("semcse.summaries.batch", "write_batch_requests", ["summarize", "batch-write", "--out", "o", "--server-model", "x"]),
                ("semcse.embed", "embed_corpus", ["embed", "--model", "m", "--out", "o"]),
                ("semcse.pipeline", "run", ["run", "--out", str(tmp_path / "r")])]
    for module, name, args in commands:
        corpus = _captured_config(monkeypatch, module, name, [*args, *given]).corpus
        assert {k: getattr(corpus, k) for k in expected} == expected, args[0]
    run = _captured_config(monkeypatch, "semcse.pipeline", "run", ["run", "--out", str(tmp_path / "r"), "--corpus", "p.jsonl"])
    from semcse.config import CorpusConfig

    assert run.corpus == CorpusConfig(source="p.jsonl")  # options not given leave the (default) config as it was


def test_evaluate_options_typed_on_the_command_line_win_over_the_config_file(monkeypatch, tmp_path):
    conf = tmp_path / "eval.toml"
    conf.write_text('[evaluate]\nmodels = ["from-file"]\nbatch_size = 8\ncache = false\nprojection = "umap"\nseed = 4\n')
    cfg = _captured_config(monkeypatch, "semcse.evaluation", "evaluate",
                           ["evaluate", "--config", str(conf), "--cache", "--batch-size", "32", "-t", "a", "-t", "b"])
    assert (cfg.cache, cfg.batch_size, cfg.tasks) == (True, 32, ("a", "b"))  # typed, even where equal to the default
    assert (cfg.models, cfg.projection, cfg.seed, cfg.plots) == (("from-file",), "umap", 4, True)  # the file's, else defaults
    cfg = _captured_config(monkeypatch, "semcse.evaluation", "evaluate", ["evaluate", "--config", str(conf), "-m", "x"])
    assert (cfg.models, cfg.batch_size, cfg.cache) == (("x",), 8, False)


def test_every_option_takes_its_help_and_default_from_the_config_field():
    import dataclasses

    import pytest
    import typer

    from semcse import config
    from semcse.cli import _register, app, config_option
    from semcse.cli.common import option_help

    classes = (config.CorpusConfig, config.SamplingConfig, config.SummarizeConfig, config.TrainConfig,
               config.EvaluateConfig, config.EmbedConfig, config.SearchConfig, config.RunConfig)
    for cls in classes:  # one place for the help text, also for Python users
        assert all(f.metadata.get("help") for f in dataclasses.fields(cls) if f.default_factory is dataclasses.MISSING), cls
    _register()
    train = typer.main.get_command(app).commands["train"]
    params = {p.name: p for p in train.params}
    for name, field_name, cls in (("margin", "margin", config.TrainConfig), ("base_anchor", "base_anchor", config.TrainConfig),
                                  ("format", "format", config.CorpusConfig), ("interpolation", "interpolation", config.TrainConfig)):
        assert params[name].help == option_help(cls, field_name)  # the help text, with the range where it has one
        assert params[name].default == getattr(cls(), field_name)
    for p in train.params:  # every option named after a TrainConfig field shows that field's help and default
        if p.name in {f.name for f in dataclasses.fields(config.TrainConfig)} - {"corpus", "out", "base_model"}:
            assert (p.help, p.default) == (option_help(config.TrainConfig, p.name),
                                           list(d) if isinstance(d := getattr(config.TrainConfig(), p.name), tuple) else d), p.name
    with pytest.raises(config.ConfigError, match="TrainConfig has no option 'margins'"):
        config_option(config.TrainConfig, "margins")


def test_every_command_turns_progress_off_with_no_progress_or_quiet(monkeypatch, tmp_path):
    commands = {"train": ("semcse.training", "train", ["--corpus", "p.jsonl", "--summaries", "s", "--out", "o", "--base-model", "m"]),
                "summarize": ("semcse.summaries", "summarize", ["--corpus", "p.jsonl", "--out", "o"]),
                "evaluate": ("semcse.evaluation", "evaluate", ["-m", "x", "--out", "o"]),
                "embed": ("semcse.embed", "embed_corpus", ["--model", "m", "--corpus", "p.jsonl", "--out", "o"])}
    for command, (module, name, args) in commands.items():
        assert _captured_config(monkeypatch, module, name, [command, *args]).progress is True
        for flag in ("--no-progress", "--quiet"):
            assert _captured_config(monkeypatch, module, name, [command, *args, flag]).progress is False, (command, flag)
    run = ["run", "--corpus", "p.jsonl", "--out", str(tmp_path / "r")]
    cfg = _captured_config(monkeypatch, "semcse.pipeline", "run", run)
    assert (cfg.summarize.progress, cfg.train.progress, cfg.evaluate.progress) == (True, True, True)
    cfg = _captured_config(monkeypatch, "semcse.pipeline", "run", [*run, "--quiet"])
    assert (cfg.summarize.progress, cfg.train.progress, cfg.evaluate.progress) == (False, False, False)


def test_run_options_given_override_the_config_file_and_the_rest_keep_its_values(monkeypatch, tmp_path):
    conf = tmp_path / "run.toml"
    conf.write_text('[run]\npapers = 6\nsteps = 7\nseed = 9\nbenchmark_tasks = ["a"]\n\n[corpus]\nsource = "c.jsonl"\n')
    cfg = _captured_config(monkeypatch, "semcse.pipeline", "run",
                           ["run", "--config", str(conf), "--out", str(tmp_path / "r"), "--papers", "5", "--benchmark-task", "none"])
    assert (cfg.papers, cfg.steps, cfg.seed, cfg.benchmark_tasks) == (5, 7, 9, ())
    assert (cfg.out, cfg.corpus.source) == (str(tmp_path / "r"), "c.jsonl")
    cfg = _captured_config(monkeypatch, "semcse.pipeline", "run", ["run", "--config", str(conf), "--benchmark-task", "b"])
    assert (cfg.papers, cfg.benchmark_tasks) == (6, ("b",))
