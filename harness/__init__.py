"""harness: supervised fine-tuning and evaluation of language models from one YAML recipe."""

__version__ = "0.1.0"
