"""Every option's valid range lives on its config field and is checked when a config is built, before
any work. The cases are generated from the fields: for every ranged or choice field of every config,
a value just outside is refused by the Python API (:class:`ConfigError`), by a config file (naming the
table and key) and by the command line (one line, exit 2, no traceback); a numeric field without a
range fails. Then the inputs a new user met, one by one."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import re
import types
import typing

import pytest

from semcse import config
from semcse.config import ConfigError, TrainConfig

CONFIGS = sorted((c for c in vars(config).values()
                  if isinstance(c, type) and issubclass(c, config._Config) and c is not config._Config), key=lambda c: c.__name__)

# a predicate says what it accepts, not where its edge is: one value it refuses, per field
PREDICATE_OUTSIDE = {("TrainConfig", "validation_papers"): 1.5, ("SummarizeConfig", "shard"): "4/2"}
# where each config's options are on the command line: the command and the options it needs to get going
# (none of these files exists: a value refused later than the config would fail differently)
COMMANDS = {
    "CorpusConfig": ["train", "--corpus", "c.jsonl", "--summaries", "s", "--out", "o", "--base-model", "m"],
    "TrainConfig": ["train", "--corpus", "c.jsonl", "--summaries", "s", "--out", "o", "--base-model", "m"],
    "SamplingConfig": ["summarize", "--corpus", "c.jsonl", "--out", "o"],
    "SummarizeConfig": ["summarize", "--corpus", "c.jsonl", "--out", "o"],
    "EvaluateConfig": ["evaluate", "-m", "m", "--out", "o"],
    "EmbedConfig": ["embed", "--corpus", "c.jsonl", "--model", "m", "--out", "o"],
    "SearchConfig": ["search", "--index", "i", "a query"],
    "RunConfig": ["run", "--corpus", "c.jsonl", "--out", "o"],
}
NOT_ON_THE_COMMAND_LINE = {("SummarizeConfig", "flush_every")}  # settable from Python and config files only


def _base_type(cls: type, name: str) -> typing.Any:
    """The field's type without ``| None``."""
    hint = config._hint(cls, name)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = args[0] if len(args) == 1 else hint
    return hint


def _outside(cls: type, name: str) -> list[typing.Any]:
    """Values just outside the field's range (one per bound), or one outside its choices."""
    if config.choices(cls, name) is not None:
        return ["no-such-choice"]
    valid = config.field_range(cls, name)
    if valid is None:
        return []
    whole = _base_type(cls, name) is int
    values = []
    if valid.ge is not None:
        values.append(int(valid.ge) - 1 if whole else math.nextafter(valid.ge, -math.inf))
    if valid.gt is not None:
        values.append(int(valid.gt) if whole else float(valid.gt))
    if valid.le is not None:
        values.append(int(valid.le) + 1 if whole else math.nextafter(valid.le, math.inf))
    if valid.lt is not None:
        values.append(int(valid.lt) if whole else float(valid.lt))
    if valid.check is not None:
        values.append(PREDICATE_OUTSIDE[(cls.__name__, name)])
    return values


CASES = [pytest.param(cls, f.name, value, id=f"{cls.__name__}.{f.name}={value!r}")
         for cls in CONFIGS for f in dataclasses.fields(cls) for value in _outside(cls, f.name)]


def test_every_numeric_field_has_a_range_and_every_predicate_an_example():
    missing = [f"{cls.__name__}.{f.name}" for cls in CONFIGS for f in dataclasses.fields(cls)
               if _base_type(cls, f.name) in (int, float) and config.field_range(cls, f.name) is None]
    assert not missing, f"numeric options without a range (option(..., range=Range(...))): {missing}"
    predicates = {(cls.__name__, f.name) for cls in CONFIGS for f in dataclasses.fields(cls)
                  if (r := config.field_range(cls, f.name)) is not None and r.check is not None}
    assert predicates == set(PREDICATE_OUTSIDE)
    assert len(CASES) > 80 and set(COMMANDS) == {c.__name__ for c in CONFIGS}


