"""Leaderboards: a results store aggregated over seeds, tested against a reference and published as markdown.

`write_leaderboards(results, out)` writes into `out`:
    README.md                               the index: every page, and per protocol the ranking across test
                                            corpora and tasks (Friedman, Nemenyi, critical-difference diagram)
    <protocol>-<task>.md                    one page per (protocol, task): rows = methods, columns = test corpora
    figures/<protocol>-cd.png               critical-difference diagram across test corpora and tasks
    figures/<protocol>-<task>-cd.png        the same across the page's test corpora
    figures/<protocol>-<task>-confusion-<method>.png   confusion matrices summed over seeds
The same store gives byte-identical files: everything is sorted, floats have fixed formats, bootstrap draws are
seeded from the names they compare, and PNGs carry no software or date metadata.

Runs are only ever compared within one configuration (data fingerprints, front-end configuration, protocol
content). A protocol whose runs span several configurations is an error that names the differences and the
`--config` selection. The statistics are in serbench/stats.py and explained in docs/statistics.md.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from serbench import stats
from serbench.errors import SerbenchError
from serbench.files import stable_hash, write_atomic
from serbench.store import ResultsStore, score_rows
from serbench.synth import SYNTHETIC_EXPLANATION, SYNTHETIC_LABEL

REFERENCE = "baseline_s"
SYNTHETIC_BANNER = f"> **{SYNTHETIC_LABEL}**: {SYNTHETIC_EXPLANATION}."
RECORD_KEYS = ("method", "protocol", "fold", "task", "seed", "classes", "scores", "synthetic", "identity")
IDENTITY_KEYS = ("data", "frontend", "protocol", "hparams", "serbench")


@dataclass(frozen=True)
class Column:
    """One test corpus of a protocol fold: a column of a leaderboard page."""

    fold: str
    corpus: str
    label: str


@dataclass
class Page:
    """The runs of one (protocol, task) and what is computed from them."""

    protocol: str
    task: str
    records: list[dict]
    columns: list[Column]
    methods: list[str]
    scores: pd.DataFrame  # one row per run and column: method, fold, corpus, seed, ua, wa, macro_f1, n, run_id
    comparisons: pd.DataFrame = field(default_factory=pd.DataFrame)
    replicates: int = stats.REPLICATES

    @property
    def name(self) -> str:
        return f"{slug(self.protocol)}-{slug(self.task)}"


def escape_md(text: str) -> str:
    """Text shown literally in markdown, also inside table cells and link texts (names come from users)."""
    return re.sub(r"([\\`*_{}\[\]<>#|~])", r"\\\1", str(text))


def slug(text: str) -> str:
    """A file-name-safe form of a method, protocol or task name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip("-") or "unnamed"


def percent(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{100 * value:.1f}"


def p_value(value: float) -> str:
    if value is None or math.isnan(value):
        return "-"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def number(value: float, digits: int = 2) -> str:
    return "-" if math.isnan(value) else "inf" if math.isinf(value) else f"{value:.{digits}f}"


# --- reading and checking the store ---------------------------------------------------------------------------

def load_records(store: ResultsStore, protocol: str | None = None, task: str | None = None) -> list[dict]:
    """Every finished run's record (in run-id order), optionally of one protocol and task, checked for the keys
    a leaderboard needs."""
    if not store.runs.is_dir() or not store.done_ids():
        raise SerbenchError("no finished runs in this results folder", path=store.root,
                            hint="run a sweep first (`serbench run ...`), or point --results at its folder")
    records, chosen = [], []
    for run_id in sorted(store.done_ids()):
        path = store.runs / run_id / "record.json"
        try:
            record = store.record(run_id)
        except (OSError, ValueError) as error:
            raise SerbenchError(f"cannot read the run record ({error})", path=path,
                                hint="delete the run's folder and run the sweep again to redo it") from None
        missing = [k for k in RECORD_KEYS if k not in record]
        missing += [f"identity.{k}" for k in IDENTITY_KEYS if k not in record.get("identity", {})]
        if missing:
            raise SerbenchError(f"the run record lacks {', '.join(missing)} (written by another serbench version?)",
                                path=path, hint="delete the run's folder and run the sweep again to redo it")
        record["run_id"] = run_id
        records.append(record)
        if (protocol is None or record["protocol"] == protocol) and (task is None or record["task"] == task):
            chosen.append(record)
    if not chosen:
        present = sorted({f"{r['protocol']}/{r['task']}" for r in records})
        raise SerbenchError(f"no finished runs of protocol {protocol or 'any'}, task {task or 'any'}",
                            path=store.root, hint=f"the store holds: {', '.join(present)}")
    return chosen


def configuration(record: Mapping) -> dict:
    """What must be equal for two runs to share a table: data fingerprints, front-end, protocol content."""
    identity = record["identity"]
    protocol = stable_hash(identity["protocol"])
    return {"data": dict(identity["data"]), "frontend": identity["frontend"], "protocol": protocol}


def configuration_id(record: Mapping) -> str:
    return stable_hash(configuration(record), 8)


def select_configuration(records: list[dict], config: str | None) -> list[dict]:
    """The records of configuration `config` (an id or its prefix); without one, each protocol's runs must
    share a single configuration, or the error says which settings differ and how to select."""
    if config is not None:
        chosen = [r for r in records if configuration_id(r).startswith(config)]
        if not chosen:
            present = sorted({configuration_id(r) for r in records})
            raise SerbenchError(f"--config {config}: no run has this configuration",
                                hint=f"configurations present: {', '.join(present)}")
        return select_configuration(chosen, None)  # an ambiguous prefix may still match several
    for protocol in sorted({r["protocol"] for r in records}):
        runs = [r for r in records if r["protocol"] == protocol]
        ids = sorted({configuration_id(r) for r in runs})
        if len(ids) > 1:
            raise SerbenchError(f"protocol {protocol}: its runs use {len(ids)} different configurations, which a "
                                f"leaderboard never mixes:\n" + describe_configurations(runs),
                                hint="select one with --config ID, or keep each configuration's runs in its own "
                                     "results folder")
    return records


def describe_configurations(records: list[dict]) -> str:
    """One line per configuration: its id, its runs' methods, and the settings that differ from the others."""
    configs = {configuration_id(r): configuration(r) for r in records}
    settings: dict[str, dict[str, str]] = {}
    for cid, conf in configs.items():
        flat = {f"data fingerprint of {c}": f[:12] for c, f in conf["data"].items()}
        settings[cid] = {**flat, "front-end configuration": conf["frontend"], "protocol content": conf["protocol"]}
    keys = sorted({k for s in settings.values() for k in s})
    differing = [k for k in keys if len({s.get(k, "(absent)") for s in settings.values()}) > 1]
    lines = []
    for cid in sorted(configs):
        methods = sorted({r["method"] for r in records if configuration_id(r) == cid})
        runs = sum(configuration_id(r) == cid for r in records)
        values = ", ".join(f"{k} {settings[cid].get(k, '(absent)')}" for k in differing)
        lines.append(f"  --config {cid}: {runs} runs ({', '.join(methods)}); {values}")
    return "\n".join(lines)


def check_duplicates(records: list[dict]) -> None:
    """Two finished runs of one method, fold, task and seed are variants (other hyperparameters or serbench
    version): a table cannot hold both."""
    seen: dict[tuple, dict] = {}
    for record in records:
        key = (record["protocol"], record["fold"], record["task"], record["method"], record["seed"])
        if key in seen:
            first = seen[key]
            a, b = first["identity"], record["identity"]
            differ = sorted({f"hparams.{k}" for k in set(a["hparams"]) | set(b["hparams"])
                             if a["hparams"].get(k) != b["hparams"].get(k)}
                            | {k for k in ("serbench",) if a[k] != b[k]})
            raise SerbenchError(
                f"runs {first['run_id']} and {record['run_id']} are both {record['method']} "
                f"{record['protocol']} {record['task']} seed {record['seed']}, differing in "
                f"{', '.join(differ) or 'their identity'}",
                hint="keep one variant per results folder (move the other run folders out of runs/), or give "
                     "the variant its own method name")
        seen[key] = record


# --- aggregation ------------------------------------------------------------------------------------------------

def aggregate(records: Sequence[Mapping]) -> pd.DataFrame:
    """Per (protocol, task, method, fold, test corpus): UA mean, std, 95% CI and n over seeds; WA and macro-F1
    means alongside."""
    rows = []
    for key, group in score_rows(records).groupby(["protocol", "task", "method", "fold", "corpus"], sort=True):
        ua = stats.summarize(group.sort_values("seed")["ua"].tolist())
        rows.append({**dict(zip(["protocol", "task", "method", "fold", "corpus"], key, strict=True)),
                     "ua_mean": ua.mean, "ua_std": ua.std, "ua_ci_low": ua.ci_low, "ua_ci_high": ua.ci_high,
                     "n": ua.n, "wa_mean": float(group["wa"].mean()), "macro_f1_mean": float(group["macro_f1"].mean())})
    return pd.DataFrame(rows)


def build_page(protocol: str, task: str, records: list[dict], reference: str) -> Page:
    """A page's runs, columns (the protocol's test corpora in its own order) and methods (reference first)."""
    folds = records[0]["identity"]["protocol"]["folds"]
    scores = score_rows(records)
    tested = [(fold["name"], corpus) for fold in folds for corpus in fold["test"]]
    present = set(zip(scores["fold"], scores["corpus"], strict=True))
    repeated = {c for c in (c for _, c in tested) if sum(c == other for _, other in tested) > 1}
    columns = [Column(f, c, f"{c} ({f})" if c in repeated else c) for f, c in tested if (f, c) in present]
    methods = sorted(set(scores["method"]), key=lambda m: (m != reference, m))
    return Page(protocol, task, records, columns, methods, scores)


def cell_scores(page: Page, method: str, column: Column) -> pd.DataFrame:
    rows = page.scores
    return rows[(rows["method"] == method) & (rows["fold"] == column.fold) & (rows["corpus"] == column.corpus)] \
        .sort_values("seed")


def average_ua(page: Page, method: str) -> stats.Summary:
    """UA averaged over the page's test corpora per seed (seeds with every corpus), summarised over seeds."""
    rows = page.scores[page.scores["method"] == method]
    per_seed = []
    for _, group in rows.groupby("seed", sort=True):
        if set(zip(group["fold"], group["corpus"], strict=True)) >= {(c.fold, c.corpus) for c in page.columns}:
            per_seed.append(float(group["ua"].mean()))
    return stats.summarize(per_seed)


# --- significance -------------------------------------------------------------------------------------------------

def paired_predictions(store: ResultsStore, ref_run: str, other_run: str, corpus: str,
                       cache: dict[str, pd.DataFrame]) -> stats.Paired:
    """Both runs' decisions on the test utterances of `corpus`, which must be the same utterances."""
    for run_id in (ref_run, other_run):
        if run_id not in cache:
            try:
                cache[run_id] = store.table(run_id, "predictions")
            except (OSError, ValueError) as error:
                raise SerbenchError(f"cannot read the predictions ({error})",
                                    path=store.runs / run_id / "predictions.parquet",
                                    hint="delete the run's folder and run the sweep again to redo it") from None
    ref, other = (cache[r][cache[r]["corpus"] == corpus].sort_values("utterance_id") for r in (ref_run, other_run))
    if not (np.array_equal(ref["utterance_id"].to_numpy(), other["utterance_id"].to_numpy())
            and np.array_equal(ref["y"].to_numpy(), other["y"].to_numpy())):
        raise SerbenchError(f"runs {ref_run} and {other_run} scored different {corpus} test utterances or labels, "
                            f"so they cannot be compared pairwise", path=store.runs / other_run,
                            hint="both runs must come from the same protocol, split and labels; re-run the "
                                 "sweep so that they do")
    return stats.Paired(ref["utterance_id"].to_numpy(), ref["y"].to_numpy(), ref["predicted"].to_numpy(),
                        other["predicted"].to_numpy())


def compare(page: Page, reference: str, store: ResultsStore, replicates: int = stats.REPLICATES) -> pd.DataFrame:
    """Every method against the reference on every column, on the seeds both have: paired bootstrap (with Holm's
    correction across the page), seed-level t-test and Wilcoxon."""
    rows = []
    cache: dict[str, pd.DataFrame] = {}
    n_classes = len(page.records[0]["classes"])
    for column in page.columns:
        ref = cell_scores(page, reference, column).set_index("seed")
        for method in page.methods:
            if method == reference:
                continue
            other = cell_scores(page, method, column).set_index("seed")
            seeds = sorted(set(ref.index) & set(other.index))
            if not seeds:
                continue
            pairs = [paired_predictions(store, ref.at[s, "run_id"], other.at[s, "run_id"], column.corpus, cache)
                     for s in seeds]
            name = f"{page.protocol}/{page.task}/{column.fold}/{column.corpus}/{reference}/{method}"
            draw_seed = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)
            boot = stats.paired_bootstrap(pairs, n_classes, replicates=replicates, seed=draw_seed)
            seed_level = stats.seed_tests(ref.loc[seeds, "ua"].tolist(), other.loc[seeds, "ua"].tolist())
            rows.append({"column": column.label, "method": method, "difference": boot.difference,
                         "ci_low": boot.ci_low, "ci_high": boot.ci_high, "p": boot.p, "t_p": seed_level.t_p,
                         "wilcoxon_p": seed_level.wilcoxon_p, "seeds": len(seeds), "utterances": boot.utterances})
    frame = pd.DataFrame(rows, columns=["column", "method", "difference", "ci_low", "ci_high", "p", "t_p",
                                        "wilcoxon_p", "seeds", "utterances"])
    frame["p_holm"] = stats.holm(frame["p"].tolist()) if len(frame) else []
    return frame


