"""Tests of the cache and resilience layer in gateway/sources."""
