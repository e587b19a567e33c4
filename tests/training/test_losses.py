"""Each SemCSE loss against a hand computation on small tensors."""

from __future__ import annotations

import math

import pytest
import torch

from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
from semcse.similarity import CosineDistance, EuclideanDistance
from semcse.training.losses import SemCSEInfoNCELoss, SemCSETripletLoss

A = [[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]]
P = [[0.3, 0.4], [1.0, 1.0], [0.0, 1.0]]
N = [[1.0, 0.0], [0.0, 0.0], [3.0, 2.0]]
LABELS = [[0, 1, 0], [1, 0, 0], [2, 0, 0]]  # rows: [paper, negative_paper, kind]


def _t(rows):
    return torch.tensor(rows, dtype=torch.float32)


def _dist(u, v):
    return math.dist(u, v)


def _cos_dist(u, v):
    dot = sum(a * b for a, b in zip(u, v))
    return 1.0 - dot / (math.hypot(*u) * math.hypot(*v))


def _l2(lam):
    vectors = A + P + N
    return lam * sum(x * x + y * y for x, y in vectors) / len(vectors)


def test_triplet_same_kind_matches_hand_computation():
    loss = SemCSETripletLoss(model=None, distance=EuclideanDistance(), margin=0.5, l2_weight=0.1)
    out = loss.compute_loss_from_embeddings([_t(A), _t(P), _t(N)], torch.tensor(LABELS))
    # d(a,p) = 0.5, 1.0, 1.0; d(a,n) = 1.0, 1.0, 3.0 -> hinge 0, 0.5, 0
    expected = sum(max(0.0, _dist(a, p) - _dist(a, n) + 0.5) for a, p, n in zip(A, P, N)) / 3
    assert expected == pytest.approx(0.5 / 3)
    assert out["triplet"].item() == pytest.approx(expected, abs=1e-6)
    assert out["l2"].item() == pytest.approx(_l2(0.1), abs=1e-6)
    stats = loss.health.pop()
    assert stats["d_ap"] == pytest.approx((0.5 + 1 + 1) / 3, abs=1e-6)
    assert stats["d_an"] == pytest.approx((1 + 1 + 3) / 3, abs=1e-6)
    assert stats["violating"] == pytest.approx(1 / 3)
    assert loss.health.pop() == {}


def test_triplet_batch_all_masks_the_anchors_own_paper():
    loss = SemCSETripletLoss(model=None, distance=EuclideanDistance(), margin=0.5, l2_weight=0.0, in_batch_negatives=True)
    out = loss.compute_loss_from_embeddings([_t(A), _t(P), _t(N)], torch.tensor(LABELS))
    candidates = P + N
    cand_paper = [r[0] for r in LABELS] + [r[1] for r in LABELS]
    hinges = []
    for i, (a, p) in enumerate(zip(A, P)):
        for j, c in enumerate(candidates):
            if j == i or cand_paper[j] == LABELS[i][0]:  # own positive, or a text of the anchor's own paper
                continue
            hinges.append(max(0.0, _dist(a, p) - _dist(a, c) + 0.5))
    # masked: the 3 own positives, negatives 1 and 2 (paper 0) for anchor 0, negative 0 (paper 1) for anchor 1
    assert len(hinges) == 3 * 6 - 3 - 3
    assert out["triplet"].item() == pytest.approx(sum(hinges) / len(hinges), abs=1e-6)
    assert out["l2"].item() == 0.0


def test_triplet_with_cosine_distance_object():
    loss = SemCSETripletLoss(model=None, distance=CosineDistance(), margin=0.2, l2_weight=0.0)
    a, p, n = [[1.0, 0.2], [0.5, 1.0]], [[1.0, 0.0], [-1.0, 1.0]], [[0.0, 1.0], [0.6, 1.0]]
    out = loss.compute_loss_from_embeddings([_t(a), _t(p), _t(n)])
    expected = sum(max(0.0, _cos_dist(x, y) - _cos_dist(x, z) + 0.2) for x, y, z in zip(a, p, n)) / 2
    assert out["triplet"].item() == pytest.approx(expected, abs=1e-6)
    assert loss.get_config_dict()["distance"] == "cosine"


