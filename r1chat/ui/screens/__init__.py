"""Provides r1chat's screens: the chat, and the dialogs it opens."""
