"""Benchmark files, data formats, pools and bad inputs (no model needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from semcse.corpus import PAPER_SEP
from semcse.evaluation.data import DataContext
from semcse.evaluation.engines import engine_for
from semcse.evaluation.engines.base import sample_pool
from semcse.evaluation.errors import BenchmarkError, TaskSkipped
from semcse.evaluation import load_benchmark


def write_bench(tmp_path: Path, body: str, name: str = "bench.toml") -> Path:
    p = tmp_path / name
    p.write_text(body, encoding="utf-8")
    return p


def prepare(bench_path, data_root, task: str, pool_size=None):
    b = load_benchmark(bench_path)
    spec = b.task(task)
    return engine_for(spec.type).prepare(spec, DataContext(b, data_root), pool_size if pool_size else spec.pool_size)


SCITLDR = """
[datasets.tldr]
path = "scitldr/dev.jsonl"
id_field = "paper_id"
abstract_field = "source"
keep_fields = ["target"]
"""


def test_default_benchmark_parses():
    b = load_benchmark()
    names = [t.name for t in b.tasks]
    for expected in ("title-abstract", "abstract-segments", "query-matching", "clustering-medical", "summary-abstract",
                     "query-generated", "fos", "mesh", "citation-triplets", "search"):
        assert expected in names
    assert {t.group for t in b.tasks} == {"semantic", "scirepeval"}
    assert all(t.pool_size for t in b.tasks if t.group == "semantic")
    assert b.select(["scirepeval"]).tasks and all(t.group == "scirepeval" for t in b.select(["scirepeval"]).tasks)


def test_default_benchmark_prepares_on_shared_data(data_root):
    b = load_benchmark()
    ctx = DataContext(b, data_root)
    sizes = {}
    for spec in b.tasks:
        try:
            p = engine_for(spec.type).prepare(spec, ctx, 20 if engine_for(spec.type).POOLED else None)
        except TaskSkipped as exc:
            assert spec.name == "query-generated" and "--queries" in str(exc)
            continue
        assert all(all(isinstance(t, str) and t for t in texts) for texts in p.texts.values())
        assert p.files and len(p.files[0].sha256) == 64
        sizes[spec.name] = p.pool_size
    assert sizes["title-abstract"] == 20 and sizes["clustering-medical"] == 20
    assert sizes["search"] == 1000  # 100 queries x 10 judged candidates
    assert sizes["citation-triplets"] == 397  # 200 cited + 200 negative papers, 3 of them twice


def test_pool_is_reproducible_by_seed_and_nested():
    items = list(range(100))
    a = sample_pool(items, 10, 7, lambda x: x)
    assert a == sample_pool(items, 10, 7, lambda x: x)
    assert a != sample_pool(items, 10, 8, lambda x: x)
    assert set(a) <= set(sample_pool(items, 30, 7, lambda x: x))  # a smaller pool is a subset of a larger one
    assert a == sorted(a)
    # unusable items are skipped, the pool still has the requested size
    evens = sample_pool(items, 10, 7, lambda x: x if x % 2 == 0 else None)
    assert len(evens) == 10 and all(x % 2 == 0 for x in evens)
    assert sample_pool(items, None, 0, lambda x: x) == items


def test_matching_pool_same_for_same_seed(tmp_path, data_root):
    body = SCITLDR + """
[[tasks]]
name = "t"
type = "matching"
dataset = "tldr"
query = "title"
candidate = "abstract"
seed = 3
"""
    b = write_bench(tmp_path, body)
    p1, p2 = prepare(b, data_root, "t", 15), prepare(b, data_root, "t", 15)
    assert p1.texts == p2.texts and p1.pool_size == 15
    assert p1.texts["queries"] != prepare(write_bench(tmp_path, body.replace("seed = 3", "seed = 4"), "b2.toml"),
                                          data_root, "t", 15).texts["queries"]


def test_summary_abstract_all_tldrs_are_queries(tmp_path, data_root):
    b = write_bench(tmp_path, SCITLDR + """
[[tasks]]
name = "s"
type = "matching"
dataset = "tldr"
query = "field:target"
candidate = "abstract"
""")
    p = prepare(b, data_root, "s", 10)
    assert p.pool_size == 10 and len(p.texts["queries"]) > 10  # ~2.4 TLDRs per dev paper
    assert sorted(set(p.data["targets"].tolist())) == list(range(10))


def test_halves_split_sentences(tmp_path, data_root):
    b = write_bench(tmp_path, """
