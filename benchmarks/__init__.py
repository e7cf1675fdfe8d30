"""Measurements of course_lib against peer libraries, and of the course's own operations.

Run with ``make bench`` (or ``python -m benchmarks.run``); see ``benchmarks/README.md``.
"""
