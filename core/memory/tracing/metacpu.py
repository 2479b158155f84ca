"""A minimal fake-tensor mode: meta tensors that call themselves CPU tensors.

Why not ``FakeTensorMode``: a trace runs ~8,000 aten ops, and FakeTensorMode spends ~0.25 ms of
Python on each (cache-key hashing, metadata checks, decompositions such as batch norm resolved in
Python until its cache warms): seconds per trace. Here each op costs one Python call that swaps
wrappers for their meta tensors, runs the meta kernel (C++ for almost every op) and wraps what
comes out: ~10x less.

Why a wrapper reporting ``device="cpu"``, not plain meta tensors: the dispatcher picks the
autocast and autograd keys from the device a tensor reports, so ``torch.autocast("cpu")`` (with
``CudaAutocastRules`` on top) casts exactly as it does for FakeTensorMode's fake CPU tensors, and
the autograd engine runs backward on the CPU queue. The shapes, dtypes and strides come from the
same meta kernels FakeTensorMode uses; tests compare whole traces of both.

Tensors that are real CPU tensors and meet no wrapper (Adam's host step counters) run for real,
as they would on a GPU run; a real tensor that meets a wrapper is converted to meta.

This module imports torch at import time: import it only from functions that trace.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode, _disable_current_modes

_CPU = torch.device("cpu")
_META = torch.device("meta")
_HAS_DEVICE_ARG: dict[Any, bool] = {}


class MetaCpuTensor(torch.Tensor):
    """Shape, dtype and strides of a CPU tensor; no data. ``elem`` is the meta tensor behind it."""

    elem: torch.Tensor
    # Tensor's default __torch_function__ is Python that runs on every method call and attribute
    # read of a subclass; wrapping happens in __torch_dispatch__, so skip it (as FakeTensor does)
    __torch_function__ = torch._C._disabled_torch_function_impl  # type: ignore[assignment]

    @staticmethod
    def __new__(cls, elem: torch.Tensor, requires_grad: bool = False) -> MetaCpuTensor:
        r = torch.Tensor._make_wrapper_subclass(
            cls,
            elem.size(),
            strides=elem.stride(),
            storage_offset=elem.storage_offset(),
            dtype=elem.dtype,
            layout=elem.layout,
            device=_CPU,
            requires_grad=requires_grad,
        )
        r.elem = elem
        return r

    # the default repr would read data
    def __repr__(self, *, tensor_contents: Any = None) -> str:  # type: ignore[override]
        return f"MetaCpuTensor({tuple(self.shape)}, dtype={self.dtype})"

    @classmethod
    def __torch_dispatch__(  # type: ignore[override]
        cls, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
    ) -> Any:
        # reached only outside a MetaCpuMode (e.g. a model's tensors touched after a trace)
        with MetaCpuMode():  # type: ignore[no-untyped-call]
            return func(*args, **(kwargs or {}))


def storage_of(t: torch.Tensor) -> Any:
    """The storage that holds ``t``'s bytes: the meta storage behind a wrapper."""
    return (t.elem if type(t) is MetaCpuTensor else t).untyped_storage()


def _acc_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _batch_norm(input: torch.Tensor, weight: Any, bias: Any, mean: Any, var: Any, training: bool, *rest: Any) -> Any:
    """native_batch_norm's meta: the output, and per-channel statistics kept in float32 for half
    inputs (CUDA's kernels do; torch's Python meta takes ~4 ms a call to say so). Eval mode (the
    validation pass) gets the same three outputs from the meta kernel, so it takes this path too."""
    stats = (input.shape[1],)
    acc = _acc_dtype(input.dtype)
    return (
        torch.empty_like(input, memory_format=torch.preserve_format),
        torch.empty(stats, dtype=acc, device=_META),
        torch.empty(stats, dtype=acc, device=_META),
    )


def _batch_norm_backward(grad_out: torch.Tensor, input: torch.Tensor, weight: Any, *rest: Any) -> Any:
    """native_batch_norm_backward's meta: grads of the input and (if asked) weight and bias."""
    mask = rest[-1]
    if len(rest) != 7 or grad_out.stride() != input.stride():
        return None  # not the layout the fast path was checked on: let the meta kernel answer
    wdt = weight.dtype if weight is not None else input.dtype
    c = (input.shape[1],)
    return (
        torch.empty_like(input, memory_format=torch.preserve_format),
        torch.empty(c, dtype=wdt, device=_META) if mask[1] else None,
        torch.empty(c, dtype=wdt, device=_META) if mask[2] else None,
    )


