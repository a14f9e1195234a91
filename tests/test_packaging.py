"""A plain (non-editable) install finds the built-in methods and protocols, which live outside serbench/."""

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHECK = textwrap.dedent("""
    import serbench
    from serbench.method import discover_methods
    from serbench.protocols.protocol import builtin_protocols, load_protocol
    assert serbench.__file__.startswith({site!r}), serbench.__file__
    methods = discover_methods()
    assert {{"baseline_s", "baseline_cs", "dann1_s", "dann1_cs", "dann2_s", "dann2_cs"}} <= set(methods)
    assert all(methods[m].source == "built-in" for m in ("baseline_s", "dann2_cs"))
    protocols = builtin_protocols()
    assert {{"cross", "cross-dg", "multi", "loco", "loco-dg"}} <= set(protocols), protocols
    assert all(str(path).startswith({site!r}) for path in protocols.values())
    assert load_protocol("multi").folds == 5
""")


def test_a_wheel_install_has_the_builtin_methods_and_protocols(tmp_path):
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
                           capture_output=True, text=True, check=False)
    assert build.returncode == 0, build.stderr
    site = tmp_path / "site"
    wheel = next(tmp_path.glob("serbench-*.whl"))
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
                              str(wheel)], capture_output=True, text=True, check=False)
    assert install.returncode == 0, install.stderr
    check = subprocess.run([sys.executable, "-c", CHECK.format(site=str(site))], cwd=tmp_path,
                           env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                           check=False)
    assert check.returncode == 0, check.stderr
