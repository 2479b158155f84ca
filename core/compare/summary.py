"""One run, read into what a comparison needs: cost (parameters, memory, time) and outcome (mAP, losses).

Two kinds of run are read: ours (a run record under the state dir, its yolov5 save_dir) and a
plain yolov5 ``runs/train/expN`` folder (results.csv, opt.yaml, weights/). Everything is
untrusted: results.csv through ``runs.read_results`` (bounded), opt.yaml through
``dataset.load_yaml_file`` (bounded, alias bombs refused), checkpoints through the safe reader,
record files through the run-record checks. A path that is a FIFO or a device is refused before
a byte is read. What cannot be known is None, shown as N/A, never guessed.
"""

from __future__ import annotations

import itertools
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yolofreeze.core.checkpoint.reader import ModelInfo, read_checkpoint
from yolofreeze.core.compare.tfevents import epoch_end_times
from yolofreeze.core.errors import CheckpointError, RunRecordError
from yolofreeze.core.safeio import describe_mode, read_limited
from yolofreeze.core.training.dataset import YamlRefused, load_yaml_file
from yolofreeze.core.training.runs import RunRecord, read_json, read_progress, read_results, run_status

OPT_YAML_LIMIT = 256 * 1024  # a real opt.yaml is ~2 KiB
FROZEN_LIST_LIMIT = 16 << 20

MAP50 = "metrics/mAP_0.5"
MAP = "metrics/mAP_0.5:0.95"
LOSSES = ("train/box_loss", "train/obj_loss", "train/cls_loss")
CURVES = {"mAP50": MAP50, "mAP50-95": MAP, **{c.split("/")[1]: c for c in LOSSES}}


@dataclass(frozen=True)
class RunSummary:
    label: str  # the plan's name: our run's name, or "expN (--freeze 10)"
    source: str  # where it was read from: a run id or a folder
    kind: str  # "yolofreeze" or "yolov5"
    state: str  # finished, stopped, running … ("unknown" for a plain folder)
    save_dir: str | None
    total_params: int | None = None
    trainable_params: int | None = None
    predicted_peak: int | None = None  # bytes, torch reserved, from our estimate at launch
    observed_peak: int | None = None  # bytes, torch max reserved during training (yolov5's GPU_mem)
    epoch_seconds: tuple[float, ...] = ()
    total_seconds: float | None = None
    curves: dict[str, tuple[float, ...]] = field(default_factory=dict)  # CURVES' keys, one value per epoch
    check: str | None = None  # the frozen-weights check: "PASS" / "FAIL", None when not run
    notes: tuple[str, ...] = ()  # what could not be read, one line each

    @property
    def epochs(self) -> int:
        return len(self.curves.get("mAP50", ()))

    @property
    def frozen_fraction(self) -> float | None:
        if self.total_params is None or self.trainable_params is None or not self.total_params:
            return None
        return 1.0 - self.trainable_params / self.total_params

    @property
    def mean_epoch_seconds(self) -> float | None:
        return sum(self.epoch_seconds) / len(self.epoch_seconds) if self.epoch_seconds else None

    def best(self, key: str) -> float | None:
        values = self.curves.get(key, ())
        return max(values) if values else None

    def final(self, key: str) -> float | None:
        values = self.curves.get(key, ())
        return values[-1] if values else None

    @property
    def final_train_loss(self) -> float | None:
        finals = [self.final(k.split("/")[1]) for k in LOSSES]
        return sum(f for f in finals if f is not None) if any(f is not None for f in finals) else None


def _not_a_folder(path: Path) -> str | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "not found"
    except OSError as e:
        return e.strerror or str(e)
    return None if stat.S_ISDIR(st.st_mode) else describe_mode(st.st_mode)


def _curves(save_dir: str | Path | None) -> dict[str, tuple[float, ...]]:
    head, rows = read_results(save_dir)
    out: dict[str, tuple[float, ...]] = {}
    for key, column in CURVES.items():
        if column in head:
            i = head.index(column)
            out[key] = tuple(r[i] for r in rows if i < len(r))
    return out


def _times(save_dir: Path, started: float | None) -> tuple[tuple[float, ...], float | None]:
    """Per-epoch seconds from the event file's epoch stamps; the first epoch only when the start is known."""
    logging_began, ends = epoch_end_times(save_dir)
    if not ends:
        return (), None
    start = started if started is not None else None
    seconds = [b - a for a, b in itertools.pairwise(ends)]
    if start is not None and ends[0] >= start:
        seconds.insert(0, ends[0] - start)
    begin = start if start is not None else logging_began
    total = ends[-1] - begin if begin is not None else None
    if not seconds and total is not None:
        seconds = [total]  # one epoch, from the event file's own start (includes yolov5's setup)
    return tuple(seconds), total


def _param_counts(info: ModelInfo, frozen: set[str]) -> tuple[int, int]:
    total = sum(p.numel for p in info.parameters)
    return total, total - sum(p.numel for p in info.parameters if p.name in frozen)


def _first_readable(paths: list[Path]) -> ModelInfo | None:
    for p in paths:
        try:
            info = read_checkpoint(p)
        except (CheckpointError, OSError):
            continue
        if info.parameters:
            return info
    return None


