"""One run from its split to its record: the split's utterances labelled and normalised into row sets (with the
unlabelled adaptation audio where the protocol has it), and, once trained, scored per test corpus, probed and
written down with its provenance."""

from __future__ import annotations

import math
import platform
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from serbench import __version__
from serbench.data.corpora import rating_scale
from serbench.data.corpora.schema import LABEL_COLUMNS
from serbench.data.labels import PAPER_SUBSETS, Labelled, Task, apply_task
from serbench.errors import SerbenchError
from serbench.features.normalisation import Moments, Normaliser, normalisation_groups
from serbench.method import (
    DOMAINS,
    InputSpec,
    Method,
    TaskSpec,
    build_method,
)
from serbench.metrics import prediction_scores
from serbench.protocols.protocol import PARTS, Fold, Protocol, split_utterances
from serbench.runs.plan import (
    CorpusData,
    RunSpec,
    article,
)
from serbench.runs.probes import embedding_probes
from serbench.runs.record import CorpusScores, RunRecord
from serbench.training import (
    RowSet,
    choose_device,
    decisions,
    diverged,
    utterance_posteriors,
)


def row_set(utterances: pd.DataFrame, corpora: Mapping[str, CorpusData], domains: Mapping[str, tuple[str, ...]],
                normalisation: SplitNormaliser, kind: str, *, labelled: bool = True) -> tuple[RowSet, pd.DataFrame]:
    """The rows of `utterances` (rows of the corpora's shared bank, nothing copied) with their labels
    (domain labels as indices into `domains`; no emotion labels unless `labelled`), normalised by their groups,
    and the utterance table in the order of the set's utterance indices (sorted by corpus and id)."""
    utterances = utterances.sort_values(["corpus", "utterance_id"], kind="stable").reset_index(drop=True)
    rows, counts = [], []
    for corpus, part in utterances.groupby("corpus", sort=True):
        data = corpora[str(corpus)]
        ranges = data.features.index.set_index("utterance_id").loc[part["utterance_id"]]
        counts.append((ranges["stop"] - ranges["start"]).to_numpy())
        rows.append(data.offset + data.features.rows(part["utterance_id"]))
    per_utterance = np.concatenate(counts)

    def repeat(values: pd.Series | np.ndarray) -> np.ndarray:
        return np.repeat(np.asarray(values), per_utterance)

    labels = {d: repeat(utterances[d].map({v: i for i, v in enumerate(values)})) for d, values in domains.items()}
    bank = next(iter(corpora.values())).bank
    assert bank is not None, "load_corpora gives every corpus of a sweep the bank they share"
    groups = repeat(normalisation.group_of(utterances))
    return RowSet(bank, repeat(np.arange(len(utterances))), repeat(utterances["y"]) if labelled else None,
                      labels, rows=np.concatenate(rows), normaliser=normalisation.normaliser,
                      norm_group=groups, kind=kind), utterances


@dataclass
class SplitNormaliser:
    """A run's normaliser and which of its groups each utterance (corpus, utterance id) belongs to."""

    normaliser: Normaliser
    groups: pd.Series  # (corpus, utterance_id) -> row of the normaliser's statistics

    def group_of(self, utterances: pd.DataFrame) -> np.ndarray:
        return self.groups.loc[list(zip(utterances["corpus"], utterances["utterance_id"], strict=True))].to_numpy()


def fit_split_normaliser(split: pd.DataFrame, corpora: Mapping[str, CorpusData], mode: str) -> SplitNormaliser:
    """The protocol's normalisation for a split: each group's statistics from its utterances' audio (every
    utterance of the group, whatever its label; under `training`, the training part's only)."""
    names, contributes = normalisation_groups(split, mode)
    codes, groups = pd.factorize(names, sort=True)
    codes = pd.Series(codes, index=split.index)
    moments, owners = [], []
    for corpus, rows in split[contributes].groupby("corpus", sort=True):
        moments.append(corpora[str(corpus)].features.moments(rows["utterance_id"]))
        owners.append(codes[rows.index].to_numpy())
    merged = Moments.concat(moments).merge(np.concatenate(owners), len(groups))
    keys = pd.MultiIndex.from_arrays([split["corpus"], split["utterance_id"]])
    feature_shape = next(iter(corpora.values())).features.feature_shape
    return SplitNormaliser(Normaliser.from_moments(merged, tuple(groups), mode, feature_shape),
                         pd.Series(codes.to_numpy(), index=keys))


@dataclass
class PreparedRun:
    """A run ready to train: its data (split, labelled, normalised, and the unlabelled adaptation audio where the
    protocol allows it), its freshly built method, and what its record needs afterwards."""

    spec: RunSpec
    classes: tuple[str, ...]
    split: pd.DataFrame
    labelled: dict[str, Labelled]
    train_set: RowSet
    test_set: RowSet
    adaptation_set: RowSet | None
    validation_set: RowSet | None  # training speakers held out, where the protocol asks for it
    # selection = "leave-one-corpus-out": per training corpus, (the other training corpora, its own training part)
    held_out: dict[str, tuple[RowSet, RowSet]]
    test: pd.DataFrame
    method: Method
    normaliser: Normaliser
    synthetic: bool
    started: float


