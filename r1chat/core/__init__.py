"""Provides the core both faces use: one service that resolves, runs and records chats."""
