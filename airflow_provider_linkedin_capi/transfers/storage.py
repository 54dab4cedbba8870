"""Where the push writes its files: a local path, or any ``ObjectStoragePath`` URI (``s3://``, ``gs://``...).

The rejects file and the delivery ledger both take either, so that they can land next to the data they
describe; the choice of path type, and which of them have folders to create, is made here once.
"""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import ObjectStoragePath


def storage_path(path: str) -> Path | ObjectStoragePath:
    """A local ``Path`` (``~`` expanded) for a plain path, an ``ObjectStoragePath`` for a URI."""
    if "://" not in path:
        return Path(path).expanduser()
    return ObjectStoragePath(path)


def make_folder(folder: Path | ObjectStoragePath) -> None:
    """Create ``folder`` and its parents where folders exist (local disks); object stores have none."""
    if isinstance(folder, Path) or folder.protocol in {"file", "local"}:
        folder.mkdir(parents=True, exist_ok=True)
