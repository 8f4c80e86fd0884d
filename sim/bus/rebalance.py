"""Group membership of a Kafka consumer group: joins, leaves, crashes, evictions, rebalances.

The classic consumer-group protocol of the Apache Kafka 3.x/4.x clients, as the scaling of a
group feels it:

- every membership change is a rebalance: a new generation, the assignment of
  ``partition.assignment.strategy`` (``sim.bus.assignment``) and a pause of
  ``rebalance_pause_s``. Under the **eager** protocol every partition is revoked and the whole
  group pauses (the stop-the-world ``JoinGroup`` / ``SyncGroup``); under the **cooperative**
  protocol (KIP-429, ``CooperativeStickyAssignor``) only the partitions that change owner pause,
  every other partition keeps being consumed;
- a member that crashes stops heartbeating: the coordinator notices only after
  ``session.timeout.ms`` (:attr:`Membership.session_timeout_s`), and until then its partitions
  sit idle; then it is removed (a rebalance) and the new owners resume from the committed
  offsets;
- a member that does not poll again within ``max.poll.interval.ms`` of handing out records is
  evicted (incident ``member_evicted``, a rebalance): its partitions go back to the committed
  offsets, so another member delivers its uncommitted records again, its late commit fails
  (``CommitFailedException``: :meth:`ConsumerGroup.commit` returns False) and it rejoins on
  its next poll.

Each rebalance is reported as incident ``rebalance`` with ``duration_s`` = the pause. The pauses
are counted: :attr:`Membership.paused_records` (records that were waiting on, or arrived on, a
paused partition while it was paused) and :attr:`Membership.paused_partition_s`.
:class:`sim.bus.group.ConsumerGroup` adds the offsets and the poll.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import simpy

from sim.bus.assignment import STRATEGIES, assign, moved_partitions
from sim.bus.revocation import Revocation

if TYPE_CHECKING:
    from sim.bus.fetched import Fetched
    from sim.bus.topic import Topic

__all__ = ["Member", "Membership", "Protocol"]

Protocol = Literal["eager", "cooperative"]
IncidentSink = Callable[..., None]


@dataclass(eq=False)
class Member:
    """One consumer of a group (one SimPy process of a pod).

    ``partitions`` is its current assignment; ``generation`` the group generation it has
    joined; ``member_id`` the id the group gave it at its last join (name and join number, as
    Kafka's ``member.id`` is the client id and a UUID); ``alive`` is False once it crashed;
    ``evicted`` while it is out of the group for exceeding ``max_poll_interval_s``.
    """

    name: str
    partitions: list[int] = field(default_factory=list)
    generation: int = -1
    cursor: int = 0
    waiting: simpy.Event | None = None
    member_id: str = ""
    alive: bool = True
    evicted: bool = False
    poll_deadline_s: float | None = None  # set when a poll hands out records; None in a poll
    watched: bool = False  # a max-poll-interval timer is armed


class Membership(Revocation):
    """Members, assignment, rebalance pauses and liveness of a group on ``topic``.

    Parameters
    ----------
    env : simpy.Environment
    name : str
        Group id.
    topic : Topic
    strategy : {"range", "round_robin", "sticky", "cooperative_sticky"}
    protocol : {"eager", "cooperative"}
    rebalance_pause_s, session_timeout_s, max_poll_interval_s : float
        Seconds (>= 0, > 0, > 0).

    Raises
    ------
    ValueError
        An unknown strategy or protocol, cooperative without cooperative_sticky, or a negative
        or zero duration, naming the argument.
    """

    position: list[int]
    committed: list[int]
    _in_hand: dict[Fetched, Member]
    _fenced: set[Fetched]

    def __init__(
        self,
        env: simpy.Environment,
        name: str,
        topic: Topic,
        *,
        strategy: str = "range",
        protocol: str = "eager",
        rebalance_pause_s: float = 0.0,
        session_timeout_s: float = 45.0,
        max_poll_interval_s: float = 300.0,
    ) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"assignment_strategy: must be one of {', '.join(STRATEGIES)}, "
                             f"got {strategy!r}")
        if protocol not in ("eager", "cooperative"):
            raise ValueError(f"rebalance_protocol: must be eager or cooperative, got {protocol!r}")
        if protocol == "cooperative" and strategy != "cooperative_sticky":
            raise ValueError("rebalance_protocol: 'cooperative' needs assignment_strategy "
                             f"'cooperative_sticky', got {strategy!r}")
        if not rebalance_pause_s >= 0:
            raise ValueError(f"rebalance_pause_s: must be >= 0 s, got {rebalance_pause_s}")
        for arg, v in (("session_timeout_s", session_timeout_s),
                       ("max_poll_interval_s", max_poll_interval_s)):
            if not v > 0:
                raise ValueError(f"{arg}: must be > 0 s, got {v}")
        self.env, self.name, self.topic = env, name, topic
        self.strategy, self.protocol = strategy, protocol
        self.rebalance_pause_s = float(rebalance_pause_s)
        self.session_timeout_s = float(session_timeout_s)
        self.max_poll_interval_s = float(max_poll_interval_s)
        n = topic.n_partitions
        self.members: list[Member] = []
        self.generation = 0
        self.rebalances = 0
        self.evictions = 0
        self.paused_until = 0.0  # latest pause end of any partition (all of them when eager)
        self.partition_paused_until = [0.0] * n
        self.paused_records = 0
        self.paused_partition_s = 0.0
        self._pause_from: list[tuple[float, int] | None] = [None] * n  # window start
        self._assignment: dict[str, list[int]] = {}
        Revocation.__init__(self)
        self._joins = 0
        self.on_incident: IncidentSink | None = None

    # -- membership -------------------------------------------------------------------------
    def join(self, member: Member) -> None:
        """Add ``member`` (a new ``member_id``) and rebalance."""
        member.member_id = f"{member.name}#{self._joins:06d}"
        self._joins += 1
        member.alive, member.evicted, member.poll_deadline_s = True, False, None
        self.members.append(member)
        self._rebalance(f"{member.member_id} joined")

    def leave(self, member: Member) -> None:
        """Remove ``member`` gracefully (scale-down: Kafka's ``LeaveGroup``) and rebalance."""
        if member in self.members:
            self.members.remove(member)
            self._rebalance(f"{member.name} left")

    def crash(self, member: Member) -> None:
        """``member`` died without leaving: it keeps its partitions, idle, until
        ``session_timeout_s`` later, when the coordinator removes it (a rebalance)."""
        member.alive, member.poll_deadline_s = False, None
        if member in self.members:
            self.env.timeout(self.session_timeout_s).callbacks.append(
                lambda _e: self._expire(member))

    def _expire(self, member: Member) -> None:
        if member.alive or member not in self.members:
            return
        self.members.remove(member)
        self._back_to_committed(member.partitions)
        self._rebalance(f"{member.member_id} (crashed) session timeout "
                        f"({self.session_timeout_s:g} s)")

    def _back_to_committed(self, partitions: Sequence[int]) -> None:
        """A new owner resumes from the committed offset (Kafka keeps no position per group)."""
        for p in partitions:
            self.position[p] = min(self.position[p], self.committed[p])

    # -- max.poll.interval.ms ---------------------------------------------------------------
    def _handed_out(self, member: Member) -> None:
        """A poll gave ``member`` records: it must poll again within max_poll_interval_s."""
        member.poll_deadline_s = self.env.now + self.max_poll_interval_s
        if not member.watched:
            member.watched = True
            self.env.timeout(self.max_poll_interval_s).callbacks.append(
                lambda _e: self._check_poll(member))

    def _check_poll(self, member: Member) -> None:
        due = member.poll_deadline_s
        if due is None or not member.alive or member not in self.members:
            member.watched = False
        elif due > self.env.now + 1e-9:  # it polled meanwhile: watch its new deadline
            self.env.timeout(due - self.env.now).callbacks.append(
                lambda _e: self._check_poll(member))
        else:
            member.watched = False
            self._evict(member)

    def _evict(self, member: Member) -> None:
        """Remove ``member`` for exceeding max_poll_interval_s: its uncommitted records are
        delivered again, its batches in hand may no longer commit."""
        self.evictions += 1
        self.members.remove(member)
        member.evicted, member.poll_deadline_s = True, None
        parts = set(member.partitions)
        for f, m in self._in_hand.items():
            if m is member:
                self._fenced.add(f)
                parts.update(p for p, _, _ in f.ranges)
        self._back_to_committed(sorted(parts))
        if self.on_incident is not None:
            self.on_incident("member_evicted", self.name,
                             f"{member.name}: no poll within max_poll_interval_s "
                             f"{self.max_poll_interval_s:g} s; partitions {sorted(parts)} "
                             "back to the committed offsets")
        self._rebalance(f"{member.name} evicted")

    def _rejoin_if_evicted(self, member: Member) -> bool:
        """An evicted member's next poll rejoins the group (True if it did)."""
        if not member.evicted or not member.alive:
            return False
        self.join(member)
        return True

    # -- pauses -----------------------------------------------------------------------------
    def paused(self, member: Member | None = None) -> float:
        """Seconds ``member`` must wait before it can poll anything (0.0 if none): under eager
        the whole group's pause; under cooperative the pause of its partitions when every one
        of them is paused (it consumes the others meanwhile)."""
        if member is not None:
            member.poll_deadline_s = None  # back in its poll loop
        now = self.env.now
        left = self.paused_until - now
        if left <= 0:
            return 0.0
        if self.protocol == "eager" or member is None:
            return left
        if not member.partitions:
            return 0.0
        until = self.partition_paused_until
        left = min(until[p] for p in member.partitions) - now
        return left if left > 0 else 0.0

    def live(self, member: Member) -> list[int]:
        """``member``'s partitions that are not paused now and not still being revoked (those
        it may poll)."""
        now = self.env.now
        parts = member.partitions
        if now < self.paused_until:
            until = self.partition_paused_until
            parts = [p for p in parts if until[p] <= now]
        if self._revoking:
            parts = [p for p in parts if p not in self._revoking]
        return parts

    def _rebalance(self, reason: str) -> None:
        self.generation += 1
        self.rebalances += 1
        n = self.topic.n_partitions
        after = assign(self.strategy, [m.member_id for m in self.members], n, self._assignment)
        if self.protocol == "eager":
            paused = list(range(n))
        else:
            paused = moved_partitions(self._assignment, after, n)
        self._assignment = after
        for m in self.members:
            m.partitions = after[m.member_id]
            m.generation = self.generation
        if self._in_hand:
            self._revoke_in_hand()
        pause = self.rebalance_pause_s if paused else 0.0
        if pause > 0:
            self._pause(paused, pause)
        if self.on_incident is not None:
            self.on_incident(
                "rebalance", self.name,
                f"generation {self.generation}, {len(self.members)} members, "
                f"{self.protocol}/{self.strategy}, {len(paused) if pause else 0} of {n} "
                f"partitions paused {self.rebalance_pause_s:g} s ({reason})",
                pause,
            )
        self._wake()

    def _pause(self, partitions: list[int], pause: float) -> None:
        now = self.env.now
        end = now + pause
        until = self.partition_paused_until
        for p in partitions:
            if self._pause_from[p] is None:  # a new pause window (else an extended one)
                self._pause_from[p] = (now, self.position[p])
            until[p] = end
        if end > self.paused_until:
            self.paused_until = end
        self.env.timeout(pause).callbacks.append(lambda _e: self._pause_ended(partitions))

    def _pause_ended(self, partitions: list[int]) -> None:
        now = self.env.now
        until = self.partition_paused_until
        start = self._pause_from
        ended = [p for p in partitions if until[p] <= now and start[p] is not None]
        if not ended:
            return
        self.topic.sync()
        ends = self.topic.ends
        for p in ended:
            since, pos = start[p]  # type: ignore[misc]
            start[p] = None
            self.paused_records += max(0, ends[p] - pos)
            self.paused_partition_s += now - since
        self._wake({*ended})

    def _wake(self, partitions: set[int] | None = None) -> None:
        """Wake idle members so they pick up a new assignment (every member) or the end of the
        pause of ``partitions`` (the members owning one of them)."""
        for m in self.members:
            if partitions is not None and partitions.isdisjoint(m.partitions):
                continue
            if m.waiting is not None and not m.waiting.triggered:
                m.waiting.succeed()
            m.waiting = None
