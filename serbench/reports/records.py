"""The runs a leaderboard may publish: a store's finished records, of one protocol and task if asked, and of one
configuration per protocol and front-end (data fingerprints, front-end configuration, protocol content): anything
else is an error that names the differences and the `--config` selection."""

from __future__ import annotations

from collections.abc import Sequence

from serbench.errors import SerbenchError
from serbench.files import stable_hash
from serbench.runs.record import RunRecord
from serbench.runs.store import ResultsStore


def load_records(store: ResultsStore, protocol: str | None = None, task: str | None = None) -> list[RunRecord]:
    """Every finished run's record (in run-id order, each checked as it is read), optionally of one protocol and
    task."""
    if not store.runs.is_dir() or not store.done_ids():
        raise SerbenchError("no finished runs in this results folder", path=store.root,
                            hint="run a sweep first (`serbench run ...`), or point --results at its folder")
    records = store.records()
    chosen = [r for r in records if (protocol is None or r.protocol == protocol) and (task is None or r.task == task)]
    if not chosen:
        present = sorted({f"{r.protocol}/{r.task}" for r in records})
        raise SerbenchError(f"no finished runs of protocol {protocol or 'any'}, task {task or 'any'}",
                            path=store.root, hint=f"the store holds: {', '.join(present)}")
    return chosen


def configuration(record: RunRecord) -> dict:
    """What must be equal for two runs to share a table: data fingerprints, front-end, protocol content."""
    identity = record.identity
    protocol = stable_hash(identity["protocol"])
    return {"data": dict(identity["data"]), "frontend": identity["frontend"], "protocol": protocol}


def configuration_id(record: RunRecord) -> str:
    return stable_hash(configuration(record), 8)


def select_configuration(records: list[RunRecord], configs: Sequence[str] = ()) -> list[RunRecord]:
    """The records a leaderboard may publish. Each of `configs` (an id or its prefix) keeps, for the protocol and
    front-end of its runs, only that configuration's runs (the runs of other protocols and front-ends stay). Then
    each (protocol, front-end)'s runs must share a single configuration, and each protocol's front-ends their data
    and protocol content, or the error says which settings differ and how to select."""
    for config in configs:
        named = {(r.protocol, r.frontend) for r in records if configuration_id(r).startswith(config)}
        if not named:
            present = sorted({configuration_id(r) for r in records})
            raise SerbenchError(f"--config {config}: no run has this configuration",
                                hint=f"configurations present: {', '.join(present)}")
        records = [r for r in records
                   if (r.protocol, r.frontend) not in named or configuration_id(r).startswith(config)]
    for protocol in sorted({r.protocol for r in records}):
        runs = [r for r in records if r.protocol == protocol]
        for frontend in sorted({r.frontend for r in runs}):
            own = [r for r in runs if r.frontend == frontend]
            ids = {configuration_id(r) for r in own}  # an ambiguous --config prefix may still leave several
            if len(ids) > 1:
                raise SerbenchError(f"protocol {protocol} with the {frontend} front-end: its runs use {len(ids)} "
                                    f"different configurations, which a leaderboard never mixes:\n"
                                    + describe_configurations(own),
                                    hint="select one with --config ID (once per front-end that needs it), or keep "
                                         "each configuration's runs in its own results folder")
        if len({(stable_hash(r.identity["data"]), configuration(r)["protocol"]) for r in runs}) > 1:
            raise SerbenchError(f"protocol {protocol}: its front-ends' runs differ in their data or protocol content, "
                                f"so they cannot share a page:\n"
                                + describe_configurations(runs, ignore="front-end configuration"),
                                hint="run the front-ends on the same data and protocol file (the same `serbench run` "
                                     "trains the stale ones again; then choose with --config ID), or keep each "
                                     "front-end's runs in its own results folder")
    return records


def describe_configurations(records: list[RunRecord], ignore: str = "") -> str:
    """One line per configuration: its id and front-end, its runs' methods, and the settings (but `ignore`) that
    differ from the others."""
    configs = {configuration_id(r): configuration(r) for r in records}
    settings: dict[str, dict[str, str]] = {}
    for cid, conf in configs.items():
        flat = {f"data fingerprint of {c}": f[:12] for c, f in conf["data"].items()}
        settings[cid] = {**flat, "front-end configuration": conf["frontend"]["hash"],
                         "protocol content": conf["protocol"]}
    keys = sorted({k for s in settings.values() for k in s} - {ignore})
    differing = [k for k in keys if len({s.get(k, "(absent)") for s in settings.values()}) > 1]
    lines = []
    for cid in sorted(configs):
        methods = sorted({r.method for r in records if configuration_id(r) == cid})
        runs = sum(configuration_id(r) == cid for r in records)
        values = ", ".join(f"{k} {settings[cid].get(k, '(absent)')}" for k in differing)
        lines.append(f"  --config {cid} ({configs[cid]['frontend']['name']}): {runs} runs ({', '.join(methods)}); "
                     f"{values}")
    return "\n".join(lines)
