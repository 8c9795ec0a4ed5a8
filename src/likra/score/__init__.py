"""Scoring: summed log-likelihood of every choice under the base model and both heads."""
