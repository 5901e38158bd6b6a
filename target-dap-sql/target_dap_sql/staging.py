"""The private temp folder of a DuckDB connection's staging files.

Made per process and removed when the process ends, also after an error (the stage files
still open are closed first). A process killed with SIGKILL runs no exit handler, so each
new folder's creator sweeps up the folders of dead processes: the folder name carries its
creator's pid.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Protocol

logger = logging.getLogger(__name__)

_PREFIX = "target-dap-sql-"
_OWNER = re.compile(re.escape(_PREFIX) + r"(\d+)-")
# A folder is only swept when nothing in it changed for this long as well: a process in
# another pid namespace that shares /tmp looks dead from here.
ABANDONED_AFTER_SECONDS = 6 * 3600


class Closable(Protocol):
    def close(self) -> None: ...


class StagingDir:
    """A fresh folder for stage files; `remove()` (or process exit) closes and deletes."""

    def __init__(self) -> None:
        sweep_abandoned()
        self.path = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-"))
        self._open: list[Closable] = []
        atexit.register(self.remove)

    def track(self, stage: Closable) -> None:
        """Close ``stage`` before the folder goes, unless it was forgotten first."""
        self._open.append(stage)

    def forget(self, stage: Closable) -> None:
        if stage in self._open:
            self._open.remove(stage)

    def remove(self) -> None:
        for stage in self._open:
            stage.close()
        self._open.clear()
        shutil.rmtree(self.path, ignore_errors=True)
        atexit.unregister(self.remove)


def sweep_abandoned(now: float | None = None) -> None:
    """Delete the staging folders of this user's processes that no longer run."""
    now = time.time() if now is None else now
    for path in Path(tempfile.gettempdir()).glob(f"{_PREFIX}*"):
        owner = _OWNER.match(path.name)
        try:
            if owner is None or path.stat().st_uid != os.getuid():
                continue
            if _running(int(owner.group(1))) or _last_change(path) > now - ABANDONED_AFTER_SECONDS:
                continue
        except OSError:  # gone meanwhile, or not ours to read
            continue
        shutil.rmtree(path, ignore_errors=True)
        logger.info("Removed %s, left behind by a target-dap-sql that was killed", path)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it runs, as another user
        pass
    return True


def _last_change(folder: Path) -> float:
    return max([folder.stat().st_mtime, *(p.stat().st_mtime for p in folder.iterdir())])
