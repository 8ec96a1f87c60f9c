"""The names `embed.backend` may take, apart from the encoders behind them, so that the
parameter checks and the CLI's choices cost no torch import (see `models.backends`)."""

BACKENDS = ("torch", "torch-bf16", "onnx", "onnx-int8")
"""The inference backends, float32 torch first: the others are measured against it."""
SETTINGS = ("auto", *BACKENDS)
"""What `embed.backend` may say: a backend, or "auto" for this hardware's best."""
