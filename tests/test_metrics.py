"""Metrics on tiny hand-computed cases, plus a property test against a naive re-statement."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinybots.errors import InputError
from tinybots.metrics import auc_roc, average_precision, card_precision_at_k, precision_at_k


def frame(rows: list[tuple[int, int, int, float]]) -> pd.DataFrame:
    """Rows of (day, card, label, score)."""
    return pd.DataFrame(rows, columns=["TX_TIME_DAYS", "CUSTOMER_ID", "TX_FRAUD", "predictions"])


def test_auc_and_ap_hand_computed() -> None:
    # pairs (pos, neg): (0.35 > 0.1) yes, (0.35 > 0.4) no, 0.8 beats both -> 3/4
    assert auc_roc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    # ranking 1,0,1,0: precision 1 at recall 0.5, 2/3 at recall 1 -> 0.5 + 1/3
    assert average_precision([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(5 / 6)


def test_auc_rejects_single_class() -> None:
    with pytest.raises(InputError, match="both classes"):
        auc_roc([0, 0, 0], [0.1, 0.2, 0.3])


def test_precision_at_k_per_day_and_mean() -> None:
    f = frame([(0, 1, 1, 0.9), (0, 2, 0, 0.8), (0, 3, 1, 0.7), (0, 4, 0, 0.1),
               (1, 1, 0, 0.9), (1, 5, 1, 0.8), (1, 6, 1, 0.05)])
    res = precision_at_k(f, 2)
    assert res.per_day.to_dict() == {0: 0.5, 1: 0.5}
    res3 = precision_at_k(f, 3)
    assert res3.per_day.to_dict() == pytest.approx({0: 2 / 3, 1: 2 / 3})
    assert res3.mean == pytest.approx(2 / 3)


def test_precision_at_k_divides_by_k_when_fewer_rows() -> None:
    f = frame([(3, 1, 1, 0.9), (3, 2, 1, 0.2)])
    assert precision_at_k(f, 10).per_day.to_dict() == {3: 0.2}


def test_card_precision_uses_max_score_and_max_label_per_card() -> None:
    # card 1: a high-scored genuine tx and a low-scored fraud -> card score 0.9, compromised
    f = frame([(0, 1, 0, 0.9), (0, 1, 1, 0.1), (0, 2, 1, 0.5), (0, 3, 0, 0.6)])
    assert card_precision_at_k(f, 1).per_day.tolist() == [1.0]
    # top 2 cards are 1 (0.9, fraud) and 3 (0.6, genuine)
    assert card_precision_at_k(f, 2).per_day.tolist() == [0.5]


def test_card_precision_removes_detected_cards_only_from_later_days() -> None:
    f = frame([
        (0, 1, 1, 0.9), (0, 2, 1, 0.1), (0, 3, 0, 0.5),  # k=1: card 1 detected; 2 missed
        (1, 1, 1, 0.95), (1, 2, 1, 0.8), (1, 3, 0, 0.1),  # card 1 removed -> card 2 on top
        (2, 1, 1, 0.99), (2, 2, 1, 0.1), (2, 3, 0, 0.7),  # 1 and 2 removed -> card 3
    ])
    with_removal = card_precision_at_k(f, 1)
    assert with_removal.per_day.tolist() == [1.0, 1.0, 0.0]
    assert with_removal.mean == pytest.approx(2 / 3)
    without = card_precision_at_k(f, 1, remove_detected=False)
    assert without.per_day.tolist() == [1.0, 1.0, 1.0]


def test_card_precision_divides_by_k_when_fewer_cards() -> None:
    f = frame([(0, 1, 1, 0.9), (0, 1, 0, 0.3), (0, 2, 1, 0.2), (0, 3, 0, 0.1)])
    assert card_precision_at_k(f, 100).per_day.tolist() == [0.02]


def test_card_precision_ties_are_broken_by_card_id() -> None:
    f = frame([(0, 5, 1, 0.5), (0, 3, 0, 0.5), (0, 9, 1, 0.5), (0, 1, 0, 0.2)])
    # tied cards 3, 5, 9 in id order: top-1 = card 3 (genuine), top-2 adds card 5 (fraud)
    assert card_precision_at_k(f, 1).per_day.tolist() == [0.0]
    assert card_precision_at_k(f, 2).per_day.tolist() == [0.5]
    assert card_precision_at_k(f, 3).per_day.tolist() == [pytest.approx(2 / 3)]


@pytest.mark.parametrize("k", [0, -1, 1.5, True])
def test_bad_k_is_rejected(k) -> None:
    with pytest.raises(InputError, match="k must be"):
        card_precision_at_k(frame([(0, 1, 1, 0.5)]), k)


def test_missing_column_is_named() -> None:
    f = frame([(0, 1, 1, 0.5)]).drop(columns="CUSTOMER_ID")
    with pytest.raises(InputError, match="CUSTOMER_ID"):
        card_precision_at_k(f, 1)


def naive_card_precision(rows, k: int, remove: bool) -> list[float]:
    """Plain-Python restatement of the handbook's definition."""
    detected: set[int] = set()
    out = []
    for day in sorted({r[0] for r in rows}):
        cards: dict[int, list[float]] = {}
        for d, card, label, s in rows:
            if d == day and not (remove and card in detected):
                best = cards.setdefault(card, [s, label])
                best[0], best[1] = max(best[0], s), max(best[1], label)
        ranked = sorted(cards.items(), key=lambda kv: (-kv[1][0], kv[0]))[:k]
        hits = [card for card, (_, label) in ranked if label == 1]
        detected.update(hits)
        out.append(len(hits) / k)
    return out


rows_strategy = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 8), st.integers(0, 1),
              st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0])),
    min_size=1, max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(rows=rows_strategy, k=st.integers(1, 5), remove=st.booleans())
def test_card_precision_matches_naive_definition(rows, k, remove) -> None:
    got = card_precision_at_k(frame(rows), k, remove_detected=remove).per_day.tolist()
    assert got == pytest.approx(naive_card_precision(rows, k, remove))


def test_docstring_examples() -> None:
    import doctest

    import tinybots.metrics

    result = doctest.testmod(tinybots.metrics)
    assert result.attempted >= 5 and result.failed == 0
