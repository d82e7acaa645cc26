"""The perception-distortion figure of a table (paper hollow, ours filled)."""
from __future__ import annotations

from pathlib import Path

from gansr.tables.spec import TableSpec
from gansr.utils.atomic import atomic_path

NO_REFERENCE = ("LPIPS", "PI", "NIQE")  # no-reference / perceptual axes of the perception-distortion plane
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


def perception_distortion_figure(table: TableSpec, rows: list[dict[str, object]]):
    """The figure of :func:`plot_perception_distortion`. Panels, paper hollow and ours filled, one colour and marker
    per method (figure legend):

    * one PSNR (x) vs LPIPS / PI / NIQE (y) panel per metric that has a (PSNR, metric) pair in the paper or in ours;
    * a dot chart per method of each no-reference metric the paper reports without PSNR (the mask table's PI); when
      the paper reports no no-reference metric at all (SRGAN's table), a dot chart of its PSNR.

    Collections are labelled ``"<method> (paper|ours)"``.
    """
    import math

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    def cells(source: str) -> dict[tuple[str, str], dict[str, float]]:
        out: dict[tuple[str, str], dict[str, float]] = {}
        for r in rows:
            if r[source] != "":
                out.setdefault((r["method"], r["dataset"]), {})[r["metric"]] = float(r[source])
        return out

    paper, ours = cells("paper"), cells("ours")
    sources = (("paper", paper, "none"), ("ours", ours, None))
    scatter_metrics = [m for m in NO_REFERENCE if any("PSNR" in v and m in v for c in (paper, ours) for v in c.values())]
    unpaired = [m for v in paper.values() if "PSNR" not in v for m in NO_REFERENCE if m in v]
    dot_metrics = list(dict.fromkeys(unpaired))
    if not any(m in v for v in paper.values() for m in NO_REFERENCE) and any("PSNR" in v for v in paper.values()):
        dot_metrics.append("PSNR")  # the paper reports distortion only: compare PSNR per method
    panels = [("plane", m) for m in scatter_metrics] + [("dots", m) for m in dot_metrics] or [("plane", "PI")]
    methods = list(dict.fromkeys(r["method"] for r in rows))
    style = {m: (f"C{i % 10}", MARKERS[i % len(MARKERS)]) for i, m in enumerate(methods)}
    ncols = min(len(panels), 2)
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.2 * ncols, 4.6 * nrows + 0.9), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.remove()
    for ax, (kind, metric) in zip(axes.flat, panels):
        for source, values, fill in sources:
            for i, method in enumerate(methods):
                color, marker = style[method]
                if kind == "plane":
                    points = [(d, v["PSNR"], v[metric]) for (m, d), v in values.items()
                              if m == method and "PSNR" in v and metric in v]
                else:
                    shift = -0.12 if source == "paper" else 0.12
                    points = [(d, v[metric], i + shift) for (m, d), v in values.items() if m == method and metric in v]
                if not points:
                    continue
                ax.scatter([p[1] for p in points], [p[2] for p in points], facecolors=fill or color, edgecolors=color,
                           marker=marker, s=42, linewidths=1.2, label=f"{method} ({source})")
                for dataset, x, y in points:
                    ax.annotate(dataset, (x, y), fontsize=5, xytext=(3, 2), textcoords="offset points", color=color)
        lower = "higher" if metric == "PSNR" else "lower"
        if kind == "plane":
            ax.set_xlabel("PSNR (Y, dB; higher is better)")
            ax.set_ylabel(f"{metric} (lower is better)")
            ax.set_title(f"PSNR vs {metric}", fontsize=9)
            if not ax.collections:
                ax.text(0.5, 0.5, f"no cell with PSNR and {metric}", ha="center", va="center",
                        transform=ax.transAxes, fontsize=8)
        else:
            ax.set_yticks(range(len(methods)), methods, fontsize=7)
            ax.set_ylim(len(methods) - 0.5, -0.5)
            ax.set_xlabel(f"{metric} ({lower} is better)")
            why = "the paper reports it without PSNR" if metric != "PSNR" else "the paper reports no perceptual metric"
            ax.set_title(f"{metric} per method ({why})", fontsize=9)
    ours_is = next((str(r["ours_is"]) for r in rows if r.get("ours_is")), "")
    fig.suptitle(f"{table.title}: paper hollow, ours filled" + (f"\nours = {ours_is}" if ours_is else ""), fontsize=9)
    handles = [Line2D([], [], marker=style[m][1], ls="", color=style[m][0], label=m) for m in methods]
    handles += [Line2D([], [], marker="o", ls="", mfc="none", mec="gray", label="paper (hollow)"),
                Line2D([], [], marker="o", ls="", color="gray", label="ours (filled)")]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6), fontsize=7, frameon=False)
    legend_rows = math.ceil(len(handles) / min(len(handles), 6))
    fig.tight_layout(rect=(0, 0.035 * legend_rows / nrows + 0.02, 1, 1))
    return fig


def plot_perception_distortion(table: TableSpec, rows: list[dict[str, object]], path: Path) -> Path:
    """PSNR vs LPIPS / PI / NIQE panels and dot charts of paper-only metrics (:func:`perception_distortion_figure`)."""
    import matplotlib.pyplot as plt

    fig = perception_distortion_figure(table, rows)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return path
