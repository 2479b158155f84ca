"""The training options' rules are train.py's own, read from the installed yolov5 where it has them."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from yolofreeze.core.training import options


def yolov5_source(rel: str) -> str:
    spec = importlib.util.find_spec("yolov5")
    assert spec is not None and spec.submodule_search_locations
    return (Path(next(iter(spec.submodule_search_locations))) / rel).read_text(encoding="utf-8")


def test_image_size_follows_train_pys_check_img_size() -> None:
    src = yolov5_source("train.py")
    # the two lines this module restates; if yolov5 changes them, this test says so
    assert "gs = max(int(model.stride.max()), 32)" in src
    assert "check_img_size(opt.imgsz, gs, floor=gs * 2)" in src
    assert options.image_step((8.0, 16.0, 32.0)) == 32
    assert options.image_step((8.0, 16.0, 32.0, 64.0)) == 64
    assert options.image_step((), anchor_levels=4) == 64 and options.image_step(()) == 32
    assert options.image_step((float("nan"), 1e30)) == 32  # nonsense strides are ignored
    assert [options.effective_img(i, 32) for i in (96, 100, 640, 33, 10)] == [96, 128, 640, 64, 64]
    assert options.effective_img(640, 64) == 640 and options.effective_img(600, 64) == 640


def test_defaults_and_choices_match_train_py() -> None:
    src = yolov5_source("train.py")
    assert re.search(r"--epochs', type=int, default=100\b", src)
    assert re.search(r"--batch-size', type=int, default=16\b", src)
    assert re.search(r"--imgsz', '--img', '--img-size', type=int, default=640\b", src)
    assert "choices=['SGD', 'Adam', 'AdamW']" in src and options.OPTIMIZERS == ("SGD", "Adam", "AdamW")
    assert (options.DEFAULTS.epochs, options.DEFAULTS.batch, options.DEFAULTS.img) == (100, 16, 640)
    assert options.accumulate(16) == 4 and options.accumulate(64) == 1 and options.accumulate(200) == 1


def test_rules_name_the_valid_range() -> None:
    assert options.check_batch(0) == "batch must be 1-4096, got 0"
    assert options.check_batch(16, gpus=3) is not None and options.check_batch(16, gpus=2) is None
    assert options.check_img(16) == "image size must be 32-8192, got 16"
    assert options.check_img(64, step=64) is None
    assert options.check_epochs(0) is not None and options.check_workers(-1) is not None
    assert options.check_optimizer("sgd") is not None and options.check_optimizer("AdamW") is None


def test_a_size_train_py_would_change_names_the_size_it_would_use() -> None:
    assert options.check_img_as_trained(640, 32) is None and options.check_img_as_trained(640, 64) is None
    assert options.check_img_as_trained(32, 32) == (
        "image size 32: train.py would train at 64 (a multiple of 32, at least 64); use 64"
    )
    assert (options.check_img_as_trained(600, 64) or "").endswith("use 640")


def test_the_step_comes_from_the_checkpoints_own_strides(yolov5s: Path, ckpt_dir: Path) -> None:
    from yolofreeze.core.checkpoint.reader import read_checkpoint

    assert options.model_image_step(read_checkpoint(yolov5s)) == 32
    p6 = read_checkpoint(ckpt_dir / "yolov5n6.pt")
    assert p6.metadata.stride == (8, 16, 32, 64) and options.model_image_step(p6) == 64
    bare = read_checkpoint(ckpt_dir / "yolov5n-state_dict.pt")  # no strides stored: the P5 default
    assert bare.metadata.stride == () and options.model_image_step(bare) == 32


def test_every_optimizer_has_a_state_size() -> None:
    from yolofreeze.core.memory.analytic import state_bytes

    sizes = {o: state_bytes(10, 10, o).optimizer for o in options.OPTIMIZERS}
    assert sizes == {"SGD": 40, "Adam": 80, "AdamW": 80}


def test_the_starting_image_size_follows_the_model(yolov5s: Path, ckpt_dir: Path) -> None:
    from dataclasses import replace

    from yolofreeze.core.checkpoint.reader import read_checkpoint
    from yolofreeze.core.training.options import model_img

    p5, p6 = read_checkpoint(yolov5s), read_checkpoint(ckpt_dir / "yolov5n6.pt")
    assert model_img(p5) == 640 and model_img(p6) == 1280  # P6 models are trained and published at 1280
    trained = replace(p5, metadata=replace(p5.metadata, training_options={"imgsz": 416}))
    assert model_img(trained) == 416  # the size its own opt says it was trained at
    odd = replace(p6, metadata=replace(p6.metadata, training_options={"imgsz": 1000}))
    assert model_img(odd) == 1024  # rounded as train.py would: a multiple of the P6 grid (64)
    junk = replace(p5, metadata=replace(p5.metadata, training_options={"imgsz": "640; rm -rf /"}))
    assert model_img(junk) == 640
