"""Pretrained emotion classifiers, zero-shot and frozen (docs/pretrained.md). Tiny random classifiers saved as
fine-tuned checkpoints are (tests/tiny_ssl.py) go through the real loading path, transformers' audio-classification
auto classes on a local folder; nothing downloads. The checkpoint front-end against the model run directly, its
label table and refusals; zero_shot in sweeps on the synthetic stand-ins, its mapping, the score over the classes
the classifier names, its refusals; the same checkpoint frozen under ssl_mlp and ssl_dann, on the same folds and
one page."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file, save_file
from tiny_ssl import save_tiny_classifier, save_tiny_model

from serbench.data.labels import EMOTIONS, LABEL_ALIASES, TASK_CLASSES, emotion_of_label, task_of_classes
from serbench.errors import SerbenchError
from serbench.features.cache import FeatureSet
from serbench.features.frontends import make_frontend
from serbench.features.frontends.base import POSTERIOR_SHAPE, FrontEnd
from serbench.method import Batch, InputSpec, Method, TaskSpec, build_method
from serbench.reports.known_classes import known_classes, subset_scores
from serbench.reports.pages import write_leaderboards
from serbench.runs.launch import run
from serbench.runs.store import ResultsStore

pytestmark = pytest.mark.usefixtures("method_registry")

# RAVDESS's words, a second spelling of happiness, and a label naming no emotion, left out. Without neutral:
# emotion4's neutral is a class this classifier cannot name.
LABELS = ("angry", "calm", "happy", "joy", "sad", "<unk>")
IGNORE = "<unk>"
PROTOCOL = "transfer[train=emodb,test=iemocap]"  # two of the stand-ins: a feature pass of each model stays short
TASKS = ["emotion4", "arousal", "valence"]
# Each task's classes and the classifier's emotions that make them (docs/labels.md's table)
MADE_OF = {"emotion4": {"anger": ["anger"], "happiness": ["happiness"], "sadness": ["sadness"], "neutral": []},
           "arousal": {"low": ["calm", "sadness"], "high": ["anger", "happiness"]},
           "valence": {"negative": ["anger", "sadness"], "positive": ["calm", "happiness"]}}
RNG = np.random.default_rng(5)


def noise(n: int) -> np.ndarray:
    return (0.1 * RNG.standard_normal(n)).astype(np.float32)


def checkpoint(model: str | Path, **settings: object) -> FrontEnd:
    return make_frontend("checkpoint", {"model": str(model), "device": "cpu", **settings})


def rows(frontend: FrontEnd, audio: list[np.ndarray]) -> np.ndarray:
    """(utterances, 2, emotions): the rows of one compute_batch, as the cache lays them out."""
    out = [np.full((frontend.rows(len(samples)), *frontend.row_shape), np.nan, dtype=np.float32) for samples in audio]
    frontend.compute_batch(audio, out)
    return np.concatenate(out)


def direct_posteriors(folder: Path, audio: np.ndarray) -> np.ndarray:
    """The classifier's posteriors for one utterance alone, through transformers with no serbench code."""
    from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

    model = AutoModelForAudioClassification.from_pretrained(folder).eval()
    inputs = AutoFeatureExtractor.from_pretrained(folder)(audio, sampling_rate=16_000, return_tensors="pt")
    with torch.no_grad():
        return model(**inputs).logits.softmax(dim=-1)[0].numpy()


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_classifier(tmp_path_factory.mktemp("checkpoints") / "ravdess-words", LABELS)


# The label table ------------------------------------------------------------------------------------------------


def test_a_classifiers_labels_name_emotions_through_the_one_alias_table() -> None:
    spelled = {"ang": "anger", "Angry": "anger", "anger": "anger", "HAP": "happiness", "joy": "happiness",
               "exc": "excitement", "neu": "neutral", "calm": "calm", "Fearful": "fear", "ps": "surprise",
               "pleasant surprise": "surprise", "disgusted": "disgust", "sad": "sadness",
               "no agreement": "no_agreement"}
    assert {label: emotion_of_label(label) for label in spelled} == spelled
    assert [emotion_of_label(label) for label in ("LABEL_0", "positive", "A", "<unk>")] == [None] * 4
    assert set(LABEL_ALIASES.values()) <= set(EMOTIONS)
    assert {name: getattr(task_of_classes(classes), "name", None) for name, classes in TASK_CLASSES.items()} == {
        name: name for name in TASK_CLASSES}
    assert task_of_classes(("A", "W")) is None


# The checkpoint front-end ---------------------------------------------------------------------------------------


