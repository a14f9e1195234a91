"""The train x test transfer matrices: cells, the within-corpus diagonal, self and cross means, missing cells, the
adaptation settings kept apart, configurations never mixed, and the page's CSV, LaTeX and figures."""

import hashlib
import json
import re
from dataclasses import astuple
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from serbench.metrics import scores
from serbench.reports import stats
from serbench.reports.pages import build_pages, leaderboard_command, protocol_choices, write_leaderboards
from serbench.reports.records import load_records
from serbench.reports.transfer_matrix import NAME, matrix_cell, summaries, transfer_matrices
from serbench.runs.record import CorpusScores, RunRecord
from serbench.runs.store import ResultsStore, name_variants

FINGERPRINTS = {"emodb": "e" * 64, "ravdess": "r" * 64, "crema-d": "c" * 64}
UTTERANCES = 100
SEEDS = (0, 1, 2)


def setting(family: str, train: str, test: str, normalisation: str = "speaker", named: bool = False) -> dict:
    """A built-in protocol's content as its runs record it: within[corpus=train] or family[train=..,test=..];
    `named`: the normalisation set in its name, as `serbench run --normalisation` does."""
    common = {"tasks": ["arousal"], "groups": {}, "normalisation": normalisation, "gain": "peak", "labels": {},
              "selection": "last", "patience": 5, "validation": 0.0, "paper_subsets": True, "splits": {}}
    override = f",normalisation={normalisation}" if named else ""
    if family == "within":
        return {**common, "name": f"within[corpus={train}{override}]", "description": f"Within {train}",
                "split": "speaker-folds", "corpora": [train], "train": [], "test": [], "folds": 5,
                "adaptation": "none", "test_corpora": [train]}
    return {**common, "name": f"{family}[train={train},test={test}{override}]", "description": f"Train on {train}",
            "split": "corpus", "corpora": [train, test], "train": [train], "test": [test], "folds": 0,
            "adaptation": "none" if family.endswith("-dg") else "unlabelled-test", "test_corpora": [test]}


def add_run(store: ResultsStore, method: str, family: str, train: str, test: str, seed: int, wrong: int, *,
            data: str | None = None, stuck: bool = False, tested: int = UTTERANCES,
            normalisation: str = "speaker", named: bool = False) -> None:
    """A run whose UA on its test corpus is exactly 1 - wrong / UTTERANCES (an even `wrong` spread over both
    classes); `stuck`: it predicts one class; `tested`: how many of the corpus's utterances its fold tests."""
    protocol = setting(family, train, test, normalisation, named)
    fingerprints = {c: FINGERPRINTS[c] for c in protocol["corpora"]}
    if data:
        fingerprints[train] = data
    identity = {"method": method, "hparams": {"C": 1.0}, "protocol": protocol,
                "fold": {"name": "", "train": protocol["train"], "test": protocol["test_corpora"], "held_out": None},
                "task": "arousal", "seed": seed, "data": fingerprints,
                "frontend": {"name": "egemaps", "hash": "f0", "format": 4}, "code": "c0", "serbench": "0.1.0"}
    run_id = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]
    y = np.arange(tested) % 2
    predicted = np.ones_like(y) if stuck else np.where(np.arange(tested) < wrong, 1 - y, y)
    predictions = pd.DataFrame({"utterance_id": [f"{test}-{i:04d}" for i in range(tested)], "corpus": test,
                                "speaker": [f"s{i % 4}" for i in range(tested)], "gender": "F", "y": y,
                                "predicted": predicted, "p_low": 1.0 - predicted, "p_high": predicted * 1.0})
    record = RunRecord(
        run_id=run_id, identity=identity, method=method, protocol=protocol["name"], fold="", task="arousal",
        seed=seed, frontend="egemaps", classes=["low", "high"], synthetic=True, curves=[],
        selection={"policy": "last"}, excluded={},
        split={test: {"train_utterances": UTTERANCES - tested if family == "within" else 0,
                      "test_utterances": tested}},
        adaptation={}, normalisation={},
        scores={test: CorpusScores(**scores(y, predicted, 2), collapsed=bool(len(set(predicted)) == 1))},
        probes=None, provenance={"argv": ["/venv/bin/serbench", "run", "--protocol", protocol["name"]],
                                 "git_commit": "abc123"})
    store.write_run(run_id, record, {"predictions": predictions})


# The wrong decisions of a run, SELF on the diagonal, CROSS off it, each plus 2 per seed: UA 1 - wrong / 100.
SELF, CROSS = 10, 30


