"""Base models (packaged GGUF, local folders, Hub ids) and the two LoRA heads on them."""
