"""Data YAMLs: a generated demo dataset, and the checks that catch a bad one before training starts.

YOLOv5 finds these problems late (after importing torch and building the model) or not at all:
a missing ``val`` folder makes its ``check_dataset`` run the YAML's ``download:`` entry, which is
arbitrary Python or a network download. So everything is checked here first, and the training gets a
normalised copy of the YAML with absolute paths and no ``download:`` key.

Every file named by a data YAML is untrusted: the YAML itself, image-list .txt files and label files
are read through yolofreeze.core.safeio (a FIFO, a device or a directory is refused before a byte is read, and
each kind of file has a size bound), and YAML is parsed by ``load_yaml_file``, which refuses an
alias bomb ("billion laughs") before building anything from it.
"""

from __future__ import annotations

import errno
import math
import os
import random
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yolofreeze.core.safeio import UnsafePathError, open_regular, read_limited

IMAGE_SUFFIXES = frozenset({".bmp", ".dng", ".jpeg", ".jpg", ".mpo", ".png", ".tif", ".tiff", ".webp", ".pfm"})
DEMO_DATASET_VERSION = "1"
# Bounds far above any real file of each kind (ImageNet's data YAML is ~30 KiB, a COCO label file
# a few KiB, Objects365's image list ~100 MiB) and far below what would take seconds or gigabytes.
MAX_YAML_BYTES = 1024 * 1024
MAX_YAML_NODES = 200_000  # counted with every alias expanded: what a tree walk of the result would visit
MAX_IMAGE_LIST_BYTES = 512 * 1024 * 1024
MAX_LABEL_BYTES = 16 * 1024 * 1024


class YamlRefused(ValueError):
    """A YAML file that is not read: not a regular file, too large, an alias bomb, too deep."""


def load_yaml_file(path: str | os.PathLike[str], limit: int = MAX_YAML_BYTES) -> Any:
    """``yaml.safe_load`` of a file, with the file and the document bounded.

    Raises YamlRefused with a one-line reason for a special file, an oversize file, non-UTF-8 text,
    a document whose expanded size (aliases counted at every use) is over MAX_YAML_NODES, or one
    nested too deeply; yaml.YAMLError for a syntax error; OSError (FileNotFoundError …) as usual.
    """
    import yaml

    try:
        text = read_limited(path, limit).decode("utf-8")
    except UnsafePathError as e:
        raise YamlRefused(str(e.strerror)) from None
    except UnicodeDecodeError as e:
        raise YamlRefused(f"not UTF-8 text (byte {e.start})") from None
    loader_cls = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_cls(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return loader.construct_document(node)
    except RecursionError:
        raise YamlRefused("nested too deeply") from None
    except (ValueError, OverflowError, MemoryError) as e:  # e.g. an integer of 5,000 digits
        if isinstance(e, YamlRefused):
            raise
        raise YamlRefused(f"a value cannot be read ({type(e).__name__})") from None
    finally:
        loader.dispose()


def _check_expansion(root: Any) -> None:
    """Refuse a node graph whose tree expansion is over MAX_YAML_NODES (or that is recursive).

    Aliases make the composed graph share nodes, so it stays small while anything that walks the
    loaded data as a tree (str() of a list, yaml.safe_dump, yolov5's own checks) would visit
    10**9 items. Sizes are memoised per node, so this costs one visit per distinct node.
    """
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node)
        if done:
            on_path.discard(key)
            total = 1 + sum(size[id(c)] for c in children)
            if total > MAX_YAML_NODES:
                raise YamlRefused(
                    f"expands to more than {MAX_YAML_NODES:,} items through anchors and aliases (an alias bomb)"
                )
            size[key] = total
            continue
        if key in size:
            continue
        if key in on_path:
            raise YamlRefused("an alias refers to a node that contains it (a recursive document)")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in size)


