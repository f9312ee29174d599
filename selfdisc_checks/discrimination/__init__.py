"""Discrimination: the multiple-choice prompt over a model's own candidates, and reading its choice."""