[datasets.cs]
path = "csabstruct/dev.jsonl"
id_field = "@row"
abstract_field = "sentences"
[[tasks]]
name = "h"
type = "matching"
dataset = "cs"
query = "first_half"
candidate = "second_half"
""")
    p = prepare(b, data_root, "h", 5)
    for q, c in zip(p.texts["queries"], p.texts["candidates"]):
        assert q and c and q != c


def test_csv_first_sentence_title(tmp_path, data_root):
    b = write_bench(tmp_path, """
[datasets.med]
path = "medical_abstracts/medical_tc_test.csv"
abstract_field = "medical_abstract"
label_field = "condition_label"
title_from_first_sentence = true
label_names = "medical_abstracts/medical_tc_labels.csv"
[[tasks]]
name = "ta"
type = "matching"
dataset = "med"
[[tasks]]
name = "cl"
type = "clustering"
dataset = "med"
""")
    p = prepare(b, data_root, "ta", 8)
    for title, abstract in zip(p.texts["queries"], p.texts["candidates"]):
        assert title not in abstract and len(title) < len(abstract)
    c = prepare(b, data_root, "cl", 40)
    assert set(c.data["labels"]) <= {"1", "2", "3", "4", "5"}
    assert "neoplasms" in c.data["label_names"].values()


def _run_dir_with_queries(tmp_path: Path, ids: list[str]) -> Path:
    from semcse.summaries.store import SummaryRecord, SummaryStore

    run = tmp_path / "qrun"
    with SummaryStore(run).writer() as w:
        w.write([SummaryRecord(pid, "search_query", 0, f"query about paper {pid}") for pid in ids])
        w.write([SummaryRecord(ids[0], "one_sentence", 0, "not a query")])
    return run


def test_generated_queries_from_summarize_run(tmp_path, data_root):
    ids = [json.loads(l)["paper_id"] for l in (data_root / "scitldr/dev.jsonl").read_text().splitlines()[:12]]
    run = _run_dir_with_queries(tmp_path, ids)
    body = SCITLDR + f"""
[[tasks]]
name = "g"
type = "matching"
dataset = "tldr"
query = "generated"
candidate = "text"
queries_from = "{run}"
"""
    p = prepare(write_bench(tmp_path, body), data_root, "g")
    assert p.pool_size == 12 and len(p.texts["queries"]) == 12
    assert all(q.startswith("query about paper") for q in p.texts["queries"])
    assert any(f.path.endswith("main.jsonl") for f in p.files)
    # without a run directory the task is skipped, not failed
    with pytest.raises(TaskSkipped, match="--queries"):
        prepare(write_bench(tmp_path, body.replace(f'queries_from = "{run}"', ""), "b2.toml"), data_root, "g")


def test_generated_queries_ids_must_match(tmp_path, data_root):
    run = _run_dir_with_queries(tmp_path, ["nope-1", "nope-2"])
    body = SCITLDR + f"""
[[tasks]]
name = "g"
type = "matching"
dataset = "tldr"
query = "generated"
queries_from = "{run}"
"""
    with pytest.raises(BenchmarkError, match="empty pool.*ids"):
        prepare(write_bench(tmp_path, body), data_root, "g")


# ---- SciRepEval formats ------------------------------------------------------------------------


def test_scirepeval_sample_files(tmp_path, data_root):
    b = write_bench(tmp_path, """
