"""Hidden temporary files of atomic writes, and removing those that dead processes left behind.

A file ``OUT`` is written as ``.OUT.HOST.PID.tmp`` in the same directory and renamed
when complete. A process killed hard (``kill -9``, out of memory, a batch system's
time limit) cannot remove its temporary file; the next write of ``OUT`` does, when
the process that wrote it is gone. Files of live processes are never touched, nor
files written on another host (their process cannot be checked from here: on a
shared file system they may belong to a running job).
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

__all__ = ["temporary_path", "stale_temporaries", "remove_stale_temporaries", "process_alive"]


def _host() -> str:
    """This host's name, reduced to characters that are safe in a file name (no dots)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname()) or "host"


def temporary_path(path: str | os.PathLike[str], pid: int | None = None) -> Path:
    """The hidden temporary file that this process writes ``path`` through."""
    path = Path(path)
    return path.with_name(f".{path.name}.{_host()}.{os.getpid() if pid is None else pid}.tmp")


def process_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host (owned by anyone)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    except OSError:
        return True  # cannot tell: keep the file
    return True


def stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """Temporary files of ``path`` whose writing process on this host no longer runs.

    Recognises ``.NAME.HOST.PID.tmp`` and the older ``.NAME.PID.tmp`` (taken as this host's).
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        return []
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.(?:(?P<host>[A-Za-z0-9_-]+)\.)?(?P<pid>\d+)\.tmp$")
    host, me = _host(), os.getpid()
    stale = []
    for candidate in directory.iterdir():
        match = pattern.match(candidate.name)
        if match is None or not candidate.is_file():
            continue
        if match["host"] not in (None, host):
            continue
        pid = int(match["pid"])
        if pid != me and not process_alive(pid):
            stale.append(candidate)
    return sorted(stale)


def remove_stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files of ``path`` left by dead processes; returns what was removed."""
    removed = []
    for stale in stale_temporaries(path):
        try:
            stale.unlink()
        except FileNotFoundError:  # another process cleaned it up first
            continue
        removed.append(stale)
    return removed
