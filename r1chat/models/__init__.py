"""Provides the model catalog: GGUF headers, checks before loading, and where models are found."""
