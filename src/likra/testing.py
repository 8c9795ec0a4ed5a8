"""A tiny randomly initialised Llama-style model and tokenizer, for tests and device checks.

Built from a config in well under a second, saved as a normal safetensors model folder, so every
code path (CLI included) runs on it exactly as on a real model. The tokenizer is a small
word-level tokenizer trained on the given texts; ``bos=True`` makes it prepend a BOS token like
SentencePiece tokenizers do, ``bos=False`` behaves like GPT-2-style BPE tokenizers.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

DEFAULT_TEXTS = (
    "Question: Which gas do plants take in? Answer: carbon dioxide oxygen nitrogen water",
    "The cat sat on the mat because it was warm. A B C D E yes no",
)


def tiny_tokenizer(texts: Iterable[str] = DEFAULT_TEXTS, bos: bool = False, vocab_size: int = 512):
    """A fast word-level (byte-level BPE) tokenizer trained on ``texts``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token=None))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    special = ["<|endoftext|>", "<s>"]
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(texts), trainer=trainer)
    if bos:
        bos_id = tokenizer.token_to_id("<s>")
        tokenizer.post_processor = processors.TemplateProcessing(
            single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos_id)]
        )
    else:
        tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        bos_token="<s>" if bos else None,
        padding_side="right",
    )


def tiny_model(vocab_size: int, seed: int = 0, layers: int = 2, hidden: int = 32):
    """A randomly initialised LlamaForCausalLM with the module names LoRA targets."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config).eval()


def save_tiny_model(folder: str | Path, texts: Iterable[str] = DEFAULT_TEXTS, bos: bool = False, seed: int = 0) -> Path:
    """Write a tiny model + tokenizer folder (safetensors) that ``likra`` loads like any model."""
    folder = Path(folder)
    tokenizer = tiny_tokenizer(texts, bos=bos)
    model = tiny_model(len(tokenizer), seed=seed)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder
