"""The SQLite candidate cache: keys, atomic sets, claims between processes, refresh, corruption."""

import multiprocessing
import os
import socket
import sqlite3
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfdisc_checks.store.cache import FILENAME, Cache, cache_key
from selfdisc_checks.errors import SelfDiscError

BASE = {
    "kind": "candidates",
    "model": "abc123",
    "task": "gsm8k",
    "question": "test-3",
    "prompt": "p0",
    "sampling": {"samples": 4, "temperature": 0.7, "max_new_tokens": 256, "stop": ["\n"], "seed": 1},
}
values = st.one_of(st.text(max_size=8), st.integers(), st.floats(allow_nan=False))


@given(st.sampled_from(sorted(BASE)), values)
def test_changing_any_part_changes_the_key(part, value):
    changed = {**BASE, part: value}
    if changed[part] != BASE[part]:
        assert cache_key(**changed) != cache_key(**BASE)


@given(st.sampled_from(sorted(BASE["sampling"])), values)
def test_changing_any_sampling_setting_changes_the_key(setting, value):
    sampling = {**BASE["sampling"], setting: value}
    if sampling != BASE["sampling"]:
        assert cache_key(**{**BASE, "sampling": sampling}) != cache_key(**BASE)


def test_key_ignores_argument_order():
    assert cache_key(**BASE) == cache_key(**dict(reversed(list(BASE.items()))))


def test_put_and_get_survive_reopening(tmp_path):
    cache = Cache(tmp_path)
    cache.put("candidates", "k1", ["a", "b"])
    cache.close()
    assert Cache(tmp_path).get_many("candidates", ["k1", "k2"]) == {"k1": ["a", "b"]}


def test_resolve_computes_only_what_is_missing(tmp_path):
    cache = Cache(tmp_path)
    cache.put("candidates", "k1", ["cached"])
    calls = []

    def compute(keys):
        calls.append(list(keys))
        return {k: [f"new {k}"] for k in keys}

    values, computed = cache.resolve("candidates", ["k1", "k2", "k3"], compute, batch_size=1)
    assert values == {"k1": ["cached"], "k2": ["new k2"], "k3": ["new k3"]}
    assert computed == ["k2", "k3"] and calls == [["k2"], ["k3"]]


def test_a_failed_batch_keeps_earlier_batches_and_releases_its_claims(tmp_path):
    cache = Cache(tmp_path)

    def compute(keys):
        if "k2" in keys:
            raise KeyboardInterrupt
        return {k: ["ok"] for k in keys}

    with pytest.raises(KeyboardInterrupt):
        cache.resolve("candidates", ["k1", "k2"], compute, batch_size=1)
    assert cache.get_many("candidates", ["k1", "k2"]) == {"k1": ["ok"]}
    other = Cache(tmp_path)
    other.owner = "elsewhere:1"
    assert other.claim("candidates", ["k2"], limit=5)[0] == ["k2"]


def test_claims_keep_other_workers_off(tmp_path):
    first, second = Cache(tmp_path), Cache(tmp_path)
    second.owner = f"{second.host}:{os.getpid()}-other"
    assert first.claim("candidates", ["a", "b"], limit=1)[0] == ["a"]
    assert second.claim("candidates", ["a", "b"], limit=5)[0] == ["b"]
    assert first.claim("candidates", ["a", "b"], limit=5)[0] == ["a"]  # own claims can be renewed


def test_a_dead_workers_claim_is_taken_over(tmp_path):
    dead = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(0,))
    dead.start()
    dead.join()
    ghost = Cache(tmp_path)
    ghost.pid, ghost.owner = dead.pid, f"{ghost.host}:{dead.pid}"
    assert ghost.claim("candidates", ["a"], limit=1)[0] == ["a"]
    assert Cache(tmp_path).claim("candidates", ["a"], limit=1)[0] == ["a"]


def test_a_silent_remote_claim_goes_stale(tmp_path):
    remote = Cache(tmp_path)
    remote.host, remote.owner = "another-host", "another-host:1"
    remote.claim("candidates", ["a"], limit=1)
    assert Cache(tmp_path).claim("candidates", ["a"], limit=1)[0] == []
    assert Cache(tmp_path, stale_after=0.0).claim("candidates", ["a"], limit=1)[0] == ["a"]


