"""Every lesson as a Jupyter notebook (issue 16): written by ``convlab notebook``, executed headless.

The lessons are jupytext percent-format scripts; ``convlab notebook N [--lang es]`` turns one into an
``.ipynb`` with an install cell, a setup cell and a heading per step. Each lesson's notebook is executed
here with nbclient in a real IPython kernel (``--quick``), in Spanish: every cell must run, the lesson's
checks must pass (its summary says so) and its figures must show under their cells.
"""

import asyncio
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import nbformat
import pytest
from i18n_helpers import ROOT

from convlab.teach.notebook import lesson_notebook, write_notebook

LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.py"))
CELL_TIMEOUT = 300  # seconds per cell: generous, the machine is shared


pytestmark = pytest.mark.usefixtures("english_afterwards")


def _code(nb):
    return [c.source for c in nb.cells if c.cell_type == "code"]


def test_a_notebook_has_an_install_cell_a_setup_cell_and_a_heading_per_step():
    path = ROOT / "lessons" / "03_convolution_by_hand.py"
    nb = lesson_notebook(path, lang="en", quick=True)
    assert nb.nbformat == 4 and nb.metadata["kernelspec"]["name"] == "python3"
    install, setup = _code(nb)[:2]
    assert "import convlab.lesson" in install and "%pip install --quiet convlab==" in install
    assert (
        "notebook_options(lang='en', quick=True, steps=" in setup and "__file__ = '03_convolution_by_hand.py'" in setup
    )
    headings = [c.source for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("## ")]
    steps = int(setup.split("steps=")[1].split(")")[0])
    assert len(headings) == steps >= 5, headings
    assert headings[0].startswith("## 1. ")
    intro = next(c.source for c in nb.cells if c.cell_type == "markdown")
    assert intro.startswith("# Lesson 03")
    # IPython turns the indented %pip into a call: the cell is valid Python after its transformation
    from IPython.core.inputtransformer2 import TransformerManager

    compile(TransformerManager().transform_cell(install), "<install>", "exec")
    custom = lesson_notebook(path, install="/course/convlab-0.8.0-py3-none-any.whl")
    assert "%pip install --quiet /course/convlab-0.8.0-py3-none-any.whl" in _code(custom)[0]


def test_a_spanish_notebook_carries_its_translations_in_its_cells():
    path = ROOT / "lessons" / "03_convolution_by_hand.py"
    nb = lesson_notebook(path, lang="es")
    text = "\n".join(c.source for c in nb.cells)
    intro = next(c.source for c in nb.cells if c.cell_type == "markdown")
    assert intro.startswith("# Lección 03"), intro[:80]
    assert "## 1. " in text and "notebook_options(lang='es'" in text
    assert 'lesson.step(_("The input' not in text  # the step titles are in Spanish in the cells
    for cell in _code(nb)[2:]:
        compile(cell, "<cell>", "exec")  # still Python after the literals were replaced


def test_convlab_notebook_writes_the_file_and_names_bad_arguments(tmp_path):
    written = write_notebook(ROOT / "lessons" / "03_convolution_by_hand.py", tmp_path / "nb", lang="es")
    assert written == tmp_path / "nb" / "03_convolution_by_hand.ipynb"
    nbformat.validate(nbformat.read(written, as_version=4))
    assert [p.name for p in (tmp_path / "nb").iterdir()] == [written.name]  # no temporary file left
    run = [sys.executable, "-m", "convlab", "notebook"]
    proc = subprocess.run([*run, "3", "--lang", "es", "--out", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 0 and "03_convolution_by_hand.ipynb" in proc.stdout, proc.stderr
    proc = subprocess.run([*run, "99", "--out", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2 and "no lesson matches '99'" in proc.stderr
    proc = subprocess.run([*run, "3", "--lang", "fr"], capture_output=True, text=True)
    assert proc.returncode == 2 and "--lang" in proc.stderr and "'fr'" in proc.stderr
    with pytest.raises(ValueError, match="lang must be one of"):
        lesson_notebook(ROOT / "lessons" / "03_convolution_by_hand.py", lang="de")


def _execute(target, folder):
    """Run the notebook file ``target`` in its own kernel, in ``folder``; return it and the error, if any."""
    from nbclient import NotebookClient

    nb = nbformat.read(target, as_version=4)
    client = NotebookClient(
        nb, timeout=CELL_TIMEOUT, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    )
    try:
        asyncio.run(client.async_execute())  # an event loop of its own: two notebooks run side by side
    except Exception as exc:  # the cell's error is in the notebook's outputs too; keep the first words
        return nb, exc
    return nb, None


@pytest.fixture(scope="module")
def executed(request, tmp_path_factory):
    """Every selected lesson's notebook, executed two at a time (the CI machine has two cores, and a
    lesson mostly keeps one busy): ``{stem: (notebook, error or None, folder)}``."""
    wanted = [
        item.callspec.params["path"]
        for item in request.session.items
        if getattr(item, "originalname", "") == "test_every_lesson_runs_as_a_spanish_notebook"
    ]
    saved = os.environ.pop("MPLBACKEND", None)  # the kernel's own inline backend shows the figures
    try:
        folders = {p.stem: tmp_path_factory.mktemp(p.stem) for p in wanted}
        # Written here, one after the other: CPython's ast (jupytext, the translation) is not safe to run in
        # two threads at once ("AST constructor recursion depth mismatch"); only the kernels run side by side.
        targets = {p.stem: write_notebook(p, folders[p.stem], lang="es", quick=True) for p in wanted}
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = {stem: pool.submit(_execute, targets[stem], folders[stem]) for stem in targets}
            return {stem: (*f.result(), folders[stem]) for stem, f in futures.items()}
    finally:
        if saved is not None:
            os.environ["MPLBACKEND"] = saved


@pytest.mark.slow
@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_every_lesson_runs_as_a_spanish_notebook(path, executed):
    nb, failure, folder = executed[path.stem]
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert failure is None and not errors, (errors[:1], failure)
    summary = json.loads((folder / "convlab-output" / path.stem / "summary.json").read_text())
    assert summary["status"] == "passed" and summary["checks"] > 0, summary
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "comprobaciones superadas" in text or "comprobación superada" in text
    shown = sum(
        1
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "display_data" and ({"image/png", "image/gif"} & set(o.data))
    )
    assert shown == summary["figures"], (shown, summary["figures"])
