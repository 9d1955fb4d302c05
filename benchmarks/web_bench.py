"""The web explorer's speed: server-side time per request and requests per second on waitress.

Run from the repository root, as users run it (benchmarks/README.md explains the ``env -u``)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/web_bench.py [--quick] [--model my.npz]

What is measured, for seeds/004's CNN (Conv2D(32, 3, relu) → MaxPool2D(2) → Flatten → Dense(100, relu) →
Dense(10, softmax), 542,230 parameters; untrained weights unless ``--model`` names a trained ``.npz`` — the
engine does the same arithmetic whatever the weights are) and one 28×28 input (a held-out MNIST digit):

- (a) prediction + every layer's output: ``convlab.web.explain.layer_outputs`` (one forward pass keeping each
  layer's output; its last entry is the prediction) alone, and the two requests the pages send for it through
  Flask's test client (``POST /api/predict`` + ``GET /api/layers``: validation, the forward passes and the JSON
  answers, every layer's values as base64 float32 bytes, about 200 kB; no network). Target: a median under
  20 ms. For comparison, the same two requests with ``GET /api/layers?format=list`` (every value written as a
  JSON number, as the API did first).
- (b) explaining a conv pixel: ``explain(model, x, 0, row, col, channel)`` (the window recomputed with
  ``backend="reference"`` and checked against the map), also a pooled pixel and a dense unit, and
  ``GET /api/explain`` through the test client.
- (c) requests per second for ``POST /api/predict`` on waitress: ``python -m convlab serve`` in its own process
  on 127.0.0.1 (``--port 0``), driven by a client in another process (this script with ``--client``) with N
  threads, each with its own keep-alive HTTP connection, for a fixed time. Two bodies: ``{"test_index": i}``
  (no image decoding) and ``{"canvas": ...}`` (a 280×280 drawing: base64 decoding and MNIST preprocessing, as
  the Digits page sends while you draw).

Each timing: median and 90th percentile of ``--reps`` runs after a warm-up (and bench.py's 0.3 s pause first).
Outputs: a table on stdout and ``web_results.md`` / ``web_results.json`` in ``--out`` (default
``benchmarks/results/``), each written to a temporary file and renamed. The machine is recorded as bench.py
records it. Timings on a shared machine are noisy: compare numbers from one run.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:  # run from a source checkout without installing
    sys.path.insert(0, str(ROOT))

import convlab  # noqa: E402
from convlab.util.cli_args import OneLineArgumentParser  # noqa: E402
from convlab.util.files import atomic_path  # noqa: E402

TEST_INDEX = 0  # the held-out digit of every in-process timing
CONV_PIXEL = {"layer": 0, "row": 13, "col": 13, "channel": 5}
POOL_PIXEL = {"layer": 1, "row": 6, "col": 6, "channel": 5}
DENSE_UNIT = {"layer": 3, "unit": 7}


# --------------------------------------------------------------------------- timing
def timings(fn, reps: int, warmup: int = 5) -> dict[str, float]:
    """``{"median", "p90", "min", "reps"}`` (seconds) of ``fn()`` over ``reps`` runs after ``warmup`` calls.

    The 0.3 s pause first is bench.py's: OpenBLAS' worker threads spin for a while after a matrix product,
    and a measurement taken in that window shares the cores with them.
    """
    time.sleep(0.3)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return {
        "median": statistics.median(times),
        "p90": times[min(len(times) - 1, int(round(0.9 * (len(times) - 1))))],
        "min": times[0],
        "reps": reps,
    }


def fmt_ms(t: float) -> str:
    return f"{t * 1e3:.2f} ms" if t < 1 else f"{t:.2f} s"


# --------------------------------------------------------------------------- the model and the inputs
def seeds004_model(path: str | None):
    """seeds/004's CNN: loaded from ``path``, else built with ``set_seed(0)`` (untrained). Returns (model, note)."""
    if path:
        model = convlab.load_model(path)
        return model, f"weights from {Path(path).name}"
    from convlab.web import default_model

    convlab.set_seed(0)
    return default_model.build_model(), "untrained weights (set_seed(0)): the arithmetic is the same"