def full_store(root: Path) -> ResultsStore:
    """egemaps_lr on everything between emodb and ravdess in both settings, and emodb -> crema-d under transfer-dg
    only; baseline_s under transfer-dg from emodb to ravdess and within emodb; dann1_s under transfer alone."""
    store = ResultsStore(root)
    for seed in SEEDS:
        for corpus in ("emodb", "ravdess"):
            add_run(store, "egemaps_lr", "within", corpus, corpus, seed, SELF + 2 * seed)
        for family in ("transfer", "transfer-dg"):
            for train, test in (("emodb", "ravdess"), ("ravdess", "emodb")):
                add_run(store, "egemaps_lr", family, train, test, seed, CROSS + 2 * seed)
        add_run(store, "egemaps_lr", "transfer-dg", "emodb", "crema-d", seed, 40 + 2 * seed)
        add_run(store, "baseline_s", "transfer-dg", "emodb", "ravdess", seed, 20, stuck=seed == 1)
        add_run(store, "baseline_s", "within", "emodb", "emodb", seed, 6)
        add_run(store, "dann1_s", "transfer", "emodb", "ravdess", seed, 24 - 2 * seed)
    return store


def matrices_of(store: ResultsStore) -> dict[str, object]:
    records = name_variants(load_records(store))
    choices = {p: protocol_choices(p, None) for p in sorted({r.protocol for r in records})}
    return {f"{m.family}/{m.task}": m for m in transfer_matrices(build_pages(records, choices, "seeds"))}


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[ResultsStore, Path]:
    root = tmp_path_factory.mktemp("matrix")
    store = full_store(root / "results")
    write_leaderboards(root / "results", root / "out")
    return store, root / "out"


def matrix_table(page: str, heading: str) -> dict[tuple[str, str], list[str]]:
    """A section's matrix as (method, training corpus) -> its cells, by test corpus."""
    section = page.split(f"### {heading}\n")[1].split("\n\n")[1]
    rows = {}
    for line in section.splitlines()[2:]:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        rows[(cells[0].replace("\\_", "_"), cells[2])] = cells[3:]
    return rows


def test_cells_and_the_diagonal(published: tuple[ResultsStore, Path]) -> None:
    store, out = published
    matrix = matrices_of(store)["transfer-dg/arousal"]
    assert matrix.corpora == ["crema-d", "emodb", "ravdess"]
    assert matrix.page("emodb", "emodb").protocol == "within[corpus=emodb]"
    assert matrix.page("emodb", "ravdess").protocol == "transfer-dg[train=emodb,test=ravdess]"
    own = stats.summarize([1 - (SELF + 2 * s) / 100 for s in SEEDS])
    cross = stats.summarize([0.70, 0.68, 0.66])
    cell = matrix_cell(matrix, "egemaps_lr", "ravdess", "ravdess")
    assert (cell.summary.mean, cell.summary.n) == (pytest.approx(own.mean), 3)
    rows = matrix_table((out / f"{NAME}.md").read_text(), "transfer-dg / arousal")
    assert rows[("egemaps_lr", "ravdess")] == [
        "no run", f"68.0 [{100 * cross.ci_low:.1f}, {100 * cross.ci_high:.1f}] (3)",
        f"{100 * own.mean:.1f} [{100 * own.ci_low:.1f}, {100 * own.ci_high:.1f}] (3)"]
    low, high = 100 * cross.ci_low - 10, 100 * cross.ci_high - 10  # emodb -> crema-d: 10 points below
    assert rows[("egemaps_lr", "emodb")][0] == f"58.0 [{low:.1f}, {high:.1f}] (3)"
    assert rows[("egemaps_lr", "crema-d")] == ["no run"] * 3  # crema-d is only tested on
    assert rows[("baseline_s", "emodb")] == ["no run", "94.0 (3)", "70.0 (3) †"]  # seed 1 collapsed: no interval
    # self and cross need every cell of their kind: within[corpus=crema-d] and crema-d's rows have no runs
    assert summaries(matrix, "egemaps_lr").own.n == summaries(matrix, "egemaps_lr").cross.n == 0


