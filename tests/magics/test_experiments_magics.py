"""The experiments from a notebook: %%motorhead --compare and %motorhead adopt, replay,
usage, seen (fork is in the conformance-backed tests of test_fork_magics)."""

from __future__ import annotations

import pandas as pd
import pytest
from IPython.core.error import UsageError

from tests.magics.conftest import RecordingChat, magics


def turn(ip, text: str, flags: str = ""):
    return ip.run_cell_magic("motorhead", flags, text)


def line(ip, text: str):
    return ip.run_line_magic("motorhead", text)


def test_compare_then_adopt(ip, chat, capsys):
    ip.user_ns["a"] = RecordingChat(responses=["Answer from A"])
    ip.user_ns["b"] = RecordingChat(responses=["Answer from B"])
    turn(ip, "hi im bob")
    frame = turn(ip, "which band?", "--compare a,b")
    assert isinstance(frame, pd.DataFrame) and frame["reply"].tolist() == [
        "Answer from A", "Answer from B"]
    out = capsys.readouterr().out
    assert "--- a ---\nAnswer from A" in out and "--- b ---\nAnswer from B" in out
    assert len(magics(ip).memory.history("default")) == 2  # nothing stored yet
    line(ip, "adopt b")
    history = magics(ip).memory.history("default")
    assert [m.content for m in history[-2:]] == ["which band?", "Answer from B"]
    with pytest.raises(UsageError, match="no comparison yet"):
        line(ip, "adopt a")  # spent


def test_compare_and_adopt_errors_are_one_line(ip, chat):
    for flags, needle in [("--compare a", "2 to 8 models"),
                          ("--compare nosuch,chat", "no variable or model 'nosuch'")]:
        result = ip.run_cell(f"%%motorhead {flags}\nhi")
        assert isinstance(result.error_in_exec, UsageError)
        assert needle in str(result.error_in_exec) and "\n" not in str(result.error_in_exec)
    ip.user_ns["a"] = RecordingChat(responses=["A"])
    turn(ip, "q", "--compare a,chat")
    turn(ip, "another turn")  # the session moved on
    with pytest.raises(UsageError, match="moved since the comparison"):
        line(ip, "adopt 0")


def test_replay_usage_and_seen(ip, chat, capsys):
    for text in ("hi im bob", "whats my name?"):
        turn(ip, text)
    ip.user_ns["other"] = RecordingChat(responses=["R1", "R2"])
    frame = line(ip, "replay default --model other --as again")
    assert frame["reply"].tolist() == ["R1", "R2"] and frame.attrs["session_id"] == "again"
    out = capsys.readouterr().out
    assert "replaying [" in out and "2/2" in out
    assert "replayed 2 turns of 'default' into 'again'" in out
    usage = line(ip, "usage")
    assert usage["kind"].tolist() == ["chat", "chat"]
    ip.run_line_magic("config", "MotorheadMagics.prices = {'chat (RecordingChat)': (1.0, 2.0)}")
    priced = line(ip, "usage")
    expected = (priced["input_tokens"] * 1.0 + priced["output_tokens"] * 2.0) / 1000
    assert priced["cost"].tolist() == pytest.approx(expected.tolist())
    report = line(ip, "seen")
    text = str(report)
    assert text.splitlines()[0].startswith("[system] system: You are a chatbot")
    assert "[window #0] Human: hi im bob" in text and "[input #2] Human: whats my name?" in text
