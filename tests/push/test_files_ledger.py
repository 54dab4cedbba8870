"""Delivery-ledger parts are written whole, and a torn part left by an older run does not break retries.

A worker killed (or a disk filled) while a part is written must not leave a part that every later run
chokes on: parts go to a temporary file renamed into place on local disks, and up in one PUT on object
stores. A torn part from before (a streamed write cut short) is skipped with a warning, so its events are
sent again instead of the task failing on every retry.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import logging
import socket
import subprocess
import sys
import time
import uuid

import orjson
import pytest
from airflow.sdk import ObjectStoragePath
from airflow.sdk.io import attach
from fsspec.implementations.memory import MemoryFileSystem

from airflow_provider_linkedin_capi.exceptions import LedgerBusyError
from airflow_provider_linkedin_capi.push import files
from airflow_provider_linkedin_capi.push.files import DeliveryLedger, LedgerLease


def _event(n: int) -> dict:
    return {"eventId": f"e{n}"}


def _digest(event_id: str) -> bytes:
    return hashlib.blake2b(event_id.encode(), digest_size=8).digest()


class _TornFile:
    """A file whose writes stop halfway through, then fail: a disk filling up, or a worker dying."""

    def __init__(self, file):
        self._file = file

    def write(self, data) -> int:
        self._file.write(bytes(data)[: len(data) // 2 + 3])
        self._file.flush()
        raise OSError(28, "No space left on device")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._file.close()

    def __getattr__(self, name):
        return getattr(self._file, name)


@pytest.fixture
def torn_writes_under(monkeypatch):
    """``torn_writes_under(folder)``: every file opened for writing under ``folder`` is torn."""
    real_open = builtins.open

    def arm(folder):
        def torn_open(file, mode="r", *args, **kwargs):
            opened = real_open(file, mode, *args, **kwargs)
            if "w" in str(mode) and str(file).startswith(str(folder)):
                return _TornFile(opened)
            return opened

        monkeypatch.setattr(builtins, "open", torn_open)

    return arm


def test_a_write_that_fails_halfway_leaves_no_part_behind(tmp_path, torn_writes_under):
    folder = tmp_path / "ledger"
    ledger = DeliveryLedger(str(folder))
    ledger.record(["e1", "e2"])
    torn_writes_under(folder)
    with pytest.raises(OSError, match="No space"):
        ledger.record([f"e{n}" for n in range(10, 20)])
    assert sorted(p.suffix for p in folder.iterdir()) == [".bin"]  # only the first part, no temp file
    later = DeliveryLedger(str(folder))
    assert later.loaded == 2
    assert later.delivered([_event(1), _event(2), _event(10)]) == [True, True, False]


@pytest.mark.parametrize(
    "torn",
    [
        pytest.param(_digest("e7") + _digest("e8")[:5], id="legacy-not-a-multiple-of-8"),
        pytest.param(b"LCAPILD1" + (3).to_bytes(8, "little") + _digest("e7") + _digest("e8"), id="short"),
        pytest.param(b"LCAPILD1" + (1).to_bytes(8, "little") + _digest("e7") * 2, id="long"),
        pytest.param(b"LCAPI", id="cut-in-the-header"),
    ],
)
def test_a_torn_part_from_an_older_run_is_skipped_with_a_warning(tmp_path, caplog, torn):
    folder = tmp_path / "ledger"
    DeliveryLedger(str(folder)).record(["e1", "e2"])
    (folder / "part-torn.bin").write_bytes(torn)
    with caplog.at_level(logging.WARNING):
        ledger = DeliveryLedger(str(folder))
    assert ledger.loaded == 2
    assert ledger.delivered([_event(1), _event(2), _event(7), _event(8)]) == [True, True, False, False]
    assert "part-torn.bin" in caplog.text
    assert "torn" in caplog.text


def test_parts_written_before_the_header_existed_are_still_read(tmp_path):
    folder = tmp_path / "ledger"
    folder.mkdir()
    (folder / "part-legacy.bin").write_bytes(_digest("e3") + _digest("e4"))
    ledger = DeliveryLedger(str(folder))
    assert ledger.loaded == 2
    assert ledger.delivered([_event(3), _event(4), _event(5)]) == [True, True, False]


class _CountingMemoryFileSystem(MemoryFileSystem):
    """An in-memory object store that counts whole-object PUTs and writes streamed through ``open``.

    (fsspec's generic ``pipe_file`` writes through ``open`` itself; S3 and GCS send one PUT instead.)
    """

    protocol = ("memory",)
    puts = 0
    streamed = 0
    _in_put = False

    def pipe_file(self, path, value, *args, **kwargs):
        type(self).puts += 1
        type(self)._in_put = True
        try:
            return super().pipe_file(path, value, *args, **kwargs)
        finally:
            type(self)._in_put = False

    def _open(self, path, mode="rb", *args, **kwargs):
        if "w" in mode and not self._in_put:
            type(self).streamed += 1
        return super()._open(path, mode, *args, **kwargs)


def test_on_an_object_store_each_part_is_one_put_and_torn_objects_are_skipped(caplog):
    _CountingMemoryFileSystem.puts = _CountingMemoryFileSystem.streamed = 0
    attach(protocol="memory", fs=_CountingMemoryFileSystem())
    uri = f"memory://ledger-test-{uuid.uuid4().hex}/2026-11-30"
    ledger = DeliveryLedger(uri)
    ledger.record(["e1", "e2"])
    ledger.record(["e3"])
    assert ObjectStoragePath(uri).exists()
    assert (_CountingMemoryFileSystem.puts, _CountingMemoryFileSystem.streamed) == (2, 0)

    (ObjectStoragePath(uri) / "part-torn.bin").write_bytes(b"\x01" * 13)
    with caplog.at_level(logging.WARNING):
        later = DeliveryLedger(uri)
    assert later.loaded == 3
    assert later.delivered([_event(n) for n in range(1, 5)]) == [True, True, True, False]
    assert "part-torn.bin" in caplog.text


# ---------------------------------------------------------------------------------------- the lease


def test_a_second_push_waits_for_the_lease_then_fails_naming_the_holder(tmp_path):
    log = logging.getLogger("test.lease")
    holder = LedgerLease(tmp_path, log)
    holder.acquire()
    try:
        started = time.monotonic()
        with pytest.raises(LedgerBusyError, match=f"owner '{holder.owner}'.*sent nothing"):
            LedgerLease(tmp_path, log, wait=1.5).acquire()
        assert time.monotonic() - started >= 1.5  # it waited, bounded
    finally:
        holder.release()
    follower = LedgerLease(tmp_path, log, wait=1.5)
    follower.acquire()  # free again once released
    follower.release()
    assert not (tmp_path / "_lease.json").exists()


def test_a_stale_lease_from_a_killed_try_is_taken_over(tmp_path):
    (tmp_path / "_lease.json").write_bytes(b'{"owner": "worker-1:4242:dead", "expires": 1}')
    lease = LedgerLease(tmp_path, logging.getLogger("test.lease"), wait=1.0)
    lease.acquire()
    try:
        assert json.loads((tmp_path / "_lease.json").read_text())["owner"] == lease.owner
    finally:
        lease.release()


def test_the_holder_renews_its_lease_while_it_runs(tmp_path):
    lease = LedgerLease(tmp_path, logging.getLogger("test.lease"), seconds=0.6)
    lease.acquire()
    try:
        first = json.loads((tmp_path / "_lease.json").read_text())["expires"]
        deadline = time.monotonic() + 10
        while json.loads((tmp_path / "_lease.json").read_text())["expires"] == first:
            assert time.monotonic() < deadline, "the lease was never renewed"
            time.sleep(0.05)
        # Renewed before it ran out: a second push still finds it held.
        with pytest.raises(LedgerBusyError):
            LedgerLease(tmp_path, logging.getLogger("test.lease"), wait=1.0).acquire()
    finally:
        lease.release()


def test_a_push_takes_the_lease_before_it_reads_the_ledger_and_gives_it_back(tmp_path):
    ledger = DeliveryLedger.leased(str(tmp_path / "ledger"), logging.getLogger("test.lease"))
    assert (tmp_path / "ledger" / "_lease.json").exists()
    ledger.record(["e1"])
    ledger.close()
    assert not (tmp_path / "ledger" / "_lease.json").exists()
    assert DeliveryLedger(str(tmp_path / "ledger")).loaded == 1  # reading needs no lease


def _lease_of(pid: int, machine: str | None) -> bytes:
    owner = f"{socket.gethostname()}:{pid}:x"
    return orjson.dumps({"owner": owner, "expires": time.time() + 3600, "machine": machine, "pid": pid})


@pytest.mark.skipif(files._MACHINE is None, reason="no process namespace to compare (not Linux)")
def test_a_live_lease_of_a_process_gone_from_this_machine_is_taken_over_at_once(tmp_path):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # exited and reaped: its pid names no process now
    (tmp_path / "_lease.json").write_bytes(_lease_of(gone.pid, files._MACHINE))
    lease = LedgerLease(tmp_path, logging.getLogger("test.lease"), wait=0.0)
    lease.acquire()  # no wait at all: with wait=0 a lease still held would raise LedgerBusyError
    lease.release()


@pytest.mark.skipif(files._MACHINE is None, reason="no process namespace to compare (not Linux)")
def test_a_lease_of_a_running_process_or_of_another_machine_is_waited_out(tmp_path):
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for body in (_lease_of(alive.pid, files._MACHINE), _lease_of(2**22 + 7, "other-host/1")):
            (tmp_path / "_lease.json").write_bytes(body)
            with pytest.raises(LedgerBusyError):
                LedgerLease(tmp_path, logging.getLogger("test.lease"), wait=0.0).acquire()
    finally:
        alive.kill()
        alive.wait()
