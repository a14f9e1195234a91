"""The run record: one typed structure, written and read back unchanged; a damaged record, or one of another
schema, is an error naming its file."""

from __future__ import annotations

import json

import pytest
from test_store import record

from serbench.errors import SerbenchError
from serbench.runs.record import SCHEMA, CorpusScores, RunRecord


def test_a_record_round_trips_through_its_json(tmp_path):
    original = record(scores={"emodb": CorpusScores(0.7, 0.72, 0.69, 10, [[4, 1], [2, 3]], False)},
                      probes={"corpus": {"ua": 0.5, "classes": 2}})
    path = tmp_path / "record.json"
    path.write_bytes(original.to_json())
    assert RunRecord.read(path) == original and json.loads(path.read_text())["schema"] == SCHEMA


@pytest.mark.parametrize(("damage", "message"), [
    (lambda text: text[: len(text) // 2], "not JSON"),
    (lambda text: "[1, 2]", "a JSON list, not an object"),
    (lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "seed"}), "lacks 'seed'"),
    (lambda text: json.dumps({**json.loads(text), "seed": "zero"}), "'seed' is a str"),
    (lambda text: json.dumps({**json.loads(text), "scores": {"emodb": {"ua": 1}}}), "scores:"),
    (lambda text: json.dumps({**json.loads(text), "schema": 1}), "schema 1"),
])
def test_a_damaged_record_is_an_error_naming_its_file(tmp_path, damage, message):
    path = tmp_path / "record.json"
    path.write_text(damage(record().to_json().decode()))
    with pytest.raises(SerbenchError, match=message) as raised:
        RunRecord.read(path)
    assert str(raised.value.path) == str(path) and raised.value.hint
