"""``semcse doctor``: is this machine ready? A table of checks, each with a verdict and a fix."""
from __future__ import annotations

import json

import typer

from semcse.cli.common import app

COLORS = {"ok": "green", "info": "cyan", "warn": "yellow", "fail": "red"}


@app.command()
def doctor(
    as_json: bool = typer.Option(False, "--json", help="Print the checks as JSON."),
    llama: bool = typer.Option(True, help="Run the real llama.cpp decode (in a child process)."),
    llama_timeout: float = typer.Option(300.0, help="Seconds the llama.cpp decode may take."),
) -> None:
    """Check Python, packages, torch, the llama.cpp build (a real decode), the offline encoder, data, GPU.

    Exits 1 when any check fails.
    """
    from semcse.system.doctor import run_checks, worst

    checks = run_checks(llama=llama, llama_timeout=llama_timeout)
    verdict = worst(checks)
    if as_json:
        typer.echo(json.dumps({"verdict": verdict, "checks": [c.to_dict() for c in checks]}, indent=2))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title="semcse doctor", show_lines=False)
        for col in ("check", "verdict", "detail", "fix"):
            table.add_column(col, overflow="fold")
        for c in checks:
            table.add_row(c.name, f"[{COLORS[c.verdict]}]{c.verdict}[/]", c.detail, c.fix)
        console = Console(width=max(120, Console().width))
        console.print(table)
        console.print(f"[{COLORS[verdict]}]overall: {verdict}[/]")
    if verdict == "fail":
        raise typer.Exit(1)
