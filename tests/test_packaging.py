"""The wheel: a plain (non-editable) install finds the built-in methods and protocols, which live outside
serbench/; the front-ends' own libraries are extras, and the dev extra (the README's install) has them all."""

import email
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from serbench.features.frontends.extras import EXTRAS

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


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)],
                           capture_output=True, text=True, check=False)
    assert build.returncode == 0, build.stderr
    return next(out.glob("serbench-*.whl"))


def test_a_wheel_install_has_the_builtin_methods_and_protocols(wheel, tmp_path):
    site = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
                              str(wheel)], capture_output=True, text=True, check=False)
    assert install.returncode == 0, install.stderr
    check = subprocess.run([sys.executable, "-c", CHECK.format(site=str(site))], cwd=tmp_path,
                           env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                           check=False)
    assert check.returncode == 0, check.stderr


def test_the_frontends_libraries_are_extras_and_dev_installs_every_extra(wheel):
    with zipfile.ZipFile(wheel) as archive:
        metadata = email.message_from_bytes(archive.read(next(name for name in archive.namelist()
                                                              if name.endswith(".dist-info/METADATA"))))
    requirements = [Requirement(line) for line in metadata.get_all("Requires-Dist")]

    def required(extra: str) -> dict[str, Requirement]:
        """The distributions installed with `extra` ("": a plain install), by normalised name."""
        return {canonicalize_name(r.name): r for r in requirements
                if r.marker is None or r.marker.evaluate({"extra": extra})}

    extras = set(metadata.get_all("Provides-Extra"))
    assert {"egemaps", "ssl", "slurm", "dev"} <= extras
    for package, extra in EXTRAS.items():  # the extra the front-ends' errors name brings the package
        name = canonicalize_name(package)
        assert name in required(extra) and name not in required(""), (package, extra)
    assert required("dev")["serbench"].extras == extras - {"dev"}
