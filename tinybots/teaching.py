"""Exercise helpers for the teaching notebooks: small worked data and answer checks.

A check prints one line, ``✓ ...`` when the answer is right or ``✗ ...`` with a hint when it is
wrong or still missing (``None``), and returns the verdict so a test can use it. The expected
values are computed by the package's own code (e.g. :func:`tinybots.metrics.card_precision_at_k`),
never typed in, so the checks stay right when the definitions are right.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from tinybots.errors import InputError
from tinybots.metrics import card_precision_at_k, precision_at_k

SCORE_COLUMN = "predictions"


def toy_day() -> pd.DataFrame:
    """One day of eight scored transactions on five cards, for computing CP@k by hand.

    Card 11 has two high-scoring frauds (they fill two transaction slots but one card slot);
    card 13's fraud has a low score but the card's best score is high (a card takes the
    maximum score and the maximum label of its transactions).

    Returns
    -------
    pandas.DataFrame
        Shape (8, 5): ``TX_TIME_DAYS`` (all 0), ``CUSTOMER_ID``, ``TRANSACTION_ID``,
        ``TX_FRAUD`` (0/1) and ``predictions`` (score in [0, 1]), sorted by score, descending.

    Examples
    --------
    >>> toy_day()["CUSTOMER_ID"].nunique()
    5
    """
    rows = [  # (card, fraud, score)
        (11, 1, 0.95), (11, 1, 0.90), (13, 0, 0.85), (12, 1, 0.80),
        (14, 0, 0.60), (13, 1, 0.30), (15, 1, 0.20), (12, 0, 0.10),
    ]
    return pd.DataFrame({
        "TX_TIME_DAYS": 0,
        "CUSTOMER_ID": [r[0] for r in rows],
        "TRANSACTION_ID": range(len(rows)),
        "TX_FRAUD": [r[1] for r in rows],
        SCORE_COLUMN: [r[2] for r in rows],
    })


def check_number(
    answer: float | None, expected: float, *, name: str, hint: str, abs_tol: float = 1e-3
) -> bool:
    """Print ``✓`` if ``answer`` is within ``abs_tol`` of ``expected``, else ``✗`` and the hint.

    Parameters
    ----------
    answer : float or None
        The learner's value; ``None`` means "not answered yet".
    expected : float
        The right value.
    name : str
        What is being checked (printed).
    hint : str
        Printed when the answer is missing or wrong.
    abs_tol : float
        Accepted absolute difference, >= 0 (the default accepts 3-decimal rounding).

    Returns
    -------
    bool
        True when the answer is right.

    Raises
    ------
    InputError
        If ``answer`` is neither None nor a real number, or ``abs_tol`` is negative.

    Examples
    --------
    >>> check_number(0.5, 1 / 2, name="half", hint="divide by two")
    ✓ half = 0.5
    True
    """
    if not abs_tol >= 0:
        raise InputError(f"abs_tol must be >= 0, got {abs_tol!r}")
    if answer is None:
        print(f"✗ {name}: no answer yet. Hint: {hint}")
        return False
    if isinstance(answer, bool) or not isinstance(answer, int | float):
        raise InputError(f"answer must be a number or None, got {answer!r}")
    if math.isclose(float(answer), expected, rel_tol=0.0, abs_tol=abs_tol):
        print(f"✓ {name} = {answer:.4g}")
        return True
    print(f"✗ {name}: {answer:.4g} is not right. Hint: {hint}")
    return False


def check_card_precision(
    answer: float | None, frame: pd.DataFrame, k: int, *, score_column: str = SCORE_COLUMN
) -> bool:
    """Check a hand-computed card precision top-k (CP@k) of ``frame``.

    The expected value is :func:`tinybots.metrics.card_precision_at_k` (handbook Chapter 4).
    If the answer equals the transaction-level P@k instead, the hint says so.

    Parameters
    ----------
    answer : float or None
        The learner's CP@k; ``None`` means "not answered yet".
    frame : pandas.DataFrame
        Scored transactions (``TX_TIME_DAYS``, ``CUSTOMER_ID``, ``TX_FRAUD``, score column).
    k : int
        Cards per day, >= 1.
    score_column : str
        Name of the score column.

    Returns
    -------
    bool
        True when the answer is right (to 3 decimals).

    Raises
    ------
    InputError
        As :func:`tinybots.metrics.card_precision_at_k`, or on a non-numeric answer.
    """
    expected = card_precision_at_k(frame, k, score_column=score_column).mean
    p_at_k = precision_at_k(frame, k, score_column=score_column).mean
    hint = (
        "group the transactions by card first: a card's score is its highest score and it counts "
        f"as compromised if any of its transactions is a fraud; take the top {k} cards and "
        f"divide the compromised ones by {k}."
    )
    if (
        answer is not None
        and not math.isclose(p_at_k, expected, abs_tol=1e-3)
        and isinstance(answer, int | float)
        and math.isclose(float(answer), p_at_k, abs_tol=1e-3)
    ):
        hint = f"that is P@{k}, the share of frauds among the top {k} transactions. " + hint
    return check_number(answer, expected, name=f"CP@{k}", hint=hint)


def check_choice(
    answer: str | None, choices: Mapping[str, float], measured: float, *, name: str, hint: str
) -> bool:
    """Print ✓ if ``answer`` is the choice closest to ``measured`` (on a log scale), else ✗.

    Each choice stands for a value (e.g. ``{"a": 1.0, "b": 2.0, "c": 10.0}`` for "about the
    same", "about double", "ten times or more"); the right one is the nearest to ``measured``
    in ratio, so ×10 beats ×2 for a measured ×7.

    Parameters
    ----------
    answer : str or None
        The learner's choice key; None = not answered yet.
    choices : mapping of str to float
        Choice key → the positive value it stands for.
    measured : float
        The measured value (> 0), e.g. a ratio of two runs' p95 latency.
    name : str
        What is being checked (printed).
    hint : str
        Printed when the answer is missing or wrong.

    Returns
    -------
    bool
        True when the answer is right.

    Raises
    ------
    InputError
        If ``answer`` is not a key of ``choices``, or a value or ``measured`` is not > 0.

    Examples
    --------
    >>> check_choice("c", {"a": 1.0, "b": 2.0, "c": 10.0}, 7.0, name="ratio", hint="h")
    ✓ ratio: (c), measured 7
    True
    """
    if not measured > 0 or not all(v > 0 for v in choices.values()):
        raise InputError(f"choices and measured must be > 0, got {dict(choices)}, {measured!r}")
    if answer is not None and answer not in choices:
        raise InputError(f"answer must be one of {sorted(choices)} or None, got {answer!r}")
    best = min(choices, key=lambda k: abs(math.log(choices[k] / measured)))
    if answer is None:
        print(f"✗ {name}: no answer yet. Hint: {hint}")
        return False
    if answer == best:
        print(f"✓ {name}: ({best}), measured {measured:.3g}")
        return True
    print(f"✗ {name}: not ({answer}). Hint: {hint}")
    return False


__all__ = ["check_card_precision", "check_choice", "check_number", "toy_day"]
