"""A content-addressed store for model checkpoints and per-example outputs.

An entry is addressed by ``(kind, key)``: ``kind`` is a short namespace (``"original"``, ``"oracle"``,
``"unlearned"``, ``"outputs"``) and ``key`` is :func:`content_key` of everything the artifact depends on
(dataset fingerprint, split, architecture, recipe, seed, code version). Layout::

    <root>/<kind>/<key[:2]>/<key>.pt     state dict (torch zip, loaded with weights_only=True)
    <root>/<kind>/<key[:2]>/<key>.npz    per-example logits (loaded with allow_pickle=False)
    <root>/<kind>/<key[:2]>/<key>.json   sidecar: sha256 and size of the payload, meta, versions
    <root>/<kind>/<key[:2]>/.lock        empty; flock'ed while an entry of the folder is written or read

Writes are atomic (temp file in the same folder, fsync, ``os.replace``; payload first, sidecar last), so
an entry without a sidecar is never valid. Every load reads the payload once into memory, checks its
sha256 against the sidecar and deserialises those same bytes; anything wrong is a :class:`CacheWarning`,
the entry is removed and the load is a miss. On POSIX a per-folder ``flock`` makes the payload/sidecar
pair of concurrent writers of the same key (e.g. two processes training the same oracle) come from one
writer, and keeps readers from seeing a half-replaced pair.

The versions in the sidecar are informational; invalidation is the key's job (callers put the code and
recipe versions into the key parts).
"""

from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import inspect
import io
import json
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from unlearnbench._version import __version__
from unlearnbench.api import ModelOutputs
from unlearnbench.errors import UsageError
from unlearnbench.results import atomic_write_bytes

try:  # POSIX only; elsewhere entries are still atomic, only the pair is not serialised.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

#: Environment variable overriding :func:`default_cache_dir`.
CACHE_DIR_ENV = "UNLEARNBENCH_CACHE_DIR"

#: Layout version of the sidecar; entries of another layout are treated as corrupt.
SIDECAR_FORMAT = 1

#: The namespace :meth:`Cache.save_outputs` / :meth:`Cache.load_outputs` use.
OUTPUTS_KIND = "outputs"
VALUES_KIND = "values"

_KIND_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_KEY_RE = re.compile(r"^[0-9a-f]{8,128}$")
_LOCK_NAME = ".lock"
_T = TypeVar("_T")


class CacheWarning(UserWarning):
    """A cache entry was unusable (missing sidecar, checksum mismatch, unreadable); it was discarded."""


def default_cache_dir() -> Path:
    """``$UNLEARNBENCH_CACHE_DIR`` if set and non-empty, else the platform's user cache folder."""
    env = os.environ.get(CACHE_DIR_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("unlearnbench"))


