"""The language-model kernel shared by training and scoring: tokenise requests as
lm-evaluation-harness does, pack them into rows without padding, and run the forward pass that
returns the log-probability of every target token."""
