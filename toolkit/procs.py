"""Worker processes that die with their parent, and SIGTERM that leaves no temporary file.

`guard_processes()` is called once by the cxrlabel and cxrclf entry points. From then on:

- every process forked from this one (the workers of a ProcessPoolExecutor, of `extract
  --workers N` and `dataset build --workers N`) asks the kernel for SIGTERM when its parent dies
  (Linux PR_SET_PDEATHSIG), so killing the main process, even with SIGKILL, ends its workers too;
  elsewhere a thread in the worker polls its parent id instead;
- SIGTERM in a worker removes the temporary files it was writing and exits;
- SIGTERM in the main process terminates its workers, then raises SystemExit(143), so every
  `atomic_open` block unwinds and removes its temporary file.

Pools created with another start method than fork (spawn, forkserver) run no fork hook: their
initializer should call `die_with_parent()` itself.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import time

from toolkit.files import remove_temp_files

SIGTERM_EXIT = 128 + signal.SIGTERM
_PR_SET_PDEATHSIG = 1
_installed = False
_fork_from_main_thread = True  # set just before each fork; read in the child


def _prctl_pdeathsig(sig: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int, every: float = 0.5) -> None:
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        _exit_on_sigterm(signal.SIGTERM, None)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def _exit_on_sigterm(signum, frame) -> None:  # noqa: ARG001 - a signal handler's signature
    remove_temp_files()
    os._exit(SIGTERM_EXIT)


def die_with_parent(parent: int | None = None, kernel: bool = True) -> None:
    """Make this (worker) process end when `parent` (default: its parent now) ends, removing
    its temporary files. `kernel=False` skips PR_SET_PDEATHSIG, which fires when the *thread*
    that forked us ends, and polls the parent instead."""
    parent = os.getppid() if parent is None else parent
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if not (kernel and _prctl_pdeathsig(signal.SIGTERM)):
        _watch_parent(parent)
    if os.getppid() != parent:  # the parent died before the request took effect
        _exit_on_sigterm(signal.SIGTERM, None)


def _before_fork() -> None:
    global _fork_from_main_thread
    _fork_from_main_thread = threading.current_thread() is threading.main_thread()


def _after_fork_in_child() -> None:
    # the hooks are inherited, so a worker's own children die with it in turn
    die_with_parent(kernel=_fork_from_main_thread)


def terminate_children(grace: float = 2.0) -> None:
    """SIGTERM every child process started through multiprocessing; SIGKILL the ones still
    alive after `grace` seconds."""
    children = multiprocessing.active_children()
    for child in children:
        with contextlib.suppress(OSError, AttributeError):
            child.terminate()
    deadline = time.monotonic() + grace
    for child in children:
        child.join(max(0.0, deadline - time.monotonic()))
        if child.is_alive():
            with contextlib.suppress(OSError, AttributeError):
                child.kill()


def _main_sigterm(signum, frame) -> None:  # noqa: ARG001
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the cleanup
    terminate_children()
    raise SystemExit(SIGTERM_EXIT)


def guard_processes() -> None:
    """Install the fork hooks and the main-process SIGTERM handler (once per process)."""
    global _installed
    if _installed:
        return
    _installed = True
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _main_sigterm)
