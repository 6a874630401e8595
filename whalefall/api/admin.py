"""Admin endpoints: users and API tokens (the audit log is in ``system``)."""
