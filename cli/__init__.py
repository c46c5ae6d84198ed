"""The top floor: the `gptu` command, folder importer, eval runner, local service runner."""
