"""Evaluation: backends generate, scorers judge, suites hold items, the runner ties them together."""
