"""Tests of r1chat: cli."""
