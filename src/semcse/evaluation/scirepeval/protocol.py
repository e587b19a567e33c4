"""SciRepEval's protocol on frozen embeddings, as allenai/scirepeval ``evaluation/evaluator.py`` runs it.

``SupervisedEvaluator.classify``: a linear SVM from sklearn-contrib-lightning
(``lightning.classification.LinearSVC``: dual coordinate descent, L2 penalty, **no intercept**,
``tol=1e-3``), ``C`` over ``np.logspace(-2, 2, 5)`` with ``GridSearchCV(cv=3)`` (integer cv:
unshuffled stratified 3 folds for a classifier) and the estimator's own score (accuracy);

- single label: ``LinearSVC(loss="squared_hinge", random_state=42)``;
- multi-label: ``OneVsRestClassifier(GridSearchCV(LinearSVC(max_iter=10000)))``: lightning's
  default loss, **hinge**, one grid search per label; labels are 0/1 vectors.

``SupervisedEvaluator.regression``: ``lightning.regression.LinearSVR(random_state=42)`` (epsilon-
insensitive loss, epsilon 0, no intercept), ``C`` over ``np.logspace(-4, 2, 7)``, ``GridSearchCV(cv=3)``
(unshuffled KFold, R^2), Kendall tau of the test predictions.

``IREvaluator``: each query's candidates scored by the negative Euclidean distance of the raw
embeddings; pytrec_eval (trec_eval) measures: ``map``, ``ndcg`` (linear gain, over the full
candidate list, ideal from all judged candidates), ... averaged over queries.

Every score is x 100 (their ``np.round(100 * result, 2)``; kept unrounded here, shown with two
decimals). sklearn-contrib-lightning does not install on current Python / scikit-learn, so the
probes use scikit-learn's liblinear ``LinearSVC`` / ``LinearSVR`` with ``fit_intercept=False``,
``dual=True`` and lightning's tolerance: the same objective (``0.5 ||w||^2 + C * sum loss``)
solved by the same dual coordinate descent. The trec_eval measures are re-implemented in plain
Python (``trec_measures``; ties broken as trec_eval does: by docno, descending) and tested against
pytrec_eval itself.
"""

from __future__ import annotations

import math
import re
import warnings
from statistics import mean
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from semcse.evaluation.errors import BenchmarkError

RANDOM_STATE = 42
CV = 3
CLASSIFICATION_CS = tuple(float(c) for c in np.logspace(-2, 2, 5))
REGRESSION_CS = tuple(float(c) for c in np.logspace(-4, 2, 7))
CLASSIFICATION_METRICS = ("f1", "accuracy", "precision", "recall")  # optionally _macro, _micro, _weighted, _samples
REGRESSION_METRICS = ("mse", "r2", "pearsonr", "kendalltau")
TREC_METRIC = re.compile(r"^(map|ndcg|recip_rank|P_\d+|recall_\d+|ndcg_cut_\d+)$")
FORMATS = ("CLF", "RGN", "PRX", "SRCH")


def check_metrics(kind: str, metrics: Any, where: str) -> None:
    """Raise :class:`BenchmarkError` unless ``metrics`` is a non-empty list of metrics of this task kind."""
    if not isinstance(metrics, (list, tuple)) or not metrics or not all(isinstance(m, str) for m in metrics):
        raise BenchmarkError(f"{where}: metrics must be a non-empty list of metric names, got {metrics!r}")
    for m in metrics:
        if kind == "classification":
            head, _, avg = m.partition("_")
            ok = head in CLASSIFICATION_METRICS and avg in ("", "macro", "micro", "weighted", "samples")
            known = "f1, accuracy, precision, recall, optionally with _macro / _micro / _weighted / _samples"
        elif kind == "regression":
            ok, known = m in REGRESSION_METRICS, ", ".join(REGRESSION_METRICS)
        else:
            ok, known = bool(TREC_METRIC.match(m)), "map, ndcg, recip_rank, P_K, recall_K, ndcg_cut_K"
        if not ok:
            raise BenchmarkError(f"{where}: unknown {kind} metric {m!r}; known: {known}")


# ---- linear probes ---------------------------------------------------------------------------


