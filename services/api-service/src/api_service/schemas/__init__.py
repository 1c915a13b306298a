"""Request and response models (the HTTP contract); input models forbid unknown fields."""