def drawing_payload() -> dict:
    """A 280×280 canvas payload of a drawn 7 (white round strokes on black), as the Digits page posts it."""
    size, r = 280, 9
    yy, xx = np.mgrid[0:size, 0:size]
    ink = np.zeros((size, size), bool)
    for a, b in (((82, 62), (202, 58)), ((202, 58), (118, 238))):
        for t in np.linspace(0, 1, 60):
            x, y = a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t
            ink |= (xx - x) ** 2 + (yy - y) ** 2 <= r * r
    pixels = np.where(ink, 255, 0).astype(np.uint8)
    return {"width": size, "height": size, "pixels": base64.b64encode(pixels.tobytes()).decode("ascii")}


# --------------------------------------------------------------------------- (a), (b): in this process
def bench_in_process(model, reps: int) -> dict:
    from convlab.web.app import create_app
    from convlab.web.explain import explain, layer_outputs

    app = create_app(model=model)
    client = app.test_client()
    r = client.post("/api/predict", json={"test_index": TEST_INDEX})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    iid = body["input_id"]
    x = np.asarray(body["input"], np.float32)
    results = {}

    def predict_and_layers_requests(query: str = ""):
        a = client.post("/api/predict", json={"input_id": iid})
        b = client.get(f"/api/layers?input={iid}{query}")
        assert a.status_code == 200 and b.status_code == 200
        return len(a.data) + len(b.data)

    def with_lists():
        return predict_and_layers_requests("&format=list")

    results["layer_outputs"] = timings(lambda: layer_outputs(model, x), reps)
    results["predict"] = timings(lambda: model.predict(x[None], batch_size=1), reps)
    results["predict+layers requests"] = timings(predict_and_layers_requests, reps)
    results["predict+layers requests"]["response_bytes"] = predict_and_layers_requests()
    results["predict+layers requests, lists"] = timings(with_lists, reps)
    results["predict+layers requests, lists"]["response_bytes"] = with_lists()
    results["explain conv pixel"] = timings(lambda: explain(model, x, **CONV_PIXEL), reps)
    results["explain pooled pixel"] = timings(lambda: explain(model, x, **POOL_PIXEL), reps)
    results["explain dense unit"] = timings(lambda: explain(model, x, **DENSE_UNIT), reps)
    query = "&".join(f"{k}={v}" for k, v in CONV_PIXEL.items())

    def explain_request():
        a = client.get(f"/api/explain?input={iid}&{query}")
        assert a.status_code == 200, a.get_json()

    results["explain conv pixel request"] = timings(explain_request, reps)
    return results


