"""Serving and scoring: the endpoint, batch scoring, the request contract, the canary, rollouts, the image's wheel."""
