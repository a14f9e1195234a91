"""scripts/gpu-check --dry-run: every step of the GPU check runs at toy size on the CPU and is recorded."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu-check"


def test_the_dry_run_goes_through_every_step(tmp_path, tiny_releases):
    # The session's tiny stand-ins (and their cached features, through $SERBENCH_CACHE) save the grid's own.
    result = subprocess.run([sys.executable, str(SCRIPT), "--dry-run", "--out", str(tmp_path),
                             "--grid-data", str(tiny_releases)], capture_output=True, text=True, check=False,
                            timeout=1200)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "gpu-check.json").read_text())
    steps = report["steps"]
    assert report["dry_run"] and list(steps) == ["environment", "cuda-tests", "bench", "grid", "compile"]
    assert all(step["status"] == "done" for step in steps.values()), steps
    assert steps["environment"]["torch"] and "cuda_available" in steps["environment"]
    assert steps["cuda-tests"]["summary"].startswith("4 tests collected")
    assert set(steps["bench"]["figures"]) == {"replicas_2", "replicas_3"}
    assert list(steps["bench"]["figures"]["replicas_3"]["pipelines"]) == ["fused"]
    grid = steps["grid"]
    assert grid["runs"] == {"fused": 2, "alone": 2} and grid["compared"] == 2
    assert grid["agree"] and 2 in grid["fused_widths"]  # the fused arm did fuse
    assert steps["compile"]["equal"]
    assert (tmp_path / "gpu-check.log").read_text().count("$ ") >= 6  # every command is in the log
