"""Saving a sandbox's whole state as one JSON file (atomic, fsync'd writes; see durable.py) and its clock."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any, Self

from .codec import dumps, loads


class PersistedState:
    """Mixin for a sandbox state dataclass that has `data_path`, `dirty`, `clock_offset` and a JSON form."""

    data_path: Path | None
    dirty: bool
    clock_offset: float
    config: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        raise NotImplementedError

    def load_json(self, obj: dict[str, Any]) -> None:
        raise NotImplementedError

    def now(self) -> float:
        """Wall clock plus the control API's time-travel offset (token lifetimes use this)."""
        return time.time() + self.clock_offset

    def snapshot(self) -> bytes:
        self.dirty = False
        return dumps(self.to_json())

    @staticmethod
    def write_file(path: Path, payload: bytes) -> None:
        tmp = path.with_suffix(path.suffix + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        # Atomic replace so a crash mid-write never leaves a truncated state file; the folder's fsync makes
        # the rename itself survive a power cut, not only a killed process.
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def save(self) -> None:
        if self.data_path is not None:
            self.write_file(self.data_path, self.snapshot())

    @classmethod
    def load(cls, path: Path) -> Self:
        sb = cls()
        sb.data_path = path
        if path.exists() and path.stat().st_size:
            sb.load_json(loads(path.read_bytes()))
        return sb


async def persist_loop(sb: PersistedState) -> None:
    """Debounced: a large state file is rewritten at most once per interval, never per request."""
    while True:
        await asyncio.sleep(float(sb.config.get("persist_interval", 2.0)))
        if sb.dirty and sb.data_path is not None:
            payload = sb.snapshot()
            await asyncio.to_thread(sb.write_file, sb.data_path, payload)