[[tasks]]
name = "fos"
type = "classification"
data = "scirepeval_sample/fos_small.json"
label_field = "labels_text"
multi_label = true
[[tasks]]
name = "mesh"
type = "classification"
data = "scirepeval_sample/mesh_small.json"
label_field = "descriptor"
[[tasks]]
name = "trip"
type = "proximity"
data = "scirepeval_sample/specter_small.json"
[[tasks]]
name = "search"
type = "search"
data = "scirepeval_sample/search_small.jsonl"
""")
    fos = prepare(b, data_root, "fos")
    assert fos.pool_size == 205 and fos.data["y_train"].shape[1] == fos.info["labels"] == 23  # 0/1 matrix over labels
    mesh = prepare(b, data_root, "mesh")
    assert mesh.info["split"].startswith("seeded stratified") and mesh.info["labels"] == 30
    trip = prepare(b, data_root, "trip")
    assert trip.info["triplets"] == trip.info["queries"] == 200
    # each query paper judges its cited paper relevant and its negative not
    assert all(sorted(g.values()) == [0, 1] for g in trip.data["qrels"].values())
    s = prepare(b, data_root, "search")
    assert s.info["queries"] == 100 and len(s.data["qrels"]) == 100 and s.pool_size == 1000
    assert sum(1 for g in s.data["qrels"].values() for v in g.values() if v > 0) == 115
    assert s.data["metric"] == "ndcg" and fos.data["metric"] == "f1_macro" and trip.data["metric"] == "map"


def test_meta_plus_qrels_and_label_files(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    docs = [{"doc_id": f"d{i}", "title": f"Paper {i}", "abstract": f"About topic {i % 2}."} for i in range(8)]
    (root / "meta.jsonl").write_text("\n".join(json.dumps(d) for d in docs))
    (root / "test_qrel.jsonl").write_text("\n".join(json.dumps(r) for r in [
        {"query_id": "d0", "cand_id": "d2", "score": 1}, {"query_id": "d0", "cand_id": "d3", "score": 0},
        {"query_id": "d1", "cand_id": "d5", "score": 1}, {"query_id": "d1", "cand_id": "d4", "score": 0}]))
    (root / "qrels.trec").write_text("d0 0 d2 1\nd0 0 d3 0\n")
    (root / "train.csv").write_text("paper_id,label\nd0,a\nd1,b\nd2,a\nd3,b\nd4,a\nd5,b\n")
    (root / "test.csv").write_text("paper_id,label\nd6,a\nd7,b\nmissing,a\n")
    search_meta = [{"doc_id": "q1", "query": "topic one", "candidates": docs[:3]}]
    (root / "search_meta.jsonl").write_text(json.dumps(search_meta[0]))
    (root / "search_qrel.jsonl").write_text("\n".join(json.dumps({"query_id": "q1", "cand_id": f"d{i}", "score": i}) for i in range(3)))
    b = write_bench(tmp_path, """
[datasets.meta]
path = "meta.jsonl"
[[tasks]]
name = "prox"
type = "proximity"
data = "meta.jsonl"
qrels = "test_qrel.jsonl"
[[tasks]]
name = "trec"
type = "proximity"
data = "meta.jsonl"
qrels = "qrels.trec"
[[tasks]]
name = "clf"
type = "classification"
dataset = "meta"
train = "train.csv"
test = "test.csv"
[[tasks]]
name = "search"
type = "search"
data = "search_meta.jsonl"
qrels = "search_qrel.jsonl"
""")
    prox = prepare(b, root, "prox")
    assert prox.data["ids"][:2] == ["d0", "d1"]  # the queries, then their candidates
    assert prox.texts["docs"][:2] == [f"Paper 0{PAPER_SEP}About topic 0.", f"Paper 1{PAPER_SEP}About topic 1."]
    assert prox.data["metric"] == "map" and prox.pool_size == 4
    assert prox.data["qrels"] == {"d0": {"d2": 1, "d3": 0}, "d1": {"d5": 1, "d4": 0}}
    assert list(prepare(b, root, "trec").data["qrels"]) == ["d0"]
    clf = prepare(b, root, "clf")
    assert len(clf.data["train"]) == 6 and clf.info["test"] == 2 and clf.info["ids_missing_from_meta"] == 1
    assert len(clf.files) == 3
    s = prepare(b, root, "search")
    assert s.texts["docs"][0] == "topic one" and s.data["qrels"] == {"q1": {"d0": 0, "d1": 1, "d2": 2}}


def test_parquet_dataset(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = tmp_path / "d"
    root.mkdir()
    pq.write_table(pa.table({"id": [str(i) for i in range(30)], "title": [f"T {i}" for i in range(30)],
                             "abstract": [f"Abstract number {i}. It has two sentences." for i in range(30)],
                             "topic": [["x", "y", "z"][i % 3] for i in range(30)]}), root / "c.parquet")
    b = write_bench(tmp_path, """
[datasets.c]
path = "c.parquet"
label_field = "topic"
[[tasks]]
name = "cl"
type = "clustering"
dataset = "c"
pool_size = 20
""")
    p = prepare(b, root, "cl")
    assert p.pool_size == 20 and set(p.data["labels"]) == {"x", "y", "z"}


# ---- bad inputs --------------------------------------------------------------------------------


def test_missing_field_is_named(tmp_path, data_root):
    b = write_bench(tmp_path, SCITLDR.replace('keep_fields = ["target"]', "") + """
