"""The quality gate: absolute bounds and no regression beyond tolerance, with a Markdown report."""

from __future__ import annotations

from dataclasses import dataclass

from .config import MetricGate
from .metrics import HIGHER_IS_BETTER


@dataclass(frozen=True)
class Check:
    metric: str
    current: float | None
    baseline: float | None
    bound: str
    passed: bool
    reason: str

    @property
    def delta(self) -> float | None:
        if self.current is None or self.baseline is None:
            return None
        return self.current - self.baseline


def check_metric(name: str, rule: MetricGate, current: float | None, baseline: float | None) -> Check:
    """Absolute bound and regression against the baseline, in the metric's direction; every failed rule."""
    higher = HIGHER_IS_BETTER[name]
    bounds = []
    if rule.min is not None:
        bounds.append(f">= {rule.min:g}")
    if rule.max is not None:
        bounds.append(f"<= {rule.max:g}")
    if baseline is not None:
        sign = "-" if higher else "+"
        tolerance = f"{rule.tolerance:g}" + (" x baseline" if rule.relative else "")
        bounds.append(f"baseline {sign} {tolerance}")
    bound = ", ".join(bounds) or "-"

    if current is None:
        return Check(name, current, baseline, bound, False, f"{name} is missing from the metrics")
    reasons = []
    if rule.min is not None and current < rule.min:
        reasons.append(f"{name} = {current:.4g} is below the minimum {rule.min:g}")
    if rule.max is not None and current > rule.max:
        reasons.append(f"{name} = {current:.4g} is above the maximum {rule.max:g}")
    if baseline is not None:
        allowed = rule.tolerance * abs(baseline) if rule.relative else rule.tolerance
        regression = (baseline - current) if higher else (current - baseline)
        if regression > allowed + 1e-12:
            direction = "dropped" if higher else "rose"
            reasons.append(
                f"{name} {direction} from {baseline:.4g} to {current:.4g}, beyond the tolerance {allowed:.4g}"
            )
    return Check(name, current, baseline, bound, not reasons, "; ".join(reasons))


def evaluate_gate(rules: dict[str, MetricGate], current: dict, baseline: dict | None) -> list[Check]:
    baseline = baseline or {}
    return [check_metric(name, rule, current.get(name), baseline.get(name)) for name, rule in rules.items()]


def _number(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def chart(check: Check) -> list[str]:
    """A Mermaid bar chart (GitHub renders it) of baseline and current for one metric."""
    bars = [("baseline", check.baseline), ("current", check.current)]
    bars = [(label, value) for label, value in bars if value is not None]
    if not bars:
        return []
    direction = "higher" if HIGHER_IS_BETTER[check.metric] else "lower"
    top = max(value for _, value in bars)
    upper = 1.0 if top <= 1.0 and min(value for _, value in bars) >= 0 else round(top * 1.1, 4)
    return [
        "```mermaid",
        "xychart-beta",
        f'    title "{check.metric} ({direction} is better)"',
        f"    x-axis [{', '.join(label for label, _ in bars)}]",
        f'    y-axis "{check.metric}" 0 --> {upper:g}',
        f"    bar [{', '.join(f'{value:.4f}' for _, value in bars)}]",
        "```",
    ]


def report(
    checks: list[Check],
    title: str = "Model quality gate",
    plots_url: str | None = None,
    sections: list[str] | None = None,
    failures: list[str] | None = None,
) -> str:
    """Markdown: verdict, one row per metric (baseline, delta, bound), every failure, further `sections`
    (cross-validation, slices, features) whose rule `failures` also fail the verdict, charts, plots."""
    more_failures = failures or []
    passed = all(check.passed for check in checks) and not more_failures
    lines = [
        f"## {title}: {'PASS' if passed else 'FAIL'}",
        "",
        "| metric | baseline | current | delta | threshold | result |",
        "|---|---:|---:|---:|---|---|",
    ]
    for check in checks:
        arrow = "higher is better" if HIGHER_IS_BETTER[check.metric] else "lower is better"
        lines.append(
            f"| {check.metric} ({arrow}) | {_number(check.baseline)} | {_number(check.current)} "
            f"| {_number(check.delta, signed=True)} | {check.bound} | {'pass' if check.passed else 'FAIL'} |"
        )
    failures = [check.reason for check in checks if not check.passed] + more_failures
    if failures:
        lines += ["", "Failed:", *[f"- {reason}" for reason in failures]]
    if all(check.baseline is None for check in checks):
        lines += ["", "_No baseline given: absolute thresholds only._"]
    if sections:
        lines += ["", *sections]
    lines += ["", "<details><summary>Charts</summary>", ""]
    for check in checks:
        lines += [*chart(check), ""]
    lines.append("</details>")
    if plots_url:
        lines += ["", f"Plots (confusion matrix, ROC curve or residuals) and the model card: {plots_url}"]
    return "\n".join(lines) + "\n"
