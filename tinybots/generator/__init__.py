"""The Fraud Detection Handbook's transaction simulator, reimplemented bit for bit.

Source of the algorithm: Le Borgne, Siblini, Lebichot, Bontempi, *Reproducible Machine Learning
for Credit Card Fraud Detection - Practical Handbook* (2022), Chapter 3, "Transaction data
simulator", as written down in docs/handbook_reference.md (sections 1 and 4). With the default
:class:`HandbookConfig`, :func:`generate_transactions` returns the published raw dataset value
for value; :func:`iter_days` streams the same table one day at a time.

Modules: ``config`` (validated settings), ``profiles`` (customers, terminals, reachability),
``stream`` (one customer's draws), ``frauds`` (the three scenarios), ``transactions`` (whole
table, multiprocess), ``streaming`` (day by day).
"""

from __future__ import annotations

from tinybots.generator.config import HandbookConfig
from tinybots.generator.profiles import (
    generate_customer_profiles,
    generate_terminal_profiles,
    reachable_terminals,
)
from tinybots.generator.transactions import generate_transactions

__all__ = [
    "HandbookConfig",
    "generate_customer_profiles",
    "generate_terminal_profiles",
    "generate_transactions",
    "reachable_terminals",
]
