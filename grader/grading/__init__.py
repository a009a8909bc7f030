"""Grading in the background: the per-process `Grader`, claiming and recording grades, the runs the
queue calls (one submission, a chunk), the sweep of stuck submissions, and grading-duration metrics."""