def _children(node: Any) -> list[Any]:
    import yaml

    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [x for pair in node.value for x in pair]
    return []


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
    """Images under a folder (recursively), or listed in a .txt file, as YOLOv5 reads them.

    An image list must be a regular file of at most MAX_IMAGE_LIST_BYTES (UnsafePathError otherwise,
    raised before reading); it is read a line at a time.
    """
    if root.is_dir():
        return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    out: list[Path] = []
    with open_regular(root) as raw:
        size = os.fstat(raw.fileno()).st_size
        if size > MAX_IMAGE_LIST_BYTES:
            limit = f"over the {MAX_IMAGE_LIST_BYTES:,}-byte limit for an image list"
            raise UnsafePathError(errno.EFBIG, f"refused: {size:,} bytes, {limit}", str(root))
        for raw_line in raw:
            line = raw_line.decode("utf-8", errors="replace").strip()
            if line:
                p = Path(line) if os.path.isabs(line) else root.parent / line
                if p.suffix.lower() in IMAGE_SUFFIXES:
                    out.append(p)
    return out


def _not_regular(path: Path) -> str | None:
    """Why ``path`` (an image or a label) is not a regular file yolov5 could read, or None."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None  # missing: reported as a missing label / left to yolov5's own check
    if stat.S_ISREG(mode):
        return None
    from yolofreeze.core.safeio import describe_mode

    return describe_mode(mode)


def label_path(image: Path) -> Path:
    """YOLOv5's rule: the last ``/images/`` in the path becomes ``/labels/``, suffix ``.txt``."""
    s = str(image)
    sa, sb = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    i = s.rfind(sa)
    if i < 0:
        return image.with_suffix(".txt")
    return Path(s[:i] + sb + s[i + len(sa) :]).with_suffix(".txt")


def _exists(p: Path) -> bool:
    try:
        return p.exists()
    except (OSError, ValueError):  # a name too long, a NUL byte: not a path that exists
        return False


def _resolve(value: str, bases: Iterable[Path]) -> tuple[Path | None, list[Path]]:
    tried: list[Path] = []
    try:
        p = Path(os.path.expanduser(value))
    except (OSError, ValueError):
        return None, [Path(value[:200])]
    if p.is_absolute():
        return (p if _exists(p) else None), [p]
    for base in bases:
        try:
            cand = (base / p).resolve()
        except (OSError, ValueError, RuntimeError):
            continue
        tried.append(cand)
        if _exists(cand):
            return cand, tried
    return None, tried


def check_data_yaml(
    path: str | os.PathLike[str], yolov5_root: Path | None = None, max_label_files: int = 2000
) -> DataCheck:
    """Every problem with a data YAML, one per field; nothing is imported or downloaded."""
    p = Path(path).expanduser()
    data = _load_data_yaml(p)
    if isinstance(data, Problem):
        return DataCheck(p, (data,))
    names, problems = _check_names(p.name, data)
    split_bases = _split_bases(p, data, yolov5_root)
    if isinstance(split_bases, Problem):
        return DataCheck(p, (*problems, split_bases))
    normalised: dict[str, Any] = {k: v for k, v in data.items() if k not in ("download", "path")}
    counts: dict[str, int] = {}
    for split in ("train", "val", "test"):
        value = data.get(split)
        if not value:
            if split != "test":
                problems.append(Problem("data", f"{p.name}: {split}: missing"))
            continue
        resolved, counts[split], found = _check_split(p.name, split, value, split_bases, names, max_label_files)
        problems += found
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


def _load_data_yaml(p: Path) -> dict[str, Any] | Problem:
    """The YAML's mapping, or the one problem that stops every other check."""
    import yaml

    try:
        data = load_yaml_file(p)
    except FileNotFoundError:
        return Problem("data", f"data YAML not found: {p}")
    except YamlRefused as e:
        return Problem("data", f"data YAML {p}: {e}")
    except OSError as e:
        return Problem("data", f"data YAML {p}: cannot read: {e.strerror or e}")
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        at = f" (line {where.line + 1})" if where is not None else ""
        return Problem("data", f"{p.name}: not valid YAML{at}: {type(e).__name__}")
    if not isinstance(data, dict):
        return Problem("data", f"{p.name}: expected a mapping with train/val/names")
    return data


