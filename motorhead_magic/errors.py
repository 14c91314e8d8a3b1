"""Every error this package raises on purpose, each with the HTTP status it means.

One table for every face: the server answers ``exc.http_status``, the Jupyter
handlers raise ``HTTPError(exc.http_status)``, and the remote client turns a
status back into the same class with :func:`error_from_status`, so an error
keeps its kind across the wire.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class MotorheadError(Exception):
    """Base of every error this package raises on purpose."""

    http_status = 500


class InvalidInput(MotorheadError, ValueError):
    """The caller passed something we refuse to store; nothing was written."""

    http_status = 400


class Conflict(InvalidInput):
    """Well-formed, but refused by the state of the store (a fork onto an existing id,
    from an unknown session, past the end of the log); nothing was written."""

    http_status = 409


class NotAuthorized(MotorheadError):
    """A server refused the request: a missing or wrong API key."""

    http_status = 401


class EndpointMissing(MotorheadError):
    """The server lacks an additive route (an upstream Motörhead server)."""

    http_status = 404


class StoreUnavailable(MotorheadError, ConnectionError):
    """The backing store (Redis, a remote server, the SQLite file) cannot be reached."""

    http_status = 503


class WaitTimedOut(MotorheadError, TimeoutError):
    """Background work was still running when a ``wait`` gave up."""

    http_status = 504


class ModelUnavailable(MotorheadError):
    """No chat model could be resolved, or the chosen one cannot be used here."""


class LocalModelBroken(ModelUnavailable):
    """The offline model cannot run in this environment (crash, bad build, bad file)."""


class SummaryFailed(MotorheadError):
    """The summary model failed or answered nothing; the fold is retried later."""


class EmptyReply(MotorheadError):
    """The chat model answered nothing; nothing was stored."""


class TurnInterrupted(MotorheadError):
    """The user interrupted a turn before its reply was complete; nothing was stored.
    ``partial`` is the reply as far as it had come."""

    def __init__(self, partial: str) -> None:
        super().__init__("interrupted: nothing stored")
        self.partial = partial


_BY_STATUS: dict[int, type[MotorheadError]] = {
    400: InvalidInput, 413: InvalidInput, 422: InvalidInput,
    401: NotAuthorized, 403: NotAuthorized,
    404: EndpointMissing, 405: EndpointMissing, 409: Conflict,
    502: StoreUnavailable, 503: StoreUnavailable,
    504: WaitTimedOut,
}


def error_from_status(status: int, message: str) -> MotorheadError:
    """The error a client raises for an HTTP error answer (the inverse of the table)."""
    return _BY_STATUS.get(status, MotorheadError)(message)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'session'?"`` when ``word`` is close to one of ``choices``: the
    one suggestion helper for every error message that names something unknown."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""
