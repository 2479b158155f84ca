"""Comparing freeze plans: what each run cost and what it learned, side by side.

``summary`` reads one run (ours or a plain yolov5 ``runs/train/expN`` folder) into a
``RunSummary``; ``table`` turns several into the comparison table and verdicts; ``report``
writes them to files; ``queue`` runs the plans one after another as ordinary runs.
"""
