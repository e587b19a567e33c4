"""The summary store: torn-write repair, dedup, locking, import/export, merge."""

from __future__ import annotations

import json

import pytest

from semcse.summaries.store import StoreError, SummaryRecord, SummaryStore


def _rec(pid, prompt="p1", sample=0, text="A summary of the paper in words.", **kw):
    return SummaryRecord(pid, prompt, sample, text, **kw)


def test_write_read_and_texts_by_paper(tmp_path):
    store = SummaryStore(tmp_path)
    with store.writer() as w:
        w.write([_rec("a", "p2", 0, "second prompt"), _rec("a", "p1", 1, "first prompt sample 1"), _rec("a", "p1", 0, "first")])
        w.write([_rec("b", text="rejected text", status="rejected", reason="too_short")])
    assert len(store) == 4
    assert store.texts_by_paper() == {"a": ["first", "first prompt sample 1", "second prompt"]}
    assert store.keys() == {("a", "p1", 0), ("a", "p1", 1), ("a", "p2", 0), ("b", "p1", 0)}


def test_torn_last_line_is_repaired_on_open_and_ignored_on_read(tmp_path):
    store = SummaryStore(tmp_path)
    with store.writer() as w:
        w.write([_rec("a"), _rec("b")])
    seg = store.segments()[0]
    with seg.open("ab") as fh:
        fh.write(b'{"paper_id":"c","prompt_id":"p1","sam')  # killed mid-write
    assert store.keys() == {("a", "p1", 0), ("b", "p1", 0)}  # readers skip it
    with store.writer() as w:
        assert w.repaired_bytes > 0
        w.write([_rec("c")])
    lines = seg.read_bytes().splitlines()
    assert len(lines) == 3 and all(json.loads(line) for line in lines)  # never propagated


def test_duplicates_across_segments_count_once(tmp_path):
    store = SummaryStore(tmp_path)
    with store.writer("shard-0-of-2") as w:
        w.write([_rec("a", text="first writer wins")])
    with store.writer("shard-1-of-2") as w:
        w.write([_rec("a", text="late duplicate"), _rec("b")])
    assert len(store) == 2
    assert store.texts_by_paper()["a"] == ["first writer wins"]


def test_a_segment_has_one_writer(tmp_path):
    store = SummaryStore(tmp_path)
    with store.writer("main"):
        with pytest.raises(StoreError, match="another process"):
            with store.writer("main"):
                pass


def test_import_export_roundtrip(tmp_path, data_root):
    store = SummaryStore(tmp_path / "run")
    counts = store.import_summaries(data_root / "scitldr" / "dev.jsonl", id_field="paper_id", summaries_field="target")
    assert counts["imported"] > 618 and counts["skipped_rows"] == 0  # ~2.4 TLDRs per paper
    again = store.import_summaries(data_root / "scitldr" / "dev.jsonl", id_field="paper_id", summaries_field="target")
    assert again["imported"] == 0 and again["already_present"] == counts["imported"]
    n = store.export(tmp_path / "out.jsonl")
    assert n == counts["imported"]
    first = json.loads((tmp_path / "out.jsonl").read_text().splitlines()[0])
    assert first["source"] == "import" and first["prompt_id"] == "imported"
    import pyarrow.parquet as pq

    assert store.export(tmp_path / "out.parquet") == n
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.num_rows == n and set(table.column("paper_id").to_pylist()) == set(store.texts_by_paper())


def test_import_reports_bad_rows(tmp_path):
    src = tmp_path / "s.jsonl"
    src.write_text(json.dumps({"id": "x", "summaries": ["one", "two"]}) + "\n" + json.dumps({"summaries": ["no id"]}) + "\n{broken\n")
    counts = SummaryStore(tmp_path / "run").import_summaries(src)
    assert counts == {"rows": 3, "imported": 2, "skipped_rows": 2, "already_present": 0}
    with pytest.raises(StoreError, match="not found"):
        SummaryStore(tmp_path / "run").import_summaries(tmp_path / "missing.jsonl")


