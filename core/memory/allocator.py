"""A model of PyTorch's CUDA caching allocator, replayed over a traced allocation stream.

What it reproduces (c10/cuda/CUDACachingAllocator.cpp, default settings, one stream):
- every request rounds up to 512 B; requests up to 1 MiB come from the small pool, larger ones
  from the large pool;
- a pool miss reserves a new segment: 2 MiB for small requests, 20 MiB for 1-10 MiB requests,
  otherwise the request rounded up to 2 MiB;
- best fit (smallest free block that is large enough, lowest address on ties), split when the
  rest is >= 512 B (small pool) or > 1 MiB (large pool); an unsplit block is counted whole in
  ``allocated`` (as torch's ``allocated_bytes`` stat does);
- a freed block merges with free neighbours in its segment and stays reserved.
No memory limit is modelled: the result is what the allocator reserves when nothing runs out.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

MIN_BLOCK = 512
SMALL_SIZE = 1 << 20  # kSmallSize: requests up to this come from the small pool
SMALL_BUFFER = 2 << 20  # kSmallBuffer: segment size for the small pool
LARGE_BUFFER = 20 << 20  # kLargeBuffer: segment size for 1-10 MiB requests
MIN_LARGE_ALLOC = 10 << 20  # kMinLargeAlloc
ROUND_LARGE = 2 << 20  # kRoundLarge: larger requests round up to a multiple of this


def round_size(nbytes: int) -> int:
    if nbytes < MIN_BLOCK:
        return MIN_BLOCK
    return -(-nbytes // MIN_BLOCK) * MIN_BLOCK


def segment_size(rounded: int) -> int:
    if rounded <= SMALL_SIZE:
        return SMALL_BUFFER
    if rounded < MIN_LARGE_ALLOC:
        return LARGE_BUFFER
    return -(-rounded // ROUND_LARGE) * ROUND_LARGE


class _Block:
    __slots__ = ("addr", "free", "next", "prev", "size", "small")

    def __init__(self, addr: int, size: int, small: bool) -> None:
        self.addr = addr
        self.size = size
        self.small = small
        self.free = True
        self.prev: _Block | None = None
        self.next: _Block | None = None


@dataclass(frozen=True)
class ReplayResult:
    peak_allocated: int  # bytes in blocks handed out, at their highest
    peak_reserved: int  # bytes in segments, at their highest (never goes down here)
    peak_event: int  # index into setup + step just after which allocated peaked
    end_allocated: int
    peak_by_kind: tuple[int, ...]  # allocated bytes per kind at the peak (sums to peak_allocated)


class CachingAllocatorModel:
    """Replays alloc/free requests; reports allocated and reserved bytes as torch counts them."""

    def __init__(self) -> None:
        # free blocks of each pool as sorted (size, addr) keys, plus addr -> block
        self._free: dict[bool, list[tuple[int, int]]] = {True: [], False: []}
        self._blocks: dict[int, _Block] = {}
        self._next_addr = 0
        self.allocated = 0
        self.reserved = 0

    def malloc(self, nbytes: int) -> _Block:
        size = round_size(nbytes)
        small = size <= SMALL_SIZE
        pool = self._free[small]
        i = bisect.bisect_left(pool, (size, -1))
        if i < len(pool):
            _, addr = pool.pop(i)
            block = self._blocks[addr]
        else:
            seg = segment_size(size)
            block = _Block(self._next_addr, seg, small)
            # leave a gap so blocks of different segments are never adjacent
            self._next_addr += seg + SMALL_BUFFER
            self._blocks[block.addr] = block
            self.reserved += seg
        remaining = block.size - size
        if (remaining >= MIN_BLOCK) if small else (remaining > SMALL_SIZE):
            rest = _Block(block.addr + size, remaining, small)
            rest.prev, rest.next = block, block.next
            if block.next is not None:
                block.next.prev = rest
            block.next = rest
            block.size = size
            self._blocks[rest.addr] = rest
            bisect.insort(pool, (rest.size, rest.addr))
        block.free = False
        self.allocated += block.size
        return block

    def release(self, block: _Block) -> None:
        self.allocated -= block.size
        block.free = True
        pool = self._free[block.small]
        del self._blocks[block.addr]
        prev, nxt = block.prev, block.next
        if prev is not None and prev.free:
            pool.pop(bisect.bisect_left(pool, (prev.size, prev.addr)))
            del self._blocks[prev.addr]
            block.addr, block.size, block.prev = prev.addr, prev.size + block.size, prev.prev
            if prev.prev is not None:
                prev.prev.next = block
        if nxt is not None and nxt.free:
            pool.pop(bisect.bisect_left(pool, (nxt.size, nxt.addr)))
            del self._blocks[nxt.addr]
            block.size += nxt.size
            block.next = nxt.next
            if nxt.next is not None:
                nxt.next.prev = block
        self._blocks[block.addr] = block
        bisect.insort(pool, (block.size, block.addr))


def replay(
    setup: Sequence[int],
    step: Sequence[int],
    nbytes: Sequence[int],
    kinds: bytes | Sequence[int] = b"",
    passes: int = 2,
) -> ReplayResult:
    """Replay a training run: ``setup`` once (what stays allocated), then ``step`` ``passes`` times.

    Events are ``+k`` (allocation k of ``nbytes[k-1]`` bytes, of kind ``kinds[k-1]``) and ``-k``
    (its free). Running the step again on the same allocator, as the next iteration does, lets
    it reuse the blocks the first one cached. ``peak_event`` indexes ``setup + step``.
    """
    model = CachingAllocatorModel()
    live: dict[int, _Block] = {}
    by_kind = [0] * (max(kinds) + 1 if kinds else 1)
    peak_kinds: list[int] = list(by_kind)
    peak = peak_event = 0
    streams = [(0, setup)] + [(len(setup), step)] * passes
    for offset, events in streams:
        for i, ev in enumerate(events):
            if ev > 0:
                size = nbytes[ev - 1]
                if size <= 0:  # torch hands out no block for an empty storage
                    continue
                block = live[ev] = model.malloc(size)
                by_kind[kinds[ev - 1] if kinds else 0] += block.size
                if model.allocated > peak:
                    peak, peak_event, peak_kinds = model.allocated, offset + i, list(by_kind)
            else:
                freed = live.pop(-ev) if -ev in live else None
                if freed is not None:
                    block = freed
                    by_kind[kinds[-ev - 1] if kinds else 0] -= block.size
                    model.release(block)
    return ReplayResult(peak, model.reserved, peak_event, model.allocated, tuple(peak_kinds))


@dataclass(frozen=True)
class PhasePeak:
    """One phase of a replayed run, on the allocator the phases before it left behind."""

    peak_allocated: int  # highest allocated bytes during the phase
    reserved: int  # reserved bytes at the end of the phase (segments are never given back)
    peak_by_kind: tuple[int, ...]  # allocated bytes per kind at the phase's peak


def replay_phases(
    phases: Sequence[Sequence[int]],
    nbytes: Sequence[int],
    kinds: bytes | Sequence[int] = b"",
    reserved_limit: int | None = None,
) -> list[PhasePeak]:
    """Replay ``phases`` in order on one allocator (events as in ``replay``); one result per phase.

    What one phase frees and caches is what the next one allocates from: blocks a validation
    pass splits stay split for the training steps after it. With ``reserved_limit``, the replay
    stops after the first phase whose reserved bytes pass it (reserved never goes down, so the
    rest cannot come back under): the list is then shorter than ``phases``.
    """
    model = CachingAllocatorModel()
    malloc, release = model.malloc, model.release  # the loop runs ~10^5 times per estimate
    live: dict[int, _Block] = {}
    pop = live.pop
    kind_of = kinds if kinds else bytes(len(nbytes))
    by_kind = [0] * (max(kind_of) + 1 if kind_of else 1)
    out: list[PhasePeak] = []
    for events in phases:
        peak, peak_kinds = model.allocated, list(by_kind)
        for ev in events:
            if ev > 0:
                size = nbytes[ev - 1]
                if size <= 0:  # torch hands out no block for an empty storage
                    continue
                if ev in live:  # a bug in how the phases were put together, not a user error
                    raise RuntimeError(f"allocation {ev} replayed while still allocated")
                block = live[ev] = malloc(size)
                by_kind[kind_of[ev - 1]] += block.size
                if model.allocated > peak:
                    peak, peak_kinds = model.allocated, list(by_kind)
            else:
                freed = pop(-ev, None)
                if freed is not None:
                    by_kind[kind_of[-ev - 1]] -= freed.size
                    release(freed)
        out.append(PhasePeak(peak, model.reserved, tuple(peak_kinds)))
        if reserved_limit is not None and model.reserved > reserved_limit:
            break
    return out
