"""The one atomic writer: regular files appear whole; devices, FIFOs and `-` are written in place;
output paths that cannot be written are one line; every writer of the project follows the umask."""

from __future__ import annotations

import os
import stat
import threading
from types import SimpleNamespace

import pytest

from toolkit.files import (
    OutputError,
    atomic_open,
    file_mode,
    formula_safe,
    remove_temp_files,
    same_output,
    temp_files,
    write_bytes_atomic,
    write_text_atomic,
)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_atomic_writes_only_regular_files_a_fifo_stays_a_fifo(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    with atomic_open(fifo) as handle:
        handle.write("report_id\nA1\n")
    reader.join(5)
    assert got == [b"report_id\nA1\n"]
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_atomic_write_through_a_symlink_keeps_the_link(tmp_path):
    real = tmp_path / "real.csv"
    real.write_text("old", encoding="utf-8")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    write_text_atomic(link, "new")
    assert link.is_symlink() and real.read_text(encoding="utf-8") == "new"


def test_dash_is_standard_output(capfdbinary):
    with atomic_open("-", newline="") as handle:
        handle.write("a,b\r\n")
    assert capfdbinary.readouterr().out == b"a,b\r\n"


@pytest.mark.parametrize(
    ("make", "target", "message"),
    [
        (
            lambda d: (d / "file").write_text("x", encoding="utf-8"),
            "file/labels.csv",
            "cannot write {d}/file/labels.csv: a parent is a file, not a folder",
        ),
        (lambda d: (d / "sub").mkdir(), "sub", "cannot write {d}/sub: it is a folder"),
    ],
)
def test_unwritable_output_is_one_line(tmp_path, make, target, message):
    make(tmp_path)
    with pytest.raises(OutputError) as err, atomic_open(tmp_path / target) as handle:
        handle.write("x")
    assert str(err.value) == message.format(d=tmp_path)


def test_output_under_proc_is_one_line():
    with pytest.raises(OutputError) as err, atomic_open("/proc/labels.csv") as handle:
        handle.write("x")
    assert str(err.value) == (
        "cannot write /proc/labels.csv: No such file or directory "
        "(is a parent a file, or a folder that cannot hold files?)"
    )


def test_output_in_a_folder_that_refuses_files_is_one_line():
    with pytest.raises(OutputError) as err, atomic_open("/sys/labels.csv") as handle:
        handle.write("x")
    assert str(err.value) == "cannot write /sys/labels.csv: Permission denied"


def test_same_output():
    assert same_output("-", "/dev/stdout") and same_output("a/../b.csv", "b.csv")
    assert not same_output("-", "b.csv")


def test_temp_files_are_registered_and_removed_on_request(tmp_path):
    with pytest.raises(OutputError) as err, atomic_open(tmp_path / "out.csv") as handle:
        (tmp,) = temp_files()
        assert os.path.dirname(tmp) == str(tmp_path) and os.path.exists(tmp)
        handle.write("x")
        remove_temp_files()  # what a worker's SIGTERM handler does
        assert not os.path.exists(tmp)
    assert str(err.value).startswith(f"cannot write {tmp_path}/out.csv: No such file")
    assert temp_files() == [] and list(tmp_path.iterdir()) == []


def test_one_atomic_writer_for_the_whole_project_follows_the_umask(tmp_path):
    """labeler/io.py, classifier/files.py and the checkpoint writer all write through
    toolkit.files, so best.pt gets the same mode as labels.csv (it was 0600)."""
    import torch

    from classifier import files
    from classifier.models import checkpoint
    from labeler.io import atomic_write

    assert files.write_atomic is write_bytes_atomic
    assert files.write_text_atomic is write_text_atomic
    with atomic_write(tmp_path / "labels.csv") as handle:
        handle.write("x")
    files.write_atomic(tmp_path / "film.png", b"x")
    meta = SimpleNamespace(to_dict=dict)  # save() needs only this of the metadata
    checkpoint.save(tmp_path / "best.pt", checkpoint.Checkpoint(meta, {"w": torch.zeros(1)}))
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes == dict.fromkeys(["labels.csv", "film.png", "best.pt"], 0o666 & ~_umask())
    assert file_mode() == 0o666 & ~_umask()


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://x","点击")', '\'=HYPERLINK("http://x","点击")'),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("两肺纹理增多=", "两肺纹理增多="),
        (3, 3),
        (-1, -1),
    ],
)
def test_formula_safe_follows_owasp(cell, written):
    assert formula_safe(cell) == written


def test_a_full_device_is_one_output_error_not_a_traceback(tmp_path):
    # /dev/full accepts open() and fails every write with ENOSPC.
    with pytest.raises(OutputError, match="cannot write /dev/full: No space left on device"):
        write_bytes_atomic("/dev/full", b"x" * 10_000, fsync=True)
    link = tmp_path / "full.csv"
    link.symlink_to("/dev/full")
    with pytest.raises(OutputError, match="No space left on device"):
        write_text_atomic(link, "a,b\n" * 10_000)
