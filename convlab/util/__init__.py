"""Level 0 — plumbing with no maths: argument checks, NHWC padding and window
views, and what convlab changes in the process (thread spinning, allocator).

Every other level may import from here; nothing here imports from convlab.
"""