# --------------------------------------------------------------------------- (c): a server and a client process
def run_client(url: str, threads: int, duration: float, body: str) -> dict:
    """The load generator (``--client``): ``threads`` threads, each with one keep-alive connection, POST
    ``/api/predict`` for ``duration`` seconds. Returns counts, errors and latencies."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    canvas = drawing_payload()
    stop_at = [0.0]
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    start = threading.Barrier(threads + 1)

    def worker(k: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        mine, i = [], k
        start.wait()
        try:
            while time.perf_counter() < stop_at[0]:
                payload = {"test_index": i % 1000} if body == "test_index" else {"canvas": canvas}
                data = json.dumps(payload)
                t0 = time.perf_counter()
                try:
                    conn.request("POST", "/api/predict", data, {"Content-Type": "application/json"})
                    resp = conn.getresponse()
                    resp.read()
                    ok = resp.status == 200
                except (OSError, http.client.HTTPException) as exc:
                    ok = False
                    resp = exc
                    conn.close()
                    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
                dt = time.perf_counter() - t0
                if ok:
                    mine.append(dt)
                else:
                    with lock:
                        errors.append(str(getattr(resp, "status", resp)))
                i += threads
        finally:
            conn.close()
            with lock:
                latencies.extend(mine)

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    t0 = time.perf_counter()
    stop_at[0] = t0 + duration
    start.wait()
    for t in pool:
        t.join()
    elapsed = time.perf_counter() - t0
    latencies.sort()
    n = len(latencies)
    return {
        "threads": threads,
        "body": body,
        "requests": n,
        "errors": len(errors),
        "error_samples": errors[:5],
        "seconds": elapsed,
        "rps": n / elapsed,
        "latency_median": statistics.median(latencies) if n else None,
        "latency_p90": latencies[min(n - 1, int(round(0.9 * (n - 1))))] if n else None,
    }


class Server:
    """``python -m convlab serve`` on 127.0.0.1, a free port, a throw-away cache folder; stopped with SIGINT."""

    def __init__(self, model_path: Path, cache: Path):
        env = dict(os.environ, CONVLAB_CACHE_DIR=str(cache), PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        cmd = [sys.executable, "-m", "convlab", "serve", "--host", "127.0.0.1", "--port", "0", "--no-train"]
        self.proc = subprocess.Popen(
            [*cmd, "--model", str(model_path)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
            env=env,
        )
        self.lines: list[str] = []
        self.url = None
        deadline = time.monotonic() + 120
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # the URL line comes within seconds; the loop ends at exit
            self.lines.append(line.rstrip())
            m = re.search(r"http://127\.0\.0\.1:(\d+)", line)
            if m:
                self.url = f"http://127.0.0.1:{m.group(1)}"
                break
            if time.monotonic() > deadline:
                break
        if self.url is None:
            self.stop()
            raise RuntimeError("the server printed no URL:\n" + "\n".join(self.lines))
        # keep draining its output so that a full pipe never blocks it
        self._drain = threading.Thread(target=lambda: [self.lines.append(s.rstrip()) for s in self.proc.stdout])
        self._drain.daemon = True
        self._drain.start()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_drain", None) is not None:
            self._drain.join(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return self.proc.returncode


def bench_rps(model, thread_counts: list[int], duration: float) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="convlab-web-bench-") as tmp:
        path = Path(tmp) / "seeds004.npz"
        model.save(path)
        server = Server(path, Path(tmp) / "cache")
        try:
            for body in ("test_index", "canvas"):
                # warm-up: kernels loaded, the test digits read, waitress' threads started
                run_client_process(server.url, 2, 2.0, body)
                for n in thread_counts:
                    time.sleep(0.3)
                    row = run_client_process(server.url, n, duration, body)
                    rows.append(row)
                    print(
                        f"  /api/predict {body:10s} {n} client threads: {row['rps']:.0f} req/s, "
                        f"median {fmt_ms(row['latency_median'])}, {row['errors']} errors",
                        flush=True,
                    )
        finally:
            code = server.stop()
        if code != 0:
            print(f"WARNING: the server exited with code {code}:\n" + "\n".join(server.lines[-20:]), file=sys.stderr)
    return rows


def run_client_process(url: str, threads: int, duration: float, body: str) -> dict:
    """:func:`run_client` in a fresh process (this script with ``--client``), so the client's Python threads
    do not share a GIL with anything measured here."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--client", url, "--threads", str(threads)]
    cmd += ["--duration", str(duration), "--body", body]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=duration + 120)
    if r.returncode != 0:
        raise RuntimeError(f"the client failed ({r.returncode}):\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- report
def machine() -> dict:
    from bench import machine_info  # the same record as bench.py's

    info = machine_info()
    for name in ("flask", "waitress"):
        try:
            info[name] = version(name)
        except PackageNotFoundError:  # pragma: no cover
            info[name] = None
    info["load_average"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    return info


def to_markdown(results: dict, rps: list[dict], info: dict, note: str) -> str:
    out = [
        "# convlab web explorer benchmark",
        "",
        f"seeds/004's CNN (542,230 parameters), {note}; one 28×28 input (held-out digit {TEST_INDEX}). "
        "Median and 90th percentile after a warm-up; no network for the in-process rows.",
        "",
        "| what | median | p90 | runs |",
        "|---|---:|---:|---:|",
    ]
    labels = {
        "layer_outputs": "(a) prediction + every layer's output: `layer_outputs` (compute only)",
        "predict": "`model.predict` alone (one input)",
        "predict+layers requests": "(a) `POST /api/predict` + `GET /api/layers` (test client, JSON included)",
        "predict+layers requests, lists": "the same with `GET /api/layers?format=list` (values as JSON numbers)",
        "explain conv pixel": "(b) `explain` a conv pixel (reference recomputation + check)",
        "explain pooled pixel": "`explain` a pooled pixel",
        "explain dense unit": "`explain` a dense unit",
        "explain conv pixel request": "(b) `GET /api/explain` a conv pixel (test client)",
    }
    for key, label in labels.items():
        if key in results:
            t = results[key]
            out.append(f"| {label} | {fmt_ms(t['median'])} | {fmt_ms(t['p90'])} | {t['reps']} |")
    if "predict+layers requests" in results:
        size = results["predict+layers requests"]["response_bytes"]
        lists = results.get("predict+layers requests, lists", {}).get("response_bytes")
        out += [
            "",
            f"Response size of the two requests: {size:,} bytes (layer values as base64 float32)"
            + (f"; {lists:,} bytes with `?format=list`." if lists else "."),
        ]
    if rps:
        out += [
            "",
            "(c) `POST /api/predict` on waitress (`convlab serve`, 127.0.0.1), client in its own process, "
            "one keep-alive connection per thread:",
            "",
            "| body | client threads | requests/s | median latency | p90 latency | requests | errors |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in rps:
            out.append(
                f"| {r['body']} | {r['threads']} | {r['rps']:.0f} | {fmt_ms(r['latency_median'])} | "
                f"{fmt_ms(r['latency_p90'])} | {r['requests']} | {r['errors']} |"
            )
    out += ["", "## Machine", "", "```", json.dumps(info, indent=1, default=str), "```", ""]
    return "\n".join(out)


def main(argv=None) -> int:
    ap = OneLineArgumentParser(prog="benchmarks/web_bench.py", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer runs, shorter load phases")
    ap.add_argument("--reps", type=int, default=None, help="runs per in-process timing (default 200, 50 quick)")
    ap.add_argument("--threads", default="1,2,4,8", help="client thread counts for (c) (default 1,2,4,8)")
    ap.add_argument("--duration", type=float, default=None, help="seconds per load phase (default 8, 3 quick)")
    ap.add_argument("--model", default=None, help="a trained seeds/004 .npz (default: untrained, set_seed(0))")
    ap.add_argument("--no-server", action="store_true", help="skip (c), the waitress requests-per-second part")
    ap.add_argument("--out", default=str(HERE / "results"), help="output folder (default benchmarks/results/)")
    # the load generator's own options (this script runs itself as the client process)
    ap.add_argument("--client", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--body", default="test_index", choices=("test_index", "canvas"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    try:
        thread_counts = [int(t) for t in args.threads.split(",") if t.strip()]
        if not thread_counts or min(thread_counts) < 1:
            raise ValueError
    except ValueError:
        ap.error(f"--threads must be comma-separated ints ≥ 1, got {args.threads!r}")
    duration = args.duration or (3.0 if args.quick else 8.0)
    if args.client:
        print(json.dumps(run_client(args.client, thread_counts[0], duration, args.body)))
        return 0
    reps = args.reps or (50 if args.quick else 200)

    # convlab's kernels first, as in a user's process: they load Numba's threading layer with
    # GOMP_SPINCOUNT=0 (convlab/util/process.py). machine_info() asks numba.get_num_threads(), which would load
    # it first, with libgomp's spinning workers: then one 28×28 prediction took 8 ms instead of 0.4 ms here.
    convlab.max_pool2d(np.zeros((1, 2, 2, 1), np.float32), 2)
    info = machine()
    model, note = seeds004_model(args.model)
    print(f"seeds/004's CNN, {model.count_params():,} parameters, {note}", flush=True)
    print("... (a), (b) in this process", flush=True)
    results = bench_in_process(model, reps)
    rps = []
    if not args.no_server:
        print("... (c) waitress in its own process", flush=True)
        rps = bench_rps(model, thread_counts, duration)
    md = to_markdown(results, rps, info, note)
    print(md)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "web_results.md") as tmp:
        Path(tmp).write_text(md)
    with atomic_path(out / "web_results.json") as tmp:
        Path(tmp).write_text(
            json.dumps({"machine": info, "model": note, "in_process": results, "rps": rps}, indent=1, default=str)
        )
    print(f"wrote {out / 'web_results.md'}, web_results.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
