"""Crash-safe files and folders: write aside, fsync, switch with one rename.

A reader never sees a half-written file or folder: each is written under a
fresh hidden name in the folder where it will live (the same file system),
flushed to the disk with ``fsync`` (the file, then the folder that holds its
name), then moved into place with ``os.replace`` / ``os.rename``, which POSIX
makes atomic. A process killed at any instant leaves either the old content or
the new, plus at worst a hidden leftover whose name starts with
:data:`TMP_PREFIX`, removed by :func:`clean_leftovers` at the next start.

Files and folders are created with modes 0o666 and 0o777, so the umask decides
their permissions (``tempfile`` would make them private, 0o600).
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

TMP_PREFIX = ".tmp-"


def fsync_dir(folder: Path) -> None:
    """Flush ``folder``'s entries (a new or renamed name) to the disk."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fresh_name(folder: Path, stem: str = "") -> Path:
    """An unused hidden path in ``folder``: ``.tmp-<stem>-<random hex>``."""
    return folder / f"{TMP_PREFIX}{stem}-{secrets.token_hex(6)}"


def write_file(path: Path, data: bytes, *, sync_folder: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, replace).

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     write_file(Path(folder) / "a.txt", b"hello")
    ...     (Path(folder) / "a.txt").read_bytes(), len(list(Path(folder).iterdir()))
    (b'hello', 1)
    """
    tmp = fresh_name(path.parent, path.name)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if sync_folder:
        fsync_dir(path.parent)


def write_folder(path: Path, files: dict[str, bytes]) -> None:
    """Create the folder ``path`` holding ``files`` as one atomic step.

    The files go into a fresh hidden folder beside ``path``, each is fsynced,
    then the folder, which is renamed to ``path`` (that must not exist).
    """
    tmp = fresh_name(path.parent, path.name)
    os.mkdir(tmp, 0o777)
    try:
        for name, data in files.items():
            write_file(tmp / name, data, sync_folder=False)
        fsync_dir(tmp)
        os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(path.parent)


def clean_leftovers(folder: Path) -> list[Path]:
    """Remove what killed writes left in ``folder``; return the removed paths."""
    removed = []
    for path in sorted(folder.glob(TMP_PREFIX + "*")):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed
