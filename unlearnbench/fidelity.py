"""Fidelity records: where each method's and metric's defaults and loop come from in its authors' code.

A built-in method or metric declares ``fidelity: ClassVar[Fidelity]``: the reference repository and the
commit that was read, the file and lines of its loop structure and of every default, and each remaining
difference from that code with the reason it remains and its measured effect. ``python -m
unlearnbench.docsgen`` renders the records as the fidelity tables of ``docs/methods.md`` and
``docs/metrics.md``; a test checks that every default is cited and equals the reference value unless a
recorded difference names it. Records are documentation: they do not enter cache keys
(:func:`unlearnbench.runner.source_hash` leaves them out, like docstrings).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

__all__ = ["Difference", "Fidelity", "Source", "github_url"]

#: Marks a reference value that the reference code does not set (the paper or our own choice does).
NOT_IN_CODE = "not in the reference code"


@dataclass(frozen=True)
class Source:
    """One place in the reference code: ``file`` at ``lines`` (``"120"`` or ``"120-134"``).

    ``value`` is the reference's value where this cites a default (``None``: the place fixes a structure,
    not a single value). ``file`` may be ``"paper"`` for a value the paper states and the code leaves to
    its command line, with ``lines`` naming the section or table; ``repository`` overrides the record's
    repository for a value taken from another codebase.
    """

    file: str
    lines: str
    value: Any = None
    note: str = ""
    repository: str | None = None
    commit: str | None = None


@dataclass(frozen=True)
class Difference:
    """A remaining difference from the reference code.

    ``parameter`` names the default it concerns (``None``: the loop or another structure), so that the
    defaults check accepts that default differing from ``Source.value``.
    """

    what: str
    why: str
    effect: str
    parameter: str | None = None


@dataclass(frozen=True)
class Fidelity:
    """What a method or metric was checked against, and what still differs."""

    paper: str
    #: ``owner/name`` on GitHub; ``None`` where the authors published no code (then ``paper`` is the source).
    repository: str | None
    commit: str | None
    #: Where the loop structure (or the computation, for a metric) sits in the reference code.
    loop: tuple[Source, ...]
    #: One entry per key of the plugin's ``defaults``.
    defaults: Mapping[str, Source] = field(default_factory=dict)
    differences: tuple[Difference, ...] = ()
    #: Where the reference code disagrees with its paper and the paper is followed: what, and both citations.
    paper_over_code: tuple[str, ...] = ()

    def differing_parameters(self) -> frozenset[str]:
        """The defaults that a recorded difference allows to differ from the reference value."""
        return frozenset(d.parameter for d in self.differences if d.parameter)

    def url(self, source: Source) -> str | None:
        """A permanent link to ``source`` (``None`` for the paper or a record without code)."""
        repository = source.repository or self.repository
        commit = source.commit or self.commit
        if source.file == "paper" or not repository or not commit:
            return None
        return github_url(repository, commit, source.file, source.lines)


def github_url(repository: str, commit: str, file: str, lines: str) -> str:
    """``https://github.com/OWNER/NAME/blob/COMMIT/FILE#La-Lb``."""
    anchor = ""
    if lines and lines[0].isdigit():
        first, _, last = lines.partition("-")
        anchor = f"#L{first}" + (f"-L{last}" if last else "")
    return f"https://github.com/{repository}/blob/{commit}/{quote(file)}{anchor}"
