"""Settings, database, service wiring and the gptu command."""
