"""The pipeline's smoke stage: the signed images together, one real order through the storefront."""
