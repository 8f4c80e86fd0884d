"""Partition assignment of a consumer group (Kafka's ``partition.assignment.strategy``).

Today one strategy, round-robin over members in join order, applied eagerly at every rebalance
(every member's partitions are revoked and reassigned: Kafka's eager protocol with the
``RoundRobinAssignor``). A group never uses more consumers than partitions; extra members sit
idle with no partitions. Sticky and cooperative strategies (KIP-429) would sit beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.bus.group import Member

__all__ = ["assign_round_robin"]


def assign_round_robin(members: Sequence[Member], n_partitions: int) -> None:
    """Give partition ``p`` to member ``p % min(len(members), n_partitions)``, in place.

    Parameters
    ----------
    members : sequence of Member
        In join order; each member's ``partitions`` is replaced.
    n_partitions : int
    """
    for m in members:
        m.partitions = []
    n_active = min(len(members), n_partitions)
    for p in range(n_partitions):
        if n_active:
            members[p % n_active].partitions.append(p)
