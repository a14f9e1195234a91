"""`ssl` and `ssl-frames`: hidden states of a self-supervised speech model (wav2vec 2.0, HuBERT, WavLM) through
Hugging Face transformers (serbench's `ssl` extra, with huggingface_hub), imported on first use.

`ssl` gives one row per utterance, every hidden state (the embeddings' output, then each transformer layer's)
averaged over time, (layers + 1, hidden): a learned weighted sum of the layers followed by mean pooling can be
trained on it, the two commuting as both are linear. `ssl-frames` gives one layer's frames, (hidden,) each.

The input is what the model's feature extractor makes of the utterance alone (wav2vec2-base: zero mean, unit
variance over the utterance). Padding a batch changes the features of a model whose first convolution is
group-normalised over time (feat_extract_norm "group", as in wav2vec2-base and HuBERT base, whose feature
extractors return no attention mask), mask or not, so such a model runs together only inputs of equal length.
A model normalised per frame whose feature extractor returns an attention mask (wav2vec2-large-lv60) runs
padded batches with the mask.

Weights: a hub name resolves in the Hugging Face cache first, so "main" means the commit downloaded last; only
when it is not there, and downloads are allowed (HF_HUB_OFFLINE unset), is it downloaded. The commit, or for a
local folder a fingerprint of its files, enters the hash, so new weights never mix with cached features.
"""

from __future__ import annotations

import abc
import hashlib
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from serbench.errors import SerbenchError
from serbench.features.frontends.base import SAMPLE_RATE, AudioSettings, FrontEnd
from serbench.features.frontends.extras import load, require
from serbench.features.frontends.registry import register_frontend
from serbench.files import stable_hash

PACKAGES = ("transformers", "huggingface_hub")  # the ssl extra
DEVICES = ("auto", "cpu", "cuda")
DOWNLOADED_FILES = ["*.json", "*.safetensors", "*.bin"]  # configurations and weights, not other frameworks'
WEIGHT_SUFFIXES = (".safetensors", ".bin")
EXECUTION_SETTINGS = ("device", "batch_size")  # where and how many at once: they do not change the features


@dataclass(frozen=True)
class SSLSettings(AudioSettings):
    model: str = "facebook/wav2vec2-base"  # a hub name or a local folder (save_pretrained)
    revision: str = "main"  # for a hub name: a branch, tag or commit
    device: str = "auto"  # auto: cuda where there is one, else cpu
    batch_size: int = 8  # utterances per compute_batch
    # Longer utterances run in consecutive chunks of at most this length, each seeing only itself: attention
    # costs grow with the square of the length. Every frame is still computed once, so rows() stays exact.
    max_chunk_s: float = 30.0


@dataclass(frozen=True)
class SSLFramesSettings(SSLSettings):
    # hidden_states[layer]: 0 is the embeddings' output, 1.. the transformer layers, -1 the last. The middle of
    # wav2vec2-base's 12 layers by default: the last ones of a model that was only pretrained specialise in its
    # pretraining target and carry less of the speaker's state.
    layer: int = 6


class Geometry(NamedTuple):
    """The convolutional feature encoder's output frames: the samples one frame sees and the samples between
    consecutive frames (400 and 320, 25 ms and 20 ms, in wav2vec 2.0)."""

    receptive_field: int
    stride: int

    def frames(self, n_samples: int) -> int:
        """Frames of an input of `n_samples`: the valid convolutions' output length."""
        return 0 if n_samples < self.receptive_field else 1 + (n_samples - self.receptive_field) // self.stride


def geometry(config: Any) -> Geometry:
    receptive_field, stride = 1, 1
    for kernel, step in zip(config.conv_kernel, config.conv_stride, strict=True):
        receptive_field += (kernel - 1) * stride
        stride *= step
    return Geometry(receptive_field, stride)


class Loaded(NamedTuple):
    model: Any  # in eval mode, on the device
    extractor: Any
    device: str


class Piece(NamedTuple):
    """A stretch of one utterance's model input that runs as one sequence, and the frames it gives."""

    utterance: int  # its index in the batch
    values: np.ndarray
    first_frame: int
    frames: int
    utterance_frames: int


