"""MicroShop pipeline code: gates, offline OSV service, supply chain, local pipeline."""
