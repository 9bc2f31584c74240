"""lmv: neural frame extrapolation for real-time rendering (FSNet, learnable motion vectors)."""

__version__ = "0.1.0"
