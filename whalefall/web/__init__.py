"""What every HTTP face of the product shares: the JSON envelope, the request's language, error pages."""
