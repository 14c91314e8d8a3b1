"""``motorhead-magic``: ``serve`` the Motörhead API, ``import`` an upstream deployment.

    motorhead-magic serve [--host 127.0.0.1] [--port 8080] [--store URL]
                          [--window-size N] [--model M] [--api-key KEY]
                          [--long-term-memory] [--embeddings local|openai:MODEL|none]
                          [--body-timeout SECONDS] [--threads N]
    motorhead-magic import redis://host:port/db [--to URL] [--prefix P]

Errors print one line (no traceback) and exit with status 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from .errors import InvalidInput, MotorheadError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="motorhead-magic", description="Motörhead-style conversation memory.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the Motörhead HTTP API over a store",
                           description="Serve the Motörhead HTTP API. Flags override the"
                           " upstream environment names PORT, REDIS_URL, MOTORHEAD_URL,"
                           " MOTORHEAD_MAX_WINDOW_SIZE, MOTORHEAD_MODEL, MOTORHEAD_API_KEY,"
                           " MOTORHEAD_LONG_TERM_MEMORY, MOTORHEAD_EMBEDDINGS.")
    serve.add_argument("--host", default=None,
                       help="interface to bind (default 127.0.0.1: loopback only)")
    serve.add_argument("--port", type=int, default=None, help="port (default $PORT or 8080)")
    serve.add_argument("--store", default=None, metavar="URL",
                       help="sqlite:///abs/path.db or redis://host:port/db (default $REDIS_URL,"
                       " else $MOTORHEAD_URL, else the embedded store)")
    serve.add_argument("--window-size", type=int, default=None, metavar="N",
                       help="messages kept in the window (default $MOTORHEAD_MAX_WINDOW_SIZE"
                       " or 12)")
    serve.add_argument("--model", default=None, metavar="M",
                       help="summary model: 'local', an OpenAI model name, or 'none'"
                       " (default $MOTORHEAD_MODEL; gpt-4o-mini if OPENAI_API_KEY is set;"
                       " else none)")
    serve.add_argument("--api-key", default=None, metavar="KEY",
                       help="require this key (x-metal-api-key or Authorization: Bearer);"
                       " prefer env MOTORHEAD_API_KEY, which other users cannot see in ps")
    serve.add_argument("--long-term-memory", action=argparse.BooleanOptionalAction,
                       default=None,
                       help="turn on POST /sessions/{id}/retrieval (upstream's long-term memory)"
                       " (default $MOTORHEAD_LONG_TERM_MEMORY, else off)")
    serve.add_argument("--embeddings", default=None, metavar="local|openai:MODEL|none",
                       help="the embedder of long-term memory: 'local' (offline MiniLM),"
                       " 'openai:MODEL' (needs OPENAI_API_KEY) or 'none' (search by words)"
                       " (default $MOTORHEAD_EMBEDDINGS, else local)")
    serve.add_argument("--log-level", default="info",
                       choices=["critical", "error", "warning", "info", "debug"])
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.add_argument("--body-timeout", type=float, default=30.0, metavar="SECONDS",
                       help="a request's body must arrive within this time, else 408"
                       " (default 30)")
    serve.add_argument("--threads", type=int, default=None, metavar="N",
                       help="worker threads for store calls (default 40)")

    imp = sub.add_parser("import", help="copy an upstream Motörhead Redis into a store",
                         description="Read upstream Motörhead's Redis layout (v2+ and pre-v2"
                         " key names) and write every session, chronologically, with its"
                         " context, into a store. Sessions that already exist there are"
                         " skipped, so a rerun imports only what is new.")
    imp.add_argument("source", metavar="REDIS_URL", help="the upstream Redis, redis://host:port/db")
    imp.add_argument("--to", default=None, metavar="URL",
                     help="target store or server (default $MOTORHEAD_URL, else the embedded"
                     " store)")
    imp.add_argument("--prefix", default=None, metavar="P",
                     help="key prefix of our store when --to is a Redis URL (default mhm)")
    return parser


def serve(args: argparse.Namespace) -> None:
    from .memory import connect
    from .server import run
    from .server.config import embedder_for, settings, summarizer_for

    if not args.body_timeout > 0:  # also refuses nan
        raise InvalidInput(f"--body-timeout must be a positive number of seconds, got"
                           f" {args.body_timeout}")
    config = settings(args.host, args.port, args.store, args.window_size, args.model,
                      args.api_key, args.long_term_memory, args.embeddings)
    memory = connect(config.store_url, window_size=config.window_size,
                     summarizer=summarizer_for(config.model),
                     embeddings=embedder_for(config.embeddings))
    print(config.describe(), file=sys.stderr, flush=True)
    run(memory, config.host, config.port, api_key=config.api_key, log_level=args.log_level,
        access_log=args.access_log, threads=args.threads, body_timeout=args.body_timeout,
        long_term_memory=config.long_term_memory)


def import_upstream(args: argparse.Namespace) -> None:
    from .transfer import import_into

    report = import_into(args.source, args.to, prefix=args.prefix)
    print(report.describe())


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "serve":
            serve(args)
        else:
            import_upstream(args)
    except MotorheadError as exc:
        print(f"motorhead-magic {args.command}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
