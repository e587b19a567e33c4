"""``semcse embed`` and ``semcse search``: use a trained model on a corpus."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Optional

import typer

from semcse.cli.common import PROGRESS_FLAGS, app, config_option, corpus_options
from semcse.cli.common import fail as _fail
from semcse.config import ConfigError, CorpusConfig, EmbedConfig, SearchConfig

_embed, _search = (partial(config_option, c) for c in (EmbedConfig, SearchConfig))


@app.command("embed")
@corpus_options(required=True, limit=True)
def embed_cmd(
    corpus_options: dict,
    model: str = _embed("model", default=...),
    out: Path = _embed("out", default=...),
    pooling: Optional[str] = _embed("pooling"),
    similarity: Optional[str] = _embed("similarity"),
    max_seq_length: Optional[int] = _embed("max_seq_length"),
    batch_size: int = _embed("batch_size"),
    chunk_size: int = _embed("chunk_size"),
    device: Optional[str] = _embed("device"),
    fp16: Optional[bool] = _embed("fp16", "--fp16/--fp32"),
    trust_remote_code: bool = _embed("trust_remote_code"),
    progress: bool = _embed("progress", *PROGRESS_FLAGS),
) -> None:
    """Encode a corpus (title + abstract) into an index directory: embeddings.npy + embeddings.parquet."""
    try:  # every value is checked here, before the model loads
        cfg = EmbedConfig.from_options(locals(), corpus=CorpusConfig.from_options(corpus_options))
    except ConfigError as exc:
        _fail(str(exc))
    from semcse.corpus import CorpusError
    from semcse.embed import EmbedError, embed_corpus
    from semcse.encode import EncoderError

    try:
        res = embed_corpus(cfg)
    except (CorpusError, EmbedError, EncoderError) as exc:
        _fail(str(exc))
    rate = f", {res.docs_per_s:.1f} docs/s" if res.encoded else " (all chunks were already there)"
    typer.echo(f"{res.count} papers x {res.dim} dims in {out}{rate}", err=True)


@app.command("search")
def search_cmd(
    queries: list[str] = typer.Argument(..., help="Query text(s)."),
    index: Path = _search("index", default=...),
    k: int = _search("k", "-k", "--top-k"),
    index_type: str = _search("index_type"),
    exact_limit: int = _search("exact_limit"),
    truncate: bool = _search("truncate"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines instead of a table."),
    device: Optional[str] = _search("device"),
) -> None:
    """Top-k papers for each query, scored with the index model's own similarity."""
    try:
        cfg = SearchConfig.from_options(locals())
    except ConfigError as exc:
        _fail(str(exc))
    from semcse.encode import EncoderError
    from semcse.search import SearchError, search

    try:
        results = search(cfg)
    except (SearchError, EncoderError) as exc:
        _fail(str(exc))
    for query, hits in zip(queries, results):
        if as_json:
            typer.echo(json.dumps({"query": query, "hits": [h.to_dict() for h in hits]}, ensure_ascii=False))
            continue
        typer.echo(f"query: {query}")
        for h in hits:
            # control characters (a newline in an id or title) are escaped: one line per hit
            typer.echo(f"  {h.rank:>3}  {h.score:8.4f}  {_one_line(h.id)}  {_one_line(h.title or '')[:90]}")


def _one_line(text: str) -> str:
    return json.dumps(str(text), ensure_ascii=False)[1:-1]
