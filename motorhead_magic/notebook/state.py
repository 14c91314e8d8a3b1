"""What one notebook has chosen: its memory, bound session, chat model, prompt and open
panels. The magic owns the ``%config`` settings (traitlets); this object owns the
state those settings and the ``%motorhead`` commands change, so commands never
reach into the magic (JupySQL keeps its connections in a ``ConnectionManager`` the
same way).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from IPython.core.error import UsageError

from .. import settings
from ..errors import ModelUnavailable, MotorheadError
from ..memory import Memory, connect

if TYPE_CHECKING:
    from ..chat.models import ResolvedModel

DEFAULT_SESSION = "default"


class NotebookSettings(Protocol):
    """The ``%config MotorheadMagics`` values the state reads (the magic has them)."""

    model: str | None
    summary_model: str | None
    window_size: int | None
    session: str | None
    url: str | None
    prompt: str | None
    max_tokens: int | None
    stream: bool
    prices: dict[str, Any]
    recall: int
    embeddings: str | None


def one_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an error, cut to ``limit`` characters, for a ``UsageError``."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    return first if len(first) <= limit else first[:limit] + "…"


class NotebookState:
    """The notebook's memory (opened on first use, switched, closed), the session it is
    bound to, its model and prompt choices, and the panels it has open."""

    def __init__(self, settings: NotebookSettings, user_ns: MutableMapping[str, Any], *,
                 kernel: bool = False) -> None:
        self.settings = settings
        self.user_ns = user_ns
        self.kernel = kernel  # a Jupyter kernel (widgets, display updates), not a terminal
        self._memory: Memory | None = None
        self.model_choice_override: str | None = None  # %motorhead model wins over %config
        self.prompt_choice_override: str | None = None  # %motorhead prompt wins over %config
        self.panels: list[Any] = []
        self.last_comparison: Any = None  # the DataFrame of the last --compare
        self._switching = False
        self._secret_urls: dict[str, str] = {}  # printable URL -> the one with its password

    # -- the memory ------------------------------------------------------------------------

    def open(self, url: str | None) -> Memory:
        """A new memory for ``url`` (None: env or embedded), with this notebook's window and
        a summarizer that follows its model choice (none with ``summary_model = "none"``)."""
        from ..memory.summarizer import Summarizer

        summarizer = None
        if (self.settings.summary_model or "").strip().lower() != "none":
            summarizer = Summarizer.resolved_at_fold(self.summarizer_now)
        url = self._secret_urls.get(url, url) if url else url
        embeddings = self.embeddings()
        options = {} if embeddings is None else {"embeddings": embeddings}
        try:
            return connect(url or None, window_size=self.settings.window_size,
                           summarizer=summarizer, **options)
        except MotorheadError as exc:
            raise UsageError(f"cannot open the memory: {one_line(exc)}") from None

    def embeddings(self) -> Any:
        """The embedder choice for :func:`connect`: None, "local", or the LangChain
        Embeddings held by the variable the setting names."""
        choice = (self.settings.embeddings or "").strip()
        if not choice or choice.lower() == "none":
            return None
        if choice.lower() == "local":
            return "local"
        if choice.isidentifier() and choice in self.user_ns:
            return self.user_ns[choice]
        raise UsageError(f"embeddings {choice!r}: use 'local', 'none' or the name of a "
                         "variable holding a LangChain Embeddings")

    @property
    def memory(self) -> Memory:
        if self._memory is None:
            self._memory = self.open(self.settings.url)
        return self._memory

    def remember_url(self, url: str | None) -> str | None:
        """The printable form of ``url``; the form with its password is kept here, in
        the kernel's memory only, for :meth:`open`."""
        if not url:
            return url
        printable = settings.redact(url)
        if printable != url:
            self._secret_urls[printable] = url
        return printable

    def use(self, memory: Memory, url: str | None) -> None:
        """Switch to an already opened memory of ``url`` (recorded as the ``url``
        setting), closing the previous one; open panels follow it."""
        self._switching = True
        try:
            self.settings.url = url
        finally:
            self.last_comparison: Any = None  # the DataFrame of the last --compare
        self._switching = False
        self._drop_memory()
        self._memory = memory
        self._panels_follow(memory)

    def reconnect(self) -> None:
        """A setting that shapes the memory changed (url, window size, summary model):
        reopen it, and open panels follow (at once if there are any, else on next use)."""
        if self._switching:  # use() is about to put the new memory in place
            return
        self._drop_memory()
        if self.open_panels():
            try:
                self._panels_follow(self.memory)
            except UsageError:  # a bad URL: the next use says so
                pass

    def close(self) -> None:
        """Drop the memory and close open panels (the extension is unloading)."""
        self._drop_memory()
        for panel in self.open_panels():
            panel.close()
        self.panels = []

    def open_panels(self) -> list[Any]:
        """The panels of this notebook not closed by the user."""
        self.panels = [p for p in self.panels if not p.closed]
        return self.panels

    def _drop_memory(self) -> None:
        memory, self._memory = self._memory, None
        if memory is not None:
            memory.close()

    def _panels_follow(self, memory: Memory) -> None:
        for panel in self.open_panels():
            panel.follow(memory)

    # -- the session -----------------------------------------------------------------------

    @property
    def session(self) -> str:
        """The bound session: ``%motorhead session`` / ``%config``, else the notebook's
        file name, else ``"default"``."""
        if self.settings.session:
            return self.settings.session
        notebook = settings.notebook_path() or ""
        stem = Path(notebook).stem if notebook.endswith(".ipynb") else ""
        return stem or DEFAULT_SESSION

    def model_label(self) -> str:
        """The label of the model the next turn would use (what panels show)."""
        try:
            return self.chat_model().label
        except UsageError as exc:  # no model yet: the panel still shows the memory
            return f"none ({one_line(exc)})"

    def background_status(self) -> str:
        """What the memory is doing in the background, in one line (empty when idle)."""
        if self._memory is None:
            return ""
        return " · ".join(p.describe() for p in self._memory.progress())

    def message_count(self, session_id: str) -> int:
        infos = self.memory.session_infos([session_id])
        return infos[0].messages if infos else 0

    # -- the model -------------------------------------------------------------------------

    def model_choice(self, cell_choice: str | None = None) -> str | None:
        """DESIGN.md section 5 order; None means the default."""
        return (cell_choice or self.model_choice_override or self.settings.model
                or settings.model_from_env() or None)

    def chat_model(self, cell_choice: str | None = None, temperature: float | None = None,
                   max_tokens: int | None = None) -> ResolvedModel:
        from ..chat.models import resolve_model

        try:
            return resolve_model(self.model_choice(cell_choice), self.user_ns,
                                 temperature=temperature,
                                 max_tokens=max_tokens or self.settings.max_tokens)
        except ModelUnavailable as exc:
            raise UsageError(str(exc)) from None

    def summarizer_now(self) -> Any:
        """The summarizer of the current summary model choice (resolved at each fold)."""
        from ..chat.models import resolve_summarizer

        return resolve_summarizer(self.settings.summary_model or self.model_choice(),
                                  self.user_ns, max_tokens=self.settings.max_tokens)

    # -- the prompt ------------------------------------------------------------------------

    def prompt(self) -> Any:
        """None (the default prompt), a template string, or a LangChain prompt."""
        choice = self.prompt_choice_override or self.settings.prompt
        if not choice:
            return None
        value = self.user_ns.get(choice) if choice.isidentifier() else None
        return choice if value is None else value
