"""Planning of the continuous schedule (no model: the grouping of one paper's requests)."""

from __future__ import annotations

from semcse.summaries.backends.llamacpp_continuous import plan_groups


def test_plan_groups_cuts_by_sequences_and_cells():
    toks = [[1, 2, 3, 4, 10], [1, 2, 3, 4, 11, 12], [1, 2, 3, 5], [9] * 40]
    groups, misfits = plan_groups(toks, max_seqs=2, capacity=30, max_tokens=4)
    assert misfits == [3]  # 40 + 4 > 30 even alone
    assert [g for g, _ in groups] == [[0, 1], [2]]
    assert groups[0][1] == 4 + (1 + 4) + (2 + 4)  # the shared prefix once, each member's own tokens + max_tokens
    groups, _ = plan_groups(toks[:3], max_seqs=3, capacity=15, max_tokens=4)
    assert [g for g, _ in groups] == [[0, 1], [2]]  # with a third: 3 + (2 + 3 + 1) + 3 * 4 = 21 > 15 cells
    groups, misfits = plan_groups(toks, max_seqs=3, capacity=12, max_tokens=4, shared=False)
    assert [g for g, _ in groups] == [[0, 1, 2]] and misfits == [3]  # one stream each: only the count and the length matter
