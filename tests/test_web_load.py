"""A bounded load test of ``convlab serve`` on 127.0.0.1: 0 errors under 8 threads, and memory that levels off.

The server runs in a subprocess (waitress, as users run it) with the small trained model of
``web_helpers.digit_model_file``. Three rounds from 8 client threads: a warm-up of 100 requests, then two rounds
of 500 (mostly ``POST /api/predict`` with test digits and drawn canvases, some ``/api/layers``,
``/api/explain`` and ``/api/size``, and a few bad requests that must be answered with their 4xx). Each request
has a timeout; every good request must be 200 and every bad one its 4xx. The server's resident memory
(psutil, the subprocess' pid) after each 500-request round may not exceed its memory after the warm-up by more
than 50 MB: the inputs are kept in a bounded LRU, so memory must level off, not grow with the request count.
No timing is asserted.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections import Counter

import numpy as np
import pytest
from web_helpers import DIGIT_STROKES, ServerProcess, canvas_payload, digit_model_file, model_folder, render_strokes

pytestmark = pytest.mark.slow

THREADS = 8
TIMEOUT = 60.0  # seconds per request: generous, 8 threads share 2 cores with the server
MAX_GROWTH = 50 * 2**20
INPUTS_KEPT = 256  # the server's bounded LRU of inputs (brief: "e.g. 256 entries"; /api/status "inputs_kept")


@pytest.fixture(scope="session")
def digit_model(tmp_path_factory):
    return digit_model_file(model_folder(tmp_path_factory))


def _canvases(n: int = 24) -> list[dict]:
    """``n`` different drawings: the four digits, moved and scaled (different inputs, different LRU keys)."""
    rng = np.random.default_rng(0)
    out = []
    digits = list(DIGIT_STROKES.values())
    for i in range(n):
        scale, (dx, dy) = rng.uniform(0.6, 1.0), rng.uniform(-30, 30, 2)
        strokes = [[(140 + (x - 140) * scale + dx, 140 + (y - 140) * scale + dy) for x, y in s] for s in digits[i % 4]]
        out.append(canvas_payload(render_strokes(strokes)))
    return out


def _plan(n_requests: int, seed: int) -> list[tuple[str, dict]]:
    """A deterministic list of tasks; each is one request, or a predict followed by the request that needs its
    input id (so that the id cannot have left the LRU in between). Counted in requests, ``n_requests`` in all."""
    rng = np.random.default_rng(seed)
    tasks: list[tuple[str, dict]] = []
    count = 0
    while count < n_requests:
        r = rng.random()
        if r < 0.35:
            task = ("predict_index", {"i": int(rng.integers(0, 1000))})  # 1,000 inputs: more than the LRU holds
        elif r < 0.60:
            task = ("predict_canvas", {"c": int(rng.integers(0, 24))})
        elif r < 0.72:
            task = ("layers", {"i": int(rng.integers(0, 1000))})
        elif r < 0.84:
            task = ("explain", {"i": int(rng.integers(0, 1000)), "kind": int(rng.integers(0, 3))})
        elif r < 0.94:
            task = ("size", {"n": int(rng.integers(3, 64)), "k": int(rng.integers(1, 4)), "s": int(rng.integers(1, 3))})
        else:
            task = ("bad", {"b": int(rng.integers(0, len(BAD)))})
        cost = 2 if task[0] in ("layers", "explain") else 1
        if count + cost > n_requests:
            task, cost = ("size", {"n": 28, "k": 3, "s": 1}), 1
        tasks.append(task)
        count += cost
    return tasks


# (method, path, JSON body or None, expected status) — each must be refused, never a 500
BAD = [
    ("POST", "/api/predict", {"test_index": 1000}, 400),
    ("POST", "/api/predict", {"test_index": -1}, 400),
    ("POST", "/api/predict", {"canvas": {"width": 280, "height": 280, "pixels": "AAAA"}}, 400),
    ("POST", "/api/predict", {"canvas": canvas_payload(np.zeros((280, 280), np.uint8))}, 400),  # blank
    ("POST", "/api/predict", {}, 400),
    ("POST", "/api/predict", {"input_id": "0123456789abcdef"}, 404),
    ("GET", "/api/layers?input=0123456789abcdef", None, 404),
    ("GET", "/api/layers", None, 400),
    ("GET", "/api/explain?input=0123456789abcdef&layer=0&row=0&col=0&channel=0", None, 404),
    ("GET", "/api/size?n=2&k=5&p=0&s=1", None, 400),
    ("GET", "/api/size?n=five&k=3&p=0&s=1", None, 400),
    ("GET", "/api/size?n=5&k=3&p=sideways&s=1", None, 400),
]


class _Client:
    def __init__(self, server: ServerProcess):
        self.server = server
        self.canvases = _canvases()
        self.statuses: Counter = Counter()
        self.failures: list[str] = []
        self.lock = threading.Lock()

    def _check(self, what: str, status: int, body, expected: int) -> bool:
        with self.lock:
            self.statuses[status] += 1
            ok = status == expected and isinstance(body, dict) and (expected == 200 or "error" in body)
            if not ok:
                self.failures.append(f"{what}: expected {expected}, got {status} {str(body)[:300]}")
            return ok

    def _request(self, what: str, method: str, path: str, body, expected: int):
        try:
            status, answer = self.server.request(method, path, json_body=body, timeout=TIMEOUT)
        except OSError as exc:  # timeouts and refused connections are errors too
            with self.lock:
                self.statuses["no answer"] += 1
                self.failures.append(f"{what}: no answer ({type(exc).__name__}: {exc})")
            return None
        return answer if self._check(what, status, answer, expected) else None

    def run(self, task: tuple[str, dict]) -> None:
        kind, a = task
        if kind == "predict_index":
            self._request(kind, "POST", "/api/predict", {"test_index": a["i"]}, 200)
        elif kind == "predict_canvas":
            self._request(kind, "POST", "/api/predict", {"canvas": self.canvases[a["c"]]}, 200)
        elif kind == "size":
            self._request(kind, "GET", f"/api/size?n={a['n']}&k={a['k']}&p=same&s={a['s']}", None, 200)
        elif kind == "bad":
            method, path, body, expected = BAD[a["b"]]
            self._request(f"bad {method} {path} {str(body)[:60]}", method, path, body, expected)
        else:
            pred = self._request(kind + "/predict", "POST", "/api/predict", {"test_index": a["i"]}, 200)
            if pred is None:
                return
            iid = pred["input_id"]
            if kind == "layers":
                self._request(kind, "GET", f"/api/layers?input={iid}", None, 200)
            else:  # a conv pixel, a pooled pixel, a dense unit of the digit model
                query = [
                    "layer=0&row=13&col=12&channel=3",
                    "layer=1&row=6&col=6&channel=15",
                    "layer=4&unit=7",
                ][a["kind"]]
                self._request(kind, "GET", f"/api/explain?input={iid}&{query}", None, 200)

    def round(self, n_requests: int, seed: int) -> None:
        with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
            # bounded: a fixed list of tasks, each request with its own timeout; list() re-raises a bug here
            list(pool.map(self.run, _plan(n_requests, seed)))


def test_load_500_requests_no_errors_bounded_memory(digit_model, tmp_path):
    psutil = pytest.importorskip("psutil")
    with ServerProcess(digit_model, cache_dir=tmp_path / "cache") as server:
        proc = psutil.Process(server.pid)
        client = _Client(server)
        client.round(100, seed=1)  # warm-up: kernels compiled, caches and allocator pools filled
        rss_warm = proc.memory_info().rss
        rss = []
        for seed in (2, 3):
            client.round(500, seed=seed)
            rss.append(proc.memory_info().rss)
        mb = 2**20
        print(
            f"\nrequests: {sum(client.statuses.values())}, statuses {dict(client.statuses)}; server RSS "
            f"after warm-up {rss_warm / mb:.1f} MB, after round 1 {rss[0] / mb:.1f} MB, after round 2 "
            f"{rss[1] / mb:.1f} MB"
        )
        assert not client.failures, f"{len(client.failures)} failed requests:\n" + "\n".join(client.failures[:20])
        assert sum(client.statuses.values()) == 1100
        for i, value in enumerate(rss, 1):
            assert value - rss_warm <= MAX_GROWTH, (
                f"server memory grew by {(value - rss_warm) / mb:.1f} MB in {500 * i} requests after the warm-up "
                f"(limit {MAX_GROWTH / mb:.0f} MB): {rss_warm / mb:.1f} → {[round(v / mb, 1) for v in rss]} MB"
            )
        status, body = server.get("/api/status")  # still serving after all that
        assert status == 200 and body["ready"]
        # far more distinct inputs were sent (test digits 0-999, 24 drawings) than the server keeps
        assert 0 < body["inputs_kept"] <= INPUTS_KEPT, f"the server keeps {body['inputs_kept']} inputs"
