"""likra: likelihood-ratio (Likra) models -- how much do LLMs learn from negative examples?"""

__version__ = "0.1.0"
