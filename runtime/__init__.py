"""The runtime: one module per pipeline stage, each run by DVC as `python3 -m mlwright.runtime.<stage>`.

Stages read only what the compiler emitted (`params.yaml`, `features.sql`) and
the artifacts of earlier stages; they never import the compiler.
"""
