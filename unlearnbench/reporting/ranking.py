"""The ranking: methods ordered by their distance to the retrained oracle, with intervals and paired tests.

For every item but the reference rows, per replicate seed s:

    d_s = mean over the ranked quantities q of |value_q(s) − mean of the retrain row's value_q|

with the quantities forget, retain and test accuracy (``accuracy.FA``, ``accuracy.RA``, ``accuracy.TA``) and
the strongest membership attack of the run: among the model-scope MIA columns present (:data:`MIA_COLUMNS`)
the one whose original-vs-retrain gap is the largest, i.e. the attack that tells the two apart best. The
distance is the mean of d_s over seeds with its 95 % t-interval (0 is perfect: indistinguishable from
retraining on every quantity). Items are ordered by it; each is compared with the one ranked just above by a
paired t-test over the seeds they share (Student's t on the per-seed differences of d, two-sided, α = 0.05):
``tied_with_above`` marks a difference that is not significant. Utility (test accuracy) and cost (the
unlearning seconds) are carried beside it.

``quantities`` replaces the default list (column keys); a column missing from the run is left out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from unlearnbench.results import ItemResult, RunResults, Summary, summarise

__all__ = [
    "ACCURACY_QUANTITIES", "ALPHA", "MIA_COLUMNS", "RankedItem", "Ranking", "paired_p_value", "rank",
    "strongest_mia",
]  # fmt: skip

#: The accuracy quantities of the distance, in the papers' order.
ACCURACY_QUANTITIES: tuple[str, ...] = ("accuracy.FA", "accuracy.RA", "accuracy.TA")
#: Model-scope membership attacks the ranking may take as its MIA quantity.
MIA_COLUMNS: tuple[str, ...] = ("simple_mia", "loss_mia_auc.auc", "entropy_mia", "mia_efficacy")
#: Significance level of the paired test between neighbours.
ALPHA = 0.05


@dataclass(frozen=True)
class RankedItem:
    """One ranked item: its distance to retraining and what sits beside it."""

    item_id: str
    distance: float
    ci_low: float | None
    ci_high: float | None
    seeds: int
    #: p-value of the paired test against the item ranked just above (None for the first or without pairs).
    p_above: float | None
    test_accuracy: float | None
    seconds: float | None

    @property
    def tied_with_above(self) -> bool:
        """Whether the difference to the item above is not significant at :data:`ALPHA`."""
        return self.p_above is not None and self.p_above >= ALPHA


@dataclass(frozen=True)
class Ranking:
    """The ranked items, best first, and the quantities the distance used."""

    items: tuple[RankedItem, ...]
    quantities: tuple[str, ...]
    #: The original's distance (doing nothing), the bar every method should clear; None without its values.
    original: RankedItem | None = None
    test: str = "paired t-test over seeds (two-sided, α = 0.05)"


def _mean(item: ItemResult, key: str) -> float | None:
    summary = item.summary.get(key)
    return summary.mean if summary is not None and math.isfinite(summary.mean) else None


def strongest_mia(results: RunResults) -> str | None:
    """The model-scope MIA column with the largest |original − retrain| gap in the run (None without one)."""
    try:
        original, retrain = results.item("original"), results.item("retrain")
    except KeyError:
        return None
    gaps = []
    for key in MIA_COLUMNS:
        a, b = _mean(original, key), _mean(retrain, key)
        if a is not None and b is not None:
            gaps.append((abs(a - b), key))
    return max(gaps)[1] if gaps else None


def _per_seed_distance(item: ItemResult, reference: dict[str, float]) -> dict[int, float]:
    out: dict[int, float] = {}
    for seed in item.seeds:
        gaps = [abs(seed.values[q] - ref) for q, ref in reference.items() if q in seed.values]
        if len(gaps) == len(reference) and all(math.isfinite(g) for g in gaps):
            out[seed.seed] = sum(gaps) / len(gaps)
    return out


def paired_p_value(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Two-sided p of Student's paired t-test of ``a`` against ``b`` (None with fewer than two pairs; 1.0 when
    every difference is the same)."""
    if len(a) != len(b) or len(a) < 2:
        return None
    diffs = [x - y for x, y in zip(a, b, strict=True)]
    mean = sum(diffs) / len(diffs)
    variance = sum((d - mean) ** 2 for d in diffs) / (len(diffs) - 1)
    if variance <= (1e-12 * max(1.0, abs(mean))) ** 2:  # the same difference every seed (up to round-off)
        return 1.0 if abs(mean) <= 1e-12 else 0.0
    from scipy import stats

    t = mean / math.sqrt(variance / len(diffs))
    return float(2 * stats.t.sf(abs(t), df=len(diffs) - 1))


def rank(results: RunResults, quantities: Sequence[str] | None = None) -> Ranking | None:
    """The ranking of ``results`` (None without a ``retrain`` row or any ranked quantity)."""
    try:
        retrain = results.item("retrain")
    except KeyError:
        return None
    if quantities is None:
        mia = strongest_mia(results)
        quantities = (*ACCURACY_QUANTITIES, *((mia,) if mia else ()))
    reference = {q: v for q in quantities if (v := _mean(retrain, q)) is not None}
    if not reference:
        return None
    scored = []
    baseline = None
    for item in results.items:
        if item.outcome in ("skipped", "error") or (item.is_reference and item.item_id != "original"):
            continue
        per_seed = _per_seed_distance(item, reference)
        if not per_seed:
            continue
        if item.item_id == "original":
            baseline = _ranked(item, summarise(list(per_seed.values())), None)
        else:
            scored.append((summarise(list(per_seed.values())), per_seed, item))
    scored.sort(key=lambda entry: (entry[0].mean, entry[2].item_id))
    ranked: list[RankedItem] = []
    for index, (summary, per_seed, item) in enumerate(scored):
        p_above = None
        if index > 0:
            above = scored[index - 1][1]
            shared = sorted(set(above) & set(per_seed))
            p_above = paired_p_value([per_seed[s] for s in shared], [above[s] for s in shared])
        ranked.append(_ranked(item, summary, p_above))
    return Ranking(items=tuple(ranked), quantities=tuple(reference), original=baseline)


def _ranked(item: ItemResult, summary: Summary, p_above: float | None) -> RankedItem:
    seconds = _mean(item, "runtime.seconds")
    if seconds is None and item.seeds:
        seconds = sum(s.unlearn_seconds for s in item.seeds) / len(item.seeds)
    return RankedItem(
        item_id=item.item_id, distance=summary.mean, ci_low=summary.ci_low, ci_high=summary.ci_high,
        seeds=summary.n, p_above=p_above, test_accuracy=_mean(item, "accuracy.TA"), seconds=seconds,
    )  # fmt: skip


def distance_text(item: RankedItem) -> str:
    """``0.0094 [0.0050, 0.0139]``: the distance and its 95 % interval, the lower end clipped at 0 (a
    distance is never negative; the t-interval may be)."""
    digits = 4 if item.distance < 0.1 else 3
    text = f"{item.distance:.{digits}f}"
    if item.ci_low is not None and item.ci_high is not None and item.ci_high - item.ci_low > 1e-12:
        text += f" [{max(0.0, item.ci_low):.{digits}f}, {item.ci_high:.{digits}f}]"
    return text


def tie_text(item: RankedItem) -> str:
    """``≈`` with the p-value where the item is not significantly different from the one above, else ``""``."""
    return f"≈ (p = {item.p_above:.2f})" if item.tied_with_above and item.p_above is not None else ""


def quantity_text(ranking: Ranking) -> str:
    """What the distance averages, for a legend."""
    return ", ".join(ranking.quantities)
