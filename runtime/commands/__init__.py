"""Commands over a whole build folder: run/status/verify/push/pull, rebuild, gates, init, export."""
