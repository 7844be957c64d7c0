"""Where the author kit keeps trained tiny models between test sessions (torch-free, pytest-free at import).

Shared by :mod:`unlearnbench.testing` (which trains and caches the tiny models) and the pytest plugin
:mod:`unlearnbench.pytest_plugin` (which tells it the running sessions), so that neither imports the other.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from unlearnbench._version import __version__

if TYPE_CHECKING:
    import pytest

__all__ = ["TESTING_CACHE_ENV", "forget_config", "source_digest", "store_dir", "track_config"]

#: Environment variable naming a folder for the trained tiny models (overrides pytest's cache folder).
TESTING_CACHE_ENV = "UNLEARNBENCH_TESTING_CACHE_DIR"

#: The sources (relative to the package) that decide what the tiny models are and how they are stored.
_MODEL_SOURCES: tuple[str, ...] = (
    "data/*.py", "models/*.py", "training.py", "recipe.py", "tensordata.py", "evaluation.py", "runner/*.py",
    "cache.py", "api.py",
)  # fmt: skip

#: Configurations of the running sessions, innermost last (pytester runs sessions inside sessions).
_CONFIGS: list[pytest.Config] = []


def track_config(config: pytest.Config) -> None:
    """Remember a running pytest session's configuration (the pytest plugin calls it at configure time)."""
    _CONFIGS.append(config)


def forget_config(config: pytest.Config) -> None:
    """Forget the configuration of a finished session."""
    if config in _CONFIGS:
        _CONFIGS.remove(config)


def source_digest() -> str:
    """A digest of unlearnbench's version and the sources that produce the tiny models.

    Cache keys name the recipe, data and architecture, not the code; a digest in the folder name
    keeps a store from serving models of a changed training loop or architecture.
    """
    root = Path(__file__).parent
    digest = hashlib.sha256(__version__.encode())
    for pattern in _MODEL_SOURCES:
        for path in sorted(root.glob(pattern)):
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def store_dir(config: pytest.Config | None = None) -> Path | None:
    """The folder that keeps trained tiny models between sessions, or None when there is none.

    ``$UNLEARNBENCH_TESTING_CACHE_DIR`` first, then pytest's cache folder of ``config`` (default: the
    innermost running session); the returned folder is a subfolder named by :func:`source_digest`.
    """
    env = os.environ.get(TESTING_CACHE_ENV, "").strip()
    if env:
        root: Path | None = Path(env).expanduser()
    else:
        chosen = config if config is not None else (_CONFIGS[-1] if _CONFIGS else None)
        cache = getattr(chosen, "cache", None)
        root = Path(cache.mkdir("unlearnbench")) if cache is not None else None
    if root is None:
        return None
    path = root / source_digest()
    path.mkdir(parents=True, exist_ok=True)
    return path
