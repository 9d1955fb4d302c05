"""Level 0 — plumbing with no maths: argument checks (:mod:`.checks`), NHWC
padding, window views and crops (:mod:`.arrays`), atomic file writes
(:mod:`.files`), and what convlab changes in the process (:mod:`.process`).

Every other level may import from here; nothing here imports from convlab.
"""