def test_rows_are_the_classifiers_posteriors_per_emotion_and_which_it_names(classifier: Path) -> None:
    frontend = checkpoint(classifier, ignore=IGNORE)
    assert (frontend.kind, frontend.row_shape, frontend.rows(123)) == ("posteriors", POSTERIOR_SHAPE, 1)
    audio = [noise(n) for n in (16_000, 4_000, 16_000, 20)]  # two of equal length run together; 20 < one frame
    for samples, row in zip(audio, rows(frontend, audio), strict=True):
        padded = np.pad(samples, (0, max(0, 40 - len(samples))))  # shorter than one frame: padded to one
        angry, calm, happy, joy, sad, unknown = direct_posteriors(classifier, padded)
        expected = np.zeros(len(EMOTIONS))
        for emotion, posterior in (("anger", angry), ("calm", calm), ("happiness", happy + joy), ("sadness", sad)):
            expected[EMOTIONS.index(emotion)] = posterior
        np.testing.assert_allclose(row[0], expected, atol=1e-6)  # happy and joy add up; <unk> counts for nothing
        assert row[0].sum() == pytest.approx(1 - unknown, abs=1e-6)
        assert [EMOTIONS[i] for i in np.flatnonzero(row[1])] == ["anger", "happiness", "sadness", "calm"]
        assert set(np.unique(row[1])) == {0.0, 1.0}


@pytest.mark.parametrize("per_frame_norm", [False, True])
def test_a_batch_gives_each_utterance_its_posteriors_alone(tmp_path: Path, per_frame_norm: bool) -> None:
    folder = save_tiny_classifier(tmp_path / "c", ("ang", "hap", "neu", "sad"), per_frame_norm=per_frame_norm)
    frontend = checkpoint(folder, batch_size=4)
    audio = [noise(n) for n in (16_000, 3_000, 9_000, 3_000)]
    alone = np.concatenate([rows(frontend, [samples]) for samples in audio])
    np.testing.assert_allclose(rows(frontend, audio), alone, atol=1e-6)
    assert frontend.masks_padding == per_frame_norm  # padded together only where padding changes nothing


def test_a_whisper_classifier_runs_through_the_same_auto_classes(tmp_path: Path) -> None:
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForAudioClassification

    names = ("neutral", "happy", "sad", "angry")
    torch.manual_seed(0)
    config = WhisperConfig(d_model=16, encoder_layers=1, encoder_attention_heads=2, decoder_layers=1,
                           decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, classifier_proj_size=8,
                           id2label=dict(enumerate(names)), label2id={name: i for i, name in enumerate(names)})
    WhisperForAudioClassification(config).save_pretrained(tmp_path / "whisper")
    WhisperFeatureExtractor(feature_size=config.num_mel_bins).save_pretrained(tmp_path / "whisper")
    audio = [noise(8_000), noise(12_000)]
    got = rows(checkpoint(tmp_path / "whisper"), audio)
    for samples, row in zip(audio, got, strict=True):
        order = [EMOTIONS.index(emotion) for emotion in ("neutral", "happiness", "sadness", "anger")]
        np.testing.assert_allclose(row[0, order], direct_posteriors(tmp_path / "whisper", samples), atol=1e-6)


def test_the_hash_follows_the_weights_and_the_label_table_not_where_they_run(tmp_path: Path, monkeypatch) -> None:
    folder = save_tiny_classifier(tmp_path / "c", LABELS, seed=1)
    first = checkpoint(folder, ignore=IGNORE).hash()
    assert checkpoint(folder, ignore=IGNORE, device="auto", batch_size=2).hash() == first
    assert checkpoint(folder, ignore=f"{IGNORE},joy").hash() != first
    monkeypatch.setitem(LABEL_ALIASES, "joy", "excitement")  # a changed alias never meets rows cached before it
    assert checkpoint(folder, ignore=IGNORE).hash() != first
    monkeypatch.undo()
    save_tiny_classifier(folder, LABELS, seed=2)
    os.utime(folder / "model.safetensors", ns=(1, 1))  # a distinct time, however coarse the file system's clock
    assert checkpoint(folder, ignore=IGNORE).hash() != first


