"""Where the push writes its files: a local path, or any ``ObjectStoragePath`` URI (``s3://``, ``gs://``...).

The rejects file and the delivery ledger both take either, so that they can land next to the data they
describe; the choice of path type, and which of them have folders to create, is made here once.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from airflow.sdk import ObjectStoragePath


def storage_path(path: str) -> Path | ObjectStoragePath:
    """A local ``Path`` (``~`` expanded) for a plain path, an ``ObjectStoragePath`` for a URI."""
    if "://" not in path:
        return Path(path).expanduser()
    return ObjectStoragePath(path)


def make_folder(folder: Path | ObjectStoragePath) -> None:
    """Create ``folder`` and its parents where folders exist (local disks); object stores have none."""
    if _local(folder) is not None:
        folder.mkdir(parents=True, exist_ok=True)


def _local(path: Path | ObjectStoragePath) -> Path | None:
    """``path`` as a local ``Path`` when it is on the local disk (a plain path or ``file://``), else None.

    ``ObjectStoragePath`` is asked first: on Airflow 3.1 (universal-pathlib 0.2) it is a ``Path`` too.
    """
    if isinstance(path, ObjectStoragePath):
        return Path(path.path) if path.protocol in {"file", "local"} else None
    return path


def write_whole(target: Path | ObjectStoragePath, data: bytes) -> None:
    """Write ``data`` so that ``target`` either does not exist or holds all of it, never a torn part.

    On a local disk the bytes go to a hidden temporary file in the same folder, are flushed to disk, and
    the file is renamed onto ``target`` (``os.replace`` is atomic within one file system); a crash leaves
    at most a ``.tmp`` file, which readers ignore. Object stores (S3, GCS, Azure Blob) have no atomic
    rename (a "move" is a copy and a delete), but a single PUT is atomic: an object becomes visible only
    once complete. So there the bytes are uploaded in one ``pipe_file`` call, never streamed through an
    open file that a killed worker could leave half-written.
    """
    local = _local(target)
    if local is None:
        assert isinstance(target, ObjectStoragePath)
        target.fs.pipe_file(target.path, data)
        return
    temporary = local.with_name(f".{local.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temporary, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, local)
    finally:
        temporary.unlink(missing_ok=True)
