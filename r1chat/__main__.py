"""Provides `python -m r1chat`."""

from r1chat.cli import main

if __name__ == "__main__":
    main()
