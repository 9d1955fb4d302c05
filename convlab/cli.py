"""The ``convlab`` command: run the lessons, compute output sizes, run the benchmarks.

Subcommands (``convlab <command> --help`` for each)::

    convlab tour [--out DIR] [--only 01,03,...] [--full]   run every lesson, then a summary table
    convlab lesson N [--step] [lesson options...]           run one lesson (N = 3, 03 or its name)
    convlab size N KERNEL [--padding P] [--stride S] [--dilation D]
                                                            output size with the slides' formula
    convlab size N KERNEL --transpose [--output-padding A]  … of a transposed convolution
    convlab size N --layers conv3 pool2 tconv3s2 dw3 gap    the size after each layer
    convlab bench [benchmark options...]                    run benchmarks/bench.py
    convlab serve [--host H] [--port P] [--model PATH]...   the web explorer, until Ctrl-C
    convlab exercises [--dir DIR] [--force]                 copy the exercise files into a folder of yours
    convlab check [N|all] [--dir DIR] [--hint]              grade your solutions; say where they go wrong
    convlab notebook N [--lang es] [--out DIR]              write a lesson as a Jupyter notebook

``tour``, ``lesson``, ``size``, ``serve``, ``exercises``, ``check`` and ``notebook`` take ``--lang en|es``;
without it the language is the locale's (``LANG``/``LC_ALL`` starting with ``es``: Spanish), else English.

Lessons are the scripts ``lessons/NN_name.py`` of the source repository, next to
the ``convlab`` package (install with ``pip install -e .`` from a clone). Each
runs in its own process with ``sys.executable``, headless (``MPLBACKEND=Agg``).

Exit codes: 0 success; 1 a lesson, the benchmark or an exercise failed, or an internal error
(one line on stderr, with a hint to report it); 2 a bad invocation — one line on
stderr that names the bad token, never a traceback (bad arguments, a missing
lessons/benchmarks folder, an unusable ``--out``, a ``--model`` file that cannot be
served, a port in use); 130 interrupted with Ctrl-C — except ``serve``, which
serves until Ctrl-C and then exits 0, and ``lesson``, which passes the lesson's own
exit code on (a lesson quit with ``q`` or Ctrl-C at a ``--step`` prompt exits 0). In
the tour, a lesson that cannot run here (TensorFlow is not installed) is "skipped",
which is not a failure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from convlab._version import __version__
from convlab.exercises.commands import run_check, run_exercises
from convlab.exercises.workspace import DEFAULT_DIR as EXERCISES_DIR
from convlab.teach.lesson import wrap_line
from convlab.teach.lessons import LESSON_GLOB, find_lessons, lessons_dir
from convlab.util.cli_args import OneLineArgumentParser, int_at_least, one_line, positive_seconds
from convlab.util.i18n import LANGUAGES, N_, _, language_in_argv, ngettext, set_language

__all__ = ["main", "lessons_dir", "find_lessons", "resolve_lesson", "parse_layer", "DEFAULT_OUT"]

DEFAULT_OUT = "convlab-output"  # the lesson harness' default (convlab.lesson.DEFAULT_OUT)

LAYERS_HELP = N_("""\
layer notation for --layers (case-insensitive), applied left to right:
  KIND K SUFFIXES   a kind, the window size K, then suffixes in any order, each at most once
