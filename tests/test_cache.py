"""Tests of the content-addressed cache: keys, round trips, corruption handling, disabled and bad roots."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import platformdirs
import pytest
import torch

from unlearnbench import __version__
from unlearnbench.api import ModelOutputs
from unlearnbench.cache import (
    CACHE_DIR_ENV,
    OUTPUTS_KIND,
    Cache,
    CacheWarning,
    canonical_json,
    content_key,
    default_cache_dir,
)
from unlearnbench.errors import UsageError

KEY = content_key({"what": "test entry"})


def _state() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "conv.weight": torch.randn(4, 3, 3, 3, generator=g),
        "bn.running_mean": torch.randn(4, generator=g),
        "bn.num_batches_tracked": torch.tensor(7),
        "mask": torch.tensor([True, False, True]),
        "half": torch.randn(5, generator=g).half(),
    }


def _outputs() -> ModelOutputs:
    rng = np.random.default_rng(0)
    return ModelOutputs(
        logits={
            "forget": rng.standard_normal((6, 3)).astype(np.float32),
            "retain": rng.standard_normal((9, 3)).astype(np.float32),
            "test": rng.standard_normal((4, 3)).astype(np.float32),
            "val": np.zeros((0, 3), dtype=np.float32),
        }
    )


def _corrupt_warning(record: list[warnings.WarningMessage], path: Path) -> str:
    messages = [str(w.message) for w in record if issubclass(w.category, CacheWarning)]
    assert len(messages) == 1, messages
    assert str(path) in messages[0]
    return messages[0]


# -- keys ------------------------------------------------------------------------------------------


def test_content_key_matches_hand_computed_digest() -> None:
    expected = hashlib.sha256(b'{"a":1,"b":[0.1,true,null,"x"]}').hexdigest()
    assert content_key({"b": [0.1, True, None, "x"], "a": 1}) == expected


def test_content_key_is_stable_and_order_independent() -> None:
    parts = {"dataset": "digits", "seed": 3, "recipe": {"lr": 0.1, "epochs": 30}, "split": [1, 2, 3]}
    reordered = {"split": [1, 2, 3], "recipe": {"epochs": 30, "lr": 0.1}, "seed": 3, "dataset": "digits"}
    assert content_key(parts) == content_key(dict(parts)) == content_key(reordered)
    assert len(content_key(parts)) == 64


BASE_PARTS: dict[str, Any] = {"seed": 3, "lr": 0.1}


@pytest.mark.parametrize(
    "other",
    [
        {"seed": 4, "lr": 0.1},
        {"seed": 3.0, "lr": 0.1},  # int and float are different values
        {"seed": True, "lr": 0.1},
        {"seed": 3, "lr": 0.1000000000000001},
        {"seed": 3, "lr": 0.1, "extra": None},
        {"seed": [3], "lr": 0.1},
        {"seed": "3", "lr": 0.1},
    ],
)
def test_content_key_changes_with_any_value(other: dict[str, Any]) -> None:
    assert content_key(BASE_PARTS) != content_key(other)


def test_content_key_floats_use_repr() -> None:
    assert canonical_json({"x": 0.1, "y": 1e-20, "z": 2.0}) == '{"x":0.1,"y":1e-20,"z":2.0}'


def test_content_key_normalises_numpy_values() -> None:
    plain = {"n": 5, "f": 0.25, "b": True, "idx": [[1, 2], [3, 4]]}
    numpy = {
        "n": np.int32(5),
        "f": np.float64(0.25),
        "b": np.bool_(True),
        "idx": np.array([[1, 2], [3, 4]], dtype=np.int16),
    }
    assert content_key(numpy) == content_key(plain)
    assert content_key({"idx": np.arange(4, dtype=np.int64)}) == content_key({"idx": (0, 1, 2, 3)})
    assert content_key({"idx": np.arange(4)}) != content_key({"idx": np.arange(1, 5)})


@pytest.mark.parametrize(
    "bad",
    [
        {"s": {1, 2}},
        {"p": Path("x")},
        {"o": object()},
        {"nested": {1: "int key"}},
        {"t": torch.zeros(2)},
        {"arr": np.array([object()], dtype=object)},
    ],
)
def test_content_key_rejects_non_json_values(bad: dict[str, Any]) -> None:
    with pytest.raises(TypeError):
        content_key(bad)


def test_default_cache_dir_honours_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(CACHE_DIR_ENV, str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv(CACHE_DIR_ENV)
    assert default_cache_dir() == Path(platformdirs.user_cache_dir("unlearnbench"))


# -- round trips -----------------------------------------------------------------------------------


def test_state_round_trip_miss_then_hit(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    assert cache.load_state("original", KEY) is None
    assert (cache.hits, cache.misses, cache.corrupt) == (0, 1, 0)
    assert not any(tmp_path.iterdir())  # a load creates nothing

    state = _state()
    cache.save_state("original", KEY, state, {"seconds": 1.5, "parts": {"seed": 0}})
    loaded = cache.load_state("original", KEY)
    assert loaded is not None
    tensors, meta = loaded
    assert meta == {"seconds": 1.5, "parts": {"seed": 0}}
    assert list(tensors) == list(state)
    for name, tensor in state.items():
        assert tensors[name].dtype == tensor.dtype
        assert tensors[name].device.type == "cpu"
        assert torch.equal(tensors[name], tensor)
    assert cache.stats() == {"hits": 1, "misses": 1, "corrupt": 0}
    # Kinds are separate namespaces.
    assert cache.load_state("oracle", KEY) is None


def test_layout_and_sidecar(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.save_state("oracle", KEY, _state(), {"seconds": 2})
    payload = tmp_path / "oracle" / KEY[:2] / f"{KEY}.pt"
    sidecar_path = tmp_path / "oracle" / KEY[:2] / f"{KEY}.json"
    assert payload.is_file() and sidecar_path.is_file()
    sidecar = json.loads(sidecar_path.read_text())
    assert sidecar["sha256"] == hashlib.sha256(payload.read_bytes()).hexdigest()
    assert sidecar["size"] == payload.stat().st_size
    assert sidecar["meta"] == {"seconds": 2}
    assert sidecar["versions"]["unlearnbench"] == __version__
    assert sidecar["versions"]["torch"] == torch.__version__
    assert not list(payload.parent.glob("*.tmp"))


def test_outputs_round_trip(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    assert cache.load_outputs(KEY) is None
    outputs = _outputs()
    cache.save_outputs(KEY, outputs, {"model": "unlearned"})
    assert (tmp_path / OUTPUTS_KIND / KEY[:2] / f"{KEY}.npz").is_file()
    loaded = cache.load_outputs(KEY)
    assert loaded is not None
    got, meta = loaded
    assert meta == {"model": "unlearned"}
    assert list(got.logits) == ["forget", "retain", "test", "val"]
    for split, logits in outputs.logits.items():
        assert got[split].dtype == np.float32
        assert got[split].shape == logits.shape
        np.testing.assert_array_equal(got[split], logits)


def test_second_save_of_a_key_replaces_the_first(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.save_state("unlearned", KEY, {"w": torch.zeros(2)}, {"n": 1})
    cache.save_state("unlearned", KEY, {"w": torch.ones(3)}, {"n": 2})
    loaded = cache.load_state("unlearned", KEY)
    assert loaded is not None
    assert torch.equal(loaded[0]["w"], torch.ones(3)) and loaded[1] == {"n": 2}


def test_invalid_kind_key_and_meta(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    with pytest.raises(ValueError):
        cache.load_state("../escape", KEY)
    with pytest.raises(ValueError):
        cache.load_state("original", "../../etc")
    with pytest.raises(TypeError):
        cache.save_state("original", KEY, _state(), {"when": object()})
    with pytest.raises(TypeError):
        cache.save_state("original", KEY, {"w": [1.0]}, {})  # type: ignore[dict-item]
    assert not (tmp_path / "original").exists()


# -- corruption ------------------------------------------------------------------------------------


def _saved(tmp_path: Path) -> tuple[Cache, Path, Path]:
    cache = Cache(tmp_path)
    cache.save_state("original", KEY, _state(), {"seconds": 1.0})
    folder = tmp_path / "original" / KEY[:2]
    return cache, folder / f"{KEY}.pt", folder / f"{KEY}.json"


def _assert_discarded(cache: Cache, payload: Path, sidecar: Path) -> None:
    assert not payload.exists() and not sidecar.exists()
    assert (cache.hits, cache.misses, cache.corrupt) == (0, 1, 1)
    # The next load is an ordinary miss.
    assert cache.load_state("original", KEY) is None
    assert cache.corrupt == 1 and cache.misses == 2


def test_flipped_bytes_are_detected(tmp_path: Path) -> None:
    cache, payload, sidecar = _saved(tmp_path)
    data = bytearray(payload.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 4] = bytes(b ^ 0xFF for b in data[middle : middle + 4])
    payload.write_bytes(bytes(data))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert cache.load_state("original", KEY) is None
    assert "sha256" in _corrupt_warning(record, payload)
    _assert_discarded(cache, payload, sidecar)


def test_truncated_payload_is_detected(tmp_path: Path) -> None:
    cache, payload, sidecar = _saved(tmp_path)
    payload.write_bytes(payload.read_bytes()[:100])
    with pytest.warns(CacheWarning, match="truncated"):
        assert cache.load_state("original", KEY) is None
    _assert_discarded(cache, payload, sidecar)


def test_missing_sidecar_is_corrupt(tmp_path: Path) -> None:
    cache, payload, sidecar = _saved(tmp_path)
    sidecar.unlink()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert cache.load_state("original", KEY) is None
    assert "sidecar" in _corrupt_warning(record, payload)
    _assert_discarded(cache, payload, sidecar)


def test_missing_payload_is_corrupt(tmp_path: Path) -> None:
    cache, payload, sidecar = _saved(tmp_path)
    payload.unlink()
    with pytest.warns(CacheWarning, match="missing"):
        assert cache.load_state("original", KEY) is None
    _assert_discarded(cache, payload, sidecar)


@pytest.mark.parametrize("tamper", ["sha", "json", "key"])
def test_tampered_sidecar_is_detected(tmp_path: Path, tamper: str) -> None:
    cache, payload, sidecar = _saved(tmp_path)
    data = json.loads(sidecar.read_text())
    if tamper == "sha":
        data["sha256"] = hashlib.sha256(b"something else").hexdigest()
        sidecar.write_text(json.dumps(data))
    elif tamper == "key":
        data["key"] = content_key({"other": 1})
        sidecar.write_text(json.dumps(data))
    else:
        sidecar.write_text(sidecar.read_text()[:-20])
    with pytest.warns(CacheWarning, match=KEY):
        assert cache.load_state("original", KEY) is None
    _assert_discarded(cache, payload, sidecar)


def _rewrite_payload(payload: Path, sidecar: Path, data: bytes) -> None:
    """Replace the payload and make the sidecar agree, so only deserialisation can catch it."""
    payload.write_bytes(data)
    meta = json.loads(sidecar.read_text())
    meta.update(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    sidecar.write_text(json.dumps(meta))


def test_unreadable_payload_with_valid_checksum(tmp_path: Path) -> None:
    cache, payload, sidecar = _saved(tmp_path)
    _rewrite_payload(payload, sidecar, b"not a torch file at all")
    with pytest.warns(CacheWarning, match="unreadable"):
        assert cache.load_state("original", KEY) is None
    _assert_discarded(cache, payload, sidecar)


_EXECUTED: list[str] = []


def _record_execution(tag: str) -> str:
    _EXECUTED.append(tag)
    return tag


class _Payload:
    """Pickles as a call of :func:`_record_execution`, which a full unpickler would run."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (_record_execution, ("ran",))


