"""A system trained with its own code on serbench's exported splits, as another toolkit would be: it imports
nothing from serbench, reads the fold files `serbench splits export` wrote, and writes the predictions file that
`serbench score` reads (docs/running.md, "Your own code on serbench's splits").

Its model: per utterance, the mean and standard deviation of 40 log-mel bands, standardised on the training part,
and a small scikit-learn MLP seeded by the seed; posteriors for every test utterance of each fold.

    serbench splits export --protocol multi --task arousal --data synthetic --out splits
    python examples/external_system.py splits/arousal predictions.csv --seeds 0 1
    serbench score --predictions predictions.csv --name logmel_mlp --splits splits/arousal --data synthetic
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile
import torch
import torchaudio
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

SAMPLE_RATE = 16_000


def utterance_features(path: str, mel: torchaudio.transforms.MelSpectrogram) -> np.ndarray:
    audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
    wave = torch.from_numpy(audio.mean(axis=1))
    if rate != SAMPLE_RATE:
        wave = torchaudio.functional.resample(wave, rate, SAMPLE_RATE)
    bands = torch.log(mel(wave) + 1e-6)  # (40 bands, frames)
    return torch.cat([bands.mean(dim=1), bands.std(dim=1)]).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("splits", type=Path, help="a task folder of `serbench splits export`")
    parser.add_argument("out", type=Path, help="the predictions file to write (CSV)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()

    manifest = json.loads((args.splits / "manifest.json").read_text())
    classes = manifest["classes"]
    mel = torchaudio.transforms.MelSpectrogram(SAMPLE_RATE, n_fft=512, hop_length=160, n_mels=40)
    features: dict[str, np.ndarray] = {}  # audio path -> features, computed once for all folds
    rows = []
    for fold in manifest["folds"]:
        table = pd.read_csv(args.splits / fold["file"])
        for path in table["path"]:
            if path not in features:
                features[path] = utterance_features(path, mel)
        train = table[table["part"] == "train"]
        test = table[table["part"].isin(["test", "unlabelled-test"])]  # serbench skips the unlabelled ones
        scaler = StandardScaler().fit(np.stack([features[p] for p in train["path"]]))
        x_train = scaler.transform(np.stack([features[p] for p in train["path"]]))
        x_test = scaler.transform(np.stack([features[p] for p in test["path"]]))
        for seed in args.seeds:
            model = MLPClassifier(hidden_layer_sizes=(64,), max_iter=300, random_state=seed)
            model.fit(x_train, train["label"])
            posteriors = pd.DataFrame(model.predict_proba(x_test), columns=model.classes_)
            predicted = test[["corpus", "utterance_id"]].reset_index(drop=True).assign(fold=fold["name"], seed=seed)
            for name in classes:  # a class the training part lacks gets posterior 0
                predicted[f"p_{name}"] = posteriors.get(name, 0.0)
            rows.append(predicted)
    pd.concat(rows, ignore_index=True).to_csv(args.out, index=False)
    print(f"{args.out}: {sum(len(r) for r in rows)} predictions, {len(manifest['folds'])} folds x "
          f"{len(args.seeds)} seed(s)")


if __name__ == "__main__":
    main()
