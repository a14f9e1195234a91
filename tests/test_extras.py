"""serbench without its extras: the front-ends' own libraries (opensmile: `egemaps`; transformers and
huggingface_hub: `ssl`) are optional. Everything else works without them; a front-end that needs one refuses to
start, naming itself, the package and the extra to install, before a sweep reads any data."""

import sys
from pathlib import Path

import numpy as np
import pytest

from serbench.cli import main
from serbench.errors import SerbenchError
from serbench.features.frontends import egemaps, make_frontend

OPTIONAL = ("opensmile", "transformers", "huggingface_hub")


def uninstall(monkeypatch: pytest.MonkeyPatch, *packages: str) -> None:
    """As if `packages` were not installed: importing them or any of their modules fails, and find_spec finds
    nothing, for the rest of the test (modules imported earlier in the session included)."""
    loaded = [name for name in list(sys.modules) if name.partition(".")[0] in packages]
    for name in {*packages, *loaded}:
        monkeypatch.setitem(sys.modules, name, None)


def said(text: str) -> str:
    return " ".join(text.split())  # the console wraps long lines


@pytest.mark.parametrize(("frontend", "package", "extra"), [
    ("egemaps", "opensmile", "egemaps"), ("egemaps-lld", "opensmile", "egemaps"),
    ("ssl", "transformers", "ssl"), ("ssl-frames", "huggingface_hub", "ssl")])
def test_a_frontend_without_its_package_names_it_and_the_extra(monkeypatch, frontend, package, extra) -> None:
    uninstall(monkeypatch, package)
    with pytest.raises(SerbenchError, match=f"front-end '{frontend}' needs the {package} package, which is not "
                                            "installed") as error:
        make_frontend(frontend)
    assert error.value.hint == f"install serbench's {extra} extra: pip install 'serbench[{extra}]'"


@pytest.mark.parametrize(("frontend", "method", "package", "extra"), [
    ("egemaps", "egemaps_svm", "opensmile", "egemaps"), ("ssl-frames", "ssl_dann", "transformers", "ssl")])
def test_a_sweep_stops_before_reading_data(monkeypatch, tmp_path, capsys, frontend, method, package, extra) -> None:
    uninstall(monkeypatch, package)
    assert main(["run", "--method", method, "--frontend", frontend, "--protocol", "cross", "--data",
                 str(tmp_path / "nothing here"), "--results", str(tmp_path / "results")]) == 2
    error = said(capsys.readouterr().err)  # not the missing data: that is never looked at
    assert f"front-end '{frontend}' needs the {package} package" in error and "Traceback" not in error
    assert f"pip install 'serbench[{extra}]'" in error and "nothing here" not in error
    assert not (tmp_path / "results" / "runs").exists()


def compute_egemaps(frontend) -> None:
    """One utterance's functionals."""
    frontend.compute(np.zeros(4000, dtype=np.float32), np.empty((1, 88), dtype=np.float32))


@pytest.mark.parametrize(("frontend", "settings", "use", "package"), [
    ("egemaps", {}, compute_egemaps, "opensmile"),
    ("ssl", {"model": str(Path(__file__).parent)}, lambda frontend: frontend.row_shape, "transformers"),  # a folder
    ("ssl-frames", {"model": "facebook/wav2vec2-base"}, lambda frontend: frontend.hash(), "huggingface_hub")])
def test_a_package_that_stops_importing_is_named_where_it_is_first_used(monkeypatch, frontend, settings, use,
                                                                         package) -> None:
    """Installed when the front-end was made, broken (or gone) when it runs: the same error, with the reason."""
    made = make_frontend(frontend, settings)
    egemaps.smile.cache_clear()  # openSMILE is loaded again, on first use
    uninstall(monkeypatch, package)
    with pytest.raises(SerbenchError, match=f"front-end '{frontend}' needs the {package} package, which does not "
                                            "import") as error:
        use(made)
    assert "pip install 'serbench[" in error.value.hint


def test_everything_else_works_without_either_extra(monkeypatch, tiny_releases, tmp_path, capsys) -> None:
    uninstall(monkeypatch, *OPTIONAL)
    for command in (["frontends"], ["methods"], ["protocols"], ["frontends", "logmel"]):
        assert main(command) == 0, command
    assert main(["data", "features", "--corpus", "emodb", "--root", str(tiny_releases / "emodb"), "--frontend",
                 "logmel"]) == 0
    protocol = tmp_path / "emodb_to_savee.toml"  # two of the stand-ins: a sweep as small as they come
    protocol.write_text('split = "corpus"\ntrain = ["emodb"]\ntest = ["savee"]\n')
    assert main(["run", "--method", "baseline_s", "--protocol", str(protocol), "--task", "arousal", "--preset",
                 "small", "--epochs", "1", "--seeds", "1", "--device", "cpu", "--data", str(tiny_releases),
                 "--results", str(tmp_path / "results")]) == 0  # on the spectrogram, the default
    assert "savee" in capsys.readouterr().out