def test_a_hub_name_resolves_in_the_cache_and_its_commit_enters_the_hash(classifier: Path, tmp_path: Path,
                                                                        monkeypatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))  # the user's cache and the network out of reach
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)

    def download(commit: str) -> None:  # the layout huggingface_hub downloads into
        storage = tmp_path / "models--serbench--tiny-emotion"
        (storage / "refs").mkdir(parents=True, exist_ok=True)
        (storage / "refs" / "main").write_text(commit)
        shutil.copytree(classifier, storage / "snapshots" / commit)

    download("a" * 40)
    hub = checkpoint("serbench/tiny-emotion", ignore=IGNORE)
    assert hub.folder.name == "a" * 40
    audio = [noise(8_000)]
    np.testing.assert_array_equal(rows(hub, audio), rows(checkpoint(classifier, ignore=IGNORE), audio))
    download("b" * 40)  # main moved on
    assert checkpoint("serbench/tiny-emotion", ignore=IGNORE).hash() != hub.hash()


def test_labels_naming_no_emotion_are_refused_until_left_out(classifier: Path) -> None:
    with pytest.raises(SerbenchError, match="the model's labels '<unk>' name no emotion serbench knows") as error:
        checkpoint(classifier).hash()
    assert "ignore=<unk>" in error.value.hint and str(classifier) in str(error.value)
    with pytest.raises(SerbenchError, match="ignore names happiness, not a label of the model"):
        checkpoint(classifier, ignore=f"{IGNORE},happiness").hash()
    with pytest.raises(SerbenchError, match="ignore leaves out every label"):
        checkpoint(classifier, ignore=",".join(LABELS)).hash()


