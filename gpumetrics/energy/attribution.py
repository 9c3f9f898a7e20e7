"""The run's share of what the machine used: the CPU time of the profiled process tree, its
resident memory over time, and its share of each GPU's work.

Energy counters (RAPL, NVML) and the estimates built on ratings measure a whole CPU
package, a whole DRAM channel, a whole GPU. A profile of one run attributes them:

* CPU: the CPU seconds of the profiled process and its descendants (every thread; children
  that ended and were waited for too), from the kernel's accounting. Seconds spent
  compiling kernels (Numba) and in the profiler's own sampling thread are not the run's
  and are reported apart;
* DRAM: the tree's resident memory integrated over time (GB x s), sampled;
* GPU: the tree's share of the SM utilisation NVML reports per process; without such
  figures, the device's energy with a note that says so.
"""

from __future__ import annotations

import os
import threading
import time

try:
    import resource
except ImportError:  # pragma: no cover - not POSIX
    resource = None

import psutil

RSS_PERIOD_S = 1.0  # resident memory changes slowly; listing a process tree costs a scan


class CompileMeter:
    """CPU seconds spent holding Numba's compiler lock (compiling, or loading compiled
    kernels from the cache) in this process since ``start()``: one thread's CPU clock read
    at the outermost acquisition and its release, so waiting for the lock costs nothing.
    Nothing is measured where Numba is not installed."""

    def __init__(self):
        self.seconds = 0.0
        self.events = 0
        self._local = threading.local()
        self._lock = threading.Lock()
        self._listener = None

    def start(self) -> None:
        try:
            from numba.core import event
        except ImportError:  # pragma: no cover - numba is a dependency
            return
        meter = self

        class _Listener(event.Listener):
            def on_start(self, ev):
                depth = getattr(meter._local, "depth", 0)
                if depth == 0:
                    meter._local.t0 = time.thread_time()
                meter._local.depth = depth + 1

            def on_end(self, ev):
                depth = getattr(meter._local, "depth", 0) - 1
                meter._local.depth = max(depth, 0)
                if depth == 0:
                    spent = time.thread_time() - meter._local.t0
                    with meter._lock:
                        meter.seconds += spent
                        meter.events += 1

        self._listener = _Listener()
        event.register("numba:compiler_lock", self._listener)
        self._event = event

    def stop(self) -> None:
        if self._listener is not None:
            self._event.unregister("numba:compiler_lock", self._listener)
            self._listener = None


def _children(pid: int) -> list[int]:
    """The pids of a process's children, from ``/proc/<pid>/task/<tid>/children``."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    found: list[int] = []
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                found += [int(c) for c in f.read().split()]
        except OSError:
            continue
    return found


_PROC_CHILDREN = os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children")


class ProcessTree:
    """A process and its descendants, as the kernel accounts for them."""

    def __init__(self, pid: int | None = None):
        pid = os.getpid() if pid is None else int(pid)
        try:
            self.root = psutil.Process(pid)
        except psutil.NoSuchProcess:
            raise ValueError(f"pid {pid} is not a running process.") from None
        self.pid = pid
        self._last_cpu = 0.0

    def _members(self) -> list[psutil.Process]:
        """The root, then its descendants, parents before children (a child reaped in
        between is missed for one reading, never counted twice)."""
        if not _PROC_CHILDREN:
            try:
                return [self.root] + self.root.children(recursive=True)
            except psutil.NoSuchProcess:
                return []
        # Linux lists each thread's children: reading the tree costs a few small reads,
        # where psutil scans every process of the machine to find the parents
        members, queue = [self.root], [self.pid]
        while queue:
            for child in _children(queue.pop(0)):
                try:
                    members.append(psutil.Process(child))
                except psutil.NoSuchProcess:
                    continue
                queue.append(child)
        return members

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the tree so far: each live member's own and those
        of its children that ended and were waited for. Never decreases (a child counted
        neither alive nor yet waited for, for an instant, is picked up at the next read).
        This process's own figures come from the scheduler's nanosecond clock, others from
        the kernel's per-process accounting (10 ms ticks)."""
        total = 0.0
        for member in self._members():
            if member.pid == os.getpid() and resource is not None:
                children = resource.getrusage(resource.RUSAGE_CHILDREN)
                total += time.process_time() + children.ru_utime + children.ru_stime
                continue
            try:
                t = member.cpu_times()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            total += t.user + t.system + t.children_user + t.children_system
        self._last_cpu = max(self._last_cpu, total)
        return self._last_cpu

    def rss_bytes(self) -> int:
        total = 0
        for member in self._members():
            try:
                total += member.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        return total

    def pids(self) -> set[int]:
        return {m.pid for m in self._members()}


