"""docs/methods.md and docs/metrics.md are generated from the registry and stay in sync with it."""

from __future__ import annotations

from unlearnbench.docsgen import DOCS, builtin_registry, main


def test_generated_references_are_up_to_date() -> None:
    assert main(["--check"]) == 0, "run: python -m unlearnbench.docsgen"


def test_every_builtin_method_and_metric_has_a_page_and_no_page_is_orphaned() -> None:
    registry = builtin_registry()
    for kind, entries in (("methods", registry.methods), ("metrics", registry.metrics)):
        pages = {p.stem for p in (DOCS / kind).glob("*.md")}
        assert pages == set(entries), f"docs/{kind}/: missing {set(entries) - pages}, orphaned {pages - set(entries)}"


def test_every_description_cites_a_source() -> None:
    """A description names its paper or source (an author/venue/year or a named source in parentheses)."""
    registry = builtin_registry()
    for entry in [*registry.methods.values(), *registry.metrics.values()]:
        assert "(" in entry.description or entry.name in ("original", "retrain"), entry.name
