"""Background folds under trouble: hung and failing summary models, closes and exits
while an LLM call is in flight, and the progress users see meanwhile."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

import motorhead_magic as mh
from motorhead_magic.memory.summarizer import Summarizer
from tests.fakes import SummaryEcho
from tests.test_conformance import turns


@pytest.fixture(params=["sqlite", "redis"])
def local_url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'memory.db'}"
    return request.getfixturevalue("redis_url")


def _until(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_close_does_not_wait_for_an_llm_call_in_flight(local_url):
    """Before: close() joined the fold worker, i.e. waited out the whole LLM call."""
    memory = mh.connect(local_url, window_size=4, summarizer=SummaryEcho(delay=30))
    memory.add("s", turns(6))
    assert _until(lambda: any(p.state == "summarizing" for p in memory.progress("s")))
    (progress,) = memory.progress("s")
    assert progress.describe() == "summarizing s, chunk 1/1 (4 messages to fold)"
    started = time.monotonic()
    memory.close()
    assert time.monotonic() - started < 5  # the call itself has 30 s to go


def test_a_script_exits_while_a_summary_call_hangs(local_url, tmp_path):
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(f"""
        import motorhead_magic as mh
        from tests.fakes import SummaryEcho
        memory = mh.connect({local_url!r}, window_size=4, summarizer=SummaryEcho(delay=60))
        memory.add("s", [{{"role": "Human", "content": f"m{{i}}"}} for i in range(6)])
        import time; time.sleep(0.5)  # the fold is now inside the LLM call
        print("last line")
    """))
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=50, cwd=str(__import__("pathlib").Path(__file__).parents[1]))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "last line"
    assert time.monotonic() - started < 30  # not the 60 s of the hung call


def test_every_summary_call_has_a_deadline(local_url):
    memory = mh.connect(local_url, window_size=4,
                        summarizer=Summarizer(SummaryEcho(delay=5), timeout=0.3))
    memory.add("s", turns(6))
    memory.wait("s", timeout=10)
    assert "did not answer within 0.3 s" in str(memory.last_fold_error)
    (progress,) = memory.progress("s")
    assert progress.state == "retrying" and "did not answer" in progress.describe()
    assert memory.summaries("s") == []
    memory.close()


def test_a_failed_fold_is_retried_by_itself(local_url):
    """Before: only the next write retried a failed fold, so a quiet session stayed
    unsummarized (and out of context) indefinitely."""
    model = SummaryEcho(fail=True)
    memory = mh.connect(local_url, window_size=4, summarizer=model)
    memory.add("s", turns(6))
    memory.wait("s")
    assert memory.summaries("s") == [] and memory.last_fold_error is not None
    model.fail = False  # the model recovers; nobody writes
    assert _until(lambda: memory.summaries("s") != [], timeout=10)
    memory.wait("s")  # the summary lands a moment before the fold's bookkeeping ends
    assert memory.progress("s") == [] and memory.last_fold_error is None
    memory.close()


def test_wait_refuses_a_timeout_that_is_not_finite(local_url):
    memory = mh.connect(local_url, window_size=4, summarizer=SummaryEcho())
    for timeout in (float("inf"), float("nan"), -1):
        with pytest.raises(mh.InvalidInput, match="timeout"):
            memory.wait("s", timeout=timeout)
    memory.close()