def test_a_model_without_a_trained_emotion_head_is_refused(tmp_path: Path) -> None:
    base = save_tiny_model(tmp_path / "base")  # transformers names its two default outputs LABEL_0, LABEL_1
    with pytest.raises(SerbenchError, match="labels 'LABEL_0', 'LABEL_1' name no emotion") as error:
        checkpoint(base).hash()
    assert "ssl front-end" in error.value.hint
    custom = save_tiny_classifier(tmp_path / "custom", ("ang", "hap", "neu", "sad"))
    weights = load_file(custom / "model.safetensors")  # a head of its own class, as some released checkpoints have
    save_file({name.replace("classifier.", "classifier.out_proj."): value for name, value in weights.items()},
              custom / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(SerbenchError, match=r"lacks weights of Wav2Vec2ForSequenceClassification: classifier\.bias, "
                                            r"classifier\.weight") as error:
        rows(checkpoint(custom), [noise(1_000)])
    assert "random weights" in error.value.hint
    regression = save_tiny_classifier(tmp_path / "regression", ("arousal", "valence"))
    config = json.loads((regression / "config.json").read_text())
    (regression / "config.json").write_text(json.dumps({**config, "problem_type": "regression"}))
    with pytest.raises(SerbenchError, match="head does regression, not one emotion per utterance"):
        checkpoint(regression).hash()


def test_the_ssl_frontend_reads_a_classifiers_fine_tuned_encoder(classifier: Path) -> None:
    """Frozen with a head: the ssl front-ends load an audio-classification checkpoint's encoder through AutoModel,
    its own weights, the head left out."""
    from transformers import AutoModelForAudioClassification

    encoder = make_frontend("ssl", {"model": str(classifier), "device": "cpu"}).loaded.model
    fine_tuned = AutoModelForAudioClassification.from_pretrained(classifier).wav2vec2.state_dict()
    assert type(encoder).__name__ == "Wav2Vec2Model" and list(encoder.state_dict()) == list(fine_tuned)
    assert all(torch.equal(weight, fine_tuned[name]) for name, weight in encoder.state_dict().items())


# zero_shot ------------------------------------------------------------------------------------------------------


def zero_shot(classes: tuple[str, ...]) -> Method:
    return build_method("zero_shot", TaskSpec(classes, {}, InputSpec("posteriors", POSTERIOR_SHAPE)))


def posteriors_batch(*utterances: dict[str, float], named: tuple[str, ...]) -> Batch:
    """A batch of posteriors rows: each utterance's posterior per emotion, and the emotions the classifier names."""
    inputs = torch.zeros(len(utterances), *POSTERIOR_SHAPE)
    for row, posterior in enumerate(utterances):
        for emotion, value in posterior.items():
            inputs[row, 0, EMOTIONS.index(emotion)] = value
        for emotion in named:
            inputs[row, 1, EMOTIONS.index(emotion)] = 1.0
    return Batch(inputs, None, {}, torch.arange(len(utterances)))


def test_zero_shot_refuses_a_classifier_that_names_too_few_of_the_tasks_classes() -> None:
    method = zero_shot(TASK_CLASSES["emotion4"])
    outside = posteriors_batch({"fear": 0.5, "surprise": 0.25, "disgust": 0.25}, named=("fear", "surprise", "disgust"))
    with pytest.raises(SerbenchError, match=r"labels name fear, surprise, disgust, and of the emotion4 task's classes "
                                            r"\(anger, happiness, sadness, neutral\) they map to none of them"):
        method.fit_all(outside, None)
    one = posteriors_batch({"anger": 0.5, "fear": 0.5}, named=("anger", "fear"))
    with pytest.raises(SerbenchError, match="they map to only anger, so it would give every utterance that class"):
        method.fit_all(one, None)
    with pytest.raises(SerbenchError, match="map to only high"):  # anger and fear are both high arousal
        zero_shot(TASK_CLASSES["arousal"]).fit_all(one, None)
    with pytest.raises(SerbenchError, match="classes of emotion4, arousal or valence, and this task's are A, W"):
        zero_shot(("A", "W"))
    with pytest.raises(SerbenchError, match=r"reads posteriors rows of shape \(2, 14\), not \(88,\)"):
        build_method("zero_shot", TaskSpec(TASK_CLASSES["emotion4"], {}, InputSpec("posteriors", (88,))))


def test_an_utterance_given_only_emotions_outside_the_task_is_even_among_the_classes_it_can_name() -> None:
    batch = posteriors_batch({"anger": 0.6, "happiness": 0.2, "fear": 0.2}, {"fear": 1.0},
                             named=("anger", "happiness", "fear"))
    posteriors = zero_shot(TASK_CLASSES["emotion4"]).predict(batch)
    np.testing.assert_allclose(posteriors.numpy(), [[0.75, 0.25, 0, 0], [0.5, 0.5, 0, 0]], atol=1e-6)


def test_zero_shot_takes_only_posteriors(tiny_releases: Path, tmp_path: Path) -> None:
    with pytest.raises(SerbenchError, match="'zero_shot' takes posteriors, but the front-end 'egemaps' produces "
                                            "vectors"):
        run("zero_shot", PROTOCOL, seeds=1, data=str(tiny_releases), results=tmp_path, frontend="egemaps",
            device="cpu")
    assert not (tmp_path / "runs").exists()


@pytest.fixture(scope="module")
def store(tiny_releases: Path, classifier: Path, tmp_path_factory: pytest.TempPathFactory) -> ResultsStore:
    """Zero-shot on every task; a trained head and DANN on the same checkpoint, protocol and seeds for emotion4; in
    one store."""
    results = tmp_path_factory.mktemp("results")
    common = {"seeds": 2, "data": str(tiny_releases), "results": results, "device": "cpu"}
    zero = run("zero_shot", PROTOCOL, frontend="checkpoint", tasks=TASKS,
               frontend_settings={"model": str(classifier), "ignore": IGNORE}, **common)
    trained = run(["ssl_mlp", "ssl_dann"], PROTOCOL, frontend="ssl", frontend_settings={"model": str(classifier)},
                  epochs=1, tasks=["emotion4"], **common)
    assert zero.attrs["failed"] == trained.attrs["failed"] == 0
    return ResultsStore(results)


def cached_rows(private_cache: Path, corpus: str) -> FeatureSet:
    """The checkpoint front-end's cached rows of `corpus` (the only checkpoint cache of the sweep's)."""
    found = [FeatureSet.load(meta.parent) for meta in private_cache.glob("features/*/meta.json")
             if json.loads(meta.read_text())["frontend"] == "checkpoint"
             and json.loads(meta.read_text())["corpus"] == corpus]
    assert len(found) == 1
    return found[0]


def test_zero_shot_gives_each_class_the_posteriors_of_its_emotions_as_the_classifier_gave_them(
        store: ResultsStore, private_cache: Path) -> None:
    cache = cached_rows(private_cache, "iemocap")
    records = [record for record in store.records() if record.method == "zero_shot"]
    assert sorted((record.task, record.seed) for record in records) == sorted((t, s) for t in TASKS for s in (0, 1))
    for record in records:
        predictions = store.table(record.run_id, "predictions")
        posterior = cache.features[cache.rows(predictions["utterance_id"])][:, 0]  # never normalised
        mass = pd.DataFrame({label: posterior[:, [EMOTIONS.index(e) for e in emotions]].sum(axis=1)
                             for label, emotions in MADE_OF[record.task].items()})
        expected = mass.div(mass.sum(axis=1), axis=0)
        np.testing.assert_allclose(predictions[[f"p_{c}" for c in record.classes]], expected[record.classes], atol=1e-5)
        assert record.selection["label_table"] == record.task and record.curves == [] and record.probes is None
        assert record.selection["classifier_emotions"] == "anger, happiness, sadness, calm"


def test_a_class_it_cannot_name_is_never_predicted_and_is_scored_apart(store: ResultsStore) -> None:
    for record in (r for r in store.records() if r.method == "zero_shot"):
        predictions = store.table(record.run_id, "predictions")
        if record.task != "emotion4":
            assert known_classes(record) == tuple(record.classes) and record.selection["unknown_classes"] == ""
            continue
        assert known_classes(record) == ("anger", "happiness", "sadness")
        assert record.selection["unknown_classes"] == "neutral"
        assert (predictions["p_neutral"] == 0).all() and (predictions["predicted"] != 3).all()
        known = subset_scores(predictions, record.classes, known_classes(record))
        confusion = np.asarray(record.scores["iemocap"].confusion)
        assert (confusion.sum(axis=1) > 0).all() and (confusion[:, 3] == 0).all()
        # Its decisions among the classes it names are its decisions: the full task's confusion without neutral,
        # whose recall (0) the full task's UA counts among four classes, and this score leaves out.
        assert known["iemocap"]["confusion"] == confusion[:3, :3].tolist()
        assert 4 * record.scores["iemocap"].ua == pytest.approx(3 * known["iemocap"]["ua"])


def test_the_same_checkpoint_with_a_head_and_with_dann_runs_on_the_same_folds_on_one_page(
        store: ResultsStore, tmp_path: Path) -> None:
    records = {(r.method, r.task, r.seed): r for r in store.records()}
    assert len(records) == (len(TASKS) + 2) * 2
    for seed in (0, 1):
        zero, head, adapted = (records[(method, "emotion4", seed)] for method in ("zero_shot", "ssl_mlp", "ssl_dann"))
        assert zero.split == head.split == adapted.split and zero.excluded == head.excluded
        assert (zero.frontend, head.frontend, adapted.frontend) == ("checkpoint", "ssl", "ssl")
        assert adapted.adaptation["read_by_method"] and not zero.adaptation["read_by_method"]
    head = records[("ssl_mlp", "emotion4", 0)]  # a trained head, scored over the classes the checkpoint names
    known = subset_scores(store.table(head.run_id, "predictions"), head.classes, ("anger", "happiness", "sadness"))
    assert known["iemocap"]["n"] == sum(np.asarray(head.scores["iemocap"].confusion)[:3].sum(axis=1))
    write_leaderboards(store.root, tmp_path / "pages", task="emotion4", references=["zero_shot"])
    page = next((tmp_path / "pages").glob("*emotion4.md")).read_text()
    table = page.split("## UA per test corpus")[1].split("\n\n")[1].splitlines()[2:]
    assert {line.split("|")[1].strip(): line.split("|")[2].strip() for line in table} == {
        "zero\\_shot": "checkpoint", "ssl\\_mlp": "ssl", "ssl\\_dann": "ssl"}
    # Beside the full task, every system over the classes the checkpoint names, from the runs' predictions
    section = page.split("## UA over the classes a classifier names")[1].split("\n## ")[0]
    assert "zero\\_shot can name anger, happiness, sadness and not neutral" in section
    cells = {line.split("|")[1].strip(): line.split("|")[2].strip() for line in section.splitlines()
             if line.startswith("| ") and not line.startswith(("| method", "| ---"))}
    zero = [records[("zero_shot", "emotion4", seed)] for seed in (0, 1)]
    known_ua = [subset_scores(store.table(r.run_id, "predictions"), r.classes, known_classes(r))["iemocap"]["ua"]
                for r in zero]
    assert cells["zero\\_shot"].replace("**", "").startswith(f"{100 * np.mean(known_ua):.1f}")
    assert set(cells) == {"zero\\_shot", "ssl\\_mlp", "ssl\\_dann"}


def test_subset_scores_refuse_classes_the_run_lacks() -> None:
    predictions = pd.DataFrame({"corpus": ["c"] * 2, "y": [0, 1], "p_low": [0.9, 0.2], "p_high": [0.1, 0.8]})
    assert subset_scores(predictions, ("low", "high"), ("low", "high"))["c"]["ua"] == 1.0
    with pytest.raises(SerbenchError, match="neutral not among the run's classes"):
        subset_scores(predictions, ("low", "high"), ("low", "neutral"))
    with pytest.raises(SerbenchError, match="a score needs two classes"):
        subset_scores(predictions, ("low", "high"), ("low",))
    with pytest.raises(SerbenchError, match="lacks p_high"):
        subset_scores(predictions.drop(columns="p_high"), ("low", "high"), ("low", "high"))

