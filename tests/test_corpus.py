"""Corpus readers: every input format on real data, field mapping, and each bad-input case."""

from __future__ import annotations

import csv
import json
import logging

import pytest

from semcse.config import CorpusConfig
from semcse.corpus import CorpusError, load_corpus


def _scitldr_rows(data_root, n=5):
    with open(data_root / "scitldr" / "dev.jsonl", encoding="utf-8") as fh:
        return [json.loads(next(fh)) for _ in range(n)]


def test_scitldr_jsonl_loads_as_is(data_root):
    corpus = load_corpus(data_root / "scitldr" / "dev.jsonl")
    assert len(corpus) == 618 or len(corpus) == corpus.report.rows_read - corpus.report.skipped
    p = corpus.papers[0]
    raw = _scitldr_rows(data_root, 1)[0]
    assert p.id == raw["paper_id"] and p.title == raw["title"]
    assert p.sentences == raw["source"] and p.abstract == " ".join(raw["source"])  # list of sentences joined


def test_medical_csv_loads_as_is_with_row_ids_and_first_sentence_title(data_root):
    path = data_root / "medical_abstracts" / "medical_tc_test.csv"
    corpus = load_corpus(path, title_from_first_sentence=True)
    assert len(corpus) == 2888
    p = corpus.papers[0]
    assert p.id == "row-2" and p.labels == ["3"]
    assert p.title.startswith("Obstructive sleep apnea following topical oropharyngeal anesthesia")
    assert not p.abstract.startswith("Obstructive sleep apnea following")
    assert any("row number" in n for n in corpus.report.notes)


def test_tsv_parquet_datasets_dir_and_local_dataset_repo_agree(tmp_path, data_root):
    rows = _scitldr_rows(data_root, 6)
    flat = [{"pid": r["paper_id"], "name": r["title"], "text": r["source"]} for r in rows]
    # TSV (abstract as a string)
    tsv = tmp_path / "c.tsv"
    with tsv.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, ["pid", "name", "text"], delimiter="\t")
        w.writeheader()
        w.writerows({**r, "text": " ".join(r["text"])} for r in flat)
    # Parquet and a datasets directory (abstract as a list of sentences)
    import datasets

    ds = datasets.Dataset.from_list(flat)
    ds.to_parquet(str(tmp_path / "c.parquet"))
    ds.save_to_disk(str(tmp_path / "saved"))
    repo = tmp_path / "repo"
    repo.mkdir()
    ds.to_json(str(repo / "train.jsonl"))
    mapping = dict(id_field="pid", title_field="name", abstract_field="text")
    loaded = [load_corpus(CorpusConfig(source=str(src), **mapping)) for src in
              (tsv, tmp_path / "c.parquet", tmp_path / "saved", repo)]
    for corpus in loaded:
        assert [p.id for p in corpus] == [r["pid"] for r in flat]
        assert [p.title for p in corpus] == [r["name"] for r in flat]
        assert [" ".join(p.abstract.split()) for p in corpus] == [" ".join(" ".join(r["text"]).split()) for r in flat]


def test_unknown_field_name_is_a_clear_error(data_root):
    with pytest.raises(CorpusError, match="abstract field 'abstr' not found"):
        load_corpus(data_root / "scitldr" / "dev.jsonl", abstract_field="abstr")


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(CorpusError, match="not found"):
        load_corpus(tmp_path / "nope.jsonl")
    (tmp_path / "x.docx").write_text("hi")
    with pytest.raises(CorpusError, match="unknown corpus format"):
        load_corpus(tmp_path / "x.docx")


def test_bad_rows_are_reported_with_file_row_and_reason(tmp_path):
    good = {"id": "a", "title": "T", "abstract": "A real abstract about graphs."}
    lines = [
        json.dumps(good).encode(),
        json.dumps({"title": "no id", "abstract": "x y z"}).encode(),  # row 2: missing id
        json.dumps({"id": "b", "title": "no abstract", "abstract": ""}).encode(),  # row 3
        json.dumps({"id": "a", "title": "dup", "abstract": "again"}).encode(),  # row 4: duplicate
        b'{"id": "c", "title": "bad bytes", "abstract": "caf\xe9 au lait"}',  # row 5: invalid UTF-8
        json.dumps({"id": "d", "title": "huge", "abstract": "word " * 10_000}).encode(),  # row 6: 50,000 chars
        b'{"id": "e", "title": "torn',  # row 7: invalid JSON
        json.dumps({"id": "f", "title": "ok", "abstract": "Fine abstract."}).encode(),
    ]
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    corpus = load_corpus(path, max_abstract_chars=20_000)
    assert [p.id for p in corpus] == ["a", "d", "f"]
    by_row = {i.row: i for i in corpus.report.issues}
    assert (by_row[2].reason, by_row[2].action) == ("missing_id", "skipped")
    assert by_row[3].reason == "missing_abstract"
    assert by_row[4].reason == "duplicate_id" and "id=a" in by_row[4].detail
    assert by_row[5].reason == "undecodable"
    assert (by_row[6].reason, by_row[6].action) == ("abstract_too_long", "truncated")
    assert by_row[7].reason == "malformed_row"
    assert all(i.file == str(path) for i in corpus.report.issues)
    assert len(corpus.by_id()["d"].abstract) <= 20_000
    report = corpus.report.to_dict()
    assert report["skipped"] == 5 and report["issues_by_reason"]["abstract_too_long:truncated"] == 1
    assert "bad.jsonl:5: undecodable" in "\n".join(corpus.report.summary_lines())


def test_undecodable_csv_row_is_skipped(tmp_path):
    path = tmp_path / "c.csv"
    path.write_bytes(b"id,title,abstract\n1,T,An abstract.\n2,T2,caf\xe9 bytes\n3,T3,Another abstract.\n")
    corpus = load_corpus(path)
    assert [p.id for p in corpus] == ["1", "3"]
    assert corpus.report.issues[0].row == 3 and corpus.report.issues[0].reason == "undecodable"


def test_empty_corpus_is_an_error(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text(json.dumps({"id": "x", "abstract": ""}) + "\n")
    with pytest.raises(CorpusError, match="no usable papers"):
        load_corpus(path)


def test_issues_can_be_reported_without_a_warning_per_row(tmp_path, caplog):
    path = tmp_path / "papers.jsonl"
    path.write_text('{"id": "a", "title": "T", "abstract": "Some text."}\n{"id": "b", "title": "T"}\n', encoding="utf-8")
    with caplog.at_level("WARNING", logger="semcse.corpus"):
        quiet = load_corpus(str(path), warn_each=False)
        assert not caplog.records
        loud = load_corpus(str(path))
    assert quiet.report.skipped == loud.report.skipped == 1 and len(quiet) == 1
    assert len(caplog.records) == 1 and "missing_abstract" in caplog.text
    assert logging.getLogger("semcse.corpus").level == logging.NOTSET  # no global level changed