Block = tuple[str, Mapping[str, float]]  # a block's name, and each method's score in it


def rank_table(blocks: Sequence[Block], methods: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """The methods with a score in every block, and the blocks x methods table of their scores."""
    complete = [m for m in methods if all(m in scores for _, scores in blocks)]
    return complete, np.array([[scores[m] for m in complete] for _, scores in blocks], dtype=float)


def page_blocks(page: Page) -> list[Block]:
    """One block per column: each method's mean UA over seeds."""
    blocks = []
    for column in page.columns:
        means = {m: float(cell_scores(page, m, column)["ua"].mean()) for m in page.methods
                 if len(cell_scores(page, m, column))}
        blocks.append((f"{page.task}: {column.label}", means))
    return blocks


# --- figures ------------------------------------------------------------------------------------------------------

def _figure_style() -> dict:
    return {"font.family": "DejaVu Sans", "font.size": 9, "svg.hashsalt": "serbench", "figure.dpi": 100,
            "savefig.dpi": 100, "path.simplify": False}


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _matplotlib():
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError:
        raise SerbenchError("leaderboard figures need matplotlib", hint="pip install matplotlib") from None
    return matplotlib, Figure


def cd_diagram(names: Sequence[str], ranks: Sequence[float], cd: float, title: str) -> bytes:
    """A critical-difference diagram (Demsar 2006) as PNG bytes: average ranks on an axis (1 = best, left),
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
        return _png(figure)


def confusion_figure(method: str, classes: Sequence[str], panels: Sequence[tuple[str, np.ndarray, int]]) -> bytes:
    """Confusion matrices (rows = true class) of one method, one panel per test corpus, summed over seeds;
    colour = share of the true class, text = count. `panels`: (corpus label, matrix, seeds)."""
    matplotlib, Figure = _matplotlib()
    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        matplotlib.rcParams.update(_figure_style())
        figure = Figure(figsize=(2.6 * len(panels) + 0.4, 3.0))
        axes = figure.subplots(1, len(panels), squeeze=False)[0]
        for ax, (label, matrix, seeds) in zip(axes, panels, strict=True):
            totals = matrix.sum(axis=1, keepdims=True)
            share = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
            ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
            for (row, col), count in np.ndenumerate(matrix):
                ax.text(col, row, str(int(count)), ha="center", va="center",
                        color="white" if share[row, col] > 0.6 else "black")
            ax.set_xticks(range(len(classes)), list(classes), rotation=45, ha="right")
            ax.set_yticks(range(len(classes)), list(classes))
            ax.set_xlabel("predicted")
            ax.set_ylabel("true")
            ax.set_title(f"{label} ({seeds} seed{'s' if seeds != 1 else ''})", fontsize=9)
        figure.suptitle(method, fontweight="bold")
        figure.subplots_adjust(left=0.12, right=0.98, bottom=0.25, top=0.8, wspace=0.6)
        return _png(figure)


def page_confusions(page: Page, method: str) -> bytes | None:
    panels = []
    for column in page.columns:
        rows = cell_scores(page, method, column)
        matrices = [np.asarray(m) for m in rows["confusion"] if m is not None]
        if matrices:
            panels.append((column.label, np.sum(matrices, axis=0), len(matrices)))
    return confusion_figure(method, page.records[0]["classes"], panels) if panels else None


# --- markdown -----------------------------------------------------------------------------------------------------

def table(header: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[str] | None = None) -> list[str]:
    align = align or ["l"] + ["r"] * (len(header) - 1)
    rule = ["---:" if a == "r" else "---" for a in align]
    return ["| " + " | ".join(cells) + " |" for cells in [list(header), rule, *map(list, rows)]]


def ranking_section(blocks: list[Block], methods: Sequence[str], figure: str,
                    title: str) -> tuple[list[str], dict[str, bytes], dict[str, float]]:
    """Markdown, figure bytes (by relative path) and average ranks of a Friedman/Nemenyi analysis over blocks."""
    complete, scores = rank_table(blocks, methods)
    lines: list[str] = []
    left_out = [m for m in methods if m not in complete]
    if left_out:
        lines.append(f"Left out of the ranking (no result in every block): {', '.join(map(escape_md, left_out))}.")
        lines.append("")
    if len(complete) < 2 or len(blocks) < 2:
        lines.append(f"No ranking test: it needs at least 2 methods and 2 blocks ({len(complete)} methods and "
                     f"{len(blocks)} blocks here).")
        return lines, {}, {}
    result = stats.friedman(scores)
    ranks = dict(zip(complete, result.ranks, strict=True))
    warning = stats.low_power(result.blocks, result.methods)
    if warning:
        lines += [f"> **Low power**: {warning}.", ""]
    lines.append(f"Blocks: {', '.join(escape_md(name) for name, _ in blocks)} ({result.blocks}); methods: "
                 f"{result.methods}. Scores: mean UA over seeds; rank 1 = best, ties share the mean rank.")
    lines.append("")
    lines += table(["method", "average rank"],
                   [[escape_md(m), f"{ranks[m]:.3f}"] for m in sorted(complete, key=lambda m: (ranks[m], m))])
    lines.append("")
    significant = [f"{escape_md(a)} vs {escape_md(b)}" for i, a in enumerate(complete) for b in complete[i + 1:]
                   if abs(ranks[a] - ranks[b]) >= result.cd]
    lines += [f"- Friedman chi2_F = {result.chi2:.2f} (df {result.methods - 1}), p = {p_value(result.p_chi2)}",
              f"- Iman-Davenport F_F = {number(result.f)} (df {result.methods - 1}, "
              f"{(result.methods - 1) * (result.blocks - 1)}), p = {p_value(result.p_f)}",
              f"- Nemenyi critical difference at alpha {stats.ALPHA}: CD = {result.cd:.3f}; pairs whose average "
              f"ranks differ by at least the CD: {', '.join(significant) or 'none'}", "",
              f"![critical-difference diagram: {escape_md(title)}]({figure})"]
    png = cd_diagram(complete, list(result.ranks), result.cd, title)
    return lines, {figure: png}, ranks


def page_markdown(page: Page, reference: str, command: str) -> tuple[str, dict[str, bytes]]:
    """The markdown of one page and its figures (relative path -> PNG bytes)."""
    figures: dict[str, bytes] = {}
    synthetic = any(r["synthetic"] for r in page.records)
    protocol = page.records[0]["identity"]["protocol"]
    lines = [SYNTHETIC_BANNER, ""] if synthetic else []
    lines += [f"# {escape_md(page.protocol)} / {escape_md(page.task)}", "",
              f"Protocol **{escape_md(page.protocol)}**: {escape_md(protocol['description'])}. Task "
              f"**{escape_md(page.task)}** (classes: {', '.join(map(escape_md, page.records[0]['classes']))}). "
              f"Metric: unweighted accuracy (UA, mean of per-class recalls) in percent. Reference for the "
              f"significance markers: **{escape_md(reference)}**.", ""]
    ranking, ranking_figures, ranks = ranking_section(page_blocks(page), page.methods,
                                                      f"figures/{page.name}-cd.png",
                                                      f"{page.protocol} / {page.task}: test corpora")
    figures.update(ranking_figures)
    lines += main_table(page, reference, ranks)
    lines += ["", "## Paired tests against the reference", "", *tests_section(page, reference)]
    lines += ["", "## Ranking across the test corpora (Friedman, Nemenyi)", "", *ranking]
    lines += ["", "## Scores per test corpus", "", *scores_section(page)]
    lines += ["", "## Confusion matrices", "",
              "Summed over seeds; rows are the true classes, colours the share of each true class.", ""]
    for method in page.methods:
        png = page_confusions(page, method)
        if png is not None:
            path = f"figures/{page.name}-confusion-{slug(method)}.png"
            figures[path] = png
            lines += [f"![confusion matrices of {escape_md(method)}]({path})", ""]
    lines += provenance(page.records, command)
    return "\n".join(lines) + "\n", figures


def main_table(page: Page, reference: str, ranks: Mapping[str, float]) -> list[str]:
    """Rows = methods; columns = test corpora, the average, the average rank and the probe accuracies."""
    means = {(m, c.label): cell_scores(page, m, c)["ua"] for m in page.methods for c in page.columns}
    averages = {m: average_ua(page, m) for m in page.methods}
    best = {c.label: max((float(v.mean()) for (m, label), v in means.items() if label == c.label and len(v)),
                         default=math.nan) for c in page.columns}
    best_average = max((a.mean for a in averages.values() if a.n), default=math.nan)
    markers = {(row.column, row.method): ("▲" if row.difference > 0 else "▼")
               for row in page.comparisons.itertuples() if row.p_holm < stats.ALPHA}
    probes = sorted({d for r in page.records for d in (r.get("probes") or {})})
    header = ["method", *(escape_md(c.label) for c in page.columns), "average", "average rank",
              *(f"{escape_md(d)} probe UA" for d in probes)]
    rows = []
    for method in page.methods:
        cells = [escape_md(method)]
        for column in page.columns:
            summary = stats.summarize(means[(method, column.label)].tolist())
            marker = markers.get((column.label, method), "")
            cells.append(score_cell(summary, summary.mean == best[column.label]) + (f" {marker}" if marker else ""))
        cells.append(score_cell(averages[method], averages[method].mean == best_average))
        cells.append(f"{ranks[method]:.2f}" if method in ranks else "-")
        for domain in probes:
            values = [r["probes"][domain]["ua"] for r in page.records
                      if r["method"] == method and (r.get("probes") or {}).get(domain)]
            cells.append(score_cell(stats.summarize(values), False))
        rows.append(cells)
    lines = ["## UA per test corpus", "", *table(header, rows)]
    tests = len(page.comparisons)
    lines += ["", f"Cells: mean ± standard deviation of UA (%) over seeds (number of seeds); **bold**: the best "
                  f"mean of the column. ▲ / ▼: significantly higher / lower UA than {escape_md(reference)} on that "
                  f"corpus (paired bootstrap over seeds and test utterances, p < {stats.ALPHA} after Holm's "
                  f"correction across the {tests} comparisons of this table; docs/statistics.md). Average: UA "
                  f"averaged over the test corpora per seed. Average rank: over the test corpora (1 = best)."]
    if probes:
        classes = {d: sorted({r["probes"][d]["classes"] for r in page.records if (r.get("probes") or {}).get(d)})
                   for d in probes}
        chance = "; ".join(f"{escape_md(d)}: {', '.join(str(c) for c in classes[d])} classes" for d in probes)
        lines += ["", f"Probe UA (%): how well a logistic-regression probe, trained and scored on disjoint halves "
                      f"of the test utterances' embeddings, recovers the domain; chance is 100 / classes "
                      f"({chance}). Lower means a more domain-invariant embedding, which is what DANN aims for. "
                      f"'-': the method exposes no embedding."]
    return lines


def score_cell(summary: stats.Summary, bold: bool) -> str:
    if summary.n == 0:
        return "-"
    mean = f"**{percent(summary.mean)}**" if bold else percent(summary.mean)
    spread = f" ± {percent(summary.std)}" if summary.n > 1 else ""
    return f"{mean}{spread} ({summary.n})"


def tests_section(page: Page, reference: str) -> list[str]:
    if page.comparisons.empty:
        return [f"No paired tests: the reference {escape_md(reference)} has no runs here, or no other method shares "
                f"its seeds (choose another reference with --reference)."]
    rows = [[escape_md(r.column), escape_md(r.method), f"{100 * r.difference:+.1f}",
             f"[{100 * r.ci_low:+.1f}, {100 * r.ci_high:+.1f}]", p_value(r.p), p_value(r.p_holm), p_value(r.t_p),
             p_value(r.wilcoxon_p), str(r.seeds), str(r.utterances)]
            for r in page.comparisons.itertuples()]
    lines = table(["test corpus", "method", "ΔUA", "95% CI", "p bootstrap", "p Holm", "p t-test", "p Wilcoxon",
                   "seeds", "utterances"], rows, ["l", "l", *["r"] * 8])
    lines += ["", f"ΔUA: UA of the method minus UA of {escape_md(reference)}, in points, mean over the shared seeds. "
                  "95% CI and p bootstrap: two-level paired bootstrap resampling seeds and test utterances "
                  f"({page.replicates} replicates); p Holm: Holm-corrected across this table. p t-test and "
                  "p Wilcoxon: seed-level paired tests (scipy.stats.ttest_rel, wilcoxon), which ignore the "
                  "finite test set."]
    fewest = int(page.comparisons["seeds"].min())
    if stats.wilcoxon_min_p(fewest) >= stats.ALPHA:
        lines += ["", f"> **Low power**: with {fewest} paired seeds the Wilcoxon signed-rank test cannot give p below "
                      f"{stats.wilcoxon_min_p(fewest):.4f}, so it can never reject at {stats.ALPHA}."]
    return lines


def scores_section(page: Page) -> list[str]:
    rows = []
    for column in page.columns:
        for method in page.methods:
            cell = cell_scores(page, method, column)
            if cell.empty:
                continue
            ua = stats.summarize(cell["ua"].tolist())
            interval = f"[{percent(ua.ci_low)}, {percent(ua.ci_high)}]" if ua.n > 1 else "-"
            rows.append([escape_md(column.label), escape_md(method), percent(ua.mean), interval, percent(ua.std),
                         percent(float(cell["wa"].mean())), percent(float(cell["macro_f1"].mean())), str(ua.n),
                         str(int(cell["n"].iloc[0]))])
    lines = table(["test corpus", "method", "UA", "UA 95% CI", "UA std", "WA", "macro-F1", "seeds", "utterances"],
                  rows, ["l", "l", *["r"] * 7])
    return [*lines, "", "UA, WA (plain accuracy) and macro-F1 in percent, means over seeds; the UA interval is "
                        "Student's t over seeds. Utterances: the first seed's test utterances of the corpus."]


def provenance(records: Sequence[Mapping], command: str) -> list[str]:
    """The footer: data, front-end, versions, seeds, settings, and the commands that made the runs and this file."""
    first = records[0]
    synthetic = any(r["synthetic"] for r in records)
    conf = configuration(first)
    versions = sorted({r["identity"]["serbench"] for r in records})
    commits = sorted({str(r.get("provenance", {}).get("git_commit")) for r in records})
    seeds = sorted({r["seed"] for r in records})
    sweeps = sorted({shlex.join([Path(argv[0]).name, *argv[1:]]) for r in records
                     if (argv := r.get("provenance", {}).get("argv"))})
    fingerprints = ", ".join(f"{escape_md(c)} `{f[:16]}`" for c, f in sorted(conf["data"].items()))
    lines = ["## Provenance", "",
             f"- Data: {'**SYNTHETIC** stand-ins, not the real corpora' if synthetic else 'real corpora'}; "
             f"content fingerprints: {fingerprints}",
             f"- Front-end configuration `{conf['frontend']}`; protocol content `{conf['protocol']}`; configuration "
             f"id `{configuration_id(first)}`",
             f"- serbench {', '.join(versions)}; git commit(s) of the runs: {', '.join(f'`{c}`' for c in commits)}",
             f"- Seeds: {', '.join(map(str, seeds))}; runs: {len(records)}", "",
             "Hyperparameters of each method:", ""]
    hparams = {}
    for record in records:
        hparams.setdefault(record["method"], record["identity"]["hparams"])
    lines += table(["method", "hyperparameters"],
                   [[escape_md(m), escape_md(", ".join(f"{k}={v}" for k, v in sorted(h.items())))]
                    for m, h in sorted(hparams.items())], ["l", "l"])
    lines += ["", "The runs were produced by:", "", "```", *sweeps, "```", "",
              "This file was generated by:", "", "```", command, "```"]
    return lines


def index_markdown(pages: Sequence[Page], rankings: Mapping[str, list[str]], command: str) -> str:
    synthetic = any(r["synthetic"] for page in pages for r in page.records)
    lines = [SYNTHETIC_BANNER, ""] if synthetic else []
    lines += ["# serbench leaderboards", "",
              "Unweighted accuracy (UA) of each method per test corpus, over seeds, with paired significance tests "
              "against a reference and rankings across test corpora and tasks. How to read them: "
              "docs/leaderboards.md; the statistics: docs/statistics.md.", ""]
    rows = [[f"[{escape_md(p.protocol)} / {escape_md(p.task)}]({p.name}.md)", str(len(p.methods)),
             ", ".join(escape_md(c.label) for c in p.columns), str(len({r['seed'] for r in p.records})),
             str(len(p.records)), "synthetic" if any(r["synthetic"] for r in p.records) else "real",
             f"`{configuration_id(p.records[0])}`"] for p in pages]
    lines += table(["page", "methods", "test corpora", "seeds", "runs", "data", "configuration"], rows,
                   ["l", "r", "l", "r", "r", "l", "l"])
    for protocol, section in rankings.items():
        lines += ["", f"## {escape_md(protocol)}: ranking across test corpora and tasks", "", *section]
    records = [r for page in pages for r in page.records]
    versions = sorted({r["identity"]["serbench"] for r in records})
    lines += ["", "## Provenance", "", f"serbench {', '.join(versions)}; each page lists its data fingerprints, "
              "settings and the commands that produced its runs.", "", "Generated by:", "", "```", command, "```"]
    return "\n".join(lines) + "\n"


# --- the whole job ------------------------------------------------------------------------------------------------

def leaderboard_command(results: str | Path, out: str | Path, *, protocol: str | None = None,
                        task: str | None = None, reference: str = REFERENCE, config: str | None = None) -> str:
    """The `serbench leaderboard` command line that regenerates these files (recorded in their footers)."""
    words = ["serbench", "leaderboard", "--results", str(results), "--out", str(out)]
    for option, value in (("--protocol", protocol), ("--task", task), ("--config", config)):
        if value is not None:
            words += [option, value]
    if reference != REFERENCE:
        words += ["--reference", reference]
    return shlex.join(words)


def write_leaderboards(results: str | Path, out: str | Path = "leaderboards", *, protocol: str | None = None,
                       task: str | None = None, reference: str = REFERENCE, config: str | None = None,
                       replicates: int = stats.REPLICATES, command: str | None = None) -> list[Path]:
    """Write the index, one page per (protocol, task) and the figures into `out`; return the written paths."""
    store = ResultsStore(results)
    records = select_configuration(load_records(store, protocol, task), config)
    check_duplicates(records)
    if reference != REFERENCE and reference not in {r["method"] for r in records}:
        raise SerbenchError(f"--reference {reference}: no finished run of this method",
                            hint=f"methods present: {', '.join(sorted({r['method'] for r in records}))}")
    command = command or leaderboard_command(results, out, protocol=protocol, task=task, reference=reference,
                                             config=config)
    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {}
    pages = []
    for key in sorted({(r["protocol"], r["task"]) for r in records}):
        page = build_page(*key, [r for r in records if (r["protocol"], r["task"]) == key], reference)
        if reference in page.methods:
            page.comparisons, page.replicates = compare(page, reference, store, replicates), replicates
        text, figures = page_markdown(page, reference, command)
        files[f"{page.name}.md"] = text.encode()
        files.update(figures)
        pages.append(page)
    rankings = {}
    for name in sorted({p.protocol for p in pages}):
        chosen = [p for p in pages if p.protocol == name]
        blocks = [block for p in chosen for block in page_blocks(p)]
        methods = sorted({m for p in chosen for m in p.methods})
        section, figures, _ = ranking_section(blocks, methods, f"figures/{slug(name)}-cd.png",
                                              f"{name}: test corpora x tasks")
        rankings[name] = section
        files.update(figures)
    files["README.md"] = index_markdown(pages, rankings, command).encode()
    written = []
    for relative, data in sorted(files.items()):
        write_atomic(out / relative, data)
        written.append(out / relative)
    return written
