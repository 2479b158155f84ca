"""Data YAMLs: a generated demo dataset, and the checks that catch a bad one before training starts.

YOLOv5 finds these problems late (after importing torch and building the model) or not at all:
a missing ``val`` folder makes its ``check_dataset`` run the YAML's ``download:`` entry, which is
arbitrary Python or a network download. So everything is checked here first, and the training gets a
normalised copy of the YAML with absolute paths and no ``download:`` key.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

IMAGE_SUFFIXES = frozenset({".bmp", ".dng", ".jpeg", ".jpg", ".mpo", ".png", ".tif", ".tiff", ".webp", ".pfm"})
DEMO_DATASET_VERSION = "1"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the inputs, tied to the form field / CLI option that can fix it."""

    field: str  # "data", "batch", "device", "weights", "plan", "img", "epochs", "hyp", "yolov5_dir" …
    message: str
    exit_code: int = 4  # yolofreeze.core.errors: 4 bad data/options, 5 no GPU, 1 unreadable checkpoint


@dataclass(frozen=True)
class DataCheck:
    """A data YAML that passed (``problems`` empty) or did not, with what training will be given."""

    path: Path
    problems: tuple[Problem, ...]
    normalised: dict[str, Any] = field(default_factory=dict)  # absolute paths, no download key
    nc: int | None = None
    names: tuple[str, ...] = ()
    train_images: int = 0
    val_images: int = 0


def _names(data: dict[str, Any]) -> tuple[list[str] | None, str | None]:
    names = data.get("names")
    if isinstance(names, list | tuple):
        return [str(x) for x in names], None
    if isinstance(names, dict):
        keys = list(names)
        if not all(isinstance(k, int) for k in keys):
            return None, "names: keys must be whole numbers (0: car, 1: person …)"
        if sorted(keys) != list(range(len(keys))):
            return None, "names: keys must be 0 … N-1 with none missing"
        return [str(names[k]) for k in sorted(keys)], None
    return None, "names: missing (a list of class names, or a dict 0: name)"


