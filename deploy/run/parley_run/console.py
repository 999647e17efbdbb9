"""The supervisor's terminal: each service's lines behind its name, its own behind "==>"."""

import sys
import time
from typing import TextIO

COLOURS = ("36", "33", "35", "32", "34", "31")


class Console:
    def __init__(self, names: list[str], stream: TextIO = sys.stdout) -> None:
        self.stream = stream
        self.width = max(len(name) for name in names)
        colour = stream.isatty()
        self.prefixes = {
            name: (
                f"\033[{COLOURS[index % len(COLOURS)]}m{name:<{self.width}} |\033[0m"
                if colour
                else f"{name:<{self.width}} |"
            )
            for index, name in enumerate(names)
        }

    def service_line(self, name: str, line: str) -> None:
        self._write(f"{time.strftime('%H:%M:%S')} {self.prefixes[name]} {line}")

    def say(self, message: str) -> None:
        self._write(f"==> {message}")

    def show(self, text: str) -> None:
        self._write(text)

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text + "\n")
            self.stream.flush()
        except (BrokenPipeError, ValueError):
            # The terminal went away (e.g. a closed pipe): keep supervising, stop printing.
            pass