def test_self_cross_and_gap(published: tuple[ResultsStore, Path]) -> None:
    store, out = published
    matrix = matrices_of(store)["transfer/arousal"]
    found = summaries(matrix, "egemaps_lr")
    own = [1 - (SELF + 2 * s) / 100 for s in SEEDS]
    cross = [1 - (CROSS + 2 * s) / 100 for s in SEEDS]
    assert astuple(found.own) == pytest.approx(astuple(stats.summarize(own)))
    assert astuple(found.cross) == pytest.approx(astuple(stats.summarize(cross)))
    assert found.gap.difference == pytest.approx(0.2) and found.gap.n == 3
    assert not found.gap_shown  # the same gap in every seed: no interval over seeds that do not vary
    lines = (out / f"{NAME}.md").read_text().split("### transfer / arousal\n")[1].splitlines()
    assert (f"| egemaps\\_lr | egemaps | {100 * np.mean(own):.1f} [{100 * stats.summarize(own).ci_low:.1f}, "
            f"{100 * stats.summarize(own).ci_high:.1f}] (3) | {100 * np.mean(cross):.1f} "
            f"[{100 * stats.summarize(cross).ci_low:.1f}, {100 * stats.summarize(cross).ci_high:.1f}] (3) "
            f"| +20.0 (3) |") in lines
    # dann1_s has no within runs: no self, no gap, and its cross mean lacks ravdess -> emodb
    assert "| dann1\\_s | egemaps | - | - | - |" in lines


def test_a_missing_cell_says_so(published: tuple[ResultsStore, Path]) -> None:
    store, out = published
    matrix = matrices_of(store)["transfer/arousal"]
    missing = matrix_cell(matrix, "dann1_s", "ravdess", "emodb")
    assert (missing.page is not None, missing.missing, missing.summary.n) == (True, "no run", 0)
    # within ran without dann1_s
    assert matrix_cell(matrix, "dann1_s", "emodb", "emodb").text(matrix.metric) == "no run"
    rows = matrix_table((out / f"{NAME}.md").read_text(), "transfer / arousal")
    assert rows[("dann1_s", "ravdess")] == ["no run", "no run"]
    table = pd.read_csv(out / f"{NAME}.csv", keep_default_na=False)
    cell = table[(table["method"] == "dann1_s") & (table["train"] == "ravdess") & (table["test"] == "emodb")]
    assert list(cell[["mean", "seeds", "flags"]].iloc[0]) == ["", 0, "no run"]


def test_adaptation_settings_are_separate_matrices(published: tuple[ResultsStore, Path]) -> None:
    store, out = published
    matrices = matrices_of(store)
    assert sorted(matrices) == ["transfer-dg/arousal", "transfer/arousal"]
    assert {m.setting["adaptation"] for m in matrices.values()} == {"none", "unlabelled-test"}
    assert "dann1_s" not in matrices["transfer-dg/arousal"].methods
    assert "baseline_s" not in matrices["transfer/arousal"].methods
    assert "crema-d" not in matrices["transfer/arousal"].corpora
    page = (out / f"{NAME}.md").read_text()
    adapted = page.index("## transfer: adapted to unlabelled test audio")
    generalised = page.index("## transfer-dg: domain generalisation")
    assert adapted < page.index("### transfer / arousal") < generalised < page.index("### transfer-dg / arousal")
    assert "Adaptation: **unlabelled-test**" in page[adapted:generalised]
    assert "Adaptation: **none**" in page[generalised:]


def test_csv_latex_figures_and_the_index_link(published: tuple[ResultsStore, Path]) -> None:
    store, out = published
    table = pd.read_csv(out / f"{NAME}.csv", keep_default_na=False)
    lr = table[(table["family"] == "transfer") & (table["method"] == "egemaps_lr")]
    assert list(lr["kind"]) == ["self", "cross", "cross", "self", "self mean", "cross mean", "gap"]
    assert set(table["adaptation"]) == {"none", "unlabelled-test"} and set(table["metric"]) == {"ua"}
    gap = lr[lr["kind"] == "gap"].iloc[0]
    assert (float(gap["mean"]), gap["ci_low"], gap["seeds"]) == (pytest.approx(20.0), "", 3)
    own = lr[lr["kind"] == "self mean"].iloc[0]
    assert float(own["ci_low"]) == pytest.approx(100 * summaries(matrices_of(store)["transfer/arousal"],
                                                                 "egemaps_lr").own.ci_low, abs=1e-4)
    tex = (out / f"{NAME}.tex").read_text()
    assert tex.count("\\begin{tabular}") == 4 and tex.count("\\end{tabular}") == 4
    assert "method & front-end & train & crema-d & emodb & ravdess \\\\" in tex
    assert "70.0 (3) \\dag{}" in tex
    for family in ("transfer", "transfer-dg"):
        stem = out / "figures" / f"{NAME}-{family}-arousal"
        assert stem.with_suffix(".png").read_bytes().startswith(b"\x89PNG")
        assert stem.with_suffix(".svg").read_bytes().startswith(b"<?xml")
        assert stem.with_suffix(".pdf").read_bytes().startswith(b"%PDF")
        assert f"](figures/{NAME}-{family}-arousal.png)" in (out / f"{NAME}.md").read_text()
    assert f"[transfer matrices]({NAME}.md)" in (out / "README.md").read_text()
    assert (out / f"{NAME}.md").read_text().startswith("> **SYNTHETIC DATA**")