def _image_files(root: Path) -> list[Path]:
    """Images under a folder (recursively), or listed in a .txt file, as YOLOv5 reads them."""
    if root.is_dir():
        return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    out: list[Path] = []
    with open(root, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if line:
                p = Path(line) if os.path.isabs(line) else root.parent / line
                if p.suffix.lower() in IMAGE_SUFFIXES:
                    out.append(p)
    return out


def label_path(image: Path) -> Path:
    """YOLOv5's rule: the last ``/images/`` in the path becomes ``/labels/``, suffix ``.txt``."""
    s = str(image)
    sa, sb = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    i = s.rfind(sa)
    if i < 0:
        return image.with_suffix(".txt")
    return Path(s[:i] + sb + s[i + len(sa) :]).with_suffix(".txt")


def _resolve(value: str, bases: Iterable[Path]) -> tuple[Path | None, list[Path]]:
    tried: list[Path] = []
    p = Path(os.path.expanduser(value))
    if p.is_absolute():
        return (p if p.exists() else None), [p]
    for base in bases:
        cand = (base / p).resolve()
        tried.append(cand)
        if cand.exists():
            return cand, tried
    return None, tried


def check_data_yaml(
    path: str | os.PathLike[str], yolov5_root: Path | None = None, max_label_files: int = 2000
) -> DataCheck:
    """Every problem with a data YAML, one per field; nothing is imported or downloaded."""
    import yaml

    p = Path(path).expanduser()
    if not p.is_file():
        return DataCheck(p, (Problem("data", f"data YAML not found: {p}"),))
    try:
        with open(p, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        where = getattr(e, "problem_mark", None)
        at = f" (line {where.line + 1})" if where is not None else ""
        return DataCheck(p, (Problem("data", f"{p.name}: not valid YAML{at}: {type(e).__name__}"),))
    if not isinstance(data, dict):
        return DataCheck(p, (Problem("data", f"{p.name}: expected a mapping with train/val/names"),))

    problems: list[Problem] = []
    names, err = _names(data)
    if err:
        problems.append(Problem("data", f"{p.name}: {err}"))
    if names is not None and "nc" in data:
        try:
            nc_declared = int(data["nc"])
        except (TypeError, ValueError):
            problems.append(Problem("data", f"{p.name}: nc: {data['nc']!r} is not a whole number"))
        else:
            if nc_declared != len(names):
                problems.append(Problem("data", f"{p.name}: nc is {nc_declared} but names lists {len(names)} classes"))
    if names is not None and not names:
        problems.append(Problem("data", f"{p.name}: names is empty"))

    # A relative 'path' is taken from the YAML's folder first (what a user means), then the current
    # directory, then the yolov5 root (train.py's own rule, for clone users).
    bases = [p.parent.resolve(), Path.cwd()] + ([yolov5_root] if yolov5_root else [])
    root_value = data.get("path")
    if root_value:
        root, tried = _resolve(str(root_value), bases)
        if root is None:
            problems.append(
                Problem("data", f"{p.name}: path: {root_value} not found (tried {', '.join(map(str, tried))})")
            )
            return DataCheck(p, tuple(problems))
        split_bases = [root]
    else:
        split_bases = bases

    normalised: dict[str, Any] = {k: v for k, v in data.items() if k not in ("download", "path")}
    counts: dict[str, int] = {}
    for split in ("train", "val", "test"):
        value = data.get(split)
        if not value:
            if split != "test":
                problems.append(Problem("data", f"{p.name}: {split}: missing"))
            continue
        items = value if isinstance(value, list) else [value]
        resolved: list[str] = []
        n_images = 0
        for item in items:
            where, tried = _resolve(str(item), split_bases)
            if where is None:
                problems.append(
                    Problem("data", f"{p.name}: {split}: image folder not found: {tried[0] if tried else item}")
                )
                continue
            images = _image_files(where)
            if not images:
                problems.append(Problem("data", f"{p.name}: {split}: no images in {where}"))
                continue
            sample = images[:max_label_files]
            with_labels = [im for im in sample if label_path(im).is_file()]
            if not with_labels:
                problems.append(
                    Problem(
                        "data",
                        f"{p.name}: {split}: no label files for the images in {where} "
                        f"(expected e.g. {label_path(images[0])})",
                    )
                )
            elif split == "train" and names:
                bad = _bad_label(with_labels, len(names))
                if bad:
                    problems.append(Problem("data", f"{p.name}: {split}: {bad}"))
            resolved.append(str(where))
            n_images += len(images)
        counts[split] = n_images
        if resolved:
            normalised[split] = resolved if isinstance(value, list) else resolved[0]
    if names is not None:
        normalised["names"] = {i: n for i, n in enumerate(names)}
        normalised["nc"] = len(names)
    return DataCheck(
        p,
        tuple(problems),
        normalised if not problems else {},
        len(names) if names is not None else None,
        tuple(names or ()),
        counts.get("train", 0),
        counts.get("val", 0),
    )


def _bad_label(images: list[Path], nc: int) -> str | None:
    """The first label line YOLOv5 would reject: class out of range or not 5 numbers."""
    for im in images:
        lp = label_path(im)
        try:
            text = lp.read_text(encoding="utf-8", errors="replace")
        except OSError as e:
            return f"cannot read {lp}: {e.strerror}"
        for n, line in enumerate(text.splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            try:
                values = [float(x) for x in parts]
            except ValueError:
                return f"{lp}:{n}: not numbers"
            if len(values) < 5:
                return f"{lp}:{n}: expected 'class x y w h'"
            cls = values[0]
            if cls != int(cls) or not 0 <= cls < nc:
                return f"{lp}:{n}: class {parts[0]} is outside 0..{nc - 1} (names lists {nc})"
    return None


# ---------------------------------------------------------------------------------------------
# the generated demo dataset


def make_dataset(root: Path, n_train: int = 24, n_val: int = 8, size: int = 96, nc: int = 2, seed: int = 0) -> Path:
    """Write a small synthetic detection dataset (filled rectangles/ellipses on noise) + data.yaml."""
    import numpy as np
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    nprng = np.random.default_rng(seed)
    names = ["box", "disc", "bar", "ring"][:nc] + [f"class{i}" for i in range(4, nc)]
    for split, n in (("train", n_train), ("val", n_val)):
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            bg = nprng.integers(0, 80, (size, size, 3), dtype=np.uint8)
            im = Image.fromarray(bg)
            draw = ImageDraw.Draw(im)
            lines = []
            for _ in range(rng.randint(1, 3)):
                cls = rng.randrange(nc)
                w, h = rng.randint(size // 6, size // 2), rng.randint(size // 6, size // 2)
                x0, y0 = rng.randint(0, size - w), rng.randint(0, size - h)
                colour = (rng.randint(120, 255), rng.randint(120, 255), rng.randint(0, 255))
                if cls % 2 == 0:
                    draw.rectangle((x0, y0, x0 + w, y0 + h), fill=colour)
                else:
                    draw.ellipse((x0, y0, x0 + w, y0 + h), fill=colour)
                cx, cy = (x0 + w / 2) / size, (y0 + h / 2) / size
                lines.append(f"{cls} {cx:.6f} {cy:.6f} {w / size:.6f} {h / size:.6f}")
            im.save(root / "images" / split / f"{i:04d}.jpg", quality=90)
            (root / "labels" / split / f"{i:04d}.txt").write_text("\n".join(lines) + "\n")
    data = root / "data.yaml"
    body = [f"path: {root}", "train: images/train", "val: images/val", f"nc: {nc}", "names:"]
    body += [f"  {i}: {n}" for i, n in enumerate(names)]
    data.write_text("\n".join(body) + "\n")
    return data


def demo_dataset() -> Path:
    """The demo dataset's data.yaml, generated once into the cache dir (a few dozen images)."""
    from yolofreeze.core.demo import cache_dir

    root = cache_dir() / f"demo-dataset-v{DEMO_DATASET_VERSION}"
    data = root / "data.yaml"
    if not (root / ".complete").is_file():
        make_dataset(root)
        (root / ".complete").touch()
    return data