def _log_softmax_first(logits):
    m = max(logits)
    return logits[0] - m - math.log(sum(math.exp(x - m) for x in logits))


def test_infonce_same_kind_matches_hand_computation():
    loss = SemCSEInfoNCELoss(model=None, distance=CosineDistance(), scale=20.0, in_batch_negatives=False)
    a, p, n = [[1.0, 0.2], [0.5, 1.0]], [[1.0, 0.0], [-1.0, 1.0]], [[0.0, 1.0], [0.6, 1.0]]
    out = loss.compute_loss_from_embeddings([_t(a), _t(p), _t(n)])
    expected = -sum(_log_softmax_first([-20 * _cos_dist(x, y), -20 * _cos_dist(x, z)]) for x, y, z in zip(a, p, n)) / 2
    assert out["infonce"].item() == pytest.approx(expected, abs=1e-5)
    assert "l2" not in out


def test_infonce_batch_all_matches_hand_computation_with_euclidean_and_masking():
    loss = SemCSEInfoNCELoss(model=None, distance=EuclideanDistance(), scale=2.0, in_batch_negatives=True, l2_weight=0.1)
    out = loss.compute_loss_from_embeddings([_t(A), _t(P), _t(N)], torch.tensor(LABELS))
    candidates = P + N
    cand_paper = [r[0] for r in LABELS] + [r[1] for r in LABELS]
    total = 0.0
    for i, a in enumerate(A):
        logits = [-2 * _dist(a, P[i])] + [-2 * _dist(a, c) for j, c in enumerate(candidates)
                                          if j != i and cand_paper[j] != LABELS[i][0]]
        total -= _log_softmax_first(logits)
    assert out["infonce"].item() == pytest.approx(total / 3, abs=1e-5)
    assert out["l2"].item() == pytest.approx(_l2(0.1), abs=1e-6)


def test_infonce_equals_sentence_transformers_mnrl_without_shared_papers():
    torch.manual_seed(0)
    a, p, n = torch.randn(4, 8), torch.randn(4, 8), torch.randn(4, 8)
    ours = SemCSEInfoNCELoss(model=None, scale=20.0, in_batch_negatives=True).compute_loss_from_embeddings([a, p, n])
    mnrl = MultipleNegativesRankingLoss(model=None, scale=20.0).compute_loss_from_embeddings([a, p, n], None)
    assert ours["infonce"].item() == pytest.approx(mnrl.item(), abs=1e-5)


def test_losses_give_gradients_and_reject_wrong_columns(minilm_path):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(minilm_path, device="cpu")
    model.max_seq_length = 32
    texts = [["a study of graph neural networks", "we train transformers"], ["graph networks are studied", "transformer training"],
             ["protein folding with physics", "a survey of databases"]]
    features = [model.preprocess(t) for t in texts]
    loss = SemCSETripletLoss(model, margin=1.0)
    total = sum(loss(features, torch.tensor([[0, 1, 0], [1, 0, 0]])).values())
    total.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads) and any(g.abs().sum() > 0 for g in grads)
    with pytest.raises(ValueError, match="anchor, positive, negative"):
        loss(features[:2])


