"""Every built-in method and metric carries a fidelity record that cites its reference code, and its
defaults are the reference's (or a recorded difference says why not); no method inherits a training
setting from the bench's recipe; cache keys follow the code, not its documentation."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
import torch

from unlearnbench.docsgen import builtin_registry, render_methods, render_metrics
from unlearnbench.fidelity import Difference, Fidelity, Source, github_url
from unlearnbench.runner import code_fingerprint
from unlearnbench.session import merge_params
from unlearnbench.testing import tiny_bench, unlearn_context

REGISTRY = builtin_registry()
METHODS = sorted(REGISTRY.methods)
METRICS = sorted(REGISTRY.metrics)
COMMIT = re.compile(r"^[0-9a-f]{40}$")


def _record(kind: str, name: str) -> tuple[type, Fidelity]:
    entries = REGISTRY.methods if kind == "method" else REGISTRY.metrics
    cls = entries[name].cls
    record = getattr(cls, "fidelity", None)
    assert isinstance(record, Fidelity), f"{kind} {name} has no fidelity record"
    return cls, record


def _check_record(cls: type, record: Fidelity, where: str) -> None:
    assert record.paper.strip(), f"{where}: no paper"
    if record.repository is not None:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", record.repository), f"{where}: repository {record.repository!r}"
        assert record.commit and COMMIT.match(record.commit), f"{where}: commit must be 40 hex digits"
    assert record.loop, f"{where}: the loop structure is not cited"
    for source in (*record.loop, *record.defaults.values()):
        assert source.file.strip() and source.lines.strip(), f"{where}: a source without file and lines"
        if source.commit is not None:
            assert COMMIT.match(source.commit), f"{where}: {source.file}: commit must be 40 hex digits"
    for difference in record.differences:
        assert difference.what.strip() and difference.why.strip() and difference.effect.strip(), (
            f"{where}: a difference without what / why / measured effect"
        )
    defaults = dict(getattr(cls, "defaults", {}) or {})
    assert set(record.defaults) == set(defaults), (
        f"{where}: cited {sorted(record.defaults)} but the defaults are {sorted(defaults)}"
    )
    allowed = record.differing_parameters()
    unknown = sorted(allowed - set(defaults))
    assert not unknown, f"{where}: a difference names an unknown parameter {unknown}"
    for key, source in record.defaults.items():
        if source.value is None or key in allowed:
            continue
        assert defaults[key] == source.value, (
            f"{where}: default {key}={defaults[key]!r} but the reference uses {source.value!r} "
            "(fix it, or record a Difference naming it)"
        )


@pytest.mark.parametrize("name", METHODS)
def test_every_method_cites_its_reference_for_every_default(name: str) -> None:
    cls, record = _record("method", name)
    _check_record(cls, record, f"method {name}")


@pytest.mark.parametrize("name", METRICS)
def test_every_metric_cites_its_reference(name: str) -> None:
    cls, record = _record("metric", name)
    _check_record(cls, record, f"metric {name}")


def test_the_defaults_check_rejects_an_uncited_or_changed_default() -> None:
    class Plugin:
        defaults = {"lr": 0.01, "momentum": 0.9}

    record = Fidelity(
        paper="p", repository="o/r", commit="a" * 40, loop=(Source("f.py", "1"),),
        defaults={"lr": Source("f.py", "2", value=0.01), "momentum": Source("f.py", "3", value=0.0)},
    )  # fmt: skip
    with pytest.raises(AssertionError, match="momentum=0.9 but the reference uses 0.0"):
        _check_record(Plugin, record, "plugin")
    excused = dataclasses.replace(record, differences=(Difference("m", "because", "FA +0.01", parameter="momentum"),))
    _check_record(Plugin, excused, "plugin")
    uncited = dataclasses.replace(record, defaults={"lr": Source("f.py", "2", value=0.01)})
    with pytest.raises(AssertionError, match="cited"):
        _check_record(Plugin, uncited, "plugin")


def test_generated_references_carry_the_fidelity_tables() -> None:
    methods, metrics = render_methods(REGISTRY), render_metrics(REGISTRY)
    for text, names in ((methods, METHODS), (metrics, METRICS)):
        assert "## Fidelity to the reference code" in text
        for name in names:
            assert f"### `{name}`" in text, f"{name} has no fidelity section"
        assert "**uncited**" not in text


def test_github_links_point_at_the_commit_and_lines() -> None:
    assert github_url("o/r", "c" * 40, "a/b.py", "10-20") == f"https://github.com/o/r/blob/{'c' * 40}/a/b.py#L10-L20"
    assert github_url("o/r", "c" * 40, "My nb.ipynb", "cell 4").endswith("/My%20nb.ipynb")


# ----------------------------------------------------------------------------- nothing inherited

#: Two recipes of the bench that differ in every field a method could inherit.
_POISON = (
    dict(epochs=1, lr=0.0777, momentum=0.333, weight_decay=0.0123, batch_size=19, schedule="cosine",
         augment=True, nesterov=True, optimizer="adam"),
    dict(epochs=2, lr=0.0555, momentum=0.111, weight_decay=0.0456, batch_size=23, schedule="constant",
         augment=False, nesterov=False, optimizer="sgd"),
)  # fmt: skip


def _unlearned_weights(name: str, poison: dict[str, Any]) -> list[torch.Tensor]:
    cls = REGISTRY.methods[name].cls
    bench = tiny_bench(forget="class:1") if getattr(cls, "requires_class_forget", False) else tiny_bench()
    params = merge_params(cls, bench.raw.name, {})
    model, ctx = unlearn_context(bench, params, seed=0)
    ctx.recipe = dataclasses.replace(ctx.recipe, **poison)
    torch.manual_seed(0)
    result = cls().unlearn(model, ctx)
    return [t.detach().clone() for t in result.state_dict().values()]


@pytest.mark.parametrize("name", [m for m in METHODS if m not in ("original", "retrain")])
def test_no_method_inherits_a_training_setting_from_the_bench_recipe(name: str) -> None:
    """The unlearned weights are the same bits whatever the bench's own recipe: every setting is the method's."""
    first, second = (_unlearned_weights(name, poison) for poison in _POISON)
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a, b), f"{name}'s result depends on the bench's training recipe"


# ----------------------------------------------------------------------------- cache keys


def test_code_fingerprint_ignores_docstrings_comments_and_fidelity_records() -> None:
    code = 'x = 1\n\nclass A:\n    defaults = {"lr": 0.1}\n\n    def f(self):\n        return x\n'
    documented = (
        '"""Module."""\n# a comment\nx = 1\n\nclass A:\n    """A."""\n\n    defaults = {"lr": 0.1}\n'
        '    fidelity = Fidelity(paper="p", repository=None, commit=None, loop=())\n\n'
        '    def f(self):\n        """F."""\n        return x\n'
    )
    assert code_fingerprint(code) == code_fingerprint(documented)
    assert code_fingerprint(code) != code_fingerprint(code.replace("0.1", "0.01"))
    assert code_fingerprint(code) != code_fingerprint(code.replace("return x", "return x + 1"))


def test_unlearned_keys_follow_the_methods_training_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """A change to the loop methods train through (``METHOD_LOOP_VERSION``) invalidates their cached results."""
    from unlearnbench.runner import bench as runner

    bench = tiny_bench()
    entry = REGISTRY.methods["finetune"]
    before = bench.unlearned_key(entry, {"lr": 0.1}, 0)
    assert bench.unlearned_key(entry, {"lr": 0.1}, 0) == before
    monkeypatch.setattr(runner, "METHOD_LOOP_VERSION", runner.METHOD_LOOP_VERSION + 1)
    assert bench.unlearned_key(entry, {"lr": 0.1}, 0) != before


def test_a_modules_fingerprint_is_parsed_once_and_follows_its_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """source_hash memoises the parse on the module's text: the same text is parsed once, new text again."""
    import ast

    from unlearnbench import cache

    parses: list[str] = []
    real_parse = ast.parse
    monkeypatch.setattr(cache.ast, "parse", lambda source, *a, **k: parses.append(source) or real_parse(source))
    cache._fingerprint_digest.cache_clear()
    first = cache._fingerprint_digest("x = 1\n")
    assert cache._fingerprint_digest("x = 1\n") == first and len(parses) == 1
    assert cache._fingerprint_digest("x = 2\n") != first and len(parses) == 2
    assert cache._fingerprint_digest('"""doc"""\nx = 1\n') == first  # docstrings still do not count
