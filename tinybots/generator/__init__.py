"""The Fraud Detection Handbook's transaction simulator, reimplemented bit for bit.

Source of the algorithm: Le Borgne, Siblini, Lebichot, Bontempi, *Reproducible Machine Learning
for Credit Card Fraud Detection - Practical Handbook* (2022), Chapter 3, "Transaction data
simulator" (the facts written down independently; none of the book's code). With the default
:class:`HandbookConfig`, :func:`generate_transactions` returns the published raw dataset value
for value; :func:`iter_days` streams the same table one day at a time.

Modules: ``config`` (validated settings), ``profiles`` (customers, terminals, reachability),
``customer_draws`` (one customer's draws), ``frauds`` (the three scenarios), ``transactions`` (whole
table, multiprocess), ``daily`` (day by day); ``drift`` and ``drift_compromise``: our documented
extensions (drift from an onset, off by default; card testing is TX_FRAUD_SCENARIO 4).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tinybots.lazy import lazy_exports

if TYPE_CHECKING:
    from tinybots.generator.config import HandbookConfig as HandbookConfig
    from tinybots.generator.daily import iter_days as iter_days
    from tinybots.generator.drift import apply_drifts as apply_drifts
    from tinybots.generator.profiles import (
        generate_customer_profiles as generate_customer_profiles,
    )
    from tinybots.generator.profiles import (
        generate_terminal_profiles as generate_terminal_profiles,
    )
    from tinybots.generator.profiles import reachable_terminals as reachable_terminals
    from tinybots.generator.transactions import generate_transactions as generate_transactions

# Public names and their modules. Imported on first use (PEP 562), so that worker processes,
# which only need the numpy-only ``customer_draws`` module, start without loading pandas or scipy.
_EXPORTS = {
    "HandbookConfig": "config",
    "generate_customer_profiles": "profiles",
    "generate_terminal_profiles": "profiles",
    "reachable_terminals": "profiles",
    "generate_transactions": "transactions",
    "iter_days": "daily",
    "apply_drifts": "drift",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