def folder_fingerprint(folder: Path) -> str:
    """JSON files by content, weight files by size and modification time: cheap for gigabytes of weights, and
    it changes whenever either is rewritten."""
    parts: list[list[str | int]] = []
    for path in sorted(folder.iterdir()):
        if path.suffix == ".json":
            parts.append([path.name, hashlib.sha256(path.read_bytes()).hexdigest()])
        elif path.suffix in WEIGHT_SUFFIXES:
            status = path.stat()
            parts.append([path.name, status.st_size, status.st_mtime_ns])
    return stable_hash(parts)


def _import(module: str, frontend: str) -> Any:
    """`module` of the ssl extra's packages, imported where `frontend` first needs it."""
    return load(frontend, module)


def hub_folder(owner: str, name: str, revision: str) -> Path:
    """The snapshot folder of `name` at `revision` in the Hugging Face cache, downloaded first if it is not there
    and downloads are allowed; `owner` (the front-end) is named in errors."""
    hub = _import("huggingface_hub", owner)
    constants = _import("huggingface_hub.constants", owner)
    errors = _import("huggingface_hub.errors", owner)
    where = f"{owner}: model {name!r} (revision {revision!r})"
    cache = constants.HF_HUB_CACHE
    try:
        return Path(hub.snapshot_download(name, revision=revision, allow_patterns=DOWNLOADED_FILES,
                                          local_files_only=True))
    except errors.HFValidationError:
        raise SerbenchError(f"{where} is neither a folder nor a Hugging Face hub name",
                            hint="give a hub name such as facebook/wav2vec2-base, or the path of a folder that holds "
                                 "config.json and the weights (save_pretrained)") from None
    except errors.LocalEntryNotFoundError:
        if constants.HF_HUB_OFFLINE:
            raise SerbenchError(
                f"{where} is not in the Hugging Face cache {cache}, and downloads are off (HF_HUB_OFFLINE=1)",
                hint=f"download it once where online, `hf download {name} --revision {revision}` (older "
                     f"huggingface_hub: `huggingface-cli download {name}`), into the same cache (HF_HOME or "
                     "HF_HUB_CACHE), or set model to a local folder saved with save_pretrained") from None
    try:
        return Path(hub.snapshot_download(name, revision=revision, allow_patterns=DOWNLOADED_FILES))
    except (errors.RepositoryNotFoundError, errors.RevisionNotFoundError):
        raise SerbenchError(f"{where} is not on the Hugging Face hub (or is private)",
                            hint="check the name and revision, log in with `hf auth login` for a private model, "
                                 "or set model to a local folder") from None
    except (errors.LocalEntryNotFoundError, OSError) as error:
        raise SerbenchError(f"{where} could not be downloaded into {cache}: {error}",
                            hint=f"download it where online, `hf download {name}`, and copy the cache, or set "
                                 "HF_HUB_OFFLINE=1 and point model at a local folder") from None


class HubModel(FrontEnd):
    """A front-end running a transformers model its settings name (`model`: a local folder or a hub name with its
    `revision`; `device`, `batch_size`): the checks of those settings, where the model loads from and what
    identifies its weights. The ssl front-ends and `checkpoint`."""

    threads = False  # one model per front-end object, not shared across the cache's threads

    def check(self) -> None:
        require(self.name, *PACKAGES)
        s = self.settings
        if not s.model:
            raise SerbenchError(f"{self.name}: model is empty", hint="give a hub name or a local folder")
        if s.device not in DEVICES:
            raise SerbenchError(f"{self.name}: unknown device {s.device!r}", hint=f"use one of {', '.join(DEVICES)}")
        if s.batch_size < 1:
            raise SerbenchError(f"{self.name}: batch_size={s.batch_size} must be at least 1")

    @property
    def batch_size(self) -> int:  # type: ignore[override]  # a setting here
        return self.settings.batch_size

    @cached_property
    def folder(self) -> Path:
        """The local folder the model loads from: the setting itself, or its snapshot in the hub cache."""
        path = Path(self.settings.model).expanduser()
        return path if path.is_dir() else hub_folder(self.name, self.settings.model, self.settings.revision)

    @cached_property
    def weights(self) -> str:
        """What identifies the weights: the hub commit (the snapshot folder's name) or the folder's fingerprint."""
        if self.folder == Path(self.settings.model).expanduser():
            return f"folder {folder_fingerprint(self.folder)}"
        return f"commit {self.folder.name}"

    def read_config(self) -> Any:
        """The model's configuration (config.json), read without loading the weights."""
        transformers = _import("transformers", self.name)
        try:
            return transformers.AutoConfig.from_pretrained(self.folder)
        except (OSError, ValueError) as error:
            raise SerbenchError(f"{self.name}: cannot read the model's configuration: {error}", path=self.folder,
                                hint="the folder needs the config.json that save_pretrained writes") from None

    def torch_device(self) -> str:
        """The device the model runs on: the setting, `auto` meaning cuda where torch sees a GPU."""
        device = self.settings.device
        if device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if device == "cuda" and not torch.cuda.is_available():
            raise SerbenchError(f"{self.name}: device is cuda, and torch sees no CUDA GPU",
                                hint="set device to cpu or auto")
        return device

    def check_rate(self, extractor: Any) -> None:
        """Refuse a model made for audio at another rate than serbench reads."""
        if getattr(extractor, "sampling_rate", SAMPLE_RATE) != SAMPLE_RATE:
            raise SerbenchError(f"{self.name}: the model expects {extractor.sampling_rate} Hz audio, serbench gives "
                                f"{SAMPLE_RATE} Hz", path=self.folder, hint="use a model trained on 16 kHz speech")


