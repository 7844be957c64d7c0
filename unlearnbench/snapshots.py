"""Training snapshots in the cache: a long training run (e.g. a 182-epoch original) killed between epochs
resumes where it stopped instead of from its first epoch.

A snapshot is taken after an epoch when ``every_seconds`` have passed since the last one (or since the
start), stored under the kind ``snapshot`` and the trained model's own content key, so it can only resume the
same training; it is read with ``weights_only=True`` and removed when the run finishes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from unlearnbench.cache import Cache

__all__ = ["SNAPSHOT_KIND", "CacheSnapshots"]

#: The cache kind of training snapshots.
SNAPSHOT_KIND = "snapshot"


@dataclass
class CacheSnapshots:
    """A :class:`~unlearnbench.training.SnapshotStore` in ``cache`` under ``key`` (the model's content key)."""

    cache: Cache
    key: str
    every_seconds: float = 120.0
    _last: float = field(default_factory=time.monotonic, init=False)

    def due(self) -> bool:
        """Whether ``every_seconds`` have passed since the last snapshot (never with the cache disabled)."""
        return self.cache.enabled and time.monotonic() - self._last >= self.every_seconds

    def load(self) -> dict[str, Any] | None:
        """The last snapshot of this training, or ``None``."""
        return self.cache.load_snapshot(SNAPSHOT_KIND, self.key)

    def save(self, snapshot: dict[str, Any]) -> None:
        """Replace the snapshot; the clock restarts."""
        self.cache.save_snapshot(SNAPSHOT_KIND, self.key, snapshot, {"epoch": int(snapshot["epoch"])})
        self._last = time.monotonic()

    def clear(self) -> None:
        """Remove the snapshot (the training finished)."""
        self.cache.discard(SNAPSHOT_KIND, self.key, "snapshot")
