"""Staged unfreezing under DDP: do parameters that become trainable get synchronised across ranks?

Two ranks train a real yolov5n (built from yolov5's own YAML) on different random batches, the
backbone frozen, wrapped exactly as yolov5's ``smart_DDP`` does (``static_graph=True``). At the
phase boundary the backbone is unfrozen and the wrapper is rebuilt in place with the runner's
``rebuild_ddp`` (core/training/child/phases.py). After more steps the backbone must
(a) have moved and (b) be bit-identical on both ranks. ``--no-rebuild`` is the control: the
same boundary without the rebuild, where DDP's reducer never heard of the backbone (expected:
ranks diverge, or DDP raises).

    python bench/staged_ddp_check.py                 # 2 ranks, NCCL on 2 GPUs when there are, else gloo on CPU
    python bench/staged_ddp_check.py --backend gloo  # CPU
    python bench/staged_ddp_check.py --no-rebuild    # the control

Prints one line per rank and a verdict; exit 0 when the check holds (for the control: when the
divergence it exists to show was seen).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _digest(params: list[object]) -> str:
    import torch

    h = hashlib.sha256()
    for p in params:
        assert isinstance(p, torch.Tensor)
        h.update(p.detach().float().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _worker(rank: int, world: int, backend: str, rebuild: bool, port: int, result_dir: str) -> None:
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group(backend, rank=rank, world_size=world)
    cuda = backend == "nccl"
    device = torch.device(f"cuda:{rank}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)
    import yolov5
    from yolov5.models.yolo import DetectionModel

    from yolofreeze.core.training.child.phases import rebuild_ddp

    torch.manual_seed(0)  # the same initial weights on both ranks (DDP also broadcasts rank 0's)
    cfg = Path(yolov5.__file__).parent / "models" / "yolov5n.yaml"
    model = DetectionModel(str(cfg), ch=3, nc=2).to(device)
    backbone = [p for n, p in model.named_parameters() if any(n.startswith(f"model.{i}.") for i in range(10))]
    for p in backbone:
        p.requires_grad = False
    ddp = DDP(model, device_ids=[rank] if cuda else None, output_device=rank if cuda else None, static_graph=True)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    gen = torch.Generator().manual_seed(100 + rank)  # each rank its own data

    def steps(n: int) -> None:
        for _ in range(n):
            x = torch.rand(2, 3, 64, 64, generator=gen).to(device)
            out = ddp(x)
            loss = sum(o.float().pow(2).mean() for o in out)
            opt.zero_grad()
            loss.backward()
            opt.step()

    status = "ok"
    try:
        steps(2)
        frozen_before = _digest(backbone)
        for p in backbone:
            p.requires_grad = True
        if rebuild:
            rebuild_ddp(ddp)
        steps(3)
        after = _digest(backbone)
        moved = after != frozen_before
    except RuntimeError as e:  # the control may make DDP raise instead of diverging silently
        status, after, moved = f"DDP raised: {str(e).splitlines()[0][:160]}", "-", False
    Path(result_dir, f"rank{rank}.txt").write_text(f"{after} {int(moved)} {status}\n")
    print(f"rank {rank}: backbone {after} moved={moved} {status}", flush=True)
    dist.destroy_process_group()


def main() -> int:
    import tempfile

    import torch
    import torch.multiprocessing as mp

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backend", choices=("nccl", "gloo"), default=None)
    ap.add_argument("--no-rebuild", action="store_true", help="the control: unfreeze without rebuilding DDP")
    args = ap.parse_args()
    backend = args.backend or ("nccl" if torch.cuda.device_count() >= 2 else "gloo")
    if backend == "nccl" and torch.cuda.device_count() < 2:
        print("staged_ddp_check: nccl needs 2 GPUs; run with --backend gloo on CPU", file=sys.stderr)
        return 2
    from yolofreeze.core.training.launch import free_port

    with tempfile.TemporaryDirectory() as tmp:
        mp.spawn(_worker, args=(2, backend, not args.no_rebuild, free_port(), tmp), nprocs=2, join=True)
        rows = [Path(tmp, f"rank{r}.txt").read_text().split(" ", 2) for r in range(2)]
    same = rows[0][0] == rows[1][0] != "-"
    moved = all(r[1] == "1" for r in rows)
    synced = same and moved
    print(f"backend {backend}, rebuild {'off (control)' if args.no_rebuild else 'on'}: ", end="")
    print(f"backbone moved on both ranks: {moved}; identical across ranks: {same}")
    if args.no_rebuild:
        print("control: " + ("divergence/refusal seen, as expected" if not synced else "UNEXPECTED: ranks in sync"))
        return 0 if not synced else 1
    print("PASS: unfrozen parameters are synchronised after the rebuild" if synced else "FAIL")
    return 0 if synced else 1


if __name__ == "__main__":
    sys.exit(main())
