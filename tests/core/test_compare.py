"""compare: reading runs that exist (ours and plain yolov5 folders), the table, the verdicts, the report.

The yolov5 folders here are written the way train.py writes them (results.csv with its
right-aligned, space-padded header, opt.yaml's ``freeze`` list, a TensorBoard event file written
by torch's own SummaryWriter); the checkpoints are real yolov5 models (tests/conftest.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from yolofreeze.core.checkpoint.reader import read_checkpoint
from yolofreeze.core.compare.report import write_report
from yolofreeze.core.compare.sources import gather
from yolofreeze.core.compare.summary import RunSummary, summarize_yolov5_folder
from yolofreeze.core.compare.table import compare, verdict
from yolofreeze.core.errors import RunNotFoundError, RunRecordError, UsageError
from yolofreeze.core.plan.freeze import preset
from yolofreeze.tui.cli import main

COLUMNS = [
    "epoch",
    "train/box_loss",
    "train/obj_loss",
    "train/cls_loss",
    "metrics/precision",
    "metrics/recall",
    "metrics/mAP_0.5",
    "metrics/mAP_0.5:0.95",
    "val/box_loss",
    "val/obj_loss",
    "val/cls_loss",
    "x/lr0",
    "x/lr1",
    "x/lr2",
]


def results_csv(rows: list[list[float]]) -> str:
    """As train.py writes it: every field right-aligned to 20 characters."""
    head = ",".join(f"{c:>20}" for c in COLUMNS)
    body = [",".join(f"{v:>20.5g}" for v in r) for r in rows]
    return "\n".join([head, *body]) + "\n"


def exp_folder(
    root: Path, name: str, freeze: list[int], map50: list[float], loss: float = 0.05, epoch_s: float | None = None
) -> Path:
    d = root / name
    d.mkdir(parents=True)
    rows = [
        [i, loss, loss / 5, loss / 10, 0.5, 0.4, m, m / 2, 0.06, 0.01, 0.005, 0.01, 0.01, 0.01]
        for i, m in enumerate(map50)
    ]
    (d / "results.csv").write_text(results_csv(rows))
    (d / "opt.yaml").write_text(
        f"weights: yolov5n.pt\nepochs: {len(map50)}\nfreeze:\n" + "".join(f"- {x}\n" for x in freeze)
    )
    if epoch_s is not None:
        from torch.utils.tensorboard import SummaryWriter

        w = SummaryWriter(str(d))
        for i, m in enumerate(map50):
            w.add_scalar("metrics/mAP_0.5", m, i, walltime=1000.0 + epoch_s * (i + 1))
        w.close()
    return d


def test_a_yolov5_folder_reads_its_freeze_from_opt_yaml_and_counts_with_the_checkpoint(
    tmp_path: Path, yolov5n: Path
) -> None:
    d = exp_folder(tmp_path, "exp2", [10], [0.1, 0.3, 0.25])
    s = summarize_yolov5_folder(d, str(yolov5n))
    backbone = preset(read_checkpoint(yolov5n), "backbone").counts
    assert s.label == "exp2 (--freeze 10)"
    assert (s.total_params, s.trainable_params) == (backbone.total_params, backbone.trainable_params)
    assert s.best("mAP50") == pytest.approx(0.3) and s.final("mAP50") == pytest.approx(0.25)
    assert s.epochs == 3


def test_a_freeze_list_of_several_numbers_names_layers_as_train_py_does(tmp_path: Path, yolov5n: Path) -> None:
    d = exp_folder(tmp_path, "exp", [0, 1, 2], [0.1])
    s = summarize_yolov5_folder(d, str(yolov5n))
    assert s.label == "exp (--freeze 0 1 2)"
    first3 = preset(read_checkpoint(yolov5n), "first:3").counts
    assert s.trainable_params == first3.trainable_params


def test_epoch_times_come_from_the_event_file_stamps(tmp_path: Path) -> None:
    d = exp_folder(tmp_path, "exp", [0], [0.1, 0.2, 0.3], epoch_s=12.5)
    s = summarize_yolov5_folder(d)
    assert s.epoch_seconds == pytest.approx((12.5, 12.5))  # epoch 0's start is unknown in a plain folder
    assert s.mean_epoch_seconds == pytest.approx(12.5)


def test_a_folder_of_exp_folders_is_read_in_yolov5s_numbering_order(tmp_path: Path) -> None:
    for name in ("exp10", "exp", "exp2"):
        exp_folder(tmp_path / "runs" / "train", name, [0], [0.1])
    labels = [s.label for s in gather([str(tmp_path / "runs" / "train")])]
    assert labels == ["exp (no freeze)", "exp2 (no freeze)", "exp10 (no freeze)"]


@pytest.mark.parametrize("kind", ["fifo", "device", "file", "missing", "empty-dir"])
def test_an_item_that_is_not_a_run_is_one_line_and_an_exit_code(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    target = {"fifo": tmp_path / "p", "device": Path("/dev/zero"), "file": tmp_path / "f.txt"}.get(kind)
    if kind == "fifo":
        os.mkfifo(tmp_path / "p")
    elif kind == "file":
        (tmp_path / "f.txt").write_text("x")
    elif kind == "missing":
        target = tmp_path / "nope"
    elif kind == "empty-dir":
        target = tmp_path / "e"
        target.mkdir()
    assert target is not None
    rc = main(["compare", str(target)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == (7 if kind == "missing" else 1)
    assert len(err) == 1 and "Traceback" not in err[0]
    want = {"fifo": "FIFO", "device": "character device", "file": "not a run folder", "missing": "no such folder"}
    assert want.get(kind, "no run here") in err[0]


def test_hostile_opt_yaml_and_results_are_refused_unread_and_said(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb"
    bomb.mkdir()
    lol = "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{c}: &{c} [{','.join(['*' + p] * 10)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    (bomb / "opt.yaml").write_text(lol + "freeze: [10]\n")
    os.mkfifo(bomb / "results.csv")
    s = summarize_yolov5_folder(bomb)
    assert any("alias bomb" in n for n in s.notes)
    assert any("results.csv" in n for n in s.notes)
    assert s.curves == {} and s.trainable_params is None

    fifo = tmp_path / "fifo"
    fifo.mkdir()
    os.mkfifo(fifo / "opt.yaml")
    (fifo / "results.csv").write_text(results_csv([[0] * 14]))
    assert any("FIFO" in n for n in summarize_yolov5_folder(fifo).notes)

    big = tmp_path / "big"
    big.mkdir()
    (big / "opt.yaml").write_text("freeze: [10]\n" + "#" * (300 * 1024))
    assert any("limit" in n for n in summarize_yolov5_folder(big).notes)


def _summary(label: str, map50: float, epoch_s: float, peak: int, trainable: int) -> RunSummary:
    return RunSummary(
        label,
        label,
        "yolofreeze",
        "finished",
        None,
        total_params=1000,
        trainable_params=trainable,
        observed_peak=peak,
        epoch_seconds=(epoch_s, epoch_s),
        total_seconds=2 * epoch_s,
        curves={"mAP50": (map50 / 2, map50), "mAP50-95": (map50 / 4, map50 / 2)},
        check="PASS",
    )


def test_the_verdict_says_accuracy_speed_and_memory_against_the_first_plan() -> None:
    none = _summary("none", 0.621, 16.0, 1000 << 20, 1000)
    backbone = _summary("backbone", 0.600, 10.0, 470 << 20, 400)
    line = verdict(backbone, none)
    assert line.startswith(
        "backbone: \u22122.1 mAP50, \u22121.1 mAP50-95, 1.6\u00d7 faster per epoch, \u221253% memory"
    )
    c = compare([none, backbone])
    assert c.verdicts == (line,)
    trainable = c.headers.index("trainable params")
    assert c.cells[1][trainable] == "400 (\u221260%)"
    assert c.cells[0][trainable] == "1,000"  # the first plan carries no difference


def test_the_report_writes_markdown_csv_and_png_charts(tmp_path: Path) -> None:
    c = compare([_summary("none", 0.6, 16.0, 1 << 30, 1000), _summary("all", 0.5, 8.0, 1 << 29, 10)])
    files = write_report(c, tmp_path / "rep")
    assert sorted(p.name for p in files) == ["comparison.csv", "cost.png", "curves.png", "report.md"]
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "all: \u221210.0 mAP50" in md and "![curves.png](curves.png)" in md
    csv_lines = (tmp_path / "rep" / "comparison.csv").read_text().splitlines()
    assert len(csv_lines) == 3 and csv_lines[0].startswith("plan,source,kind,frozen_fraction")
    for png in ("curves.png", "cost.png"):
        assert (tmp_path / "rep" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_report_target_that_is_not_a_folder_or_holds_a_symlink_is_refused(tmp_path: Path) -> None:
    c = compare([_summary("none", 0.6, 16.0, 1 << 30, 1000)])
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="not a folder"):
        write_report(c, tmp_path / "file")
    (tmp_path / "rep").mkdir()
    (tmp_path / "rep" / "report.md").symlink_to(tmp_path / "elsewhere.md")
    with pytest.raises(UsageError, match="symbolic link"):
        write_report(c, tmp_path / "rep")
    assert not (tmp_path / "elsewhere.md").exists()


def test_an_unknown_id_with_no_runs_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(RunNotFoundError):
        gather(["nosuchrun"], state=tmp_path)
    with pytest.raises(RunRecordError):
        gather([str(tmp_path)], state=tmp_path)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "fifo", "huge-length"])
def test_a_damaged_event_file_gives_no_times_and_never_hangs(tmp_path: Path, damage: str) -> None:
    d = exp_folder(tmp_path, "exp", [0], [0.1, 0.2, 0.3], epoch_s=5.0)
    events = next(d.glob("events.out.tfevents.*"))
    raw = events.read_bytes()
    events.unlink()
    if damage == "fifo":
        os.mkfifo(events)
    elif damage == "garbage":
        events.write_bytes(os.urandom(4096))
    elif damage == "truncated":
        events.write_bytes(raw[: len(raw) - 30])  # the last epoch's record cut: the earlier ones still count
    else:
        events.write_bytes((1 << 62).to_bytes(8, "little") + b"\0" * 64)
    s = summarize_yolov5_folder(d)
    if damage == "truncated":
        assert s.epoch_seconds == pytest.approx((5.0,))
    else:
        assert s.epoch_seconds == () and s.total_seconds is None
    assert s.final("mAP50") == pytest.approx(0.3)  # results.csv still read
