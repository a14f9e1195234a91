"""Run ids and feature-cache keys of fixed inputs stay what they were: every built-in method on every built-in
protocol, and the cache key of each built-in front-end. tests/identities.json holds them as computed at commit
f8f6ec7, before the package was laid out by stage; a store of real runs (60 CPU hours) is only valid while they
hold. A change that must retrain runs (a built-in method's code, a protocol, a front-end's settings) changes some
of them on purpose: check that it should, then write the file again with `python tests/test_identity.py`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

from serbench.data.corpora.schema import Corpus
from serbench.data.labels import DIMENSIONAL_TASKS
from serbench.features.cache import cache_key
from serbench.features.frontends import FRONTENDS, make_frontend
from serbench.method import discover_methods, get_method
from serbench.protocols.protocol import Fold, builtin_protocols, load_protocol
from serbench.runs.plan import RunSpec, method_hparams, sweep_frontend
from serbench.runs.settings import SweepConfig

PINNED = Path(__file__).with_name("identities.json")
ARGUMENTS = {"transfer": "[train=emodb,test=ravdess]", "transfer-dg": "[train=emodb,test=ravdess]",
             "within": "[corpus=emodb]"}


def identities() -> dict[str, str]:
    methods = sorted(name for name, entry in discover_methods().items() if entry.source == "built-in")
    found = {}
    for name in sorted(builtin_protocols()):
        reference = name + ARGUMENTS.get(name, "")
        protocol = load_protocol(reference)
        config = SweepConfig(methods=tuple(methods), protocol=reference)
        frontend = sweep_frontend(config, protocol)
        for method in methods:
            spec = RunSpec(method=method, hparams=method_hparams([method], config)[method][0], protocol=protocol,
                           fold=Fold("f", protocol.train, protocol.test), task=first_task(method, protocol), seed=3,
                           data={corpus: f"fp-{corpus}" for corpus in protocol.corpora}, frontend=frontend,
                           code=get_method(method).code)
            found[f"{reference} {method}"] = spec.run_id
    table = pd.DataFrame({"utterance_id": ["a", "b"], "path": ["/nowhere/a.wav", "/nowhere/b.wav"],
                          "speaker": ["s1", "s2"]})
    for name, entry in FRONTENDS.items():
        # the ssl and checkpoint front-ends' hash reads the model's weights, which tests do not have
        if entry.source == "built-in" and name not in ("ssl", "ssl-frames", "checkpoint"):
            found[f"cache {name}"] = cache_key(Corpus("c", Path("/nowhere"), table), make_frontend(name))
    return found


def first_task(method: str, protocol) -> str:
    """The protocol's first task, or for a method of ratings the first dimensional one."""
    return protocol.tasks[0] if "classes" in get_method(method).cls.targets else next(iter(DIMENSIONAL_TASKS))


def test_run_ids_and_cache_keys_are_those_of_the_previous_layout():
    pinned = json.loads(PINNED.read_text())
    found = identities()
    changed = {key: (pinned.get(key), value) for key, value in found.items() if pinned.get(key) != value}
    assert not changed, f"identities changed (pinned, now): {changed}"
    assert set(pinned) == set(found)


if __name__ == "__main__":
    sys.stdout.write(json.dumps(identities(), indent=0, sort_keys=True) + "\n")
