"""Evaluation: the predictor, side-by-side evaluation jobs, their report files, metrics and comparisons."""
