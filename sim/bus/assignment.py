"""Partition assignment of a consumer group (Kafka's ``partition.assignment.strategy``).

Pure functions, no SimPy: given the member ids, the topic's partition count and the previous
assignment, each returns ``member id -> sorted partitions``. A group subscribes one topic, so
every strategy works on partitions ``0 .. n-1`` of it. Members are taken in member-id order
(Kafka sorts them by ``member.id``), and a group never uses more consumers than partitions:
the members past the partition count get none and sit idle.

- ``range`` (``RangeAssignor``, the first of the Kafka 3.x clients' default list): contiguous
  ranges; the first ``n % m`` members get one partition more;
- ``round_robin`` (``RoundRobinAssignor``): partition ``p`` to the ``(p % m)``-th member;
- ``sticky`` (``StickyAssignor``): balanced (counts differ by at most one) and keeping as many
  previous owners as possible (the constrained algorithm of Kafka's ``AbstractStickyAssignor``
  when every member subscribes the same topics);
- ``cooperative_sticky`` (``CooperativeStickyAssignor``, KIP-429): the same target as sticky;
  what differs is the rebalance protocol that moves only the partitions that change owner
  (``sim.bus.rebalance``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

__all__ = [
    "STRATEGIES",
    "assign",
    "assign_range",
    "assign_round_robin",
    "assign_sticky",
    "moved_partitions",
]

Assignment = dict[str, list[int]]
Previous = Mapping[str, Sequence[int]]


def _check(members: Sequence[str], n_partitions: int) -> list[str]:
    if n_partitions < 1:
        raise ValueError(f"n_partitions must be >= 1, got {n_partitions}")
    ids = sorted(members)
    if len(set(ids)) != len(ids):
        raise ValueError(f"members: member ids must be distinct, got {list(members)}")
    return ids


def assign_range(
    members: Sequence[str], n_partitions: int, previous: Previous | None = None
) -> Assignment:
    """Kafka's ``RangeAssignor`` on one topic: members in id order get contiguous ranges of
    ``n // m`` partitions, the first ``n % m`` of them one more.

    >>> assign_range(["C1", "C0"], 3)  # Kafka's javadoc: C0 [t0p0, t0p1], C1 [t0p2]
    {'C0': [0, 1], 'C1': [2]}
    >>> assign_range(["a", "b", "c"], 2)
    {'a': [0], 'b': [1], 'c': []}
    """
    ids = _check(members, n_partitions)
    out: Assignment = {}
    if not ids:
        return out
    per, extra = divmod(n_partitions, len(ids))
    start = 0
    for i, mid in enumerate(ids):
        k = per + (1 if i < extra else 0)
        out[mid] = list(range(start, start + k))
        start += k
    return out


def assign_round_robin(
    members: Sequence[str], n_partitions: int, previous: Previous | None = None
) -> Assignment:
    """Kafka's ``RoundRobinAssignor`` on one topic: partition ``p`` goes to the ``p % m``-th
    member in id order.

    >>> assign_round_robin(["C0", "C1"], 6)  # javadoc's t0p0..t1p2 flattened: C0 t0p0 t0p2 t1p1
    {'C0': [0, 2, 4], 'C1': [1, 3, 5]}
    """
    ids = _check(members, n_partitions)
    out: Assignment = {mid: [] for mid in ids}
    for p in range(n_partitions):
        if ids:
            out[ids[p % len(ids)]].append(p)
    return out


def assign_sticky(
    members: Sequence[str], n_partitions: int, previous: Previous | None = None
) -> Assignment:
    """Kafka's ``StickyAssignor`` (and ``CooperativeStickyAssignor``'s target) on one topic.

    Balanced: every member gets ``n // m`` or ``n // m + 1`` partitions, exactly ``n % m`` of
    them the larger count (at most ``n`` members get any). Sticky: each member first keeps up
    to its quota of the partitions it owned in ``previous`` (a partition claimed twice goes to
    the first member in id order), then each partition left over, in partition order, goes to
    the member with the fewest (first in id order on a tie) still under its quota. With no
    previous assignment this is the round-robin assignment, as in Kafka's javadoc.

    Parameters
    ----------
    members : sequence of str
        Member ids of the new generation.
    n_partitions : int
    previous : mapping of str to sequence of int, optional
        The assignment before the rebalance (members that left may be in it; ignored).

    Kafka's javadoc example (four topics of two partitions flattened, ``t1p0`` = 2): C1 leaves;
    C0 and C2 keep all they had and share C1's partitions.

    >>> assign_sticky(["C0", "C2"], 8, {"C0": [0, 3, 6], "C1": [1, 4, 7], "C2": [2, 5]})
    {'C0': [0, 3, 4, 6], 'C2': [1, 2, 5, 7]}
    """
    ids = _check(members, n_partitions)
    out: Assignment = {mid: [] for mid in ids}
    if not ids:
        return out
    previous = previous or {}
    lo, extra = divmod(n_partitions, len(ids))
    hi = lo + 1 if extra else lo
    over = 0  # members holding hi partitions (hi > lo), at most `extra`
    taken: set[int] = set()
    for mid in ids:  # keep what each owned, up to its quota
        owned = [p for p in previous.get(mid, ()) if 0 <= p < n_partitions and p not in taken]
        keep = hi if len(owned) >= hi and over < extra else lo
        kept = owned[: min(len(owned), keep)]
        if len(kept) == hi and hi > lo:
            over += 1
        out[mid] = kept
        taken.update(kept)
    free = [p for p in range(n_partitions) if p not in taken]
    for p in free:  # deal the rest round-robin: first up to lo, then one more while allowed
        under = [m for m in ids if len(out[m]) < lo]
        if not under:
            under = [m for m in ids if len(out[m]) == lo and over < extra]
            over += 1
        target = min(under, key=lambda m: (len(out[m]), ids.index(m)))
        out[target].append(p)
    return {mid: sorted(ps) for mid, ps in out.items()}


STRATEGIES: dict[str, Callable[[Sequence[str], int, Previous | None], Assignment]] = {
    "range": assign_range,
    "round_robin": assign_round_robin,
    "sticky": assign_sticky,
    "cooperative_sticky": assign_sticky,
}
"""Kafka's assignors by the scenario's name (``bus.kafka.assignment_strategy``)."""


def assign(
    strategy: str, members: Sequence[str], n_partitions: int, previous: Previous | None = None
) -> Assignment:
    """The assignment of ``strategy`` (a key of :data:`STRATEGIES`).

    Raises
    ------
    ValueError
        An unknown strategy, ``n_partitions < 1`` or duplicate member ids.
    """
    fn = STRATEGIES.get(strategy)
    if fn is None:
        raise ValueError(
            f"assignment_strategy: must be one of {', '.join(STRATEGIES)}, got {strategy!r}"
        )
    return fn(members, n_partitions, previous)


def moved_partitions(before: Previous, after: Previous, n_partitions: int) -> list[int]:
    """Partitions whose owner differs between two assignments (owned by nobody counts as an
    owner): the partitions KIP-429's cooperative protocol revokes and pauses.

    >>> moved_partitions({"a": [0, 1], "b": [2]}, {"a": [0], "b": [2], "c": [1]}, 3)
    [1]
    """
    def owners(a: Previous) -> list[str | None]:
        own: list[str | None] = [None] * n_partitions
        for mid, ps in a.items():
            for p in ps:
                own[p] = mid
        return own

    b, a = owners(before), owners(after)
    return [p for p in range(n_partitions) if b[p] != a[p]]
