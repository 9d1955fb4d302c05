"""Exercises a learner solves and convlab grades (``convlab exercises``, ``convlab check``)."""