def test_defaults_and_the_edges_of_each_range_are_valid():
    for cls in CONFIGS:
        cls()  # the defaults are in range
        for f in dataclasses.fields(cls):
            valid = config.field_range(cls, f.name)
            whole = _base_type(cls, f.name) is int
            for edge in (valid.ge, valid.le) if valid is not None else ():
                if edge is not None:
                    value = int(edge) if whole else float(edge)
                    assert getattr(cls(**{f.name: value}), f.name) == value, (cls, f.name)
            for choice in config.choices(cls, f.name) or ():
                try:
                    cls(**{f.name: choice})
                except ConfigError as exc:  # a rule between options may still want another option with it
                    assert " must be one of " not in str(exc), exc


@pytest.mark.parametrize("cls, name, value", CASES)
def test_python_api_and_config_files_refuse_a_value_just_outside(cls, name, value):
    flag = config.cli_name(config.config_field(cls, name))
    with pytest.raises(ConfigError, match=rf"^{re.escape(flag)} must .*, got "):
        cls(**{name: value})
    with pytest.raises(ConfigError, match=rf"^{re.escape(flag)} must "):
        cls().replace(**{name: value})
    with pytest.raises(ConfigError, match=rf"^{cls.__name__}\.{name} must .*, got "):  # a config file names its key
        cls.from_dict({name: value})


def _cli(args: list[str]):
    from typer.testing import CliRunner

    from semcse.cli import _register, app

    _register()
    return CliRunner().invoke(app, args)


def _error_line(result) -> str:
    text = result.stderr if hasattr(result, "stderr") else result.output
    assert "Traceback" not in text and result.exit_code == 2, (result.exit_code, text)
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), text
    return lines[0]


def _flag_of(command: str, flag: str) -> bool:
    import typer.main

    from semcse.cli import _register, app

    _register()
    click_command = typer.main.get_command(app).commands[command]
    return any(flag in p.opts for p in click_command.params)


