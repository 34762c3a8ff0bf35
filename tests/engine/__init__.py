"""Tests of r1chat: engine."""
