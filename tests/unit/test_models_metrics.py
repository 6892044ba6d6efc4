"""Metric functions on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from streamrec.models.training.metrics import auc, binary_metrics, ranking_metrics, target_ranks


def metrics_for(scores, target, exclude=None, ks=(1, 2, 10), ties="index"):
    s = np.asarray([scores], dtype=np.float32)
    ex = None if exclude is None else np.asarray([exclude], dtype=bool)
    ranks = target_ranks(s, np.asarray([target]), ex)
    return ranks, ranking_metrics(ranks, ks, ties)


def test_rank_and_metrics_without_ties() -> None:
    ranks, m = metrics_for([0.1, 0.9, 0.3, 0.5], target=2)  # 0.9 and 0.5 are better
    assert ranks.better[0] == 2 and ranks.tied[0] == 0
    assert m["HR@1"] == 0.0 and m["HR@2"] == 0.0 and m["HR@10"] == 1.0
    assert m["NDCG@10"] == pytest.approx(1 / math.log2(4))
    assert m["MRR@10"] == pytest.approx(1 / 3)


def test_ties_modes() -> None:
    scores = [0.5, 0.2, 0.5, 0.5]  # target row 2 ties with rows 0 and 3
    ranks, _ = metrics_for(scores, target=2)
    assert (ranks.better[0], ranks.tied[0], ranks.tied_before[0]) == (0, 2, 1)
    assert metrics_for(scores, 2, ties="index")[1]["MRR@10"] == pytest.approx(1 / 2)
    assert metrics_for(scores, 2, ties="optimistic")[1]["MRR@10"] == pytest.approx(1.0)
    assert metrics_for(scores, 2, ties="pessimistic")[1]["MRR@10"] == pytest.approx(1 / 3)
    avg = metrics_for(scores, 2, ties="average")[1]
    assert avg["MRR@10"] == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)
    assert avg["HR@1"] == pytest.approx(1 / 3)
    assert avg["HR@2"] == pytest.approx(2 / 3)


def test_k_larger_than_catalog() -> None:
    _, m = metrics_for([0.3, 0.2, 0.1], target=2, ks=(5, 20))
    assert m["HR@5"] == 1.0 and m["HR@20"] == 1.0
    assert m["NDCG@20"] == pytest.approx(1 / math.log2(4))


def test_history_exclusion_moves_target_up_and_excluded_target_misses() -> None:
    scores = [0.9, 0.8, 0.7, 0.1]
    _, plain = metrics_for(scores, target=2)
    _, excluded = metrics_for(scores, target=2, exclude=[True, True, False, False])
    assert plain["HR@1"] == 0.0 and excluded["HR@1"] == 1.0
    _, miss = metrics_for(scores, target=0, exclude=[True, False, False, False])
    assert miss["HR@10"] == 0.0 and miss["MRR@10"] == 0.0 and miss["NDCG@10"] == 0.0
    for ties in ("index", "optimistic", "pessimistic", "average"):
        assert metrics_for(scores, 0, [True, False, False, False], ties=ties)[1]["HR@10"] == 0.0


def test_means_over_examples() -> None:
    scores = np.array([[0.9, 0.1], [0.9, 0.1]], dtype=np.float32)
    ranks = target_ranks(scores, np.array([0, 1]))
    m = ranking_metrics(ranks, (1,))
    assert m["HR@1"] == pytest.approx(0.5)


def test_auc_hand_cases() -> None:
    assert auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    assert auc(np.array([0, 1]), np.array([0.5, 0.5])) == pytest.approx(0.5)
    assert auc(np.array([1, 0, 1]), np.array([0.9, 0.1, 0.8])) == pytest.approx(1.0)
    assert math.isnan(auc(np.array([1, 1]), np.array([0.2, 0.3])))


def test_binary_metrics() -> None:
    labels = np.array([1, 1, 0, 0, 1])
    probs = np.array([0.9, 0.4, 0.6, 0.1, 0.7])  # predictions 1,0,1,0,1
    m = binary_metrics(labels, probs)
    assert m["accuracy"] == pytest.approx(3 / 5)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["F1"] == pytest.approx(2 / 3)
    assert m["AUC"] == pytest.approx(5 / 6)
