"""After a run: are the frozen parameters in the produced weights exactly the input's?

Both files are read with the safe reader (no torch.load, no torch at all): the user's checkpoint
and train.py's ``last.pt``. train.py saves fp16 (the EMA copy, after ``strip_optimizer``), so
input values are cast to the saved dtype before comparing; equality is then exact.
With the BatchNorm policy on, the running statistics of frozen BN layers are checked too.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yolofreeze.core.checkpoint.reader import ModelInfo, TensorInfo, read_checkpoint, read_tensor_bytes
from yolofreeze.core.checkpoint.safepickle import DTYPE_SIZES, check_view
from yolofreeze.core.errors import CheckpointError
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

    if t.location is None:
        raise CheckpointError(f"{path}: tensor {t.name} has no stored data")
    loc = t.location
    # The view was checked when the file was read; check again against the bytes actually read,
    # because as_strided reads wherever the strides point: past the buffer is foreign memory.
    dt = t.dtype if loc.storage_dtype == "uint8" and t.dtype != "uint8" else loc.storage_dtype
    if dt not in _NP and dt != "bfloat16":
        raise CheckpointError(f"{path}: tensor {t.name}: dtype {dt} is not supported by the check")
    why = check_view(loc.offset, t.shape, loc.stride, DTYPE_SIZES[dt], loc.storage_nbytes)
    if why is not None:
        raise CheckpointError(f"{path}: tensor {t.name}: {why}")
    raw = read_tensor_bytes(path, t)
    usable = len(raw) - len(raw) % DTYPE_SIZES[dt]
    if dt == "bfloat16":
        flat = (np.frombuffer(raw[:usable], "<u2").astype("<u4") << 16).view("<f4")
    else:
        flat = np.frombuffer(raw[:usable], _NP[dt])
    item = flat.itemsize
    view = np.lib.stride_tricks.as_strided(
        flat[loc.offset :], shape=t.shape, strides=tuple(s * item for s in loc.stride)
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
    frozen_values: int = 0  # parameters (numbers) in the frozen tensors
    unchanged_why: str = ""  # why some trainable tensors can show no change; "{n}" is their count
    phases: tuple[dict[str, Any], ...] = ()  # a schedule's per-phase checks (PhaseCheck.to_json)

    @property
    def ok(self) -> bool:
        whole = self.frozen_equal == self.frozen_checked and self.bn_equal == self.bn_checked
        return whole and all(p["ok"] for p in self.phases)

    @property
    def summary(self) -> str:
        head = "PASS" if self.ok else "FAIL"
        bn = (
            f"; BN running stats of frozen layers {self.bn_equal}/{self.bn_checked} tensors unchanged"
            if self.bn_policy
            else "; BN policy off (running stats not checked)"
        )
        bad = f"; changed: {', '.join(self.mismatched[:3])}" if self.mismatched else ""
        badbn = f"; BN changed: {', '.join(self.bn_mismatched[:3])}" if self.bn_mismatched else ""
        still = self.trainable_total - self.trainable_changed
        why = f" ({self.unchanged_why.format(n=still)})" if still and self.unchanged_why else ""
        phases = ""
        if self.phases:
            phases = "; per phase: " + ", ".join(
                f"{p['phase']} (epochs {p['epochs']}) {'PASS' if p['ok'] else 'FAIL'}" for p in self.phases
            )
        whole = f"{self.frozen_equal}/{self.frozen_checked} frozen tensors ({self.frozen_values:,} parameters)"
        if self.phases and not self.frozen_checked:
            whole = "no tensor stayed frozen the whole run; last.pt"
        return (
            f"{head}: {whole} identical to the input{bn}; {self.trainable_changed}/{self.trainable_total} "
            f"trainable tensors changed{why}{bad}{badbn}{phases}"
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
        sum(t.numel for t in input_info.parameters if t.name in frozen),
    )


def input_digest(path: str | Path, t: TensorInfo) -> str:
    """The runner's ``tensor_digest`` of this tensor of the input file: sha256 of little-endian float32."""
    import hashlib

    import numpy as np

    a = np.ascontiguousarray(tensor_array(path, t).astype("<f4"))
    return hashlib.sha256(a.tobytes()).hexdigest()[:24]


