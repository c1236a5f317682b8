"""Fetch a MovieLens release from GroupLens into a cache folder, checked by SHA-256.

``hybridrec data download ml-1m --sha256 HEX`` downloads
``https://files.grouplens.org/datasets/movielens/ml-1m.zip`` into the cache
(``$HYBRIDREC_CACHE``, else ``~/.cache/hybridrec``), checks its SHA-256 while it
streams, and unpacks it there. ``--data-dir DIR`` works offline: it takes
``DIR/<name>.zip`` (checked the same way) or an already unpacked ``DIR/<name>/``.

Checksums: GroupLens publishes MD5 sums only, and none of these archives could
be fetched and hashed where this code was written, so no SHA-256 is built in
(``Release.sha256`` is None for every release). A download therefore needs
``--sha256`` from a source you trust; a cached copy records the checksum it was
verified with.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from hybridrec_jax.data.prepare import DataError

GROUPLENS = "https://files.grouplens.org/datasets/movielens"


@dataclass(frozen=True)
class Release:
    """A downloadable archive; ``folder`` is the top folder inside the zip."""

    url: str
    folder: str
    sha256: str | None = None  # None: unknown here, the caller must give it


RELEASES = {
    name: Release(f"{GROUPLENS}/{name}.zip", name)
    for name in ("ml-100k", "ml-1m", "ml-latest-small", "ml-25m", "ml-32m")
}
CHUNK = 1 << 20
VERIFIED = ".sha256"  # written into the unpacked folder once verified


def default_cache() -> Path:
    """``$HYBRIDREC_CACHE`` or ``~/.cache/hybridrec``."""
    root = os.environ.get("HYBRIDREC_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "hybridrec"


def sha256_of(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _expected(name: str, sha256: str | None) -> str:
    known = RELEASES[name].sha256 if name in RELEASES else None
    expected = (sha256 or known or "").strip().lower()
    if not expected:
        raise DataError(
            f"no SHA-256 is known for {name}: this code ships none, because "
            "GroupLens publishes MD5 sums only and the archive could not be hashed "
            "here; pass --sha256 HEX from a source you trust"
        )
    if len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected):
        raise DataError(f"--sha256 must be 64 hex digits, got {expected!r}")
    return expected


def _unpack(archive: Path, target: Path, folder: str, digest: str) -> Path:
    """Unzip into ``target`` (refusing paths that leave it); return the folder."""
    try:
        with zipfile.ZipFile(archive) as zipped:
            root = target.resolve()
            for member in zipped.namelist():
                out = (target / member).resolve()
                if root not in out.parents and out != root:
                    raise DataError(
                        f"archive member {member!r} would leave the cache folder",
                        path=str(archive),
                    )
            zipped.extractall(target)
    except zipfile.BadZipFile as err:
        raise DataError(f"not a zip archive: {err}", path=str(archive)) from err
    unpacked = target / folder
    if not unpacked.is_dir():
        raise DataError(f"the archive holds no folder {folder!r}", path=str(archive))
    (unpacked / VERIFIED).write_text(digest + "\n")
    return unpacked


def _fetch(url: str, destination: Path, expected: str, timeout: float) -> None:
    """Stream ``url`` to ``destination``, hashing as it goes; remove on mismatch."""
    partial = destination.with_suffix(destination.suffix + ".part")
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            with open(partial, "wb") as handle:
                for block in iter(lambda: response.read(CHUNK), b""):
                    digest.update(block)
                    handle.write(block)
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        partial.unlink(missing_ok=True)
        raise DataError(f"download failed: {err}", path=url) from err
    if digest.hexdigest() != expected:
        partial.unlink(missing_ok=True)
        raise DataError(
            f"SHA-256 mismatch: expected {expected}, got {digest.hexdigest()}; the "
            "file was removed",
            path=url,
        )
    partial.replace(destination)


def download(
    name: str,
    *,
    cache_dir: str | Path | None = None,
    sha256: str | None = None,
    url: str | None = None,
    data_dir: str | Path | None = None,
    timeout: float = 60.0,
) -> Path:
    """The unpacked folder of release ``name``, fetched and verified if needed.

    Args:
        name: one of ``RELEASES`` (or any name when ``url`` is given).
        cache_dir: where archives and folders go (default :func:`default_cache`).
        sha256: the archive's expected SHA-256 (required; none is built in).
        url: override the GroupLens address (mirrors; tests use a local server).
        data_dir: offline source: ``data_dir/<name>/`` is used as is, or
            ``data_dir/<name>.zip`` is verified and unpacked; nothing is fetched.
        timeout: seconds to wait on the network.

    Raises:
        DataError: unknown name, no checksum, network failure, checksum mismatch,
            bad archive.
    """
    if name not in RELEASES and url is None:
        raise DataError(f"unknown release {name!r}; known: {sorted(RELEASES)}")
    release = RELEASES.get(name, Release(url or "", name))
    cache = Path(cache_dir) if cache_dir is not None else default_cache()
    if data_dir is not None:
        data_dir = Path(data_dir)
        if (data_dir / release.folder).is_dir():
            return data_dir / release.folder
        archive = data_dir / f"{name}.zip"
        if not archive.is_file():
            raise DataError(
                f"offline: neither {release.folder}/ nor {name}.zip is here",
                path=str(data_dir),
            )
        expected = _expected(name, sha256)
        actual = sha256_of(archive)
        if actual != expected:
            raise DataError(
                f"SHA-256 mismatch: expected {expected}, got {actual}",
                path=str(archive),
            )
        cache.mkdir(parents=True, exist_ok=True)
        return _unpack(archive, cache, release.folder, actual)

    expected = _expected(name, sha256)
    unpacked = cache / release.folder
    marker = unpacked / VERIFIED
    if marker.is_file() and marker.read_text().strip() == expected:
        return unpacked
    cache.mkdir(parents=True, exist_ok=True)
    archive = cache / f"{name}.zip"
    if not (archive.is_file() and sha256_of(archive) == expected):
        _fetch(url or release.url, archive, expected, timeout)
    if unpacked.is_dir():
        shutil.rmtree(unpacked)
    return _unpack(archive, cache, release.folder, expected)
