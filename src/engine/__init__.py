"""RuGPT Engine: a self-hosted corporate AI assistant server."""

__version__ = "0.1.0"
