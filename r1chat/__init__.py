"""r1chat: chat with DeepSeek-R1 distills and any GGUF chat model in the terminal, locally."""

__version__ = "0.1.0"
