"""Provides r1chat's widgets: messages, the thinking view, the composer, sidebar and status bar."""
