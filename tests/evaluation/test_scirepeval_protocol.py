"""Checks against the originals: our trec_eval measures against pytrec_eval (what SciRepEval itself
runs) and scikit-learn, and our probes against plain scikit-learn pipelines written here from
SciRepEval's evaluator, on the same MiniLM embeddings the end-to-end run scored."""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from semcse.evaluation.scirepeval import protocol as P

TREC = ["map", "ndcg", "P_5", "recall_10", "recip_rank", "ndcg_cut_10"]


def random_ranking(seed: int, queries: int = 40):
    """qrels with graded (0-2) judgements and a run with ties, unjudged run entries, judged docs missing
    from the run and queries without any relevant document."""
    rng = np.random.default_rng(seed)
    qrels, run = {}, {}
    for q in range(queries):
        docs = [f"d{rng.integers(0, 60):03d}" for _ in range(rng.integers(2, 16))]
        docs = list(dict.fromkeys(docs))
        grades = rng.choice([0, 0, 0, 1, 2], size=len(docs))
        if q % 7 == 0:
            grades[:] = 0
        qrels[f"q{q}"] = {d: int(g) for d, g in zip(docs, grades)}
        ranked = [d for d in docs if rng.random() > 0.15] + [f"x{rng.integers(0, 5)}"]  # some judged left out, one unjudged
        scores = np.round(rng.normal(size=len(ranked)), 1)  # rounding makes ties
        run[f"q{q}"] = {d: float(s) for d, s in zip(ranked, scores)}
    run["q_without_qrels"] = {"d001": 1.0}
    return qrels, run


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_trec_measures_match_pytrec_eval(seed):
    import pytrec_eval

    qrels, run = random_ranking(seed)
    ours = P.trec_measures(qrels, run, TREC)
    theirs = pytrec_eval.RelevanceEvaluator(qrels, {"map", "ndcg", "P.5", "recall.10", "recip_rank", "ndcg_cut.10"}).evaluate(run)
    assert ours["queries"] == len(theirs) == 40
    for m in TREC:
        per_query = [theirs[q][m] for q in qrels]  # our per-query values are in the run's query order
        np.testing.assert_allclose(ours["per_query"][m], per_query, rtol=0, atol=1e-12, err_msg=m)
        expected = 100 * pytrec_eval.compute_aggregated_measure(m, per_query)
        assert ours[m] == pytest.approx(expected, abs=1e-9), m


def test_trec_measures_match_sklearn_on_full_lists():
    from sklearn.metrics import average_precision_score, ndcg_score

    rng = np.random.default_rng(7)
    qrels, run, aps, ndcgs = {}, {}, [], []
    for q in range(30):
        n = int(rng.integers(3, 20))
        grades = rng.integers(0, 3, size=n)
        grades[0] = max(grades[0], 1)
        scores = rng.permutation(n).astype(float)  # no ties: both libraries rank alike
        qrels[f"q{q}"] = {f"d{i}": int(g) for i, g in enumerate(grades)}
        run[f"q{q}"] = {f"d{i}": s for i, s in enumerate(scores)}
        aps.append(average_precision_score(grades >= 1, scores))
        ndcgs.append(ndcg_score([grades], [scores]))
    ours = P.trec_measures(qrels, run, ["map", "ndcg"])
    assert ours["map"] == pytest.approx(100 * np.mean(aps)) and ours["ndcg"] == pytest.approx(100 * np.mean(ndcgs))


def test_trec_order_breaks_ties_like_trec_eval():
    assert P.trec_order({"b": 1.0, "a": 1.0, "c": 2.0, "d": 1.0 + 1e-9}) == ["c", "d", "b", "a"]  # float32: d ties b, a
    # one relevant of two: the relevant one first scores 1, second 0.5
    assert P.query_measure("map", {"p": 1, "n": 0}, {"p": -0.1, "n": -0.2}) == 1.0
    assert P.query_measure("map", {"p": 1, "n": 0}, {"p": -0.3, "n": -0.2}) == 0.5
    assert P.query_measure("map", {"p": 1, "q": 1}, {"p": 1.0}) == 0.5  # a judged paper missing from the run counts


# ---- on the end-to-end run's embeddings ---------------------------------------------------------------


@pytest.fixture(scope="module")
def embedded(scirepeval_run):
    """Each fixture task prepared again and encoded from the run's embedding cache (no re-encoding)."""
    from semcse.encode import Encoder, load_encoder_spec
    from semcse.evaluation import load_benchmark
    from semcse.evaluation.data import DataContext
    from semcse.evaluation.engines import engine_for

    cfg, report = scirepeval_run
    bench = load_benchmark(cfg.benchmark, data_root=cfg.data_root)
    ctx = DataContext(bench, cfg.data_root)
    encoder = load_encoder_spec(cfg.models[0], max_seq_length=cfg.max_seq_length)
    out = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Encoder, "_encode_uncached", lambda *a, **k: pytest.fail("not in the run's embedding cache"))
        for spec in bench.tasks:
            if spec.options.get("reviewers"):
                continue
            p = engine_for(spec.type).prepare(spec, ctx, None)
            emb = {role: encoder.encode(texts, cache_dir=Path(cfg.out) / "cache", progress=False)
                   for role, texts in p.texts.items()}
            out[spec.name] = (p, emb)
    return report.scores()[encoder.name], out