@pytest.mark.parametrize("make", [
    lambda m: SemCSETripletLoss(m, margin=0.5, l2_weight=0.01, in_batch_negatives=True),
    lambda m: SemCSEInfoNCELoss(m, scale=20.0, in_batch_negatives=True, l2_weight=0.01),
], ids=["triplet-batch-all", "infonce"])
def test_gradient_cache_gives_the_uncached_loss_and_gradients(minilm_path, scitldr_papers, make):
    """A batch of 8 triplets embedded 3 texts at a time: same loss value, same parameter gradients."""
    from sentence_transformers import SentenceTransformer

    from semcse.training.losses import CachedSemCSELoss

    model = SentenceTransformer(minilm_path, device="cpu")
    model.max_seq_length = 48
    model.eval()  # no dropout: both passes see the same network (the cache replays the RNG in training mode)
    papers = scitldr_papers[:16]
    columns = [[p.title for p in papers[:8]], [p.abstract[:200] for p in papers[:8]], [p.abstract[:200] for p in papers[8:16]]]
    labels = torch.tensor([[i, 8 + i, 0] for i in range(8)])

    def gradients(loss):
        model.zero_grad()
        out = loss([model.preprocess(c) for c in columns], labels)
        total = sum(out.values()) if isinstance(out, dict) else out
        total.backward()
        return total.item(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    plain_value, plain = gradients(make(model))
    cached_loss = CachedSemCSELoss(make(model), mini_batch_size=3)
    cached_value, cached = gradients(cached_loss)
    assert cached_value == pytest.approx(plain_value, rel=1e-5)
    assert plain.keys() == cached.keys() and len(plain) > 10
    for name, grad in plain.items():
        assert torch.allclose(cached[name], grad, rtol=1e-3, atol=1e-6), name
    assert cached_loss.health.pop()  # the wrapped loss recorded its statistics once per batch
    assert cached_loss.get_config_dict()["mini_batch_size"] == 3
    with pytest.raises(ValueError, match="mini_batch_size"):
        CachedSemCSELoss(make(model), mini_batch_size=0)


def test_base_anchor_penalises_drift_from_the_frozen_base(minilm_path, scitldr_papers):
    """Zero at the start; after the weights move, weight x the mean squared distance to the base's embeddings."""
    from sentence_transformers import SentenceTransformer

    from semcse.training.losses import BaseAnchorLoss

    model = SentenceTransformer(minilm_path, device="cpu")
    model.max_seq_length = 48
    model.eval()
    papers = scitldr_papers[:6]
    columns = [[p.title for p in papers[:3]], [p.abstract[:200] for p in papers[:3]], [p.abstract[:200] for p in papers[3:6]]]
    labels = torch.tensor([[i, 3 + i, 0] for i in range(3)])
    loss = BaseAnchorLoss(SemCSETripletLoss(model, margin=0.2), weight=2.0)
    inner = SemCSETripletLoss(model, margin=0.2)

    out = loss([model.preprocess(c) for c in columns], labels)
    assert out.keys() == {"triplet", "l2", "base_anchor"}
    assert out["base_anchor"].item() == pytest.approx(0.0, abs=1e-10)
    plain = inner([model.preprocess(c) for c in columns], labels)
    assert out["triplet"].item() == pytest.approx(plain["triplet"].item(), rel=1e-6)

    with torch.no_grad():  # move the trained model away from the base
        for p in model[0].auto_model.encoder.layer[-1].parameters():
            p.add_(0.05 * torch.randn_like(p))
    texts = [t for c in columns for t in c]
    drift = (model.encode(texts, convert_to_tensor=True) - loss.base_model.encode(texts, convert_to_tensor=True))
    expected = 2.0 * drift.pow(2).sum(dim=-1).mean().item()
    assert expected > 1e-4
    model.zero_grad()
    out = loss([model.preprocess(c) for c in columns], labels)
    assert out["base_anchor"].item() == pytest.approx(expected, rel=1e-4)
    out["base_anchor"].backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    assert all(not p.requires_grad and p.grad is None for p in loss.base_model.parameters())
    assert not {id(p) for p in loss.base_model.parameters()} & {id(p) for p in model.parameters()}
    model.train()  # dropout on: the base replays the model's masks, so an unmoved model has no penalty
    fresh = BaseAnchorLoss(SemCSETripletLoss(model, margin=0.2), weight=2.0)
    out = fresh([model.preprocess(c) for c in columns], labels)
    assert fresh.base_model.training and out["base_anchor"].item() == pytest.approx(0.0, abs=1e-10)
    with torch.no_grad():
        twice = [model(model.preprocess(texts[:2]))["sentence_embedding"] for _ in range(2)]
    assert not torch.allclose(*twice)  # dropout was really on
    assert loss.get_config_dict()["base_anchor"] == 2.0 and loss.health is loss.loss.health
    with pytest.raises(ValueError, match="weight"):
        BaseAnchorLoss(inner, weight=0.0)
