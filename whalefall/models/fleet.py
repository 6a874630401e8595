"""The database fleet: instances, their accounts, sizes and the sessions of fleet tasks."""
