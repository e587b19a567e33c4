"""Prompt sets are data: TOML files with a system prompt, a template and K instructions.

The packaged sets are ``summaries.toml`` (5 views, 3 samples each), ``titles.toml`` (title-like
texts: a reworded title, keywords, a search query) and ``queries.toml``; users
pass their own file with the same keys.
"""

from __future__ import annotations

import dataclasses
import string
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path


class PromptError(ValueError):
    """A prompt file that cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class Prompt:
    id: str
    instruction: str


@dataclass(frozen=True)
class PromptSet:
    """A system prompt, a template with ``{title}``, ``{abstract}`` and ``{instruction}``, and K prompts."""

    name: str
    system: str
    template: str
    prompts: tuple[Prompt, ...]
    samples: int = 3
    min_words: int = 5
    stop: tuple[str, ...] = ()

    def messages(self, prompt: Prompt, title: str | None, abstract: str) -> list[dict[str, str]]:
        """Chat messages for one paper and one prompt; the paper precedes the instruction."""
        user = self.template.format(title=title or "(untitled)", abstract=abstract, instruction=prompt.instruction)
        msgs = [{"role": "system", "content": self.system}] if self.system else []
        return msgs + [{"role": "user", "content": user}]

    def head(self, k: int | None) -> "PromptSet":
        if k is None:
            return self
        if not 1 <= k <= len(self.prompts):
            raise PromptError(f"{self.name}: asked for {k} prompts, the set has {len(self.prompts)}")
        return dataclasses.replace(self, prompts=self.prompts[:k])


def load_prompt_set(path: str | Path | None = None, task: str = "summaries") -> PromptSet:
    """Load a prompt file, or the packaged set for ``task`` (summaries | titles | queries) when ``path`` is None."""
    if path is None:
        name = f"{task}.toml"
        try:
            text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise PromptError(f"no packaged prompt set for task {task!r}") from exc
        where = f"<packaged {name}>"
    else:
        where = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise PromptError(f"{where}: cannot read prompt file: {exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PromptError(f"{where}: invalid TOML: {exc}") from exc
    template = data.get("template", "Title: {title}\n\nAbstract: {abstract}\n\n{instruction}")
    fields = {f for _, f, _, _ in string.Formatter().parse(template) if f}
    if not {"abstract", "instruction"} <= fields or fields - {"title", "abstract", "instruction"}:
        raise PromptError(f"{where}: template must use {{abstract}} and {{instruction}} (and optionally {{title}}), found {sorted(fields)}")
    if template.find("{instruction}") < template.find("{abstract}"):
        raise PromptError(f"{where}: put {{instruction}} after {{abstract}} so the paper is a shared prefix")
    raw = data.get("prompts") or []
    if not raw:
        raise PromptError(f"{where}: no [[prompts]] entries")
    prompts = []
    for i, p in enumerate(raw, start=1):
        if not isinstance(p, dict) or not p.get("id") or not p.get("instruction"):
            raise PromptError(f"{where}: prompt #{i} needs 'id' and 'instruction'")
        if "::" in str(p["id"]):
            raise PromptError(f"{where}: prompt id {p['id']!r} must not contain '::'")
        prompts.append(Prompt(str(p["id"]), str(p["instruction"]).strip()))
    ids = [p.id for p in prompts]
    if len(set(ids)) != len(ids):
        raise PromptError(f"{where}: duplicate prompt ids {ids}")
    return PromptSet(
        name=str(data.get("name", Path(where).stem)), system=str(data.get("system", "")).strip(), template=template,
        prompts=tuple(prompts), samples=int(data.get("samples", 3)), min_words=int(data.get("min_words", 5)),
        stop=tuple(str(x) for x in data.get("stop", ())),
    )
