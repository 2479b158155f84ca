"""Freeze plans: presets, exports and imports, checked against yolov5's own freeze rule."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from yolofreeze.core.checkpoint.reader import read_checkpoint
from yolofreeze.core.errors import PlanError
from yolofreeze.core.plan.freeze import FORMATS, FreezePlan, export, import_plan, preset, yolov5_args


def _train_py_freeze_block() -> str:
    """The freeze lines of the installed yolov5/train.py, taken from its source, not retyped."""
    import yolov5.train

    src = Path(yolov5.train.__file__).read_text().splitlines()
    start = next(i for i, ln in enumerate(src) if ln.strip().startswith("if isinstance(freeze, int):"))
    end = next(i for i in range(start, len(src)) if "v.requires_grad = False" in src[i])
    block = textwrap.dedent("\n".join(src[start : end + 1]))
    assert "any(x in k for x in freeze)" in block  # the substring rule this project mirrors
    return "\n".join(ln for ln in block.splitlines() if "LOGGER" not in ln)


def _yolov5_freeze(model: object, freeze_arg: list[int] | list[str]) -> set[str]:
    """Run train.py's own freeze block on a real model; return the names it froze."""
    exec(_train_py_freeze_block(), {"model": model, "freeze": list(freeze_arg)})
    return {k for k, v in model.named_parameters() if not v.requires_grad}  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def real_model(yolov5s: Path):  # type: ignore[no-untyped-def]
    import torch

    return torch.load(yolov5s, map_location="cpu", weights_only=False)["model"].float()


@pytest.fixture(scope="module")
def info(yolov5s: Path):  # type: ignore[no-untyped-def]
    return read_checkpoint(yolov5s)


@pytest.mark.parametrize(
    ("spec", "args"),
    [("backbone", [10]), ("all", [24]), ("first:3", [3]), ("none", [0]), ("layers:2,4,13", [2, 4, 13])],
)
def test_presets_freeze_what_train_py_freezes(info, real_model, spec: str, args: list[int]) -> None:  # type: ignore[no-untyped-def]
    plan = preset(info, spec)
    assert plan.frozen == _yolov5_freeze(real_model, args)


@pytest.mark.parametrize("spec", ["none", "backbone", "all", "first:5", "layers:6", "layers:0,8,24"])
def test_yolov5_export_runs_through_train_py_rule(info, real_model, spec: str) -> None:  # type: ignore[no-untyped-def]
    plan = preset(info, spec)
    e = yolov5_args(plan)
    assert e.exact
    nums = [int(x) for x in e.text.removeprefix("--freeze").split()]
    assert _yolov5_freeze(real_model, nums) == plan.frozen


def test_train_run_freeze_list_carries_module_plans(info, real_model) -> None:  # type: ignore[no-untyped-def]
    """yolov5.train.run(freeze=[...]) formats entries as model.{x}.; our ultralytics-style list fits it."""
    plan = preset(info, "backbone").with_frozen(info.subtree_parameters["model.13.cv1"], True)
    e = export(plan, "ultralytics")
    items = eval(e.text.split("=", 1)[1])
    assert _yolov5_freeze(real_model, items) == plan.frozen


def test_sub_layer_plan_has_no_yolov5_args_and_says_why(info) -> None:  # type: ignore[no-untyped-def]
    plan = preset(info, "backbone").with_frozen(["model.13.cv1.bn.weight"], True)
    e = yolov5_args(plan)
    assert not e.exact and e.text == ""
    assert "whole layers" in e.note and "python" in e.note and "json" in e.note
    assert "ultralytics" not in e.note  # a single weight without its module cannot be said there
    assert not export(plan, "ultralytics").exact


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("kind", ["backbone", "module", "single-param", "none"])
def test_every_format_imports_back_to_the_same_plan(info, fmt: str, kind: str) -> None:  # type: ignore[no-untyped-def]
    plan = {
        "backbone": preset(info, "backbone"),
        "module": preset(info, "first:2").with_frozen(info.subtree_parameters["model.17.cv2"], True),
        "single-param": FreezePlan(info, frozenset({"model.24.m.0.weight", "model.3.bn.bias"})),
        "none": preset(info, "none"),
    }[kind]
    e = export(plan, fmt, sha256="0" * 64)
    if not e.exact:
        assert fmt in ("yolov5", "ultralytics") and kind in ("module", "single-param")
        return
    back = import_plan(info, e.text)
    assert back.format == fmt
    assert back.plan.frozen == plan.frozen


def test_counts(info) -> None:  # type: ignore[no-untyped-def]
    c = preset(info, "backbone").counts
    assert c.total_params == 7_235_389
    assert c.frozen_params + c.trainable_params == c.total_params
    assert c.frozen_params == sum(
        p.numel for p in info.parameters if p.name.split(".")[1].isdigit() and int(p.name.split(".")[1]) < 10
    )
    assert c.frozen_bytes == 2 * c.frozen_params  # fp16 checkpoint


def test_p6_backbone_is_twelve_layers(ckpt_dir: Path) -> None:
    info = read_checkpoint(ckpt_dir / "yolov5n6.pt")
    assert yolov5_args(preset(info, "backbone")).text == "--freeze 12"
    assert yolov5_args(preset(info, "all")).text == "--freeze 33"


def test_bad_presets_and_plans(info) -> None:  # type: ignore[no-untyped-def]
    for bad in ("everything", "first:x", "layers:", "first:-1"):
        with pytest.raises(PlanError):
            preset(info, bad)
    with pytest.raises(PlanError, match="does not have"):
        import_plan(info, "model.99.conv.weight\n")
    with pytest.raises(PlanError, match="JSON"):
        import_plan(info, "{not json", "json")
    with pytest.raises(PlanError, match="not a yolofreeze plan"):
        import_plan(info, '{"a": 1}')


def test_toggle_and_state(info) -> None:  # type: ignore[no-untyped-def]
    plan = preset(info, "none")
    names = info.subtree_parameters["model.2"]
    half = plan.with_frozen(names[:2], True)
    assert half.state_of(names) == "mixed"
    assert half.toggle(names).state_of(names) == "frozen"
    assert half.toggle(names).toggle(names).state_of(names) == "trainable"


@pytest.mark.parametrize("n", [0, 1, 9, 10, 11, 23, 24])
def test_first_n_without_building_prefixes_freezes_what_train_py_freezes(info, real_model, n: int) -> None:  # type: ignore[no-untyped-def]
    """first:N scans names for model.<k>. (k < N) instead of building range(N) prefixes: same set."""
    assert preset(info, f"first:{n}").frozen == _yolov5_freeze(real_model, [n])
    assert import_plan(info, f"--freeze {n}\n").plan.frozen == _yolov5_freeze(real_model, [n])
    assert import_plan(info, f"freeze=[{n}]\n").plan.frozen == _yolov5_freeze(real_model, [n])


def test_presets_and_plans_outside_the_model_say_the_valid_range(info) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PlanError, match=r"first:N takes 0\.\.24 for this model, got 26"):
        preset(info, "first:26")
    with pytest.raises(PlanError, match=r"takes layer numbers 0\.\.24 for this model, got 25"):
        preset(info, "layers:3,25")
    with pytest.raises(PlanError, match=r"takes layer numbers 0\.\.24 for this model, got -1"):
        import_plan(info, "--freeze 2 -1")
    # the largest valid ones still export and import back exactly
    plan = preset(info, "first:24")
    assert import_plan(info, export(plan, "yolov5").text).plan.frozen == plan.frozen
    assert yolov5_args(preset(info, "layers:24")).text == "--freeze 24 24"
