"""The course's tests: library, chapters, assignments and the grading round trip."""
