"""The ``%motorhead`` line subcommands, one function each (``do_<name>``).

Each takes the magics object and the parsed arguments; what it returns becomes the
line's value (a DataFrame, a widget, a :class:`.display.MemoryReport`) or None.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError

from .engine import check_session_id
from .memory import redact

if TYPE_CHECKING:
    from .magics import MotorheadMagics


def _session(magics: MotorheadMagics, args: argparse.Namespace) -> str:
    return check_session_id(getattr(args, "session", None) or magics.current_session)


def _exists(magics: MotorheadMagics, session_id: str) -> bool:
    return session_id in magics.memory.sessions()


def _count(magics: MotorheadMagics, session_id: str) -> int:
    infos = magics.memory.session_infos([session_id])
    return infos[0].messages if infos else 0


def do_connect(magics: MotorheadMagics, args: argparse.Namespace) -> None:
    memory = magics._open(args.url)
    try:
        count = len(memory.sessions())  # reachability check before we switch
    except Exception as exc:
        memory.close()
        raise UsageError(f"%motorhead connect: cannot reach {redact(memory.url)}: "
                         f"{str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}"
                         ) from None
    magics.url = args.url  # closes the previous memory (observer)
    magics._memory = memory
    print(f"connected to {redact(memory.url)} ({count} sessions)")


def do_session(magics: MotorheadMagics, args: argparse.Namespace) -> None:
    if args.session_id is None:
        print(f"bound to session {magics.current_session!r}")
        return
    magics.session = check_session_id(args.session_id)
    count = _count(magics, magics.session)
    state = f"{count} messages" if count else "new: created on the first turn"
    print(f"bound to session {magics.session!r} ({state})")


def do_model(magics: MotorheadMagics, args: argparse.Namespace) -> None:
    if args.reset:
        magics._model_choice = None
    elif args.choice:
        magics.chat_model(args.choice)  # validate now: a typo fails here, not mid-turn
        magics._model_choice = args.choice
    print(f"model: {magics.chat_model().label}")


def set_prompt_text(magics: MotorheadMagics, text: str) -> None:
    """``%motorhead prompt VARIABLE`` or ``%motorhead prompt <template text>``."""
    from .chain import check_template

    text = text.strip()
    if text.isidentifier() and text in magics.shell.user_ns:
        value = magics.shell.user_ns[text]
        if isinstance(value, str):
            check_template(value)
        elif not (callable(getattr(value, "invoke", None)) and hasattr(value, "input_variables")):
            raise UsageError(f"variable {text!r} holds a {type(value).__name__}, not a template "
                             "string or a LangChain prompt template")
        magics._prompt_choice = text
        print(f"prompt: the template in variable {text!r}")
        return
    if text.isidentifier():
        raise UsageError(f"no variable {text!r}; a template text needs {{human_input}}")
    magics._prompt_choice = check_template(text.replace("\\n", "\n"))
    print("prompt set")


def do_prompt(magics: MotorheadMagics, args: argparse.Namespace) -> None:
    if args.reset:
        magics._prompt_choice = None
        magics.prompt = None
        print("prompt: the default (the seed chatbot with the running summary)")
        return
    if args.text:
        set_prompt_text(magics, " ".join(args.text))
        return
    prompt = magics.current_prompt()
    if prompt is None:
        print("prompt: the default (the seed chatbot with the running summary)")
    else:
        print(prompt if isinstance(prompt, str) else repr(prompt))


def do_memory(magics: MotorheadMagics, args: argparse.Namespace) -> Any:
    from .display import MemoryReport

    session_id = _session(magics, args)
    return MemoryReport(magics.memory.get(session_id), window_size=magics.memory.window_size,
                        message_count=_count(magics, session_id))


def do_panel(magics: MotorheadMagics, args: argparse.Namespace) -> Any:
    from .magics import is_kernel

    session_id = _session(magics, args)
    if not is_kernel(magics.shell):
        from .panel import render_text

        print(render_text(magics.memory, session_id))
        return None
    from .panel import Panel

    def send(target: str, text: str) -> str:
        from .chain import run_turn

        resolved = magics.chat_model()
        return run_turn(magics.memory, target, text, resolved.model,
                        prompt=magics.current_prompt(), stream=magics.stream,
                        on_token=lambda partial: panel.stream(target, partial),
                        metadata={"model": resolved.label})

    try:
        label = magics.chat_model().label
    except UsageError as exc:  # no model yet: the panel still shows the memory; Send says why
        label = f"none ({str(exc).splitlines()[0]})"
    panel = Panel(magics.memory, session_id, model_label=label, send=send)
    magics.panels.append(panel)
    return panel


def do_export(magics: MotorheadMagics, args: argparse.Namespace) -> Any:
    session_id = None if args.all else _session(magics, args)
    memory = magics.memory
    frame = (memory.summaries_dataframe(session_id) if args.summaries
             else memory.to_dataframe(session_id))
    if args.output:
        magics.shell.user_ns[args.output] = frame
    return frame


def do_sessions(magics: MotorheadMagics, args: argparse.Namespace) -> Any:
    frame = magics.memory.sessions_dataframe()
    if args.output:
        magics.shell.user_ns[args.output] = frame
    return frame


def do_delete(magics: MotorheadMagics, args: argparse.Namespace) -> None:
    session_id = check_session_id(args.session_id or magics.current_session)
    if not _exists(magics, session_id):  # not an error: "make sure it is gone" holds
        print(f"no session {session_id!r}: nothing deleted (see %motorhead sessions)")
        return
    count = _count(magics, session_id)
    magics.memory.delete(session_id)
    print(f"deleted session {session_id!r} ({count} messages)")


def do_wait(magics: MotorheadMagics, args: argparse.Namespace) -> None:
    session_id = _session(magics, args)
    memory = magics.memory
    try:
        memory.wait(session_id, timeout=args.timeout)
    except TimeoutError as exc:
        raise UsageError(f"%motorhead wait: {exc}") from None
    error = getattr(memory, "last_fold_error", None)
    summaries = memory.summaries(session_id)
    print(f"session {session_id!r}: {len(summaries)} summaries"
          + (f"; the last attempt failed: {error}" if error else ""))
