"""Tests of r1chat: snapshots."""
