"""Command groups of the `grader` CLI, each registering itself on the typer app in grader/cli.py."""
