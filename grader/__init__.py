"""Automated grader for LLM-engineering interview answers."""
