"""What a person or a pipeline can ask of backout; the CLI and the API each call one of these."""
