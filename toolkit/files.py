"""The project's one atomic writer.

A regular file is written to a temporary file beside it and moved into place with os.replace
only when the write succeeded, so a reader or a rerun never sees half a file. Everything else is
written straight through: `-` is standard output, and an existing device, FIFO or socket (such as
/dev/stdout or /dev/null) is opened as it is, never replaced by a regular file. A symlink to a
regular file is followed, so the link stays a link. New files get the permissions any other new
file would (0666 less the umask), not mkstemp's 0600.

Temporary files are registered while they exist, so a SIGTERM handler can remove them
(`remove_temp_files`); problems with the output path are one-line `OutputError`s.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

STDIO = "-"
_SPECIAL = ("/dev/", "/proc/")  # names of open files and devices, never renamed over
_STDOUT_NAMES = ("/dev/stdout", "/dev/fd/1", "/proc/self/fd/1")


class OutputError(ValueError):
    """An output path that cannot be written; the message is one line naming the path."""


def _read_umask() -> int:
    try:  # Linux reports it without changing it (os.umask would, briefly, for every thread)
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()
_LIVE: set[tuple[int, str]] = set()  # (pid, path) of the temporary files being written
_LIVE_LOCK = threading.Lock()


def file_mode() -> int:
    """The mode of a new output file: 0666 less the umask the process started with."""
    return 0o666 & ~_UMASK


def temp_files() -> list[str]:
    """The temporary files this process is writing now."""
    pid = os.getpid()
    with _LIVE_LOCK:
        return sorted(p for owner, p in _LIVE if owner == pid)


def remove_temp_files() -> None:
    """Delete this process's temporary files (from a signal handler, before exiting)."""
    for path in temp_files():
        with contextlib.suppress(OSError):
            os.unlink(path)


def _cannot(path: str | Path, exc: OSError) -> OutputError:
    reason = exc.strerror or str(exc)
    if isinstance(exc, FileNotFoundError | NotADirectoryError | FileExistsError):
        reason = f"{reason} (is a parent a file, or a folder that cannot hold files?)"
    return OutputError(f"cannot write {path}: {reason}")


# What a write itself can meet (a full disk or quota, /dev/full, a file too large, a failing
# device): reported as the output's fault, one line, not a traceback.
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})


@contextlib.contextmanager
def _write_errors(path: str | Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        if exc.errno in _WRITE_ERRNOS:
            raise _cannot(path, exc) from exc
        raise


def _regular_target(path: Path) -> Path | None:
    """The regular file to replace for `path`, or None when `path` is an existing non-regular
    file (device, FIFO, socket) that must be written in place."""
    try:
        info = os.stat(path)  # follows symlinks
    except FileNotFoundError:
        info = None
    except NotADirectoryError as exc:
        raise OutputError(f"cannot write {path}: a parent is a file, not a folder") from exc
    except OSError as exc:
        raise _cannot(path, exc) from exc
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise OutputError(f"cannot write {path}: it is a folder")
    if info is not None and not stat.S_ISREG(info.st_mode):
        return None
    if info is not None and os.path.abspath(path).startswith(_SPECIAL):
        return None  # /dev/stdout redirected to a file: the shell's file, written in place
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    parent = target.parent
    if parent.exists() and not parent.is_dir():
        raise OutputError(f"cannot write {path}: {parent} is a file, not a folder")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise OutputError(f"cannot write {path}: a parent of it is a file, not a folder") from exc
    except OSError as exc:
        raise _cannot(path, exc) from exc
    return target


@contextlib.contextmanager
def _stdout(binary: bool, encoding: str, newline: str | None) -> Iterator[IO]:
    sys.stdout.flush()
    buffer = sys.stdout.buffer
    if binary:
        yield buffer
        buffer.flush()
        return
    handle = io.TextIOWrapper(buffer, encoding=encoding, newline=newline)
    try:
        yield handle
        handle.flush()
    finally:
        handle.detach()  # standard output stays open for whatever is printed next


@contextlib.contextmanager
def atomic_open(
    path: str | Path,
    mode: str = "w",
    *,
    encoding: str = "utf-8",
    newline: str | None = None,
    bom: bool = False,
    fsync: bool = False,
) -> Iterator[IO]:
    """Open `path` for writing ("w" or "wb"); the file appears whole or not at all.

    `bom` starts a text file with a UTF-8 byte-order mark (Excel then reads it as UTF-8);
    `fsync` flushes it to disk before the rename (checkpoints).
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes only, mode 'w' or 'wb', not {mode!r}")
    binary = mode == "wb"
    text_args = {} if binary else {"encoding": "utf-8-sig" if bom else encoding, "newline": newline}
    if is_stdout(path):
        with _stdout(binary, text_args.get("encoding", encoding), newline) as handle:
            yield handle
        return
    path = Path(path)
    target = _regular_target(path)
    if target is None:  # a device or FIFO: written in place, never replaced
        try:
            handle = open(path, mode, **text_args)  # noqa: SIM115 - closed below
        except OSError as exc:
            raise _cannot(path, exc) from exc
        with _write_errors(path), handle:
            yield handle
        return
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise _cannot(path, exc) from exc
    key = (os.getpid(), tmp)
    with _LIVE_LOCK:
        _LIVE.add(key)
    try:
        os.chmod(tmp, file_mode())
        with _write_errors(path), os.fdopen(fd, mode, **text_args) as handle:
            yield handle
            handle.flush()
            if fsync:
                os.fsync(handle.fileno())
        try:
            os.replace(tmp, target)
        except OSError as exc:
            raise _cannot(path, exc) from exc
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(key)


def write_bytes_atomic(path: str | Path, data: bytes, fsync: bool = False) -> None:
    with atomic_open(path, "wb", fsync=fsync) as handle:
        handle.write(data)


def write_text_atomic(path: str | Path, text: str, bom: bool = False) -> None:
    """Text as UTF-8 (with a byte-order mark when `bom`); newlines written as given."""
    with atomic_open(path, "w", newline="", bom=bom) as handle:
        handle.write(text)


def is_stdout(path: str | Path) -> bool:
    """`-`, or a name of standard output: written through sys.stdout, so what else the program
    prints there stays in order."""
    return str(path) == STDIO or os.path.abspath(path) in _STDOUT_NAMES


def same_output(a: str | Path, b: str | Path) -> bool:
    """Whether two output arguments name one file (both `-`, or one path however spelled)."""
    if is_stdout(a) or is_stdout(b):
        return is_stdout(a) and is_stdout(b)
    return os.path.realpath(a) == os.path.realpath(b)


# A cell a spreadsheet would run as a formula starts with one of these (OWASP, "CSV Injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def formula_safe(cell: object) -> object:
    """A CSV cell for people: text that a spreadsheet would read as a formula gets a leading
    apostrophe ('=HYPERLINK(…) shows as text), as OWASP advises. Numbers pass as they are.
    Machine outputs (labels.csv, manifests, predictions) do not use this: their ids stay
    byte-exact for joins."""
    if isinstance(cell, str) and cell.startswith(_FORMULA_START):
        return "'" + cell
    return cell