def labelled_split(protocol: Protocol, fold: Fold, task_name: str,
                   corpora: Mapping[str, CorpusData]) -> tuple[Task, pd.DataFrame, dict[str, Labelled]]:
    """A fold's utterances with their parts (`split`), and per corpus those the task labels: what a run trains
    and is tested on, and what `serbench splits export` writes for other toolkits."""
    table = pd.concat([corpora[c].table for c in dict.fromkeys((*fold.train, *fold.test))], ignore_index=True)
    task = protocol.task(task_name, table)  # the same for every fold: `categorical` reads the whole corpus
    split = split_utterances(table, protocol, fold)
    subsets = PAPER_SUBSETS if protocol.paper_subsets else {}
    labelled = {str(c): apply_task(rows, task, subsets, rating_scale(str(c)))
                for c, rows in split.groupby("corpus", sort=True)}
    for name, part in labelled.items():  # what the release holds but its reader left out (RAVDESS's songs) too
        part.excluded = {**corpora[name].excluded, **part.excluded}
    return task, split, labelled


def prepare(spec: RunSpec, corpora: Mapping[str, CorpusData]) -> PreparedRun:
    """Split, label and normalise a run's data and build its method (seeded by the run's seed)."""
    started = time.time()
    protocol = spec.protocol
    task, split, labelled = labelled_split(protocol, spec.fold, spec.task, corpora)
    used = pd.concat([part.table for part in labelled.values()])
    train, test = used[used["part"] == "train"], used[used["part"] == "test"]
    if train.empty or test.empty:
        raise SerbenchError(f"{spec.label()}: the {'training' if train.empty else 'test'} part has no utterance "
                            f"with {article(spec.task)} {spec.task} label",
                            hint="check the protocol's corpora and label overrides")
    # Adaptation audio: every test-part utterance, whatever its label, with the labels dropped (transductive, as
    # in Ganin & Lempitsky; docs/protocols.md says why).
    pool = split[split["part"] == "test"].drop(columns=list(LABEL_COLUMNS)) \
        if protocol.adaptation == "unlabelled-test" else None
    domain_source = train if pool is None else pd.concat([train, pool])
    domains = {d: tuple(sorted(domain_source[d].unique())) for d in DOMAINS}
    normalisation = fit_split_normaliser(split, corpora, protocol.normalisation)
    kind = spec.frontend.kind
    train_set, _ = row_set(train, corpora, domains, normalisation, kind)
    test_set, test = row_set(test, corpora, {}, normalisation, kind)
    validation = used[used["part"] == "validation"]
    validation_set = row_set(validation, corpora, {}, normalisation, kind)[0] if len(validation) else None
    pool_set = row_set(pool, corpora, domains, normalisation, kind, labelled=False)[0] \
        if pool is not None else None
    held_out = {}
    if protocol.selection == "leave-one-corpus-out":
        if train["corpus"].nunique() < 2:
            raise SerbenchError(f"{spec.label()}: leave-one-corpus-out selection needs two training corpora with "
                                f"{article(spec.task)} {spec.task} label, and this fold has "
                                f"{train['corpus'].nunique()}", hint="train on more corpora, or choose another "
                                                                    "selection in the protocol")
        # The held-out models read the run's domains and normalisation: never a held-out corpus's labels.
        held_out = {str(c): (row_set(train[train["corpus"] != c], corpora, domains, normalisation, kind)[0],
                             row_set(train[train["corpus"] == c], corpora, {}, normalisation, kind)[0])
                    for c in sorted(train["corpus"].unique())}
    method = build_method(spec.method, TaskSpec(task.classes, domains, InputSpec(kind, spec.frontend.row_shape),
                                                task.rating), spec.hparams, seed=spec.seed)
    return PreparedRun(spec, task.classes, split, labelled, train_set, test_set, pool_set, validation_set, held_out,
                       test, method, normalisation.normaliser, any(corpora[c].synthetic for c in spec.data), started)


