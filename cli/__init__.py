"""The `skillsets` command line (typer + rich). One module per subcommand group."""
