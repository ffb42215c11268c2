"""Checking a dataset version: schema checks, and the same checks over parts of a snapshot."""
