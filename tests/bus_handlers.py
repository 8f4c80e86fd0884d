"""A ``sim.pods.Handler`` for bus tests: it logs each finished batch and never drops."""

from __future__ import annotations


class LogHandler:
    """Logs ``(time, records, attempts)`` of each finished batch in :attr:`finished`."""

    def __init__(self, env):
        self.env = env
        self.finished: list[tuple[float, list[int], list[int]]] = []

    def begin(self, records, pod):
        return list(records)

    def finish(self, rows, start_s, pod, fetched):
        self.finished.append((self.env.now, list(fetched.records), fetched.attempts))

    def crashed(self, pod, lost, records):
        pass

    def drop(self, records, reason):
        raise AssertionError("at-least-once never drops")

    def release(self):
        pass
