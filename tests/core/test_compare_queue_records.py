"""The queue's records without training: resume keeps what finished, stop without a queue process,
damaged or hostile queue files are one line and an exit code."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.core.launch_helpers import make_record
from yolofreeze.core.compare.queue import Member, _save_members, create_queue, load_queue, prepare_resume, request_stop
from yolofreeze.core.training.runs import write_json_atomic
from yolofreeze.tui.cli import main


def ended(state: Path, run_id: str, ending: str, code: int) -> str:
    rec = make_record(state, run_id)
    write_json_atomic(rec.dir / "status.json", {"phase": "done", "ending": ending, "exit_code": code})
    write_json_atomic(rec.dir / "exit.json", {"returncode": code})
    return run_id


def queue_with(state: Path, members: list[Member], phase: str = "stopped") -> Path:
    qdir = create_queue("c.pt", "d.yaml", [(m.plan, frozenset({"model.0.conv.weight"})) for m in members], {}, state)
    _save_members(qdir, phase, members)
    return qdir


def test_resume_keeps_finished_members_and_puts_the_others_back_in_line(tmp_path: Path) -> None:
    a = ended(tmp_path, "20260101-000000-none-0001", "finished", 0)
    b = ended(tmp_path, "20260101-000100-backbone-0002", "stopped", 130)
    qdir = queue_with(
        tmp_path, [Member("none", a, "finished"), Member("backbone", b, "running"), Member("all", None, "skipped")]
    )
    (qdir / "stop.json").write_text("{}")
    view = prepare_resume(qdir)
    assert [(m.plan, m.state, m.run_id) for m in view.members] == [
        ("none", "finished", a),
        ("backbone", "pending", None),
        ("all", "pending", None),
    ]
    assert view.phase == "waiting" and not (qdir / "stop.json").exists()


def test_stopping_a_queue_whose_process_is_gone_records_the_rest_as_skipped(tmp_path: Path) -> None:
    a = ended(tmp_path, "20260101-000000-none-0001", "stopped", 130)
    qdir = queue_with(tmp_path, [Member("none", a, "running"), Member("all")], phase="running")
    line = request_stop(qdir)
    assert "stopped none" in line
    view = load_queue(qdir)
    assert (view.phase, [m.state for m in view.members]) == ("stopped", ["stopped", "skipped"])


@pytest.mark.parametrize("damage", ["fifo", "bad-json", "wrong-id"])
def test_a_damaged_queue_is_one_line_and_exit_1(
    tmp_path: Path, damage: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("YOLOFREEZE_STATE_DIR", str(tmp_path))
    qdir = queue_with(tmp_path, [Member("none")])
    if damage == "fifo":
        (qdir / "members.json").unlink()
        os.mkfifo(qdir / "members.json")
    elif damage == "bad-json":
        (qdir / "members.json").write_text("{not json")
    else:
        spec = json.loads((qdir / "queue.json").read_text())
        (qdir / "queue.json").write_text(json.dumps(spec | {"queue_id": "someone-else"}))
    assert main(["compare", qdir.name]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"yolofreeze-tui: queue {qdir.name}")
    assert main(["compare", "--resume", qdir.name]) == 1
