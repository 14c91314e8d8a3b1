"""Our server as a real process, folding with a fake summarizer from ``tests.fakes``.

``python -m tests.serve_fake --store URL --port P [--window-size N] [--summarizer echo]``
runs exactly what ``motorhead-magic serve`` runs, except that the summary model is
``tests.fakes.make_summarizer(name)`` (there is no LLM key here); ``--summary-delay S``
makes it an echo that takes S seconds per call, ``--buggy ROUTE`` makes the memory call
behind that route raise a bug (a ``KeyError``), and ``--body-timeout`` /
``--graceful-seconds`` are ``run()``'s. ``--long-term-memory`` (or env
``MOTORHEAD_LONG_TERM_MEMORY``) and ``--embeddings`` are ``serve``'s, plus
``--embeddings words``: ``tests.fakes.make_embeddings("words")`` (``words-down``: one
whose queries fail, so searches fall back to words), with ``--embed-timeout``.
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

    def __init__(self, store: str | None, *, window_size: int | None = 12,
                 summarizer: str | None = None, api_key: str | None = None, cli: bool = False,
                 upstream_only: bool = False, pass_port: bool = True, port: int | None = None,
                 env: dict[str, str] | None = None,
                 extra: list[str] | None = None) -> None:
        from tests.conftest import free_port

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        if cli:  # the real console entry point, for the CLI's own tests
            args = [sys.executable, "-m", "motorhead_magic", "serve", "--model", "none"]
        else:
            args = [sys.executable, "-m", "tests.serve_fake"]
            if summarizer:
                args += ["--summarizer", summarizer]
            if upstream_only:
                args += ["--upstream-only"]
        if pass_port:
            args += ["--port", str(self.port)]
        if store is not None:
            args += ["--store", store]
        if window_size is not None:
            args += ["--window-size", str(window_size)]
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
    from motorhead_magic.server.config import embedder_for, long_term_settings
    from tests.fakes import make_embeddings, make_summarizer

    parser = argparse.ArgumentParser()
    parser.add_argument("--store", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--window-size", type=int, default=12)
    parser.add_argument("--summarizer", default=None)
    parser.add_argument("--summary-delay", type=float, default=None,
                        help="an echo summarizer that takes this many seconds per call")
    parser.add_argument("--buggy", choices=sorted(BUGGY), default=None,
                        help="the memory call behind this route raises KeyError (a bug)")
    parser.add_argument("--body-timeout", type=float, default=None)
    parser.add_argument("--graceful-seconds", type=float, default=None)
    parser.add_argument("--upstream-only", action="store_true",
                        help="serve only upstream Motörhead's routes (a stand-in for it)")
    parser.add_argument("--long-term-memory", action=argparse.BooleanOptionalAction,
                        default=None)
    parser.add_argument("--embeddings", default=None,
                        help="as serve's, or 'words' (tests.fakes.WordEmbeddings), or"
                        " 'words-down' (one whose queries fail)")
    parser.add_argument("--embed-timeout", type=float, default=None)
    args = parser.parse_args()
    if args.embeddings in ("words", "words-down"):
        long_term, _ = long_term_settings(args.long_term_memory, "none")
        embeddings = make_embeddings("words")
        if args.embeddings == "words-down":
            def down(text: str) -> list[float]:
                raise RuntimeError("embedding service down")

            embeddings.embed_query = down
    else:
        long_term, spec = long_term_settings(args.long_term_memory, args.embeddings)
        embeddings = embedder_for(spec)
    memory_options = {"embeddings": embeddings} if embeddings is not None else {}
    if args.embed_timeout is not None:
        memory_options["embed_timeout"] = args.embed_timeout
    if args.summary_delay is not None:
        from tests.fakes import SummaryEcho

        summarizer = SummaryEcho(delay=args.summary_delay)
    else:
        summarizer = make_summarizer(args.summarizer)
    memory = mh.connect(args.store, window_size=args.window_size, summarizer=summarizer,
                        **memory_options)
    if args.buggy:
        def bug(*args: object, **kwargs: object) -> None:
            raise KeyError("a bug on purpose")

        setattr(memory, BUGGY[args.buggy], bug)
    if args.upstream_only:
        serve_upstream_only(memory, args.port)
    else:
        options = {name: value for name, value in (("body_timeout", args.body_timeout),
                                                   ("graceful_seconds", args.graceful_seconds))
                   if value is not None}
        run(memory, "127.0.0.1", args.port, api_key=os.environ.get("MOTORHEAD_API_KEY"),
            log_level="warning", long_term_memory=long_term, **options)


BUGGY = {"summaries": "summaries", "window": "get", "messages": "history"}


def serve_upstream_only(memory: mh.Memory, port: int) -> None:
    """Upstream's five routes and nothing else: how an upstream server looks to a client."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import Route

    from motorhead_magic.server import app as server_app
    from motorhead_magic.server import routes
    from motorhead_magic.server.errors import EXCEPTION_HANDLERS

    session = server_app.SESSION
    app = Starlette(routes=[
        Route("/", routes.health, methods=["GET"]),
        Route("/sessions", routes.list_sessions, methods=["GET"]),
        Route(f"{session}/memory", routes.SessionMemory),
        Route(f"{session}/retrieval", routes.retrieval, methods=["POST"]),
    ], exception_handlers=EXCEPTION_HANDLERS)
    app.state.memory = memory
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
