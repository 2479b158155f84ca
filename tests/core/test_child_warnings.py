"""The training log is not buried under warnings about yolov5's and torch's own code."""

from __future__ import annotations

import subprocess
import sys

import pytest

TRIGGER = (
    "import warnings\n"
    "warnings.simplefilter('always')\n"  # as a reset registry would: every occurrence prints
    "{setup}\n"
    "import torch\n"
    "for _ in range(3):\n"
    "    with torch.cuda.amp.autocast(False):\n"  # what train.py 7.0.x does around every forward
    "        pass\n"
    "warnings.warn('pkg_resources is deprecated as an API. See …', UserWarning)\n"
    "warnings.warn('a warning of the user\\'s own', UserWarning)\n"
)
QUIET = "from yolofreeze.core.training.child.offline import quiet_known_warnings; quiet_known_warnings()"


def stderr_of(setup: str) -> str:
    code = TRIGGER.format(setup=setup)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stderr


@pytest.mark.parametrize("quiet", [False, True])
def test_known_noise_is_filtered_and_nothing_else(quiet: bool) -> None:
    err = stderr_of(QUIET if quiet else "")
    assert "a warning of the user's own" in err  # other warnings still reach the log
    noisy = err.count("torch.cuda.amp.autocast(args...)` is deprecated") + err.count("pkg_resources is deprecated")
    assert noisy == (0 if quiet else 4), err
