"""MicroShop API service."""
