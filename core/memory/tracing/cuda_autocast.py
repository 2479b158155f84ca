"""Make CPU autocast behave like CUDA autocast for the ops where their lists differ.

CPU autocast (float16) and CUDA autocast agree on what runs in half precision (convolutions,
matmuls) and on promotion (``cat``), but CUDA also keeps a list of ops in float32 that CPU runs
in float16: ``upsample_*``, ``pow``, ``exp``, ``log`` … (``AT_FORALL_FP32`` in
ATen/autocast_mode.h), and runs ``sum``/``softmax``/``cumsum``/``prod`` with a float32 output
(``AT_FORALL_FP32_SET_OPT_DTYPE``). YOLOv5's upsample and its loss's ``** 2`` are in that list,
and their output dtype decides the size of what the next op saves, so a trace must follow CUDA.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

_T = torch.Tensor

# Python entry points of the ops CUDA autocast runs in float32 (inputs cast up).
_FP32: frozenset[Callable[..., Any]] = frozenset(
    f
    for name in (
        "acos",
        "asin",
        "cosh",
        "erfinv",
        "exp",
        "expm1",
        "log",
        "log10",
        "log2",
        "log1p",
        "reciprocal",
        "rsqrt",
        "sinh",
        "tan",
        "pow",
        "logsumexp",
        "renorm",
    )
    for f in (getattr(torch, name, None), getattr(_T, name, None))
    if f is not None
) | frozenset(
    (
        _T.__pow__,
        _T.__rpow__,
        torch.dist,
        torch.cdist,
        torch.pdist,
        torch.layer_norm,
        torch.group_norm,
        torch.cosine_similarity,
        F.softplus,
        F.layer_norm,
        F.group_norm,
        F.cosine_similarity,
        F.poisson_nll_loss,
        F.cosine_embedding_loss,
        F.nll_loss,
        F.hinge_embedding_loss,
        F.kl_div,
        F.l1_loss,
        F.smooth_l1_loss,
        F.huber_loss,
        F.mse_loss,
        F.margin_ranking_loss,
        F.multilabel_margin_loss,
        F.soft_margin_loss,
        F.triplet_margin_loss,
        F.multi_margin_loss,
        F.binary_cross_entropy_with_logits,
    )
)
# Ops with an optional dtype argument that CUDA autocast sets to float32.
_FP32_OUT: frozenset[Callable[..., Any]] = frozenset(
    f
    for name in ("prod", "softmax", "log_softmax", "cumprod", "cumsum", "sum")
    for f in (getattr(torch, name, None), getattr(_T, name, None), getattr(F, name, None))
    if f is not None
)
# interpolate reaches upsample_* for every mode but "area" (adaptive_avg_pool, not in the list)
_INTERPOLATE = (F.interpolate, F.upsample)


def _up(x: Any) -> Any:
    if isinstance(x, torch.Tensor) and x.dtype in (torch.float16, torch.bfloat16):
        return x.float()
    if isinstance(x, (list, tuple)):
        return type(x)(_up(v) for v in x)
    return x


class CudaAutocastRules(TorchFunctionMode):
    """Inside ``torch.autocast("cpu", dtype=torch.float16)``: run CUDA's float32 ops in float32."""

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if not torch.is_autocast_enabled("cpu"):
            return func(*args, **kwargs)
        if func in _FP32 or (
            func in _INTERPOLATE and kwargs.get("mode", args[3] if len(args) > 3 else "nearest") != "area"
        ):
            with torch.autocast("cpu", enabled=False):
                return func(*_up(args), **{k: _up(v) for k, v in kwargs.items()})
        if (
            func in _FP32_OUT
            and kwargs.get("dtype") is None
            and args
            and isinstance(args[0], torch.Tensor)
            and args[0].dtype in (torch.float16, torch.bfloat16)
        ):
            return func(*args, **dict(kwargs, dtype=torch.float32))
        return func(*args, **kwargs)