@pytest.mark.parametrize("cls, name, value", CASES)
def test_the_command_line_refuses_a_value_just_outside_in_one_line_with_exit_2(cls, name, value, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    flag = config.cli_name(config.config_field(cls, name))
    args = COMMANDS[cls.__name__]
    if not _flag_of(args[0], flag):
        assert (cls.__name__, name) in NOT_ON_THE_COMMAND_LINE, f"{args[0]} has no {flag}"
        return
    line = _error_line(_cli([*args, flag, str(value)]))
    assert line.startswith(f"error: {flag} must ") and ", got " in line, line
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


def test_help_shows_each_range():
    from semcse.cli.common import option_help

    assert option_help(TrainConfig, "margin").endswith(r"\[range: >= 0]")
    text = _cli(["train", "--help"]).output
    assert "[range: >= 0]" in text and r"\[" not in text
    flat = " ".join(text.replace("│", " ").split())  # rich's table, wrapped
    assert "[range: 0 <= x <= 1]" in flat  # e.g. --hard-negatives


# ---- the inputs a new user met ----------------------------------------------------------------------

ROWS = {
    ("summarize", "--limit", "-5"): "error: --limit must be >= 1, got -5",
    ("summarize", "--samples", "0"): "error: --samples must be >= 1, got 0",
    ("summarize", "--temperature", "-2"): "error: --temperature must be >= 0, got -2",
    ("summarize", "--top-p", "7"): "error: --top-p must satisfy 0 < x <= 1, got 7",
    ("summarize", "--max-tokens", "0"): "error: --max-tokens must be >= 1, got 0",
    ("run", "--steps", "-3"): "error: --steps must be >= 1, got -3",
    ("run", "--papers", "0"): "error: --papers must be >= 4, got 0",
    ("train", "--margin", "-1"): "error: --margin must be >= 0, got -1",
    ("train", "--hard-negatives", "2"): "error: --hard-negatives must satisfy 0 <= x <= 1, got 2",
    ("train", "--span-anchors", "-2"): "error: --span-anchors must be >= 0, got -2",
    ("train", "--filter-summaries", "-1"): "error: --filter-summaries must be >= 1, got -1",
    ("train", "--learning-rate", "-1"): "error: --learning-rate must be > 0, got -1",
    ("embed", "--batch-size", "0"): "error: --batch-size must be >= 1, got 0",
}
NEEDS = {"summarize": COMMANDS["SummarizeConfig"][1:], "run": COMMANDS["RunConfig"][1:], "train": COMMANDS["TrainConfig"][1:],
         "embed": COMMANDS["EmbedConfig"][1:]}


@pytest.mark.parametrize("row", list(ROWS), ids=" ".join)
def test_each_reported_input_is_a_one_line_error_before_any_work(row, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    command, *given = row
    assert _error_line(_cli([command, *NEEDS[command], *given])) == ROWS[row]
    assert list(tmp_path.iterdir()) == []


def test_a_positive_mix_not_summing_to_1_is_normalised_with_a_one_line_notice(caplog):
    with caplog.at_level(logging.WARNING, logger="semcse.config"):
        cfg = TrainConfig(p_summary=0.9, p_sentence=0.3499)
        cfg.replace(seed=1)  # noted once per mix
    notes = [r.getMessage() for r in caplog.records]
    assert len(notes) == 1 and "sums to 1.4" in notes[0] and "normalised to --p-summary 0.643" in notes[0], notes
    assert cfg.p_summary == 0.9  # kept as given: the shares are weights
    with pytest.raises(ConfigError, match="positive mix .* must be above 0"):
        TrainConfig(p_summary=0, p_title=0, p_sentence=0, p_abstract=0)


def test_rules_between_training_options_are_the_config_s_own():
    cases = {("gist", "euclidean", 0.0, None): "--loss gist scores by cosine similarity",
             ("gist", None, 1.0, None): "--base-anchor cannot be combined with --loss gist",
             ("triplet", None, 1.0, 4): "--base-anchor cannot be combined with --cached-mini-batch"}
    for (loss, similarity, base_anchor, cached), message in cases.items():
        with pytest.raises(ConfigError, match=message):
            TrainConfig(loss=loss, similarity=similarity, base_anchor=base_anchor, cached_mini_batch=cached)
    with pytest.raises(ConfigError, match="--unsummarised-papers train"):
        TrainConfig(unsummarised_papers="train")
    with pytest.raises(ConfigError, match="--hard-negative-remine"):
        TrainConfig(hard_negative_remine=True)
    with pytest.raises(ConfigError, match=r"^TrainConfig: --hard-negative-remine"):  # from a file: the config is named
        TrainConfig.from_dict({"hard_negative_remine": True})


def test_a_config_file_names_the_file_table_and_key(tmp_path):
    from semcse.pipeline import read_config

    path = tmp_path / "c.toml"
    path.write_text("[train]\nmargin = -1\n")
    with pytest.raises(ConfigError, match=r"c\.toml: \[train\] TrainConfig\.margin must be >= 0, got -1$"):
        read_config(path)
    path.write_text("[evaluate]\npool_size = 1\n")
    line = _error_line(_cli(["evaluate", "--config", str(path), "-m", "m"]))
    assert line == f"error: {path}: [evaluate] EvaluateConfig.pool_size must be >= 2, got 1"


def test_validation_papers_are_checked_against_the_corpus_as_soon_as_it_is_read(tmp_path, monkeypatch):
    from semcse.training.data import build_prepared

    corpus, summaries = tmp_path / "c.jsonl", tmp_path / "s.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"p{i}", "title": f"Paper {i}", "abstract": f"Text {i}. More {i}."}) + "\n"
                              for i in range(6)))
    summaries.write_text("".join(json.dumps({"id": f"p{i}", "summaries": [f"summary {i}"]}) + "\n" for i in range(6)))
    cfg = TrainConfig(corpus=config.CorpusConfig(source=str(corpus)), summaries=(str(summaries),), validation_papers=6)
    with pytest.raises(ConfigError, match=r"--validation-papers 6 must be fewer than the corpus's 6 papers"):
        build_prepared(cfg, tmp_path / "prepared")
    monkeypatch.chdir(tmp_path)  # through the command line: one line, exit 2, before the model loads
    line = _error_line(_cli(["train", "--corpus", str(corpus), "--summaries", str(summaries), "--out", "o",
                             "--base-model", "no-such-model", "--validation-papers", "5000"]))
    assert line == "error: --validation-papers 5000 must be fewer than the corpus's 6 papers (or a fraction below 1)"


def test_a_config_changed_in_place_is_checked_again_by_validate():
    cfg = TrainConfig()
    cfg.margin = -1.0
    with pytest.raises(ConfigError, match="--margin must be >= 0, got -1"):
        cfg.validate()
    run = config.RunConfig()
    run.train.batch_size = 1
    with pytest.raises(ConfigError, match="--batch-size must be >= 2, got 1"):
        run.validate()