def test_merge_shards(tmp_path):
    for i, pids in enumerate((["a", "b"], ["c"])):
        with SummaryStore(tmp_path / f"s{i}").writer(f"shard-{i}-of-2") as w:
            w.write([_rec(p) for p in pids])
    merged = SummaryStore(tmp_path / "merged")
    assert merged.merge([tmp_path / "s0", tmp_path / "s1"]) == 3
    assert merged.merge([tmp_path / "s0"]) == 0  # idempotent
    assert sorted(merged.texts_by_paper()) == ["a", "b", "c"]
    with pytest.raises(StoreError, match="no records"):
        merged.merge([tmp_path / "nothing"])


def test_a_later_answer_supersedes_a_failed_record_but_not_the_reverse(tmp_path):
    store = SummaryStore(tmp_path)
    failed = SummaryRecord("p1", "tldr", 0, "", status="failed", reason="HTTP 500")
    ok_first = SummaryRecord("p2", "tldr", 0, "A first answer that was accepted.")
    with store.writer("a") as w:
        w.write([failed, ok_first])
    assert store.keys(include_failed=False) == {("p2", "tldr", 0)} and len(store.keys()) == 2
    with store.writer("b") as w:  # the retry succeeds; a late failure for p2 must not shadow its answer
        w.write([SummaryRecord("p1", "tldr", 0, "The retried answer, accepted."),
                 SummaryRecord("p2", "tldr", 0, "", status="failed", reason="HTTP 500")])
    by_key = {r.key: r for r in store.iter_all()}
    assert by_key[("p1", "tldr", 0)].status == "ok" and by_key[("p1", "tldr", 0)].text.startswith("The retried")
    assert by_key[("p2", "tldr", 0)].text == ok_first.text and len(store) == 2
    assert store.texts_by_paper() == {"p1": ["The retried answer, accepted."], "p2": [ok_first.text]}


def test_repair_reads_only_the_tail_and_cuts_exactly_the_torn_line(tmp_path):
    store = SummaryStore(tmp_path)
    with store.writer() as w:
        w.write([_rec("a"), _rec("b")])
    seg = store.segments()[0]
    good = seg.read_bytes()
    with seg.open("ab") as fh:  # a corrupt line in the middle (kept, skipped on read), then a long torn tail
        fh.write(b"{not json}\n" + good.splitlines(keepends=True)[0].replace(b'"a"', b'"m"'))
        fh.write(b'{"paper_id":"z","text":"' + b"x" * 200_000)
    assert store.keys() == {("a", "p1", 0), ("b", "p1", 0), ("m", "p1", 0)}
    before = seg.stat().st_size
    with store.writer() as w:
        assert w.repaired_bytes == len(b'{"paper_id":"z","text":"') + 200_000 and seg.stat().st_size == before - w.repaired_bytes
    with seg.open("ab") as fh:  # a complete last line that is not a record is cut as well
        fh.write(b'{"paper_id": 1}\n')
    with store.writer() as w:
        assert w.repaired_bytes == len(b'{"paper_id": 1}\n')
    assert len(store) == 3


def test_export_streams_in_batches_and_an_empty_store_exports_an_empty_file(tmp_path):
    import pyarrow.parquet as pq

    store = SummaryStore(tmp_path / "run")
    assert store.export(tmp_path / "empty.parquet") == 0 and pq.read_table(tmp_path / "empty.parquet").num_rows == 0
    with store.writer() as w:
        w.write([_rec(f"p{i}", sample=s, status="failed" if i == 3 and s == 0 else "ok") for i in range(7) for s in range(2)])
    with store.writer("later") as w:
        w.write([_rec("p3", sample=0, text="answered on the rerun")])  # supersedes the failed record
    assert store.export(tmp_path / "all.jsonl", batch_size=3) == 14
    rows = [json.loads(line) for line in (tmp_path / "all.jsonl").read_text().splitlines()]
    assert len({(r["paper_id"], r["sample"]) for r in rows}) == 14 and all(r["status"] == "ok" for r in rows)
    assert store.export(tmp_path / "all.parquet", batch_size=4) == 14 and pq.read_table(tmp_path / "all.parquet").num_rows == 14
    assert not list(tmp_path.glob(".*.tmp"))