def yolov5_frozen(info: ModelInfo, freeze: list[int]) -> set[str]:
    """train.py's rule for ``--freeze``: one number N freezes layers 0..N-1, several name the layers."""
    layers = freeze if len(freeze) > 1 else list(range(freeze[0] if freeze else 0))
    prefixes = [f"model.{i}." for i in layers]
    return {p.name for p in info.parameters if any(x in p.name for x in prefixes)}


def summarize_record(record: RunRecord, label: str | None = None) -> RunSummary:
    """Our run: the record's numbers, the save_dir's results and event file, verify.json's verdict."""
    status = run_status(record)
    notes: list[str] = []
    save_dir = status.save_dir
    progress = read_progress(record.dir)
    total = trainable = None
    try:
        frozen = set(read_limited(record.dir / "frozen.txt", FROZEN_LIST_LIMIT).decode("utf-8", "replace").split())
    except OSError:
        notes.append("frozen.txt unreadable: trainable parameters unknown")
    else:
        # what trained (the save_dir's weights, with the data's class count) before what was given
        candidates = [Path(save_dir) / "weights" / "last.pt"] if save_dir else []
        info = _first_readable([*candidates, record.dir / "input.pt", Path(record.checkpoint)])
        if info is not None:
            total, trainable = _param_counts(info, frozen)
        else:
            notes.append("no readable checkpoint: trainable parameters unknown")
    verdict = read_json(record.dir / "verify.json")
    check = None
    if verdict is not None and isinstance(verdict.get("ok"), bool):
        check = "PASS" if verdict["ok"] else "FAIL"
    seconds, total_s = _times(Path(save_dir), progress.started) if save_dir else ((), None)
    return RunSummary(
        label=label or record.name,
        source=record.run_id,
        kind="yolofreeze",
        state=status.state,
        save_dir=save_dir,
        total_params=total,
        trainable_params=trainable,
        predicted_peak=record.predicted_reserved,
        observed_peak=progress.torch_max_reserved,
        epoch_seconds=seconds,
        total_seconds=total_s,
        curves=_curves(save_dir),
        check=check,
        notes=tuple(notes),
    )


def _read_opt(folder: Path, notes: list[str]) -> dict[str, Any]:
    """opt.yaml as train.py wrote it, or {} with a note saying why not."""
    try:
        loaded = load_yaml_file(folder / "opt.yaml", OPT_YAML_LIMIT)
    except FileNotFoundError:
        notes.append("no opt.yaml: the freeze setting is unknown")
        return {}
    except (YamlRefused, OSError) as e:
        notes.append(f"opt.yaml refused: {e}")
        return {}
    except Exception as e:  # yaml.YAMLError: a syntax error in an untrusted file
        notes.append(f"opt.yaml is not valid YAML ({type(e).__name__})")
        return {}
    if isinstance(loaded, dict):
        return loaded
    notes.append("opt.yaml is not a mapping")
    return {}


def _freeze_of(opt: dict[str, Any], notes: list[str]) -> list[int] | None:
    """train.py's --freeze from opt.yaml: an int or a list of ints; None when unknown."""
    raw = opt.get("freeze")
    if isinstance(raw, int) and not isinstance(raw, bool):
        return [raw]
    if isinstance(raw, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in raw):
        return [x for x in raw if 0 <= x < 10_000][:10_000]
    if opt:
        notes.append("opt.yaml has no readable freeze list")
    return None


def _freeze_label(freeze: list[int] | None) -> str:
    if freeze is None:
        return "freeze ?"
    if freeze in ([0], []):
        return "no freeze"
    return f"--freeze {' '.join(map(str, freeze))}"


def summarize_yolov5_folder(folder: Path, checkpoint: str | None = None, label: str | None = None) -> RunSummary:
    """A plain yolov5 ``runs/train/expN``: results.csv, opt.yaml's ``freeze``, a checkpoint for the counts."""
    why = _not_a_folder(folder)
    if why is not None:
        raise RunRecordError(f"{folder}: {why}, not a run folder")
    notes: list[str] = []
    opt = _read_opt(folder, notes)
    freeze = _freeze_of(opt, notes)
    info = _first_readable(
        [Path(checkpoint)] if checkpoint else [folder / "weights" / "last.pt", folder / "weights" / "best.pt"]
    )
    total = trainable = None
    if info is not None and freeze is not None:
        total, trainable = _param_counts(info, yolov5_frozen(info, freeze))
    elif info is None:
        notes.append("no readable checkpoint: trainable parameters unknown")
    what = _freeze_label(freeze)
    name = folder.name if folder.name.isprintable() else ascii(folder.name)
    seconds, total_s = _times(folder, None)
    curves = _curves(folder)
    if not curves:
        notes.append("results.csv missing or unreadable")
    return RunSummary(
        label=label or f"{name} ({what})",
        source=str(folder),
        kind="yolov5",
        state="unknown",
        save_dir=str(folder),
        total_params=total,
        trainable_params=trainable,
        epoch_seconds=seconds,
        total_seconds=total_s,
        curves=curves,
        notes=tuple(notes),
    )
