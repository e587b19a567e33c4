"""``semcse embed`` and ``semcse search``: use a trained model on a corpus."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from semcse.cli import app
from semcse.cli import fail as _fail
from semcse.config import CorpusConfig, EmbedConfig, SearchConfig

_E, _S = EmbedConfig(), SearchConfig()


@app.command("embed")
def embed_cmd(
    model: str = typer.Option(..., help="Model directory (e.g. from `semcse train`), sentence-transformers path or hub id."),
    corpus: str = typer.Option(..., help="Corpus file or dataset (same formats as summarize)."),
    out: Path = typer.Option(..., help="Index directory (created; rerun to resume)."),
    id_field: Optional[str] = typer.Option(None), title_field: Optional[str] = typer.Option(None),
    abstract_field: Optional[str] = typer.Option(None), title_from_first_sentence: bool = typer.Option(False),
    limit: Optional[int] = typer.Option(None, help="Only the first N papers."),
    pooling: Optional[str] = typer.Option(None, help="cls | mean for plain Hugging Face encoders."),
    similarity: Optional[str] = typer.Option(None, help="Override the model's own similarity."),
    max_seq_length: Optional[int] = typer.Option(None),
    batch_size: int = typer.Option(_E.batch_size), chunk_size: int = typer.Option(_E.chunk_size),
    device: Optional[str] = typer.Option(None), fp16: Optional[bool] = typer.Option(None, "--fp16/--fp32", help="Default: fp16 on CUDA."),
    trust_remote_code: bool = typer.Option(False), progress: bool = typer.Option(True),
) -> None:
    """Encode a corpus (title + abstract) into an index directory: embeddings.npy + embeddings.parquet."""
    from semcse.corpus import CorpusError
    from semcse.embed import EmbedError, embed_corpus
    from semcse.encode import EncoderError

    options = locals()
    cfg = EmbedConfig.from_options(options, corpus=CorpusConfig.from_options(options, source=corpus))
    try:
        res = embed_corpus(cfg)
    except (CorpusError, EmbedError, EncoderError) as exc:
        _fail(str(exc))
    rate = f", {res.docs_per_s:.1f} docs/s" if res.encoded else " (all chunks were already there)"
    typer.echo(f"{res.count} papers x {res.dim} dims in {out}{rate}", err=True)


@app.command("search")
def search_cmd(
    queries: list[str] = typer.Argument(..., help="Query text(s)."),
    index: Path = typer.Option(..., help="Index directory from `semcse embed`."),
    k: int = typer.Option(_S.k, "-k", "--top-k", help="Hits per query."),
    index_type: str = typer.Option(_S.index_type, help="auto | exact | hnsw (FAISS)."),
    exact_limit: int = typer.Option(_S.exact_limit, help="auto: exact search below this many papers."),
    truncate: bool = typer.Option(False, help="Allow queries longer than the model reads (they are truncated)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines instead of a table."),
    device: Optional[str] = typer.Option(None),
) -> None:
    """Top-k papers for each query, scored with the index model's own similarity."""
    from semcse.encode import EncoderError
    from semcse.search import SearchError, search

    cfg = SearchConfig.from_options(locals())
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
