"""Level 0 — plumbing with no maths: argument checks (:mod:`.checks`), NHWC
padding, window views and crops (:mod:`.arrays`), path checks, atomic file
writes and the ``.npz`` reader (:mod:`.files`), what convlab changes in the
process (:mod:`.process`), and one-line command-line errors (:mod:`.cli_args`).

Every other level may import from here; nothing here imports from convlab.
"""