def test_refresh_ignores_entries_older_than_the_session(tmp_path):
    Cache(tmp_path).put("candidates", "k", ["old"])
    refreshed = Cache(tmp_path, refresh_before=time.time() + 1)
    assert refreshed.get_many("candidates", ["k"]) == {}


def test_a_corrupt_database_gets_one_clear_sentence(tmp_path):
    (tmp_path / FILENAME).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(SelfDiscError, match="cannot be used.*--cache-dir"):
        Cache(tmp_path)


def test_the_database_is_real_sqlite_in_wal_mode(tmp_path):
    Cache(tmp_path).put("candidates", "k", ["x"])
    db = sqlite3.connect(tmp_path / FILENAME)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT count(*) FROM entries").fetchone()[0] == 1


def test_a_live_worker_keeps_its_claims_however_long_its_batch_takes(tmp_path):
    """The claim is older than stale_after by the time another machine looks, but its owner renews it."""
    worker = Cache(tmp_path, stale_after=0.4, heartbeat_every=0.05)
    other = Cache(tmp_path, stale_after=0.4)
    other.host, other.owner = "another-machine", "another-machine:1"
    seen = []

    def compute(keys):
        time.sleep(1.0)  # 2.5 x stale_after
        seen.append(other.claim("candidates", keys, limit=5)[0])
        return {k: ["done"] for k in keys}

    worker.resolve("candidates", ["a", "b"], compute, batch_size=2)
    assert seen == [[]], "a live worker's claim was taken over"
    assert other.get_many("candidates", ["a", "b"]) == {"a": ["done"], "b": ["done"]}


def test_a_worker_that_stops_renewing_loses_its_claims(tmp_path):
    hung = Cache(tmp_path, stale_after=0.3)
    hung.claim("candidates", ["a"], limit=1)  # claimed, then silence (no heartbeat outside resolve)
    other = Cache(tmp_path, stale_after=0.3)
    other.host, other.owner = "another-machine", "another-machine:1"
    assert other.claim("candidates", ["a"], limit=1)[0] == []
    time.sleep(0.5)
    assert other.claim("candidates", ["a"], limit=1)[0] == ["a"]


def test_a_claim_from_another_pid_namespace_is_not_judged_by_its_pid(tmp_path):
    """A container with the same host name: its PID means nothing here, so only its heartbeat counts."""
    dead = multiprocessing.get_context("spawn").Process(target=time.sleep, args=(0,))
    dead.start()
    dead.join()
    container = Cache(tmp_path)
    container.host = socket.gethostname() + "/pid:[1]"
    container.pid, container.owner = dead.pid, f"{container.host}:{dead.pid}"
    container.claim("candidates", ["a"], limit=1)
    assert Cache(tmp_path).claim("candidates", ["a"], limit=1)[0] == []  # the PID is dead here, not there
    assert Cache(tmp_path, stale_after=0.0).claim("candidates", ["a"], limit=1)[0] == ["a"]


def test_the_machine_identity_holds_the_pid_namespace_where_there_is_one():
    from selfdisc_checks.store.cache import machine_identity

    identity = machine_identity()
    assert identity.startswith(socket.gethostname())
    if os.path.exists("/proc/self/ns/pid"):
        assert identity.endswith(os.readlink("/proc/self/ns/pid"))


MOUNTS = """overlay / overlay rw 0 0
server:/export /mnt/shared nfs4 rw,relatime 0 0
/dev/sda1 /mnt/shared/local-disk ext4 rw 0 0
//nas/team /mnt/team\\040drive cifs rw 0 0
"""


@pytest.mark.parametrize("folder, kind", [
    ("/mnt/shared/cache", "nfs4"), ("/mnt/shared", "nfs4"), ("/mnt/shared/local-disk/cache", None),
    ("/mnt/sharedx/cache", None), ("/home/me/.selfdisc_cache", None), ("/mnt/team drive/c", "cifs"),
])
def test_a_cache_on_a_network_file_system_is_detected_by_its_mount(folder, kind):
    from selfdisc_checks.store.cache import network_filesystem

    assert network_filesystem(Path(folder), MOUNTS) == kind


def test_this_machines_temporary_folder_is_local(tmp_path):
    from selfdisc_checks.store.cache import network_filesystem

    assert network_filesystem(tmp_path) is None
    Cache(tmp_path / "new" / "folder")  # and a cache opens there
