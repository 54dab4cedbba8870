"""The files a push writes: the rejects file, the delivery ledger and the validation spool.

Each may be local or on an object store (``ObjectStoragePath``), where objects are written whole.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

import orjson
from airflow.sdk import ObjectStoragePath

from airflow_provider_linkedin_capi.conversions import Rejection, event_summary_fields
from airflow_provider_linkedin_capi.exceptions import LedgerBusyError

# ----------------------------------------------------------------------------------------------------
# Where the push writes its files: a local path, or any ``ObjectStoragePath`` URI (``s3://``, ``gs://``...).
#
# The rejects file and the delivery ledger both take either, so that they can land next to the data they
# describe; the choice of path type, and which of them have folders to create, is made here once.


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


# ----------------------------------------------------------------------------------------------------
# Count every rejected row and, when asked, explain each one in a JSON-lines rejects file.
#
# The file is what a data engineer opens the morning after a sync to see which CRM rows did not reach
# LinkedIn and why, so it names the row (its 1-based position in the query result), the eventId, the stable
# rejection code, the field and the message. It never holds a raw e-mail, name or IP address: identifiers
# appear only as the SHA-256 e-mail hash the rejection already carries. Lines are written as rows are
# rejected, so a run with a million bad rows does not hold them in memory.
#
# ``rejects_path`` is a local path (parent folders are created) or any ``ObjectStoragePath`` URI
# (``s3://``, ``gs://``, ``file://`` ...), so the file can land next to the data it explains.


def _open_for_writing(path: str) -> IO[bytes]:
    target = storage_path(path)
    make_folder(target.parent)
    return target.open("wb")


class RejectionLog:
    """Where every rejected row goes: a count per code, plus a line in the rejects file if there is one."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self.counts: Counter[str] = Counter()
        self._file: IO[bytes] | None = None

    def __enter__(self) -> RejectionLog:
        if self.path:
            self._file = _open_for_writing(self.path)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def record(self, row: int, rejection: Rejection) -> None:
        """Count the rejection of the ``row``-th row of the query result (1-based) and write it down."""
        code = str(rejection.code)
        self.counts[code] += 1
        if self._file is not None:
            self._file.write(orjson.dumps(_as_line(row, code, rejection)) + b"\n")


def _as_line(row: int, code: str, rejection: Rejection) -> dict[str, Any]:
    return {
        "row": row,
        "event_id": rejection.event_id,
        "code": code,
        "field": rejection.field,
        "message": rejection.message,
        "value": rejection.value,
        "keys": rejection.keys,
        "sha256_email": rejection.sha256_email,
    }


def rejection_for_event(event: dict[str, Any], code: str, field: str | None, message: str) -> Rejection:
    """A rejection for a row that had already become an event (refused rule, LinkedIn's own verdict)."""
    return Rejection(code, field, message, **event_summary_fields(event))


# ----------------------------------------------------------------------------------------------------
# A record of the eventIds LinkedIn accepted, so that a re-run of the same data sends nothing twice.
#
# Whether LinkedIn deduplicates two Conversions API events with the same ``eventId`` is UNKNOWN
# (docs/linkedin-contract.md §2.4.2: "assume resends are counted twice"). Deterministic eventIds make a re-run
# *recognisable*; this ledger makes it *skip*: after each batch, the eventIds LinkedIn took are appended, and
# a later run with the same ``ledger_path`` leaves those events out. Only the batches in flight when a worker
# dies (at most ``max_in_flight``) can be sent twice.
#
# The ledger is a folder (local, or any ``ObjectStoragePath`` URI, where objects cannot be appended to) of
# part files, one per delivered batch, each a small header (a magic word and the number of digests) and a
# run of 8-byte BLAKE2b digests of the eventIds. Parts are written whole (see
# :func:`~.storage.write_whole`), so a killed worker leaves a complete part or none. A part that is torn
# anyway (written by an older version, which streamed it, or damaged later) is skipped with a warning:
# its events are sent again rather than every later run failing on it. Digests keep
# it small (8 bytes per event: 40 MB for five million) and hold no identifier; at 64 bits, an accidental
# collision among a few million ids is about a one-in-a-million chance for the whole ledger. The digests
# are kept in one sorted numpy array, so memory stays flat per event and a batch is looked up with one
# ``searchsorted``.


if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

