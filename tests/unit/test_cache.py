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

from selfdisc_checks.errors import SelfDiscError, SelfDiscWarning
from selfdisc_checks.store.cache import FILENAME, Cache, cache_key

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


@pytest.mark.parametrize(
    "folder, kind",
    [
        ("/mnt/shared/cache", "nfs4"),
        ("/mnt/shared", "nfs4"),
        ("/mnt/shared/local-disk/cache", None),
        ("/mnt/sharedx/cache", None),
        ("/home/me/.selfdisc_cache", None),
        ("/mnt/team drive/c", "cifs"),
    ],
)
def test_a_cache_on_a_network_file_system_is_detected_by_its_mount(folder, kind):
    from selfdisc_checks.store.cache import network_filesystem

    assert network_filesystem(Path(folder), MOUNTS) == kind


def test_this_machines_temporary_folder_is_local(tmp_path):
    from selfdisc_checks.store.cache import network_filesystem

    assert network_filesystem(tmp_path) is None
    Cache(tmp_path / "new" / "folder")  # and a cache opens there


def test_a_full_disk_keeps_what_was_stored_and_says_how_to_go_on(tmp_path):
    cache = Cache(tmp_path)
    cache.put_many("candidates", {f"k{i}": ["x" * 200] for i in range(20)})
    pages = cache._db.execute("PRAGMA page_count").fetchone()[0]
    cache._db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own "database or disk is full"

    def compute(keys):
        return {key: ["y" * 4000] for key in keys}

    with pytest.raises(
        SelfDiscError,
        match=r"Could not write to the cache database .*full.*MiB free there.*--cache-dir.*"
        r"every question stored before this is kept",
    ) as raised:
        cache.resolve("candidates", [f"n{i}" for i in range(40)], compute, batch_size=4)
    assert "\n" not in str(raised.value)
    cache.close()
    reopened = Cache(tmp_path)
    assert reopened._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert reopened.count("candidates") == 20 and not reopened.get_many("candidates", ["n0"])
    assert reopened._db.execute("SELECT count(*) FROM claims").fetchone()[0] == 0  # nothing left claimed


def test_streamed_values_are_written_once(tmp_path):
    cache = Cache(tmp_path)
    cache.put_many("candidates", {"old": [1]})
    writes = []
    cache._db.set_trace_callback(
        lambda sql: writes.append(sql) if sql.startswith("INSERT OR REPLACE INTO entries") else None
    )

    def compute(keys, store):
        store({keys[0]: ["first"]})
        return {key: [key] if key != keys[0] else ["first"] for key in keys}

    values, computed = cache.resolve("candidates", ["a", "b", "c"], compute, batch_size=3, streams=True)
    assert values == {"a": ["first"], "b": ["b"], "c": ["c"]} and computed == ["a", "b", "c"]
    assert len(writes) == 3  # a once (streamed), then b and c: executemany traces each row


def test_a_database_from_a_newer_schema_is_refused_and_left_alone(tmp_path):
    cache = Cache(tmp_path)
    cache.put("candidates", "k1", ["a"])
    cache._db.execute("PRAGMA user_version = 99")
    cache.close()
    with pytest.raises(
        SelfDiscError,
        match=r"written by a newer selfdisc-checks \(cache schema 99; this version reads "
        r"2\); upgrade selfdisc-checks, or pass another --cache-dir",
    ):
        Cache(tmp_path)
    with sqlite3.connect(tmp_path / FILENAME) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 99
        assert db.execute("SELECT count(*) FROM entries").fetchone()[0] == 1


def test_a_new_database_records_its_schema_and_an_old_one_gets_it(tmp_path):
    Cache(tmp_path).close()
    with sqlite3.connect(tmp_path / FILENAME) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
        db.execute("PRAGMA user_version = 0")  # as a database made before the stamp
    Cache(tmp_path).close()
    with sqlite3.connect(tmp_path / FILENAME) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2


def test_a_newer_cache_file_beside_ours_is_named_in_a_warning(tmp_path):
    (tmp_path / "selfdisc-v7.sqlite").write_bytes(b"")
    (tmp_path / "selfdisc-v1.sqlite").write_bytes(b"")
    with pytest.warns(
        SelfDiscWarning,
        match=r"also holds selfdisc-v7.sqlite from a newer selfdisc-checks.*samples into "
        r"selfdisc-v2.sqlite instead; upgrade",
    ):
        Cache(tmp_path).close()


def test_the_cache_folder_is_tagged_as_a_cache_and_ignored_by_git(tmp_path):
    folder = tmp_path / "cache"
    Cache(folder).close()
    assert (folder / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55")
    assert (folder / ".gitignore").read_text().splitlines()[-1] == "*"
    (folder / ".gitignore").write_text("mine\n")
    Cache(folder).close()  # a file that is there is left as it is
    assert (folder / ".gitignore").read_text() == "mine\n"
