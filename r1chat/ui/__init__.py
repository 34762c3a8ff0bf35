"""Provides r1chat's terminal interface (Textual): the app, its screens and widgets."""
