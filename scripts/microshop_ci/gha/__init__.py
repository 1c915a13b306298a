"""GitHub Actions helpers: the workflow policy check and the small steps the workflows call."""
