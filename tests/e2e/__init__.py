"""Tests of r1chat: e2e."""
