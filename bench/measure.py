"""Run a command or a pipeline of commands, timing it and sampling each process's memory.

Peak RSS is sampled with psutil every few milliseconds over the whole process tree, so
the programs that Meltano starts (the tap and the target under `meltano run`) are seen
too; each process is reported under the name of the program it runs.
"""

from __future__ import annotations

import os
import resource
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import psutil

_SAMPLE_SECONDS = 0.05
_INTERPRETERS = ("python", "python3", "python3.11", "python3.12", "python3.13")


@dataclass
class Measurement:
    wall_s: float
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    cpu_s: float = 0.0  # user + system seconds of the commands and the children they waited for


class CommandFailedError(RuntimeError):
    """A measured command exited non-zero; the message holds the end of its error output."""


def program_name(cmdline: Sequence[str]) -> str:
    """`/x/.venv/bin/python /x/.venv/bin/tap-dap --config ...` -> `tap-dap`."""
    for part in cmdline:
        name = os.path.basename(part)
        if name and name not in _INTERPRETERS and not name.startswith("-"):
            return name
    return os.path.basename(cmdline[0]) if cmdline else "?"


class _RssSampler(threading.Thread):
    """Polls the trees of the given processes until stopped; keeps the peak per program.

    The name is read from the command line at every sample, never cached: between fork and
    exec a child still shows its parent's command line (and memory), so a name taken then
    would be wrong for the rest of the run. A root is only counted once it runs the program
    it was started for.
    """

    def __init__(self, roots: Mapping[int, str]) -> None:
        super().__init__(daemon=True)
        self._roots = {psutil.Process(pid): name for pid, name in roots.items()}
        self._done = threading.Event()
        self.peaks: dict[str, float] = {}

    def sample(self) -> None:
        for root, expected in self._roots.items():
            try:
                tree = [root, *root.children(recursive=True)]
            except psutil.Error:
                continue
            for process in tree:
                try:
                    rss = process.memory_info().rss / 1_048_576
                    cmdline = process.cmdline()
                except psutil.Error:
                    continue
                if not cmdline:  # a zombie, or a child that has not exec'd yet
                    continue
                name = program_name(cmdline)
                if process is root and name != expected:
                    continue  # not exec'd yet: still the benchmark's own process image
                self.peaks[name] = max(self.peaks.get(name, 0.0), rss)

    def run(self) -> None:
        while not self._done.wait(_SAMPLE_SECONDS):
            self.sample()

    def stop(self) -> None:
        self._done.set()
        self.join()


def run_pipeline(
    commands: Sequence[Sequence[str]],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdin: Path | None = None,
    stdout: Path | None = None,
    log: Path,
    timeout: float = 3600,
) -> Measurement:
    """Run `a | b | ...` (or one command), stdin from a file, stdout to a file or /dev/null.

    Every process's stderr goes to ``log``. Raises CommandFailedError when any exits non-zero.
    """
    processes: list[subprocess.Popen[bytes]] = []
    with (
        log.open("ab") as errors,
        stdin.open("rb") if stdin else open(os.devnull, "rb") as first_in,
        stdout.open("wb") if stdout else open(os.devnull, "wb") as last_out,
    ):
        start = time.perf_counter()
        cpu_before = _children_cpu_s()
        previous: IO[bytes] | None = first_in
        for index, command in enumerate(commands):
            last = index == len(commands) - 1
            process = subprocess.Popen(  # noqa: S603 - our own list of programs
                list(command),
                stdin=previous,
                stdout=last_out if last else subprocess.PIPE,
                stderr=errors,
                env=dict(env) if env is not None else None,
                cwd=cwd,
            )
            if previous is not first_in and previous is not None:
                previous.close()  # the next process owns the read end now
            previous = process.stdout
            processes.append(process)
        sampler = _RssSampler(
            {p.pid: program_name(c) for p, c in zip(processes, commands, strict=True)}
        )
        sampler.sample()
        sampler.start()
        try:
            deadline = start + timeout
            codes = [p.wait(timeout=max(1.0, deadline - time.perf_counter())) for p in processes]
        except subprocess.TimeoutExpired:
            for process in processes:
                process.kill()
            message = f"timed out after {timeout:.0f} s: {_describe(commands)}"
            raise CommandFailedError(message) from None
        finally:
            sampler.stop()
        wall = time.perf_counter() - start
        cpu = _children_cpu_s() - cpu_before
    if any(codes):
        tail = log.read_bytes()[-3000:].decode(errors="replace")
        raise CommandFailedError(f"exit codes {codes} of {_describe(commands)}; log {log}:\n{tail}")
    return Measurement(wall, dict(sorted(sampler.peaks.items())), cpu)


def _children_cpu_s() -> float:
    """CPU seconds of this process's children that have ended (and theirs, when waited for)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _describe(commands: Sequence[Sequence[str]]) -> str:
    return " | ".join(program_name(command) for command in commands)
