"""Tests of r1chat: store."""
