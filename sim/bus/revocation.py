"""Revocation of a partition held by a batch in hand (Kafka's rebalance listener semantics).

Kafka revokes a partition from its old owner inside that owner's next ``poll``: what the old
owner had polled is processed (and committed) first, and the new owner then starts from the
committed offset. Here a partition that a rebalance moves away from a member holding a batch of
it is *being revoked*: its new owner may not poll it until that batch is committed or given
back (``rewind`` after a crash or a kill). Without this, the new owner would read on past the
batch and commit past it, and a later kill of the old owner would lose the batch.

An evicted member's batches are fenced instead (``sim.bus.rebalance``): the group moved on
without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sim.bus.fetched import Fetched
    from sim.bus.rebalance import Member

__all__ = ["Revocation"]


class Revocation:
    """The partitions being revoked, kept by a consumer group (a mixin of ``Membership``)."""

    members: list[Member]
    _in_hand: dict[Fetched, Member]
    _fenced: set[Fetched]

    def __init__(self) -> None:
        self._revoking: dict[int, int] = {}  # partition -> batches in hand of a former owner
        self._revoking_by: dict[Fetched, list[int]] = {}

    if TYPE_CHECKING:
        def _wake(self, partitions: set[int] | None = None) -> None:
            """Wake the members owning ``partitions`` (defined by ``Membership``)."""

    def _revoke_in_hand(self) -> None:
        """After a new assignment: a partition moved away from a member holding a batch of it
        is handed to its new owner only once that batch is committed or given back. Kafka
        revokes a partition inside the old owner's next poll, after it has processed (and
        committed) what it polled; the new owner then starts from the committed offset.
        (An evicted member's batches are fenced instead: the group moved on without them.)"""
        self._revoking, self._revoking_by = {}, {}
        for f, m in self._in_hand.items():
            if f in self._fenced:
                continue
            gone = m not in self.members
            moved = [p for p, _, _ in f.ranges if gone or p not in m.partitions]
            if moved:
                self._revoking_by[f] = moved
                for p in moved:
                    self._revoking[p] = self._revoking.get(p, 0) + 1

    def _settled(self, fetched: Fetched) -> None:
        """``fetched`` was committed or given back: the partitions it held may move."""
        moved = self._revoking_by.pop(fetched, None)
        if moved is None:
            return
        freed = set()
        for p in moved:
            self._revoking[p] -= 1
            if not self._revoking[p]:
                del self._revoking[p]
                freed.add(p)
        if freed:
            self._wake(freed)