def finish(run: PreparedRun, curves: list[dict[str, float]], fit_seconds: float, device: str,
           fused: int = 1, on_stage: Callable[[str], None] | None = None) -> tuple[RunRecord, dict[str, pd.DataFrame]]:
    """Score a trained run on its test part: its record (JSON-ready) and its tables (predictions, split).
    `fused` is how many runs were trained together with this one (1: alone), kept in the provenance; `on_stage`
    hears "scoring" and "probing" as they start (each can take minutes on a large test part)."""
    stage = on_stage or (lambda name: None)
    spec, classes, test = run.spec, run.classes, run.test
    for epoch, losses in enumerate(curves):  # the fused trainer's runs are checked here, lone runs in fit too
        for term, value in losses.items():
            if not math.isfinite(value):
                raise diverged(term, value, epoch)
    stage("scoring")
    posteriors = utterance_posteriors(run.method, run.test_set, device=device)
    if not np.isfinite(posteriors).all():  # argmax would silently make them class 0
        raise SerbenchError(f"the method predicted NaN or infinite {'ratings' if not classes else 'posteriors'} "
                            f"for {int((~np.isfinite(posteriors)).any(axis=1).sum())} of {len(posteriors)} test "
                            "utterances", hint="a plugin's predict must return finite numbers")
    predicted = decisions(posteriors, len(classes))
    stage("probing")
    probes = embedding_probes(run.method, run.test_set, test, device, spec.seed)
    predictions, by_corpus = scored_predictions(test, classes, predicted, posteriors)
    record = RunRecord(
        run_id=spec.run_id, identity=spec.identity(), method=spec.method, protocol=spec.protocol.name,
        fold=spec.fold.name, task=spec.task, seed=spec.seed, frontend=spec.frontend.name, classes=list(classes),
        scores=by_corpus, curves=curves, selection={"policy": spec.protocol.selection, **run.method.selection},
        synthetic=run.synthetic, split=split_summaries(run.labelled),
        excluded={c: part.excluded for c, part in run.labelled.items()},
        adaptation={"setting": spec.protocol.adaptation, "read_by_method": run.method.uses_adaptation,
                    "utterances": run.adaptation_set.n_utterances if run.adaptation_set is not None else 0},
        normalisation={**run.normaliser.summary(), "uses_test_audio": spec.protocol.uses_test_audio},
        probes=probes,
        provenance={**provenance(choose_device(device), run.started, fit_seconds), "fused_runs": fused},
    )
    return record, {"predictions": predictions, "split": split_table(run.split)}


def scored_predictions(test: pd.DataFrame, classes: Sequence[str], predicted: np.ndarray,
                       posteriors: np.ndarray) -> tuple[pd.DataFrame, dict[str, CorpusScores]]:
    """A run's predictions table (the test utterances, their class `y`, the `predicted` class and a posterior
    column per class) and its scores per test corpus: of serbench's runs and of external predictions alike. With
    no classes (a dimensional task), `y` and `predicted` are the true and predicted ratings, without posteriors."""
    predictions = test[["utterance_id", "corpus", "speaker", "gender", "y"]].assign(predicted=predicted)
    for k, name in enumerate(classes):
        predictions[f"p_{name}"] = posteriors[:, k]
    by_corpus = {}
    for corpus, rows in predictions.groupby("corpus", sort=True):
        y, decided = rows["y"].to_numpy(), rows["predicted"].to_numpy()
        # A model that gives every test utterance of a corpus one class (one rating) has learnt nothing there: its
        # UA is chance, its CCC 0, by construction, and the summaries and leaderboards flag it.
        collapsed = bool(len(set(decided)) == 1 and len(set(y)) > 1)
        by_corpus[str(corpus)] = CorpusScores(**prediction_scores(y, decided, len(classes)), collapsed=collapsed)
    return predictions.reset_index(drop=True), by_corpus


def split_table(split: pd.DataFrame) -> pd.DataFrame:
    """What a run stores of its split (split.parquet): every utterance of its fold and its part."""
    return split[["utterance_id", "corpus", "speaker", "part"]].reset_index(drop=True)


def split_summaries(labelled: Mapping[str, Labelled]) -> dict[str, dict[str, Any]]:
    """Per corpus, the speakers and utterance counts of each part of a run's labelled utterances (the validation
    part where the protocol has one)."""
    used = pd.concat([part.table for part in labelled.values()])
    parts = [part for part in PARTS if part != "validation" or (used["part"] == "validation").any()]
    return {str(c): split_summary(rows, parts) for c, rows in used.groupby("corpus", sort=True)}


def split_summary(rows: pd.DataFrame, parts: Sequence[str]) -> dict[str, Any]:
    """The speakers and utterance counts of each part of one corpus's labelled utterances."""
    summary: dict[str, Any] = {}
    for part in parts:
        chosen = rows[rows["part"] == part]
        summary[f"{part}_speakers"] = sorted(chosen["speaker"].unique())
        summary[f"{part}_utterances"] = len(chosen)
    return summary


def provenance(device: torch.device, started: float, fit_seconds: float) -> dict:
    """Versions, device, git commit, timings and peak memory of a run."""
    import scipy

    peak_gpu = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return {
        "versions": {"serbench": __version__, "python": platform.python_version(), "torch": torch.__version__,
                     "numpy": np.__version__, "pandas": pd.__version__, "scipy": scipy.__version__},
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({platform.machine()}, "
                  f"{torch.get_num_threads()} threads)",
        "host": socket.gethostname(), "git_commit": git_commit(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "seconds": {"total": time.time() - started, "training": fit_seconds},
        "peak_memory_mib": {"host": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "gpu": peak_gpu},
        "argv": sys.argv,
    }


def git_commit() -> str | None:
    """The commit of the serbench source tree, when it is a git checkout."""
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                                text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None