def linear_svc(loss: str = "squared_hinge", max_iter: int = 1000):
    """lightning's ``LinearSVC(loss=...)`` as liblinear: dual CD, no intercept, tol 1e-3, seed 42."""
    from sklearn.svm import LinearSVC

    return LinearSVC(loss=loss, fit_intercept=False, dual=True, tol=1e-3, max_iter=max_iter, random_state=RANDOM_STATE)


def classifier(multi_label: bool = False, cv: int = CV, Cs: Sequence[float] = CLASSIFICATION_CS):
    """Their classifier: grid search over C with ``cv`` folds (none with ``cv=0``); one-vs-rest for multi-label."""
    from sklearn.model_selection import GridSearchCV
    from sklearn.multiclass import OneVsRestClassifier

    if multi_label:
        return OneVsRestClassifier(GridSearchCV(linear_svc("hinge", 10000), {"C": list(Cs)}, cv=cv), n_jobs=1)
    est = linear_svc("squared_hinge")
    return GridSearchCV(est, {"C": list(Cs)}, cv=cv) if cv else est


def regressor(cv: int = CV, Cs: Sequence[float] = REGRESSION_CS):
    """Their regressor: ``LinearSVR`` (epsilon 0, no intercept) in a grid search over C."""
    from sklearn.model_selection import GridSearchCV
    from sklearn.svm import LinearSVR

    svr = LinearSVR(epsilon=0.0, loss="epsilon_insensitive", fit_intercept=False, dual=True, tol=1e-3, max_iter=1000,
                    random_state=RANDOM_STATE)
    return GridSearchCV(svr, {"C": list(Cs)}, cv=cv)


def classification_scores(y_true: Any, y_pred: Any, metrics: Iterable[str]) -> dict[str, float]:
    """Their ``calc_metrics`` for classification, x 100: ``f1_macro`` is ``f1_score(average="macro")``, ..."""
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

    fns = {"f1": f1_score, "accuracy": accuracy_score, "precision": precision_score, "recall": recall_score}
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # labels never predicted: sklearn's 0, as in their runs
        for m in metrics:
            head, _, avg = m.partition("_")
            value = fns[head](y_true, y_pred, average=avg) if avg else fns[head](y_true, y_pred)
            out[m] = 100.0 * float(value)
    return out


def regression_scores(y_true: Any, y_pred: Any, metrics: Iterable[str]) -> dict[str, float]:
    """Their ``calc_metrics`` for regression: x 100 except ``mse``; a correlation's statistic only."""
    from scipy.stats import kendalltau, pearsonr
    from sklearn.metrics import mean_squared_error, r2_score

    fns = {"mse": mean_squared_error, "r2": r2_score, "pearsonr": pearsonr, "kendalltau": kendalltau}
    out = {}
    for m in metrics:
        value = fns[m](y_true, y_pred)
        value = float(value[0] if isinstance(value, tuple) else getattr(value, "statistic", value))
        out[m] = value if m == "mse" else 100.0 * value
    return out


