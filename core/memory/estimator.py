"""Predicted training GPU memory for a freeze plan, per GPU, against the no-freeze baseline.

Public API (the TUI and the CLI code against it):
``TrainConfig`` in, ``MemoryEstimate`` (plan and baseline ``MemoryBreakdown``) out, from
``estimate_memory``; ``max_batch`` answers the largest per-run batch that fits a GPU.

torch and yolov5 are imported only inside the functions that trace (core must import fast).
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from yolofreeze.core.checkpoint.reader import ModelInfo
from yolofreeze.core.checkpoint.yamlgate import gated_cfg
from yolofreeze.core.errors import UsageError, YoloFreezeError
from yolofreeze.core.memory.allocator import PhasePeak, ReplayResult, replay, replay_phases
from yolofreeze.core.memory.kinds import EMA, GRADIENTS, NAMES, TEMPORARIES
from yolofreeze.core.plan.freeze import require_something_to_train
from yolofreeze.core.training import options

MIB = 1 << 20
# What nvidia-smi shows beyond torch's reserved memory: the CUDA context (driver, kernels,
# cuDNN/cuBLAS handles). NOTES-memory.md: ~300-450 MiB on recent drivers; the middle of that
# range until bench/gpu_memory_check.py measures NVML used - reserved on the user's GPU.
CUDA_CONTEXT_BYTES = 384 * MIB
# cuDNN/cuBLAS workspace, requested through the caching allocator but invisible to fake tensors.
# 32 MiB is what yolov5's init_seeds(deterministic=True) asks cuBLAS for
# (CUBLAS_WORKSPACE_CONFIG=:4096:8, 8 x 4 MiB); cuDNN's deterministic conv algorithms need a
# workspace of that order. One constant, calibrated by bench/gpu_memory_check.py, never per case.
WORKSPACE_BYTES = 32 * MIB
# DDP (torch.nn.parallel.DistributedDataParallel, as yolov5's smart_DDP builds it) copies every
# gradient into flat buckets: 1 MiB for the first, then 25 MiB each (its defaults).
DDP_FIRST_BUCKET_BYTES = 1 * MIB
DDP_BUCKET_BYTES = 25 * MIB
# The phases of a run the whole-run figure replays, as ``RunPeak.phase`` names them
PHASE_STEP = "training step"
PHASE_ACCUMULATE = "training step with accumulated gradients"
PHASE_VALIDATION = "validation"
PHASE_AFTER_VALIDATION = "training after validation"


class EstimateCancelled(YoloFreezeError):
    """The caller's ``cancelled()`` turned true while an estimate was being computed."""


class EstimateUnavailable(YoloFreezeError):
    """The checkpoint cannot be traced (no model YAML, a model yolov5 cannot build, no torch)."""


@dataclass(frozen=True)
class TrainConfig:
    batch: int = options.DEFAULTS.batch  # total batch, as train.py's --batch-size (DDP splits it across GPUs)
    img: int = options.DEFAULTS.img
    optimizer: str = options.DEFAULTS.optimizer
    amp: bool = options.DEFAULTS.amp
    gpus: int = options.DEFAULTS.gpus

    @property
    def per_gpu_batch(self) -> int:
        return self.batch // self.gpus

    @property
    def accumulate(self) -> int:
        """train.py's gradient accumulation: changes how often the optimizer steps, not peak memory."""
        return options.accumulate(self.batch)

    def validate(self) -> None:
        """Raise UsageError for options train.py would reject or that make no sense."""
        for why in (
            options.check_batch(self.batch, self.gpus),
            options.check_img(self.img),
            options.check_optimizer(self.optimizer),
        ):
            if why:
                raise UsageError(why)


@dataclass(frozen=True)
class MemoryBreakdown:
    """Bytes on one GPU during epoch 0's training steps; the first seven add up to ``peak_allocated``.

    With accumulate > 1 the peak step is a micro-batch whose forward and backward run with the
    previous micro-batches' gradients alive (train.py zeroes them only after optimizer.step).
    """

    weights: int
    ema: int
    gradients: int
    optimizer: int
    amp_cache: int
    activations: int
    temporaries: int
    peak_allocated: int
    allocator_slack: int
    peak_reserved: int
    cuda_context: int
    # what nvidia-smi lists for the training process: peak reserved + the CUDA context. One name for
    # it everywhere (LaunchOptions/RunRecord.predicted_nvidia_smi; "nvidia-smi" on screen)
    nvidia_smi: int


