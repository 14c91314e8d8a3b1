"""What the notebook uses: the backend, the bound session, the chat model, the prompt."""

from __future__ import annotations

import argparse

from IPython.core.error import UsageError

from ...chat.turn import check_template
from ...memory import check_session_id
from ...settings import redact
from ..state import NotebookState, one_line
from .registry import arg, command

DEFAULT_PROMPT = "prompt: the default (the seed chatbot with the running summary)"


@command("connect", "Use another memory backend (no URL: the embedded SQLite store).",
         arg("url", nargs="?", help="sqlite:///abs/path.db, redis://host:port/db or "
             "http(s)://host:port (default: the embedded store)"))
def connect(state: NotebookState, args: argparse.Namespace) -> None:
    memory = state.open(args.url)
    try:
        count = len(memory.sessions())  # reachability check before we switch
    except Exception as exc:
        memory.close()
        raise UsageError(f"%motorhead connect: cannot reach {redact(memory.url)}: "
                         f"{one_line(exc)}") from None
    state.use(memory, args.url)
    print(f"connected to {redact(memory.url)} ({count} sessions)")


@command("session", "Bind this notebook to a session (created on the first turn); "
         "without ID, show the bound one.",
         arg("session_id", nargs="?", metavar="ID", help="the session to bind"))
def session(state: NotebookState, args: argparse.Namespace) -> None:
    if args.session_id is None:
        print(f"bound to session {state.session!r}")
        return
    state.settings.session = check_session_id(args.session_id)
    count = state.message_count(state.session)
    shown = f"{count} messages" if count else "new: created on the first turn"
    print(f"bound to session {state.session!r} ({shown})")


@command("model", "Choose the chat model for the following turns; without a name, show it.",
         arg("choice", nargs="?", metavar="NAME_OR_VARIABLE",
             help='"local", an OpenAI model name, or a variable holding a LangChain chat model'),
         arg("--reset", action="store_true",
             help="forget the choice (back to %%config / env / default)"))
def model(state: NotebookState, args: argparse.Namespace) -> None:
    if args.reset:
        state.model_choice_override = None
    elif args.choice:
        state.chat_model(args.choice)  # validate now: a typo fails here, not mid-turn
        state.model_choice_override = args.choice
    print(f"model: {state.chat_model().label}")


@command("prompt", "Set the prompt template ({chat_history}, {human_input}, optional "
         "{context} and {retrieved}); without arguments, show it.",
         arg("text", nargs="*", metavar="VARIABLE_OR_TEXT",
             help="a variable holding a template string or a LangChain prompt, or the "
             r"template itself (\n for new lines)"),
         arg("--reset", action="store_true", help="back to the default prompt"),
         raw_text=True)
def prompt(state: NotebookState, args: argparse.Namespace) -> None:
    if args.reset:
        state.prompt_choice_override = None
        state.settings.prompt = None
        print(DEFAULT_PROMPT)
        return
    text = args.text if isinstance(args.text, str) else " ".join(args.text or [])
    if text.strip():
        _set_prompt(state, text.strip())
        return
    current = state.prompt()
    print(DEFAULT_PROMPT if current is None else
          current if isinstance(current, str) else repr(current))


def _set_prompt(state: NotebookState, text: str) -> None:
    """A variable holding a template (string or LangChain prompt), or the text itself."""
    if text.isidentifier() and text in state.user_ns:
        value = state.user_ns[text]
        if isinstance(value, str):
            check_template(value)
        elif not (callable(getattr(value, "invoke", None)) and hasattr(value, "input_variables")):
            raise UsageError(f"variable {text!r} holds a {type(value).__name__}, not a template "
                             "string or a LangChain prompt template")
        state.prompt_choice_override = text
        print(f"prompt: the template in variable {text!r}")
        return
    if text.isidentifier():
        raise UsageError(f"no variable {text!r}; a template text needs {{human_input}}")
    state.prompt_choice_override = check_template(text.replace("\\n", "\n"))
    print("prompt set")


@command("models", "List the chat models usable now: local, OpenAI, variables holding one.")
def models(state: NotebookState, args: argparse.Namespace) -> None:
    from ...chat.models import model_options

    options = model_options(state.user_ns)
    width = max(len(o.name) for o in options)
    kind = max(len(o.kind) for o in options)
    current = state.model_choice() or "(default)"
    print(f"current: {current}")
    for option in options:
        print(f"  {option.name:<{width}}  {option.kind:<{kind}}  {option.status}")
