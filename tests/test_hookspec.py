"""unlearnbench/hookspec.py is the one source of the hook contract; docs/hooks.md is generated from it."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from unlearnbench import hookspec
from unlearnbench.docsgen import DOCS, hook_signature, hook_specs, render_hooks, rest_to_markdown

REPO_ROOT = Path(__file__).resolve().parent.parent
#: Every hook contract states these, each as a paragraph of its own.
CONTRACT_LABELS = ("**When:**", "**Result:**", "**If it raises:**", "**Use in:**")
SPECS = hook_specs()


def test_hooks_md_is_generated_from_the_hookspec_docstrings() -> None:
    text = (DOCS / "hooks.md").read_text(encoding="utf-8")
    assert text == render_hooks(), "docs/hooks.md is stale: run python -m unlearnbench.docsgen"
    assert text.splitlines()[0].startswith("<!-- Generated from unlearnbench/hookspec.py by")


def test_hook_specs_are_every_marked_function_in_source_order() -> None:
    names = [name for name, _ in SPECS]
    marked = [n for n, fn in vars(hookspec).items() if callable(fn) and hasattr(fn, f"{hookspec.PROJECT}_spec")]
    assert sorted(names) == sorted(marked) and len(names) >= 9
    lines = [fn.__code__.co_firstlineno for _, fn in SPECS]
    assert lines == sorted(lines)
    assert names[0] == "unlearnbench_configure" and names[-1] == "unlearnbench_sessionfinish"


@pytest.mark.parametrize(("name", "fn"), SPECS, ids=[name for name, _ in SPECS])
def test_every_hook_docstring_states_the_full_contract(name: str, fn: object) -> None:
    doc = inspect.getdoc(fn) or ""
    assert doc.strip(), f"{name} has no docstring"
    parameters = list(inspect.signature(fn).parameters)  # type: ignore[arg-type]
    documented = re.findall(r"^:param (\w+):", doc, flags=re.MULTILINE)
    assert documented == parameters, f"{name}: one :param line per parameter, in order"
    for label in CONTRACT_LABELS:
        assert f"\n{label} " in doc, f"{name} does not state {label}"
    when = doc.split("**When:**", 1)[1].split("\n\n", 1)[0]
    assert re.search(r"\bonce\b", when), f"{name}: say whether it is called once or per item"
    firstresult = getattr(fn, f"{hookspec.PROJECT}_spec")["firstresult"]
    assert ("not ``firstresult``" in doc.lower()) != firstresult, f"{name}: the firstresult statement is wrong"
    assert "exit" in doc.split("**If it raises:**", 1)[1], f"{name}: say what a raising implementation does"


def test_every_hook_section_has_the_exact_signature_heading() -> None:
    text = render_hooks()
    for name, fn in SPECS:
        assert f"\n## `{hook_signature(name, fn)}`\n" in text
    configure = hook_signature("unlearnbench_configure", hookspec.unlearnbench_configure)
    assert configure == "unlearnbench_configure(config: Config, pluginmanager: pluggy.PluginManager) -> None"
    assert hook_signature("unlearnbench_add_presets", hookspec.unlearnbench_add_presets) == (
        "unlearnbench_add_presets() -> dict[str, dict[str, Any]]"
    )


def test_module_docstring_is_rendered_with_the_how_to_section() -> None:
    text = render_hooks()
    assert "\n## How hooks are implemented\n" in text
    assert "```python\nfrom unlearnbench import hookimpl\n\n@hookimpl\ndef unlearnbench_add_methods():" in text
    assert "[writing-plugins.md](writing-plugins.md)" in text


TOY = """Do a thing with :class:`~unlearnbench.api.Method` and :func:`unlearnbench.main`.

:param config: the run's :data:`~unlearnbench.hookimpl` and ``value``; a long
    description that continues here.
:param items: the items.

Example::

    print(":param x: kept as is in ``code``")

.. code-block:: python

    x = 1

Section
-------

See `the guide <guide.md>`_ and :class:`Title <a.b.C>`.
"""


def test_rest_to_markdown_converts_fields_roles_and_blocks() -> None:
    text = rest_to_markdown(TOY)
    assert text.splitlines()[0] == "Do a thing with `Method` and `unlearnbench.main`."
    assert "\n- `config`: the run's `hookimpl` and `value`; a long\n  description that continues here.\n" in text
    assert "\n- `items`: the items.\n" in text
    assert 'Example:\n\n```\nprint(":param x: kept as is in ``code``")\n```\n' in text
    assert "\n```python\nx = 1\n```\n" in text
    assert "\n## Section\n" in text and "-------" not in text
    assert "See [the guide](guide.md) and `Title`." in text
    assert ":class:" not in text and ":param" not in text.replace('":param x:', "")


def test_every_hook_named_in_the_guides_exists() -> None:
    declared = {name for name, _ in SPECS}
    for path in (DOCS / "writing-plugins.md", REPO_ROOT / "README.md"):
        text = path.read_text(encoding="utf-8")
        text = re.sub(r"unknown hook '\w+'", "", text)  # an error message that quotes a misspelt name on purpose
        named = set(re.findall(r"\bunlearnbench_[a-z_]*[a-z]\b", text))
        assert named <= declared, f"{path.name} names hooks that do not exist: {sorted(named - declared)}"
