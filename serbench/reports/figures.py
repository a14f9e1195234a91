"""The leaderboards' figures, each as PNG, SVG and PDF bytes: critical-difference diagrams, confusion matrices and
transfer-matrix heatmaps.
matplotlib's default style and fonts (the user's matplotlibrc is ignored) and no date or software metadata: the
same numbers give the same bytes."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from serbench.errors import SerbenchError
from serbench.metrics import Metric
from serbench.reports import stats
from serbench.reports.tables import Page, cell_scores


def _figure_style() -> dict:
    return {"font.family": "DejaVu Sans", "font.size": 9, "svg.hashsalt": "serbench", "figure.dpi": 100,
            "savefig.dpi": 100, "path.simplify": False}


# Each format's metadata that would name the software or the date, and so change the bytes across versions and days.
FORMATS = {"png": {"Software": None},
           "svg": {"Creator": None, "Date": None},
           "pdf": {"Creator": None, "Producer": None, "CreationDate": None}}
Images = dict[str, bytes]  # a figure's bytes by format (file extension)


def _encoded(figure) -> Images:
    images = {}
    for kind, metadata in FORMATS.items():
        buffer = io.BytesIO()
        figure.savefig(buffer, format=kind, metadata=metadata)
        images[kind] = buffer.getvalue()
    return images


def figure_files(stem: str, images: Images) -> dict[str, bytes]:
    """The files of a figure by relative path: `stem` (figures/<name>) and each format's extension."""
    return {f"{stem}.{kind}": data for kind, data in images.items()}


def _matplotlib():
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError:
        raise SerbenchError("leaderboard figures need matplotlib", hint="pip install matplotlib") from None
    return matplotlib, Figure


