"""`serbench bench` end to end on the CPU, tiny settings: every row comes out, and --only checks its names.
No assertion on time: the figures depend on the machine and its load."""

import json

import pytest

from serbench.cli import main
from serbench.errors import SerbenchError
from serbench.runs.bench import PIPELINES, select_pipelines


def test_bench_measures_every_pipeline(tmp_path, capsys):
    path = tmp_path / "bench.json"
    assert main(["bench", "--preset", "small", "--steps", "2", "--warmup", "1", "--workers", "1",
                 "--audio-minutes", "0.2", "--replicas", "3", "--json", str(path)]) == 0
    figures = json.loads(path.read_text())
    rows = figures["pipelines"]
    assert list(rows) == list(PIPELINES)
    for name, row in rows.items():
        assert row["segments"] > 0 and row["segments_per_second"] > 0, name
        assert row["peak_host_mib"] > 0 and row["peak_gpu_mib"] is None, name
    for name in ("conventional", "host", "resident"):
        assert rows[name]["segments"] == 2 * 128  # the timed steps only, in full batches
    assert rows["fused"]["segments"] == 3 * 2 * 128  # three runs trained together
    assert rows["conventional"]["ratio_to_conventional"] == 1.0
    assert rows["host"]["ratio_to_conventional"] > 0
    assert rows["features"]["x_real_time"] > 0 and rows["features"]["ratio_to_conventional"] is None
    assert figures["device"] == "cpu" and figures["preset"] == "small"
    assert "conventional" in capsys.readouterr().out


def test_unknown_pipeline_names_the_known_ones(capsys):
    with pytest.raises(SerbenchError) as raised:
        select_pipelines(["host", "gpu-magic"])
    assert "gpu-magic" in raised.value.message
    assert all(name in raised.value.hint for name in PIPELINES)
    assert main(["bench", "--only", "gpu-magic"]) == 2
    assert "conventional" in capsys.readouterr().err


def test_bad_settings_are_refused(capsys):
    assert main(["bench", "--steps", "0", "--only", "host"]) == 2
    assert "--steps 0" in capsys.readouterr().err


def test_the_feature_pass_is_measured_for_the_chosen_front_end(tmp_path, capsys):
    path = tmp_path / "bench.json"
    assert main(["bench", "--only", "features", "--audio-minutes", "0.1", "--warmup", "0", "--frontend", "logmel",
                 "--frontend-setting", "n_mels=40", "--json", str(path)]) == 0
    figures = json.loads(path.read_text())
    assert figures["frontend"]["frontend"] == "logmel" and figures["frontend"]["n_mels"] == 40
    row = figures["pipelines"]["features"]
    assert row["x_real_time"] > 0 and row["notes"].startswith("logmel (segments, rows 25 x 40)")
    assert main(["bench", "--only", "features", "--frontend", "nope"]) == 2
    assert "unknown front-end 'nope'" in capsys.readouterr().err