def _check_names(name: str, data: dict[str, Any]) -> tuple[list[str] | None, list[Problem]]:
    """The class names, and what is wrong with them or with a declared nc."""
    problems: list[Problem] = []
    names, err = _names(data)
    if err:
        problems.append(Problem("data", f"{name}: {err}"))
    if names is not None and "nc" in data:
        try:
            nc_declared = int(data["nc"])
        except (TypeError, ValueError, OverflowError):
            problems.append(Problem("data", f"{name}: nc: {str(data['nc'])[:40]!r} is not a whole number"))
        else:
            if nc_declared != len(names):
                problems.append(Problem("data", f"{name}: nc is {nc_declared} but names lists {len(names)} classes"))
    if names is not None and not names:
        problems.append(Problem("data", f"{name}: names is empty"))
    return names, problems


def _split_bases(p: Path, data: dict[str, Any], yolov5_root: Path | None) -> list[Path] | Problem:
    """Where the splits' relative paths start; a 'path:' that is not found is a problem.

    A relative 'path' is taken from the YAML's folder first (what a user means), then the current
    directory, then the yolov5 root (train.py's own rule, for clone users).
    """
    bases = [p.parent.resolve(), Path.cwd()] + ([yolov5_root] if yolov5_root else [])
    root_value = data.get("path")
    if not root_value:
        return bases
    root, tried = _resolve(str(root_value), bases)
    if root is None:
        return Problem("data", f"{p.name}: path: {root_value} not found (tried {', '.join(map(str, tried))})")
    return [root]


def _check_split(
    name: str, split: str, value: Any, bases: list[Path], names: list[str] | None, max_label_files: int
) -> tuple[list[str], int, list[Problem]]:
    """(the split's image sources as absolute paths, how many images, problems) for one split."""
    problems: list[Problem] = []
    resolved: list[str] = []
    n_images = 0
    for item in value if isinstance(value, list) else [value]:
        where, tried = _resolve(str(item), bases)
        if where is None:
            missing = tried[0] if tried else item
            problems.append(Problem("data", f"{name}: {split}: image folder not found: {missing}"))
            continue
        count, why = _check_images(where, split, names, max_label_files)
        if why:
            problems.append(Problem("data", f"{name}: {split}: {why}"))
        if count is not None:
            resolved.append(str(where))
            n_images += count
    return resolved, n_images, problems


def _check_images(
    where: Path, split: str, names: list[str] | None, max_label_files: int
) -> tuple[int | None, str | None]:
    """(images found, or None when the source is unusable; what is wrong with it)."""
    try:
        images = _image_files(where)
    except UnsafePathError as e:
        return None, f"image list {where}: {e.strerror}"
    except OSError as e:
        return None, f"cannot read {where}: {e.strerror or e}"
    if not images:
        return None, f"no images in {where}"
    sample = images[:max_label_files]
    odd = next(((im, why) for im in sample if (why := _not_regular(im))), None)
    odd = odd or next(((lb, why) for im in sample if (why := _not_regular(lb := label_path(im)))), None)
    if odd:
        return None, f"{odd[0]} is {odd[1]}, not a regular file"  # yolov5 would block on a FIFO, read a device forever
    with_labels = [im for im in sample if label_path(im).is_file()]
    if not with_labels:
        return len(images), f"no label files for the images in {where} (expected e.g. {label_path(images[0])})"
    bad = _bad_label(with_labels, len(names)) if split == "train" and names else None
    return len(images), bad


def _bad_label(images: list[Path], nc: int) -> str | None:
    """The first label line YOLOv5 would reject: class out of range or not 5 numbers."""
    for im in images:
        lp = label_path(im)
        try:
            text = read_limited(lp, MAX_LABEL_BYTES).decode("utf-8", errors="replace")
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
            if not math.isfinite(cls) or cls != int(cls) or not 0 <= cls < nc:
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
    from yolofreeze.core.paths import cache_dir

    root = cache_dir() / f"demo-dataset-v{DEMO_DATASET_VERSION}"
    data = root / "data.yaml"
    if not (root / ".complete").is_file():
        make_dataset(root)
        (root / ".complete").touch()
    return data
