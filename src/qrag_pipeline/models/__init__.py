"""The Q-function's model side: encoders, positional mapping, rotation, twin heads."""