#: The digests' dtype: little-endian unsigned 64-bit (numpy reads the spelling).
_DIGEST = "<u8"
_PART_SUFFIX = ".bin"
#: Parts of eventIds left in doubt (see :meth:`DeliveryLedger.record_in_doubt`) start with this.
_DOUBT_PREFIX = "doubt-"
#: First 8 bytes of a part: this word, then the digest count as a little-endian uint64. Parts written
#: before the header existed are bare digests; they are still read (a length that is a multiple of 8).
_MAGIC = b"LCAPILD1"
_HEADER_SIZE = 16


def _digests(event_ids: Iterable[str]) -> np.ndarray:
    import numpy as np  # only with a ledger: a push without one need not load numpy

    blake2b = hashlib.blake2b
    raw = b"".join([blake2b(event_id.encode(), digest_size=8).digest() for event_id in event_ids])
    return np.frombuffer(raw, dtype=_DIGEST)


class DeliveryLedger:
    """The eventIds already accepted under ``path``; :meth:`record` adds a batch's, :meth:`delivered` asks.

    A push opens its ledger with :meth:`leased`, which first takes the folder's lease (see
    :class:`LedgerLease`), so that two pushes never send the same rows at once; reading one needs none.
    """

    def __init__(self, path: str, *, lease: LedgerLease | None = None) -> None:
        self.path = path
        self._folder = storage_path(path)
        make_folder(self._folder)
        self._lease = lease
        self._known = self._load(delivered=True)
        #: Events found in the ledger when it was opened.
        self.loaded = int(self._known.size)
        doubt = self._load(delivered=False)
        #: Events an earlier try left in doubt (killed before LinkedIn answered), not delivered since.
        self._doubt = doubt[~_isin(doubt, self._known)] if doubt.size else doubt
        self.loaded_in_doubt = int(self._doubt.size)

    @classmethod
    def leased(cls, path: str, log: Any) -> DeliveryLedger:
        """The ledger under ``path``, read once this push holds its lease (waiting for another's, bounded)."""
        folder = storage_path(path)
        make_folder(folder)
        lease = LedgerLease(folder, log)
        lease.acquire()
        try:
            return cls(path, lease=lease)
        except BaseException:
            lease.release()
            raise

    def close(self) -> None:
        """Give the lease back, if this ledger holds one."""
        if self._lease is not None:
            self._lease.release()
            self._lease = None

    def _load(self, *, delivered: bool) -> np.ndarray:
        import numpy as np  # only with a ledger: a push without one need not load numpy

        try:
            paths = [
                part
                for part in self._folder.iterdir()
                if part.name.endswith(_PART_SUFFIX) and part.name.startswith(_DOUBT_PREFIX) != delivered
            ]
        except (FileNotFoundError, NotADirectoryError):  # an object-store prefix not written under yet
            paths = []
        parts = [digests for part in paths if (digests := _read_part(part)) is not None]
        return np.unique(np.concatenate(parts)) if parts else np.empty(0, dtype=_DIGEST)

    def delivered(self, events: Sequence[dict[str, Any]]) -> list[bool]:
        """For each event, whether the ledger holds its eventId as delivered."""
        if not self._known.size or not events:
            return [False] * len(events)
        return _isin(_digests(event["eventId"] for event in events), self._known).tolist()

    def in_doubt(self, events: Sequence[dict[str, Any]]) -> list[bool]:
        """For each event, whether an earlier try left it in doubt (and no try delivered it since)."""
        if not self._doubt.size or not events:
            return [False] * len(events)
        return _isin(_digests(event["eventId"] for event in events), self._doubt).tolist()

    def record_in_doubt(self, event_ids: Sequence[str]) -> None:
        """Add eventIds sent as the task stopped, whose answer never came: LinkedIn may hold them or not."""
        self._write(event_ids, _DOUBT_PREFIX)

    def record(self, event_ids: Sequence[str]) -> None:
        """Add the eventIds LinkedIn accepted, as one new part file (written whole, never appended to).

        What a run records is skipped by later runs; the run itself keeps asking about what the ledger held
        when it opened (merging every batch into the sorted array would cost a sort per batch).
        """
        self._write(event_ids, "part-")

    def _write(self, event_ids: Sequence[str], prefix: str) -> None:
        if not event_ids:
            return
        digests = _digests(event_ids)
        header = _MAGIC + len(digests).to_bytes(8, "little")
        write_whole(self._folder / f"{prefix}{uuid.uuid4().hex}{_PART_SUFFIX}", header + digests.tobytes())


