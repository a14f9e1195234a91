"""A sweep's settings are SweepConfig's fields: built from values as people give them, by field name, with the
fields' own defaults; a name that is no field is refused with the list."""

from __future__ import annotations

from pathlib import Path

import pytest

from serbench.errors import SerbenchError
from serbench.runs.settings import SweepConfig


def test_create_takes_values_as_people_give_them() -> None:
    config = SweepConfig.create(methods="baseline_s", protocol=Path("my.toml"), seeds=3, tasks=["arousal"],
                                results=Path("out"), hp={"gamma": "0.5"}, epochs=None)
    assert config == SweepConfig(methods=("baseline_s",), protocol="my.toml", seeds=(0, 1, 2), tasks=("arousal",),
                                 results="out", hp={"gamma": "0.5"})
    assert SweepConfig.create(methods=["a", "b"], protocol="cross", seeds=[4, 7]).seeds == (4, 7)
    assert SweepConfig.create(methods="a", protocol="cross") == SweepConfig(methods=("a",), protocol="cross")


def test_an_unknown_setting_is_refused_with_the_known_ones() -> None:
    with pytest.raises(SerbenchError) as raised:
        SweepConfig.create(methods="a", protocol="cross", epoch=3)
    assert "unknown sweep setting epoch" in raised.value.message
    assert "epochs" in raised.value.hint and "frontend_settings" in raised.value.hint
