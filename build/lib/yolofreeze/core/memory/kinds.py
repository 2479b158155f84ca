"""What each traced allocation holds; the order is the order of ``MemoryBreakdown``'s parts."""

from __future__ import annotations

WEIGHTS = 0
EMA = 1
GRADIENTS = 2
OPTIMIZER = 3
AMP_CACHE = 4
ACTIVATIONS = 5
TEMPORARIES = 6
NAMES = ("weights", "ema", "gradients", "optimizer", "amp_cache", "activations", "temporaries")
