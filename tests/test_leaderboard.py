"""Leaderboards from hand-made results stores: pages, markers, figures, determinism, and the mixing guards."""

import argparse
import dataclasses
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from serbench import metrics
from serbench.cli import leaderboard as cli
from serbench.errors import SerbenchError
from serbench.integrity import write_checksums
from serbench.metrics import scores
from serbench.protocols.protocol import load_protocol
from serbench.reports import figures, markdown, pages, stats
from serbench.reports.comparisons import compare
from serbench.reports.pages import leaderboard_command, page_markdown, write_leaderboards
from serbench.reports.records import configuration_id, load_records
from serbench.reports.sections import title_setting
from serbench.reports.tables import (
    aggregate,
    build_page,
    cell_scores,
    gaps,
    page_blocks,
    rank_table,
    speaker_rows,
)
from serbench.runs.record import CorpusScores, RunRecord
from serbench.runs.scores import cycle_rows
from serbench.runs.store import ResultsStore

CORPORA = ("c-one", "c_two")
UA = metrics.METRICS["ua"]
# Accuracy of each method's decisions: "strong" is far above the reference, "weak" far below.
ACCURACY = {"baseline_s": 0.7, "strong": 0.95, "weak|net": 0.45, "twin": 0.7, "stuck": None, "stuck2": None,
            "stuck3": None, "nearly": None, "egemaps_svm": 0.95, "sure": 0.8, "suer": 0.8}
FINGERPRINTS = {"src": "a" * 64, "c-one": "b" * 64, "c_two": "c" * 64}
FOLDS = {"": (0, 1)}  # fold name -> the share of each corpus's utterances it tests (start, stop)


def protocol_dict(name: str = "cross", adaptation: str = "unlabelled-test", selection: str = "last",
                  tasks: tuple[str, ...] = ("arousal",)) -> dict:
    return {"name": name, "description": "train on src, test on c-one and c_two", "split": "corpus",
            "tasks": list(tasks), "corpora": ["src", *CORPORA], "train": ["src"], "test": list(CORPORA), "folds": 0,
            "groups": {}, "adaptation": adaptation, "normalisation": "speaker", "gain": "as-recorded", "labels": {},
            "selection": selection, "patience": 5, "test_corpora": list(CORPORA)}


def add_run(store: ResultsStore, method: str, seed: int, *, task: str = "arousal", protocol: str = "cross",
            data: dict | None = None, frontend: str = "spectrogram", frontend_hash: str = "f0",
            hparams: dict | None = None, synthetic: bool = True, probes: bool = True, utterances: int = 120,
            fold: str = "", adaptation: str = "unlabelled-test", policy: str = "last",
            selection: dict | None = None, deterministic: bool = False, tasks: tuple[str, ...] = ("arousal",),
            stuck: bool = False, speakers: int = 1) -> str:
    """Write one fabricated but consistent run: predictions with the method's accuracy, scores from them. A fold
    tests its share of each corpus's utterances; "stuck" predicts one class for everything. `selection`: what the
    protocol's model selection `policy` chose. A `deterministic` method predicts the same in every seed; "nearly"
    is "stuck" but for one utterance of each corpus; `stuck` makes this run of any method collapse. Utterance i
    is spoken by speaker s(i mod `speakers`)."""
    identity = {"method": method, "hparams": hparams or {"epochs": 3},
                "protocol": protocol_dict(protocol, adaptation, policy, tasks),
                "fold": {"name": fold, "train": ["src"], "test": list(CORPORA), "held_out": None}, "task": task,
                "seed": seed, "data": data or FINGERPRINTS, "frontend": {"name": frontend, "hash": frontend_hash},
                "code": "c0", "serbench": "0.1.0"}
    run_id = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]
    rng = np.random.default_rng(len(method) if deterministic else int(run_id[:8], 16))
    start, stop = (round(utterances * share) for share in FOLDS.get(fold, (0, 1)))
    frames = []
    for corpus in CORPORA:
        y = np.arange(start, stop) % 2
        predicted = (np.ones_like(y) if stuck or ACCURACY[method] is None
                     else np.where(rng.random(len(y)) < ACCURACY[method], y, 1 - y))
        if method == "nearly":
            predicted[:1] = 0
        frames.append(pd.DataFrame({"utterance_id": [f"{corpus}-{i:04d}" for i in range(start, stop)],
                                    "corpus": corpus, "speaker": [f"s{i % speakers}" for i in range(start, stop)],
                                    "gender": "F", "y": y,
                                    "predicted": predicted, "p_low": 1.0 - predicted, "p_high": predicted * 1.0}))
    predictions = pd.concat(frames, ignore_index=True)
    record = RunRecord(
        run_id=run_id, identity=identity, method=method, protocol=protocol, fold=fold, task=task, seed=seed,
        frontend=frontend, classes=["low", "high"], synthetic=synthetic, curves=[],
        selection={"policy": policy, **(selection or {})}, excluded={},
        split={c: {"train_utterances": utterances - (stop - start), "test_utterances": stop - start} for c in CORPORA},
        adaptation={}, normalisation={},
        scores={c: CorpusScores(**scores(rows["y"].to_numpy(), rows["predicted"].to_numpy(), 2),
                                collapsed=bool(rows["predicted"].nunique() == 1))
                for c, rows in predictions.groupby("corpus")},
        probes={"corpus": {"ua": 0.5 + 0.01 * seed, "classes": 2, "null": {"mean": 0.5, "std": 0.2, "draws": 20}},
                "gender": {"ua": 0.6, "classes": 2}}  # a run from before the null references
        if probes else None,
        provenance={"argv": ["/venv/bin/serbench", "run", "--method", "all", "--data", "synthetic"],
                    "git_commit": "abc123"},
    )
    store.write_run(run_id, record, {"predictions": predictions})
    return run_id


def make_store(root: Path, methods=("baseline_s", "strong", "weak|net", "twin"), seeds=(0, 1, 2), **options):
    store = ResultsStore(root)
    for method in methods:
        for seed in seeds:
            add_run(store, method, seed, **options)
    return store