@pytest.mark.parametrize("task", ["SciDocs Cite", "Highly Influential Citations", "Search"])
def test_ranking_matches_their_retrieval_and_pytrec_eval(embedded, task):
    """Their IREvaluator.retrieval + calc_metrics, written out with sklearn and pytrec_eval."""
    import pytrec_eval
    from sklearn.metrics.pairwise import euclidean_distances

    scores, tasks = embedded
    p, emb = tasks[task]
    vectors = dict(zip(p.data["ids"], emb["docs"]))
    qrels = p.data["qrels"]
    run = {}
    for qid in qrels:
        if qid in vectors:
            cids = [cid for cid in qrels[qid] if cid in vectors]
            dist = euclidean_distances(np.array([vectors[c] for c in cids]), np.array([vectors[qid]])).flatten()
            run[qid] = {cid: -float(d) for cid, d in zip(cids, dist)}
    metrics = p.spec.options["metrics"]
    results = pytrec_eval.RelevanceEvaluator(qrels, set(metrics)).evaluate(run)
    for m in metrics:
        theirs = 100 * pytrec_eval.compute_aggregated_measure(m, [v[m] for v in results.values()])
        ours = P.trec_measures(qrels, run, [m])[m]
        assert ours == pytest.approx(theirs, abs=1e-9)
    main = metrics[0]
    assert scores[task] == pytest.approx(100 * pytrec_eval.compute_aggregated_measure(
        main, [v[main] for v in results.values()]), abs=1e-6)
    # and the ranking is by closeness: scoring by +distance (farthest first) is clearly worse
    flipped = {q: {c: -s for c, s in cands.items()} for q, cands in run.items()}
    assert P.trec_measures(qrels, flipped, [main])[main] < scores[task] - 5


def _split(p, emb):
    x = np.asarray(emb["texts"])
    return x[p.data["train"]], p.data["y_train"], x[p.data["test"]], p.data["y_test"]


def test_single_label_probe_matches_plain_sklearn(embedded):
    """SciRepEval's classify(): squared-hinge linear SVM without intercept, C over logspace(-2, 2, 5),
    GridSearchCV(cv=3) = unshuffled stratified 3 folds, accuracy to choose C; macro-F1 x 100."""
    from sklearn.metrics import f1_score
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.svm import LinearSVC

    scores, tasks = embedded
    x_tr, y_tr, x_te, y_te = _split(*tasks["MeSH"])
    svm = GridSearchCV(LinearSVC(loss="squared_hinge", fit_intercept=False, tol=1e-3, random_state=42),
                       {"C": np.logspace(-2, 2, 5)}, cv=StratifiedKFold(n_splits=3, shuffle=False), scoring="accuracy")
    with _quiet():
        svm.fit(x_tr, y_tr)
    expected = 100 * f1_score(y_te, svm.predict(x_te), average="macro")
    assert scores["MeSH"] == pytest.approx(expected, abs=1e-9)
    assert np.all(svm.best_estimator_.intercept_ == 0)  # no intercept, as lightning's LinearSVC
    # the same on the task's local copy, and our probe chose the same C
    assert scores["MeSH local"] == pytest.approx(expected, abs=1e-9)
    ours = P.classifier()
    with _quiet():
        ours.fit(x_tr, y_tr)
    assert ours.best_params_ == svm.best_params_


def test_multi_label_probe_matches_plain_sklearn(embedded):
    """SciRepEval's multi-label classify(): OneVsRestClassifier(GridSearchCV(LinearSVC(max_iter=10000)))
    with lightning's default hinge loss, no intercept, 0/1 label vectors; macro-F1 x 100."""
    from sklearn.metrics import f1_score
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.multiclass import OneVsRestClassifier
    from sklearn.svm import LinearSVC

    scores, tasks = embedded
    x_tr, y_tr, x_te, y_te = _split(*tasks["Fields of study"])
    assert y_tr.ndim == 2 and y_tr.shape[1] == 23
    svm = OneVsRestClassifier(GridSearchCV(
        LinearSVC(loss="hinge", fit_intercept=False, max_iter=10000, tol=1e-3, random_state=42),
        {"C": np.logspace(-2, 2, 5)}, cv=StratifiedKFold(n_splits=3, shuffle=False)))
    with _quiet():
        svm.fit(x_tr, y_tr)
        expected = 100 * f1_score(y_te, svm.predict(x_te), average="macro")
    assert scores["Fields of study"] == pytest.approx(expected, abs=1e-9)