class SelfSupervised(HubModel):
    """What the two ssl front-ends share: loading the model and running it, in chunks of at most max_chunk_s."""

    Settings = SSLSettings

    def check(self) -> None:
        super().check()
        if self.settings.max_chunk_s <= 0:
            raise SerbenchError(f"{self.name}: max_chunk_s={self.settings.max_chunk_s} must be positive",
                                hint="the default, 30 s, keeps attention's memory small")

    def settings_hash(self) -> str:
        identity = {key: value for key, value in self.to_dict().items() if key not in EXECUTION_SETTINGS}
        return stable_hash({**identity, "weights": self.weights})

    @cached_property
    def config(self) -> Any:
        config = self.read_config()
        if not (hasattr(config, "conv_kernel") and hasattr(config, "conv_stride")):
            raise SerbenchError(f"{self.name}: {config.model_type!r} is not a model of raw audio with a convolutional "
                                "feature encoder", path=self.folder, hint="use wav2vec 2.0, HuBERT or WavLM")
        self.check_config(config)
        return config

    def check_config(self, config: Any) -> None:
        """Refuse settings the model cannot serve, once its configuration is known."""

    @cached_property
    def geometry(self) -> Geometry:
        return geometry(self.config)

    @property
    def layers(self) -> int:
        """Hidden states the model returns: the embeddings' output and one per transformer layer."""
        return self.config.num_hidden_layers + 1

    @cached_property
    def loaded(self) -> Loaded:
        """The model and its feature extractor, loaded on first use, once."""
        transformers = _import("transformers", self.name)
        device = self.torch_device()
        try:
            extractor = transformers.AutoFeatureExtractor.from_pretrained(self.folder)
            model = transformers.AutoModel.from_pretrained(self.folder, dtype=torch.float32)
        except (OSError, ValueError) as error:
            raise SerbenchError(f"{self.name}: cannot load the model: {error}", path=self.folder,
                                hint="the folder needs config.json, preprocessor_config.json and the weights, as "
                                     "the model's and its feature extractor's save_pretrained write them") from None
        self.check_rate(extractor)
        return Loaded(model.eval().to(device), extractor, device)

    @property
    def masks_padding(self) -> bool:
        """Whether padded batches give every utterance the features it has alone: per-frame normalisation and an
        attention mask. Otherwise only utterances of equal length run together."""
        norm = getattr(self.config, "feat_extract_norm", "group")
        return norm == "layer" and bool(getattr(self.loaded.extractor, "return_attention_mask", False))

    def pieces(self, index: int, audio: np.ndarray) -> list[Piece]:
        """The utterance's model input, normalised as a whole, cut into chunks of at most max_chunk_s that
        together give each of its frames once: chunk boundaries fall on frame boundaries."""
        values = self.loaded.extractor(np.asarray(audio, dtype=np.float32), sampling_rate=SAMPLE_RATE,
                                       return_tensors="np")["input_values"][0].astype(np.float32)
        receptive_field, stride = self.geometry
        if len(values) < receptive_field:  # too short for a frame: zero-padded to one
            values = np.pad(values, (0, receptive_field - len(values)))
        frames = self.geometry.frames(len(values))
        chunk_frames = max(1, self.geometry.frames(round(self.settings.max_chunk_s * SAMPLE_RATE)))
        count = math.ceil(frames / chunk_frames)
        bounds = [frames * i // count for i in range(count + 1)]
        pieces = []
        for first, stop in itertools.pairwise(bounds):
            end = len(values) if stop == frames else (stop - 1) * stride + receptive_field
            pieces.append(Piece(index, values[first * stride:end], first, stop - first, frames))
        return pieces

    def groups(self, pieces: list[Piece]) -> list[list[Piece]]:
        """Pieces that run together: by length, and of equal length only where padding would change features."""
        ordered = sorted(pieces, key=lambda piece: len(piece.values), reverse=True)
        if self.masks_padding:
            runs = [ordered]
        else:
            by_length: dict[int, list[Piece]] = {}
            for piece in ordered:
                by_length.setdefault(len(piece.values), []).append(piece)
            runs = list(by_length.values())
        size = self.settings.batch_size
        return [run[start:start + size] for run in runs for start in range(0, len(run), size)]

    def hidden_states(self, group: list[Piece]) -> tuple[Any, ...]:
        """The model's hidden states for a group of pieces: per layer, (pieces, frames, hidden) on the device."""
        model, _, device = self.loaded
        lengths = torch.tensor([len(piece.values) for piece in group])
        inputs = torch.zeros(len(group), int(lengths.max()))
        for row, piece in enumerate(group):
            inputs[row, :len(piece.values)] = torch.from_numpy(piece.values)
        arguments = {}
        if self.masks_padding:
            arguments["attention_mask"] = (torch.arange(inputs.shape[1]) < lengths[:, None]).long().to(device)
        with torch.inference_mode():
            return model(inputs.to(device), output_hidden_states=True, **arguments).hidden_states

    def compute_batch(self, audio: Sequence[np.ndarray], out: Sequence[np.ndarray]) -> None:
        pieces = [piece for index, samples in enumerate(audio) for piece in self.pieces(index, samples)]
        for rows in out:
            rows[:] = 0.0  # `ssl` adds up its chunks
        for group in self.groups(pieces):
            states = self.hidden_states(group)
            for row, piece in enumerate(group):
                self.store(piece, [state[row, :piece.frames] for state in states], out[piece.utterance])

    @abc.abstractmethod
    def store(self, piece: Piece, states: list[Any], rows: np.ndarray) -> None:
        """Write one piece's hidden states (per layer, (frames, hidden)) into its utterance's rows."""


@register_frontend("ssl")
class SelfSupervisedVectors(SelfSupervised):
    """Every hidden state of a self-supervised model (wav2vec2-base by default), averaged over the utterance."""

    kind = "vectors"

    @property
    def row_shape(self) -> tuple[int, ...]:
        return (self.layers, self.config.hidden_size)

    def rows(self, n_samples: int) -> int:
        return 1

    def store(self, piece: Piece, states: list[Any], rows: np.ndarray) -> None:
        summed = torch.stack([state.sum(dim=0) for state in states])  # (layers, hidden)
        rows[0] += (summed / piece.utterance_frames).cpu().numpy()


@register_frontend("ssl-frames")
class SelfSupervisedFrames(SelfSupervised):
    """One hidden layer's frames (every 20 ms) of a self-supervised model, wav2vec2-base's 6th by default."""

    kind = "frames"
    Settings = SSLFramesSettings

    def check_config(self, config: Any) -> None:
        layers = config.num_hidden_layers + 1
        if not -layers <= self.settings.layer < layers:
            raise SerbenchError(f"ssl-frames: layer={self.settings.layer} is not one of the model's hidden states",
                                path=self.folder, hint=f"this model has {layers}: 0 (the embeddings' output) to "
                                                       f"{layers - 1}, or -1 for the last")

    @property
    def row_shape(self) -> tuple[int, ...]:
        return (self.config.hidden_size,)

    def rows(self, n_samples: int) -> int:
        return max(1, self.geometry.frames(n_samples))  # one at least: a short utterance is padded to one frame

    def store(self, piece: Piece, states: list[Any], rows: np.ndarray) -> None:
        rows[piece.first_frame:piece.first_frame + piece.frames] = states[self.settings.layer].cpu().numpy()