def _isin(wanted: np.ndarray, known: np.ndarray) -> np.ndarray:
    """For each of ``wanted``, whether the sorted ``known`` holds it (one ``searchsorted``)."""
    import numpy as np  # only with a ledger: a push without one need not load numpy

    if not known.size:
        return np.zeros(wanted.size, dtype=bool)
    at = np.searchsorted(known, wanted).clip(max=known.size - 1)
    return known[at] == wanted


def _read_part(part: Any) -> np.ndarray | None:
    """The digests of one part file; ``None`` (with a warning) when it is torn or unreadable."""
    import numpy as np  # only with a ledger: a push without one need not load numpy

    try:
        data = part.read_bytes()
    except OSError as error:
        log.warning("Skipping delivery-ledger part %s: it cannot be read (%s)", part, error)
        return None
    if data[:8] == _MAGIC:
        count = int.from_bytes(data[8:_HEADER_SIZE], "little")
        if len(data) != _HEADER_SIZE + 8 * count:
            log.warning(
                "Skipping torn delivery-ledger part %s: its header announces %d eventId(s) but it holds "
                "%d bytes; the events it recorded will be sent again",
                part,
                count,
                len(data),
            )
            return None
        return np.frombuffer(data, dtype=_DIGEST, offset=_HEADER_SIZE)
    if len(data) % 8:
        log.warning(
            "Skipping torn delivery-ledger part %s: %d bytes is not a whole number of 8-byte digests; the "
            "events it recorded will be sent again",
            part,
            len(data),
        )
        return None
    return np.frombuffer(data, dtype=_DIGEST)


# ----------------------------------------------------------------------------------------------------
# The lease: one push at a time per ledger folder.
#
# A manual run overlapping a scheduled one, a retry started while a zombie try still runs, overlapping
# backfills: two pushes on one ledger would each find nothing delivered and both send everything. So a
# push holds a lease on the folder while it runs: a small file naming its owner and an expiry, created only
# if absent (``O_EXCL`` on a local disk; on an object store, which may have no conditional write, the lease
# is written and read back, and whoever's lease is read back holds it). The holder renews it from a
# background thread; a killed try's lease expires and is taken over. A second push waits, bounded, then
# fails naming the holder. A lease whose holder ran on this machine (the same host name and the same process
# namespace) and whose process is gone is taken over at once: a retry on the worker that was killed need not
# wait out the lease. A holder elsewhere cannot be checked, and its lease is waited out.


def _this_machine() -> str | None:
    """Host name and process-namespace id: two processes that share both can see each other's pids.

    ``None`` where the namespace cannot be read (not Linux): a lease is then never taken over early.
    """
    try:
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return None
    return f"{socket.gethostname()}/{namespace}"


_MACHINE = _this_machine()