@dataclass(frozen=True)
class StepFlops:
    """FLOPs of one training iteration as train.py's progress bar counts it: one micro-batch of
    ``per_gpu_batch`` images on one GPU, forward with the loss plus backward (with accumulate > 1
    an optimizer step takes that many iterations). Convolutions and matrix products only
    (torch.utils.flop_counter's formulas); what freezing skips is never counted."""

    forward: int = 0
    backward: int = 0

    @property
    def step(self) -> int:
        return self.forward + self.backward


@dataclass(frozen=True)
class RunPeak:
    """The whole run on one GPU: epoch 0's steps, the validation pass train.py runs after each
    epoch, and training after it, replayed on one allocator. ``phase`` is where reserved memory
    reached its highest (one of the ``PHASE_*`` names)."""

    peak_allocated: int
    peak_reserved: int
    nvidia_smi: int
    phase: str


@dataclass(frozen=True)
class MemoryEstimate:
    """``plan_run`` / ``baseline_run`` are None only from stand-ins that model no run (test fakes)."""

    config: TrainConfig
    plan: MemoryBreakdown
    baseline: MemoryBreakdown
    accumulate: int
    plan_flops: StepFlops = StepFlops()
    baseline_flops: StepFlops = StepFlops()
    plan_run: RunPeak | None = None
    baseline_run: RunPeak | None = None

    @property
    def saved_bytes(self) -> int:
        return self.baseline.peak_reserved - self.plan.peak_reserved

    @property
    def saved_fraction(self) -> float:
        return self.saved_bytes / self.baseline.peak_reserved if self.baseline.peak_reserved else 0.0

    @property
    def step_ratio(self) -> float:
        """Predicted time of one iteration with the plan, as a fraction of no freezing (FLOPs' ratio)."""
        base = self.baseline_flops.step
        return self.plan_flops.step / base if base else 1.0

    @property
    def run_nvidia_smi(self) -> int:
        """What nvidia-smi shows at the run's peak for the plan (the step's figure if no run was modelled)."""
        return self.plan_run.nvidia_smi if self.plan_run is not None else self.plan.nvidia_smi


# ---------------------------------------------------------------------------------------------
# traces: two sizes per (model, plan, optimizer, amp), other sizes by interpolation


