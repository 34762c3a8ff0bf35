"""Tests of r1chat: core."""
