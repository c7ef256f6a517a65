"""Temporary files of killed writers are removed by the next write of the same output; live ones never."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evgen.io import EventWriter, read_events, write_events
from evgen.io.tempfiles import process_alive, remove_stale_temporaries, stale_temporaries, temporary_path
from tests.conftest import make_collider_events


def _dead_pid() -> int:
    """The PID of a process that has ended."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert not process_alive(proc.pid)
    return proc.pid


@pytest.fixture
def live_process():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc.pid
    proc.kill()
    proc.wait()


def test_stale_is_removed_live_and_foreign_are_kept(tmp_path, live_process):
    target = tmp_path / "gen.root"
    dead = temporary_path(target, pid=_dead_pid())
    legacy_dead = tmp_path / f".gen.root.{_dead_pid()}.tmp"  # the name evgen used before hosts
    live = temporary_path(target, pid=live_process)
    other_host = tmp_path / f".gen.root.some-other-node.{_dead_pid()}.tmp"
    other_output = tmp_path / f".other.root.{_dead_pid()}.tmp"
    for path in (dead, legacy_dead, live, other_host, other_output):
        path.write_bytes(b"half-written")
    assert stale_temporaries(target) == sorted([dead, legacy_dead])
    write_events(target, make_collider_events(30))
    assert not dead.exists() and not legacy_dead.exists()
    assert live.exists() and other_host.exists() and other_output.exists()
    assert len(read_events(target)) == 30


def test_writer_reports_what_it_removed(tmp_path):
    target = tmp_path / "out.root"
    dead = temporary_path(target, pid=_dead_pid())
    dead.write_bytes(b"x")
    with EventWriter(target) as writer:
        writer.extend(make_collider_events(10))
    assert writer.removed_stale == [dead]
    assert remove_stale_temporaries(target) == []


def test_a_killed_generate_leaves_a_temp_file_the_next_run_removes(tmp_path):
    """kill -9 during a write leaves the hidden file; the next write of the same output removes it."""
    target = tmp_path / "big.root"
    script = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})\n"
        "from tests.conftest import make_collider_events\n"
        "from evgen.io import EventWriter\n"
        "events = make_collider_events(2000, seed=1)\n"
        f"with EventWriter({str(target)!r}) as w:\n"
        "    w.extend(events)\n"
        "    print('written', flush=True)\n"
        "    import time; time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "written"
        left = temporary_path(target, pid=proc.pid)
        assert left.exists() and not target.exists()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    for _ in range(50):
        if not process_alive(proc.pid):
            break
        time.sleep(0.05)
    assert left.exists()
    write_events(target, make_collider_events(5))
    assert not left.exists() and len(read_events(target)) == 5
