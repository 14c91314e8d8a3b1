"""The notebook face's costs, each against a baseline measured in the same run.

Run by hand (about a minute on 2 cores):

    python benchmarks/bench_magics.py

1. Overhead of one ``%%motorhead`` turn, excluding the model: an instant fake chat
   model, called through the magic (in-process IPython shell, embedded SQLite store
   in a temporary directory, window 12, history growing) vs ``model.stream`` called
   directly with the same messages. Reports p50 of each, the ratio and the extra ms.
2. ``%load_ext motorhead_magic`` in a fresh interpreter (IPython already imported,
   as in a kernel) vs ``%load_ext autoreload`` (a built-in extension).
3. Tokens sent to the model per turn at turns 10, 100 and 500: ours (window of 12 +
   a running summary, capped like a real summary model's ``max_tokens``) vs
   LangChain's ``ConversationBufferMemory`` (every message, every turn).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

TURNS = 300
LOAD_RUNS = 7
CHECKPOINTS = (10, 100, 500)
SUMMARY_WORDS = 150  # a summary model answering within ~200 tokens


class InstantChat(BaseChatModel):
    """Answers at once: what is left of a turn is our overhead."""

    @property
    def _llm_type(self) -> str:
        return "instant"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content="ok, noted."))])

    def _stream(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        yield ChatGenerationChunk(message=AIMessageChunk(content="ok, noted."))


class CappedSummary(BaseChatModel):
    """A summary model stand-in: keeps the newest SUMMARY_WORDS words of summary + lines."""

    @property
    def _llm_type(self) -> str:
        return "capped-summary"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        prompt = str(messages[-1].content)
        body = prompt.rsplit("Current summary:\n", 1)[-1].replace("New lines of conversation:", "")
        words = body.replace("New summary:", "").split()
        return ChatResult(generations=[ChatGeneration(
            message=AIMessage(content=" ".join(words[-SUMMARY_WORDS:])))])


def p50_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def bench_turn(folder: Path) -> tuple[float, float]:
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    from motorhead_magic.chat.turn import build_messages

    os.environ["MOTORHEAD_URL"] = f"sqlite:///{folder / 'turns.db'}"
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    shell = InteractiveShell.instance(config=config)
    shell.run_line_magic("load_ext", "motorhead_magic")
    shell.user_ns["instant"] = model = InstantChat()
    magics = shell.magics_manager.registry["MotorheadMagics"]
    shell.run_line_magic("motorhead", "model instant")
    shell.run_line_magic("config", "MotorheadMagics.summary_model = 'none'")
    text = "What should I cook tonight? Something with tomatoes and {braces}."
    ours, direct = [], []
    devnull = open(os.devnull, "w")  # the terminal echo of the streamed reply
    for _ in range(TURNS):
        messages = build_messages(magics.memory.get("default"), text)
        start = time.perf_counter()
        "".join(str(chunk.content) for chunk in model.stream(messages))
        direct.append(time.perf_counter() - start)
        stdout, sys.stdout = sys.stdout, devnull
        try:
            start = time.perf_counter()
            shell.run_cell_magic("motorhead", "", text)
            ours.append(time.perf_counter() - start)
        finally:
            sys.stdout = stdout
    magics.close()
    return p50_ms(ours), p50_ms(direct)


def bench_load_ext() -> tuple[float, float]:
    code = ("import time, IPython; from IPython.core.interactiveshell import InteractiveShell;"
            "ip = InteractiveShell.instance(); start = time.perf_counter();"
            "ip.run_line_magic('load_ext', sys.argv[1]);"
            "print(time.perf_counter() - start)")
    env = dict(os.environ, IPYTHONDIR=tempfile.mkdtemp())

    def once(extension: str) -> float:
        out = subprocess.run([sys.executable, "-c", "import sys;" + code, extension],
                             env=env, capture_output=True, text=True, check=True)
        return float(out.stdout.strip().splitlines()[-1])

    ours = [once("motorhead_magic") for _ in range(LOAD_RUNS)]
    base = [once("autoreload") for _ in range(LOAD_RUNS)]
    return p50_ms(ours), p50_ms(base)


def bench_tokens(folder: Path) -> list[tuple[int, int, int]]:
    from langchain_classic.memory import ConversationBufferMemory

    warnings.filterwarnings("ignore", message=".*was deprecated")  # after langchain's own

    import motorhead_magic as mh
    from motorhead_magic.chat.turn import build_messages
    from motorhead_magic.memory.tokens import count_tokens
    from motorhead_magic.records import content_text

    memory = mh.connect(f"sqlite:///{folder / 'tokens.db'}", window_size=12,
                        summarizer=CappedSummary())
    buffer = ConversationBufferMemory()
    rows = []
    for turn in range(1, max(CHECKPOINTS) + 1):
        human = f"Turn {turn}: here is another question about my data pipeline, step {turn}?"
        ai = (f"Answer {turn}: check the schema, then the join keys, then the dates; "
              "that usually finds it.")
        if turn in CHECKPOINTS:
            memory.wait("s")
            ours = sum(count_tokens(content_text(m.content))
                       for m in build_messages(memory.get("s"), human))
            history = buffer.load_memory_variables({})["history"]
            theirs = count_tokens(history) + count_tokens(human)
            rows.append((turn, ours, theirs))
        memory.add("s", [{"role": "Human", "content": human}, {"role": "AI", "content": ai}])
        buffer.save_context({"input": human}, {"output": ai})
    memory.close()
    return rows


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ours, direct = bench_turn(folder)
        print(f"%%motorhead turn, instant model, p50 over {TURNS} turns")
        print(f"  through the magic   {ours:8.2f} ms")
        print(f"  model.stream direct {direct:8.2f} ms")
        print(f"  ratio {ours / direct:6.1f}x   extra {ours - direct:6.2f} ms  (target < 5 ms)")
        load, base = bench_load_ext()
        print(f"\n%load_ext in a fresh interpreter, p50 of {LOAD_RUNS}")
        print(f"  motorhead_magic {load:8.1f} ms   autoreload {base:8.1f} ms   "
              f"ratio {load / base:5.1f}x  (target < 300 ms)")
        print("\ntokens sent per turn (prompt + history)")
        print(f"  {'turn':>5} {'ours':>8} {'buffer':>8} {'ratio':>7}")
        for turn, mine, theirs in bench_tokens(folder):
            print(f"  {turn:>5} {mine:>8} {theirs:>8} {theirs / mine:>6.1f}x")


if __name__ == "__main__":
    main()
