"""One spec per architecture: every table of the library is a view of ``ARCHITECTURES``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import compressai.registry
import pytest
from torch import nn

from compressai_isp import registry, zoo
from compressai_isp.models import CASCADED_SPEC, RBN, RBN_SPEC, CompNet, LiteISPNet
from compressai_isp.registry import (
    ARCHITECTURES,
    MODELS,
    ArchSetup,
    ArchSpec,
    Task,
    distortion_only,
    quality_ladder,
    register_architecture,
)
from compressai_isp.training.tasks import TASKS


class Toy(nn.Module):
    input_kind: ClassVar[str] = "raw"
    output_kind: ClassVar[str] = "srgb"

    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, width, 1)


def toy_spec(name: str = "toy-arch", **fields) -> ArchSpec:
    declared = {"cls": Toy, "cfgs": {1: {"width": 4}}, "lambdas": quality_ladder(0.01)}
    return ArchSpec(name=name, **{**declared, **fields})


def test_every_table_is_read_from_the_specs() -> None:
    assert set(ARCHITECTURES) == set(MODELS) == set(zoo.image_models) == set(TASKS)
    assert set(zoo.cfgs) == set(zoo.lambdas) == set(ARCHITECTURES)
    for name, spec in ARCHITECTURES.items():
        assert spec.name == name
        assert MODELS[name] is spec.cls is compressai.registry.MODELS[name]
        assert zoo.cfgs[name] == spec.cfgs and zoo.lambdas[name] == spec.lambdas
        assert TASKS[name] == spec.task
        assert (spec.task.input, spec.task.target) == (spec.cls.input_kind, spec.cls.output_kind)


def test_the_task_is_derived_from_the_class_and_the_ladder() -> None:
    assert RBN_SPEC.task == Task("raw", "srgb", rate=True)
    assert ARCHITECTURES["raw-comp-teacher"].task == Task("raw", "raw", rate=True)
    assert ARCHITECTURES["isp-teacher"].task == Task("srgb", "srgb", rate=False)
    assert ARCHITECTURES["liteispnet"].task == Task("raw", "srgb", rate=False)
    assert CASCADED_SPEC.task == Task("raw", "srgb", rate=True, trainable="isp.")
    assert ARCHITECTURES["comp-net"].task == Task("srgb", "srgb", rate=True)


def test_builders_carry_the_spec_and_are_the_named_zoo_functions() -> None:
    assert zoo.image_models["rbn"] is zoo.rbn and zoo.image_models["comp-net"] is zoo.comp_net
    assert zoo.rbn.__name__ == "rbn" and zoo.rbn.__doc__ == RBN_SPEC.summary
    assert isinstance(zoo.liteispnet(1, width=8), LiteISPNet)
    assert isinstance(zoo.comp_net(8, N=16, M=16), CompNet)


def test_the_tables_cannot_be_changed_behind_the_spec() -> None:
    with pytest.raises(TypeError):
        zoo.cfgs["rbn"][1]["N"] = 8  # type: ignore[index]
    with pytest.raises(TypeError):
        zoo.lambdas["rbn"][1] = 1.0  # type: ignore[index]
    with pytest.raises(TypeError):
        ARCHITECTURES["new"] = RBN_SPEC  # type: ignore[index]
    assert not hasattr(zoo.image_models, "setdefault")  # the old plugin's way in is gone
    # A spec keeps its own copy: changing what it was declared with changes nothing.
    cfgs = {1: {"width": 4}}
    spec = toy_spec(cfgs=cfgs)
    cfgs[1]["width"] = 99
    assert spec.config(1) == {"width": 4}


@pytest.fixture
def unregister_toy() -> Iterator[None]:
    """Take ``toy-arch`` out of the tables again after the test registered it."""
    yield
    registry._SPECS.pop("toy-arch", None)
    compressai.registry.MODELS.pop("toy-arch", None)


def test_a_registered_spec_appears_in_every_view(unregister_toy: None) -> None:
    spec = register_architecture(toy_spec())
    assert register_architecture(spec) is spec  # the same spec again: nothing changes
    assert MODELS["toy-arch"] is Toy is compressai.registry.MODELS["toy-arch"]
    assert TASKS["toy-arch"] == Task("raw", "srgb", rate=True)
    assert zoo.lambdas["toy-arch"] == {1: 0.01} and "toy-arch" in zoo.list_models()
    assert isinstance(zoo.create_model("toy-arch", 1), Toy)
    with pytest.raises(ValueError, match="'toy-arch' is already registered to Toy"):
        register_architecture(toy_spec())
    with pytest.raises(ValueError, match=r"invalid quality 2 for toy-arch: should be 1\.\.1"):
        zoo.image_models["toy-arch"](2)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": ""}, "non-empty string"),
        ({"cls": int}, "cls must be an nn.Module class"),
        ({"cls": nn.Identity}, r"Identity.input_kind must be one of \('raw', 'srgb'\)"),
        ({"lambdas": quality_ladder(0.01, 0.02)}, "cover the same qualities"),
        ({"cfgs": {}, "lambdas": {}}, "cover the same qualities"),
        ({"cfgs": {1: {}, 2: {}}, "lambdas": {1: 0.01, 2: None}}, "mixes None"),
    ],
)
def test_a_bad_declaration_is_refused_naming_what_is_wrong(fields: dict, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        toy_spec(**fields)


def test_ladders() -> None:
    assert quality_ladder(0.1, 0.2) == {1: 0.1, 2: 0.2}
    assert distortion_only(3) == {1: None, 2: None, 3: None}
    assert not toy_spec(lambdas=distortion_only(1)).rate


def test_the_cascades_setup_hook_is_named_and_loads() -> None:
    setup = CASCADED_SPEC.setup
    assert setup is not None and setup.options == ("isp_init", "comp_init")
    assert callable(setup.load())
    assert RBN_SPEC.setup is None


@pytest.mark.parametrize(
    ("apply", "message"),
    [
        ("no_colon", "is not written 'module:function'"),
        ("no_such_module_xyz:hook", "cannot be loaded"),
        ("compressai_isp.registry:no_such_hook", "cannot be loaded"),
        ("compressai_isp.registry:KINDS", "is not callable"),
    ],
)
def test_a_bad_setup_hook_is_a_one_line_error(apply: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ArchSetup(("x",), apply).load()


def test_the_rbn_spec_builds_the_papers_rbn() -> None:
    assert RBN_SPEC.cls is RBN and RBN_SPEC.qualities == list(range(1, 8))
    assert RBN_SPEC.config(6) == {"N": 256, "M": 192, "N_hyper": 192, "decoder_width": 64}
