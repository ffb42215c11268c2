"""The six DVC stages, each run as `python3 -m mlwright.runtime.stages.<stage>`, reading only its compiled config."""