[[tasks]]
name = "bad-field"
type = "matching"
dataset = "tldr"
query = "field:no_such_field"
""")
    with pytest.raises(BenchmarkError) as exc:
        prepare(b, data_root, "bad-field")
    msg = str(exc.value)
    assert "bench.toml" in msg and "bad-field" in msg and "no_such_field" in msg


def test_mapped_field_missing_from_file(tmp_path, data_root):
    b = write_bench(tmp_path, """
[datasets.tldr]
path = "scitldr/dev.jsonl"
abstract_field = "abstract_text"
[[tasks]]
name = "t"
type = "matching"
dataset = "tldr"
""")
    with pytest.raises(BenchmarkError, match=r"task 't'.*abstract field 'abstract_text' not found"):
        prepare(b, data_root, "t")


def test_fewer_than_two_labels(tmp_path):
    root = tmp_path / "d"
    root.mkdir()
    (root / "one.jsonl").write_text("\n".join(json.dumps({"id": str(i), "title": f"t{i}", "abstract": f"a {i}.", "label": "same"})
                                              for i in range(20)))
    b = write_bench(tmp_path, """
[datasets.one]
path = "one.jsonl"
[[tasks]]
name = "c"
type = "clustering"
dataset = "one"
[[tasks]]
name = "k"
type = "classification"
dataset = "one"
""")
    for task in ("c", "k"):
        with pytest.raises(BenchmarkError, match=rf"task '{task}'.*at least 2 distinct labels.*1 \(\['same'\]\)"):
            prepare(b, root, task)


def test_no_labels_at_all(tmp_path, data_root):
    b = write_bench(tmp_path, SCITLDR + """
[[tasks]]
name = "c"
type = "clustering"
dataset = "tldr"
""")
    with pytest.raises(BenchmarkError, match="has no labels"):
        prepare(b, data_root, "c")


def test_empty_pool(tmp_path, data_root):
    b = write_bench(tmp_path, """
[datasets.cs]
path = "csabstruct/dev.jsonl"
id_field = "@row"
abstract_field = "sentences"
[[tasks]]
name = "no-titles"
type = "matching"
dataset = "cs"
query = "title"
""")
    with pytest.raises(BenchmarkError, match=r"task 'no-titles': empty pool: no paper in csabstruct/dev.jsonl has both a 'title'"):
        prepare(b, data_root, "no-titles")


def test_pool_size_too_small(tmp_path, data_root):
    b = write_bench(tmp_path, SCITLDR + """
