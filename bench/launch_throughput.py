"""Training throughput through the launcher against plain ``python -m yolov5.train``, same args, on CPU.

Both train yolov5n from the same rebuilt checkpoint on the same generated dataset. The training
loop's time is taken from when "Starting training" appears in the output until "epochs completed"
appears (both include per-epoch validation and checkpoint saves, identical in both). Imports are
excluded: they are the same yolov5 import in both. Target: launcher >= 0.98x plain.

Usage: python bench/launch_throughput.py [EPOCHS] [IMAGES]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from yolofreeze.core.paths import cache_dir  # noqa: E402
from yolofreeze.core.training.child.offline import prepare_config_dir  # noqa: E402
from yolofreeze.core.training.dataset import make_dataset  # noqa: E402
from yolofreeze.core.training.launch import LaunchOptions, launch  # noqa: E402
from yolofreeze.core.training.runs import read_json, run_status  # noqa: E402

START, END = "Starting training for", "epochs completed in"


def loop_time_from_stream(lines: list[tuple[float, str]]) -> float:
    t0 = next(t for t, ln in lines if START in ln)
    t1 = next(t for t, ln in lines if END in ln)
    return t1 - t0


def follow_file(path: Path, done: object) -> list[tuple[float, str]]:
    out: list[tuple[float, str]] = []
    pos = 0
    buf = ""
    while True:
        with open(path, encoding="utf-8", errors="replace") as f:
            f.seek(pos)
            chunk = f.read()
            pos = f.tell()
        now = time.monotonic()
        buf += chunk
        *complete, buf = buf.split("\n")
        out += [(now, ln) for ln in complete]
        if done():  # type: ignore[operator]
            return [*out, (now, buf)]
        time.sleep(0.05)


def main() -> int:
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 48
    tmp = Path(tempfile.mkdtemp(prefix="yf-bench-"))
    data = make_dataset(tmp / "ds", n_train=n, n_val=8, size=128)
    ckpt = ROOT / ".cache" / "ckpt" / "yolov5n.pt"
    if not ckpt.is_file():
        from tests.conftest import _cache_dir

        ckpt = _cache_dir() / "yolov5n.pt"
    common = dict(epochs=epochs, batch=8, img=128, device="cpu", workers=0, plots=False)

    opts = LaunchOptions(str(ckpt), str(data), frozenset(), project=str(tmp / "proj"), name="launcher", **common)
    rec = launch(opts, state=tmp / "state")
    lines = follow_file(Path(rec.log), lambda: run_status(rec).ended)
    st = run_status(rec)
    assert st.state == "finished", st.detail
    t_launcher = loop_time_from_stream(lines)

    # Plain train.py, given what it needs to run offline on today's releases (see core/offline.py):
    # our rebuilt checkpoint (a file we produced) and a config dir with the font.
    env = dict(
        os.environ,
        TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1",
        HF_HUB_OFFLINE="1",
        YOLO_OFFLINE="1",
        PYTHONUNBUFFERED="1",
        YOLOV5_CONFIG_DIR=str(prepare_config_dir(cache_dir() / "yolov5-config")),
    )
    kw = (read_json(rec.dir / "config.json") or {})["train_kwargs"]
    cmd = [
        sys.executable,
        "-m",
        "yolov5.train",
        "--weights",
        kw["weights"],
        "--data",
        kw["data"],
        "--epochs",
        str(epochs),
        "--batch-size",
        "8",
        "--imgsz",
        "128",
        "--device",
        "cpu",
        "--workers",
        "0",
        "--noplots",
        "--project",
        str(tmp / "proj"),
        "--name",
        "plain",
    ]
    plain: list[tuple[float, str]] = []
    with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as p:
        assert p.stdout is not None
        for ln in p.stdout:
            plain.append((time.monotonic(), ln))
    assert p.returncode == 0, "".join(x for _, x in plain[-20:])
    t_plain = loop_time_from_stream(plain)
    batches = epochs * ((n + 7) // 8)
    print(
        f"CPU, yolov5n, {n} images at 128 px, batch 8, {epochs} epochs ({batches} batches), workers 0, "
        f"{os.cpu_count()} CPUs"
    )
    print(f"plain python -m yolov5.train: training loop {t_plain:.1f} s ({batches / t_plain:.2f} batches/s)")
    print(f"through the launcher:         training loop {t_launcher:.1f} s ({batches / t_launcher:.2f} batches/s)")
    print(f"throughput ratio launcher/plain: {t_plain / t_launcher:.3f}x (target >= 0.98x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