def test_the_same_store_gives_the_same_bytes(published: tuple[ResultsStore, Path], tmp_path: Path) -> None:
    store, out = published
    write_leaderboards(store.root, tmp_path, command=leaderboard_command(store.root, out))
    for name in (f"{NAME}.md", f"{NAME}.csv", f"{NAME}.tex", f"figures/{NAME}-transfer-arousal.svg",
                 f"figures/{NAME}-transfer-arousal.pdf", f"figures/{NAME}-transfer-arousal.png"):
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes()


def test_cells_of_different_configurations_are_never_mixed(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "results")
    for seed in SEEDS:
        add_run(store, "egemaps_lr", "transfer", "emodb", "ravdess", seed, CROSS)
        add_run(store, "egemaps_lr", "within", "emodb", "emodb", seed, SELF, data="d" * 64)  # another emodb
        add_run(store, "egemaps_lr", "within", "ravdess", "ravdess", seed, SELF, normalisation="corpus")
        add_run(store, "egemaps_svm", "transfer", "emodb", "ravdess", seed, CROSS)
    matrix = matrices_of(store)["transfer/arousal"]
    assert matrix.drawn == ["egemaps_svm"]
    assert matrix.conflicts["egemaps_lr"] == [
        "data fingerprint of emodb: dddddddddddd (within[corpus=emodb]); eeeeeeeeeeee "
        "(transfer[train=emodb,test=ravdess])",
        "protocol setting normalisation: corpus (within[corpus=ravdess]); speaker (transfer[train=emodb,test=ravdess], "
        "within[corpus=emodb])"]
    write_leaderboards(tmp_path / "results", tmp_path / "out")
    page = (tmp_path / "out" / f"{NAME}.md").read_text()
    assert "Not drawn: **egemaps\\_lr**" in page and "- data fingerprint of emodb" in page
    assert set(pd.read_csv(tmp_path / "out" / f"{NAME}.csv")["method"]) == {"egemaps_svm"}


def test_settings_named_in_the_protocol_are_matrices_of_their_own(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "results")
    for named in (False, True):
        normalisation = "utterance" if named else "speaker"
        for corpus in ("emodb", "ravdess"):
            add_run(store, "egemaps_lr", "within", corpus, corpus, 0, SELF + 10 * named, normalisation=normalisation,
                    named=named)
        for train, test in (("emodb", "ravdess"), ("ravdess", "emodb")):
            add_run(store, "egemaps_lr", "transfer", train, test, 0, CROSS, normalisation=normalisation, named=named)
    matrices = matrices_of(store)
    assert sorted(matrices) == ["transfer/arousal", "transfer[normalisation=utterance]/arousal"]
    named = matrices["transfer[normalisation=utterance]/arousal"]
    assert named.page("emodb", "emodb").protocol == "within[corpus=emodb,normalisation=utterance]"
    assert matrices["transfer/arousal"].page("emodb", "emodb").protocol == "within[corpus=emodb]"
    assert named.drawn == ["egemaps_lr"]
    assert matrix_cell(named, "egemaps_lr", "emodb", "emodb").text(named.metric) == "80.0 (1)"


def test_incomplete_cells_are_flagged_and_pages_without_a_transfer_have_no_matrix(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "results")
    for seed in SEEDS:
        add_run(store, "egemaps_lr", "transfer", "emodb", "ravdess", seed, CROSS)
        add_run(store, "egemaps_lr", "within", "emodb", "emodb", seed, SELF, tested=50)  # a fold of two
    matrix = matrices_of(store)["transfer/arousal"]
    assert matrix_cell(matrix, "egemaps_lr", "emodb", "emodb").text(matrix.metric) == "no complete seed ‡"
    assert summaries(matrix, "egemaps_lr").own.n == 0
    only_within = ResultsStore(tmp_path / "within")
    add_run(only_within, "egemaps_lr", "within", "emodb", "emodb", 0, SELF)
    written = write_leaderboards(tmp_path / "within", tmp_path / "out")
    assert not any(NAME in str(path) for path in written)
    assert "transfer matrices" not in (tmp_path / "out" / "README.md").read_text()
