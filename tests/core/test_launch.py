"""Launch validation and command lines: every problem is found before anything starts."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from yolofreeze.core.checkpoint.reader import read_checkpoint
from yolofreeze.core.errors import EXIT_BAD_DATA, EXIT_NO_GPU, DataConfigError, GpuUnavailableError
from yolofreeze.core.plan.freeze import first_n_names, preset
from yolofreeze.core.training.dataset import check_data_yaml, label_path, make_dataset
from yolofreeze.core.training.launch import LaunchOptions, parse_device, train_command, train_kwargs, validate

NO_GPU = lambda: (0, "NVML unavailable: test")  # noqa: E731
TWO_GPUS = lambda: (2, "")  # noqa: E731


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("ds"), n_train=4, n_val=2, size=64)


def opts(ckpt: Path, data: Path, **kw: object) -> LaunchOptions:
    info = read_checkpoint(ckpt)
    base: dict[str, object] = dict(
        checkpoint=str(ckpt),
        data=str(data),
        frozen=preset(info, "backbone").frozen,
        epochs=1,
        batch=4,
        img=64,
        device="cpu",
        workers=0,
    )
    base.update(kw)
    return LaunchOptions(**base)  # type: ignore[arg-type]


def fields(v: object) -> list[str]:
    return [p.field for p in v.problems]  # type: ignore[attr-defined]


def test_valid_inputs_pass(yolov5n: Path, data: Path) -> None:
    v = validate(opts(yolov5n, data), NO_GPU)
    assert v.ok, v.problems
    assert v.device == "cpu" and v.data is not None and v.data.nc == 2
    assert "download" not in v.data.normalised and Path(v.data.normalised["train"]).is_absolute()


def test_missing_and_bad_yaml(yolov5n: Path, tmp_path: Path) -> None:
    v = validate(opts(yolov5n, tmp_path / "none.yaml"), NO_GPU)
    assert fields(v) == ["data"] and "not found" in v.problems[0].message
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [a\nval: b\n")
    v = validate(opts(yolov5n, bad), NO_GPU)
    assert fields(v) == ["data"] and "not valid YAML" in v.problems[0].message
    with pytest.raises(DataConfigError):
        v.raise_for_problems()
    assert v.exit_code == EXIT_BAD_DATA


def test_folders_labels_and_nc(yolov5n: Path, data: Path, tmp_path: Path) -> None:
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "a.jpg").write_bytes((data.parent / "images" / "train" / "0000.jpg").read_bytes())
    y = tmp_path / "d.yaml"
    y.write_text("train: imgs\nval: missing/images\nnc: 3\nnames: [a, b]\ndownload: print('never')\n")
    msgs = [p.message for p in check_data_yaml(y).problems]
    assert any("nc is 3 but names lists 2" in m for m in msgs)
    assert any("no label files" in m and "train" in m for m in msgs)
    assert any("val: image folder not found" in m for m in msgs)


def test_label_class_out_of_range(data: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "ds"
    shutil.copytree(data.parent, root)
    (root / "data.yaml").write_text(data.read_text().replace(str(data.parent), str(root)))
    lab = label_path(sorted((root / "images" / "train").iterdir())[0])
    lab.write_text("7 0.5 0.5 0.1 0.1\n")
    msgs = [p.message for p in check_data_yaml(root / "data.yaml").problems]
    assert any("class 7 is outside 0..1" in m for m in msgs)


def test_gpu_problems_exit_5(yolov5n: Path, data: Path) -> None:
    v = validate(opts(yolov5n, data, device="0"), NO_GPU)
    assert fields(v) == ["device"] and "no GPU" in v.problems[0].message
    assert v.exit_code == EXIT_NO_GPU
    with pytest.raises(GpuUnavailableError):
        v.raise_for_problems()
    v = validate(opts(yolov5n, data, device="0,1,2"), TWO_GPUS)
    assert "only 2 GPU(s)" in v.problems[0].message
    # auto device falls back to the CPU rather than failing
    assert validate(opts(yolov5n, data, device=""), NO_GPU).device == "cpu"


def test_batch_must_divide_across_gpus(yolov5n: Path, data: Path) -> None:
    v = validate(opts(yolov5n, data, device="0,1", batch=7), TWO_GPUS)
    assert fields(v) == ["batch"]
    v = validate(opts(yolov5n, data, device="0,1", batch=8), TWO_GPUS)
    assert v.ok and v.gpus == 2 and v.device == "0,1"


def test_options(yolov5n: Path, data: Path, tmp_path: Path) -> None:
    hyp = tmp_path / "hyp.yaml"
    hyp.write_text("momentum: 0.9\n")
    v = validate(opts(yolov5n, data, img=100, epochs=0, optimizer="Lion", hyp=str(hyp), device="gpu"), NO_GPU)
    assert set(fields(v)) == {"img", "epochs", "optimizer", "hyp", "device"}


def test_an_image_size_train_py_would_change_is_refused_with_the_size_it_would_use(
    yolov5n: Path, ckpt_dir: Path, data: Path
) -> None:
    """The grid is the checkpoint's own largest stride, and two cells are train.py's floor."""
    problems = {p.field: p.message for p in validate(opts(yolov5n, data, img=32), NO_GPU).problems}
    assert "train.py would train at 64" in problems["img"] and problems["img"].endswith("use 64")
    assert validate(opts(yolov5n, data, img=96), NO_GPU).ok
    p6 = ckpt_dir / "yolov5n6.pt"  # strides 8 … 64: 96 is not a multiple of its grid
    problems = {p.field: p.message for p in validate(opts(p6, data, img=96), NO_GPU).problems}
    assert problems["img"].endswith("use 128")
    assert "img" not in {p.field for p in validate(opts(p6, data, img=128), NO_GPU).problems}


def test_plan_names_must_exist(yolov5n: Path, data: Path) -> None:
    v = validate(opts(yolov5n, data, frozen=frozenset({"model.99.conv.weight"})), NO_GPU)
    assert fields(v) == ["plan"]


def test_frozen_detect_head_with_new_nc_is_refused(yolov5n: Path, data: Path) -> None:
    info = read_checkpoint(yolov5n)
    # every layer frozen but one Detect bias (freezing all of it would leave nothing to train)
    v = validate(opts(yolov5n, data, frozen=first_n_names(info, 25) - {"model.24.m.0.bias"}), NO_GPU)
    assert [p.message for p in v.problems if "Detect output convs" in p.message]
    assert not [p for p in v.problems if "nothing left to train" in p.message]


def test_hostile_checkpoint_is_refused(tmp_path: Path, yolov5n: Path, data: Path) -> None:
    from tests.hostile_corpus import hostile_files
    from yolofreeze.core.errors import HostileCheckpointError

    files = hostile_files(tmp_path / "h", yolov5n, tmp_path / "PWNED")
    path = next(iter(files.values())) if isinstance(files, dict) else files[0]
    with pytest.raises(HostileCheckpointError):
        validate(LaunchOptions(str(path), str(data), frozenset()), NO_GPU)
    assert not (tmp_path / "PWNED").exists()


def test_device_parsing() -> None:
    assert parse_device("") == ("auto", [])
    assert parse_device("cpu") == ("cpu", [])
    assert parse_device("cuda:1") == ("cuda", [1])
    assert parse_device("0, 1") == ("cuda", [0, 1])
    assert parse_device("0,0") is None and parse_device("tpu") is None


def test_ddp_command_line(tmp_path: Path) -> None:
    single = train_command(tmp_path, 1, python="/py")
    assert single == ["/py", "-m", "yolofreeze.core.training.child.runner", "train", str(tmp_path)]
    ddp = train_command(tmp_path, 4, python="/py", port=29511)
    assert ddp == [
        "/py",
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "4",
        "--master_port",
        "29511",
        "-m",
        "yolofreeze.core.training.child.runner",
        "train",
        str(tmp_path),
    ]


def test_torch_distributed_run_accepts_the_command(tmp_path: Path) -> None:
    """The launcher's DDP flags parse with this torch's own argument parser."""
    from torch.distributed.run import get_args_parser

    args = get_args_parser().parse_args(train_command(tmp_path, 2, port=29512)[3:])
    assert (
        args.nproc_per_node == "2" and args.module and args.training_script == "yolofreeze.core.training.child.runner"
    )
    assert args.training_script_args == ["train", str(tmp_path)]


def test_train_kwargs_never_pass_the_users_file(yolov5n: Path, data: Path, tmp_path: Path) -> None:
    o = opts(yolov5n, data)
    kw = train_kwargs(o, validate(o, NO_GPU), tmp_path)
    assert kw["weights"] == str(tmp_path / "input.pt") and kw["freeze"] == [0]
    assert kw["data"] == str(tmp_path / "data.yaml")
    assert sys.executable


def test_a_plan_that_freezes_everything_is_refused_before_launch(yolov5n: Path, data: Path) -> None:
    """The TUI's launch form validates with this too: train.py would fail at its first backward."""
    everything = frozenset(p.name for p in read_checkpoint(yolov5n).parameters)
    v = validate(opts(yolov5n, data, frozen=everything), NO_GPU)
    assert set(fields(v)) == {"plan"}  # (this data's nc also re-initialises the frozen Detect convs)
    assert any(p.message.startswith("nothing left to train") for p in v.problems) and v.exit_code == 4
    left = validate(opts(yolov5n, data, frozen=everything - {"model.24.m.0.bias"}), NO_GPU)
    assert not [p for p in left.problems if "nothing left to train" in p.message]
