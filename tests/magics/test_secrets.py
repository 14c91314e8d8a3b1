"""No secret (a password in any URL form) in any output, error, repr, log line or
saved notebook state: each place a URL is shown, tried with a password in it."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Iterator

import pytest

import motorhead_magic as mh
from motorhead_magic.memory.remote import RemoteMemory
from motorhead_magic.settings import redact
from tests.conftest import free_port, require_binary, wait_for_port
from tests.magics.conftest import magics

SECRET = "s3cr3t-pw"


@pytest.fixture(scope="module")
def guarded_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server that requires the password SECRET; yields host:port."""
    port = free_port()
    proc = subprocess.Popen(
        [require_binary("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--requirepass", SECRET,
         "--dir", str(tmp_path_factory.mktemp("guarded"))],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc=proc)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize(("url", "shown"), [
    (f"redis://:{SECRET}@127.0.0.1:1/0", "redis://:***@127.0.0.1:1/0"),
    (f"redis://user:{SECRET}@127.0.0.1:1/0", "redis://user:***@127.0.0.1:1/0"),
    (f"redis://127.0.0.1:1/0?password={SECRET}&db=2", "redis://127.0.0.1:1/0?password=***&db=2"),
    (f"http://user:{SECRET}@127.0.0.1:1", "http://user:***@127.0.0.1:1"),
    (f"http://127.0.0.1:1/?api_key={SECRET}", "http://127.0.0.1:1/?api_key=***"),
    ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
])
def test_redact_removes_every_password_form(url, shown):
    assert redact(url) == shown


def test_redis_urls_with_a_password_work_and_show_none(guarded_redis, caplog):
    """Before: a ``?password=`` URL was printed verbatim in reprs and every
    StoreUnavailable; here every form connects, and none shows the password."""
    for url in (f"redis://:{SECRET}@{guarded_redis}/0",
                f"redis://{guarded_redis}/0?password={SECRET}"):
        with caplog.at_level(logging.DEBUG), mh.connect(url) as memory:
            memory.add("s", [{"role": "Human", "content": "hi"}])
            assert memory.sessions() == ["s"]
            assert SECRET not in memory.url + repr(memory)
    wrong = f"redis://{guarded_redis}/0?password=not-{SECRET}"
    with caplog.at_level(logging.DEBUG), pytest.raises(mh.StoreUnavailable) as failure:
        mh.connect(wrong)
    assert f"not-{SECRET}" not in str(failure.value) and "password=***" in str(failure.value)
    assert SECRET not in caplog.text


def test_a_remote_url_with_userinfo_is_never_shown():
    memory = RemoteMemory(f"http://user:{SECRET}@127.0.0.1:1", timeout=0.5)
    assert SECRET not in memory.url and SECRET not in repr(memory)
    with pytest.raises(mh.StoreUnavailable) as failure:
        memory.get("s")
    assert SECRET not in str(failure.value)
    memory.close()


def test_the_notebook_shows_no_password_anywhere(ip, capsys, guarded_redis):
    """Before: ``%config MotorheadMagics`` printed the url trait with its password, and
    ``%motorhead connect`` printed the URL verbatim."""
    ip.run_line_magic("config", f"MotorheadMagics.url = 'redis://:{SECRET}@{guarded_redis}/1'")
    assert magics(ip).url == f"redis://:***@{guarded_redis}/1"
    magics(ip).memory.add("s", [{"role": "Human", "content": "hi"}])  # the real URL is used
    ip.run_line_magic("config", "MotorheadMagics")
    ip.run_line_magic("motorhead", f"connect redis://{guarded_redis}/2?password={SECRET}")
    ip.run_line_magic("config", "MotorheadMagics.window_size = 3")  # reconnects, still works
    assert magics(ip).memory.sessions() == []
    ip.run_line_magic("motorhead", "panel")  # terminal: the panel prints as text
    out = capsys.readouterr().out
    assert "connected to" in out and "password=***" in out and SECRET not in out