[[tasks]]
name = "t"
type = "matching"
dataset = "tldr"
""")
    with pytest.raises(BenchmarkError, match="at least 2"):
        prepare(b, data_root, "t", pool_size=1)
    with pytest.raises(BenchmarkError, match="positive integer"):
        load_benchmark(write_bench(tmp_path, SCITLDR + '[[tasks]]\nname = "t"\ntype = "matching"\ndataset = "tldr"\npool_size = 0\n', "b0.toml"))


@pytest.mark.parametrize("body, message", [
    ('[[tasks]]\nname = "x"\ntype = "nope"\ndata = "f"\n', "unknown task type 'nope'"),
    ('[[tasks]]\nname = "x"\ntype = "matching"\ndataset = "missing"\n', "dataset 'missing' is not defined"),
    ('[[tasks]]\nname = "x"\ntype = "matching"\ndata = "f"\nquery = "titel"\n', "query = 'titel' is not a view"),
    ('[[tasks]]\nname = "x"\ntype = "clustering"\ndata = "f"\nk_neighbours = 3\n', "unknown option(s) ['k_neighbours']"),
    ('[[tasks]]\ntype = "matching"\n', "needs a 'name' and a 'type'"),
    ('[[tasks]]\nname = "x"\ntype = "matching"\n', "needs 'dataset'"),
    ('[datasets.d]\nformat = "csv"\n', "needs a 'path'"),
    ('title = "x"\n', "unknown top-level key"),
    ('name = "only a name"\n', "no [[tasks]]"),
])
def test_bad_benchmark_files(tmp_path, body, message):
    path = write_bench(tmp_path, body)
    with pytest.raises(BenchmarkError) as exc:
        load_benchmark(path)
    assert message in str(exc.value) and str(path) in str(exc.value)


def test_missing_data_file_and_root(tmp_path):
    b = write_bench(tmp_path, '[[tasks]]\nname = "s"\ntype = "search"\ndata = "nowhere.jsonl"\n')
    with pytest.raises(BenchmarkError, match=r"task 's'.*data file not found.*nowhere.jsonl.*--data-root"):
        prepare(b, tmp_path / "no-such-root", "s")
    with pytest.raises(BenchmarkError, match="benchmark file not found"):
        load_benchmark(tmp_path / "absent.toml")
    with pytest.raises(BenchmarkError, match="unknown task"):
        load_benchmark().select(["no-such-task"])


# ---- layout: specs, engines and their registry -------------------------------------------------


def test_specs_and_bases_never_import_an_engine():
    """The import circle stays gone: spec, data and base modules reach engines only through the registry."""
    import ast

    import semcse.evaluation as pkg
    from semcse.evaluation.engines import BUILTIN

    root = Path(pkg.__file__).parent
    engine_modules = {f"semcse.evaluation.engines.{m}" for m in BUILTIN} | {"semcse.evaluation.engines.ranking"}
    for rel in ("specs.py", "data.py", "views.py", "errors.py", "engines/__init__.py", "engines/base.py"):
        tree = ast.parse((root / rel).read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not imported & engine_modules, f"{rel} imports {imported & engine_modules}"
        assert "semcse.evaluation.run" not in imported and "semcse.evaluation.tasks" not in imported, rel


def test_registry_takes_a_new_engine(tmp_path, data_root):
    from semcse.evaluation.engines import _REGISTRY, register
    from semcse.evaluation.engines.base import Engine, Prepared
    from semcse.evaluation.engines.matching import MatchingEngine

    @register
    class CountEngine(Engine):
        type = "count-words"
        group = "semantic"
        OPTIONS = {"field": "abstract"}
        metric = "words"

        @classmethod
        def prepare(cls, spec, ctx, pool_size):
            papers = ctx.corpus(spec.dataset, cls.where(spec, ctx)).papers[:5]
            return Prepared(spec, {"texts": [p.abstract for p in papers]}, {}, len(papers), ctx.data_files(spec))

    try:
        b = load_benchmark(write_bench(tmp_path, SCITLDR + '[[tasks]]\nname = "c"\ntype = "count-words"\ndataset = "tldr"\n'))
        assert engine_for("count-words") is CountEngine and b.task("c").group == "semantic"
        assert prepare(b.source, data_root, "c").pool_size == 5
        with pytest.raises(ValueError, match="already scored by"):
            register(type("Other", (Engine,), {"type": "matching"}))
        assert engine_for("matching") is MatchingEngine
    finally:
        _REGISTRY.pop("count-words", None)
    with pytest.raises(BenchmarkError, match="unknown task type 'count-words'"):
        engine_for("count-words")


def test_dataset_entries_are_corpus_configs(tmp_path):
    from semcse.config import CorpusConfig

    b = load_benchmark(write_bench(tmp_path, SCITLDR + '[[tasks]]\nname = "t"\ntype = "matching"\ndataset = "tldr"\n'))
    spec = b.datasets["tldr"]
    assert isinstance(spec.corpus, CorpusConfig) and spec.path == "scitldr/dev.jsonl"
    assert spec.corpus.id_field == "paper_id" and spec.corpus.keep_fields == ("target",) and not spec.corpus.allow_hub
    # CorpusConfig's own checks, named by file and dataset
    bad = write_bench(tmp_path, SCITLDR.replace('keep_fields = ["target"]', 'limit = "ten"') +
                      '[[tasks]]\nname = "t"\ntype = "matching"\ndataset = "tldr"\n', "bad.toml")
    with pytest.raises(BenchmarkError, match=r"bad.toml: dataset 'tldr': CorpusConfig.limit must be"):
        load_benchmark(bad)
    typo = write_bench(tmp_path, SCITLDR.replace("id_field", "id_fields") +
                       '[[tasks]]\nname = "t"\ntype = "matching"\ndataset = "tldr"\n', "typo.toml")
    with pytest.raises(BenchmarkError, match=r"typo.toml: dataset 'tldr': unknown key\(s\) \['id_fields'\]"):
        load_benchmark(typo)