def _canonical(value: Any, where: str) -> Any:
    """``value`` as plain JSON types; numpy scalars/arrays become Python numbers/lists.

    Arrays become nested lists so that a key depends on the values, not on the integer width of the
    array that happened to hold them. Mapping keys must be strings (JSON would silently turn ``1`` into
    ``"1"`` and make the two collide); sets are refused because they have no canonical order.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            return [_canonical(v, f"{where}[]") for v in value.tolist()]
        return value.tolist()
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"cache key part {where}: mapping key {k!r} is not a string")
            out[k] = _canonical(v, f"{where}.{k}")
        return out
    if isinstance(value, (list, tuple)):
        return [_canonical(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"cache key part {where} is not JSON-able: {type(value).__name__}")


def canonical_json(parts: Mapping[str, Any]) -> str:
    """The canonical JSON text of ``parts``: sorted keys, no whitespace, floats by ``repr``."""
    return json.dumps(
        _canonical(parts, "parts"), sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=True
    )


def content_key(parts: Mapping[str, Any]) -> str:
    """sha256 hex digest of :func:`canonical_json` of ``parts``; ``TypeError`` for non-JSON-able values."""
    if not isinstance(parts, Mapping):
        raise TypeError(f"cache key parts must be a mapping, not {type(parts).__name__}")
    return hashlib.sha256(canonical_json(parts).encode("ascii")).hexdigest()


def _versions() -> dict[str, str]:
    return {"unlearnbench": __version__, "torch": torch.__version__, "numpy": np.__version__}


def source_hash(cls: type) -> str:
    """sha256 of the code of the module defining ``cls``: cached results follow code changes.

    The code is the module's syntax tree without its docstrings and without the class-level ``fidelity``
    records (:mod:`unlearnbench.fidelity`): documentation edits, comments and citations leave cached
    models and values valid, while any change to what runs gives new keys.
    """
    module = sys.modules.get(cls.__module__)
    try:
        text = inspect.getsource(module) if module is not None else inspect.getsource(cls)
    except (OSError, TypeError):
        text = f"{cls.__module__}.{cls.__qualname__}:{getattr(cls, 'version', '')}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]
    return _fingerprint_digest(text)


@functools.lru_cache(maxsize=512)
def _fingerprint_digest(source: str) -> str:
    """sha256 (16 hex digits) of :func:`code_fingerprint` of ``source``, memoised on the source text.

    Every cache key of a run hashes its methods' and metrics' modules: parsing each module again for every
    key took 22 s of a 224 s default run (4,806 parses of a few dozen modules). The memo is keyed on the
    text itself, so an edited module still gets a new digest.
    """
    return hashlib.sha256(code_fingerprint(source).encode()).hexdigest()[:16]


def code_fingerprint(source: str) -> str:
    """``ast.dump`` of ``source`` without docstrings and class-level ``fidelity = ...`` records."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not isinstance(body, list):
            continue
        kept = [statement for statement in body if not _is_documentation(statement)]
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            node.body = kept or [ast.Pass()]
    return ast.dump(tree, include_attributes=False)


def _is_documentation(statement: ast.stmt) -> bool:
    """A bare string expression (a docstring) or an assignment to ``fidelity``."""
    if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
        return isinstance(statement.value.value, str)
    if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
        return statement.target.id == "fidelity"
    if isinstance(statement, ast.Assign):
        return any(isinstance(target, ast.Name) and target.id == "fidelity" for target in statement.targets)
    return False


class _Corrupt(Exception):
    """Internal: why an entry is unusable."""


