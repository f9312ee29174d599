"""Scoring: extracting final answers from completions (strict and flexible) and comparing them."""
