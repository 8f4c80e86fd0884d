"""Replacing a results folder so that nothing is lost and nothing is left behind.

A new results folder is written into a hidden temporary sibling (:func:`staged_folder`,
``.<name>-XXXXXXXX``) and then put in the place of the old one by :func:`replace_folder`:

1. *carry*: entries of the old folder that tinybots does not write (not in :data:`OWN_FILES`,
   e.g. ``my_analysis.ipynb`` or a ``notes/`` folder) are hard-linked into the new folder (copied
   where a link is impossible); the old folder is not touched;
2. the old folder is renamed aside (``.<name>-old-XXXXXXXX``; one atomic ``os.rename``);
3. the new folder is renamed into place (atomic). If this fails, the old one is renamed back;
4. the aside copy is deleted.

So at every moment either the complete old or the complete new results are at the path, and a
user's own files survive a rerun. SIGINT and SIGTERM are held back (``pthread_sigmask``) during
steps 2-4 and during the clean-up of a failed attempt, so an interruption cannot split them or
leave a partial hidden folder; it is delivered right after. Any failure before step 4 removes
the temporary folder and leaves the old results as they were. If step 4 fails (a file nobody
may delete, e.g. immutable) the new results are complete and a ``RuntimeWarning`` names the
folder left aside.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import stat
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tinybots.paths import publish

__all__ = [
    "OWN_FILES",
    "foreign_entries",
    "held_signals",
    "remove_tree",
    "replace_folder",
    "staged_folder",
]

OWN_FILES = frozenset(
    {
        *(f"{name}.parquet" for name in
          ("transactions", "spans", "metrics", "incidents", "models", "summary", "faults",
           "breaker", "dead_letters", "drift", "daily")),
        "scenario.yaml",
        "summary.json",
        "dashboard.png",
        "scaling.png",
        "blast_radius.png",
    }
)
"""The manifest: names of the files a tinybots results folder holds (``sim.record.results.FRAMES``
as Parquet, the scenario, the summary, the dashboard, ``scaling.png`` when the run scales,
``blast_radius.png`` when it has faults and SLOs). Everything else in a results folder is the
user's and is kept."""

_HELD = (signal.SIGINT, signal.SIGTERM)


def foreign_entries(folder: Path) -> list[str]:
    """Sorted names in ``folder`` that tinybots did not write (none if it does not exist)."""
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.name not in OWN_FILES)


@contextmanager
def held_signals() -> Iterator[None]:
    """Hold SIGINT and SIGTERM back within the block (main thread, POSIX); deliver them after."""
    if not hasattr(signal, "pthread_sigmask") or (
        threading.current_thread() is not threading.main_thread()
    ):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextmanager
def staged_folder(target: Path) -> Iterator[Path]:
    """A new hidden folder beside ``target``, removed if the block raises (also on Ctrl-C)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with held_signals():
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        yield tmp
    except BaseException:
        with held_signals():
            remove_tree(tmp, missing_ok=True)
        raise


def replace_folder(new: Path, target: Path) -> Path:
    """Put the finished folder ``new`` at ``target`` (a sibling), keeping the user's files.

    Parameters
    ----------
    new : pathlib.Path
        The complete new folder, in ``target``'s parent (from :func:`staged_folder`).
    target : pathlib.Path
        Where the folder goes; an old folder there is replaced as the module docstring says.

    Returns
    -------
    pathlib.Path
        ``target``.

    Raises
    ------
    OSError
        If carrying the user's files or a rename fails; the old folder is then unchanged.
    """
    if not target.exists():
        publish(new, target)
        return target
    for name in foreign_entries(target):
        _carry(target / name, new / name)
    aside = target.with_name(f".{target.name}-old-{secrets.token_hex(4)}")
    with held_signals():
        os.rename(target, aside)
        try:
            publish(new, target)
        except BaseException:
            os.rename(aside, target)
            raise
        try:
            remove_tree(aside)
        except OSError as exc:
            warnings.warn(
                f"the new results are in {target}, but the earlier ones, moved aside to "
                f"{aside}, could not be removed ({exc}); remove that folder by hand",
                RuntimeWarning,
                stacklevel=2,
            )
    return target


def remove_tree(path: Path, *, missing_ok: bool = False) -> None:
    """``shutil.rmtree`` that also empties read-only folders (made writable first).

    Raises
    ------
    OSError
        If something cannot be removed anyway (e.g. an immutable file).
    """
    if missing_ok and not os.path.lexists(path):
        return

    def retry(func: object, name: str, exc: BaseException) -> None:
        parent = os.path.dirname(name)
        if isinstance(exc, PermissionError) and parent and not os.access(parent, os.W_OK):
            os.chmod(parent, os.stat(parent).st_mode | stat.S_IRWXU)
            func(name)  # type: ignore[operator]
            return
        raise exc

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=retry)
    else:
        shutil.rmtree(path, onerror=lambda func, name, info: retry(func, name, info[1]))


def _carry(src: Path, dst: Path) -> None:
    """Hard-link (else copy) ``src`` to ``dst``: a file, a symlink or a whole folder."""
    if src.is_symlink():
        os.symlink(os.readlink(src), dst)
    elif src.is_dir():
        shutil.copytree(src, dst, symlinks=True, copy_function=_link_or_copy)
    else:
        _link_or_copy(src, dst)


def _link_or_copy(src: str | Path, dst: str | Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
