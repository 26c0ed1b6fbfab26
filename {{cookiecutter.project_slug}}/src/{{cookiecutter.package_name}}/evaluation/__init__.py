"""Evaluation: metrics, gate, report, importance, slices, model card."""