def test_regression_probe_matches_plain_sklearn(embedded):
    """SciRepEval's regression(): LinearSVR (epsilon 0, no intercept), C over logspace(-4, 2, 7),
    GridSearchCV(cv=3) = unshuffled 3 folds, R^2 to choose C; Kendall tau x 100."""
    from scipy.stats import kendalltau
    from sklearn.model_selection import GridSearchCV, KFold
    from sklearn.svm import LinearSVR

    scores, tasks = embedded
    x_tr, y_tr, x_te, y_te = _split(*tasks["Citation Count"])
    svr = GridSearchCV(LinearSVR(epsilon=0.0, fit_intercept=False, tol=1e-3, random_state=42),
                       {"C": np.logspace(-4, 2, 7)}, cv=KFold(n_splits=3, shuffle=False), scoring="r2")
    with _quiet():
        svr.fit(x_tr, y_tr)
    expected = 100 * kendalltau(y_te, svr.predict(x_te)).statistic
    assert scores["Citation Count"] == pytest.approx(expected, abs=1e-9)


@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and rare-class warnings, as the probe itself silences
        yield


# ---- known answers --------------------------------------------------------------------------------------


def clusters(n_per: int, k: int, dim: int = 8, spread: float = 0.5, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = np.eye(k, dim) * 10
    x = np.concatenate([c + spread * rng.normal(size=(n_per, dim)) for c in centres])
    return x, np.asarray([f"c{i}" for i in range(k) for _ in range(n_per)])


def test_probes_known_answers():
    x, y = clusters(15, 3)
    idx = np.random.default_rng(0).permutation(len(x))
    tr, te = idx[:30], idx[30:]
    res = P.probe_classification(x[tr], y[tr], x[te], y[te], metrics=["f1_macro", "accuracy"])
    assert res["f1_macro"] == pytest.approx(100.0) and res["accuracy"] == pytest.approx(100.0)
    rng = np.random.default_rng(1)
    noise, ry = rng.normal(size=(90, 8)), rng.integers(0, 3, size=90)
    assert P.probe_classification(noise[:60], ry[:60], noise[60:], ry[60:])["f1_macro"] < 70
    feats = rng.normal(size=(80, 6))
    multi = np.stack([(feats[:, 0] > 0), (feats[:, 1] > 0)], axis=1).astype(int)  # two separable labels
    assert P.probe_classification(feats[:60], multi[:60], feats[60:], multi[60:], multi_label=True)["f1_macro"] > 90
    target = 3 * feats[:, 0] + 0.01 * rng.normal(size=80)
    res = P.probe_regression(feats[:60], target[:60], feats[60:], target[60:], metrics=["kendalltau", "pearsonr", "mse"])
    assert res["kendalltau"] > 90 and res["pearsonr"] > 95 and res["mse"] < 0.1  # mse is not x 100


def test_probe_has_no_intercept_and_unshuffled_folds():
    from sklearn.model_selection import StratifiedKFold, check_cv

    # data that needs an intercept: one class at x = 1, the other at x = 2 (1-d); without one a
    # line through the origin cannot separate them
    x = np.r_[np.full(30, 1.0), np.full(30, 2.0)][:, None] + np.random.default_rng(0).normal(0, 0.01, (60, 1))
    y = np.r_[np.zeros(30), np.ones(30)]
    assert P.probe_classification(x[::2], y[::2], x[1::2], y[1::2], metrics=["accuracy"])["accuracy"] == pytest.approx(50.0)
    clf = P.classifier()
    cv = check_cv(clf.cv, y, classifier=True)
    assert isinstance(cv, StratifiedKFold) and cv.n_splits == 3 and not cv.shuffle
    assert list(clf.param_grid["C"]) == pytest.approx([0.01, 0.1, 1, 10, 100])
    assert list(P.regressor().param_grid["C"]) == pytest.approx([1e-4, 1e-3, 1e-2, 0.1, 1, 10, 100])


def test_summarise_formats_and_average():
    r = lambda model, task, fmt, score: SimpleNamespace(model=model, task=task, format=fmt, score=score)  # noqa: E731
    results = [r("m", "a", "CLF", 60.0), r("m", "b", "CLF", 80.0), r("m", "c", "PRX", 90.0), r("m", "d", "", 3.0),
               r("m", "e", "SRCH", 50.0)]
    row = P.summarise(results)["models"]["m"]
    assert row["CLF"] == 70.0 and row["PRX"] == 90.0 and row["SRCH"] == 50.0 and row["RGN"] is None
    assert row["average"] == pytest.approx((60 + 80 + 90 + 50) / 4) and row["tasks"] == 4  # over tasks, not formats
    assert P.summarise([r("m", "d", "", 3.0)]) == {}