@dataclass(frozen=True)
class _TracePair:
    small: Any  # trace.StepTrace
    large: Any
    n_small: int  # batch * img**2 of each
    n_large: int

    def nbytes_at(self, batch: int, img: int) -> list[int]:
        """Each allocation's size at another batch/image size: sizes are affine in batch*img**2."""
        n = batch * img * img
        span = self.n_large - self.n_small
        return [
            a + (b - a) * (n - self.n_small) // span if a != b else a
            for a, b in zip(self.small.nbytes, self.large.nbytes, strict=True)
        ]

    def flops_at(self, batch: int, img: int) -> StepFlops:
        """FLOPs at another size: convolutions scale with batch*img**2 too."""
        n = batch * img * img
        span = self.n_large - self.n_small

        def at(a: int, b: int) -> int:
            return max(a + (b - a) * (n - self.n_small) // span, 0)

        return StepFlops(
            at(self.small.forward_flops, self.large.forward_flops),
            at(self.small.backward_flops, self.large.backward_flops),
        )


_TRACE_CACHE: OrderedDict[tuple[Any, ...], _TracePair] = OrderedDict()
_TRACE_CACHE_SIZE = 16
_CACHE_LOCK = threading.Lock()
TRACE_BATCH = 2  # BatchNorm needs more than one value per channel at the smallest grid


def _model_key(info: ModelInfo) -> tuple[str, int, int]:
    """(normalised YAML as JSON, number of classes, train.py's grid size) or EstimateUnavailable.

    A hostile file (code-referencing globals, or a YAML the gate refuses) raises
    HostileCheckpointError here, before anything imports yolov5: every estimate path passes here.
    """
    info.require_safe("estimate memory for it")
    if not info.yaml or not isinstance(info.yaml.get("backbone"), list):
        raise EstimateUnavailable(
            "this checkpoint has no model YAML to rebuild the network from; "
            "the traced estimate needs one (YOLOv5 checkpoints carry it)"
        )
    if info.kind == "ultralytics":  # another grammar (and another builder): not a yolov5 model
        raise EstimateUnavailable("the traced estimate covers YOLOv5 models; this is an Ultralytics checkpoint")
    cfg = gated_cfg(info.yaml, info.path)  # the gate again: the skeleton builds only this copy
    nc = cfg.get("nc") or info.metadata.nc
    if not isinstance(nc, int) or nc < 1:
        raise EstimateUnavailable("the model YAML has no class count (nc)")
    return json.dumps(cfg, sort_keys=True), nc, options.model_image_step(info)


# Progress for a user who waits on a cold estimate (CLI `estimate`): told each slow step as it starts.
_PROGRESS: list[Callable[[str], None]] = []


@contextlib.contextmanager
def reporting(say: Callable[[str], None]) -> Iterator[None]:
    """Within the block, ``say`` gets one line as each slow step starts (imports, each trace)."""
    _PROGRESS.append(say)
    try:
        yield
    finally:
        _PROGRESS.remove(say)


def _say(what: str) -> None:
    for say in list(_PROGRESS):
        say(what)


def _trace_pair(
    info: ModelInfo, frozen: frozenset[str], optimizer: str, amp: bool, cancelled: Callable[[], bool] | None
) -> _TracePair:
    yaml_json, nc, gs = _model_key(info)
    frozen = frozen & {p.name for p in info.parameters}
    key = (yaml_json, nc, frozen, optimizer, amp)
    with _CACHE_LOCK:
        hit = _TRACE_CACHE.get(key)
        if hit is not None:
            _TRACE_CACHE.move_to_end(key)
            return hit
    if "yolofreeze.core.memory.tracing.trace" not in sys.modules:
        _say("importing torch and yolov5")
    trace = _import_trace()
    _check_names(trace, info, yaml_json, nc)
    sizes = (2 * gs, 4 * gs)
    what = "no freezing" if not frozen else f"the plan ({len(frozen)} tensors frozen)"
    _say(f"tracing a training step for {what} at two sizes")
    try:
        small, large = (
            trace.trace_step(json.loads(yaml_json), nc, frozen, optimizer, amp, TRACE_BATCH, s, cancelled)
            for s in sizes
        )
        pair = _TracePair(small, large, TRACE_BATCH * sizes[0] ** 2, TRACE_BATCH * sizes[1] ** 2)
    except trace.TraceCancelled:
        raise EstimateCancelled("estimate cancelled") from None
    if (small.setup, small.step, small.kinds) != (large.setup, large.step, large.kinds):
        # a bug, not a user error: the op sequence must not depend on the size
        raise RuntimeError("the traced step differs between image sizes; cannot interpolate")
    with _CACHE_LOCK:
        _TRACE_CACHE[key] = pair
        while len(_TRACE_CACHE) > _TRACE_CACHE_SIZE:
            _TRACE_CACHE.popitem(last=False)
    return pair


def _import_trace() -> Any:
    try:
        from yolofreeze.core.memory.tracing import trace
    except ImportError as e:  # torch or yolov5 missing, or yolov5 7.0 without pkg_resources
        raise EstimateUnavailable(f"the traced estimate needs torch and yolov5: {e}") from None
    return trace


def _check_names(trace: Any, info: ModelInfo, yaml_json: str, nc: int) -> None:
    try:
        sk = trace.skeleton(yaml_json, nc)
    except Exception as e:  # a YAML yolov5 cannot build is the file's problem, not a crash
        raise EstimateUnavailable(f"yolov5 cannot build this checkpoint's model YAML: {e}") from None
    ours = dict(zip(sk.names, sk.shapes, strict=True))
    theirs = {p.name: tuple(p.shape) for p in info.parameters}
    if ours != theirs:
        raise EstimateUnavailable(
            "the network built from the checkpoint's YAML does not match its parameters "
            f"({len(ours)} built, {len(theirs)} in the file)"
        )


@dataclass(frozen=True)
class _ValPair:
    """The validation pass traced at two sizes (same batch), as _TracePair for a step."""

    small: Any  # validation.ValidationTrace
    large: Any

    def nbytes_at(self, batch: int, img: int) -> list[int]:
        """Sizes at a validation batch and image side: affine in batch*img**2, except what lives on
        with the EMA model (its weights, constant; Detect's grids, which follow img**2 alone)."""
        s, g = self.small, self.large
        span = g.batch * g.img**2 - s.batch * s.img**2
        n_batch, n_ema = batch * img * img - s.batch * s.img**2, s.batch * img * img - s.batch * s.img**2
        return [
            a if a == b else a + (b - a) * (n_ema if k == EMA else n_batch) // span
            for a, b, k in zip(s.nbytes, g.nbytes, s.kinds, strict=True)
        ]


_VAL_CACHE: OrderedDict[tuple[str, int, bool], _ValPair] = OrderedDict()
_VAL_CACHE_SIZE = 4


def _val_pair(info: ModelInfo, amp: bool, cancelled: Callable[[], bool] | None) -> _ValPair:
    """The validation trace does not depend on the plan or the optimizer: one per model and AMP."""
    yaml_json, nc, gs = _model_key(info)
    key = (yaml_json, nc, amp)
    with _CACHE_LOCK:
        hit = _VAL_CACHE.get(key)
        if hit is not None:
            _VAL_CACHE.move_to_end(key)
            return hit
    validation = _import_validation()
    _check_names(_import_trace(), info, yaml_json, nc)
    _say("tracing the validation pass at two sizes")
    try:
        small, large = (
            validation.trace_validation(json.loads(yaml_json), nc, amp, TRACE_BATCH, _val_side(s, gs), cancelled)
            for s in (2 * gs, 4 * gs)
        )
    except _import_trace().TraceCancelled:
        raise EstimateCancelled("estimate cancelled") from None
    if (small.ema, small.events, small.kinds) != (large.ema, large.events, large.kinds):
        raise RuntimeError("the traced validation differs between image sizes; cannot interpolate")
    pair = _ValPair(small, large)
    with _CACHE_LOCK:
        _VAL_CACHE[key] = pair
        while len(_VAL_CACHE) > _VAL_CACHE_SIZE:
            _VAL_CACHE.popitem(last=False)
    return pair


def _import_validation() -> Any:
    try:
        from yolofreeze.core.memory.tracing import validation
    except ImportError as e:
        raise EstimateUnavailable(f"the traced estimate needs torch and yolov5: {e}") from None
    return validation


def _val_side(img: int, gs: int) -> int:
    """train.py's rect val loader (pad 0.5) pads a batch whose aspect ratios span 1 to a square of
    side ``gs * ceil(img / gs + 0.5)``: the largest validation batch (any dataset with portrait
    and landscape images has one)."""
    return -(-(2 * img + gs) // (2 * gs)) * gs


def val_img(info: ModelInfo, img: int) -> int:
    """The side of the largest validation batch for training size ``img``."""
    return _val_side(effective_img(info, img), _model_key(info)[2])


@dataclass(frozen=True)
class _Run:
    """A run's phases as event streams over one id space, ready for replay_phases."""

    phases: list[list[int]]
    labels: list[str]
    first_epoch: int  # phases[:first_epoch] are epoch 0's training steps, before any validation
    nbytes: list[int]
    kinds: bytes


def _run_phases(pair: _TracePair, vpair: _ValPair, batch: int, img: int, gpus: int, vimg: int) -> _Run:
    """train.py's loop as phases of the traced step and the traced validation pass.

    The step trace is one iteration: ``A`` (forward and backward; it leaves the gradients, the
    images and the predictions allocated) then ``S`` (unscale, clip, optimizer step, zero_grad,
    EMA update, and the frees of what ``A`` left). From them:
    - ``B``, a micro-batch with the previous micro-batches' gradients alive: ``A`` again on new
      ids, each new gradient a temporary (AccumulateGrad adds it in place and drops it); it first
      drops the previous micro-batch's images and predictions (reassigned in train.py's loop);
    - epoch 0: ``A S`` (a warm-up step: train.py steps every micro-batch at first), then ``A S``
      or, with accumulate > 1, ``A B S``;
    - the epoch ends and validation runs with the last micro-batch's tensors still referenced (and,
      with accumulate > 1, gradients of an unfinished accumulation: the case where the epoch's batch
      count does not line up with accumulate), then training goes on: ``A S``, or ``B S``.
    Each phase is replayed once: repeating one adds passes, not blocks (a second pass of the same
    phase finds the blocks the first one cached).
    """
    nbytes = pair.nbytes_at(batch, img)
    extra, extra_kinds = _extra_setup(pair, gpus)
    base = len(nbytes)
    setup = list(pair.small.setup) + list(range(base + 1, base + len(extra) + 1))
    nbytes += extra
    kinds = pair.small.kinds + bytes(extra_kinds)
    n = len(nbytes)
    step = pair.small.step
    last_grad = max((i for i, ev in enumerate(step) if ev > 0 and kinds[ev - 1] == GRADIENTS), default=None)
    cut = (
        len(step) if last_grad is None else next((i for i in range(last_grad + 1, len(step)) if step[i] > 0), len(step))
    )
    a, s = list(step[:cut]), list(step[cut:])
    allocated = {ev for ev in a if ev > 0}
    left = allocated - {-ev for ev in a if ev < 0}
    grads = {k for k in left if kinds[k - 1] == GRADIENTS}
    carried = sorted(left - grads)
    b: list[int] = [-k for k in carried]
    for ev in a:
        if ev > 0 and ev in grads:
            b += (ev + n, -ev - n)
        elif ev > 0:
            b.append(ev + n)
        else:
            b.append(ev - n if -ev in allocated else ev)
    moved = set(carried)
    s_b = [(ev + n if ev > 0 else ev - n) if abs(ev) in moved else ev for ev in s]
    s_keep = [ev for ev in s if not (ev < 0 and -ev in moved)]  # S with A's tensors still referenced
    release = [-k for k in carried]

    v = vpair.nbytes_at(2 * batch, vimg)
    ema_step = [k for k in pair.small.setup if kinds[k - 1] == EMA]
    if len(ema_step) != len(vpair.small.ema) or any(
        nbytes[k - 1] != v[j - 1] for k, j in zip(ema_step, vpair.small.ema, strict=True)
    ):
        raise RuntimeError("the EMA of the validation trace differs from the step trace's")
    to_step = dict(zip(vpair.small.ema, ema_step, strict=True))
    val = [
        (to_step[abs(ev)] if ev > 0 else -to_step[-ev])
        if abs(ev) in to_step
        else (ev + 2 * n if ev > 0 else ev - 2 * n)
        for ev in vpair.small.events
    ]
    all_bytes = nbytes + nbytes + v
    b_kinds = bytes(TEMPORARIES if k == GRADIENTS else k for k in kinds)
    all_kinds = kinds + b_kinds + vpair.small.kinds

    accumulate = max(round(64 / (batch * gpus)), 1)
    phases: list[list[int]] = [setup + a, s]
    labels = [PHASE_STEP] * 2
    if accumulate > 1 and grads:
        phases += [a, b, s_b, a]
        labels += [PHASE_ACCUMULATE] * 3 + [PHASE_STEP]
        first = len(phases)
        phases += [val, b, s_b]
        labels += [PHASE_VALIDATION] + [PHASE_AFTER_VALIDATION] * 2
    else:
        phases += [a, s_keep]
        labels += [PHASE_STEP] * 2
        first = len(phases)
        phases += [val, release, a, s]
        labels += [PHASE_VALIDATION] * 2 + [PHASE_AFTER_VALIDATION] * 2
    return _Run(phases, labels, first, all_bytes, all_kinds)


# ---------------------------------------------------------------------------------------------
# breakdowns


def _extra_setup(pair: _TracePair, gpus: int) -> tuple[list[int], list[int]]:
    """Allocations the trace cannot see: workspace, and DDP's gradient buckets."""
    sizes, kinds = [WORKSPACE_BYTES], [TEMPORARIES]
    if gpus > 1:
        grads = sum(n for n, k in zip(pair.small.nbytes, pair.small.kinds, strict=True) if k == GRADIENTS)
        first = min(grads, DDP_FIRST_BUCKET_BYTES)
        buckets = [first] + [DDP_BUCKET_BYTES] * ((grads - first) // DDP_BUCKET_BYTES)
        rest = grads - sum(buckets)
        sizes += buckets + ([rest] if rest > 0 else [])
        kinds += [GRADIENTS] * (len(sizes) - 1)
    return sizes, kinds


def _replay(pair: _TracePair, batch: int, img: int, gpus: int) -> ReplayResult:
    nbytes = pair.nbytes_at(batch, img)
    extra, extra_kinds = _extra_setup(pair, gpus)
    base = len(nbytes)
    setup: Sequence[int] = list(pair.small.setup) + list(range(base + 1, base + len(extra) + 1))
    return replay(setup, pair.small.step, nbytes + extra, pair.small.kinds + bytes(extra_kinds))


def _breakdown(r: ReplayResult) -> MemoryBreakdown:
    weights, ema, gradients, optimizer, amp_cache, activations, temporaries = (  # NAMES' order
        r.peak_by_kind + (0,) * (len(NAMES) - len(r.peak_by_kind))
    )
    return MemoryBreakdown(
        weights=weights,
        ema=ema,
        gradients=gradients,
        optimizer=optimizer,
        amp_cache=amp_cache,
        activations=activations,
        temporaries=temporaries,
        peak_allocated=r.peak_allocated,
        allocator_slack=r.peak_reserved - r.peak_allocated,
        peak_reserved=r.peak_reserved,
        cuda_context=CUDA_CONTEXT_BYTES,
        nvidia_smi=r.peak_reserved + CUDA_CONTEXT_BYTES,
    )


def _run_breakdown(run: _Run, peaks: list[PhasePeak]) -> tuple[MemoryBreakdown, RunPeak]:
    """Epoch 0's breakdown, and the whole run's figures with the phase that sets them."""
    first = max(peaks[: run.first_epoch], key=lambda p: p.peak_allocated)
    reserved = peaks[run.first_epoch - 1].reserved
    top = peaks[-1].reserved
    phase = run.labels[next(i for i, p in enumerate(peaks) if p.reserved == top)]
    step = _breakdown(ReplayResult(first.peak_allocated, reserved, 0, 0, first.peak_by_kind))
    return step, RunPeak(max(p.peak_allocated for p in peaks), top, top + CUDA_CONTEXT_BYTES, phase)


def _whole_run(
    info: ModelInfo, pair: _TracePair, config: TrainConfig, batch: int, cancelled: Callable[[], bool] | None
) -> tuple[_Run, list[PhasePeak]]:
    run = _run_phases(
        pair,
        _val_pair(info, config.amp, cancelled),
        batch,
        effective_img(info, config.img),
        config.gpus,
        val_img(info, config.img),
    )
    return run, replay_phases(run.phases, run.nbytes, run.kinds)


def prediction_record(est: MemoryEstimate, img: int | None = None) -> dict[str, Any]:
    """What a run record keeps of an estimate: the configuration it was computed for, and its
    epoch-0 (step) and whole-run figures per GPU, so a monitor can say what it predicts for."""
    c = est.config
    run = est.plan_run
    return {
        "config": {
            "batch": c.batch,
            "per_gpu_batch": c.per_gpu_batch,
            "img": img if img is not None else c.img,
            "optimizer": c.optimizer,
            "gpus": c.gpus,
            "amp": c.amp,
        },
        "step": {"reserved": est.plan.peak_reserved, "nvidia_smi": est.plan.nvidia_smi},
        "run": None
        if run is None
        else {"reserved": run.peak_reserved, "nvidia_smi": run.nvidia_smi, "phase": run.phase},
    }


def effective_img(info: ModelInfo, img: int) -> int:
    """The image size train.py trains this checkpoint at (see ``options.effective_img``)."""
    return options.effective_img(img, _model_key(info)[2])


def estimate_memory(
    info: ModelInfo,
    frozen: frozenset[str],
    config: TrainConfig,
    cancelled: Callable[[], bool] | None = None,
) -> MemoryEstimate:
    """Predict per-GPU memory and step FLOPs for ``frozen`` and for no freezing.

    Raises EstimateCancelled, and NothingToTrainError (before tracing) when ``frozen`` holds
    every parameter.

    The first call for a model, plan, optimizer and AMP setting traces a training step twice
    (seconds), and the first for a model and AMP setting its validation pass twice; later calls
    with other batch or image sizes only replay the allocator (fast). Each part is what is
    allocated at the moment allocation peaks: gradients count when they are alive then (with
    accumulate > 1, across micro-batches; otherwise ``zero_grad`` frees them every step).
    """
    config.validate()
    require_something_to_train(info, frozen)  # NothingToTrainError: there is no backward to trace
    img = effective_img(info, config.img)
    baseline_pair = _trace_pair(info, frozenset(), config.optimizer, config.amp, cancelled)
    plan_pair = _trace_pair(info, frozen, config.optimizer, config.amp, cancelled)
    if cancelled is not None and cancelled():
        raise EstimateCancelled("estimate cancelled")
    b = config.per_gpu_batch
    plan, plan_run = _run_breakdown(*_whole_run(info, plan_pair, config, b, cancelled))
    baseline, baseline_run = (
        (plan, plan_run)
        if plan_pair is baseline_pair
        else _run_breakdown(*_whole_run(info, baseline_pair, config, b, cancelled))
    )
    return MemoryEstimate(
        config=config,
        plan=plan,
        baseline=baseline,
        accumulate=config.accumulate,
        plan_flops=plan_pair.flops_at(b, img),
        baseline_flops=baseline_pair.flops_at(b, img),
        plan_run=plan_run,
        baseline_run=baseline_run,
    )


def max_batch(
    info: ModelInfo,
    frozen: frozenset[str],
    config: TrainConfig,
    gpu_mem_bytes: int,
    cancelled: Callable[[], bool] | None = None,
) -> int:
    """Largest total batch (a multiple of ``config.gpus``) whose whole-run per-GPU nvidia-smi figure fits; 0 if none."""
    config.validate()
    if gpu_mem_bytes <= 0:
        raise UsageError("GPU memory must be more than 0")
    require_something_to_train(info, frozen)
    img, vimg = effective_img(info, config.img), val_img(info, config.img)
    pair = _trace_pair(info, frozen, config.optimizer, config.amp, cancelled)
    vpair = _val_pair(info, config.amp, cancelled)
    limit = gpu_mem_bytes - CUDA_CONTEXT_BYTES

    def fits(b: int) -> bool:  # the whole run's figure: a batch that fits only epoch 0 does not fit
        if cancelled is not None and cancelled():
            raise EstimateCancelled("estimate cancelled")
        run = _run_phases(pair, vpair, b, img, config.gpus, vimg)
        peaks = replay_phases(run.phases, run.nbytes, run.kinds, reserved_limit=limit)
        return len(peaks) == len(run.phases) and peaks[-1].reserved <= limit

    if not fits(1):
        return 0
    most = options.MAX_BATCH // config.gpus  # per GPU: the total stays one train.py and check_batch accept
    lo, hi = 1, 2
    while hi <= most and fits(hi):
        lo, hi = hi, hi * 2
    hi = min(hi, most + 1)
    while hi - lo > 1:  # fits(lo), not fits(hi)
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo * config.gpus


__all__ = [
    "CUDA_CONTEXT_BYTES",
    "PHASE_ACCUMULATE",
    "PHASE_AFTER_VALIDATION",
    "PHASE_STEP",
    "PHASE_VALIDATION",
    "WORKSPACE_BYTES",
    "EstimateCancelled",
    "EstimateUnavailable",
    "MemoryBreakdown",
    "MemoryEstimate",
    "RunPeak",
    "StepFlops",
    "TrainConfig",
    "effective_img",
    "estimate_memory",
    "max_batch",
    "prediction_record",
    "reporting",
    "val_img",
]
