"""Worker processes for the generator that work from any ``__main__`` and stop on Ctrl-C.

``multiprocessing``'s "forkserver" and "spawn" start methods send every new worker the path
(or module name) of the parent's ``__main__`` and the worker re-runs it before it takes a task.
A plain script without an ``if __name__ == "__main__":`` guard then starts the whole run again
in every worker (it never finishes), and ``python -`` sends ``<stdin>``, which is no file (the
workers fail). The generator's workers only need
``tinybots.generator.customer_draws.generate_chunk``,
never ``__main__``: :func:`main_hidden` hides ``__main__``'s file and spec while the workers
are started, so they start with an empty ``__main__``, from a script, stdin or Jupyter alike.

Workers ignore SIGINT (a Ctrl-C reaches the whole process group): the parent alone handles it,
by terminating the pool (:func:`worker_pool`), so there are no tracebacks from the workers.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing import get_context
from multiprocessing.pool import Pool

__all__ = ["main_hidden", "start_method", "worker_pool"]

_HIDDEN = ("__file__", "__spec__")


def start_method() -> str:
    """"forkserver" on Linux, "spawn" elsewhere (never plain fork: unsafe in threaded parents)."""
    return "forkserver" if sys.platform.startswith("linux") else "spawn"


@contextmanager
def main_hidden() -> Iterator[None]:
    """Within the block, ``__main__`` has no ``__file__`` and ``__spec__`` is None.

    ``multiprocessing.spawn.get_preparation_data`` then gives new workers (and a forkserver
    started in the block) no main module to re-run. The attributes are restored on exit.
    Objects defined in ``__main__`` cannot be sent to such workers; ours never are.
    """
    main = sys.modules.get("__main__")
    if main is None:
        yield
        return
    saved = {k: main.__dict__[k] for k in _HIDDEN if k in main.__dict__}
    main.__dict__.pop("__file__", None)
    main.__dict__["__spec__"] = None
    try:
        yield
    finally:
        for key in _HIDDEN:
            main.__dict__.pop(key, None)
        main.__dict__.update(saved)


def _ignore_sigint() -> None:
    """Pool initializer: a worker leaves SIGINT to the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def worker_pool(processes: int) -> Iterator[Pool]:
    """A process pool whose workers never re-run ``__main__`` and ignore SIGINT.

    Parameters
    ----------
    processes : int
        Number of workers (>= 1).

    Yields
    ------
    multiprocessing.pool.Pool
        Terminated and joined on exit, also on an exception (e.g. KeyboardInterrupt).

    Notes
    -----
    The workers are started eagerly inside :func:`main_hidden`. A worker that dies is
    replaced by the pool outside it; ours only die when the pool is terminated.
    """
    with main_hidden():
        pool = get_context(start_method()).Pool(processes, initializer=_ignore_sigint)
    try:
        yield pool
    finally:
        pool.terminate()
        pool.join()
