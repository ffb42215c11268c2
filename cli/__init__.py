"""mlwright: one YAML file in, a production ML system out."""

__version__ = "0.1.0"
