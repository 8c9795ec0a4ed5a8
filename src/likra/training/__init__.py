"""Training the positive and negative LoRA heads."""
