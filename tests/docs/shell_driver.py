"""Runs blocks of a docs page inside ``manage.py shell``, as a reader pasting them would.

Started by tests/test_docs.py as ``manage.py shell -c "from tests.docs.shell_driver import main; main(...)"``
so the blocks see the settings, database and simulator of run-dev.sh. Python blocks are fed line by line to
``code.InteractiveConsole``, the console ``manage.py shell`` opens (so a block that only works as a file,
e.g. a blank line inside an indented body, fails here as it would for the reader); pycon blocks run as
doctests in the same namespace. The first failure ends the process with status 1 and the reason on stderr.
"""

import code
import pathlib
import sys

from tests.docs.blocks import read_blocks, run_pycon


class _Console(code.InteractiveConsole):
    """The interactive console, remembering the first traceback instead of only printing it."""

    def __init__(self, namespace):
        super().__init__(namespace)
        self.failure = None

    def showtraceback(self):
        """Record the error the reader would see."""
        super().showtraceback()
        self.failure = self.failure or "traceback"

    def showsyntaxerror(self, filename=None, **kwargs):
        """Record a syntax error the reader would see."""
        super().showsyntaxerror(filename, **kwargs)
        self.failure = self.failure or "syntax error"


def paste(console, block):
    """Type a python block into the console line by line, then an empty line to end any open statement."""
    for offset, line in enumerate([*block.code.splitlines(), ""]):
        console.push(line)
        if console.failure:
            sys.exit(f"{block.name}, line {offset + 1} of the block ({line.strip()!r}) failed: see the traceback above")


def main(page, names):
    """Run the named blocks of the page, in page order, in one namespace."""
    wanted = names.split(",")
    blocks = [b for b in read_blocks(pathlib.Path(page)) if b.name in wanted]
    assert [b.name for b in blocks] == wanted, f"blocks of {page} not found: {set(wanted) - {b.name for b in blocks}}"
    console = _Console({"__name__": "__console__"})
    for block in blocks:
        print(f"@@ block {block.name} @@", flush=True)
        if block.lang == "python":
            paste(console, block)
        else:
            try:
                run_pycon(block, console.locals, page)
            except AssertionError as failed:
                sys.exit(f"{block.name} does not print what the docs show:\n{failed}")
