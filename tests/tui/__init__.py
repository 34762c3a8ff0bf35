"""Tests of r1chat: tui."""
