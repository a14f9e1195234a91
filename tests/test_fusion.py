"""Horizontal fusion: runs trained together give what each gives trained alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from toy_features import make_toy

from serbench.errors import SerbenchError
from serbench.features.normalisation import Normaliser, fit_normaliser, segment_moments
from serbench.method import METHODS, Method, build_method, discover_methods, get_method, resolve_hparams
from serbench.methods.fusion import fit_fused
from serbench.training import RowSet, fit, utterance_posteriors

SMALL = {"preset": "small", "batch_size": 32}
BUILT_INS = ("baseline_s", "baseline_cs", "dann1_s", "dann1_cs", "dann2_s", "dann2_cs")


@pytest.fixture(scope="module", autouse=True)
def methods():
    discover_methods()


def subset(data: RowSet, utterances: np.ndarray) -> RowSet:
    """The segments of some utterances, as a set over the same shared features (renumbered utterances)."""
    keep = np.isin(data.utterance, utterances)
    _, renumbered = np.unique(data.utterance[keep], return_inverse=True)
    return RowSet(data.features, renumbered, data.emotion[keep], {d: v[keep] for d, v in data.domains.items()},
                      rows=data.rows[keep], normaliser=data.normaliser,
                      norm_group=data.norm_group[keep] if data.norm_group is not None else None)


def test_fused_runs_equal_runs_trained_alone():
    torch.set_num_threads(1)  # the same kernels' thread split for both paths
    task, data = make_toy(speakers=3, takes=2, segments=2)
    data.normaliser = fit_normaliser(data.features, data.rows[::2])
    utterances = np.unique(data.utterance)
    # Different methods, seeds, hyperparameters and training parts (so different numbers of steps).
    runs = [("baseline_s", 0, {}, utterances), ("dann2_cs", 1, {"grl_schedule": "ganin"}, utterances[::2]),
            ("dann1_s", 2, {"gamma": 0.7}, utterances[1:]), ("baseline_cs", 3, {"lambda": 0.2}, utterances),
            ("dann1_cs", 0, {}, utterances), ("dann2_s", 4, {}, utterances[:-7])]
    sets = [subset(data, part) for *_, part in runs]

    def build(name, seed, hp):
        return build_method(name, task, {**SMALL, "epochs": 2, **hp}, seed=seed)

    alone = [build(name, seed, hp) for name, seed, hp, _ in runs]
    alone_history = [fit(m, s, seed=seed, device="cpu") for m, s, (_, seed, *_) in zip(alone, sets, runs, strict=True)]
    fused = [build(name, seed, hp) for name, seed, hp, _ in runs]
    epochs_seen = []
    fused_history = fit_fused(fused, sets, [seed for _, seed, *_ in runs], device="cpu",
                              on_epoch=lambda r, epoch, losses: epochs_seen.append((r, epoch)))

    assert sorted(epochs_seen) == [(r, e) for r in range(len(runs)) for e in range(2)]
    # 1 to 3 steps per epoch. Float differences (summation order) start at 1e-7 and grow step by step: Adadelta's
    # early steps are nearly sign(gradient), and center loss gradients start near zero. So: tight over the first
    # epoch, looser after.
    for a, f in zip(alone_history, fused_history, strict=True):
        assert [list(epoch) for epoch in a] == [list(epoch) for epoch in f]  # the same terms, in the same order
        for epoch, tolerance in ((0, 1e-5), (1, 1e-3)):
            for term in a[epoch]:
                assert f[epoch][term] == pytest.approx(a[epoch][term], rel=tolerance, abs=1e-6), (epoch, term)
    # The trained weights (and batch-norm statistics, centers) were copied back into each method.
    for a, f, s in zip(alone, fused, sets, strict=True):
        np.testing.assert_allclose(utterance_posteriors(f, s, device="cpu"), utterance_posteriors(a, s, device="cpu"),
                                   atol=1e-3)
        for (name, value_a), value_f in zip(a.state_dict().items(), f.state_dict().values(), strict=True):
            np.testing.assert_allclose(value_f.float().numpy(), value_a.float().numpy(), atol=1e-2, err_msg=name)


def test_fused_runs_with_adaptation_and_group_normalisation_equal_runs_trained_alone():
    torch.set_num_threads(1)
    task, data = make_toy(speakers=3, takes=2, segments=2)
    # per-speaker statistics: one group per speaker, as the protocols' default normalisation makes them
    speaker = data.domains["speaker"]
    data.normaliser = Normaliser.from_moments(segment_moments(data.features, data.rows, speaker, speaker.max() + 1),
                                              tuple(map(str, range(speaker.max() + 1))), "speaker")
    data.norm_group = speaker
    utterances = np.unique(data.utterance)
    train, pool = subset(data, utterances[::2]), subset(data, utterances[1::2])
    pool = RowSet(pool.features, pool.utterance, None, pool.domains, rows=pool.rows,
                      normaliser=pool.normaliser, norm_group=pool.norm_group)  # unlabelled
    runs = [("dann2_cs", 0, {}), ("dann1_s", 1, {"grl_schedule": "ganin"}), ("dann2_s", 2, {"gamma": 0.7})]

    def build(name, seed, hp):
        return build_method(name, task, {**SMALL, "epochs": 2, **hp}, seed=seed)

    alone = [build(*run) for run in runs]
    alone_history = [fit(m, train, adaptation=pool, seed=seed, device="cpu")
                     for m, (_, seed, _) in zip(alone, runs, strict=True)]
    fused = [build(*run) for run in runs]
    fused_history = fit_fused(fused, [train] * 3, [seed for _, seed, _ in runs], adaptation=[pool] * 3, device="cpu")
    for a, f in zip(alone_history, fused_history, strict=True):
        for epoch, tolerance in ((0, 1e-5), (1, 1e-3)):
            for term in a[epoch]:
                assert f[epoch][term] == pytest.approx(a[epoch][term], rel=tolerance, abs=1e-6), (epoch, term)
    for a, f in zip(alone, fused, strict=True):
        np.testing.assert_allclose(utterance_posteriors(f, data, device="cpu"),
                                   utterance_posteriors(a, data, device="cpu"), atol=1e-3)


def key(entry, overrides=None, adaptation=False):
    return entry.cls.fusion_key(resolve_hparams(entry, overrides), adaptation=adaptation)


def test_what_can_be_fused():
    built_in = {name: key(get_method(name)) for name in BUILT_INS}
    assert len(set(built_in.values())) == 1 and None not in built_in.values()
    # where a protocol offers adaptation audio the DANN systems read it and the baselines do not: two groups
    adapting = {name: key(get_method(name), adaptation=True) for name in BUILT_INS}
    assert len({adapting["baseline_s"], adapting["baseline_cs"]}) == len({adapting[d] for d in BUILT_INS[2:]}) == 1
    assert adapting["baseline_s"] != adapting["dann1_s"]
    entry = get_method("baseline_s")
    assert key(entry, {"batch_size": 64}) != built_in["baseline_s"]

    class OwnUpdate(entry.cls):  # a plugin with its own training step trains alone
        def update(self, batch, progress):
            return super().update(batch, progress)

    assert OwnUpdate.fusion_key(resolve_hparams(entry), adaptation=False) is None
    assert Method.fusion_key({}, adaptation=False) is None  # a method outside the paper's family trains alone
    assert "coral" not in METHODS or key(get_method("coral")) is None


def test_fit_fused_refuses_what_it_cannot_fuse():
    task, data = make_toy(speakers=2, takes=1, segments=2)
    small = build_method("baseline_s", task, SMALL)
    with pytest.raises(SerbenchError, match="cannot be trained together"):
        fit_fused([small, build_method("baseline_s", task, {**SMALL, "batch_size": 8})], [data, data], [0, 0],
                  device="cpu")
    other = RowSet(np.asarray(data.features[data.rows]), data.utterance, data.emotion, data.domains)
    with pytest.raises(SerbenchError, match="shared feature bank"):
        fit_fused([small, build_method("baseline_s", task, SMALL)], [data, other], [0, 0], device="cpu")
    tiny = subset(data, np.arange(2))
    with pytest.raises(SerbenchError, match="at least one full batch"):
        fit_fused([small], [tiny], [0], device="cpu")
