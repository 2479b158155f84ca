"""The architecture as a user of the package and a reader of the tree meet it.

`make test` runs lint-imports over the contracts in pyproject.toml; these tests keep those
contracts honest (they must name every module) and check what `pip install` leaves behind.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
# the two processes where torch and yolov5 live; nothing else may import them
TORCH_SIDE = ("yolofreeze.core.memory.tracing", "yolofreeze.core.training.child")


def our_modules() -> list[str]:
    out = []
    for top in ("core", "tui"):
        for p in (ROOT / top).rglob("*.py"):
            parts = p.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out.append(".".join(("yolofreeze", *parts)))
    return sorted(out)


def covered(module: str, roots: list[str]) -> bool:
    return any(module == r or module.startswith(r + ".") for r in roots)


def test_the_torch_contract_names_every_module_outside_the_two_children() -> None:
    contract = next(
        c for c in PYPROJECT["tool"]["importlinter"]["contracts"] if "torch" in c.get("forbidden_modules", [])
    )
    sources = contract["source_modules"]
    for m in our_modules():
        if covered(m, list(TORCH_SIDE)):
            assert not covered(m, sources), f"{m} runs torch code but the contract forbids it"
        elif m not in ("yolofreeze.core", "yolofreeze.core.memory", "yolofreeze.core.training"):
            assert covered(m, sources), f"{m} is not under the torch contract: add it to pyproject.toml"


def test_the_package_list_names_every_package_folder() -> None:
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    folders = {m for m in our_modules() if (ROOT / Path(*m.split(".")[1:]) / "__init__.py").exists()}
    assert folders == listed


@pytest.mark.slow
def test_pip_install_adds_one_top_level_name_and_no_core_or_tui(tmp_path: Path) -> None:
    """A fresh venv (our package only; its dependencies come from this venv via a .pth)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    target = tmp_path / "site"
    # from a copy: setuptools writes build/ beside the sources, which must stay out of the repo
    src = tmp_path / "src"
    for name in ("core", "tui"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    r = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(src)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    top = sorted(p.name for p in target.iterdir() if not p.name.endswith((".dist-info", ".egg-info")))
    assert top in (["yolofreeze"], ["bin", "yolofreeze"]), top
    assert sorted(p.name for p in (target / "yolofreeze").iterdir()) == ["core", "tui"]
    py = venv / "bin" / "python"
    code = (
        "import sys; sys.path[:0] = [sys.argv[1]]\n"
        "import importlib.util as u\n"
        "print(u.find_spec('core') is None, u.find_spec('tui') is None,\n"
        "      u.find_spec('yolofreeze.core.plan.freeze') is not None, u.find_spec('yolofreeze.tui.cli') is not None)\n"
    )
    out = subprocess.run([str(py), "-I", "-c", code, str(target)], capture_output=True, text=True, cwd=tmp_path)
    assert out.stdout.split() == ["True", "True", "True", "True"], out.stderr
