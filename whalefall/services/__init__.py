"""Services: the only place state changes. The API, the console and the CLI call these."""