class Cache:
    """A content-addressed store under ``root``; ``enabled=False`` makes it a no-op.

    ``hits``, ``misses`` and ``corrupt`` count loads for the report; a corrupt entry counts as a miss
    too. The root is created on the first save; failing that (or any later write) raises
    :class:`~unlearnbench.errors.UsageError` naming the path.
    """

    def __init__(self, root: Path | str, enabled: bool = True) -> None:
        self.root = Path(root).expanduser()
        self.enabled = enabled
        self.hits = 0
        self.misses = 0
        self.corrupt = 0
        self._root_ready = False

    def __repr__(self) -> str:
        return f"Cache({str(self.root)!r}, enabled={self.enabled}, {self.stats()})"

    def stats(self) -> dict[str, int]:
        """The counters as a dict, for results and reports."""
        return {"hits": self.hits, "misses": self.misses, "corrupt": self.corrupt}

    # -- paths ---------------------------------------------------------------------------------------

    def folder(self, kind: str, key: str) -> Path:
        """The shard folder of an entry (validates ``kind`` and ``key``, so no path escapes ``root``)."""
        if not _KIND_RE.match(kind):
            raise ValueError(f"invalid cache kind {kind!r}: use lowercase letters, digits, '_', '-', '.'")
        if not _KEY_RE.match(key):
            raise ValueError(f"invalid cache key {key!r}: expected a lowercase hex digest")
        return self.root / kind / key[:2]

    def payload_path(self, kind: str, key: str, ext: str) -> Path:
        """Where the payload of an entry lives (``ext`` is ``"pt"`` or ``"npz"``)."""
        return self.folder(kind, key) / f"{key}.{ext}"

    def sidecar_path(self, kind: str, key: str) -> Path:
        """Where the JSON sidecar of an entry lives."""
        return self.folder(kind, key) / f"{key}.json"

    # -- public API ----------------------------------------------------------------------------------

    def load_state(self, kind: str, key: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
        """The cached state dict (CPU tensors) and its meta, or ``None`` on a miss."""
        return self._load(kind, key, "pt", _decode_state)

    def save_state(
        self, kind: str, key: str, state_dict: Mapping[str, torch.Tensor], meta: Mapping[str, Any]
    ) -> None:
        """Store a state dict (moved to CPU) under ``(kind, key)`` with JSON-able ``meta``."""
        if not self.enabled:
            return
        tensors: dict[str, torch.Tensor] = {}
        for name, tensor in state_dict.items():
            if not isinstance(tensor, torch.Tensor):
                raise TypeError(f"state dict entry {name!r} is not a tensor: {type(tensor).__name__}")
            tensors[str(name)] = tensor.detach().cpu()
        buffer = io.BytesIO()
        torch.save(tensors, buffer)
        self._save(kind, key, "pt", buffer.getvalue(), meta)

    def load_outputs(self, key: str) -> tuple[ModelOutputs, dict[str, Any]] | None:
        """The cached per-example outputs and their meta, or ``None`` on a miss."""
        return self._load(OUTPUTS_KIND, key, "npz", _decode_outputs)

    def save_outputs(self, key: str, outputs: ModelOutputs, meta: Mapping[str, Any]) -> None:
        """Store per-example outputs under ``key`` as an uncompressed ``.npz`` (one array per split).

        ``.npz`` rather than a torch file: the logits are numpy arrays already, ``np.load`` with
        ``allow_pickle=False`` can only ever produce plain arrays, and the files are readable without
        torch. Uncompressed because float32 logits barely compress and loading should be fast.
        """
        if not self.enabled:
            return
        arrays: dict[str, np.ndarray] = {}
        for split, logits in outputs.logits.items():
            array = np.ascontiguousarray(np.asarray(logits))
            if array.dtype.hasobject:
                raise TypeError(f"outputs of split {split!r} have dtype object; expected numbers")
            arrays[str(split)] = array
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]
        self._save(OUTPUTS_KIND, key, "npz", buffer.getvalue(), meta)

    def load_values(self, key: str) -> dict[str, float] | None:
        """Cached metric values (column → float), or ``None`` on a miss."""
        hit = self._load(VALUES_KIND, key, "values", _decode_values)
        return None if hit is None else hit[0]

    def save_values(self, key: str, values: Mapping[str, float], meta: Mapping[str, Any]) -> None:
        """Store a metric's finite values as JSON under ``key``."""
        if not self.enabled:
            return
        payload = json.dumps({str(k): float(v) for k, v in values.items()}, sort_keys=True).encode()
        self._save(VALUES_KIND, key, "values", payload, meta)

    def load_json(self, kind: str, key: str) -> Any | None:
        """A cached JSON document (e.g. an item's report diagnostics), or ``None`` on a miss."""
        hit = self._load(kind, key, "json-data", _decode_json)
        return None if hit is None else hit[0]

    def save_json(self, kind: str, key: str, value: Any, meta: Mapping[str, Any]) -> None:
        """Store a JSON-able document under ``(kind, key)``; ``TypeError`` for anything JSON cannot hold.

        NaN and infinities are kept (as Python's JSON writes them), so a loaded document equals the stored one.
        """
        if not self.enabled:
            return
        payload = json.dumps(value, sort_keys=True, allow_nan=True).encode("utf-8")
        self._save(kind, key, "json-data", payload, meta)

    def load_snapshot(self, kind: str, key: str) -> dict[str, Any] | None:
        """A stored training snapshot (nested dicts / lists of tensors and numbers, read with
        ``weights_only=True``), or ``None`` on a miss or an unreadable entry."""
        hit = self._load(kind, key, "snapshot", _decode_snapshot)
        return None if hit is None else hit[0]

    def save_snapshot(self, kind: str, key: str, snapshot: Mapping[str, Any], meta: Mapping[str, Any]) -> None:
        """Store a training snapshot under ``(kind, key)``, replacing the previous one atomically."""
        if not self.enabled:
            return
        buffer = io.BytesIO()
        torch.save(dict(snapshot), buffer)
        self._save(kind, key, "snapshot", buffer.getvalue(), meta)

    def discard(self, kind: str, key: str, ext: str) -> None:
        """Remove an entry (its payload ``key.ext`` and sidecar), if present."""
        if not self.enabled:
            return
        folder = self.folder(kind, key)
        if folder.exists():
            with self._locked(folder, create=False):
                self._discard(folder / f"{key}.{ext}", folder / f"{key}.json")

    # -- machinery -----------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, folder: Path, create: bool) -> Iterator[None]:
        """Exclusive ``flock`` on the shard folder's lock file; a no-op where that is impossible.

        Readers of a read-only cache cannot create the lock file and go without: nobody can be
        writing there anyway.
        """
        if fcntl is None:
            yield
            return
        flags = os.O_RDONLY | (os.O_CREAT if create else 0)
        try:
            fd = os.open(folder / _LOCK_NAME, flags, 0o644)
        except OSError:
            if create:
                raise
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def _ensure_root(self, folder: Path) -> None:
        """Create ``folder`` (and the root); the first time, also prove the root is writable."""
        try:
            if not self._root_ready:
                self.root.mkdir(parents=True, exist_ok=True)
                fd, probe = tempfile.mkstemp(prefix=".probe.", dir=self.root)
                os.close(fd)
                os.unlink(probe)
                self._root_ready = True
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(
                f"Cache directory {self.root} cannot be created or written: {exc.strerror or exc}"
            ) from None

    def _save(self, kind: str, key: str, ext: str, payload: bytes, meta: Mapping[str, Any]) -> None:
        folder = self.folder(kind, key)
        try:
            meta_plain = _canonical(meta, "meta")
        except TypeError as exc:
            raise TypeError(f"cache meta for {kind}/{key} is not JSON-able: {exc}") from None
        sidecar = {
            "format": SIDECAR_FORMAT,
            "kind": kind,
            "key": key,
            "payload": f"{key}.{ext}",
            "sha256": hashlib.sha256(payload).hexdigest(),
            "size": len(payload),
            "meta": meta_plain,
            "versions": _versions(),
        }
        sidecar_bytes = (json.dumps(sidecar, indent=1, sort_keys=True) + "\n").encode("utf-8")
        self._ensure_root(folder)
        try:
            with self._locked(folder, create=True):
                atomic_write_bytes(folder / f"{key}.{ext}", payload)
                atomic_write_bytes(folder / f"{key}.json", sidecar_bytes)  # each rename made durable
        except OSError as exc:
            raise UsageError(f"Cannot write cache entry under {folder}: {exc.strerror or exc}") from None

    def _load(
        self, kind: str, key: str, ext: str, decode: Callable[[bytes], _T]
    ) -> tuple[_T, dict[str, Any]] | None:
        folder = self.folder(kind, key)
        if not self.enabled:
            self.misses += 1
            return None
        payload_path, sidecar_path = folder / f"{key}.{ext}", folder / f"{key}.json"
        if not (payload_path.exists() or sidecar_path.exists()):
            self.misses += 1
            return None
        try:
            with self._locked(folder, create=False):
                try:
                    sidecar, payload = _read_verified(payload_path, sidecar_path, kind, key)
                except _Corrupt:
                    self._discard(payload_path, sidecar_path)
                    raise
            try:
                value = decode(payload)
            except Exception as exc:  # any failure to deserialise means the entry is unusable
                with self._locked(folder, create=False):
                    # Only remove it if no other writer replaced it meanwhile.
                    if _sidecar_sha(sidecar_path) == sidecar["sha256"]:
                        self._discard(payload_path, sidecar_path)
                raise _Corrupt(f"{payload_path}: unreadable payload ({type(exc).__name__}: {exc})") from exc
        except _Corrupt as problem:
            self.corrupt += 1
            self.misses += 1
            warnings.warn(f"Discarding corrupt cache entry {problem}", CacheWarning, stacklevel=3)
            return None
        self.hits += 1
        meta = sidecar.get("meta")
        return value, dict(meta) if isinstance(meta, Mapping) else {}

    @staticmethod
    def _discard(payload_path: Path, sidecar_path: Path) -> None:
        """Remove both files of an entry, sidecar first so a half-removed entry is never valid."""
        for path in (sidecar_path, payload_path):
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)