kinds:
  convK        convolution with a K×K kernel, stride 1, no padding ("valid")  (Conv2D)
  tconvK       transposed convolution, T = S·(N − 1) + K − 2P + A;
               padding "valid" unless given  (Conv2DTranspose)
  dwK          depthwise convolution: sizes as convK  (DepthwiseConv2D)
  sepK         separable convolution: sizes as convK  (SeparableConv2D; filters do not change sizes)
  poolK        K×K pooling, stride K (Keras' default)  (MaxPooling2D / AveragePooling2D)
  gap, gmp     global average / max pooling, no K, no suffixes: each channel → one value, 1 × 1.
               Keras returns (N, C): the spatial chain ends there, so it must be the last layer.
suffixes:
  sS     stride S                                 e.g. conv3s2, pool3s2, tconv3s2
  dD     dilation D (dilation_rate; not pool):
         the window spans D·(K − 1) + 1 pixels     e.g. conv3d2, conv3s1d2same
  pP     P zeros on each side (not pool)          e.g. conv3p1, conv5s2p2
  same   padding="same" (TensorFlow)              e.g. conv3same, conv3s2same, pool2same
  valid  padding="valid" (the default)            e.g. conv3valid
  opA    output_padding A, 0 <= A < S (tconv)     e.g. tconv3s2op1, tconv3s2sameop1
examples:
  convlab size 28 --layers conv3 pool2 conv3 pool2   (28 → 26 → 13 → 11 → 5)
  convlab size 7 --layers conv3d2                    (7 → 3: the 3-tap window spans 5 pixels)
  convlab size 7 --layers conv3s2same tconv3s2sameop1 dw3same gap   (7 → 4 → 8 → 8 → 1)
""")

#: The layer kinds of :data:`LAYERS_HELP` and the suffixes each takes: stride ``s``, dilation ``d``,
#: padding ``p`` (``pP``, ``same``, ``valid``; pooling only the two words), output padding ``op``.
_KIND_SUFFIXES = {
    "conv": ("s", "d", "p"),
    "tconv": ("s", "d", "p", "op"),
    "dw": ("s", "d", "p"),
    "sep": ("s", "d", "p"),
    "pool": ("s", "p"),
    "gap": (),
    "gmp": (),
}
_LAYER_HEAD_RE = re.compile(r"^(tconv|conv|dw|sep|pool|gap|gmp)(\d*)(.*)$", re.IGNORECASE)
_SUFFIX_RE = re.compile(r"(op|s|d|p)(\d+)|(same|valid)", re.IGNORECASE)
_NOTATION = "KIND K[sS][dD][pP|same|valid][opA] (kinds conv, tconv, dw, sep, pool; or gap, gmp alone)"


# ----------------------------------------------------------------------------------- lessons
def _matches(token: str, path: Path) -> bool:
    stem = path.stem
    tok = token.strip().lower()
    if tok.endswith(".py"):
        tok = tok[:-3]
    if tok.isdigit():
        return int(tok) == int(stem[:2])
    return tok in (stem.lower(), stem[3:].lower())


def resolve_lesson(token: str, lessons: list[Path]) -> Path:
    """The lesson a user means by ``token``: ``3``, ``03``, ``03_convolution_by_hand`` or ``convolution_by_hand``.

    Raises:
        ValueError: no lesson or several lessons match (the message lists the lessons).
    """
    hits = [p for p in lessons if _matches(token, p)]
    if len(hits) == 1:
        return hits[0]
    names = ", ".join(p.stem for p in lessons) or "(none)"
    what = "no lesson" if not hits else f"{len(hits)} lessons"
    raise ValueError(f"{what} matches {token!r}; available: {names}")


def _lesson_env() -> dict:
    env = dict(os.environ)
    env["MPLBACKEND"] = "Agg"
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _run_tour(args) -> int:
    folder = lessons_dir(args.lessons)
    lessons = find_lessons(folder)
    if not lessons:
        raise FileNotFoundError(f"no lesson scripts ({LESSON_GLOB}) in {folder}")
    if args.only:
        tokens = [t for t in args.only.split(",") if t.strip()]
        if not tokens:
            raise ValueError(f"--only must list lessons, e.g. --only 01,03, got {args.only!r}")
        chosen = []
        for t in tokens:
            p = resolve_lesson(t, lessons)
            if p not in chosen:
                chosen.append(p)
        lessons = sorted(chosen)
    out = Path(args.out)
    try:  # here, before any lesson runs, so that a bad --out is one line and not a traceback per lesson
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"--out {args.out!r} cannot hold the figures: {e.strerror} ({e.filename})") from None
    mode = _("full") if args.full else "--quick"
    head = ngettext(
        "convlab tour: {n} lesson from {folder} ({mode}), figures in {out}/",
        "convlab tour: {n} lessons from {folder} ({mode}), figures in {out}/",
        len(lessons),
    ).format(n=len(lessons), folder=folder, mode=mode, out=out)
    print("\n".join(wrap_line(head)), flush=True)
    results = []
    skipped: list[tuple[str, str]] = []
    for path in lessons:
        summary_path = out / path.stem / "summary.json"
        if summary_path.exists():  # a stale summary must not pass for this run's
            summary_path.unlink()
        cmd = [sys.executable, str(path), "--out", str(out), "--lang", args.lang] + ([] if args.full else ["--quick"])
        t0 = time.perf_counter()
        try:
            rc = subprocess.run(cmd, env=_lesson_env(), stdin=subprocess.DEVNULL, timeout=args.timeout).returncode
            status = "ok" if rc == 0 else _("FAILED (exit {rc})").format(rc=rc)
        except subprocess.TimeoutExpired:
            rc, status = -1, _("TIMEOUT ({seconds:g} s)").format(seconds=args.timeout)
        seconds = time.perf_counter() - t0
        summary = {}
        if summary_path.exists():
            try:
                summary = json.loads(summary_path.read_text())
            except (OSError, ValueError):
                summary = {}
        if rc == 0 and not summary:
            status = _("FAILED (no summary.json)")
        elif rc == 0 and summary.get("status") == "skipped":  # e.g. TensorFlow is not installed
            status = "skipped"
            skipped.append((path.stem, str(summary.get("reason", ""))))
        results.append((path.stem, summary.get("checks", 0), summary.get("figures", 0), seconds, status))
        sys.stdout.flush()
    print(_tour_table(results))
    for name, reason in skipped:
        print("\n".join(wrap_line(_("  {lesson} skipped: {reason}").format(lesson=name, reason=reason))))
    return 0 if all(r[4] in ("ok", "skipped") for r in results) else 1


def _tour_table(results) -> str:
    """The tour's closing table; ``results`` rows are (lesson, checks, figures, seconds, status) where the
    status is ``"ok"``, ``"skipped"`` or a failure's words (already translated)."""
    head = (_("lesson"), _("checks"), _("figures"), _("seconds"), _("status"))
    shown = {"ok": _("ok"), "skipped": _("skipped")}
    rows = [(n, str(c), str(f), f"{s:.1f}", shown.get(st, st)) for n, c, f, s, st in results]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]

    def line(cells):
        cells = [c.ljust(w) if i in (0, 4) else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))]
        return "  ".join(cells).rstrip()

    bar = "=" * len(line(head))
    failed = sum(r[4] not in ("ok", "skipped") for r in results)
    skipped = sum(r[4] == "skipped" for r in results)
    counts = {
        "n": len(results),
        "passed": len(results) - failed - skipped,
        "skipped": skipped,
        "failed": failed,
        "checks": sum(r[1] for r in results),
        "figures": sum(r[2] for r in results),
        "seconds": f"{sum(r[3] for r in results):.1f}",
    }
    if skipped:
        total = ngettext(
            "{n} lesson: {passed} passed, {skipped} skipped, {failed} failed; {checks} checks, {figures} figures, "
            "{seconds} s",
            "{n} lessons: {passed} passed, {skipped} skipped, {failed} failed; {checks} checks, {figures} figures, "
            "{seconds} s",
            len(results),
        )
    else:
        total = ngettext(
            "{n} lesson: {passed} passed, {failed} failed; {checks} checks, {figures} figures, {seconds} s",
            "{n} lessons: {passed} passed, {failed} failed; {checks} checks, {figures} figures, {seconds} s",
            len(results),
        )
    total = total.format(**counts)
    return "\n".join(["", bar, line(head), bar] + [line(r) for r in rows] + [bar, *wrap_line(total)])


