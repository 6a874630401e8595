"""Database fleet endpoints: instances, accounts, capacity, sync sessions, partitions."""
