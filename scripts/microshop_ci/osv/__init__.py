"""Offline OSV service: PyPI advisories from an OSV export zip, served over OSV's query API."""
