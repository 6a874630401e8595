"""Built-in tasks: one small package each, registered in ``registry.BUILTIN_TASKS``."""
