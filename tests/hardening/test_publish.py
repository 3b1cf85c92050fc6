"""Output folders are complete or absent: staging + one rename, a lock, no stale files, umask, one-line FS errors."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import time

import pytest

from pseudoprog.errors import FileSystemError
from pseudoprog.flow.publish import staged_folder


def _files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def test_previous_result_stays_until_the_new_one_is_complete_and_no_stale_file_survives(tmp_path):
    dest = tmp_path / "out"
    with staged_folder(dest) as stage:
        (stage / "a.json").write_text("run 1")
        (stage / "only-in-run-1.dcm").write_text("x")
    with staged_folder(dest) as stage:
        (stage / "a.json").write_text("run 2")
        assert (dest / "a.json").read_text() == "run 1"  # the previous result is untouched while writing
    assert _files(dest) == ["a.json"] and (dest / "a.json").read_text() == "run 2"
    assert [p.name for p in tmp_path.iterdir() if p.name != ".out.lock"] == ["out"]


def test_a_failed_run_leaves_the_previous_result_and_no_staging(tmp_path):
    dest = tmp_path / "out"
    with staged_folder(dest) as stage:
        (stage / "a.json").write_text("good")
    with pytest.raises(RuntimeError), staged_folder(dest) as stage:
        (stage / "a.json").write_text("half")
        raise RuntimeError("stage crashed")
    assert (dest / "a.json").read_text() == "good"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.lock", "out"]


def test_leftovers_of_a_killed_run_are_removed_by_the_next(tmp_path):
    dest = tmp_path / "out"
    (tmp_path / ".out.abc123.partial").mkdir()
    (tmp_path / ".out.abc123.partial" / "sr.dcm").write_text("orphan")
    with staged_folder(dest) as stage:
        (stage / "a.json").write_text("x")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.lock", "out"]


def test_files_and_folders_follow_the_umask(tmp_path):
    from pseudoprog.files import write_atomic

    old = os.umask(0o022)
    try:
        with staged_folder(tmp_path / "out") as stage:
            write_atomic(stage / "sub" / "a.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "out" / "sub" / "a.json").stat().st_mode) == 0o644


def test_a_second_concurrent_run_on_the_same_folder_is_refused(tmp_path):
    dest = tmp_path / "out"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from pseudoprog.flow.publish import staged_folder
                with staged_folder({str(dest)!r}) as stage:
                    print("holding", flush=True)
                    time.sleep(30)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        start = time.perf_counter()
        with pytest.raises(FileSystemError, match="another pseudoprog run"), staged_folder(dest):
            pass
        assert time.perf_counter() - start < 1.0
    finally:
        holder.kill()
        holder.wait()
    with staged_folder(dest) as stage:  # the kernel dropped the killed holder's lock
        (stage / "a").write_text("x")
    assert _files(dest) == ["a"]


def test_destination_that_is_a_file_is_a_one_line_error(tmp_path):
    (tmp_path / "out").write_text("not a folder")
    with pytest.raises(FileSystemError, match="is a file, not a folder") as err, staged_folder(tmp_path / "out"):
        pass
    assert "\n" not in str(err.value) and str(tmp_path / "out") in str(err.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_destination_is_a_one_line_error(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(FileSystemError, match="Permission denied") as err, staged_folder(ro / "out"):
            pass
        assert str(ro) in str(err.value)
    finally:
        ro.chmod(0o755)


def test_disk_full_leaves_no_partial_result(tmp_path, monkeypatch):
    import errno

    dest = tmp_path / "out"
    with staged_folder(dest) as stage:
        (stage / "a.json").write_text("good")
    with pytest.raises(FileSystemError, match="No space left") as err, staged_folder(dest) as stage:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(stage / "report.pdf"))
    assert "report.pdf" in str(err.value) and "\n" not in str(err.value)
    assert _files(dest) == ["a.json"] and (dest / "a.json").read_text() == "good"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.lock", "out"]
