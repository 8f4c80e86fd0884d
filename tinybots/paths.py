"""Writing files and folders safely: publish a finished temporary, check a path before work.

Used by the table writer (``tinybots.io``), the model registry, the bank cache and the results
folders of ``sim``: results appear whole (renamed into place) with ordinary permissions, and an
output that cannot be created is found before a long computation, not after it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from tinybots.errors import InputError

__all__ = ["check_creatable", "publish"]


def publish(tmp: Path, target: Path) -> Path:
    """Rename a finished temporary file or folder onto ``target`` with ordinary permissions.

    ``tempfile`` creates owner-only files (0600) and folders (0700); what we publish gets the
    modes a plain ``open`` / ``mkdir`` would (0666 / 0777 less the umask), so teammates on a
    shared machine can read results.
    """
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod((0o777 if tmp.is_dir() else 0o666) & ~umask)
    os.replace(tmp, target)
    return target


def check_creatable(path: Path, field: str = "path") -> None:
    """Raise unless ``path`` can be created: its nearest existing ancestor is a writable folder.

    Writability is tested, not read off the permissions (root ignores them, yet ``/proc`` and
    read-only mounts refuse root too): an empty temporary folder is created in that ancestor
    and removed at once.

    Raises
    ------
    InputError
        An ancestor of ``path`` is a file, or nothing can be created in the nearest existing
        ancestor; the message names ``field`` and the reason.
    """
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"{field}: {parent} is a file, so {path} cannot be created")
            try:
                probe = tempfile.mkdtemp(dir=parent, prefix=".tinybots-probe-")
            except OSError as exc:
                raise InputError(
                    f"{field}: cannot write in {parent} ({exc.strerror or exc}), so {path} "
                    "cannot be created"
                ) from exc
            os.rmdir(probe)
            break