@dataclass(frozen=True)
class PhaseCheck:
    """One phase of a schedule, between the snapshots taken when it started and when it ended."""

    phase: int
    epochs: str  # "0-1"
    frozen_checked: int
    frozen_unchanged: int
    changed_frozen: tuple[str, ...]
    bn_checked: int
    bn_unchanged: int
    input_checked: int  # frozen since epoch 0: compared with the input file at the phase's end
    input_equal: int
    trainable_total: int
    trainable_changed: int
    released_total: int  # frozen in the phase before, trainable in this one
    released_changed: int

    @property
    def ok(self) -> bool:
        return (
            self.frozen_unchanged == self.frozen_checked
            and self.bn_unchanged == self.bn_checked
            and self.input_equal == self.input_checked
            and (self.trainable_total == 0 or self.trainable_changed > 0)
        )

    @property
    def line(self) -> str:
        released = (
            f"; {self.released_changed}/{self.released_total} tensors unfrozen here changed"
            if self.released_total
            else ""
        )
        return (
            f"phase {self.phase} (epochs {self.epochs}) {'PASS' if self.ok else 'FAIL'}: "
            f"{self.frozen_unchanged}/{self.frozen_checked} frozen tensors unchanged, "
            f"{self.input_equal}/{self.input_checked} equal to the input at its end, "
            f"BN stats {self.bn_unchanged}/{self.bn_checked} unchanged; "
            f"{self.trainable_changed}/{self.trainable_total} trainable tensors changed{released}"
        )

    def to_json(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self) | {"ok": self.ok, "line": self.line}


def phase_checks(
    phases_doc: dict[str, Any], schedule_doc: dict[str, Any], input_path: str, info: ModelInfo
) -> list[PhaseCheck]:
    """Per phase: frozen tensors (and BN stats of eval-mode layers) equal at its start and end, trainable ones moved."""
    snaps = [x for x in phases_doc.get("snapshots", []) if isinstance(x, dict)]
    plan = schedule_doc.get("phases", [])
    by_name = {t.name: t for t in info.parameters}
    digest_cache: dict[str, str] = {}

    def from_input(name: str) -> str | None:
        if name not in digest_cache and name in by_name:
            digest_cache[name] = input_digest(input_path, by_name[name])
        return digest_cache.get(name)

    out: list[PhaseCheck] = []
    for a, b in itertools.pairwise(snaps):
        i = a.get("phase")
        if not isinstance(i, int) or not 0 <= i < len(plan):
            continue
        frozen = set(plan[i]["frozen"])
        before = set(plan[i - 1]["frozen"]) if i else set()
        since_start = set.intersection(*(set(p["frozen"]) for p in plan[: i + 1]))
        pa, pb = a["params"], b["params"]
        bad = [n for n in sorted(frozen) if pa.get(n) != pb.get(n)]
        bn_names = [f"{m}.{s}" for m in a.get("bn_eval", []) for s in ("running_mean", "running_var")]
        bn_same = sum(1 for n in bn_names if a["bn"].get(n) == b["bn"].get(n))
        at_input = sorted(since_start)
        input_equal = sum(1 for n in at_input if pb.get(n) == from_input(n))
        trainable = [n for n in pa if n not in frozen]
        released = [n for n in trainable if n in before]
        end = int(b["before_epoch"]) - 1
        out.append(
            PhaseCheck(
                i,
                f"{a['before_epoch']}-{end}",
                len(frozen),
                len(frozen) - len(bad),
                tuple(bad[:10]),
                len(bn_names),
                bn_same,
                len(at_input),
                input_equal,
                len(trainable),
                sum(1 for n in trainable if pa.get(n) != pb.get(n)),
                len(released),
                sum(1 for n in released if pa.get(n) != pb.get(n)),
            )
        )
    return out


