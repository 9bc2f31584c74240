"""The command-line layer: one small file per command; typer and rich live only here."""
