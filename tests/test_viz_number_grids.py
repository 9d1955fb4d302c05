"""The number-grid convention lesson 01 states and every lesson's figures use (convlab.viz).

Grey cells, a larger value lighter, as in a photo (0 = black, 255 = white); each number
readable on its cell (white on dark, black on light); a diverging map centred on 0.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.colors import to_rgb

from convlab import viz


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def number_colours(ax):
    """``{text: rgb}`` of the numbers written in the cells."""
    return {t.get_text(): to_rgb(t.get_color()) for t in ax.texts}


def test_grid_cmap_is_exported_and_grey():
    assert viz.GRID_CMAP == "gray"
    assert "GRID_CMAP" in viz.__all__


def test_larger_is_lighter_and_0_255_are_black_white(ax):
    im = viz.draw_matrix(ax, [[0, 100], [200, 255]], vmin=0, vmax=255)
    assert im.get_cmap().name == viz.GRID_CMAP
    grey = [im.to_rgba(v)[0] for v in (0, 100, 200, 255)]
    assert grey == sorted(grey) and grey[0] == 0.0 and grey[-1] == 1.0
    colours = number_colours(ax)
    assert colours["0"] == (1.0, 1.0, 1.0) and colours["100"] == (1.0, 1.0, 1.0)  # white on dark
    assert colours["200"] == (0.0, 0.0, 0.0) and colours["255"] == (0.0, 0.0, 0.0)  # black on light


def test_data_limits_span_black_to_white(ax):
    im = viz.draw_matrix(ax, [[-5, 3], [7, 11]])
    assert im.to_rgba(-5)[:3] == (0.0, 0.0, 0.0)
    assert im.to_rgba(11)[:3] == (1.0, 1.0, 1.0)


def test_diverging_map_is_centred_on_zero(ax):
    im = viz.draw_matrix(ax, [[0, -1, 0], [-1, 5, -1], [0, -1, 0]], cmap="RdBu_r")
    assert im.get_clim() == (-5.0, 5.0)
    r, g, b = im.to_rgba(0)[:3]
    assert min(r, g, b) > 0.9  # 0 is (nearly) white
    assert number_colours(ax)["5"] == (1.0, 1.0, 1.0)  # dark red cell: white number


def test_nan_and_white_cells_get_black_numbers(ax):
    viz.draw_matrix(ax, [[np.nan, 1.0], [2.0, 3.0]])
    assert number_colours(ax)["nan"] == (0.0, 0.0, 0.0)
    fig, ax2 = plt.subplots()
    viz.draw_matrix(ax2, [[0, 1], [2, 3]], cmap=None)
    assert set(number_colours(ax2).values()) == {(0.0, 0.0, 0.0)}
    plt.close(fig)


def test_matrices_figure_defaults_to_the_grid_cmap():
    fig = viz.matrices_figure([np.arange(4).reshape(2, 2), np.eye(2)])
    assert [a.images[0].get_cmap().name for a in fig.axes] == [viz.GRID_CMAP] * 2
    plt.close(fig)


def test_matrices_figure_shared_limits_give_one_number_one_shade():
    small, large = np.array([[0, 3], [3, 0]]), np.array([[0, 3], [6, 12]])
    fig = viz.matrices_figure([small, large], limits=[(0, 12), (0, 12)])
    shade_of_3 = [a.images[0].to_rgba(3) for a in fig.axes]
    assert shade_of_3[0] == shade_of_3[1]
    plt.close(fig)
    fig = viz.matrices_figure([small, large])  # each its own range: 3 is white in one, dark in the other
    assert fig.axes[0].images[0].get_clim() == (0, 3) and fig.axes[1].images[0].get_clim() == (0, 12)
    plt.close(fig)


def test_matrices_figure_limits_one_per_matrix():
    with pytest.raises(ValueError, match="limits must have 2 entries"):
        viz.matrices_figure([np.eye(2), np.eye(2)], limits=[(0, 1)])


@pytest.mark.parametrize("bad", [5, (1, 1), (3, 0), (0, 1, 2)])
def test_matrices_figure_names_a_bad_limit(bad):
    with pytest.raises(ValueError, match=r"limits\[1\] must be None or \(vmin, vmax\)"):
        viz.matrices_figure([np.eye(2), np.eye(2)], limits=[None, bad])