def cd_diagram(names: Sequence[str], ranks: Sequence[float], cd: float, title: str) -> Images:
    """A critical-difference diagram (Demsar 2006) in every format: average ranks on an axis (1 = best, left),
    the CD as a scale bar, and thick bars joining methods whose ranks differ by less than the CD."""
    matplotlib, Figure = _matplotlib()
    order = sorted(range(len(names)), key=lambda i: (ranks[i], names[i]))
    k = len(names)
    labels = [f"{names[i]} ({ranks[i]:.2f})" for i in order]
    bars = stats.cliques([ranks[i] for i in order], cd)
    left, right = order[: (k + 1) // 2], order[(k + 1) // 2:]
    text_width = 0.075 * max(len(label) for label in labels) + 0.3  # inches for the label columns
    width, axis_width = 2 * text_width + 3.5, 3.5
    rows = max(len(left), len(right))
    height = 1.4 + 0.25 * rows + 0.12 * len(bars)
    with matplotlib.rc_context():
        matplotlib.rcdefaults()  # the user's matplotlibrc must not change the bytes
        matplotlib.rcParams.update(_figure_style())
        figure = Figure(figsize=(width, height))
        ax = figure.add_axes((text_width / width, 0.0, axis_width / width, 1.0))
        ax.set_xlim(1, max(k, 2))
        ax.set_ylim(-(rows + 1) * 0.25 - 0.12 * len(bars), 1.0)
        ax.axis("off")
        ax.plot([1, k], [0, 0], color="black", linewidth=1)
        for tick in range(1, k + 1):
            ax.plot([tick, tick], [0, 0.05], color="black", linewidth=1)
            ax.text(tick, 0.08, str(tick), ha="center", va="bottom")
        ax.plot([1, 1 + cd], [0.45, 0.45], color="black", linewidth=1.5, clip_on=False)
        ax.text(1 + cd / 2, 0.5, f"CD = {cd:.2f}", ha="center", va="bottom", clip_on=False)
        ax.text((1 + k) / 2, 0.95, title, ha="center", va="top", fontweight="bold", clip_on=False)
        base = -0.12 * (len(bars) + 1)
        for level, (first, last) in enumerate(bars):
            y = -0.12 * (level + 1)
            ax.plot([ranks[order[first]] - 0.03, ranks[order[last]] + 0.03], [y, y], color="black", linewidth=3)
        for row, i in enumerate(left):
            y = base - 0.25 * (row + 1)
            ax.plot([ranks[i], ranks[i], 1 - 0.05], [0, y, y], color="black", linewidth=0.8, clip_on=False)
            ax.text(1 - 0.1, y, f"{names[i]} ({ranks[i]:.2f})", ha="right", va="center", clip_on=False)
        for row, i in enumerate(reversed(right)):
            y = base - 0.25 * (row + 1)
            ax.plot([ranks[i], ranks[i], k + 0.05], [0, y, y], color="black", linewidth=0.8, clip_on=False)
            ax.text(k + 0.1, y, f"{names[i]} ({ranks[i]:.2f})", ha="left", va="center", clip_on=False)
        return _encoded(figure)


def confusion_figure(method: str, classes: Sequence[str], panels: Sequence[tuple[str, np.ndarray, int]]) -> Images:
    """Confusion matrices (rows = true class) of one method, one panel per test corpus, summed over seeds;
    colour = share of the true class (the colour bar), text = count. `panels`: (corpus label, matrix, seeds)."""
    matplotlib, Figure = _matplotlib()
    width, height = 2.6 * len(panels) + 1.2, 3.4  # inches: the panels, and the colour bar at the right
    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        matplotlib.rcParams.update(_figure_style())
        figure = Figure(figsize=(width, height))
        axes = figure.subplots(1, len(panels), squeeze=False)[0]
        for ax, (label, matrix, seeds) in zip(axes, panels, strict=True):
            totals = matrix.sum(axis=1, keepdims=True)
            share = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
            image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
            for (row, col), count in np.ndenumerate(matrix):
                ax.text(col, row, str(int(count)), ha="center", va="center",
                        color="white" if share[row, col] > 0.6 else "black")
            ax.set_xticks(range(len(classes)), list(classes), rotation=45, ha="right")
            ax.set_yticks(range(len(classes)), list(classes))
            ax.set_xlabel("predicted")
            ax.set_ylabel("true")
            ax.set_title(f"{label} ({seeds} seed{'s' if seeds != 1 else ''})", fontsize=9)
        figure.suptitle(method, fontweight="bold")
        # room in inches below for the rotated class names and "predicted", above for the titles
        bottom, top = 1.0 / height, 1 - 0.6 / height
        figure.subplots_adjust(left=1.05 / width, right=1 - 1.0 / width, bottom=bottom, top=top, wspace=0.8)
        bar = figure.colorbar(image, cax=figure.add_axes((1 - 0.75 / width, bottom, 0.12 / width, top - bottom)))
        bar.set_label("share of the true class")
        return _encoded(figure)


def transfer_heatmap(title: str, corpora: Sequence[str],
                     panels: Sequence[tuple[str, np.ndarray, Sequence[Sequence[str]]]], metric: Metric) -> Images:
    """Train x test matrices of one protocol family and task, one panel per method: rows = training corpus, columns =
    test corpus, colour = the mean score as the pages show it (Metric.shown: UA in percent, CCC as it is) from 0 to
    the score's highest value (the colour bar; grey: no number), text = the cell's label (its mean and flags, or
    why it has none); the diagonal (within-corpus) framed by a dashed line. `panels`: (method, shown means with
    NaN where there is no number, labels)."""
    matplotlib, Figure = _matplotlib()
    from matplotlib.patches import Rectangle

    k = len(corpora)
    columns = min(len(panels), 3)
    rows = -(-len(panels) // columns)
    side = 0.8 * k + 0.4  # inches of one panel's matrix
    panel_width, panel_height = side + 1.3, side + 1.3  # and room for the corpus names and the title
    width, height = columns * panel_width + 1.2, rows * panel_height + 0.6
    colours = matplotlib.colormaps["Blues"].with_extremes(bad="0.85")
    # from 0 up: no skill at all for a correlation (a negative CCC takes the lowest colour; its label says it)
    low, high = (metric.shown(max(0.0, bound)) for bound in metric.bounds)
    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        matplotlib.rcParams.update(_figure_style())
        figure = Figure(figsize=(width, height))
        image = None
        for place, (method, means, labels) in enumerate(panels):
            row, column = divmod(place, columns)
            left = (column * panel_width + 1.1) / width
            bottom = 1 - ((row + 1) * panel_height + 0.6 - 1.0) / height
            ax = figure.add_axes((left, bottom, side / width, side / height))
            image = ax.imshow(np.ma.masked_invalid(means), cmap=colours, vmin=low, vmax=high)
            for (i, j), label in np.ndenumerate(np.asarray(labels, dtype=object)):
                dark = not np.isnan(means[i, j]) and means[i, j] > low + 0.6 * (high - low)
                ax.text(j, i, label, ha="center", va="center", fontsize=8, color="white" if dark else "black")
            for i in range(k):  # inset, so that the frame stays the diagonal's where cells meet
                ax.add_patch(Rectangle((i - 0.44, i - 0.44), 0.88, 0.88, fill=False, edgecolor="black", linewidth=1.5,
                                       linestyle="--"))
            ax.set_xticks(range(k), list(corpora), rotation=45, ha="right")
            ax.set_yticks(range(k), list(corpora))
            ax.set_xlabel("test")
            ax.set_ylabel("train")
            ax.set_title(method, fontsize=9)
        figure.suptitle(title, fontweight="bold")
        bar = figure.colorbar(image, cax=figure.add_axes((1 - 0.75 / width, 0.6 / height, 0.12 / width,
                                                          1 - 1.4 / height)))
        bar.set_label(metric.unit)
        return _encoded(figure)


def page_confusions(page: Page, method: str) -> Images | None:
    panels = []
    for corpus in page.columns:
        rows = cell_scores(page, method, corpus)
        if len(rows):
            panels.append((corpus, np.sum([np.asarray(m) for m in rows["confusion"]], axis=0), len(rows)))
    return confusion_figure(method, page.class_names, panels) if panels else None