def probe_classification(x_train: Any, y_train: Any, x_test: Any, y_test: Any, multi_label: bool = False,
                         metrics: Iterable[str] = ("f1_macro",), cv: int = CV) -> dict[str, float]:
    """Fit their probe on the training embeddings, score its test predictions (x 100).

    ``y`` are labels, or for ``multi_label`` 0/1 matrices (rows = papers, columns = labels).
    """
    clf = classifier(multi_label, cv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence, rare classes in a fold, labels absent in training
        clf.fit(np.asarray(x_train), np.asarray(y_train))
        pred = clf.predict(np.asarray(x_test))
    out = classification_scores(np.asarray(y_test), pred, metrics)
    best = getattr(clf, "best_params_", None)
    if best:
        out["C"] = float(best["C"])
    return out


def probe_regression(x_train: Any, y_train: Any, x_test: Any, y_test: Any, metrics: Iterable[str] = ("kendalltau",),
                     cv: int = CV) -> dict[str, float]:
    """Fit their regression probe and score its test predictions (x 100 except mse)."""
    reg = regressor(cv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg.fit(np.asarray(x_train), np.asarray(y_train, dtype=np.float64))
        pred = reg.predict(np.asarray(x_test))
    out = regression_scores(np.asarray(y_test, dtype=np.float64), pred, metrics)
    out["C"] = float(reg.best_params_["C"])
    return out


# ---- ranking: trec_eval's measures -----------------------------------------------------------


def trec_order(scores: Mapping[str, float]) -> list[str]:
    """Candidate ids in trec_eval's order: score descending (compared as float32), ties by id descending."""
    ids = sorted(scores, reverse=True)
    ids.sort(key=lambda d: -float(np.float32(scores[d])))
    return ids


def query_measure(metric: str, grades: Mapping[str, int], scores: Mapping[str, float]) -> float:
    """One trec_eval measure (0-1) of one query: ``grades`` = its qrels, ``scores`` = its run."""
    ranked = [grades.get(d, 0) for d in trec_order(scores)]
    judged = list(grades.values())
    num_rel = sum(1 for g in judged if g >= 1)  # relevance level 1
    name, _, k_text = metric.rpartition("_") if metric[-1].isdigit() else (metric, "", "")
    k = int(k_text) if k_text else None
    if metric == "map":
        hits, total = 0, 0.0
        for i, g in enumerate(ranked):
            if g >= 1:
                hits += 1
                total += hits / (i + 1)
        return total / num_rel if hits else 0.0
    if metric == "recip_rank":
        return next((1.0 / (i + 1) for i, g in enumerate(ranked) if g >= 1), 0.0)
    if name == "P":
        return sum(1 for g in ranked[:k] if g >= 1) / k
    if name == "recall":
        return sum(1 for g in ranked[:k] if g >= 1) / num_rel if num_rel else 0.0
    if metric == "ndcg" or name == "ndcg_cut":
        cut = len(ranked) if k is None else k
        keep = (lambda g: g != 0) if k is None else (lambda g: g > 0)  # ndcg: any non-zero gain; ndcg_cut: positive
        dcg = sum(g / math.log2(i + 2) for i, g in enumerate(ranked[:cut]) if keep(g))
        ideal_gains = sorted((g for g in judged if g > 0), reverse=True)
        if k is not None:
            ideal_gains = ideal_gains[:k]
        idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal_gains))
        return dcg / idcg if idcg > 0 else 0.0
    raise ValueError(f"unknown trec_eval measure {metric!r}")


def trec_measures(qrels: Mapping[str, Mapping[str, int]], run: Mapping[str, Mapping[str, float]],
                  metrics: Iterable[str]) -> dict[str, Any]:
    """pytrec_eval's ``RelevanceEvaluator(qrels, metrics).evaluate(run)`` averaged over queries, x 100.

    Queries of the run without qrels are left out (as trec_eval does); a query with no relevant
    candidate scores 0. Also returns ``queries`` and the per-query values (``per_query``, 0-1).
    """
    qids = [q for q in run if q in qrels]
    if not qids:
        raise ValueError("no query of the run has qrels")
    out: dict[str, Any] = {"queries": len(qids)}
    per_query = {}
    for m in metrics:
        values = np.asarray([query_measure(m, qrels[q], run[q]) for q in qids], dtype=np.float64)
        per_query[m] = values
        out[m] = 100.0 * float(values.mean())
    out["per_query"] = per_query
    return out


# ---- the table --------------------------------------------------------------------------------


def summarise(results: Iterable[Any]) -> dict[str, Any]:
    """Per model: the mean score of each SciRepEval format (CLF, RGN, PRX, SRCH) and of all its tasks.

    ``results`` are :class:`~semcse.evaluation.run.TaskResult`-like objects (``model``, ``task``,
    ``format``, ``score``); tasks without a format are not SciRepEval tasks and are left out. The
    overall average is over tasks (the SemCSE paper's "average of 23 tasks"), not over formats.
    """
    by_model: dict[str, dict[str, tuple[str, float]]] = {}
    for r in results:
        if getattr(r, "format", ""):
            by_model.setdefault(r.model, {})[r.task] = (r.format, float(r.score))
    models = {}
    for model, tasks in by_model.items():
        row: dict[str, Any] = {}
        for f in FORMATS:
            scores = [s for ff, s in tasks.values() if ff == f]
            row[f] = mean(scores) if scores else None
        row["average"] = mean(s for _, s in tasks.values())
        row["tasks"] = len(tasks)
        row["tasks_per_format"] = {f: sum(1 for ff, _ in tasks.values() if ff == f) for f in FORMATS}
        models[model] = row
    return {"formats": list(FORMATS), "models": models} if models else {}
