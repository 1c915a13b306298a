"""Tests of the api-service benchmark's parsing and report code."""
