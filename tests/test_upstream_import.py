"""Import from a real Redis filled in upstream Motörhead's layout (v2+ and pre-v2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import redis

import motorhead_magic as mh
from motorhead_magic.transfer import parse_entry, read_frame, read_sessions
from tests.serve_fake import REPO


def lpush_like_upstream(client: redis.Redis, key: str, messages: list[tuple[str, str]]) -> None:
    """Upstream LPUSHes each POST's messages in order, so the newest ends at index 0."""
    client.lpush(key, *[f"{role}: {content}" for role, content in messages])


@pytest.fixture
def upstream(redis_url: str) -> str:
    client = redis.Redis.from_url(redis_url)
    # v2+: session:{id}, context:{id}, tokens:{id}, sessions / sessions:{ns}
    lpush_like_upstream(client, "session:alice", [("Human", "hi: I'm Alice"), ("AI", "Hello!")])
    lpush_like_upstream(client, "session:alice", [("Human", "bye"), ("AI", "See you: soon")])
    client.set("context:alice", "Alice greeted the AI.")
    client.set("tokens:alice", "321")
    lpush_like_upstream(client, "session:bob/🤘", [("Human", "rock"), ("AI", "roll")])
    client.zadd("sessions", {"alice": 1_700_000_200, "bob/🤘": 1_700_000_100})
    client.zadd("sessions:team", {"alice": 1_700_000_200})
    client.zadd("sessions:other", {"alice": 1_700_000_200})
    client.rpush("session:odd", "no separator here")
    # pre-v2: the bare id, {id}_context, {id}_tokens
    lpush_like_upstream(client, "legacy-1", [("Human", "old question"), ("AI", "old answer")])
    client.set("legacy-1_context", "An old talk.")
    client.set("legacy-1_tokens", "42")
    # upstream's vector hashes are not messages
    client.hset("motorhead:abc", mapping={"session": "alice", "role": "Human", "content": "x"})
    return redis_url


def test_entries_split_on_the_first_separator():
    assert parse_entry("AI: a: b") == ("AI", "a: b")
    assert parse_entry("Human: ") == ("Human", "")
    assert parse_entry("no separator") == ("Unknown", "no separator")


def test_read_sessions_both_layouts(upstream):
    found = {s.session_id: s for s in read_sessions(upstream)}
    assert set(found) == {"alice", "bob/🤘", "odd", "legacy-1"}
    alice = found["alice"]
    assert alice.messages == [("Human", "hi: I'm Alice"), ("AI", "Hello!"), ("Human", "bye"),
                              ("AI", "See you: soon")]
    assert (alice.context, alice.tokens, alice.layout) == ("Alice greeted the AI.", 321, "v2")
    assert sorted(alice.namespaces) == ["other", "team"]
    legacy = found["legacy-1"]
    assert (legacy.layout, legacy.context, legacy.tokens) == ("v1", "An old talk.", 42)
    assert legacy.messages == [("Human", "old question"), ("AI", "old answer")]
    ordered = [s.session_id for s in read_sessions(upstream)]
    assert ordered[:2] == ["bob/🤘", "alice"]  # by upstream's last-write score


def test_read_frame_has_the_messages_schema(upstream):
    frame = read_frame(upstream)
    assert list(frame.columns) == ["session_id", "seq", "role", "content", "tokens",
                                   "created_at", "summarized", "metadata"]
    assert str(frame["created_at"].dtype).startswith("datetime64") and "UTC" in str(
        frame["created_at"].dtype)
    alice = frame[frame["session_id"] == "alice"]
    assert alice["seq"].tolist() == [0, 1, 2, 3]
    assert alice["content"].tolist()[-1] == "See you: soon"
    assert alice["metadata"].iloc[0]["upstream_context"] == "Alice greeted the AI."
    assert (frame["tokens"] > 0).sum() >= 8 and not frame["summarized"].any()
    assert pd.isna(frame["created_at"]).all()


def run_import(*args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "JUPYTER_DATA_DIR": str(tmp_path),
           "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "motorhead_magic", "import", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120, env=env)


def test_cli_import_into_sqlite_then_rerun_skips(upstream, tmp_path):
    target = f"sqlite:///{tmp_path / 'imported.db'}"
    result = run_import(upstream, "--to", target, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "imported 4 session(s), 9 message(s)" in result.stdout
    memory = mh.connect(target, window_size=12)
    assert memory.sessions() == ["bob/🤘", "alice", "legacy-1", "odd"]  # unscored: by id
    assert memory.sessions(namespace="team") == ["alice"]
    assert memory.sessions(namespace="other") == ["alice"]
    view = memory.get("alice")
    assert [m.content for m in view.messages] == ["hi: I'm Alice", "Hello!", "bye",
                                                  "See you: soon"]
    assert (view.context, view.tokens) == ("Alice greeted the AI.", 321)
    [summary] = memory.summaries("alice")
    assert summary.through_seq == -1
    assert memory.get("legacy-1").context == "An old talk."
    assert [(m.role, m.content) for m in memory.history("odd")] == [
        ("Unknown", "no separator here")]
    memory.close()

    again = run_import(upstream, "--to", target, tmp_path=tmp_path)
    assert again.returncode == 0 and "imported 0 session(s)" in again.stdout
    assert "skipped 4 already there" in again.stdout


def test_import_into_the_same_redis_under_our_prefix(upstream):
    from motorhead_magic.transfer import import_into

    report = import_into(upstream, upstream, prefix="migrated")
    assert report.sessions == 4
    again = import_into(upstream, upstream, prefix="migrated")  # our keys are not re-read
    assert (again.sessions, len(again.skipped)) == (0, 4)
    memory = mh.connect(upstream, prefix="migrated")
    assert [m.content for m in memory.history("bob/🤘")] == ["rock", "roll"]
    memory.close()


def test_unreachable_source_is_one_line_exit_2(tmp_path):
    from tests.conftest import free_port

    result = run_import(f"redis://127.0.0.1:{free_port()}/0", "--to",
                        f"sqlite:///{tmp_path / 'x.db'}", tmp_path=tmp_path)
    assert result.returncode == 2 and "cannot reach upstream Redis" in result.stderr
    assert "Traceback" not in result.stderr
