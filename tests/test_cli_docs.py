"""docs/cli.md is what scripts/cli_docs.py generates from the CLI now."""

from __future__ import annotations

import difflib

from _support import load_script


def _cli_docs():
    return load_script("cli_docs")


def test_cli_reference_is_up_to_date():
    cli_docs = _cli_docs()
    fresh = cli_docs.render()
    current = cli_docs.CLI_DOCS.read_text(encoding="utf-8") if cli_docs.CLI_DOCS.is_file() else ""
    diff = "".join(difflib.unified_diff(current.splitlines(True), fresh.splitlines(True), "docs/cli.md", "generated", n=1))
    assert current == fresh, ("docs/cli.md is out of date: run .venv/bin/python scripts/cli_docs.py\n" + diff[:4000])


def test_cli_reference_covers_every_command():
    text = _cli_docs().render()
    for command in ("summarize", "summarize import", "summarize merge", "summarize batch-write", "train", "evaluate",
                    "embed", "search", "run", "doctor"):
        assert f"## `semcse {command}`" in text
    assert "`--hard-negatives <float>`" in text and "[evaluate] section" in text
