"""A competing load for energy measurements: a process that keeps one core busy and is no
descendant of ours (a short-lived intermediate starts it and exits, so it is re-parented
away), so that no process-scoped measure may count it as this process's work. It stops
by itself after ``lifetime_s``, so it cannot outlive a benchmark or test that is killed."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time

import psutil

SETTLE_S = 0.5  # the competitor's interpreter starts before a measurement window opens

_SPAWN = (
    "import subprocess, sys\n"
    "code = 'import sys, time\\nd = time.monotonic() + float(sys.argv[1])\\n"
    "while time.monotonic() < d: pass'\n"
    "p = subprocess.Popen([sys.executable, '-c', code, sys.argv[1]],"
    " stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
    "print(p.pid, flush=True)\n"
)


class BusyCore:
    """``with BusyCore(lifetime_s=60) as load: ...``: one core busy meanwhile
    (``load.pid``), started outside this process tree and killed on exit."""

    def __init__(self, lifetime_s: float = 600.0):
        self.lifetime_s = lifetime_s
        self.process: psutil.Process | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def __enter__(self) -> BusyCore:
        out = subprocess.run([sys.executable, "-c", _SPAWN, repr(self.lifetime_s)],
                             capture_output=True, text=True, check=True, timeout=60)
        self.process = psutil.Process(int(out.stdout.split()[0]))
        if self.process.pid in {p.pid for p in psutil.Process().children(recursive=True)}:
            self.__exit__()
            raise RuntimeError("the competing process is still a descendant of this one.")
        time.sleep(SETTLE_S)
        return self

    def __exit__(self, *exc) -> None:
        if self.process is None:
            return
        with contextlib.suppress(psutil.NoSuchProcess):
            self.process.kill()  # psutil refuses a pid reused by another process
            psutil.wait_procs([self.process], timeout=2)
        self.process = None
