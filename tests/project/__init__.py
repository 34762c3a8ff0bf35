"""Tests of r1chat: project."""
