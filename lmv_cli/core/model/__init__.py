"""FSNet and its parts (docs/model.md): warp primitives, blocks, encoders, decoder, streaming, top-level model."""