def written(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.fixture(autouse=True)
def png_only(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The figures as PNG alone (drawing SVG and PDF too takes most of a page's time), unless the test asks for
    every_format: the tests of the formats themselves."""
    if "every_format" not in request.fixturenames:
        monkeypatch.setattr(figures, "FORMATS", {"png": figures.FORMATS["png"]})


@pytest.fixture
def every_format() -> None:
    """PNG, SVG and PDF, as the command writes them."""


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """One store's pages, in every format: a module's fixtures are made before png_only, a test's."""
    root = tmp_path_factory.mktemp("lb")
    store = make_store(root / "results", utterances=600)  # three seeds: a t with 2 df needs clear differences
    for method in ("baseline_s", "strong", "weak|net", "twin"):
        for seed in (0, 1, 2):
            add_run(store, method, seed, task="valence")
    write_leaderboards(root / "results", root / "out")
    return root / "results", root / "out"


def main_rows(page: str) -> dict[str, list[str]]:
    """The main table's rows by (escaped) method name, split on unescaped pipes."""
    section = page.split("## UA per test corpus")[1].split("\n\n")[1]
    rows = {}
    for line in section.splitlines()[2:]:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        rows[cells[0]] = cells[1:]
    return rows


def test_pages_index_and_figures(every_format, published: tuple[Path, Path]) -> None:
    _, out = published
    files = written(out)
    assert {"README.md", "cross-arousal.md", "cross-valence.md", "figures/cross-cd.png",
            "figures/cross-arousal-cd.png", "figures/cross-arousal-confusion-weak-net.png"} <= set(files)
    assert all(data.startswith(b"\x89PNG") for name, data in files.items() if name.endswith(".png"))
    index = files["README.md"].decode()
    assert index.startswith("> **SYNTHETIC DATA**")
    assert "(cross-arousal.md)" in index and "(cross-valence.md)" in index
    assert "figures/cross-cd.png" in index
    page = files["cross-arousal.md"].decode()
    assert page.startswith("> **SYNTHETIC DATA**")
    for link in ("figures/cross-arousal-cd.png", "figures/cross-arousal-confusion-baseline_s.png"):
        assert f"]({link})" in page and link in files
    stems = [name[:-4] for name in files if name.endswith(".png")]
    assert all(files[f"{stem}.svg"].startswith(b"<?xml") and files[f"{stem}.pdf"].startswith(b"%PDF")
               for stem in stems)
    assert not any(word in files[f"{stem}.{kind}"] for stem in stems for kind in ("svg", "pdf")
                   for word in (b"Matplotlib", b"CreationDate", b"<dc:date>"))


def test_main_table_as_csv_and_latex(published: tuple[Path, Path]) -> None:
    _, out = published
    rows = main_rows((out / "cross-arousal.md").read_text())
    table = pd.read_csv(out / "cross-arousal.csv", keep_default_na=False)
    assert list(table["method"].unique()) == ["baseline_s", "strong", "twin", "weak|net"]
    assert list(table["corpus"].unique()) == list(CORPORA)
    for row in table.itertuples():
        cell = rows[row.method.replace("_", "\\_").replace("|", "\\|")][1 + CORPORA.index(row.corpus)]
        mean, spread = re.match(r"\**([\d.]+)\** ± ([\d.]+) \(3\)", cell).groups()
        assert (float(mean), float(spread), row.seeds) == (pytest.approx(row.ua_mean, abs=0.05),
                                                           pytest.approx(row.ua_std, abs=0.05), 3)
        assert row.marker == (cell[-1] if cell[-1] in "▲▼" else "")
        assert (row.p_holm == "") == (row.method == "baseline_s")
    strong = table[table["method"] == "strong"].iloc[0]
    assert float(strong["difference"]) > 0 and float(strong["ci_low"]) > 0 and float(strong["p_holm"]) < 0.05
    tex = (out / "cross-arousal.tex").read_text()
    body = tex.split("\\midrule\n")[1].split("\\bottomrule")[0].splitlines()
    assert "\\toprule\nmethod & front-end & c-one & c\\_two & average" in tex and tex.endswith("\\end{tabular}\n")
    assert [line.split(" & ")[0] for line in body] == ["baseline\\_s", "strong", "twin", "weak\\textbar{}net"]
    assert body[1].split(" & ")[2].startswith("\\textbf{") and body[1].split(" & ")[2].endswith("(3) $\\blacktriangle$")
    index = pd.read_csv(out / "index.csv")
    assert list(index["page"]) == ["cross-arousal.md", "cross-valence.md"] and set(index["runs"]) == {12}
    assert "\\bottomrule" in (out / "index.tex").read_text()


def test_latex_escapes_what_it_treats_as_commands() -> None:
    assert markdown.tex_cell(markdown.escape_md("a_b 50% {x} & #1 \\ ~^$")) == (
        "a\\_b 50\\% \\{x\\} \\& \\#1 \\textbackslash{} \\textasciitilde{}\\textasciicircum{}\\$")
    assert markdown.tex_cell("**70.0** ± 1.0 (3) † ▼") == "\\textbf{70.0} $\\pm$ 1.0 (3) \\dag{} $\\blacktriangledown$"


def test_confusion_figures_have_a_colour_bar_and_the_class_names(every_format) -> None:
    matrix = np.array([[5, 1], [2, 4]])
    images = figures.confusion_figure("m_1", ["anger", "happiness"], [("c-one", matrix, 2)])
    assert set(images) == {"png", "svg", "pdf"}
    assert images == figures.confusion_figure("m_1", ["anger", "happiness"], [("c-one", matrix, 2)])
    for text in ("anger", "happiness", "share of the true class"):
        assert f"<!-- {text} -->".encode() in images["svg"]


def test_main_table_markers_bold_and_escaping(published: tuple[Path, Path]) -> None:
    _, out = published
    page = (out / "cross-arousal.md").read_text()
    rows = main_rows(page)
    assert list(rows) == ["baseline\\_s", "strong", "twin", "weak\\|net"]  # reference first, then by name
    header = page.split("## UA per test corpus")[1].split("\n\n")[1].splitlines()[0]
    assert header.startswith("| method | front-end | c-one |")
    assert "c\\_two" in header and "corpus probe UA" in header
    assert {cells[0] for cells in rows.values()} == {"spectrogram"}  # the front-end column
    for cell in rows["strong"][1:3]:
        assert cell.startswith("**") and cell.endswith("(3) ▲")
    assert all(cell.endswith("▼") for cell in rows["weak\\|net"][1:3])
    assert not any(mark in cell for cell in rows["twin"] + rows["baseline\\_s"] for mark in "▲▼")
    assert rows["strong"][4] == "1.00"  # average rank over the two test corpora
    assert rows["baseline\\_s"][-2] == "51.0 ± 1.0 (3); null 50.0 ± 20.0"  # corpus probe: 50, 51, 52 %
    assert rows["baseline\\_s"][-1] == "60.0 ± 0.0 (3); null -"


def test_title_setting_tests_and_provenance_sections(published: tuple[Path, Path]) -> None:
    results, out = published
    page = (out / "cross-arousal.md").read_text()
    assert "# cross / arousal: adapted to unlabelled test audio" in page
    assert "Adaptation: **unlabelled-test**" in page and "Normalisation: **speaker**" in page
    assert "Model selection: the last epoch of each method's fixed schedule." in page
    assert "Front-ends: spectrogram (configuration `f0`) for baseline\\_s, strong, twin, weak\\|net" in page
    tests = page.split("## Paired tests against the reference")[1].split("\n\n")[1].splitlines()
    assert len(tests) == 2 + 3 * len(CORPORA)  # header, rule, three methods on each corpus
    assert "Holm" in page and "paired t-test" in page
    ranking = page.split("## Ranking across the test corpora")[1].split("## Scores")[0]
    assert "permutation p" in ranking and "inf" not in ranking
    assert "**SYNTHETIC** stand-ins" in page
    assert f"c\\_two `{'c' * 16}`" in page
    assert "Seeds: 0, 1, 2" in page and "epochs=3" in page
    assert "serbench run --method all --data synthetic" in page
    assert f"serbench leaderboard --results {results} --out {out}" in page
    footer = page.split("## Provenance")[1]
    assert "Adaptation: **unlabelled-test**" in footer
    assert "| method | hyperparameters | chosen on training speakers |" in footer
    assert "| strong | epochs=3 | - |" in footer


def test_comparisons_match_the_statistics(tmp_path: Path) -> None:
    store = make_store(tmp_path / "results", methods=("baseline_s", "strong", "twin"))
    records = load_records(store)
    page = build_page("cross", "arousal", records, "baseline_s", UA)
    frame = compare(page, "baseline_s")
    assert len(frame) == 4
    assert frame["p_holm"].tolist() == pytest.approx(stats.holm(frame["p"].tolist()))
    row = frame[(frame["method"] == "strong") & (frame["column"] == "c-one")].iloc[0]
    ua = {m: [r.scores["c-one"].ua for r in sorted(records, key=lambda r: r.seed) if r.method == m]
          for m in ("baseline_s", "strong")}
    test = stats.paired_test(ua["baseline_s"], ua["strong"])
    assert row["difference"] == pytest.approx(np.mean(ua["strong"]) - np.mean(ua["baseline_s"]))
    assert (row["p"], row["ci_low"], row["ci_high"]) == pytest.approx((test.p, test.ci_low, test.ci_high))
    assert row["seeds"] == 3
    spread = np.std(np.subtract(ua["strong"], ua["baseline_s"]), ddof=1)
    assert row["detectable"] == pytest.approx(stats.detectable_shift(spread / np.sqrt(3), 2))
    for comparison in frame.itertuples():  # one construction: p < 0.05 exactly when 0 is outside the interval
        assert (comparison.p < 0.05) == (comparison.ci_low > 0 or comparison.ci_high < 0)


def two_fold_store(root: Path, monkeypatch: pytest.MonkeyPatch) -> ResultsStore:
    """baseline_s and strong, seeds 0-2, each seed's runs on two folds testing a quarter and the rest."""
    monkeypatch.setitem(FOLDS, "fold-1", (0, 0.25))
    monkeypatch.setitem(FOLDS, "fold-2", (0.25, 1))
    store = ResultsStore(root)
    for method in ("baseline_s", "strong"):
        for seed in (0, 1, 2):
            for fold in ("fold-1", "fold-2"):
                add_run(store, method, seed, fold=fold)
    return store


def test_folds_are_pooled_per_seed(tmp_path: Path, monkeypatch) -> None:
    store = two_fold_store(tmp_path / "results", monkeypatch)
    records = load_records(store)
    page = build_page("cross", "arousal", records, "baseline_s", UA)
    assert page.incomplete.empty and not gaps(page)
    cell = cell_scores(page, "strong", "c-one")
    assert list(cell["seed"]) == [0, 1, 2] and set(cell["n"]) == {120}  # every utterance once per seed
    seed0 = [r for r in records if r.method == "strong" and r.seed == 0]
    summed = np.sum([np.asarray(r.scores["c-one"].confusion) for r in seed0], axis=0)
    assert cell["ua"].iloc[0] == pytest.approx(stats.pooled_ua([summed]))
    write_leaderboards(tmp_path / "results", tmp_path / "out")
    text = (tmp_path / "out" / "cross-arousal.md").read_text()
    assert "folds: 2 (fold-1, fold-2)" in text and "incomplete" not in text.lower()
    assert main_rows(text)["strong"][-2].startswith("51.0 ± 1.0 (3);")  # probes: seeds, each a mean over folds


def test_an_incomplete_sweep_is_refused_or_stamped(tmp_path: Path, monkeypatch) -> None:
    store = two_fold_store(tmp_path / "results", monkeypatch)
    add_run(store, "strong", 3, fold="fold-1")  # seed 3 lacks fold-2
    add_run(store, "strong", 0, task="valence")  # baseline_s has no valence run
    with pytest.raises(SerbenchError, match="does not cover its protocol") as error:
        write_leaderboards(tmp_path / "results", tmp_path / "out")
    message = str(error.value)
    assert "strong on c-one: seed(s) 3 lack a fold's run (test utterances 30 of 120)" in message
    assert "cross / valence: baseline_s: runs on other tasks of cross, none on valence" in message
    assert "--allow-incomplete" in message and not (tmp_path / "out").exists()  # nothing written
    write_leaderboards(tmp_path / "results", tmp_path / "out", allow_incomplete=True)
    page = (tmp_path / "out" / "cross-arousal.md").read_text()
    assert "(incomplete sweep)" in page.splitlines()[2]  # the title, under the synthetic banner
    assert "> - strong on c-one: seed(s) 3 lack a fold's run" in page
    rows = main_rows(page)
    assert all("‡" in cell for cell in rows["strong"][1:3]) and not any("‡" in c for c in rows["baseline\\_s"])
    assert "(3)" in rows["strong"][1]  # the seed without every fold is left out of the numbers
    valence = main_rows((tmp_path / "out" / "cross-valence.md").read_text())
    assert list(valence) == ["strong"]
    index = (tmp_path / "out" / "README.md").read_text()
    assert "(cross-arousal.md) (incomplete)" in index and "2 page(s) lack runs" in index
    assert "--allow-incomplete" in page.split("This file was generated by:")[1]


def test_a_store_with_some_folds_of_every_method_is_incomplete(tmp_path: Path, monkeypatch) -> None:
    """Completeness is judged against the protocol, not against the folds other runs happen to have."""
    for index in range(5):
        monkeypatch.setitem(FOLDS, f"fold-{index + 1}", (index / 5, (index + 1) / 5))
    store = ResultsStore(tmp_path / "results")
    for method in ("baseline_s", "strong"):
        for seed in (0, 1):
            for fold in ("fold-1", "fold-2"):
                add_run(store, method, seed, fold=fold)
    page = build_page("cross", "arousal", load_records(store), "baseline_s", UA)
    assert page.cycles.empty and len(page.incomplete) == 8  # 2 methods x 2 seeds x 2 corpora
    assert set(page.incomplete["n"]) == {48} and set(page.incomplete["cycle_n"]) == {120}
    with pytest.raises(SerbenchError, match="test utterances 48 of 120"):
        write_leaderboards(tmp_path / "results", tmp_path / "out")


def test_tasks_of_the_protocol_without_runs_are_named(tmp_path: Path) -> None:
    """A sweep of one task (`serbench run --task arousal`) publishes: its pages are whole, and the index says which
    tasks of the protocol have none."""
    make_store(tmp_path / "results", methods=("baseline_s", "strong"), seeds=(0, 1), tasks=("arousal", "valence"))
    write_leaderboards(tmp_path / "results", tmp_path / "out")
    index = (tmp_path / "out" / "README.md").read_text()
    assert "Protocol cross also defines task(s) valence, on which no run was made" in index
    assert "Incomplete" not in index and "incomplete" not in (tmp_path / "out" / "cross-arousal.md").read_text()
    write_leaderboards(tmp_path / "results", tmp_path / "one", task="arousal")  # asked for one task
    assert "also defines" not in (tmp_path / "one" / "README.md").read_text()


def test_a_method_with_fewer_seeds_is_left_out_of_the_ranking_not_cutting_every_seed(tmp_path: Path) -> None:
    store = make_store(tmp_path / "results", methods=("baseline_s", "strong", "twin"), seeds=(0, 1, 2, 3, 4))
    add_run(store, "weak|net", 0)
    add_run(store, "weak|net", 1)
    page = build_page("cross", "arousal", load_records(store), "baseline_s", UA)
    ranked, seeds, scores, left_out = rank_table(page_blocks(page), page.methods, page.metric)
    assert ranked == ["baseline_s", "strong", "twin"] and seeds == [0, 1, 2, 3, 4] and scores.shape == (5, 3, 2)
    assert left_out == {"weak|net": "fewer seeds (2 of the 5 the ranking uses)"}
    # Many methods with few seeds outweigh one with many: the ranking keeps the methods and their common seeds.
    for method in ("strong", "twin"):
        for seed in (0, 1, 2, 3, 4):
            add_run(store, method, seed, task="valence")
    for method in ("baseline_s", "weak|net", "stuck", "nearly"):
        for seed in (0, 1, 2):
            add_run(store, method, seed, task="valence")
    page = build_page("cross", "valence", load_records(store, task="valence"), "baseline_s", UA)
    ranked, seeds, _, left_out = rank_table(page_blocks(page), page.methods, page.metric)
    assert len(ranked) == 6 and seeds == [0, 1, 2] and not left_out  # 6 x 3 cells, not 2 x 5


def test_a_one_seed_ranking_says_no_test(tmp_path: Path) -> None:
    make_store(tmp_path / "results", methods=("baseline_s", "strong", "twin"), seeds=(0,))
    write_leaderboards(tmp_path / "results", tmp_path / "out")
    ranking = (tmp_path / "out" / "cross-arousal.md").read_text().split("## Ranking across the test corpora")[1]
    assert "No test (one seed)" in ranking and "CD =" not in ranking and "cd.png" not in ranking
    assert not (tmp_path / "out" / "figures" / "cross-arousal-cd.png").exists()


def test_always_collapsed_methods_get_no_ua_test_and_identical_comparisons_count_once(tmp_path: Path) -> None:
    """Methods that collapse in every seed leave no seed where both trained: no UA test, their collapses counted
    and tested instead, and nothing added to the Holm family. Two systems with the same predictions give the same
    per-seed differences: one test, not two."""
    store = make_store(tmp_path / "results", methods=("baseline_s", "strong", "stuck", "stuck2", "stuck3"))
    for method in ("sure", "suer"):  # deterministic, equally long names: the same predictions in every seed
        for seed in (0, 1, 2):
            add_run(store, method, seed, deterministic=True)
    page = build_page("cross", "arousal", load_records(store), "baseline_s", UA)
    frame = compare(page, "baseline_s")
    assert len(frame) == 12 and frame["distinct"].nunique() == 4  # per corpus: strong, and sure and suer as one
    stuck = frame[frame["method"].str.startswith("stuck")]
    assert stuck["p"].isna().all() and stuck["p_holm"].isna().all() and (stuck["working"] == 0).all()
    assert (stuck["collapsed"] == 3).all() and (stuck["reference_collapsed"] == 0).all()
    assert stuck["collapse_p"].tolist() == pytest.approx([0.25] * 6)  # McNemar: 3 of 3 discordant seeds
    for corpus in CORPORA:
        same = frame[(frame["column"] == corpus) & frame["method"].isin(["sure", "suer"])]
        assert same["p_holm"].nunique() == 1 and same["distinct"].nunique() == 1
    distinct = frame.dropna(subset=["distinct"]).drop_duplicates("distinct")
    expected = dict(zip(distinct["distinct"], stats.holm(distinct["p"].tolist()), strict=True))
    tested = frame.dropna(subset=["distinct"])
    assert tested["p_holm"].tolist() == pytest.approx([expected[key] for key in tested["distinct"]])
    page.comparisons = frame
    text = page_markdown(page, "serbench leaderboard")[0]
    assert "Holm's correction across the 4 distinct comparisons of this page, its family" in text
    assert "| c-one | stuck | - | - | - | - | 0 of 3 | - | 3 / 0, p 0.250 |" in text


def test_the_new_speaker_claim_tests_per_speaker_differences_over_seeds_and_speakers(tmp_path: Path) -> None:
    store = make_store(tmp_path / "results", methods=("baseline_s", "strong", "weak|net"), seeds=(0, 1, 2, 3),
                       speakers=6, utterances=240)
    add_run(store, "strong", 4, speakers=6, utterances=240, stuck=True)  # a collapsed seed leaves both tests
    add_run(store, "baseline_s", 4, speakers=6, utterances=240)
    add_run(store, "weak|net", 4, speakers=6, utterances=240)
    written = write_leaderboards(tmp_path / "results", tmp_path / "out", claim="speakers")
    page = (tmp_path / "out" / "cross-arousal.md").read_text()
    assert "The claim is about new speakers of the corpus and new training seeds" in page
    assert "new-speaker test over seeds and test speakers" in page and "--claim speakers" in page
    assert "| c-one | strong |" in page and "| 4 of 5 x 6 |" in page
    # By hand: each speaker's UA in each seed, from the predictions, then stats.speaker_test of the differences.
    records = load_records(store)
    by_speaker = {}
    for record in records:
        predictions = store.table(record.run_id, "predictions")
        rows = predictions[predictions["corpus"] == "c-one"]
        by_speaker[(record.method, record.seed)] = [
            metrics.unweighted_accuracy(metrics.confusion_matrix(g["y"].to_numpy(), g["predicted"].to_numpy(), 2))
            for _, g in rows.groupby("speaker", sort=True)]
    differences = np.array([np.subtract(by_speaker[("strong", s)], by_speaker[("baseline_s", s)]) for s in range(4)])
    expected = stats.speaker_test(differences)
    built = build_page("cross", "arousal", records, "baseline_s", UA)
    built.claim, built.speakers = "speakers", speaker_rows(store, built.cycles, built.metric)
    row = compare(built, "baseline_s").set_index(["column", "method"]).loc[("c-one", "strong")]
    assert (row["p"], row["difference"], row["speakers"], row["working"]) == pytest.approx(
        (expected.p, expected.difference, 6, 4))
    assert row["detectable"] == pytest.approx(stats.detectable_shift(expected.standard_error, expected.df))
    assert any(path.name == "cross-arousal.md" for path in written)
    with pytest.raises(SerbenchError, match="unknown claim"):
        write_leaderboards(tmp_path / "results", tmp_path / "out", claim="utterances")


def test_seeds_where_a_run_collapsed_leave_the_ua_test(tmp_path: Path) -> None:
    """The UA test pairs only the seeds where neither run collapsed; the collapses are counted beside it."""
    store = make_store(tmp_path / "results", methods=("baseline_s", "strong"), seeds=(0, 1, 2, 3))
    add_run(store, "baseline_s", 4)
    add_run(store, "strong", 4, stuck=True)
    page = build_page("cross", "arousal", load_records(store), "baseline_s", UA)
    frame = compare(page, "baseline_s")
    row = frame[frame["column"] == "c-one"].iloc[0]
    assert (row["seeds"], row["working"], row["collapsed"], row["reference_collapsed"]) == (5, 4, 1, 0)
    cells = page.cycles[page.cycles["corpus"] == "c-one"].set_index(["method", "seed"])["ua"]
    differences = [cells["strong", s] - cells["baseline_s", s] for s in range(4)]
    assert row["p"] == pytest.approx(stats.paired_test([cells["baseline_s", s] for s in range(4)],
                                                       [cells["strong", s] for s in range(4)]).p)
    assert row["difference"] == pytest.approx(np.mean(differences))


def test_collapsed_runs_are_flagged_and_intervals_stay_in_range(tmp_path: Path) -> None:
    make_store(tmp_path / "results", methods=("baseline_s", "stuck", "twin"), seeds=(0, 1), utterances=8)
    write_leaderboards(tmp_path / "results", tmp_path / "out")
    page = (tmp_path / "out" / "cross-arousal.md").read_text()
    rows = main_rows(page)
    assert all("†" in cell for cell in rows["stuck"][1:3]) and not any("†" in c for c in rows["twin"][1:3])
    assert "stuck on c-one: 2 of 2 seeds, 2 collapsed and 0 near-collapsed of their 2 runs" in page
    assert "ranked by the near-chance UA" in page.split("## Ranking across the test corpora")[1]
    for low, high in re.findall(r"\[(-?[\d.]+), (-?[\d.]+)\]", page.split("## Scores per test corpus")[1]):
        assert 0 <= float(low) <= float(high) <= 100


def test_near_collapsed_runs_are_flagged_and_their_cells_get_no_interval(tmp_path: Path) -> None:
    """A run that gives all but 1 of 200 utterances one class has learnt practically nothing either."""
    make_store(tmp_path / "results", methods=("baseline_s", "nearly", "twin"), seeds=(0, 1, 2), utterances=200)
    write_leaderboards(tmp_path / "results", tmp_path / "out")
    page = (tmp_path / "out" / "cross-arousal.md").read_text()
    rows = main_rows(page)
    assert all("†" in cell for cell in rows["nearly"][1:3]) and not any("†" in c for c in rows["twin"][1:3])
    assert "nearly on c-one: 3 of 3 seeds, 0 collapsed and 3 near-collapsed of their 3 runs" in page
    scores = {(cells[0], cells[1]): cells for line in page.split("## Scores per test corpus")[1].splitlines()[4:]
              if len(cells := [c.strip() for c in line.split("|")[1:-1]]) > 3}
    assert scores[("c-one", "nearly")][3] == "-" and scores[("c-one", "twin")][3].startswith("[")


def test_aggregate(tmp_path: Path) -> None:
    store = make_store(tmp_path / "results", methods=("baseline_s",), seeds=(0, 1, 2, 3))
    records = load_records(store)
    frame = aggregate(records)
    assert set(frame.columns) >= {"protocol", "task", "method", "corpus", "ua_mean", "n"}
    row = frame[frame["corpus"] == "c_two"].iloc[0]
    ua = [r.scores["c_two"].ua for r in sorted(records, key=lambda r: r.seed)]
    summary = stats.summarize(ua)
    assert (row["ua_mean"], row["ua_std"], row["n"]) == (pytest.approx(np.mean(ua)),
                                                          pytest.approx(np.std(ua, ddof=1)), 4)
    assert (row["ua_ci_low"], row["ua_ci_high"]) == (pytest.approx(summary.ci_low), pytest.approx(summary.ci_high))
    assert row["wa_mean"] == pytest.approx(np.mean([r.scores["c_two"].wa for r in records]))


def test_same_store_gives_identical_files(every_format, tmp_path: Path) -> None:
    make_store(tmp_path / "results", methods=("baseline_s", "strong"), seeds=(0, 1))
    for out in ("a", "b"):
        write_leaderboards(tmp_path / "results", tmp_path / out,
                                       command="serbench leaderboard")
    first, second = written(tmp_path / "a"), written(tmp_path / "b")
    assert first.keys() == second.keys() and len(first) > 3
    assert all(first[name] == second[name] for name in first)


def test_real_data_has_no_banner_and_probes_can_be_missing(tmp_path: Path) -> None:
    store = make_store(tmp_path / "results", methods=("baseline_s",), seeds=(0, 1), synthetic=False, probes=False)
    add_run(store, "strong", 0, synthetic=False)
    write_leaderboards(tmp_path / "results", tmp_path / "out")
    page = (tmp_path / "out" / "cross-arousal.md").read_text()
    assert "SYNTHETIC" not in page and "Data: real corpora" in page
    assert main_rows(page)["baseline\\_s"][-1] == "-"


def test_different_data_is_never_mixed(tmp_path: Path) -> None:
    store = make_store(tmp_path / "results", methods=("baseline_s",), seeds=(0, 1))
    other = add_run(store, "strong", 0, data={**FINGERPRINTS, "c_two": "d" * 64})
    with pytest.raises(SerbenchError, match="2 different configurations") as error:
        write_leaderboards(tmp_path / "results", tmp_path / "out")
    message = str(error.value)
    assert "data fingerprint of c_two" in message and "--config" in message
    assert "data fingerprint of c-one" not in message  # only what differs
    chosen = configuration_id(store.record(other))
    assert f"--config {chosen}" in message
    write_leaderboards(tmp_path / "results", tmp_path / "out", configs=[chosen])
    assert "strong" in (tmp_path / "out" / "cross-arousal.md").read_text()
    with pytest.raises(SerbenchError, match="no run has this configuration"):
        write_leaderboards(tmp_path / "results", tmp_path / "out", configs=["zzzz"])


def test_different_frontend_configurations_are_never_mixed(tmp_path: Path) -> None:
    store = make_store(tmp_path / "results", methods=("baseline_s",), seeds=(0,))
    add_run(store, "strong", 0, frontend_hash="f1")
    with pytest.raises(SerbenchError, match="front-end configuration f0") as error:
        write_leaderboards(tmp_path / "results", tmp_path / "out")
    assert "front-end configuration f1" in str(error.value)


def test_front_ends_share_the_page_of_their_protocol_and_task(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "results")
    svm = {"C": 1.0, "gamma": 0.25, "selection_ua": 0.9, "chosen_by": "speaker-grouped 5-fold cross-validation"}
    for task in ("arousal", "valence"):
        for seed in (0, 1, 2):
            add_run(store, "baseline_s", seed, task=task)
            add_run(store, "baseline_s", seed, task=task, frontend="logmel", frontend_hash="f2")
            add_run(store, "egemaps_svm", seed, task=task, frontend="egemaps", frontend_hash="f3", hparams={"C": 0.0},
                    selection={**svm, "C": 0.1 if (task, seed) == ("arousal", 0) else 1.0})
    records = store.records()
    ids = {r.frontend: configuration_id(r) for r in records}
    assert len(set(ids.values())) == 3  # a configuration per front-end
    # baseline_s ran on two front-ends: two variants, so the reference must name one
    with pytest.raises(SerbenchError, match=r"baseline_s has several variants.*baseline_s\[frontend=logmel\]"):
        write_leaderboards(tmp_path / "results", tmp_path / "out")
    out = tmp_path / "out"
    write_leaderboards(tmp_path / "results", out, references=["baseline_s[frontend=spectrogram]"])
    assert {p.name for p in out.glob("*.md")} == {"README.md", "cross-arousal.md", "cross-valence.md"}
    page = (out / "cross-arousal.md").read_text()
    rows = main_rows(page)
    assert list(rows) == ["baseline\\_s\\[frontend=spectrogram\\]", "baseline\\_s\\[frontend=logmel\\]",
                          "egemaps\\_svm"]
    assert [cells[0] for cells in rows.values()] == ["spectrogram", "logmel", "egemaps"]
    assert "▲" in rows["egemaps\\_svm"][1]  # tested against the reference on the other front-end
    header = ("Front-ends: spectrogram (configuration `f0`{}) for baseline\\_s\\[frontend=spectrogram\\]; logmel "
              "(`f2`{}) for baseline\\_s\\[frontend=logmel\\]; egemaps (`f3`{}) for egemaps\\_svm")
    assert header.format("", "", "") in page.split("## UA per test corpus")[0]
    footer = page.split("## Provenance")[1]
    assert header.format(*(f", --config `{ids[f]}`" for f in ("spectrogram", "logmel", "egemaps"))) in footer
    assert "| egemaps\\_svm | C=0.0 | C=1 (2), C=0.1 (1); gamma=0.25 (3) |" in footer
    assert "| baseline\\_s\\[frontend=logmel\\] | epochs=3 | - |" in footer
    index = (out / "README.md").read_text()
    assert "| spectrogram, logmel, egemaps |" in index
    assert index.count("ranking across test corpora and tasks") == 1  # one ranking per protocol
    assert "## cross: ranking across test corpora and tasks" in index and (out / "figures" / "cross-cd.png").is_file()
    assert "Blocks: arousal: c-one, arousal: c\\_two, valence: c-one, valence: c\\_two (4); methods: 3" in index


def test_front_ends_of_one_page_share_data_and_protocol(tmp_path: Path) -> None:
    store = make_store(tmp_path / "results", methods=("baseline_s",), seeds=(0, 1))
    stale = add_run(store, "strong", 0, data={**FINGERPRINTS, "c_two": "d" * 64})  # the same front-end
    for seed in (0, 1):
        add_run(store, "egemaps_svm", seed, frontend="egemaps", frontend_hash="f3")
    with pytest.raises(SerbenchError, match="spectrogram front-end: its runs use 2 different configurations"):
        write_leaderboards(tmp_path / "results", tmp_path / "out")
    # --config chooses within its front-end: the egemaps runs stay
    current = configuration_id(store.record(sorted(store.done_ids() - {stale})[0]))
    write_leaderboards(tmp_path / "results", tmp_path / "out", configs=[current[:6]])
    assert "egemaps\\_svm" in main_rows((tmp_path / "out" / "cross-arousal.md").read_text())
    # the other configuration's data differ from the egemaps runs': they cannot share the page
    chosen = configuration_id(store.record(stale))
    with pytest.raises(SerbenchError, match="front-ends' runs differ in their data or protocol content") as error:
        write_leaderboards(tmp_path / "results", tmp_path / "out", configs=[chosen])
    message = str(error.value)
    assert f"--config {chosen} (spectrogram): 1 runs (strong); data fingerprint of c_two dddddddddddd" in message
    assert "(egemaps): 2 runs (egemaps_svm); data fingerprint of c_two cccccccccccc" in message
    assert "front-end configuration" not in message and "c-one" not in message  # only what differs


def test_model_selection_is_reported(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "results")
    for method in ("baseline_s", "strong"):
        for seed, epoch in zip((0, 1, 2), (3, 12, 7), strict=True):
            add_run(store, method, seed, policy="best-validation", selection={"epoch": epoch, "validation_ua": 0.6})
    write_leaderboards(tmp_path / "results", tmp_path / "out")
    page = (tmp_path / "out" / "cross-arousal.md").read_text()
    assert ("Model selection: the epoch with the best UA on the validation speakers, early stopping after 5 epochs "
            "without a better one.") in page.split("## UA per test corpus")[0]
    assert "| strong | epochs=3 | epoch 3-12 (median 7) |" in page


def test_variants_are_rows_of_their_own(tmp_path: Path) -> None:
    store = make_store(tmp_path / "results", methods=("baseline_s", "strong"), seeds=(0, 1))
    for seed in (0, 1):
        add_run(store, "strong", seed, hparams={"epochs": 30})
    write_leaderboards(tmp_path / "results", tmp_path / "out")
    page = (tmp_path / "out" / "cross-arousal.md").read_text()
    assert list(main_rows(page)) == ["baseline\\_s", "strong\\[epochs=30\\]", "strong\\[epochs=3\\]"]
    # a reference with several variants must be named
    for seed in (0, 1):
        add_run(store, "baseline_s", seed, hparams={"epochs": 30})
    several = r"(?s)baseline_s has several variants.*--reference 'baseline_s\[epochs=30\]'"
    with pytest.raises(SerbenchError, match=several):
        write_leaderboards(tmp_path / "results", tmp_path / "out")
    write_leaderboards(tmp_path / "results", tmp_path / "out", references=["baseline_s[epochs=30]"])
    assert next(iter(main_rows((tmp_path / "out" / "cross-arousal.md").read_text()))) == "baseline\\_s\\[epochs=30\\]"


def test_reference_choices(tmp_path: Path) -> None:
    make_store(tmp_path / "results", methods=("strong", "twin"), seeds=(0, 1))
    with pytest.raises(SerbenchError, match="--reference nope: no finished run"):
        write_leaderboards(tmp_path / "results", tmp_path / "out", references=["nope"])
    write_leaderboards(tmp_path / "results", tmp_path / "out")
    page = (tmp_path / "out" / "cross-arousal.md").read_text()
    assert "No paired tests: the reference baseline\\_s has no runs" in page
    # The first of the references with runs on the page.
    write_leaderboards(tmp_path / "results", tmp_path / "out", references=["nope", "twin", "strong"])
    page = (tmp_path / "out" / "cross-arousal.md").read_text()
    assert list(main_rows(page)) == ["twin", "strong"] and "▲" in page
    assert "--reference nope --reference twin --reference strong" in page


def test_bad_store_contents_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(SerbenchError, match="no finished runs"):
        write_leaderboards(tmp_path / "empty", tmp_path / "out")
    store = make_store(tmp_path / "results", methods=("baseline_s",), seeds=(0,))
    with pytest.raises(SerbenchError, match="no finished runs of protocol multi") as error:
        write_leaderboards(tmp_path / "results", tmp_path / "out", protocol="multi")
    assert "cross/arousal" in str(error.value)
    run_id = add_run(store, "strong", 0)
    path = store.runs / run_id / "record.json"
    record = json.loads(path.read_text())
    del record["scores"]
    path.write_text(json.dumps(record))
    with pytest.raises(SerbenchError, match=r"(?s)1 damaged run folder.*record.json has") as error:
        write_leaderboards(tmp_path / "results", tmp_path / "out")
    assert str(path.parent) in str(error.value) and "serbench prune --damaged" in str(error.value)
    write_checksums(path.parent)  # checksums that match a record written wrong: its schema check names it
    with pytest.raises(SerbenchError, match="it lacks 'scores'") as error:
        write_leaderboards(tmp_path / "results", tmp_path / "out")
    assert str(path) in str(error.value)


def test_an_edited_score_is_refused(tmp_path: Path) -> None:
    store = make_store(tmp_path / "results", methods=("baseline_s",), seeds=(0, 1))
    path = store.runs / sorted(store.done_ids())[0] / "record.json"
    text = path.read_text()
    ua = re.search(r'"ua": (0\.\d+)', text)[1]
    path.write_text(text.replace(f'"ua": {ua}', f'"ua": 0.{"9" * (len(ua) - 2)}', 1))  # same size
    with pytest.raises(SerbenchError, match=r"record\.json differs from its checksum"):
        write_leaderboards(tmp_path / "results", tmp_path / "out")


def test_settings_never_share_a_page(tmp_path: Path) -> None:
    make_store(tmp_path / "results", methods=("baseline_s",), seeds=(0, 1))
    store = ResultsStore(tmp_path / "results")
    for seed in (0, 1):
        add_run(store, "baseline_s", seed, protocol="cross-dg", adaptation="none")
    write_leaderboards(tmp_path / "results", tmp_path / "out")
    assert "domain generalisation" in (tmp_path / "out" / "cross-dg-arousal.md").read_text().splitlines()[2]
    index = (tmp_path / "out" / "README.md").read_text()
    assert "| unlabelled-test |" in index and "| none |" in index


def test_runs_on_different_test_utterances_cannot_be_paired(tmp_path: Path) -> None:
    store = make_store(tmp_path / "results", methods=("baseline_s",), seeds=(0, 1))
    add_run(store, "strong", 0, utterances=100)
    add_run(store, "strong", 1, utterances=100)
    with pytest.raises(SerbenchError, match="different c-one test utterances"):
        write_leaderboards(tmp_path / "results", tmp_path / "out")


def test_command_line(tmp_path: Path) -> None:
    make_store(tmp_path / "results", methods=("baseline_s", "strong"), seeds=(0,))
    parser = argparse.ArgumentParser()
    cli.add_commands(parser.add_subparsers())
    args = parser.parse_args(["leaderboard", "--results", str(tmp_path / "results"), "--out",
                              str(tmp_path / "out"), "--protocol", "cross", "--task", "arousal"])
    assert args.func(args) == 0
    page = (tmp_path / "out" / "cross-arousal.md").read_text()
    assert f"--out {tmp_path / 'out'} --protocol cross --task arousal\n```" in page
    words = leaderboard_command("r", "o", configs=["5ca91fba", "7e01aa42"]).split()
    assert words[-4:] == ["--config", "5ca91fba", "--config", "7e01aa42"]
    assert parser.parse_args(["leaderboard", "--config", "5c", "--config", "7e"]).config == ["5c", "7e"]


def test_an_introduction_opens_the_index(tmp_path: Path) -> None:
    make_store(tmp_path / "results", methods=("baseline_s", "strong"), seeds=(0, 1))
    intro = tmp_path / "intro.md"
    intro.write_text("# Real speech\n\nWhat these pages hold.\n")
    parser = argparse.ArgumentParser()
    cli.add_commands(parser.add_subparsers())
    args = parser.parse_args(["leaderboard", "--results", str(tmp_path / "results"), "--out", str(tmp_path / "out"),
                              "--intro", str(intro)])
    assert args.func(args) == 0
    index = (tmp_path / "out" / "README.md").read_text()
    assert "\n\n# Real speech\n\nWhat these pages hold.\n\nUnweighted accuracy (UA)" in index  # after the banner
    assert f"--intro {intro}\n```" in index and f"--intro {intro}\n```" in (tmp_path / "out" / "cross-arousal.md"
                                                                           ).read_text()
    with pytest.raises(SerbenchError, match="cannot read the index's introduction") as error:
        write_leaderboards(tmp_path / "results", tmp_path / "out", intro=tmp_path / "missing.md")
    assert "missing.md" in str(error.value)


def test_deterministic_systems_get_no_test_over_seeds_and_no_zero_width_interval(tmp_path: Path) -> None:
    store = make_store(tmp_path / "results", methods=("baseline_s",), seeds=(0, 1, 2))
    for seed in (0, 1, 2):
        for method in ("strong", "twin"):
            add_run(store, method, seed, deterministic=True)
    write_leaderboards(tmp_path / "results", tmp_path / "out", references=["strong"])
    page = (tmp_path / "out" / "cross-arousal.md").read_text()
    tests = page.split("## Paired tests against the reference")[1].split("## Ranking")[0]
    twin = next(line for line in tests.splitlines() if line.startswith("| c-one | twin |")).split("|")
    assert [cell.strip() for cell in twin[4:7]] == ["-", "-", "-"]  # no interval, no p: the difference is exact
    assert twin[8].strip() == "-"  # and no power to speak of
    assert "so their difference is exact" in tests
    net = next(line for line in tests.splitlines() if line.startswith("| c-one | baseline\\_s |")).split("|")
    assert net[4].strip().startswith("[") and net[5].strip() != "-"  # a system that varies is tested
    assert float(net[8]) > 0 and "no marker is not no difference" in tests
    scores = page.split("## Scores per test corpus")[1].split("## Confusion")[0]
    strong = next(line for line in scores.splitlines() if line.startswith("| c-one | strong |")).split("|")
    assert strong[4].strip() == "-" and strong[5].strip() == "0.0"  # no zero-width interval


def test_titles_say_what_is_new_to_the_model() -> None:
    assert title_setting({"adaptation": "none", "split": "corpus"}) == "domain generalisation"
    assert title_setting({"adaptation": "none", "split": "speaker-folds"}) == "new speakers"
    assert title_setting({"adaptation": "unlabelled-test", "split": "speaker-folds"}) == \
        "adapted to unlabelled test audio"


def protocol_with(monkeypatch: pytest.MonkeyPatch, **changes) -> None:
    """The leaderboards load every protocol with `changes` (its score, its references)."""
    monkeypatch.setattr(pages, "load_protocol", lambda name: dataclasses.replace(load_protocol(name), **changes))


def test_the_protocol_names_the_main_score_and_the_references(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    store = make_store(tmp_path / "results", methods=("baseline_s", "strong", "weak|net"), seeds=(0, 1, 2))
    protocol_with(monkeypatch, score="macro_f1", references=("strong", "baseline_s"))
    write_leaderboards(tmp_path / "results", tmp_path / "out")
    page = (tmp_path / "out" / "cross-arousal.md").read_text()
    assert "## macro-F1 per test corpus" in page and "Reference for the significance markers: **strong**" in page
    rows = page.split("## macro-F1 per test corpus")[1].split("\n\n")[1].splitlines()[2:]
    assert rows[0].startswith("| strong |")  # the protocol's first reference with runs leads
    cycles = cycle_rows(load_records(store))
    f1 = cycles[(cycles["method"] == "strong") & (cycles["corpus"] == "c-one")]["macro_f1"]
    assert f"{100 * f1.mean():.1f}" in rows[0].split("|")[3]  # the cell is the macro-F1 mean over seeds
    assert "| test corpus | method | macro-F1 | macro-F1 95% CI | macro-F1 std | UA | WA | seeds |" in page
    assert "Δmacro-F1" in page
    frame = aggregate(load_records(store), metrics.METRICS["wa"])
    assert {"wa_mean", "wa_std", "wa_ci_low", "ua_mean", "macro_f1_mean"} <= set(frame.columns)
    assert "ua_std" not in frame.columns


def test_a_page_without_references_has_no_paired_tests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_store(tmp_path / "results", methods=("baseline_s", "strong"), seeds=(0, 1))

    def unknown(name: str) -> None:
        raise SerbenchError(f"no protocol {name!r}")

    monkeypatch.setattr(pages, "load_protocol", unknown)  # a protocol file that is not here: UA, no references
    write_leaderboards(tmp_path / "results", tmp_path / "out")
    page = (tmp_path / "out" / "cross-arousal.md").read_text()
    assert "No reference for the significance markers" in page and "▲" not in page
    assert "No paired tests: the page has no reference" in page and "## UA per test corpus" in page
    write_leaderboards(tmp_path / "results", tmp_path / "out", references=["baseline_s"])  # the command line's
    assert "▲" in (tmp_path / "out" / "cross-arousal.md").read_text()


def test_a_score_better_when_lower_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_store(tmp_path / "results", methods=("baseline_s", "strong"), seeds=(0, 1))
    error_rate = metrics.Metric("ua", "error", "share of wrong decisions", lambda m: 1 - metrics.weighted_accuracy(m),
                                higher_is_better=False)
    monkeypatch.setattr(pages, "METRICS", {"ua": error_rate})
    with pytest.raises(SerbenchError, match="better when lower"):
        write_leaderboards(tmp_path / "results", tmp_path / "out")