def _sidecar_sha(sidecar_path: Path) -> str | None:
    try:
        data = json.loads(sidecar_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data.get("sha256") if isinstance(data, dict) else None


def _read_verified(
    payload_path: Path, sidecar_path: Path, kind: str, key: str
) -> tuple[dict[str, Any], bytes]:
    """The sidecar and the payload bytes, or :class:`_Corrupt` saying what is wrong and where."""
    try:
        sidecar_text = sidecar_path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _Corrupt(f"{payload_path}: sidecar {sidecar_path.name} is missing") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise _Corrupt(f"{sidecar_path}: unreadable sidecar ({exc})") from None
    try:
        sidecar = json.loads(sidecar_text)
    except ValueError as exc:
        raise _Corrupt(f"{sidecar_path}: invalid sidecar JSON ({exc})") from None
    if (
        not isinstance(sidecar, dict)
        or sidecar.get("format") != SIDECAR_FORMAT
        or sidecar.get("kind") != kind
        or sidecar.get("key") != key
        or not isinstance(sidecar.get("sha256"), str)
        or not isinstance(sidecar.get("size"), int)
    ):
        raise _Corrupt(f"{sidecar_path}: sidecar does not describe {kind}/{key}")
    try:
        payload = payload_path.read_bytes()
    except FileNotFoundError:
        raise _Corrupt(f"{payload_path}: payload is missing") from None
    except OSError as exc:
        raise _Corrupt(f"{payload_path}: unreadable payload ({exc})") from None
    if len(payload) != sidecar["size"]:
        raise _Corrupt(f"{payload_path}: size {len(payload)} != {sidecar['size']} recorded (truncated?)")
    if hashlib.sha256(payload).hexdigest() != sidecar["sha256"]:
        raise _Corrupt(f"{payload_path}: sha256 does not match the sidecar")
    return sidecar, payload


def _decode_state(payload: bytes) -> dict[str, torch.Tensor]:
    state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ValueError("payload is not a mapping of names to tensors")
    return dict(state)


def _decode_snapshot(payload: bytes) -> dict[str, Any]:
    snapshot = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    if not isinstance(snapshot, dict):
        raise ValueError("payload is not a training snapshot")
    return dict(snapshot)


def _decode_outputs(payload: bytes) -> ModelOutputs:
    with np.load(io.BytesIO(payload), allow_pickle=False) as archive:
        logits = {name: archive[name] for name in archive.files}
    return ModelOutputs(logits=logits)


def _decode_json(payload: bytes) -> Any:
    return json.loads(payload.decode("utf-8"))


def _decode_values(payload: bytes) -> dict[str, float]:
    data = json.loads(payload.decode("utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, (int, float)) for v in data.values()):
        raise ValueError("metric values must be a JSON object of numbers")
    return {str(k): float(v) for k, v in data.items()}