def cpu_seconds(cpus: list[int] | None = None) -> tuple[float, float, int]:
    """Busy and total CPU seconds so far over the given logical CPUs (all by default), as
    the machine's counters see them (every process's work), and how many of those CPUs the
    kernel reported. Guest time is inside user time on Linux and is not counted twice."""
    per_cpu = psutil.cpu_times(percpu=True)
    chosen = range(len(per_cpu)) if cpus is None else [i for i in cpus if i < len(per_cpu)]
    busy = total = 0.0
    for i in chosen:
        t = per_cpu[i]
        everything = sum(t) - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0)
        busy += everything - t.idle - getattr(t, "iowait", 0.0)
        total += everything
    return busy, total, len(chosen)


class GpuShare:
    """The process tree's share of each GPU's work: the SM utilisation samples NVML keeps
    per process, summed for the tree's processes over the sum for all processes. A window
    in which no process used the SMs splits by the processes holding a context on the
    device. ``share()`` is None, with a reason, where NVML gives no per-process figures
    (unsupported, or process ids from another PID namespace, as in a container)."""

    def __init__(self, nvml, devices: list[tuple[str, object]]):
        self.nvml = nvml
        self.devices = devices
        self.seen = {c: 0 for c, _ in devices}  # NVML's timestamp of the last sample read
        self.ours = {c: 0.0 for c, _ in devices}
        self.all = {c: 0.0 for c, _ in devices}
        self.contexts = {c: [0, 0] for c, _ in devices}  # (ours, all) processes, summed
        self.unavailable: dict[str, str] = {}

    def start(self) -> None:
        for c, h in self.devices:
            try:  # the samples before the profile are not the run's
                samples = self.nvml.nvmlDeviceGetProcessUtilization(h, 0)
                self.seen[c] = max((s.timeStamp for s in samples), default=0)
            except Exception as exc:
                if not _no_samples(exc):
                    self.unavailable[c] = f"NVML gives no per-process utilisation ({exc})"

    def sample(self, pids: set[int]) -> None:
        for c, h in self.devices:
            if c in self.unavailable:
                continue
            try:
                samples = self.nvml.nvmlDeviceGetProcessUtilization(h, self.seen[c])
            except Exception as exc:
                if not _no_samples(exc):
                    self.unavailable[c] = f"NVML gives no per-process utilisation ({exc})"
                samples = []
            fresh = [s for s in samples if s.timeStamp > self.seen[c]]
            if fresh and not any(psutil.pid_exists(s.pid) for s in fresh):
                self.unavailable[c] = ("NVML reports process ids of another PID namespace "
                                       "(a container?)")
                continue
            for s in fresh:
                self.all[c] += s.smUtil
                if s.pid in pids:
                    self.ours[c] += s.smUtil
                self.seen[c] = max(self.seen[c], s.timeStamp)
            try:
                running = {p.pid for p in self.nvml.nvmlDeviceGetComputeRunningProcesses(h)}
            except Exception:
                running = set()
            self.contexts[c][0] += len(running & pids)
            self.contexts[c][1] += len(running)

    def share(self, component: str) -> tuple[float | None, str]:
        """The tree's share of a GPU's energy and how it was found."""
        if component in self.unavailable:
            return None, self.unavailable[component]
        if self.all[component] > 0:
            return (self.ours[component] / self.all[component],
                    "NVML per-process SM utilisation")
        ours, everyone = self.contexts[component]
        if everyone:
            return ours / everyone, "no SM activity: split by the processes holding a context"
        return 0.0, "no process used or held the device"