def _run_lesson(args, extra) -> int:
    folder = lessons_dir(args.lessons)
    path = resolve_lesson(args.n, find_lessons(folder))
    cmd = [sys.executable, str(path), "--lang", args.lang] + (["--step"] if args.step else []) + list(extra)
    # Ctrl-C reaches the lesson too (same terminal): the lesson decides what it means (quit at a
    # --step prompt, exit 0) and this process only passes its exit code on, as a shell would.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        rc = subprocess.run(cmd, preexec_fn=_default_sigint).returncode
    finally:
        signal.signal(signal.SIGINT, previous)
    return 128 - rc if rc < 0 else rc  # killed by signal N: 128 + N, as a shell reports it


def _default_sigint() -> None:
    """In the lesson's process (before exec): Ctrl-C interrupts it, whatever this process ignores."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# ----------------------------------------------------------------------------------- size
def parse_layer(token: str) -> dict[str, str | int]:
    """Parse one ``--layers`` token (see :data:`LAYERS_HELP`) into a dict.

    ``{kind, kernel, stride, padding}`` for ``conv``, ``tconv``, ``dw``, ``sep`` and ``pool``:
    ``kernel`` and ``stride`` are ints ≥ 1 (a pooling layer's stride defaults to its size, as
    in Keras); ``padding`` is an int ≥ 0 or ``"same"`` (``"valid"`` is 0), except for ``tconv``,
    whose default is ``"valid"`` (Keras' output-size rule for ``"valid"`` differs from ``P = 0``
    when K < S). Two keys appear only when the token gives them: ``dilation`` (an int ≥ 1) and,
    for ``tconv``, ``output_padding`` (an int ≥ 0). ``gap`` and ``gmp`` give ``{"kind": ...}`` alone.

    Raises:
        ValueError: the token does not follow the notation, a suffix this kind does not take
            or given twice, or a size, stride or dilation of 0.
    """
    text = token.strip()
    m = _LAYER_HEAD_RE.match(text)
    if not m:
        raise ValueError(f"layer {token!r} is not in the notation {_NOTATION}, e.g. conv3, conv3s2p1, tconv3s2, gap")
    kind, k, rest = m.group(1).lower(), m.group(2), m.group(3)
    if kind in ("gap", "gmp"):
        if k or rest:
            raise ValueError(f"layer {token!r}: {kind} takes no size or suffix (its window is the whole input)")
        return {"kind": kind}
    if not k:
        raise ValueError(f"layer {token!r} needs the window size after {kind!r}, e.g. {kind}3")
    found: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        sm = _SUFFIX_RE.match(rest, pos)
        if not sm:
            raise ValueError(f"layer {token!r}: {rest[pos:]!r} is not a suffix of the notation {_NOTATION}")
        letter = (sm.group(1) or "p").lower()  # same/valid are forms of the padding, as pP
        if letter in found:
            raise ValueError(f"layer {token!r}: {'padding' if letter == 'p' else repr(letter)} given twice")
        if letter not in _KIND_SUFFIXES[kind] or (kind == "pool" and letter == "p" and sm.group(3) is None):
            what = {"s": "stride (sS)", "d": "dilation (dD)", "p": "pP padding", "op": "output padding (opA)"}[letter]
            hint = " (use poolKsame)" if kind == "pool" and letter == "p" else ""
            raise ValueError(f"layer {token!r}: {kind} takes no {what}{hint}")
        found[letter] = (sm.group(3) or sm.group(2)).lower()
        pos = sm.end()
    k = int(k)
    stride = int(found["s"]) if "s" in found else (k if kind == "pool" else 1)
    if k < 1 or stride < 1:
        raise ValueError(f"layer {token!r}: kernel size and stride must be >= 1")
    pad = found.get("p")
    if pad == "same":
        padding: str | int = "same"
    elif kind == "tconv":
        padding = "valid" if pad in (None, "valid") else int(pad)
    else:
        padding = 0 if pad in (None, "valid") else int(pad)
    layer: dict[str, str | int] = {"kind": kind, "kernel": k, "stride": stride, "padding": padding}
    if "d" in found:
        layer["dilation"] = int(found["d"])
        if layer["dilation"] < 1:
            raise ValueError(f"layer {token!r}: the dilation must be >= 1")
    if "op" in found:
        layer["output_padding"] = int(found["op"])
    return layer


def _layer_formula(layer: dict, n: int) -> tuple[str, int]:
    """The formula text and the output size of one parsed layer on ``n`` pixels (``gap``/``gmp`` excluded)."""
    from convlab import shapes

    kind, k, p, s = layer["kind"], layer["kernel"], layer["padding"], layer["stride"]
    d = layer.get("dilation", 1)
    if kind == "tconv":
        a = layer.get("output_padding")
        text = shapes.conv_transpose_output_formula(n, k, p, s, output_padding=a, dilation=d)
        return text, shapes.conv_transpose_output_size(n, k, p, s, output_padding=a, dilation=d)
    if kind == "pool":
        return shapes.output_size_formula(n, k, p, s), shapes.pool_output_size(n, k, p, s)
    return shapes.output_size_formula(n, k, p, s, dilation=d), shapes.conv_output_size(n, k, p, s, dilation=d)


def _padding_arg(text: str) -> str | int:
    t = text.strip().lower()
    if t in ("valid", "same"):
        return t
    try:
        p = int(t)
    except ValueError:
        raise argparse.ArgumentTypeError(f"padding must be an int >= 0, 'valid' or 'same', got {text!r}") from None
    if p < 0:
        raise argparse.ArgumentTypeError(f"padding must be an int >= 0, 'valid' or 'same', got {text!r}")
    return p


def _positive_int(name):
    return int_at_least(name, 1)


def _nonneg_int(name):
    return int_at_least(name, 0)


def _run_size(args, parser) -> int:
    from convlab import shapes

    if args.layers and args.kernel is not None:
        parser.error(_("give either KERNEL (one layer) or --layers (several), not both"))
    if not args.layers and args.kernel is None:
        parser.error(_("give KERNEL (e.g. `convlab size 28 3`) or --layers (e.g. `--layers conv3 pool2`)"))
    if args.output_padding is not None and not args.transpose:
        parser.error(_("--output-padding applies to a transposed convolution: add --transpose"))
    if not args.layers:
        n, k, s, d = args.n, args.kernel, args.stride, args.dilation
        p = args.padding if args.padding is not None else ("valid" if args.transpose else 0)
        a = args.output_padding
        try:
            if args.transpose:
                text = shapes.conv_transpose_output_formula(n, k, p, s, output_padding=a, dilation=d)
                out = shapes.conv_transpose_output_size(n, k, p, s, output_padding=a, dilation=d)
            else:
                text = shapes.output_size_formula(n, k, p, s, dilation=d)
                out = shapes.conv_output_size(n, k, p, s, dilation=d)
        except (ValueError, TypeError) as e:
            parser.error(str(e))
        head = f"N = {n}, K = {k}, padding = {p!r}, S = {s}" + (f", D = {d}" if d != 1 else "")
        if args.transpose:
            head = _("transposed convolution: {head}, output_padding = {a}").format(head=head, a=a)
        print(head)
        print(text)
        print(_("output: {t} × {t}").format(t=out))
        return 0
    if args.padding is not None or args.stride != 1 or args.dilation != 1:
        parser.error(
            _(
                "--padding/--stride/--dilation apply to KERNEL; with --layers write them in each layer "
                "(e.g. conv3s2p1d2)"
            )
        )
    if args.transpose or args.output_padding is not None:
        parser.error(_("--transpose/--output-padding apply to KERNEL; with --layers write tconvK (e.g. tconv3s2op1)"))
    try:
        layers = [parse_layer(t) for t in args.layers]
    except ValueError as e:
        parser.error(str(e))
    n = args.n
    print(_("input: {n} × {n}").format(n=n))
    width = max(len(t) for t in args.layers)
    ended = None  # the global pooling layer that ended the spatial chain
    for i, (token, layer) in enumerate(zip(args.layers, layers), 1):
        if ended is not None:
            parser.error(
                _(
                    "layer {i} ({token}) follows {ended}, a global pooling whose output (Keras: (N, C)) has no "
                    "height or width left: gap/gmp must be the last layer"
                ).format(i=i, token=token, ended=ended)
            )
        if layer["kind"] in ("gap", "gmp"):
            if n < 1:
                parser.error(
                    _("layer {i} ({token}): global pooling needs a non-empty input, got {n} × {n}").format(
                        i=i, token=token, n=n
                    )
                )
            if layer["kind"] == "gap":
                text = _(
                    "global average pooling: the window is the whole {n} × {n} input, one value per channel "
                    "(Keras returns (N, C): the spatial chain ends here)"
                )
            else:
                text = _(
                    "global maximum pooling: the window is the whole {n} × {n} input, one value per channel "
                    "(Keras returns (N, C): the spatial chain ends here)"
                )
            text = text.format(n=n)
            ended, n = _("layer {i} ({token})").format(i=i, token=token), 1
        else:
            try:
                text, n = _layer_formula(layer, n)
            except (ValueError, TypeError) as e:
                parser.error(_("layer {i} ({token}): {error}").format(i=i, token=token, error=e))
        print(f"{i:2d}. {token:<{width}}  {text}  → {n} × {n}")
    tail = _("  (1 value per channel: Keras' output is (N, C), or (N, 1, 1, C) with keepdims=True)") if ended else ""
    print(_("output: {t} × {t}").format(t=n) + tail)
    return 0


# ----------------------------------------------------------------------------------- bench
def _repo_root() -> Path:
    """The folder that holds the ``convlab`` package (the repository root for an editable install)."""
    return Path(__file__).resolve().parents[1]


def _run_bench(extra) -> int:
    root = _repo_root()
    script = root / "benchmarks" / "bench.py"
    if not script.is_file():
        raise FileNotFoundError(
            f"no benchmark script at {script}: it ships with convlab's source repository — "
            f"clone it and install with `pip install -e .`"
        )
    return subprocess.run([sys.executable, str(script)] + list(extra), cwd=root).returncode


# ----------------------------------------------------------------------------------- serve
SERVE_EPILOG = N_("""\
examples:
  convlab serve                                 train the digits model once (about 15 s), then serve
  convlab serve --port 0                        any free port (the URL printed says which)
  convlab serve --model my_model.npz --classes cat,dog,bird   your own convlab model on pages 1-2
  convlab serve --model vgg.keras               a Keras model (needs TensorFlow) on page 4