def _held_by_a_gone_process_here(holder: dict[str, Any]) -> bool:
    """Whether the lease's holder ran on this machine and its process no longer exists."""
    pid = holder.get("pid")
    if _MACHINE is None or holder.get("machine") != _MACHINE or not isinstance(pid, int) or pid <= 0:
        return False
    if pid == os.getpid():
        return False  # this process holds it (another push in it): wait as for any holder
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists (another user's process, for one): alive as far as we can tell
        return False
    return False


#: A lease lasts this long unless its holder renews it (a third of the way through).
LEASE_SECONDS = 60.0
#: How long a push waits for another's lease before failing: longer than a lease, so that a killed try's
#: stale lease is always taken over in time.
LEASE_WAIT_SECONDS = LEASE_SECONDS + 15.0
_LEASE_FILE = "_lease.json"
_LEASE_POLL_SECONDS = 1.0


class LedgerLease:
    """The lease on one ledger folder (see above); :meth:`acquire` takes it, :meth:`release` gives it back."""

    def __init__(
        self,
        folder: Path | ObjectStoragePath,
        log: Any,
        *,
        seconds: float = LEASE_SECONDS,
        wait: float = LEASE_WAIT_SECONDS,
    ) -> None:
        self._file = folder / _LEASE_FILE
        self._log = log
        self._seconds = seconds
        self._wait = wait
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def acquire(self) -> None:
        deadline = time.monotonic() + self._wait
        waited = False
        while True:
            if self._create():
                if waited:
                    self._log.info("Took the delivery ledger's lease after waiting for another push")
                self._renewer = threading.Thread(target=self._renew, name="linkedin-capi-lease", daemon=True)
                self._renewer.start()
                return
            holder = self._read()
            if holder is None or not holder.get("expires", 0) >= time.time():
                # Expired (a killed try) or unreadable: take it over, unless it changed meanwhile.
                self._remove_if(holder)
                continue
            if _held_by_a_gone_process_here(holder):
                self._log.info(
                    "Taking over the delivery ledger's lease from %s, a process on this machine that is "
                    "no longer running (a killed try)",
                    holder.get("owner"),
                )
                self._remove_if(holder)
                continue
            if time.monotonic() >= deadline:
                until = datetime.fromtimestamp(holder["expires"], UTC).isoformat(timespec="seconds")
                raise LedgerBusyError(
                    f"Another push holds the delivery ledger at {self._file.parent} (owner "
                    f"{holder.get('owner')!r}, lease until {until}, renewed while it runs); this push waited "
                    f"{self._wait:g} s and sent nothing. Two pushes on one ledger would send the same rows "
                    "twice: let the other finish (or fail), then run this one again."
                )
            if not waited:
                self._log.warning(
                    "The delivery ledger is leased by another push (%s); waiting up to %g s",
                    holder.get("owner"),
                    self._wait,
                )
                waited = True
            time.sleep(min(_LEASE_POLL_SECONDS, max(deadline - time.monotonic(), 0.0)))

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
            self._renewer = None
        holder = self._read()
        if holder is not None and holder.get("owner") == self.owner:
            self._remove_if(holder)

    def _body(self) -> bytes:
        return orjson.dumps(
            {
                "owner": self.owner,
                "expires": time.time() + self._seconds,
                "machine": _MACHINE,
                "pid": os.getpid(),
            }
        )

    def _create(self) -> bool:
        local = _local(self._file)
        if local is not None:
            try:
                descriptor = os.open(local, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(descriptor, "wb") as file:
                file.write(self._body())
            return True
        if self._file.exists():
            return False
        write_whole(self._file, self._body())
        holder = self._read()  # no conditional write: whoever's lease is read back holds it
        return holder is not None and holder.get("owner") == self.owner

    def _read(self) -> dict[str, Any] | None:
        try:
            value = orjson.loads(self._file.read_bytes())
        except (OSError, orjson.JSONDecodeError):  # gone, or torn by a killed writer
            return None
        return value if isinstance(value, dict) else None

    def _remove_if(self, holder: dict[str, Any] | None) -> None:
        """Remove the lease file, unless it now holds another lease than ``holder``."""
        if self._read() != holder:
            return
        with contextlib.suppress(FileNotFoundError):
            self._file.unlink()

    def _renew(self) -> None:
        while not self._stop.wait(self._seconds / 3):
            holder = self._read()
            if holder is None or holder.get("owner") != self.owner:
                owner = holder.get("owner") if holder else None
                self._log.warning("The delivery ledger's lease was taken over by %s", owner)
                return
            write_whole(self._file, self._body())


# ----------------------------------------------------------------------------------------------------
# A temporary file of validated events, for ``on_invalid="fail"``.
#
# "Fail before anything is sent" needs every row validated before the first POST, but the query must run
# only once and memory must not grow with the row count. So the validation pass writes events here as JSON
# lines and the send pass reads them back in batches, each with its row number (rows the duplicate filter
# left out leave gaps).


class EventSpool:
    """Append batches of events with their row numbers; read them back as ``(events, rows)`` batches.

    Each line is the row number, a space and the event's JSON, so rows left out before the spool (repeats
    of an earlier row's eventId) leave gaps that are kept, not refused.
    """

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="linkedin-capi-spool-")  # noqa: SIM115 - closed in __exit__
        self.count = 0

    def __enter__(self) -> EventSpool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._file.close()

    def write(self, events: list[dict[str, Any]], rows: Sequence[int]) -> None:
        dumps = orjson.dumps
        lines = [b"%d %s\n" % (row, dumps(event)) for row, event in zip(rows, events, strict=True)]
        self._file.write(b"".join(lines))
        self.count += len(events)

    def batches(self, batch_size: int) -> Iterator[tuple[list[dict[str, Any]], list[int]]]:
        self._file.flush()
        self._file.seek(0)
        loads = orjson.loads
        events: list[dict[str, Any]] = []
        rows: list[int] = []
        for line in self._file:
            row, _, event = line.partition(b" ")
            rows.append(int(row))
            events.append(loads(event))
            if len(events) == batch_size:
                yield events, rows
                events, rows = [], []
        if events:
            yield events, rows
