"""Training examples: positive mix and fallbacks, negatives, splitting by paper, bad inputs."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from semcse.config import CorpusConfig, TrainConfig
from semcse.corpus import Paper, load_corpus
from semcse.summaries.store import SummaryStore
from semcse.training.examples import KINDS
from semcse.training.examples import ExampleBuilder, PositiveMix, mix_report, triplet_columns
from semcse.training.papers import TrainingDataError, TrainingPaper, prepare_papers, split_by_paper, unsummarised_papers
from semcse.training.trainer import load_summaries, prepare_data


def _paper(i: int, summaries: int = 3, title: bool = True, sentences: int = 4) -> TrainingPaper:
    sents = [f"Paper {i} sentence {k} about topic {i}." for k in range(sentences)]
    return TrainingPaper(id=f"p{i}", title=f"Title of paper {i}" if title else None, abstract=" ".join(sents),
                         sentences=sents, summaries=[f"Summary {s} of paper {i}." for s in range(summaries)])


def _owner(text: str) -> int:
    return int(text.split("paper ")[-1].split()[0].rstrip(".")) if "paper " in text else int(text.split("topic ")[-1].rstrip("."))


def test_realised_mix_matches_requested_when_all_kinds_exist():
    papers = [_paper(i) for i in range(300)]
    triplets = ExampleBuilder(papers, PositiveMix(0.5, 0.15, 0.35), seed=1).epoch(0)
    assert len(triplets) == 900  # every summary is an anchor once per epoch
    report = mix_report(triplets, PositiveMix(0.5, 0.15, 0.35))
    assert report["realised"]["summary"] == pytest.approx(0.50, abs=0.05)
    assert report["realised"]["title"] == pytest.approx(0.15, abs=0.04)
    assert report["realised"]["sentence"] == pytest.approx(0.35, abs=0.05)
    assert report["counts"]["abstract"] == 0


def test_ratios_are_options():
    papers = [_paper(i) for i in range(200)]
    triplets = ExampleBuilder(papers, PositiveMix(0.0, 1.0, 0.0), seed=3).epoch(0)
    assert {t.kind for t in triplets} == {"title"}


def test_whole_abstract_positives_for_summary_and_title_anchors_never_for_spans():
    papers = [_paper(i) for i in range(200)]
    mix = PositiveMix(0.4, 0.1, 0.3, 0.2)
    builder = ExampleBuilder(papers, mix, seed=4, title_anchors=True, span_anchors=1)
    triplets = builder.epoch(0)
    anchor_kind, _ = builder.plan(0).anchor_columns()
    report = mix_report(builder.plan(0).kind, mix)
    assert report["requested"]["abstract"] == pytest.approx(0.2)
    for t, a in zip(triplets, anchor_kind):
        own, other = papers[t.paper], papers[t.negative_paper]
        if t.kind == "abstract":
            assert KINDS[a] != "sentence"  # a span lies inside its abstract: never its positive
            assert (t.positive, t.negative) == (own.abstract, other.abstract) and t.paper != t.negative_paper
    summary_rows = [t for t, a in zip(triplets, anchor_kind) if a == 0]
    share = sum(t.kind == "abstract" for t in summary_rows) / len(summary_rows)
    assert share == pytest.approx(0.2, abs=0.04)
    title_rows = [t.kind for t, a in zip(triplets, anchor_kind) if a == 1]  # no title positive: 0.2 / 0.9
    assert title_rows.count("abstract") / len(title_rows) == pytest.approx(0.2 / 0.9, abs=0.1)
    only_abstract = ExampleBuilder(papers, PositiveMix(0, 0, 0, 1), seed=1).epoch(0)
    assert {t.kind for t in only_abstract} == {"abstract"}


def test_fallbacks_use_only_the_kinds_a_paper_has():
    papers = ([_paper(i, summaries=1) for i in range(100)]  # no second summary
              + [_paper(i, title=False) for i in range(100, 200)]  # no title
              + [_paper(i, sentences=1) for i in range(200, 300)]  # one-sentence abstract
              + [_paper(i, summaries=1, title=False, sentences=1) for i in range(300, 310)])  # nothing: whole abstract
    triplets = ExampleBuilder(papers, seed=0).epoch(0)
    kinds = {rng: Counter(t.kind for t in triplets if rng[0] <= t.paper < rng[1])
             for rng in [(0, 100), (100, 200), (200, 300), (300, 310)]}
    assert "summary" not in kinds[(0, 100)]
    assert "title" not in kinds[(100, 200)]
    assert "sentence" not in kinds[(200, 300)]
    assert set(kinds[(300, 310)]) == {"abstract"}
    # renormalised over the kinds a paper has: one summary -> title 0.15/0.50 = 0.3, sentence 0.7
    share = kinds[(0, 100)]["title"] / sum(kinds[(0, 100)].values())
    assert share == pytest.approx(0.3, abs=0.12)


def test_positive_from_same_paper_negative_same_kind_from_other_paper():
    papers = [_paper(i) for i in range(50)]
    for t in ExampleBuilder(papers, seed=5, max_span_sentences=2).epoch(0):
        own, other = papers[t.paper], papers[t.negative_paper]
        assert t.paper != t.negative_paper
        assert t.anchor in own.summaries
        if t.kind == "summary":
            assert t.positive in own.summaries and t.positive != t.anchor
            assert t.negative in other.summaries
        elif t.kind == "title":
            assert (t.positive, t.negative) == (own.title, other.title)
        else:
            assert t.positive in own.abstract and t.positive != own.abstract
            assert t.negative in other.abstract and t.negative != other.abstract
            assert 1 <= t.positive.count(".") <= 2


def test_title_and_span_anchors_take_positives_from_their_own_paper_and_never_themselves():
    papers = ([_paper(i, sentences=6) for i in range(60)] + [_paper(i, summaries=1, sentences=5) for i in range(60, 80)]
              + [_paper(i, title=False, sentences=1) for i in range(80, 90)])  # no title, one sentence: neither kind
    builder = ExampleBuilder(papers, seed=2, max_span_sentences=3, title_anchors=True, span_anchors=2)
    summaries = 60 * 3 + 20 + 10 * 3
    assert builder.anchors_per_epoch() == summaries + 80 + 2 * 80
    triplets = builder.epoch(0)
    assert len(triplets) == builder.anchors_per_epoch()
    plan = builder.plan(0)
    anchor_kind, _ = plan.anchor_columns()
    assert np.bincount(anchor_kind, minlength=3)[:3].tolist() == [summaries, 80, 160]
    by_kind = {KINDS[k]: [t for t, a in zip(triplets, anchor_kind) if a == k] for k in range(3)}
    for t in by_kind["title"]:
        own = papers[t.paper]
        assert t.anchor == own.title and t.kind in ("summary", "sentence")  # never the title itself
        assert t.positive in own.summaries or t.positive in own.abstract
    for t in by_kind["sentence"]:
        own = papers[t.paper]
        sentences = own.sentences
        half = len(sentences) // 2
        anchor_idx = {i for i, x in enumerate(sentences) if x in t.anchor}
        assert t.anchor in own.abstract and 1 <= len(anchor_idx) <= 3
        first = max(anchor_idx) < half
        assert first or min(anchor_idx) >= half  # the anchor lies inside one half
        if t.kind == "sentence":  # the positive span lies in the other half
            positive_idx = {i for i, x in enumerate(sentences) if x in t.positive}
            assert positive_idx and (min(positive_idx) >= half if first else max(positive_idx) < half)
        elif t.kind == "summary":
            assert t.positive in own.summaries
        else:
            assert t.positive == own.title
        assert t.negative_paper != t.paper
    kinds = Counter(t.kind for t in by_kind["sentence"])
    assert set(kinds) == {"summary", "title", "sentence"}
    lengths = builder.lengths(plan)  # anchor lengths now count the anchor's own kind
    row = int(np.flatnonzero(anchor_kind == 1)[0])
    t = triplets[row]
    assert lengths[row] == len(t.anchor) + len(t.positive) + len(t.negative)
    with pytest.raises(ValueError, match="span_anchors"):
        ExampleBuilder(papers, span_anchors=-1)


def test_epochs_are_drawn_afresh_and_repeatably():
    papers = [_paper(i) for i in range(40)]
    builder = ExampleBuilder(papers, seed=7)
    assert builder.epoch(0) == ExampleBuilder(papers, seed=7).epoch(0)
    assert builder.epoch(0) != builder.epoch(1)
    assert builder.epoch(0) != ExampleBuilder(papers, seed=8).epoch(0)


def test_anchors_per_paper_limits_anchors():
    papers = [_paper(i, summaries=5) for i in range(10)]
    triplets = ExampleBuilder(papers, anchors_per_paper=2).epoch(0)
    assert len(triplets) == 20 and Counter(t.paper for t in triplets) == {i: 2 for i in range(10)}


def test_triplet_columns_carry_paper_and_kind_labels():
    papers = [_paper(i) for i in range(5)]
    triplets = ExampleBuilder(papers).epoch(0)
    cols = triplet_columns(triplets)
    assert list(cols) == ["anchor", "positive", "negative", "label"]
    assert cols["label"][0][:2] == [triplets[0].paper, triplets[0].negative_paper]


def test_abstracts_are_split_with_a_real_sentence_splitter():
    abstract = ("Smith et al. proposed a method, e.g. for graphs. As Fig. 2 shows, accuracy rose to 93.5 percent. "
                "We release code.")
    papers, _ = prepare_papers([Paper("a", "T", abstract)], {"a": ["s1", "s2"]})
    assert papers[0].sentences == ["Smith et al. proposed a method, e.g. for graphs.",
                                   "As Fig. 2 shows, accuracy rose to 93.5 percent.", "We release code."]


def test_split_is_by_paper_fixed_and_without_leakage(scitldr_train: Path):
    cfg = TrainConfig(corpus=CorpusConfig(source=str(scitldr_train), limit=200), summaries=(str(scitldr_train),),
                      validation_papers=0.2, seed=11)
    data = prepare_data(cfg)
    train_ids = {p.id for p in data.train_papers}
    val_ids = {p.id for p in data.validation_papers}
    assert len(val_ids) == 40 and len(train_ids) == 160 and not train_ids & val_ids
    # the same seed gives the same split whatever the paper order
    shuffled = list(reversed(list(data.train_papers) + data.validation_papers))
    assert {p.id for p in split_by_paper(shuffled, 0.2, 11)[1]} == val_ids
    assert {p.id for p in split_by_paper(shuffled, 0.2, 12)[1]} != val_ids
    # no text of a validation paper reaches a training example (anchors, positives or negatives)
    val_texts = {t for p in data.validation_papers for t in (*p.summaries, p.title, *p.sentences)}
    for epoch in range(2):
        for t in data.builder.epoch(epoch):
            assert data.builder.papers[t.paper].id in train_ids
            assert data.builder.papers[t.negative_paper].id in train_ids
            assert t.anchor not in val_texts and t.positive not in val_texts and t.negative not in val_texts


def test_validation_is_topped_up_with_unsummarised_papers_never_trained_on(tmp_path: Path, scitldr_train: Path):
    rows = [json.loads(line) for line in scitldr_train.open()][:60]
    partial = tmp_path / "sixty.jsonl"  # summaries for the first 60 of the 200 corpus papers only
    partial.write_text("".join(json.dumps({"paper_id": r["paper_id"], "summaries": r["target"]}) + "\n" for r in rows))
    cfg = TrainConfig(corpus=CorpusConfig(source=str(scitldr_train), limit=200), summaries=(str(partial),),
                      validation_papers=0.2, max_validation_papers=50, seed=3)
    data = prepare_data(cfg)
    assert data.report.validation_papers == 12 and data.report.validation_unsummarised == 38
    assert len(data.validation_papers) == 50
    summarised = {r["paper_id"] for r in rows}
    train_ids = {p.id for p in data.train_papers}
    extra = [p for p in data.validation_papers if not p.summaries]
    assert len(extra) == 38 and all(p.id not in summarised and p.id not in train_ids for p in extra)
    again = unsummarised_papers(load_corpus(scitldr_train, limit=200), load_summaries([str(partial)]), 38, seed=3)
    assert [p.id for p in again] == [p.id for p in extra]  # fixed by the seed
    assert "38 corpus papers without summaries" in " ".join(data.report.lines())
    assert len(prepare_data(cfg.replace(validation_fill=False)).validation_papers) == 12


def test_every_paper_trains_through_title_and_span_anchors(tmp_path: Path, scitldr_train: Path):
    rows = [json.loads(line) for line in scitldr_train.open()][:60]
    partial = tmp_path / "sixty.jsonl"  # summaries for the first 60 of the 200 corpus papers only
    partial.write_text("".join(json.dumps({"paper_id": r["paper_id"], "summaries": r["target"]}) + "\n" for r in rows))
    cfg = TrainConfig(corpus=CorpusConfig(source=str(scitldr_train), limit=200), summaries=(str(partial),),
                      validation_papers=0.2, max_validation_papers=50, seed=3, unsummarised_papers="train",
                      title_anchors=True, span_anchors=1)
    data = prepare_data(cfg)
    report = data.report
    assert report.train_papers + report.validation_papers == 200  # the split is over every paper
    assert report.validation_papers == 40 and report.validation_unsummarised == 0
    assert report.train_unsummarised == sum(1 for p in data.train_papers if not p.summaries) > 100
    assert report.papers_used == 60 and "without summaries: title and span anchors only" in " ".join(report.lines())
    train_ids = {p.id for p in data.train_papers}
    assert not train_ids & {p.id for p in data.validation_papers}
    triplets = data.builder.epoch(0)
    index = {p.id: i for i, p in enumerate(data.train_papers)}
    unsummarised = {index[p.id] for p in data.train_papers if not p.summaries}
    from_unsummarised = [t for t in triplets if t.paper in unsummarised]
    # every training paper gives a title anchor and a span anchor; summarised ones add their summaries
    assert len(from_unsummarised) == 2 * len(unsummarised)
    assert {t.kind for t in from_unsummarised} == {"title", "sentence"}
    papers = data.train_papers
    for t in from_unsummarised:
        own = papers[t.paper]
        assert t.anchor in (own.title, *[" ".join(own.sentences[i:j]) for i in range(len(own.sentences))
                                          for j in range(i + 1, len(own.sentences) + 1)])
        assert t.positive != t.anchor and t.negative_paper != t.paper
    summarised_only = prepare_data(cfg.replace(unsummarised_papers="validation"))
    assert len(data.builder.epoch(0)) > 2 * len(summarised_only.builder.epoch(0))


def test_scitldr_targets_and_store_give_the_same_summaries(tmp_path: Path, scitldr_train: Path):
    from_jsonl = load_summaries([str(scitldr_train)])  # id and summaries fields detected: paper_id, target
    store = SummaryStore(tmp_path / "run")
    store.import_summaries(scitldr_train, id_field="paper_id", summaries_field="target")
    assert load_summaries([str(tmp_path / "run")]) == from_jsonl
    assert len(from_jsonl) == 1992 and all(len(v) == 1 for v in from_jsonl.values())


def test_bad_inputs_are_rejected_with_clear_messages(tmp_path: Path, scitldr_papers: list[Paper], data_root: Path):
    with pytest.raises(TrainingDataError, match="no papers"):
        prepare_papers([], {"x": ["a summary"]})
    with pytest.raises(TrainingDataError, match="no accepted summaries"):
        prepare_papers(scitldr_papers, {})
    # a summary store made from another corpus (CSAbstruct ids) against SciTLDR papers
    store = SummaryStore(tmp_path / "csabstruct-run")
    csab = tmp_path / "cs.jsonl"
    rows = [json.loads(line) for line in (data_root / "csabstruct" / "dev.jsonl").open()][:20]
    csab.write_text("".join(json.dumps({"id": r["abstract_id"], "summaries": [r["sentences"][0]]}) + "\n" for r in rows))
    store.import_summaries(csab)
    with pytest.raises(TrainingDataError, match="another corpus"):
        prepare_papers(scitldr_papers, load_summaries([str(tmp_path / "csabstruct-run")]), "csabstruct-run")
    with pytest.raises(TrainingDataError, match="not a summary store"):
        load_summaries([str(tmp_path)])
    with pytest.raises(TrainingDataError, match="not found"):
        load_summaries([str(tmp_path / "missing.jsonl")])
    no_text = tmp_path / "bad.jsonl"
    no_text.write_text(json.dumps({"paper_id": "x", "abstract": "y"}) + "\n")
    with pytest.raises(TrainingDataError, match=r"bad.jsonl:1: no summaries field"):
        load_summaries([str(no_text)])
    with pytest.raises(TrainingDataError, match="at least 4 papers"):
        split_by_paper(prepare_papers(scitldr_papers[:3], {p.id: ["s"] for p in scitldr_papers[:3]})[0], 0.1, 0)


def test_partial_overlap_is_reported(scitldr_papers: list[Paper], caplog):
    summaries = {p.id: ["a summary"] for p in scitldr_papers[:10]} | {"not-a-paper": ["x"]}
    papers, report = prepare_papers(scitldr_papers[:20], summaries)
    assert len(papers) == 10 and report.corpus_without_summaries == 10 and report.summaries_without_paper == 1
    assert "not in the corpus" in caplog.text


def test_data_report_counts_fallbacks(scitldr_papers):
    summaries = {p.id: ["one", "two"] for p in scitldr_papers[:10]} | {p.id: ["only"] for p in scitldr_papers[10:20]}
    _, report = prepare_papers(scitldr_papers[:20], summaries)
    assert report.one_summary == 10 and report.papers_used == 20 and report.summaries == 30


def test_plan_lengths_and_the_lazy_training_set_match_the_drawn_texts():
    from semcse.training.trainer import build_train_dataset

    # more summaries than sentences, some papers without a title: every index space differs in size
    papers = [_paper(i, summaries=6, title=i % 3 > 0, sentences=2 + i % 3) for i in range(12)]
    builder = ExampleBuilder(papers, seed=4, max_span_sentences=2)
    for epoch in range(2):
        triplets = builder.epoch(epoch)
        kinds, lengths = builder.kinds_and_lengths(epoch)
        assert list(lengths) == [len(t.anchor) + len(t.positive) + len(t.negative) for t in triplets]
        assert [KINDS[k] for k in kinds] == [t.kind for t in triplets]
    dataset, mix = build_train_dataset(builder, blocks=2)
    block = builder.anchors_per_epoch()
    assert len(dataset) == 2 * block and mix["triplets"] == block
    rows = dataset[[block + 5, 3, block]]  # rows of both blocks, out of order
    second, first = builder.epoch(1), builder.epoch(0)
    expected = [second[5], first[3], second[0]]
    assert rows["anchor"] == [t.anchor for t in expected] and rows["negative"] == [t.negative for t in expected]
    assert rows["label"] == [[t.paper, t.negative_paper, KINDS.index(t.kind)] for t in expected]


def test_the_lazy_transform_pickles_as_a_handle_not_its_texts():
    import copy
    import pickle

    from semcse.training.lazy_set import TripletTexts

    papers = [_paper(i, summaries=5, sentences=4) for i in range(50)]
    texts = TripletTexts(ExampleBuilder(papers, seed=1), 250)
    blob = pickle.dumps(texts)  # datasets hashes a transform by pickling it
    assert len(blob) < 500 and pickle.loads(blob) is texts and copy.deepcopy(texts) is texts