The default model is cached in the user's cache folder ($CONVLAB_CACHE_DIR overrides it).
""")


def _port_arg(text: str) -> int:
    port = int_at_least("--port", 0)(text)
    if port > 65535:
        raise argparse.ArgumentTypeError(f"--port must be an int in 0..65535, got {text!r}")
    return port


def _classes_arg(text: str) -> list[str]:
    names = [c.strip() for c in text.split(",")]
    if not text.strip() or any(not c for c in names):
        raise argparse.ArgumentTypeError(
            f"--classes must be comma-separated class names, e.g. --classes cat,dog,bird, got {text!r}"
        )
    twice = sorted({c for c in names if names.count(c) > 1})
    if twice:
        raise argparse.ArgumentTypeError(f"--classes names {', '.join(map(repr, twice))} more than once: {text!r}")
    return names


def _serve_models(paths: list[str]) -> tuple[Path | None, Path | None]:
    """``--model`` paths split into (the convlab .npz, the Keras .keras); ValueError naming --model otherwise."""
    found: dict[str, list[Path]] = {".npz": [], ".keras": []}
    for text in paths:
        path = Path(text)
        kind = path.suffix.lower()
        if kind not in found:
            raise ValueError(
                f"--model {text!r}: expected a convlab model (.npz, saved with model.save) or a Keras model "
                "(.keras, saved with convlab.vgg.save_model)"
            )
        if path.is_dir():
            raise ValueError(f"--model {text!r} is a folder, not a model file")
        if not path.is_file():
            raise ValueError(f"--model {text!r}: no such file")
        found[kind].append(path)
    for kind, given in found.items():
        if len(given) > 1:
            names = ", ".join(str(p) for p in given)
            raise ValueError(f"--model given {len(given)} {kind} files ({names}): give at most one .npz and one .keras")
    npz, keras = found[".npz"], found[".keras"]
    return (npz[0] if npz else None), (keras[0] if keras else None)


def _run_serve(args) -> int:
    from convlab.model.sequential import load_model
    from convlab.web import default_model
    from convlab.web.app import create_app
    from convlab.web.keras_page import KerasSlot
    from convlab.web.server import serve
    from convlab.web.state import ExplorerState, check_servable, class_names_for

    npz, keras_path = _serve_models(args.model or [])
    classes = args.classes
    keras_classes = None
    if keras_path is not None:
        try:
            saved = KerasSlot.saved_class_names(keras_path)  # the zip only; TensorFlow loads later, in a thread
        except (ValueError, OSError) as exc:
            raise ValueError(f"--model {str(keras_path)!r}: {one_line(exc)}") from None
        if classes is not None and npz is None:
            keras_classes, classes = classes, None  # --classes names the Keras model's classes
            if saved is not None and len(saved) != len(keras_classes):
                raise ValueError(
                    f"--classes names {len(keras_classes)} classes but {keras_path.name} has {len(saved)} "
                    f"({', '.join(saved)})"
                )
    keras = KerasSlot(keras_path, keras_classes)
    stop = threading.Event()
    plan = default_model.training_plan()
    if npz is not None:
        try:
            model = load_model(npz)
            check_servable(model)
        except (ValueError, TypeError, OSError) as exc:
            raise ValueError(f"--model {str(npz)!r}: {one_line(exc)}") from None
        outputs = int(model.output_shape[-1])
        if classes is not None and len(classes) != outputs and keras_path is not None:
            keras_classes, classes = classes, None  # they fit the Keras model, then (checked when it loads)
            keras = KerasSlot(keras_path, keras_classes)
        names = class_names_for(outputs, classes, model.class_names)  # ValueError naming --classes
        state = ExplorerState(
            model,
            classes=names,
            source="file",
            description="",  # the pages say "N parameters, from FILE" themselves
            file=npz.name,
            keras=keras,
        )
        print(
            _("convlab serve: serving {file} ({n:,} parameters)").format(file=npz.name, n=model.count_params()),
            flush=True,
        )
    else:
        if classes is not None:
            class_names_for(10, classes)  # ValueError naming --classes
        path = default_model.cache_path()
        model, problem = None, None
        try:
            model = default_model.load_cached(path, min_accuracy=plan.min_accuracy)
        except FileNotFoundError:
            problem = f"no trained model in {path}"
        except default_model.CorruptModelError as exc:
            problem = f"cached model {path} is corrupt ({exc})"
        if model is None and args.no_train:
            raise ValueError(
                f"{problem} and --no-train was given: run `convlab serve` once without --no-train to train it "
                "(about 15 s on two cores; later starts reuse it), or serve your own model with --model my_model.npz "
                "(a convlab model saved with model.save)"
            )
        state = ExplorerState(classes=classes, source="default", keras=keras)
        if model is not None:
            state.set_model(
                model, source="default", description=default_model.describe(model, plan), file=default_model.FILENAME
            )
            print(_("convlab serve: using the cached model {path}").format(path=path), flush=True)
        elif problem.startswith("cached"):
            print(_("convlab serve: {problem}; retraining").format(problem=problem), file=sys.stderr, flush=True)

    def start(url: str) -> None:
        if not state.ready:
            state.train_default_in_background(plan, stop=stop)
        keras.start_loading()

    return serve(create_app(state, lang=args.lang), args.host, args.port, on_start=start, on_stop=stop.set)


# ----------------------------------------------------------------------------------- notebook
def _run_notebook(args) -> int:
    from convlab.teach.notebook import write_notebook

    folder = lessons_dir(args.lessons)
    path = resolve_lesson(args.n, find_lessons(folder))
    written = write_notebook(path, args.out, lang=args.lang, quick=args.quick, install=args.install)
    print(_("convlab notebook: wrote {path}").format(path=written))
    return 0


# ----------------------------------------------------------------------------------- main
def _add_lang(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lang",
        choices=LANGUAGES,
        default=None,
        help=_("the language of convlab's words: en or es (default: the locale's, from LANG/LC_ALL)"),
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``convlab`` argument parser (subcommands tour, lesson, size, serve, exercises, check, bench)."""
    parser = OneLineArgumentParser(
        prog="convlab",
        allow_abbrev=False,
        description=_(
            "convlab — an educational convolution engine: lessons, output sizes, the web explorer, benchmarks."
        ),
        epilog=_("Run `convlab <command> --help` for each command's options."),
    )
    parser.add_argument("--version", action="version", version=f"convlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="command")
    sub.required = True

    p = sub.add_parser(
        "tour",
        allow_abbrev=False,
        help=_("run every lesson in order and print a summary table"),
        description=_(
            "Run every lessons/NN_*.py in order, each in its own headless process "
            "(with --quick unless --full), then print a table: checks passed, "
            "figures written, seconds, status. Exit code 1 if any lesson failed."
        ),
    )
    p.add_argument(
        "--out",
        default=DEFAULT_OUT,
        help=_("folder for figures and summaries (default: {folder}/)").format(folder=DEFAULT_OUT),
    )
    p.add_argument("--only", metavar="LIST", help=_("comma-separated lessons to run, by number or name (e.g. 01,03)"))
    p.add_argument("--full", action="store_true", help=_("run the full lessons (default: --quick)"))
    p.add_argument(
        "--timeout",
        type=positive_seconds("--timeout"),
        default=600.0,
        metavar="S",
        help=_("seconds allowed per lesson (default: 600)"),
    )
    p.add_argument("--lessons", metavar="DIR", help=_("folder of lesson scripts (default: the repository's lessons/)"))
    _add_lang(p)
    p.set_defaults(subparser=p)

    p = sub.add_parser(
        "lesson",
        allow_abbrev=False,
        help=_("run one lesson (N = 3, 03 or its name)"),
        description=_(
            "Run one lesson. Options the command does not know (--out DIR, --quick, "
            "a lesson's own options) are passed to the lesson unchanged."
        ),
        epilog=_("example: convlab lesson 3 --step"),
    )
    p.add_argument("n", metavar="N", help=_("the lesson: its number (3 or 03) or its name (03_convolution_by_hand)"))
    p.add_argument("--step", action="store_true", help=_("pause after each step until Enter is pressed"))
    p.add_argument("--lessons", metavar="DIR", help=_("folder of lesson scripts (default: the repository's lessons/)"))
    _add_lang(p)
    p.set_defaults(subparser=p)

    p = sub.add_parser(
        "size",
        allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        help=_("output size of a convolution/pooling, with the formula"),
        description=_(
            "Output size with the slides' formula T = (N + 2·P − K)/S + 1 "
            "(floored as Keras; 'same' follows TensorFlow: ceil(N/S)); with a dilation D, "
            "T = (N + 2·P − D·(K − 1) − 1)/S + 1 (the window spans D·(K − 1) + 1 pixels); with --transpose, "
            "a transposed convolution's T = S·(N − 1) + K − 2·P + A as Keras' Conv2DTranspose computes it "
            "(Dumoulin & Visin 2016, 'A guide to convolution arithmetic for deep learning')."
        ),
        epilog=_(
            "examples:\n  convlab size 5 3 --padding 1 --stride 2      (slides: 3)\n"
            "  convlab size 28 3                             (slides: 26)\n"
            "  convlab size 28 3 --padding same --stride 2   (14, pads 0 before / 1 after)\n"
            "  convlab size 7 3 --dilation 2                 (3: the 3-tap window spans 5 pixels)\n"
            "  convlab size 16 3 --transpose --stride 2 --padding same   (32)\n"
            "  convlab size 2 3 --transpose --stride 2 --output-padding 1   (6)\n\n"
        )
        + _(LAYERS_HELP),
    )
    p.add_argument("n", metavar="N", type=_nonneg_int("N"), help=_("input size in pixels (height = width)"))
    p.add_argument(
        "kernel",
        metavar="KERNEL",
        nargs="?",
        type=_positive_int("KERNEL"),
        help=_("kernel (window) size K, for a single layer"),
    )
    p.add_argument(
        "--padding",
        "-p",
        type=_padding_arg,
        default=None,
        metavar="P",
        help=_("P zeros on each side, 'valid' or 'same' (default: 0; with --transpose 'valid', Keras' default)"),
    )
    p.add_argument("--stride", "-s", type=_positive_int("stride"), default=1, metavar="S", help=_("stride (default 1)"))
    p.add_argument(
        "--dilation",
        "-d",
        type=_positive_int("dilation"),
        default=1,
        metavar="D",
        help=_("dilation D (Keras' dilation_rate): the K taps lie D pixels apart (default 1)"),
    )
    p.add_argument(
        "--transpose",
        "-t",
        action="store_true",
        help=_("a transposed convolution (Keras' Conv2DTranspose): T = S·(N − 1) + K − 2·P + A"),
    )
    p.add_argument(
        "--output-padding",
        type=_nonneg_int("output-padding"),
        default=None,
        metavar="A",
        help=_("with --transpose: output_padding A, 0 <= A < S (default: None, Keras' choice)"),
    )
    p.add_argument("--layers", nargs="+", metavar="LAYER", help=_("several layers in the notation below"))
    _add_lang(p)
    p.set_defaults(subparser=p)

    p = sub.add_parser(
        "serve",
        allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        help=_("the web explorer: draw a digit, look inside the network (until Ctrl-C)"),
        description=_(
            "Start the convlab explorer, a local web app: draw a digit and see the prediction, every "
            "layer's output, and how any number was computed; the convolution-arithmetic page; your own Keras "
            "model's top-3 classes for a photo. Serves until Ctrl-C (exit 0). Nothing is downloaded."
        ),
        epilog=_(SERVE_EPILOG),
    )
    p.add_argument(
        "--host", default="127.0.0.1", help=_("address to listen on (default: 127.0.0.1, this machine only)")
    )
    p.add_argument(
        "--port", type=_port_arg, default=8000, metavar="P", help=_("port, 0..65535 (0: any free port; default: 8000)")
    )
    p.add_argument(
        "--model",
        action="append",
        metavar="PATH",
        help=_(
            "a convlab model (.npz, model.save) for the digits and inside pages, and/or a Keras model "
            "(.keras, convlab.vgg.save_model) for the your-model page; may be given twice (one of each)"
        ),
    )
    p.add_argument(
        "--classes",
        type=_classes_arg,
        metavar="A,B,C",
        help=_("class names, comma-separated, for the model whose output count they match"),
    )
    p.add_argument(
        "--no-train",
        action="store_true",
        help=_("never train: exit with a message when there is no cached model (and no --model .npz)"),
    )
    _add_lang(p)
    p.set_defaults(subparser=p)

    p = sub.add_parser(
        "exercises",
        allow_abbrev=False,
        help=_("copy the exercises into a folder of yours (never over your work without --force)"),
        description=_(
            "Copy one file per exercise into DIR: the task, the shapes, the slides' formula and a "
            "function to fill in. Files already there are your work and are kept, unless --force (which saves "
            "each old file as NAME.bak first). Then: convlab check N."
        ),
        epilog=_("example: convlab exercises && convlab check 2"),
    )
    p.add_argument(
        "--dir", default=EXERCISES_DIR, help=_("the folder (default: {folder}/)").format(folder=EXERCISES_DIR)
    )
    p.add_argument("--force", action="store_true", help=_("replace files that differ from the stubs (old ones → .bak)"))
    _add_lang(p)
    p.set_defaults(subparser=p)

    p = sub.add_parser(
        "check",
        allow_abbrev=False,
        help=_("grade your exercise solutions, and say where and why they go wrong"),
        description=_(
            "Run your exercise file in its own process (with a time limit) on the slides' numbers, "
            "then on random shapes, strides and paddings, against convlab's reference implementation. Each case "
            "prints ✓ or ✗ with the largest relative error; a wrong answer gets a diagnosis in plain words. "
            "Exit code 0 when every case of every chosen exercise passes, 1 otherwise."
        ),
        epilog=_("examples:\n  convlab check 2\n  convlab check all\n  convlab check 4 --hint"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "which",
        nargs="?",
        default="all",
        metavar="N|all",
        help=_("an exercise (2, 02, correlate2d), a list 2,4, or all"),
    )
    p.add_argument(
        "--dir",
        default=None,
        help=_("your exercise folder (default: {folder}/, or here if it holds them)").format(folder=EXERCISES_DIR),
    )
    p.add_argument(
        "--hint", action="store_true", help=_("after a failure, one more hint each time (a nudge, then the formula)")
    )
    p.add_argument(
        "--timeout",
        type=positive_seconds("--timeout"),
        default=None,
        metavar="S",
        help=_("seconds your code may run per exercise (default: 20; exercise 10: 120)"),
    )
    _add_lang(p)
    p.set_defaults(subparser=p)

    p = sub.add_parser(
        "notebook",
        allow_abbrev=False,
        help=_("write a lesson as a Jupyter notebook (.ipynb), ready for Colab"),
        description=_(
            "Write lesson N as a Jupyter notebook: the lesson's markdown cells, one code cell per step, a first "
            "cell that installs convlab where it is missing (Colab) and figures shown under their cells. "
            "In Spanish with --lang es."
        ),
        epilog=_("example: convlab notebook 3 --lang es --out notebooks/"),
    )
    p.add_argument("n", metavar="N", help=_("the lesson: its number (3 or 03) or its name (03_convolution_by_hand)"))
    p.add_argument("--out", default=".", metavar="DIR", help=_("the folder to write NN_name.ipynb in (default: .)"))
    p.add_argument("--quick", action="store_true", help=_("the notebook runs the smaller, faster version"))
    p.add_argument(
        "--install",
        default=None,
        metavar="SPEC",
        help=_(
            "what the first cell installs with pip when convlab is missing (default: this version, "
            "convlab=={version}; give a wheel file or a git URL where your course keeps convlab)"
        ).format(version=__version__),
    )
    p.add_argument("--lessons", metavar="DIR", help=_("folder of lesson scripts (default: the repository's lessons/)"))
    _add_lang(p)
    p.set_defaults(subparser=p)

    sub.add_parser(
        "bench",
        allow_abbrev=False,
        add_help=False,
        help=_("run benchmarks/bench.py (arguments passed through)"),
        description=_(
            "Run the benchmark script benchmarks/bench.py from the repository root; every "
            "argument is passed to it (`convlab bench --help` shows the script's own help)."
        ),
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``convlab`` console script; returns the exit code.

    Args:
        argv: the arguments after ``convlab`` (default ``sys.argv[1:]``).

    Returns:
        0 on success; 1 when a lesson, the benchmark or an exercise failed, or on an internal
        error (a bug: one line on stderr asking for a report); 2 for a bad
        invocation that is found after parsing (a missing lessons/benchmarks
        folder, an unknown lesson, an unusable ``--out``: one line on stderr);
        130 when interrupted (``serve``: 0, Ctrl-C is how it stops).

    Raises:
        SystemExit: with status 2 for a usage error found while parsing (one line
        on stderr naming the bad token), or 0 after ``--help``/``--version``.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    language = set_language(language_in_argv(argv))  # before the parser: its help is in that language
    parser = build_parser()
    command = argv[0] if argv and argv[0] == "bench" else None
    try:
        if command == "bench":  # everything after `bench` belongs to the benchmark script
            return _run_bench(argv[1:])
        args, extra = parser.parse_known_args(argv)
        command = args.command
        if getattr(args, "lang", None) is None:
            args.lang = language
        if extra and command != "lesson":
            args.subparser.error(f"unrecognized arguments: {' '.join(extra)}")
        if command == "tour":
            return _run_tour(args)
        if command == "lesson":
            return _run_lesson(args, extra)
        if command == "serve":
            return _run_serve(args)
        if command == "exercises":
            return run_exercises(args.dir, force=args.force)
        if command == "check":
            return run_check(args.which, args.dir, hint=args.hint, timeout=args.timeout)
        if command == "notebook":
            return _run_notebook(args)
        return _run_size(args, args.subparser)
    except BrokenPipeError:  # `convlab check all | head`: the reader left; nothing more to say, nowhere to say it
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that the interpreter's final flush does not fail again
        return 1
    except (ValueError, OSError) as e:  # the user's input or the user's files: a bad invocation
        print(_("convlab {command}: error: {message}").format(command=command, message=one_line(e)), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if command == "serve":  # Ctrl-C is how the explorer is stopped, even while it starts
            print(_("convlab serve: stopped"), file=sys.stderr)
            return 0
        print(_("convlab {command}: interrupted").format(command=command or "").replace(" :", ":"), file=sys.stderr)
        return 130
    except Exception as e:  # anything else is convlab's bug, not the user's: say so, and how to report it
        if os.environ.get("CONVLAB_TRACEBACK"):
            raise
        text = _(
            "convlab {command}: internal error: {kind}: {message} — a bug in convlab {version}; please report it "
            "with the command line (CONVLAB_TRACEBACK=1 shows the traceback)"
        )
        print(
            text.format(command=command or "", kind=type(e).__name__, message=one_line(e), version=__version__),
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
