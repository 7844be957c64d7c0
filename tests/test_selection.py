"""Item ids, grid expansion, --method patterns, -k expressions and "did you mean"."""

from __future__ import annotations

import pytest

from unlearnbench.errors import UsageError
from unlearnbench.selection import (
    KeywordExpression,
    did_you_mean,
    expand_grid,
    item_id,
    matches_pattern,
    parse_explicit_item,
)


def test_item_id_formats_params_in_order() -> None:
    assert item_id("finetune", {}) == "finetune"
    assert item_id("finetune", {"epochs": 25, "lr": 0.1}) == "finetune[epochs=25,lr=0.1]"
    assert item_id("m", {"flag": True, "x": 4e-4}) == "m[flag=true,x=0.0004]"


def test_expand_grid_cartesian_and_explicit() -> None:
    assert expand_grid({"a": [1, 2], "b": ["x"]}) == [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}]
    points = [{"epochs": 5, "lr": 0.1}, {"epochs": 25, "lr": 0.1}]
    assert expand_grid(points) == points
    assert expand_grid(None) == []
    with pytest.raises(TypeError):
        expand_grid({"a": 3})


def test_parse_explicit_item() -> None:
    assert parse_explicit_item("finetune[epochs=3,lr=0.01]") == ("finetune", {"epochs": 3, "lr": 0.01})
    assert parse_explicit_item("fine*") is None
    assert parse_explicit_item("finetune[ab]") is None
    with pytest.raises(UsageError, match="key=value"):
        parse_explicit_item("finetune[epochs=3,oops]")


def test_patterns_match_names_and_ids() -> None:
    assert matches_pattern("finetune", "finetune[epochs=5,lr=0.1]", "fine*")
    assert matches_pattern("finetune", "finetune[epochs=5,lr=0.1]", "finetune[epochs=5,lr=0.1]")
    assert matches_pattern("finetune", "finetune[epochs=5,lr=0.1]", "finetune[epochs=5,*")
    assert not matches_pattern("finetune", "finetune[epochs=5,lr=0.1]", "scrub")


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("finetune", {"finetune[epochs=5]", "finetune[epochs=25]"}),
        ("finetune and not epochs=25", {"finetune[epochs=5]"}),
        ("adv or epochs=25", {"adversarial", "finetune[epochs=25]"}),
        ("not (finetune or adv)", {"scrub"}),
    ],
)
def test_keyword_expressions(expr: str, expected: set[str]) -> None:
    ids = ["finetune[epochs=5]", "finetune[epochs=25]", "adversarial", "scrub"]
    compiled = KeywordExpression(expr)
    assert {i for i in ids if compiled.matches(i)} == expected


@pytest.mark.parametrize("bad", ["", "and", "(finetune", "finetune )", "not"])
def test_bad_keyword_expressions_are_usage_errors(bad: str) -> None:
    with pytest.raises(UsageError):
        KeywordExpression(bad)


def test_did_you_mean() -> None:
    assert did_you_mean("scrb", ["scrub", "ssd", "finetune"]) == ". Did you mean: scrub?"
    assert "Available: a, b" in did_you_mean("zzz", ["a", "b"])
