"""Watching a served model: the prediction log, the current data, drift and its alerts."""
