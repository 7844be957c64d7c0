"""Weights shipped inside the package: pre-trained backbones a protocol starts from instead of training them.

``weights/index.json`` lists each file under ``weights/`` with its sha256, its size and the *match key* of the
training it stands for: the content key of the backbone's data fingerprint, architecture, class count, recipe
(its training precision left out) and seed. A run whose backbone has that match key loads the file instead of
training (``torch.load`` with ``weights_only=True`` after the hash is checked), whatever precision the run
trains in; the entry also records how the file was made (the command, the CPU, the seconds, the versions).
``unlearnbench backbone`` writes such a file and its entry.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from unlearnbench.cache import content_key
from unlearnbench.errors import UsageError

__all__ = [
    "INDEX_NAME",
    "ShippedWeights",
    "add_to_index",
    "backbone_match_key",
    "find_backbone",
    "load_weights",
    "read_index",
    "shipped_dir",
    "weights_bytes",
]

#: The index beside the shipped weights files.
INDEX_NAME = "index.json"


@dataclass(frozen=True)
class ShippedWeights:
    """One shipped weights file: where it is, what it must hash to and which training it stands for."""

    name: str
    file: str
    sha256: str
    bytes: int
    match_key: str
    #: What the file was trained on and with, for people: dataset, classes, epochs, precision.
    trained: dict[str, Any] = field(default_factory=dict)
    #: How it was made: the command, the CPU, the seconds, the versions and the git commit.
    made: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """The entry as results.json records it (no path: the file is found by name in the package)."""
        return {"source": "shipped", "name": self.name, "file": self.file, "sha256": self.sha256,
                "trained": dict(self.trained), "made": dict(self.made)}  # fmt: skip


def shipped_dir() -> Path:
    """The package's ``weights/`` folder."""
    return Path(str(resources.files("unlearnbench") / "weights"))


def backbone_match_key(parts: Mapping[str, Any]) -> str:
    """The match key of a backbone's key ``parts``: the same parts with the recipe's precision left out.

    A shipped file is one fixed set of weights; the precision a run trains in does not change which file
    stands for its backbone (the entry's ``trained.precision`` says how the file itself was trained).
    """
    recipe = {k: v for k, v in dict(parts.get("recipe", {})).items() if k != "precision"}
    return content_key({**parts, "recipe": recipe})


def read_index(folder: Path | None = None) -> tuple[ShippedWeights, ...]:
    """Every entry of ``folder``'s index (the package's by default); none when there is no index."""
    path = (folder or shipped_dir()) / INDEX_NAME
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return ()
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: unreadable weights index: {exc}") from None
    try:
        return tuple(ShippedWeights(**entry) for entry in raw["weights"])
    except (KeyError, TypeError) as exc:
        raise UsageError(f"{path}: malformed weights index: {exc}") from None


def find_backbone(match_key: str, folder: Path | None = None) -> ShippedWeights | None:
    """The shipped weights whose match key is ``match_key``, or None."""
    return next((entry for entry in read_index(folder) if entry.match_key == match_key), None)


def weights_bytes(state: Mapping[str, torch.Tensor]) -> bytes:
    """A state dict as the bytes of a torch file (tensors moved to the CPU, made contiguous)."""
    buffer = io.BytesIO()
    torch.save({str(k): v.detach().cpu().contiguous() for k, v in state.items()}, buffer)
    return buffer.getvalue()


def load_weights(entry: ShippedWeights, folder: Path | None = None) -> dict[str, torch.Tensor]:
    """The state dict of ``entry``'s file, after its sha256 is checked; loaded with ``weights_only=True``."""
    path = (folder or shipped_dir()) / entry.file
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"shipped weights {entry.name!r}: cannot read {path}: {exc.strerror or exc}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry.sha256:
        raise UsageError(f"shipped weights {entry.name!r}: {path} has sha256 {digest[:12]}…, "
                         f"the index says {entry.sha256[:12]}…; reinstall the package")  # fmt: skip
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:  # weights_only refuses any other object
        raise UsageError(f"shipped weights {entry.name!r}: {path} is not a weights file: {exc}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UsageError(f"shipped weights {entry.name!r}: {path} does not hold a state dict of tensors")
    return state


def add_to_index(entry: ShippedWeights, data: bytes, folder: Path) -> Path:
    """Write ``data`` as ``entry``'s file in ``folder`` and put ``entry`` in its index (replacing its name)."""
    if hashlib.sha256(data).hexdigest() != entry.sha256 or len(data) != entry.bytes:
        raise ValueError("the entry's sha256 and size must be those of the data")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / entry.file
    target.write_bytes(data)
    kept = [e for e in read_index(folder) if e.name != entry.name]
    index = {"weights": [asdict(e) for e in sorted([*kept, entry], key=lambda e: e.name)]}
    (folder / INDEX_NAME).write_text(json.dumps(index, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return target
