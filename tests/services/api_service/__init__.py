"""Tests of api-service against a real MongoDB-wire database (FerretDB locally)."""
