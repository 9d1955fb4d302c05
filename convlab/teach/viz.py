"""Small matplotlib helpers the lessons share: matrices with their numbers, grids of maps, RGB channels.

Every function returns a matplotlib ``Figure`` (or draws on an ``Axes`` it is
given) and never shows or saves it: a lesson saves it with
``lesson.savefig(fig, name)``, a notebook displays it. ``matplotlib.pyplot`` is
imported inside the functions, so importing this module picks no backend (the
lesson harness selects the headless Agg backend first).

Layouts are convlab's (Keras'): an image ``(H, W)`` or ``(H, W, C)``, a batch of
feature maps ``(H, W, C)``, kernels ``(KH, KW, C_in, C_out)``.

One convention for every grid of numbers (:data:`GRID_CMAP`): grey cells, a
larger value drawn lighter, as in a photo (0 = black, 255 = white). Each number
is written in black on light cells and in white on dark ones. Signed values
(kernels, gradients) use the diverging ``"RdBu_r"``: blue negative, white 0,
red positive.

Functions:
    draw_matrix(ax, m, ...)           one matrix with every number written in its cell
    matrices_figure(mats, titles)     several matrices side by side (input, kernel, output …)
    channels_figure(image)            an RGB image and its R, G, B planes in Reds/Greens/Blues
    grid_figure(maps, titles)         a grid of 2-D maps (feature maps, filtered photos)
    kernels_figure(kernel)            every filter of a (KH, KW, C_in, C_out) kernel, with numbers
    sliding_window_animation(x, k)    a FuncAnimation of the window sliding over the numbers
    conv_arithmetic_animation(x, k)   Dumoulin & Visin-style frames: dilated, strided or transposed
    save_gif(anim, path)              write an animation as a looping GIF (Pillow)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from convlab.util.checks import check_real_dtype, is_int
from convlab.util.i18n import _

__all__ = [
    "draw_matrix",
    "matrices_figure",
    "channels_figure",
    "grid_figure",
    "kernels_figure",
    "sliding_window_animation",
    "conv_arithmetic_animation",
    "save_gif",
    "RGB_CMAPS",
    "GRID_CMAP",
]

#: The colour maps the course slides use for the R, G and B planes (seeds/003, "Visualización").
RGB_CMAPS = ("Reds", "Greens", "Blues")

#: The colour map of every number grid: a larger value is lighter, as in an image (0 = black, 255 = white).
GRID_CMAP = "gray"

# Colour maps whose middle colour (white or pale) means 0: without given limits they are centred on 0.
_DIVERGING = {"RdBu", "bwr", "coolwarm", "seismic", "PiYG", "PRGn", "BrBG", "PuOr", "RdGy", "RdYlBu"}

# Below this luminance (0 = black, 1 = white) a cell's number is written in white, above it in black.
_DARK_CELL = 0.5


def _as_2d(m, name):
    a = check_real_dtype(m, name)
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array (H, W), got shape {a.shape}")
    return a


def _text_colour(rgba):
    """``"white"`` on a dark cell, ``"black"`` on a light one (luminance by the ITU-R BT.601 weights).

    A transparent cell (a NaN, which matplotlib leaves unpainted) shows the white page: black.
    """
    r, g, b, alpha = rgba
    return "white" if alpha > 0 and 0.299 * r + 0.587 * g + 0.114 * b < _DARK_CELL else "black"


def _fmt_number(v, fmt):
    if fmt is not None:
        return fmt.format(v)
    v = float(v)
    if np.isfinite(v) and v == round(v):
        return str(int(round(v)))
    return f"{v:.2g}" if abs(v) < 1 else f"{v:.3g}"


def draw_matrix(
    ax: Any,
    m: ArrayLike,
    *,
    title: str | None = None,
    cmap: str | None = GRID_CMAP,
    fmt: str | None = None,
    highlight: tuple[int, int, int, int] | None = None,
    highlight_color: str = "tab:red",
    vmin: float | None = None,
    vmax: float | None = None,
    fontsize: float | None = None,
    numbers: bool = True,
) -> Any:
    """Draw matrix ``m`` on ``ax`` as coloured cells with each number written inside, as the slides do.

    By default the cells are grey and a larger value is lighter, as in an image
    (:data:`GRID_CMAP`): with ``vmin=0, vmax=255`` a 0 is black and a 255 white;
    without limits the smallest number is black and the largest white. Each number
    is written in white on a dark cell and in black on a light one, whatever the
    colour map.

    Args:
        ax: a matplotlib ``Axes``.
        m: ``(H, W)`` numbers (any real dtype).
        title: text above the matrix.
        cmap: colour map of the cells (default :data:`GRID_CMAP`, larger = lighter;
            ``"RdBu_r"`` with ``vmin=-lim, vmax=lim`` for signed values: blue negative,
            white 0, red positive; ``None`` → white cells).
        fmt: a ``str.format`` pattern for the numbers (default: integers as integers,
            other values with 2–3 significant digits).
        highlight: ``(row, col, height, width)`` of a rectangle to outline (a window), or ``None``.
        highlight_color: the rectangle's colour.
        vmin, vmax: colour limits: ``vmin`` gets the colour map's first colour, ``vmax`` its
            last (default: the data's range; for a diverging map such as ``"RdBu_r"``,
            ``±max|m|``, so that 0 is white).
        fontsize: size of the numbers (default: shrinks with the matrix size).
        numbers: write the numbers (set ``False`` for large matrices).

    Returns:
        The ``AxesImage``.

    Raises:
        ValueError: ``m`` is not a non-empty 2-D array; TypeError: not numeric.
    """
    from matplotlib.patches import Rectangle

    a = _as_2d(m, "m").astype(float)
    h, w = a.shape
    if cmap is None:
        im = ax.imshow(np.ones_like(a), cmap="gray", vmin=0, vmax=1)
    else:
        finite = a[np.isfinite(a)]
        lo = vmin if vmin is not None else (finite.min() if finite.size else 0.0)
        hi = vmax if vmax is not None else (finite.max() if finite.size else 1.0)
        if vmin is None and vmax is None and str(cmap).removesuffix("_r") in _DIVERGING:
            lo, hi = -max(abs(lo), abs(hi)), max(abs(lo), abs(hi))  # white stays 0
        if hi == lo:  # a constant matrix: one colour, from the middle of the map
            lo, hi = lo - 1, hi + 1
        im = ax.imshow(a, cmap=cmap, vmin=lo, vmax=hi)
    if numbers:
        size = fontsize or max(5, min(10, int(60 / max(h, w))))
        cells = im.to_rgba(im.get_array())  # the colour each cell is drawn in, for a readable number
        for i in range(h):
            for j in range(w):
                colour = _text_colour(cells[i, j]) if cmap is not None else "black"
                ax.text(j, i, _fmt_number(a[i, j], fmt), ha="center", va="center", fontsize=size, color=colour)
    ax.set_xticks(np.arange(-0.5, w, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, h, 1), minor=True)
    ax.grid(which="minor", color="0.6", linewidth=0.5)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    if highlight is not None:
        r, c, hh, ww = highlight
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), ww, hh, fill=False, edgecolor=highlight_color, linewidth=2.5))
    if title:
        ax.set_title(title, fontsize=10)
    return im


def matrices_figure(
    mats: Sequence[ArrayLike],
    titles: Sequence[str] | None = None,
    *,
    cmaps: Sequence[str | None] | None = None,
    suptitle: str | None = None,
    cell_inches: float = 0.45,
    fmt: str | None = None,
    limits: Sequence[tuple[float, float] | None] | None = None,
) -> Any:
    """Several matrices side by side (e.g. input, kernel, output), each with its numbers.

    Args:
        mats: a sequence of 2-D arrays (sizes may differ).
        titles: one title per matrix (optional).
        cmaps: one colour map per matrix (default :data:`GRID_CMAP` for all: grey, larger
            = lighter; ``"RdBu_r"`` suits a signed kernel).
        suptitle: a title over the whole figure.
        cell_inches: size of one cell in inches (the figure grows with the matrices).
        fmt: number format, as in :func:`draw_matrix`.
        limits: one ``(vmin, vmax)`` or ``None`` per matrix, as in :func:`draw_matrix`
            (default: each matrix its own range). Give matrices that are compared the same
            limits, so that one number has one shade in all of them.

    Returns:
        The ``Figure``.

    Raises:
        ValueError: ``mats`` is empty, ``titles``/``cmaps``/``limits`` have another length, or
            an entry of ``limits`` is not ``None`` or ``(vmin, vmax)`` with ``vmin < vmax``.
    """
    import matplotlib.pyplot as plt

    mats = [_as_2d(m, f"mats[{i}]") for i, m in enumerate(mats)]
    if not mats:
        raise ValueError("mats must hold at least one matrix, got 0")
    for name, seq in (("titles", titles), ("cmaps", cmaps), ("limits", limits)):
        if seq is not None and len(seq) != len(mats):
            raise ValueError(f"{name} must have {len(mats)} entries (one per matrix), got {len(seq)}")
    for i, lim in enumerate(limits or []):
        if lim is not None and not (np.shape(lim) == (2,) and float(lim[0]) < float(lim[1])):
            raise ValueError(f"limits[{i}] must be None or (vmin, vmax) with vmin < vmax, got {lim!r}")
    widths = [m.shape[1] for m in mats]
    height = max(m.shape[0] for m in mats)
    fig, axes = plt.subplots(
        1,
        len(mats),
        figsize=(max(3.0, cell_inches * (sum(widths) + len(mats))), max(2.0, cell_inches * height + 0.8)),
        gridspec_kw={"width_ratios": widths},
        squeeze=False,
    )
    for i, (ax, m) in enumerate(zip(axes[0], mats)):
        vmin, vmax = (limits[i] if limits else None) or (None, None)
        cmap = cmaps[i] if cmaps else GRID_CMAP
        draw_matrix(ax, m, title=titles[i] if titles else None, cmap=cmap, fmt=fmt, vmin=vmin, vmax=vmax)
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def channels_figure(
    image: ArrayLike,
    *,
    titles: Sequence[str] | None = None,
    cmaps: Sequence[str] = RGB_CMAPS,
    suptitle: str | None = None,
) -> Any:
    """An RGB image and its three planes drawn in Reds, Greens and Blues (as the slides do).

    Args:
        image: ``(H, W, 3)`` array, uint8 0–255 or float 0–1 (as ``skimage.data`` gives).
        titles: four titles (the image, then R, G, B); default names and shapes.
        cmaps: the three colour maps (default :data:`RGB_CMAPS`).
        suptitle: optional title over the figure.

    Returns:
        The ``Figure`` (1 × 4 axes).

    Raises:
        ValueError: ``image`` is not ``(H, W, 3)``.
    """
    import matplotlib.pyplot as plt

    img = check_real_dtype(image, "image")
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3), got shape {img.shape}")
    names = ["R", "G", "B"]
    if titles is None:
        titles = [_("image {shape}").format(shape=img.shape)] + [f"{n} = image[:, :, {p}]" for p, n in enumerate(names)]
    if len(titles) != 4:
        raise ValueError(f"titles must have 4 entries (image, R, G, B), got {len(titles)}")
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.8))
    axes[0].imshow(img)
    axes[0].set_title(titles[0], fontsize=10)
    for p in range(3):
        axes[p + 1].imshow(img[:, :, p], cmap=cmaps[p])
        axes[p + 1].set_title(titles[p + 1], fontsize=10)
    for ax in axes:
        ax.axis("off")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def grid_figure(
    maps: Sequence[ArrayLike],
    titles: Sequence[str] | None = None,
    *,
    cmap: str = GRID_CMAP,
    ncols: int | None = None,
    suptitle: str | None = None,
    panel_inches: float = 3.0,
    symmetric: bool = False,
    colorbar: bool = False,
) -> Any:
    """A grid of 2-D maps: filtered photos, feature maps, pooled maps.

    Args:
        maps: a sequence of 2-D arrays, or one ``(H, W, C)`` array (each channel a panel).
        titles: one title per panel (optional).
        cmap: colour map (default :data:`GRID_CMAP`: larger = lighter, as a photo).
        ncols: panels per row (default: all in one row up to 4, then 4 per row).
        suptitle: title over the figure.
        panel_inches: size of one panel in inches.
        symmetric: colour limits ``±max|value|`` (useful for signed filter responses,
            with a diverging ``cmap`` such as ``"RdBu_r"``).
        colorbar: add a colour bar to each panel.

    Returns:
        The ``Figure``.

    Raises:
        ValueError: no maps, a map that is not 2-D, or ``titles`` of another length.
    """
    import matplotlib.pyplot as plt

    if isinstance(maps, np.ndarray) and maps.ndim == 3:
        maps = [maps[:, :, c] for c in range(maps.shape[2])]
    maps = [_as_2d(m, f"maps[{i}]") for i, m in enumerate(maps)]
    if not maps:
        raise ValueError("maps must hold at least one 2-D map, got 0")
    if titles is not None and len(titles) != len(maps):
        raise ValueError(f"titles must have {len(maps)} entries (one per map), got {len(titles)}")
    n = len(maps)
    ncols = ncols or min(n, 4)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_inches * ncols, panel_inches * nrows + 0.3), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= n:
            continue
        m = maps[k].astype(float)
        kw = {}
        if symmetric:
            lim = float(np.nanmax(np.abs(m))) or 1.0
            kw = {"vmin": -lim, "vmax": lim}
        im = ax.imshow(m, cmap=cmap, **kw)
        if titles is not None:
            ax.set_title(titles[k], fontsize=9)
        if colorbar:
            fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def kernels_figure(
    kernel: ArrayLike, *, names: Sequence[str] | None = None, suptitle: str | None = None, numbers: bool | None = None
) -> Any:
    """Every 2-D slice ``kernel[:, :, c, f]`` of a Keras-layout kernel, one row per filter.

    Args:
        kernel: ``(KH, KW, C_in, C_out)`` (a single ``(KH, KW)`` kernel is accepted too).
        names: one name per filter (default ``w0, w1, …``), used in the titles ``w0[:, :, c]``.
        suptitle: title over the figure.
        numbers: write the numbers in the cells (default: when the kernel is at most 7×7).

    Returns:
        The ``Figure`` (``C_out`` rows × ``C_in`` columns), drawn with the diverging
        ``"RdBu_r"`` centred on 0: blue negative, white 0, red positive.

    Raises:
        ValueError: ``kernel`` is not 2-D or 4-D, or ``names`` has another length.
    """
    import matplotlib.pyplot as plt

    k = check_real_dtype(kernel, "kernel").astype(float)
    if k.ndim == 2:
        k = k[:, :, None, None]
    if k.ndim != 4 or k.size == 0:
        raise ValueError(f"kernel must be (KH, KW, C_in, C_out) or (KH, KW), got shape {np.shape(kernel)}")
    kh, kw, c_in, c_out = k.shape
    if names is None:
        names = [f"w{f}" for f in range(c_out)]
    if len(names) != c_out:
        raise ValueError(f"names must have {c_out} entries (one per filter), got {len(names)}")
    if numbers is None:
        numbers = max(kh, kw) <= 7
    lim = float(np.abs(k).max()) or 1.0
    fig, axes = plt.subplots(
        c_out, c_in, figsize=(max(1.6, 0.45 * kw + 0.4) * c_in, (0.45 * kh + 0.9) * c_out), squeeze=False
    )
    for f in range(c_out):
        for c in range(c_in):
            draw_matrix(
                axes[f, c],
                k[:, :, c, f],
                cmap="RdBu_r",
                vmin=-lim,
                vmax=lim,
                numbers=numbers,
                title=f"{names[f]}[:, :, {c}]",
            )
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def sliding_window_animation(
    x: ArrayLike, kernel: ArrayLike, *, padding: int = 0, strides: int = 1, interval: int = 900, expression: bool = True
) -> tuple[Any, np.ndarray]:
    """An animation of the kernel window sliding over the numbers of ``x``, filling the output.

    Each frame outlines the window on the (zero-padded) input, shows the kernel,
    and the output with the cells computed so far; with ``expression=True`` the
    frame's sum of products is written underneath, as on the slides
    (``60*0 + 113*(-1) + … = 266``). The output numbers are computed here by the
    plain definition ``Σ window · kernel`` (cross-correlation, as Keras).

    Args:
        x: ``(H, W)`` input.
        kernel: ``(KH, KW)``.
        padding: an int ``P`` (zeros on each side), as on the slides.
        strides: an int ``S``.
        interval: milliseconds per frame.
        expression: write each frame's sum of products.

    Returns:
        ``(animation, output)``: a ``matplotlib.animation.FuncAnimation`` (save it with
        ``animation.save(path, writer=matplotlib.animation.PillowWriter(fps=1))``)
        and the ``(OH, OW)`` output it animates.

    Raises:
        ValueError: non-2-D arrays, negative ``padding``, ``strides`` < 1, or a kernel
        larger than the padded input.
    """
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation
    from matplotlib.patches import Rectangle

    a = _as_2d(x, "x").astype(float)
    k = _as_2d(kernel, "kernel").astype(float)
    if not is_int(padding) or padding < 0:
        raise ValueError(f"padding must be an int >= 0, got {padding!r}")
    if not is_int(strides) or strides < 1:
        raise ValueError(f"strides must be an int >= 1, got {strides!r}")
    xp = np.pad(a, padding)
    kh, kw = k.shape
    if kh > xp.shape[0] or kw > xp.shape[1]:
        raise ValueError(f"kernel of {kh}×{kw} is larger than the padded input of {xp.shape[0]}×{xp.shape[1]}")
    oh, ow = (xp.shape[0] - kh) // strides + 1, (xp.shape[1] - kw) // strides + 1
    out = np.array(
        [
            [np.sum(xp[i * strides : i * strides + kh, j * strides : j * strides + kw] * k) for j in range(ow)]
            for i in range(oh)
        ]
    )

    fig, axes = plt.subplots(
        1,
        3,
        figsize=(0.5 * (xp.shape[1] + kw + ow) + 2.5, 0.5 * xp.shape[0] + 1.6),
        gridspec_kw={"width_ratios": [xp.shape[1], kw, ow]},
    )
    caption = fig.text(0.5, 0.02, "", ha="center", fontsize=8)
    heading = _("input (padding={padding}, stride={strides})").format(padding=padding, strides=strides)
    draw_matrix(axes[0], xp, title=heading)
    lim = float(np.abs(k).max()) or 1.0
    draw_matrix(axes[1], k, title=_("kernel"), cmap="RdBu_r", vmin=-lim, vmax=lim)
    draw_matrix(axes[2], np.zeros_like(out), title=_("output"), cmap=None, numbers=False)
    size = max(5, min(10, int(60 / max(out.shape))))
    cells = [
        axes[2].text(c, r, _fmt_number(v, None), ha="center", va="center", fontsize=size, visible=False)
        for (r, c), v in np.ndenumerate(out)
    ]
    window = Rectangle((-0.5, -0.5), kw, kh, fill=False, edgecolor="tab:red", linewidth=2.5)
    current = Rectangle((-0.5, -0.5), 1, 1, fill=False, edgecolor="tab:red", linewidth=2.5)
    axes[0].add_patch(window)
    axes[2].add_patch(current)

    def frame(t):
        i, j = divmod(t, ow)
        window.set_xy((j * strides - 0.5, i * strides - 0.5))
        current.set_xy((j - 0.5, i - 0.5))
        for n, cell in enumerate(cells):
            cell.set_visible(n <= t)
        if expression:
            win = xp[i * strides : i * strides + kh, j * strides : j * strides + kw]
            terms = [
                f"{_fmt_number(p, None)}*{_fmt_number(q, None) if q >= 0 else '(' + _fmt_number(q, None) + ')'}"
                for p, q in zip(win.ravel(), k.ravel())
            ]
            caption.set_text(" + ".join(terms) + f" = {_fmt_number(out[i, j], None)}")
        return []

    anim = FuncAnimation(fig, frame, frames=oh * ow, interval=interval, blit=False, repeat=True)
    return anim, out


# conv_arithmetic_animation's cells: numbers in GRID_CMAP's grey, as every number grid; the cells that
# hold no number (padding, inserted zeros, outputs not yet computed) white with dashed lines; the
# kernel's taps and the current output outlined in Dumoulin & Visin's dark blue.
_CA_EMPTY = "white"
_CA_TAP = "#1c4587"
_CA_TITLE = {"ha": "center", "va": "bottom", "fontsize": 10}
# A weight's label sits on a small white box: readable on black and on white cells alike.
_CA_LABEL_BOX = {"boxstyle": "square,pad=0.08", "facecolor": "white", "edgecolor": "none", "alpha": 0.85}


def _ca_canvas(a, k, strides, padding, dilation, transposed, output_padding):
    """The grid the kernel slides over, which cells hold input, the kernel to slide and its stride.

    A transposed convolution is drawn as Dumoulin & Visin draw it (2016, §4.5–4.6): its input
    stretched with ``S − 1`` zeros between pixels, padded by ``D·(K − 1) − P`` on each side
    (plus ``A`` at the bottom/right), then an ordinary stride-1 convolution with the flipped kernel.
    """
    kh, kw = k.shape
    if not transposed:
        canvas = np.pad(a, padding)
        real = np.pad(np.ones(a.shape, bool), padding)
        return canvas, real, k, strides
    span_h, span_w = dilation * (kh - 1), dilation * (kw - 1)
    if padding > min(span_h, span_w):
        raise ValueError(
            f"padding must be at most D·(K − 1) = {min(span_h, span_w)} for a transposed convolution "
            f"(it crops the output), got {padding}"
        )
    h, w = a.shape
    stretched = np.zeros(((h - 1) * strides + 1, (w - 1) * strides + 1))
    stretched[::strides, ::strides] = a
    real = np.zeros(stretched.shape, bool)
    real[::strides, ::strides] = True
    pads = (
        (span_h - padding, span_h - padding + output_padding),
        (span_w - padding, span_w - padding + output_padding),
    )
    return np.pad(stretched, pads), np.pad(real, pads), k[::-1, ::-1], 1


def conv_arithmetic_animation(
    x: ArrayLike,
    kernel: ArrayLike,
    *,
    strides: int = 1,
    padding: int = 0,
    dilation: int = 1,
    transposed: bool = False,
    output_padding: int = 0,
    numbers: bool = True,
    interval: int = 800,
    cell_inches: float = 0.5,
) -> tuple[Any, np.ndarray]:
    """An animation in the style of Dumoulin & Visin's conv_arithmetic figures, one frame per output cell.

    The cells follow the number-grid convention (:data:`GRID_CMAP`: grey, a larger value
    lighter; input and output each on its own scale); padding and inserted zeros are white
    cells with dashed lines and no number. The kernel's taps are outlined in dark blue, each
    weight written in the tap's corner; the output grid fills one cell per frame, the current
    one outlined. With ``dilation`` D the taps lie D cells apart. With
    ``transposed=True`` the figure shows a transposed convolution the way the guide draws it
    (§4.5–4.6): the input stretched with ``S − 1`` zeros between its pixels, padded by
    ``D·(K − 1) − P`` (and ``output_padding`` at the bottom/right), and a stride-1
    convolution with the flipped kernel over it — which gives exactly Keras'
    ``Conv2DTranspose`` (``y[i·S + u·D − P, j·S + v·D − P] += x[i, j]·k[u, v]``).

    Source: V. Dumoulin and F. Visin, "A guide to convolution arithmetic for deep learning"
    (2016), and their conv_arithmetic animations.

    Args:
        x: ``(H, W)`` input numbers.
        kernel: ``(KH, KW)`` weights, as Keras stores them (not flipped).
        strides: ``S``, an int ≥ 1 (for ``transposed``, the upsampling factor).
        padding: ``P``, an int ≥ 0: zeros around the input, or for ``transposed`` the pads
            of the convolution it transposes (cropped; at most ``D·(K − 1)``).
        dilation: ``D``, an int ≥ 1.
        transposed: draw a transposed convolution.
        output_padding: ``A`` (only with ``transposed``), an int with ``0 ≤ A < S``.
        numbers: write the numbers in the cells and each frame's sum of products underneath.
        interval: milliseconds per frame.
        cell_inches: the size of one cell (the figure grows with the grids).

    Returns:
        ``(animation, output)``: a ``matplotlib.animation.FuncAnimation`` (save it with
        ``animation.save(path, writer=matplotlib.animation.PillowWriter(fps=1))``) and the
        ``(OH, OW)`` output it animates, computed here from the drawn taps.

    Raises:
        ValueError: non-2-D arrays; ``strides`` or ``dilation`` < 1; negative ``padding``;
            ``output_padding`` outside ``[0, S)`` or given without ``transposed``; a
            transposed ``padding`` above ``D·(K − 1)``; a (dilated) kernel larger than the
            padded input.
        TypeError: non-numeric arrays, or a size that is not an int.
    """
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation
    from matplotlib.colors import to_rgb
    from matplotlib.patches import Rectangle

    from convlab.util.checks import check_bool, check_int

    a = _as_2d(x, "x").astype(float)
    k = _as_2d(kernel, "kernel").astype(float)
    strides = check_int(strides, "strides", minimum=1)
    dilation = check_int(dilation, "dilation", minimum=1)
    padding = check_int(padding, "padding", minimum=0)
    transposed = check_bool(transposed, "transposed")
    output_padding = check_int(output_padding, "output_padding", minimum=0)
    if output_padding and not transposed:
        raise ValueError(f"output_padding is for a transposed convolution only (transposed=True), got {output_padding}")
    if output_padding >= strides:
        raise ValueError(f"output_padding must be smaller than strides={strides} (Keras), got {output_padding}")
    canvas, real, slid, step = _ca_canvas(a, k, strides, padding, dilation, transposed, output_padding)
    kh, kw = k.shape
    span_h, span_w = dilation * (kh - 1) + 1, dilation * (kw - 1) + 1
    ch, cw = canvas.shape
    if span_h > ch or span_w > cw:
        raise ValueError(
            f"kernel of {kh}×{kw} dilated by {dilation} spans {span_h}×{span_w}, larger than the "
            f"padded input of {ch}×{cw}"
        )
    oh, ow = (ch - span_h) // step + 1, (cw - span_w) // step + 1

    def taps(i, j):
        return [(i * step + u * dilation, j * step + v * dilation, u, v) for u in range(kh) for v in range(kw)]

    out = np.array(
        [[sum(canvas[r, c] * slid[u, v] for r, c, u, v in taps(i, j)) for j in range(ow)] for i in range(oh)]
    )

    def product(r, c, u, v):
        w = _fmt_number(slid[u, v], None)
        return f"{_fmt_number(canvas[r, c], None)}·{w if slid[u, v] >= 0 else '(' + w + ')'}"

    captions = []
    for i in range(oh):
        for j in range(ow):
            terms = [product(r, c, u, v) for r, c, u, v in taps(i, j) if real[r, c]]
            captions.append(f"out[{i},{j}] = " + (" + ".join(terms) or "0") + f" = {_fmt_number(out[i, j], None)}")

    width = cell_inches * (cw + ow) + 1.2
    fig, (ax_in, ax_out) = plt.subplots(
        1,
        2,
        figsize=(width, cell_inches * max(ch, oh) + (1.0 if numbers else 0.7)),
        gridspec_kw={"width_ratios": [cw, ow]},
    )
    fig.subplots_adjust(left=0.03, right=0.97, top=0.85, bottom=0.13 if numbers else 0.03, wspace=0.15)
    # A number fills about 40 % of a cell's height and, a digit being ~0.6 em wide, at most ~90 % of its
    # width; a weight, in a tap's corner, about a quarter of the height. (72 points per inch.)
    digits = max(len(_fmt_number(v, None)) for v in np.r_[a.ravel(), out.ravel()])
    size = max(5.0, min(14.0, 0.4 * 72 * cell_inches, 1.5 * 72 * cell_inches / digits))
    weight_size = max(5.0, min(10.0, 0.27 * 72 * cell_inches))
    cmap = plt.get_cmap(GRID_CMAP)

    def shades(values, mask):
        """RGB of each cell: its value in GRID_CMAP's grey on ``values``' own range, white where ``mask`` is off."""
        lo, hi = (values[mask].min(), values[mask].max()) if mask.any() else (0.0, 1.0)
        scaled = (values - lo) / (hi - lo) if hi > lo else np.ones_like(values)  # a constant grid: white
        return np.where(mask[:, :, None], cmap(scaled)[:, :, :3], to_rgb(_CA_EMPTY))

    in_rgb = shades(canvas, real)
    out_rgb = shades(out, np.ones(out.shape, bool))
    # One image and one set of grid lines per grid (not a patch per cell): each frame redraws them all.
    images = []
    for ax, image, dashed in ((ax_in, in_rgb, True), (ax_out, np.ones((oh, ow, 3)), False)):
        h, w = image.shape[:2]
        images.append(ax.imshow(image, interpolation="nearest"))
        style = {"color": "0.45", "linewidth": 0.7, "linestyle": (0, (2, 2)) if dashed else "-"}
        ax.hlines(np.arange(-0.5, h), -0.5, w - 0.5, **style)
        ax.vlines(np.arange(-0.5, w), -0.5, h - 0.5, **style)
        ax.set_xlim(-0.55, w - 0.45)
        ax.set_ylim(h - 0.45, -0.55)
        ax.axis("off")
    out_image = images[1]  # white until each output is computed
    for (r, c), v in np.ndenumerate(canvas):
        if real[r, c]:
            ax_in.add_patch(Rectangle((c - 0.5, r - 0.5), 1, 1, fill=False, edgecolor="0.2", linewidth=0.8))
            if numbers:
                colour = _text_colour((*in_rgb[r, c], 1.0))
                ax_in.text(c, r, _fmt_number(v, None), ha="center", va="center", fontsize=size, color=colour)
    parts = [f"S={strides}", f"P={padding}"] + ([f"D={dilation}"] if dilation != 1 else [])
    parts += [f"A={output_padding}"] if transposed and output_padding else []
    if transposed:
        heading = _("transposed convolution, {kh}×{kw} kernel, {settings}")
        where = _("input {h}×{w} stretched to {ch}×{cw}, kernel flipped")
    else:
        heading, where = _("convolution, {kh}×{kw} kernel, {settings}"), _("input {h}×{w}")
    fig.suptitle(heading.format(kh=kh, kw=kw, settings=", ".join(parts)), fontsize=11)
    # Titles as plain texts: an Axes title is re-positioned from the axes' extent at every frame's draw.
    where = where.format(h=a.shape[0], w=a.shape[1], ch=ch, cw=cw)
    ax_in.text(0.5, 1.02, where, transform=ax_in.transAxes, **_CA_TITLE)
    ax_out.text(0.5, 1.02, _("output {h}×{w}").format(h=oh, w=ow), transform=ax_out.transAxes, **_CA_TITLE)
    cells = [
        ax_out.text(
            c,
            r,
            _fmt_number(v, None),
            ha="center",
            va="center",
            fontsize=size,
            color=_text_colour((*out_rgb[r, c], 1.0)),
            visible=False,
        )
        for (r, c), v in np.ndenumerate(out)
    ]
    tap_patches = [
        ax_in.add_patch(Rectangle((0, 0), 1, 1, fill=False, edgecolor=_CA_TAP, linewidth=2.2)) for _ in range(kh * kw)
    ]
    tap_labels = [
        ax_in.text(
            0,
            0,
            _fmt_number(slid[u, v], None),
            ha="right",
            va="bottom",
            fontsize=weight_size,
            color=_CA_TAP,
            fontweight="bold",
            bbox=_CA_LABEL_BOX,
        )
        for u in range(kh)
        for v in range(kw)
    ]
    current = ax_out.add_patch(Rectangle((-0.5, -0.5), 1, 1, fill=False, edgecolor=_CA_TAP, linewidth=2.5))
    # The longest sum of products must fit the figure's width (a character is about 0.55 em wide).
    longest = max(len(text) for text in captions)
    caption = fig.text(0.5, 0.02, "", ha="center", fontsize=max(5.0, min(10.0, 0.95 * width * 72 / (0.55 * longest))))

    def frame(t):
        i, j = divmod(t, ow)
        for n, (r, c, *_unused) in enumerate(taps(i, j)):
            tap_patches[n].set_xy((c - 0.5, r - 0.5))
            tap_labels[n].set_position((c + 0.45, r + 0.45))
        current.set_xy((j - 0.5, i - 0.5))
        done = (np.arange(oh * ow) <= t).reshape(oh, ow)
        out_image.set_data(np.where(done[:, :, None], out_rgb, to_rgb(_CA_EMPTY)))
        for n, cell in enumerate(cells):
            cell.set_visible(numbers and n <= t)
        if numbers:
            caption.set_text(captions[t])
        return []

    anim = FuncAnimation(fig, frame, frames=oh * ow, interval=interval, blit=False, repeat=True)
    anim.frame_count = oh * ow  # one frame per output pixel
    return anim, out


def save_gif(anim: Any, path: str, *, fps: float = 1.0, dpi: float = 80) -> None:
    """Write a matplotlib animation as a looping animated GIF with Pillow (``PillowWriter``).

    Args:
        anim: a ``matplotlib.animation.Animation`` (e.g. from :func:`conv_arithmetic_animation`).
        path: the file to write (its name should end in ``.gif``).
        fps: frames per second, > 0.
        dpi: resolution of the frames, > 0.

    Raises:
        ValueError: ``fps`` or ``dpi`` not a positive number.
    """
    from matplotlib.animation import PillowWriter

    for name, value in (("fps", fps), ("dpi", dpi)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"{name} must be a positive number, got {value!r}")
    anim.save(path, writer=PillowWriter(fps=fps), dpi=dpi)
