"""Customer and terminal profiles, and which terminals each customer can reach.

Facts from the handbook (Le Borgne et al., 2022, Chapter 3, "Transaction data simulator"):
customers and terminals are points on a 100 x 100 square; a customer has a mean amount
Uniform(5, 100), a standard deviation of half of it, and a Poisson mean of Uniform(0, 4)
transactions per day. Customer draws come from ``RandomState(0)`` customer by customer in the
order x, y, mean_amount, mean_nb_tx_per_day; terminal draws from ``RandomState(1)``, x then y.
``uniform(low, high)`` is ``low + (high - low) * u`` on the legacy uniform doubles, so one block
of doubles reshaped per entity gives the same values as the scalar calls.
A customer may use a terminal strictly closer than the radius (Euclidean distance).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from tinybots.errors import InputError

SQUARE_SIDE = 100.0
"""Side of the square on which customers and terminals live."""

CUSTOMER_COLUMNS = (
    "CUSTOMER_ID",
    "x_customer_id",
    "y_customer_id",
    "mean_amount",
    "std_amount",
    "mean_nb_tx_per_day",
)
TERMINAL_COLUMNS = ("TERMINAL_ID", "x_terminal_id", "y_terminal_id")


def _check_count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise InputError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _check_seed(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InputError(f"seed must be an integer in [0, 2**32 - 1], got {value!r}")
    if not 0 <= value < 2**32:
        raise InputError(f"seed must be an integer in [0, 2**32 - 1], got {value!r}")
    return int(value)


def _uniform_block(seed: int, n_rows: int, n_cols: int) -> np.ndarray:
    """The first ``n_rows * n_cols`` legacy uniform doubles of ``RandomState(seed)``, row-major."""
    return np.random.RandomState(seed).random_sample(n_rows * n_cols).reshape(n_rows, n_cols)


def generate_customer_profiles(n_customers: int, seed: int = 0) -> pd.DataFrame:
    """Customer profiles, exactly as the handbook draws them.

    Parameters
    ----------
    n_customers : int
        Number of customers, >= 1.
    seed : int, default 0
        Seed of the legacy ``RandomState`` (the handbook uses 0), in [0, 2**32 - 1].

    Returns
    -------
    pandas.DataFrame
        One row per customer, ids 0 .. n_customers-1, columns CUSTOMER_ID (int64),
        x_customer_id, y_customer_id (in [0, 100)), mean_amount (in [5, 100)),
        std_amount (= mean_amount / 2), mean_nb_tx_per_day (in [0, 4)) (float64).

    Raises
    ------
    tinybots.errors.InputError
        If n_customers < 1 or seed is outside [0, 2**32 - 1].
    """
    n = _check_count("n_customers", n_customers)
    u = _uniform_block(_check_seed(seed), n, 4)
    mean_amount = 5.0 + (100.0 - 5.0) * u[:, 2]
    return pd.DataFrame(
        {
            "CUSTOMER_ID": np.arange(n, dtype=np.int64),
            "x_customer_id": SQUARE_SIDE * u[:, 0],
            "y_customer_id": SQUARE_SIDE * u[:, 1],
            "mean_amount": mean_amount,
            "std_amount": mean_amount / 2,
            "mean_nb_tx_per_day": 4.0 * u[:, 3],
        }
    )


def generate_terminal_profiles(n_terminals: int, seed: int = 1) -> pd.DataFrame:
    """Terminal profiles (locations), exactly as the handbook draws them.

    Parameters
    ----------
    n_terminals : int
        Number of terminals, >= 1.
    seed : int, default 1
        Seed of the legacy ``RandomState`` (the handbook uses 1), in [0, 2**32 - 1].

    Returns
    -------
    pandas.DataFrame
        One row per terminal, columns TERMINAL_ID (int64, 0 .. n_terminals-1),
        x_terminal_id, y_terminal_id (float64 in [0, 100)).

    Raises
    ------
    tinybots.errors.InputError
        If n_terminals < 1 or seed is outside [0, 2**32 - 1].
    """
    n = _check_count("n_terminals", n_terminals)
    u = _uniform_block(_check_seed(seed), n, 2)
    return pd.DataFrame(
        {
            "TERMINAL_ID": np.arange(n, dtype=np.int64),
            "x_terminal_id": SQUARE_SIDE * u[:, 0],
            "y_terminal_id": SQUARE_SIDE * u[:, 1],
        }
    )


def reachable_terminals(
    customers: pd.DataFrame, terminals: pd.DataFrame, radius: float
) -> list[np.ndarray]:
    """Ids of the terminals each customer may use, ascending.

    A terminal is reachable when ``sqrt((xc - xt)**2 + (yc - yt)**2) < radius``, evaluated in
    that order in float64 as the handbook does. Candidates come from a k-d tree queried with a
    slightly larger radius; the exact test is then applied, so borderline terminals are decided
    by the handbook's arithmetic, not the tree's.

    Parameters
    ----------
    customers : pandas.DataFrame
        Customer profiles (columns x_customer_id, y_customer_id), one row per customer id.
    terminals : pandas.DataFrame
        Terminal profiles (columns x_terminal_id, y_terminal_id), row i is terminal i.
    radius : float
        Strict upper bound of the distance, > 0.

    Returns
    -------
    list of numpy.ndarray
        Element i holds customer i's reachable terminal ids (int64, ascending; possibly empty).

    Raises
    ------
    tinybots.errors.InputError
        If radius is not a finite number > 0.
    """
    if not (np.isfinite(radius) and radius > 0):
        raise InputError(f"radius must be a finite number > 0, got {radius!r}")
    cxy = customers[["x_customer_id", "y_customer_id"]].to_numpy(dtype=np.float64)
    txy = terminals[["x_terminal_id", "y_terminal_id"]].to_numpy(dtype=np.float64)
    candidates = cKDTree(txy).query_ball_point(cxy, r=radius * (1 + 1e-9) + 1e-9)
    sizes = np.fromiter((len(c) for c in candidates), dtype=np.int64, count=len(candidates))
    owner = np.repeat(np.arange(len(cxy)), sizes)
    term = np.concatenate([np.asarray(c, dtype=np.int64) for c in candidates] + [np.empty(0, int)])
    sq = np.square(cxy[owner] - txy[term])
    keep = np.sqrt(sq[:, 0] + sq[:, 1]) < radius
    order = np.lexsort((term[keep], owner[keep]))
    owner_k, term_k = owner[keep][order], term[keep][order]
    bounds = np.searchsorted(owner_k, np.arange(len(cxy) + 1))
    return [term_k[bounds[i] : bounds[i + 1]] for i in range(len(cxy))]