def _no_samples(exc: Exception) -> bool:
    """NVML's NOT_FOUND: no sample newer than the timestamp asked for (not an error)."""
    return "not found" in str(exc).lower() or type(exc).__name__.endswith("NotFound")


class Usage:
    """What the profiled process tree used since ``start()``, for process-scoped energy:
    its CPU seconds (less compilation and the profiler's sampling), its resident memory
    integrated over time, and its share of each GPU."""

    def __init__(self, pid: int | None = None, *, profiler_cpu_s=lambda: 0.0):
        self.tree = ProcessTree(pid)
        self.in_process = self.tree.pid == os.getpid()
        self.compile = CompileMeter()
        self.profiler_cpu_s = profiler_cpu_s  # the profiler's own sampling and readings
        self.gpus: GpuShare | None = None

    def track_gpus(self, nvml, devices) -> None:
        self.gpus = GpuShare(nvml, devices)

    def prepare(self) -> None:
        """What may take a while (importing Numba's event hooks), before the window opens."""
        if self.in_process:  # compilation in another process cannot be seen from here
            self.compile.start()

    def start(self, now: float) -> None:
        self._cpu_s = 0.0
        self.cpu0 = self.tree.cpu_seconds()
        self.busy0 = cpu_seconds()[0]
        self.rss_t = now
        self.rss_gb = self.tree.rss_bytes() / 1e9
        self.used_gb = psutil.virtual_memory().used / 1e9
        self.rss_gb_s = self.used_gb_s = 0.0
        self.peak_rss_gb = self.rss_gb
        if self.gpus is not None:
            self.gpus.start()

    def stop(self) -> None:
        self.compile.stop()

    def sample(self, now: float) -> None:
        """Integrate resident memory (trapezoids) and read the GPUs' per-process samples;
        memory at most once per ``RSS_PERIOD_S``."""
        if now - self.rss_t >= RSS_PERIOD_S:
            self._integrate_memory(now)
        if self.gpus is not None:
            self.gpus.sample(self.tree.pids())

    def _integrate_memory(self, now: float) -> None:
        rss = self.tree.rss_bytes() / 1e9
        used = psutil.virtual_memory().used / 1e9
        dt = now - self.rss_t
        self.rss_gb_s += (self.rss_gb + rss) / 2 * dt
        self.used_gb_s += (self.used_gb + used) / 2 * dt
        self.rss_t, self.rss_gb, self.used_gb = now, rss, used
        self.peak_rss_gb = max(self.peak_rss_gb, rss)

    def memory_gb_s(self, now: float) -> tuple[float, float]:
        """(the tree's, the machine's used) memory integrated up to ``now``, in GB x s."""
        if now > self.rss_t:
            self._integrate_memory(now)
        return self.rss_gb_s, self.used_gb_s

    def excluded_cpu_s(self) -> dict[str, float]:
        """CPU seconds of the tree that are not the run's."""
        out = {"compilation": self.compile.seconds}
        if self.in_process:
            out["profiler"] = self.profiler_cpu_s()
        return out

    def cpu_s(self) -> float:
        """The run's CPU seconds: the tree's since start, less what is excluded; never less
        than at an earlier reading (cumulative laps never decrease)."""
        spent = self.tree.cpu_seconds() - self.cpu0
        self._cpu_s = max(spent - sum(self.excluded_cpu_s().values()), self._cpu_s)
        return self._cpu_s

    def machine_busy_cpu_s(self) -> float:
        return cpu_seconds()[0] - self.busy0
