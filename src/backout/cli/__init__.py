"""The `backout` command: thin typer commands, one module per command group."""
