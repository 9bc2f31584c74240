"""The product: everything `lmv` does, without any command-line or terminal code (no typer, no rich)."""
