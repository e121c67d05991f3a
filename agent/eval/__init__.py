"""Evaluations of the offline dialogue engine: `python -m agent.eval --help`."""
