"""MicroShop storefront service."""
