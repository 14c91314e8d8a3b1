"""Our server as a real process, folding with a fake summarizer from ``tests.fakes``.

``python -m tests.serve_fake --store URL --port P [--window-size N] [--summarizer echo]``
runs exactly what ``motorhead-magic serve`` runs, except that the summary model is
``tests.fakes.make_summarizer(name)`` (there is no LLM key here).
:class:`ServerProcess` starts one on a free loopback port and stops it with SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import motorhead_magic as mh

REPO = Path(__file__).resolve().parent.parent


class ServerProcess:
    """A server subprocess on 127.0.0.1; ``url`` once started, ``stop()`` sends SIGTERM."""

    def __init__(self, store: str, *, window_size: int = 12, summarizer: str | None = None,
                 api_key: str | None = None, cli: bool = False,
                 env: dict[str, str] | None = None, extra: list[str] | None = None) -> None:
        from tests.conftest import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if cli:  # the real console entry point, for the CLI's own tests
            args = [sys.executable, "-m", "motorhead_magic", "serve", "--model", "none"]
        else:
            args = [sys.executable, "-m", "tests.serve_fake"]
            if summarizer:
                args += ["--summarizer", summarizer]
        args += ["--store", store, "--port", str(self.port), "--window-size", str(window_size)]
        args += extra or []
        child_env = {**os.environ, **(env or {})}
        if api_key:
            child_env["MOTORHEAD_API_KEY"] = api_key
        # A file, not a pipe: a pipe nobody reads would block a chatty server.
        self._log = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen(args, cwd=REPO, env=child_env, stdout=self._log,
                                     stderr=subprocess.STDOUT, text=True)

    def start(self, timeout: float = 60.0) -> ServerProcess:
        from tests.conftest import wait_for_port

        try:
            wait_for_port(self.port, timeout=timeout, proc=self.proc)
        except (RuntimeError, TimeoutError) as exc:
            self.stop()
            raise RuntimeError(f"server did not start: {exc}\n{self.output}") from exc
        return self

    output = ""

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (graceful: requests finish, the memory closes); returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self._log.closed:
            self._log.seek(0)
            self.output = self._log.read()
            self._log.close()
        return self.proc.returncode

    def alive(self) -> bool:
        return self.proc.poll() is None


def main() -> None:
    from motorhead_magic.server import run
    from tests.fakes import make_summarizer

    parser = argparse.ArgumentParser()
    parser.add_argument("--store", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--window-size", type=int, default=12)
    parser.add_argument("--summarizer", default=None)
    args = parser.parse_args()
    memory = mh.connect(args.store, window_size=args.window_size,
                        summarizer=make_summarizer(args.summarizer))
    run(memory, "127.0.0.1", args.port, api_key=os.environ.get("MOTORHEAD_API_KEY"),
        log_level="warning")


if __name__ == "__main__":
    main()