def optimizer_steps(batch: int, batches_per_epoch: int, epochs: int, warmup_epochs: float = 3.0) -> int:
    """Optimizer steps train.py makes: accumulate = 64/batch, ramped up from 1 over the warm-up iterations."""
    import numpy as np

    nbs, total = 64, batches_per_epoch * epochs
    nw = max(round(warmup_epochs * batches_per_epoch), 100)
    steps, last = 0, -1
    for ni in range(min(total, nw + 1)):
        acc = max(1, float(np.interp(ni, [0, nw], [1, nbs / batch]).round()))
        if ni - last >= acc:
            steps, last = steps + 1, ni
    if total > nw + 1:  # past the warm-up: one step every `accumulate` batches
        acc_i = max(round(nbs / batch), 1)
        first = last + acc_i
        steps += max(0, (total - first + acc_i - 1) // acc_i)
    return steps


def _unchanged_why(config: dict[str, Any], progress: dict[str, Any]) -> str:
    """Why trainable tensors can show no change in last.pt (fp16) after a short run: few, small steps."""
    steps = ""
    try:
        batch = int(config["train_kwargs"]["batch_size"])
        n = optimizer_steps(batch, int(progress["batches"]), int(progress["epoch"]) + 1)
        steps = f"this run made {n} optimizer step{'s' if n != 1 else ''}, "
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        pass
    return (
        "the other {n} did not move by one fp16 step in last.pt: "
        + steps
        + "and yolov5's warm-up starts weights at lr 0 (biases high)"
    )


def verify_run_dir(run_dir: Path) -> Verdict:
    """Check a finished run's last.pt against its input (and each phase of a schedule); write ``verify.json``."""
    config = read_json(run_dir / "config.json") or {}
    status = read_json(run_dir / "status.json") or {}
    applied = read_json(run_dir / "frozen-applied.json") or {}
    schedule = read_json(run_dir / "schedule.json")
    phases_doc = read_json(run_dir / "phases.json") or {}
    save_dir = status.get("save_dir")
    if not save_dir:
        raise FileNotFoundError("the run never got as far as creating its save_dir")
    last = Path(save_dir) / "weights" / "last.pt"
    if not last.is_file():
        raise FileNotFoundError(f"{last} not found (did the run finish an epoch?)")
    frozen = set((run_dir / "frozen.txt").read_text(encoding="utf-8").split())
    bn_modules = list(applied.get("bn_eval", []))
    if schedule:  # last.pt can only vouch for what stayed frozen (and in eval) the whole run
        frozen = set.intersection(*(set(p["frozen"]) for p in schedule["phases"]))
        lists = [set(s.get("bn_eval", [])) for s in phases_doc.get("snapshots", []) if s.get("phase") is not None]
        bn_modules = sorted(set.intersection(*lists)) if lists else []
    src = config["checkpoint"]
    info = read_checkpoint(src)
    v = verify(src, info, str(last), frozen, bn_modules)
    if not applied.get("policy", True):
        v = Verdict(**{**v.__dict__, "bn_policy": False})
    elif applied.get("policy"):
        v = Verdict(**{**v.__dict__, "bn_policy": True})
    extra: dict[str, Any] = {"unchanged_why": _unchanged_why(config, read_json(run_dir / "progress.json") or {})}
    if schedule:
        extra["phases"] = tuple(c.to_json() for c in phase_checks(phases_doc, schedule, src, info))
    v = Verdict(**{**v.__dict__, **extra})
    write_json_atomic(run_dir / "verify.json", v.to_json())
    return v


def read_verdict(run_dir: Path) -> dict[str, Any] | None:
    return read_json(run_dir / "verify.json")