def _row_major(t: torch.Tensor) -> bool:
    """Strides decrease from the first dimension to the last (a contiguous tensor, or a slice of
    one such as YOLOv5's ``split`` of the predictions): elementwise results are contiguous."""
    last = None
    for size, stride in zip(t.shape, t.stride(), strict=True):
        if size == 1:
            continue
        if stride <= 0 or (last is not None and stride > last):
            return False
        last = stride
    return True


def _same_layout(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor | None:
    """The first tensor, if every argument is a contiguous floating tensor of one shape and dtype
    or a plain Python number: then an elementwise op needs no broadcasting or type promotion and
    its result is laid out like that tensor. None for anything else (the meta kernel decides)."""
    first: torch.Tensor | None = None
    for a in (*args, *kwargs.values()):
        if isinstance(a, torch.Tensor):
            if first is None:
                if not (a.dtype.is_floating_point and _row_major(a)):
                    return None
                first = a
            elif a.shape != first.shape or a.dtype != first.dtype or not _row_major(a):
                return None
        elif a is not None and type(a) not in (int, float, bool):
            return None
    return first


def _elementwise(*args: Any, **kwargs: Any) -> Any:
    t = _same_layout(args, kwargs)
    return None if t is None else torch.empty(t.shape, dtype=t.dtype, device=_META)


def _elementwise_(*args: Any, **kwargs: Any) -> Any:
    return None if _same_layout(args, kwargs) is None else args[0]  # in place: hands back self


IN_PLACE_NONE = object()  # a fast answer for an op that returns nothing (None means "no answer")


def _foreach_lists(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[torch.Tensor] | None:
    """The first list, if every list argument pairs up tensors of one shape and dtype, laid out
    as _same_layout accepts, and every other argument is a Python number."""
    lists = [a for a in args if isinstance(a, (list, tuple))]
    rest = [a for a in args if not isinstance(a, (list, tuple))] + list(kwargs.values())
    if not lists or any(a is not None and type(a) not in (int, float, bool) for a in rest):
        return None
    if any(len(x) != len(lists[0]) for x in lists):
        return None
    for group in zip(*lists, strict=True):
        if not all(isinstance(t, torch.Tensor) for t in group) or _same_layout(group, {}) is None:
            return None
    return list(lists[0])


def _foreach(*args: Any, **kwargs: Any) -> Any:
    first = _foreach_lists(args, kwargs)
    return None if first is None else [torch.empty(t.shape, dtype=t.dtype, device=_META) for t in first]


def _foreach_(*args: Any, **kwargs: Any) -> Any:
    return None if _foreach_lists(args, kwargs) is None else IN_PLACE_NONE


_aten = torch.ops.aten
# ops whose registered meta kernel is slow Python (torch._refs elementwise rules, batch norm's
# decomposition: 0.1-4 ms a call, most of a trace); each answer is checked against it by the tests
FAST_META: dict[Any, Any] = {
    _aten.native_batch_norm.default: _batch_norm,
    _aten.native_batch_norm_backward.default: _batch_norm_backward,
    **{
        op: _elementwise
        for op in (
            _aten.add.Tensor,
            _aten.sub.Tensor,
            _aten.mul.Tensor,
            _aten.div.Tensor,
            _aten.mul.Scalar,
            _aten.div.Scalar,
            _aten.add.Scalar,
            _aten.sub.Scalar,
            _aten.rsub.Scalar,
            _aten.neg.default,
            _aten.sigmoid.default,
            _aten.silu.default,
            _aten.exp.default,
            _aten.sigmoid_backward.default,
            _aten.silu_backward.default,
            _aten.pow.Tensor_Scalar,
            _aten.clamp.default,
        )
    },
    **{
        op: _elementwise_
        for op in (
            _aten.add_.Tensor,
            _aten.sub_.Tensor,
            _aten.mul_.Tensor,
            _aten.div_.Tensor,
            _aten.mul_.Scalar,
            _aten.add_.Scalar,
            _aten.silu_.default,
            _aten.sigmoid_.default,
        )
    },
    # the optimizer's multi-tensor kernels: torch's meta loops over every parameter in Python
    **{op: _foreach for op in (_aten._foreach_add.List, _aten._foreach_neg.default, _aten._foreach_mul.Scalar)},
    **{
        op: _foreach_
        for op in (
            _aten._foreach_add_.List,
            _aten._foreach_add_.Scalar,
            _aten._foreach_mul_.Scalar,
            _aten._foreach_mul_.List,
            _aten._foreach_lerp_.Scalar,
            _aten._foreach_addcmul_.Scalar,
        )
    },
}
CHECK_FAST_META = False  # tests: run the meta kernel too and compare


def _has_device_arg(func: Any) -> bool:
    has = _HAS_DEVICE_ARG.get(func)
    if has is None:
        has = _HAS_DEVICE_ARG[func] = any(a.name == "device" for a in func._schema.arguments)
    return has


class MetaCpuMode(TorchDispatchMode):  # type: ignore[no-untyped-call]
    """Runs every aten op on meta tensors; factories make wrappers; outputs come back wrapped."""

    def from_tensor(self, t: torch.Tensor) -> MetaCpuTensor:
        """A wrapper with ``t``'s shape, dtype and strides (FakeTensorMode's ``from_tensor``).

        Made with the modes switched off: converting is no allocation of the traced step (a
        recorder above this mode must not see it), as FakeTensorMode's memoised conversion isn't.
        """
        with _disable_current_modes():
            return MetaCpuTensor(torch.empty_strided(t.size(), t.stride(), dtype=t.dtype, device=_META))

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        inputs: dict[int, MetaCpuTensor] = {}  # id(meta tensor) -> its wrapper, for in-place ops
        real: list[torch.Tensor] = []
        new_args = [self._unwrap(a, inputs, real) for a in args]
        new_kwargs = {k: self._unwrap(v, inputs, real) for k, v in kwargs.items()}
        if not inputs:
            if real:  # only real tensors (Adam's step counters on the host): run for real
                return func(*args, **kwargs)
            if _has_device_arg(func) and new_kwargs.get("device") in (None, _CPU):
                new_kwargs["device"] = _META  # a factory: torch.empty, zeros, full, ...
        elif real:
            new_args = [self._to_meta(a) for a in new_args]
            new_kwargs = {k: self._to_meta(v) for k, v in new_kwargs.items()}
        fast = FAST_META.get(func)
        out = fast(*new_args, **new_kwargs) if fast is not None else None
        if out is None:
            out = func(*new_args, **new_kwargs)
        elif CHECK_FAST_META:
            _check_same(out, func(*new_args, **new_kwargs), func)
        if out is IN_PLACE_NONE:
            return None
        return self._wrap(out, inputs)

    @staticmethod
    def _unwrap(a: Any, inputs: dict[int, MetaCpuTensor], real: list[torch.Tensor]) -> Any:
        if type(a) is MetaCpuTensor:
            inputs[id(a.elem)] = a
            return a.elem
        if isinstance(a, torch.Tensor):
            real.append(a)
            return a
        if type(a) is torch.device and a.type == "cpu":
            return _META
        if isinstance(a, (list, tuple)) and a and isinstance(a[0], torch.Tensor):
            return type(a)(MetaCpuMode._unwrap(x, inputs, real) for x in a)
        return a

    @staticmethod
    def _to_meta(a: Any) -> Any:
        if isinstance(a, torch.Tensor) and a.device.type != "meta":
            return torch.empty_strided(a.size(), a.stride(), dtype=a.dtype, device=_META)
        if isinstance(a, (list, tuple)) and a and isinstance(a[0], torch.Tensor):
            return type(a)(MetaCpuMode._to_meta(x) for x in a)
        return a

    @staticmethod
    def _wrap(out: Any, inputs: dict[int, MetaCpuTensor]) -> Any:
        if isinstance(out, torch.Tensor):
            same = inputs.get(id(out))  # an in-place or out= op hands back its argument
            return same if same is not None else MetaCpuTensor(out)
        if isinstance(out, (list, tuple)):
            return type(out)(MetaCpuMode._wrap(x, inputs) for x in out)
        return out


def _check_same(fast: Any, slow: Any, func: Any) -> None:
    def meta(x: Any) -> Any:
        return None if x is None else (tuple(x.shape), tuple(x.stride()), x.dtype)

    if fast is IN_PLACE_NONE or slow is None:
        if not (fast is IN_PLACE_NONE and slow is None):
            raise AssertionError(f"fast meta of {func}: {fast}, the meta kernel says {slow}")
        return
    if isinstance(slow, torch.Tensor):
        fast, slow = (fast,), (slow,)
    got, want = [meta(x) for x in fast], [meta(x) for x in slow]
    if got != want:
        raise AssertionError(f"fast meta of {func}: {got}, the meta kernel says {want}")
