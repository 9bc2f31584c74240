"""FSNet and its parts (study §4): warp primitives, blocks, encoders, decoder, streaming, top-level model."""
