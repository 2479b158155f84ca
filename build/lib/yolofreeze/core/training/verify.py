"""After a run: are the frozen parameters in the produced weights exactly the input's?

Both files are read with the safe reader (no torch.load, no torch at all): the user's checkpoint
and train.py's ``last.pt``. train.py saves fp16 (the EMA copy, after ``strip_optimizer``), so
input values are cast to the saved dtype before comparing; equality is then exact.
With the BatchNorm policy on, the running statistics of frozen BN layers are checked too.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yolofreeze.core.checkpoint.reader import ModelInfo, TensorInfo, read_checkpoint, read_tensor_bytes
from yolofreeze.core.training.runs import read_json, write_json_atomic

_NP = {
    "float64": "<f8",
    "float32": "<f4",
    "float16": "<f2",
    "int64": "<i8",
    "int32": "<i4",
    "int16": "<i2",
    "int8": "i1",
    "uint8": "u1",
    "bool": "?",
}


def tensor_array(path: str | Path, t: TensorInfo) -> Any:
    """The tensor as a numpy array (bfloat16 widened to float32), from its storage bytes."""
    import numpy as np

    assert t.location is not None
    raw = read_tensor_bytes(path, t)
    dt = t.location.storage_dtype
    if dt == "bfloat16":
        flat = (np.frombuffer(raw, "<u2").astype("<u4") << 16).view("<f4")
    else:
        flat = np.frombuffer(raw, _NP[dt])
    item = flat.itemsize
    view = np.lib.stride_tricks.as_strided(
        flat[t.location.offset :], shape=t.shape, strides=tuple(s * item for s in t.location.stride)
    )
    return np.array(view)


@dataclass(frozen=True)
class Verdict:
    weights: str  # the file checked (last.pt)
    frozen_checked: int
    frozen_equal: int
    mismatched: tuple[str, ...]  # first few names that changed
    max_abs_diff: float
    bn_checked: int  # running_mean/var tensors of frozen BN layers (0 with the policy off)
    bn_equal: int
    bn_mismatched: tuple[str, ...]
    trainable_changed: int  # informative: training did move the rest
    trainable_total: int
    bn_policy: bool

    @property
    def ok(self) -> bool:
        return self.frozen_equal == self.frozen_checked and self.bn_equal == self.bn_checked

    @property
    def summary(self) -> str:
        head = "PASS" if self.ok else "FAIL"
        bn = (
            f"; BN running stats of frozen layers {self.bn_equal}/{self.bn_checked} unchanged"
            if self.bn_policy
            else "; BN policy off (running stats not checked)"
        )
        bad = f"; changed: {', '.join(self.mismatched[:3])}" if self.mismatched else ""
        badbn = f"; BN changed: {', '.join(self.bn_mismatched[:3])}" if self.bn_mismatched else ""
        return (
            f"{head}: {self.frozen_equal}/{self.frozen_checked} frozen parameters identical to the input"
            f"{bn}; {self.trainable_changed}/{self.trainable_total} trainable parameters changed{bad}{badbn}"
        )

    def to_json(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self) | {"ok": self.ok, "summary": self.summary}


def verify(
    input_path: str, input_info: ModelInfo, output_path: str, frozen: set[str], bn_modules: list[str]
) -> Verdict:
    import numpy as np

    out = read_checkpoint(output_path)
    out_t = {t.name: t for t in (*out.parameters, *out.buffers)}
    in_t = {t.name: t for t in (*input_info.parameters, *input_info.buffers)}

    def same(name: str) -> tuple[bool, float]:
        a, b = in_t.get(name), out_t.get(name)
        if a is None or b is None or a.shape != b.shape:
            return False, float("inf")
        x = tensor_array(input_path, a)
        y = tensor_array(output_path, b)
        x = x.astype(y.dtype)  # train.py saves fp16: compare in the saved precision
        if x.size == 0:
            return True, 0.0
        diff = float(np.max(np.abs(x.astype("f8") - y.astype("f8"))))
        return bool(np.array_equal(x, y)), diff

    eq = 0
    bad: list[str] = []
    worst = 0.0
    for name in sorted(frozen):
        ok, d = same(name)
        worst = max(worst, d)
        if ok:
            eq += 1
        else:
            bad.append(name)
    bn_names = [f"{m}.{s}" for m in bn_modules for s in ("running_mean", "running_var")]
    bn_eq = 0
    bn_bad = []
    for name in bn_names:
        if same(name)[0]:
            bn_eq += 1
        else:
            bn_bad.append(name)
    trainable = [p.name for p in input_info.parameters if p.name not in frozen]
    changed = sum(1 for n in trainable if not same(n)[0])
    return Verdict(
        output_path,
        len(frozen),
        eq,
        tuple(bad[:10]),
        worst,
        len(bn_names),
        bn_eq,
        tuple(bn_bad[:10]),
        changed,
        len(trainable),
        bool(bn_modules) or False,
    )


def verify_run_dir(run_dir: Path) -> Verdict:
    """Check a finished run's last.pt against its input and write ``verify.json``."""
    config = read_json(run_dir / "config.json") or {}
    status = read_json(run_dir / "status.json") or {}
    applied = read_json(run_dir / "frozen-applied.json") or {}
    save_dir = status.get("save_dir")
    if not save_dir:
        raise FileNotFoundError("the run never got as far as creating its save_dir")
    last = Path(save_dir) / "weights" / "last.pt"
    if not last.is_file():
        raise FileNotFoundError(f"{last} not found (did the run finish an epoch?)")
    frozen = set((run_dir / "frozen.txt").read_text(encoding="utf-8").split())
    src = config["checkpoint"]
    v = verify(src, read_checkpoint(src), str(last), frozen, list(applied.get("bn_eval", [])))
    if not applied.get("policy", True):
        v = Verdict(**{**v.__dict__, "bn_policy": False})
    elif applied.get("policy"):
        v = Verdict(**{**v.__dict__, "bn_policy": True})
    write_json_atomic(run_dir / "verify.json", v.to_json())
    return v


def read_verdict(run_dir: Path) -> dict[str, Any] | None:
    return read_json(run_dir / "verify.json")
