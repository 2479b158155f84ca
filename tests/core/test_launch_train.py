"""Real YOLOv5 trainings on the CPU through the launcher (yolov5n, 64 px, 1 epoch, 8 images), offline.

Each run takes ~20-40 s here, most of it importing yolov5. Every run has the network guard on:
any non-loopback connect or DNS lookup inside the training would be written to
network-attempts.log (and fail), and the tests require that file to be absent.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.core.launch_helpers import fast_options, wait_end
from tests.waiting import wait_for
from yolofreeze.core.checkpoint.reader import read_checkpoint
from yolofreeze.core.plan.freeze import FreezePlan, preset
from yolofreeze.core.training.dataset import make_dataset
from yolofreeze.core.training.runs import RunRecord, find_run, list_runs, read_json, read_results
from yolofreeze.core.training.verify import tensor_array
from yolofreeze.tui.commands.attach import follow_plain

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("ds"), n_train=8, n_val=4, size=64)


def sublayer_plan(ckpt: Path) -> FreezePlan:
    """Whole layers 0-3, one sub-module of layer 6, one conv weight without its BN, half a BN."""
    info = read_checkpoint(ckpt)
    names = {p.name for p in info.parameters}
    chosen = set(preset(info, "first:4").frozen)
    chosen |= {n for n in names if n.startswith("model.6.cv1.")}
    chosen |= {"model.8.cv2.conv.weight", "model.7.bn.weight"}
    return FreezePlan(info, frozenset(chosen))


def test_detached_run_survives_its_launcher_and_freezes_exactly(yolov5n: Path, data: Path, tmp_path: Path) -> None:
    plan = sublayer_plan(yolov5n)
    state = tmp_path / "state"
    opts = fast_options(yolov5n, data, plan.frozen, tmp_path / "proj")
    # Launch from a separate process, then kill it at once: the training must not care.
    code = (
        "import sys, os, pickle; from pathlib import Path; from yolofreeze.core.training.launch import launch; "
        "o = pickle.loads(bytes.fromhex(sys.argv[1])); r = launch(o, state=Path(sys.argv[2])); "
        "print(r.run_id, flush=True); os.kill(os.getpid(), 9)"
    )
    import pickle

    p = subprocess.run(
        [sys.executable, "-c", code, pickle.dumps(opts).hex(), str(state)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == -signal.SIGKILL
    run_id = p.stdout.strip()
    record = find_run(run_id, state)

    # Re-attach as a new process would: the whole log from its first line, then the ending.
    out = io.StringIO()
    status = follow_plain(record, out, poll=0.3)
    text = out.getvalue()
    assert status.state == "finished", text[-3000:]
    assert text.startswith("yolofreeze: supervisor")
    assert f"froze exactly {len(plan.frozen)} of 177 parameters" in text
    assert "frozen-weights check: PASS" in text

    run_dir = record.dir
    assert not (run_dir / "network-attempts.log").exists(), (run_dir / "network-attempts.log").read_text()
    applied = read_json(run_dir / "frozen-applied.json")
    assert applied is not None
    assert set(applied["requires_grad_false"]) == set(plan.frozen)
    # BN in eval: exactly the BN layers whose weight and bias are both frozen (model.7.bn is half frozen).
    expected_bn = sorted(
        {
            n.rsplit(".", 1)[0]
            for n in plan.frozen
            if n.endswith(".bn.weight") and n.replace(".weight", ".bias") in plan.frozen
        }
    )
    assert sorted(applied["bn_eval"]) == expected_bn and "model.7.bn" not in expected_bn

    verdict = read_json(run_dir / "verify.json")
    assert verdict is not None and verdict["ok"], verdict
    assert verdict["frozen_checked"] == len(plan.frozen) and verdict["bn_checked"] == 2 * len(expected_bn)
    # Next to the frozen parts, the same layers' trainable parameters did move.
    last = Path(status.save_dir or "") / "weights" / "last.pt"
    src, out_info = read_checkpoint(yolov5n), read_checkpoint(last)
    # train.py copied the YAML we built from (the gate's copy) into last.pt: it passes the gate again
    assert not out_info.hostile and out_info.yaml_problems == () and out_info.yaml is not None
    a = {t.name: t for t in src.parameters}
    b = {t.name: t for t in out_info.parameters}
    for name in ("model.8.cv2.bn.bias", "model.7.bn.bias"):
        assert (tensor_array(yolov5n, a[name]) != tensor_array(last, b[name])).any(), name
    head, rows = read_results(status.save_dir)
    assert len(rows) == 1 and "metrics/mAP_0.5" in head
    assert (run_dir / "input.pt").is_file() and record.checkpoint == str(yolov5n.resolve())
    # the trainer read the copy stored once for this content; the run folder links it
    shared = run_dir.parent.parent / "inputs" / f"{record.checkpoint_sha256}.pt"
    assert (run_dir / "input.pt").samefile(shared)
    assert record.options["frozen_params"] == plan.counts.frozen_params  # shown beside the tensor count


def test_cli_foreground_run_with_bn_policy_off(yolov5n: Path, data: Path, tmp_path: Path) -> None:
    env = dict(os.environ, YOLOFREEZE_STATE_DIR=str(tmp_path / "state"))
    cmd = [
        sys.executable,
        "-m",
        "yolofreeze.tui.cli",
        "train",
        str(yolov5n),
        "--data",
        str(data),
        "--preset",
        "backbone",
        "--epochs",
        "1",
        "--batch",
        "4",
        "--img",
        "64",
        "--device",
        "cpu",
        "--workers",
        "0",
        "--project",
        str(tmp_path / "proj"),
        "--name",
        "cli",
        "--no-bn-eval",
        "--no-plots",
    ]
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert "BatchNorm policy off" in p.stdout
    assert "frozen-weights check: PASS" in p.stdout and "BN policy off" in p.stdout
    # `train` stored a prediction for exactly what it launched (estimated in the estimate child)
    assert "predicting GPU memory for batch 4 @ 64 px, 1 GPU" in p.stderr and "predicted: nvidia-smi" in p.stderr
    (rec,) = list_runs(tmp_path / "state")
    assert rec.prediction["config"] == {
        "batch": 4, "per_gpu_batch": 4, "img": 64, "optimizer": "SGD", "gpus": 1, "amp": False
    }  # fmt: skip
    assert rec.predicted_nvidia_smi == rec.prediction["run"]["nvidia_smi"] >= rec.prediction["step"]["nvidia_smi"] > 0
    # With the policy off, frozen layers' BN running stats follow the data (train.py's behaviour).
    last = tmp_path / "proj" / "cli" / "weights" / "last.pt"
    src, out = read_checkpoint(yolov5n), read_checkpoint(last)
    a = {t.name: t for t in src.buffers}
    b = {t.name: t for t in out.buffers}
    name = "model.0.bn.running_mean"
    assert (tensor_array(yolov5n, a[name]).astype("f2") != tensor_array(last, b[name])).any()


def test_real_crash_is_classified_with_its_last_lines(yolov5n: Path, data: Path, tmp_path: Path) -> None:
    """A hyp file our check accepts (it has lr0) but train.py cannot use: a real failing training."""
    from yolofreeze.core.training.launch import launch

    hyp = tmp_path / "hyp.yaml"
    hyp.write_text("lr0: 0.01\nlrf: 0.01\n")
    info = read_checkpoint(yolov5n)
    rec = launch(
        fast_options(yolov5n, data, preset(info, "backbone").frozen, tmp_path / "p", hyp=str(hyp)),
        state=tmp_path / "state",
    )
    # the record says what was frozen: the count and the plan in train.py's prefix terms
    saved = RunRecord.load(rec.dir)
    assert saved.frozen_tensors == len(preset(info, "backbone").frozen)
    assert saved.frozen_prefixes == tuple(f"model.{i}." for i in range(10))
    st = wait_end(rec)
    assert st.state == "crashed" and st.exit_code == 1
    assert "KeyError" in st.detail
    assert any("Traceback" in ln for ln in st.last_lines) or any("KeyError" in ln for ln in st.last_lines)
    assert json.loads((rec.dir / "status.json").read_text())["ending"] == "crashed"


def test_stop_a_real_run(yolov5n: Path, data: Path, tmp_path: Path) -> None:
    from yolofreeze.core.training.launch import launch
    from yolofreeze.core.training.runs import process_alive, stop_run

    info = read_checkpoint(yolov5n)
    rec = launch(
        fast_options(yolov5n, data, preset(info, "backbone").frozen, tmp_path / "p", epochs=50),
        state=tmp_path / "state",
    )
    # Stop while train.py is being imported: the runner is inside its try block by then.
    wait_for(lambda: (rec.dir / "status.json").is_file(), 60, "the runner's status.json")
    assert stop_run(rec, grace_int=30) == "SIGINT"
    st = wait_end(rec, 10)
    assert st.state == "stopped" and not process_alive(rec.pid, rec.pid_create_time)
    assert (read_json(rec.dir / "exit.json") or {})["returncode"] == 130
