"""Tests of the notebook exercise helpers (tinybots.teaching)."""

from __future__ import annotations

import pytest

from tinybots.errors import InputError
from tinybots.teaching import check_card_precision, check_number, toy_day


def test_check_number_right_wrong_and_missing(capsys: pytest.CaptureFixture[str]) -> None:
    assert check_number(0.3333, 1 / 3, name="x", hint="h") is True
    assert capsys.readouterr().out.startswith("✓ x")
    assert check_number(0.5, 1 / 3, name="x", hint="try again") is False
    out = capsys.readouterr().out
    assert out.startswith("✗ x") and "try again" in out
    assert check_number(None, 1 / 3, name="x", hint="fill it in") is False
    assert "no answer yet" in capsys.readouterr().out


@pytest.mark.parametrize("answer", ["0.5", True, [0.5]])
def test_check_number_refuses_non_numbers(answer: object) -> None:
    with pytest.raises(InputError, match="answer"):
        check_number(answer, 0.5, name="x", hint="h")  # type: ignore[arg-type]


def test_check_number_refuses_negative_tolerance() -> None:
    with pytest.raises(InputError, match="abs_tol"):
        check_number(0.5, 0.5, name="x", hint="h", abs_tol=-1)


def test_toy_day_separates_card_and_transaction_precision() -> None:
    day = toy_day()
    assert len(day) == 8 and set(day["TX_TIME_DAYS"]) == {0}
    # by hand: top-3 transactions 0.95 F, 0.90 F, 0.85 G -> P@3 = 2/3;
    # cards by max score: 11 (F), 13 (0.85, has a fraud), 12 (0.80, F) -> CP@3 = 3/3
    top3 = day.nlargest(3, "predictions")
    assert top3["TX_FRAUD"].sum() == 2


def test_check_card_precision_accepts_the_hand_value(capsys: pytest.CaptureFixture[str]) -> None:
    assert check_card_precision(1.0, toy_day(), 3) is True
    assert check_card_precision(3 / 3, toy_day(), 3) is True
    assert capsys.readouterr().out.count("✓") == 2


def test_check_card_precision_names_the_p_at_k_mistake(capsys: pytest.CaptureFixture[str]) -> None:
    assert check_card_precision(2 / 3, toy_day(), 3) is False
    assert "that is P@3" in capsys.readouterr().out
    assert check_card_precision(0.4, toy_day(), 3) is False
    assert "that is P@3" not in capsys.readouterr().out


def test_check_card_precision_divides_by_k_even_with_few_cards(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # 5 cards, 4 compromised, k = 10: CP@10 = 4 / 10, not 4 / 5
    assert check_card_precision(0.4, toy_day(), 10) is True
    assert check_card_precision(0.8, toy_day(), 10) is False
    capsys.readouterr()


def test_doctests_pass() -> None:
    import doctest

    import tinybots.teaching

    result = doctest.testmod(tinybots.teaching)
    assert result.attempted >= 2 and result.failed == 0
