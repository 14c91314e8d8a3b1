"""Server throughput and latency on loopback, against a bare Starlette endpoint (run by hand).

    python benchmarks/bench_server.py [--clients 32] [--requests 4000] [--seconds 20]
                                      [--baseline /path/to/another/checkout]

Starts, as separate processes: a bare Starlette/uvicorn app answering a constant
JSON; ``motorhead-magic serve`` over the embedded SQLite store; and (when
``redis-server`` is installed) over Redis. A load generator in another process
(keep-alive ``http.client`` connections on ``--clients`` threads, bounded by count
and time) measures requests/s and p50/p99 for GET and POST memory, and prints
each as a ratio of the bare endpoint measured in the same run, with the server
process's CPU time per request (Linux; the Redis server's own CPU is not counted).
With ``--baseline``, servers run from another checkout too (say, a clone at the
previous commit), in the same interleaved rounds, so a before/after comparison shares
the machine's state.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BARE_APP = """
import sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route
async def constant(request):
    return JSONResponse({"messages": [], "context": None, "tokens": 0})
app = Starlette(routes=[Route("/sessions/{session_id:path}/memory", constant)])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            access_log=False, server_header=False)
"""
WINDOW = [{"role": "Human" if i % 2 == 0 else "AI", "content": f"message {i} " + "x" * 80}
          for i in range(12)]
TURN = json.dumps({"messages": WINDOW[:2]}).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


# -- the load generator (runs in its own process) -----------------------------------------


def load(port: int, method: str, path: str, clients: int, requests: int, seconds: float) -> dict:
    """``requests`` in total over ``clients`` keep-alive connections, stopping at ``seconds``."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    per_client = max(1, requests // clients)
    deadline = time.perf_counter() + seconds
    start_line = threading.Barrier(clients + 1)

    def run(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        body = TURN if method == "POST" else None
        headers = {"content-type": "application/json"} if body else {}
        start_line.wait()
        for i in range(per_client):
            if time.perf_counter() > deadline:
                break
            url = path.replace("{i}", str((index * per_client + i) % 100))
            began = time.perf_counter()
            conn.request(method, url, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - began)
            if response.status != 200:
                with lock:
                    errors[0] += 1
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    start_line.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    latencies.sort()
    count = len(latencies)
    return {"count": count, "errors": errors[0], "rps": count / elapsed,
            "p50_ms": latencies[count // 2] * 1000,
            "p99_ms": latencies[min(count - 1, int(count * 0.99))] * 1000}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(port: int, method: str, path: str, args: argparse.Namespace,
            pid: int = 0) -> dict:
    """Run the load generator as a separate process so it never shares the server's GIL;
    with the server's ``pid``, also its CPU time per request (on 2 cores the server and
    the load generator share the machine, so req/s moves with whatever else runs, while
    CPU per request moves much less)."""
    before = cpu_seconds(pid)
    out = subprocess.run(
        [sys.executable, __file__, "--load", str(port), method, path, "--clients",
         str(args.clients), "--requests", str(args.requests), "--seconds", str(args.seconds)],
        capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    result["cpu_us"] = (cpu_seconds(pid) - before) / max(1, result["count"]) * 1e6
    return result


# -- the servers ----------------------------------------------------------------------------


def start_ours(store: str, tmp: Path, threads: int | None,
               repo: Path = REPO) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {**os.environ, "JUPYTER_DATA_DIR": str(tmp), "MOTORHEAD_MODEL": "none",
           "PYTHONPATH": str(repo)}
    env.pop("MOTORHEAD_API_KEY", None)
    extra = ["--threads", str(threads)] if threads else []
    proc = subprocess.Popen([sys.executable, "-m", "motorhead_magic", "serve", "--store", store,
                             "--port", str(port), "--model", "none", "--log-level", "warning",
                             *extra], cwd=repo, env=env, stderr=subprocess.DEVNULL)
    wait_for(port, proc)
    seed = http.client.HTTPConnection("127.0.0.1", port)
    seed.request("POST", "/sessions/bench/memory", body=json.dumps({"messages": WINDOW}),
                 headers={"content-type": "application/json"})
    seed.getresponse().read()
    return proc, port


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=30)


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=3000, help="per scenario and round")
    parser.add_argument("--seconds", type=float, default=15.0, help="cap per scenario and round")
    parser.add_argument("--rounds", type=int, default=3,
                        help="scenarios run interleaved this many times; medians are shown")
    parser.add_argument("--threads", type=int, default=None, help="passed to serve --threads")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another checkout to measure in the same rounds (before/after)")
    parser.add_argument("--load", nargs=3, metavar=("PORT", "METHOD", "PATH"))
    args = parser.parse_args()
    if args.load:
        port, method, path = args.load
        print(json.dumps(load(int(port), method, path, args.clients, args.requests,
                              args.seconds)))
        return

    tmp = Path(tempfile.mkdtemp(prefix="bench-server-"))
    procs: list[subprocess.Popen] = []
    scenarios: list[tuple[str, int, str, str, int]] = []
    try:
        port = free_port()
        procs.append(subprocess.Popen([sys.executable, "-c", BARE_APP, str(port)]))
        wait_for(port, procs[-1])
        scenarios.append(("bare Starlette constant JSON", port, "GET", "/sessions/bench/memory",
                          procs[-1].pid))
        redis_binary = shutil.which("redis-server")
        redis_port = free_port()
        if redis_binary:
            procs.append(subprocess.Popen(
                [redis_binary, "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no"], stdout=subprocess.DEVNULL))
            wait_for(redis_port, procs[-1])
        trees = [("", REPO)] + ([(" baseline", args.baseline.resolve())] if args.baseline else [])
        for db, (label, repo) in enumerate(trees):
            stores = [("sqlite", f"sqlite:///{tmp / f'bench{db}.db'}")]
            if redis_binary:
                stores.append(("redis", f"redis://127.0.0.1:{redis_port}/{db}"))
            for name, store in stores:
                proc, port = start_ours(store, tmp, args.threads, repo)
                procs.append(proc)
                scenarios.append((f"GET memory ({name}){label}", port, "GET",
                                  "/sessions/bench/memory", proc.pid))
                scenarios.append((f"POST memory ({name}){label}", port, "POST",
                                  "/sessions/b{i}/memory", proc.pid))
        for _, port, method, path, _ in scenarios:  # warm-up: connections, caches
            measure(port, method, path, argparse.Namespace(**{**vars(args), "requests": 300}))
        results: dict[str, list[dict]] = {name: [] for name, *_ in scenarios}
        for _ in range(args.rounds):
            for name, port, method, path, pid in scenarios:
                results[name].append(measure(port, method, path, args, pid))
    finally:
        for proc in reversed(procs):
            stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)

    def stat(name: str, key: str) -> float:
        return median([r[key] for r in results[name]])

    base = stat(scenarios[0][0], "rps")
    base_cpu = stat(scenarios[0][0], "cpu_us")
    print(f"{args.clients} concurrent clients, loopback, up to {args.requests} requests or"
          f" {args.seconds:g}s per scenario, median of {args.rounds} interleaved rounds\n")
    print(f"{'scenario':39} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'vs bare':>8}"
          f" {'cpu us/req':>10} {'bare cpu/':>9} {'errors':>6}")
    for name, *_ in scenarios:
        errors = sum(r["errors"] for r in results[name])
        cpu = stat(name, "cpu_us")
        print(f"{name:39} {stat(name, 'rps'):7.0f} {stat(name, 'p50_ms'):7.1f}"
              f" {stat(name, 'p99_ms'):7.1f} {stat(name, 'rps') / base:8.2f}"
              f" {cpu:10.0f} {base_cpu / cpu if cpu else 0:9.2f} {errors:6d}")
    print("\nvs bare: req/s over the bare endpoint's. bare cpu/: the bare endpoint's server"
          " CPU per request over this one's (the same ratio, free of what else ran).")


if __name__ == "__main__":
    main()
