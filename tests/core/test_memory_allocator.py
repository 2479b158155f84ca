"""The caching-allocator model: the rules a user's reserved memory (GPU_mem, nvidia-smi) follows."""

from __future__ import annotations

import random

from yolofreeze.core.memory.allocator import CachingAllocatorModel, replay, round_size, segment_size

MIB = 1 << 20


def test_requests_round_to_512_bytes_and_pick_the_segment_size_by_pool() -> None:
    assert round_size(1) == 512
    assert round_size(513) == 1024
    assert segment_size(round_size(100)) == 2 * MIB  # small pool
    assert segment_size(round_size(3 * MIB)) == 20 * MIB  # 1-10 MiB: 20 MiB segments
    assert segment_size(round_size(11 * MIB + 1)) == 12 * MIB  # larger: rounded up to 2 MiB


def test_small_requests_share_one_2mib_segment() -> None:
    r = replay([], [1, 2, 3, -1, -2, -3], [1000, 1000, 1000])
    assert r.peak_allocated == 3 * 1024
    assert r.peak_reserved == 2 * MIB


def test_freed_blocks_are_reused_without_reserving_more() -> None:
    # two 5 MiB tensors live together, then one after the other, step after step
    r = replay([], [1, 2, -1, -2, 3, -3], [5 * MIB, 5 * MIB, 5 * MIB], passes=3)
    assert r.peak_reserved == 20 * MIB
    assert r.peak_allocated == 10 * MIB


def test_neighbouring_free_blocks_merge_so_a_larger_request_fits_in_place() -> None:
    # three 4 MiB blocks fill most of one 20 MiB segment; freeing the first two must let an
    # 8 MiB request reuse them instead of reserving a new segment
    r = replay([], [1, 2, 3, -1, -2, 4, -3, -4], [4 * MIB, 4 * MIB, 4 * MIB, 8 * MIB])
    assert r.peak_reserved == 20 * MIB


def test_a_block_too_small_to_split_is_counted_whole_in_allocated() -> None:
    # a 1.5 MiB request takes a free 2 MiB hole whole: the remaining 0.5 MiB (<= 1 MiB) is not split
    a = CachingAllocatorModel()
    big = a.malloc(12 * MIB)
    a.release(big)
    a.malloc(10 * MIB + MIB // 2)
    # the rest of the 12 MiB segment is 1.5 MiB: more than 1 MiB, so it was split off
    assert a.allocated == 10 * MIB + MIB // 2
    hole = a.malloc(3 * MIB // 2)
    assert hole.size == 3 * MIB // 2
    b = CachingAllocatorModel()
    seg = b.malloc(12 * MIB)
    b.release(seg)
    b.malloc(11 * MIB + MIB // 2)  # leaves 0.5 MiB: not split, whole 12 MiB counted
    assert b.allocated == 12 * MIB
    assert b.reserved == 12 * MIB


def test_random_streams_return_every_byte_and_keep_reserved_at_least_allocated() -> None:
    rng = random.Random(7)
    sizes: list[int] = []
    events: list[int] = []
    live: list[int] = []
    for _ in range(5000):
        if live and rng.random() < 0.5:
            events.append(-live.pop(rng.randrange(len(live))))
        else:
            sizes.append(rng.choice([rng.randint(1, 4096), rng.randint(1, 3 * MIB), rng.randint(1, 40 * MIB)]))
            events.append(len(sizes))
            live.append(len(sizes))
    events += [-k for k in live]
    r = replay([], events, sizes)
    assert r.end_allocated == 0
    assert r.peak_reserved >= r.peak_allocated >= max(round_size(s) for s in sizes)
    assert sum(r.peak_by_kind) == r.peak_allocated
