"""Matplotlib figures: learning curves (log N axis, 95% bands, the untrained tie point marked)
and the negative-head weighting sweep."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {
    "base": "#555555",
    "sft": "#1f77b4",
    "likra": "#d62728",
    "neg-only": "#2ca02c",
    "pos-base": "#9467bd",
    "answer-prior": "#8c564b",
    "likra (no question)": "#ff7f0e",
}
TIE_MODES = ("likra", "neg-only", "pos-base", "likra (no question)")


def _zero_x(curves: dict) -> float:
    """Where N = 0 sits on the log axis: one octave left of the smallest positive N."""
    positive = [p[0] for pts in curves.values() for p in pts if p[0] > 0]
    return min(positive) / 2 if positive else 1.0


def learning_curves(
    curves: dict[str, list[tuple[int, float, float, float]]],
    title: str,
    path: Path,
    tie_point: float | None = None,
    metric: str = "acc_norm",
) -> Path:
    """One line per mode: points (N, value, lo, hi); N = 0 drawn at the left edge."""
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=120)
    zero = _zero_x(curves)
    _x = lambda n: zero if n == 0 else n  # noqa: E731
    for mode, points in curves.items():
        if mode in TIE_MODES or mode.startswith("likra,"):
            points = [p for p in points if p[0] > 0]  # their N = 0 is a tie, drawn as a marker
        if not points:
            continue
        xs = [_x(p[0]) for p in points]
        style = "--" if mode in ("base", "answer-prior") else "-"
        color = COLORS.get(mode)
        ax.plot(xs, [p[1] for p in points], style, marker="o", ms=3.5, label=mode, color=color)
        ax.fill_between(xs, [p[2] for p in points], [p[3] for p in points], alpha=0.15, color=color)
    if tie_point is not None:
        ax.scatter(
            [zero],
            [tie_point],
            marker="x",
            s=60,
            color="black",
            zorder=5,
            label="untrained heads: all likra scores tie (first choice)",
        )
    ax.set_xscale("log", base=2)
    ticks = sorted({_x(p[0]) for pts in curves.values() for p in pts})
    ax.set_xticks(ticks)
    ax.set_xticklabels(["0" if t == zero else str(int(t)) for t in ticks], fontsize=8)
    ax.set_xlabel("training questions N (log scale)")
    ax.set_ylabel(f"{metric} (mean over seeds, 95% CI)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7.5, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def weighting_plot(rows: list[dict], title: str, path: Path) -> Path:
    """acc_norm against w_neg, one line per N, for likra (solid) and neg-only (dashed)."""
    fig, ax = plt.subplots(figsize=(7, 4.4), dpi=120)
    sizes = sorted({r["N"] for r in rows})
    cmap = plt.get_cmap("viridis")
    for i, n in enumerate(sizes):
        color = cmap(i / max(len(sizes) - 1, 1))
        sel = [r for r in rows if r["N"] == n]
        ws = [r["w_neg"] for r in sel]
        ax.plot(ws, [r["likra"].value for r in sel], "-", marker="o", ms=3, color=color, label=f"likra N={n}")
        ax.plot(ws, [r["neg-only"].value for r in sel], "--", color=color, alpha=0.7)
    ax.set_xlabel("w_neg (w_pos = 1; dashed: base - w_neg * neg)")
    ax.set_ylabel("acc_norm")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