def test_pickled_code_is_never_executed(tmp_path: Path) -> None:
    cache, payload, sidecar = _saved(tmp_path)
    _EXECUTED.clear()
    malicious = tmp_path / "evil.pt"
    torch.save({"w": _Payload()}, malicious)
    _rewrite_payload(payload, sidecar, malicious.read_bytes())
    with pytest.warns(CacheWarning, match="unreadable"):
        assert cache.load_state("original", KEY) is None
    assert _EXECUTED == []
    _assert_discarded(cache, payload, sidecar)


def test_payload_of_the_wrong_shape_is_corrupt(tmp_path: Path) -> None:
    cache, payload, sidecar = _saved(tmp_path)
    other = tmp_path / "list.pt"
    torch.save([torch.zeros(2)], other)
    _rewrite_payload(payload, sidecar, other.read_bytes())
    with pytest.warns(CacheWarning, match="mapping of names to tensors"):
        assert cache.load_state("original", KEY) is None
    _assert_discarded(cache, payload, sidecar)


def test_corrupt_outputs_are_detected(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.save_outputs(KEY, _outputs(), {})
    payload = tmp_path / OUTPUTS_KIND / KEY[:2] / f"{KEY}.npz"
    payload.write_bytes(payload.read_bytes()[:-10])
    with pytest.warns(CacheWarning, match=str(payload)):
        assert cache.load_outputs(KEY) is None
    assert not payload.exists() and cache.corrupt == 1


# -- disabled cache and bad roots ------------------------------------------------------------------


def test_disabled_cache_never_reads_or_writes(tmp_path: Path) -> None:
    root = tmp_path / "root"
    Cache(root).save_state("original", KEY, _state(), {})
    disabled = Cache(root / "never", enabled=False)
    disabled.save_state("original", KEY, _state(), {})
    disabled.save_outputs(KEY, _outputs(), {})
    assert not (root / "never").exists()
    # Even an existing entry is a miss when disabled.
    off = Cache(root, enabled=False)
    assert off.load_state("original", KEY) is None
    assert off.load_outputs(KEY) is None
    assert off.stats() == {"hits": 0, "misses": 2, "corrupt": 0}


def test_root_under_a_file_is_a_usage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    root = blocker / "cache"
    cache = Cache(root)
    assert cache.load_state("original", KEY) is None  # reading never fails
    with pytest.raises(UsageError) as info:
        cache.save_state("original", KEY, _state(), {})
    message = str(info.value)
    assert str(root) in message and "\n" not in message
    with pytest.raises(UsageError):
        cache.save_outputs(KEY, _outputs(), {})


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores permissions")
def test_read_only_root_is_a_usage_error(tmp_path: Path) -> None:
    root = tmp_path / "ro"
    root.mkdir()
    root.chmod(0o555)
    try:
        with pytest.raises(UsageError, match=str(root)):
            Cache(root).save_state("original", KEY, _state(), {})
    finally:
        root.chmod(0o755)


def test_concurrent_writers_leave_a_consistent_entry(tmp_path: Path) -> None:
    errors: list[BaseException] = []
    corrupt: list[int] = []

    def writer(value: float) -> None:
        cache = Cache(tmp_path)  # one instance per writer, as separate processes would have
        try:
            for _ in range(10):
                cache.save_state("oracle", KEY, {"w": torch.full((2000,), value)}, {"value": value})
                loaded = cache.load_state("oracle", KEY)
                assert loaded is not None
                tensors, meta = loaded
                assert bool((tensors["w"] == meta["value"]).all())
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread
            errors.append(exc)
        corrupt.append(cache.corrupt)

    threads = [threading.Thread(target=writer, args=(float(i),)) for i in range(4)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheWarning)
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert corrupt == [0, 0, 0, 0]
    final = Cache(tmp_path).load_state("oracle", KEY)
    assert final is not None and bool((final[0]["w"] == final[1]["value"]).all())
