"""Tests of the services (packages so test module names may repeat across services)."""
