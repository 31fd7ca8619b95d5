"""Find the code blocks of an RST page and run them: Python in-process, pycon as doctests, bash in one shell."""

import dataclasses
import doctest
import re
import subprocess

BLOCK = re.compile(r"^\.\. code-block:: *(\S+)\n((?:   :\S+:.*\n)*)\n((?:(?:   .*)?\n)+)", re.M)
OPTION = re.compile(r"^   :(\S+): *(.*)$", re.M)
MARKER = "@@ block {} @@"


@dataclasses.dataclass
class Block:
    """One code block: its language, options, text and where it is."""

    lang: str
    options: dict
    code: str
    lineno: int

    @property
    def name(self):
        """The block's :name:, or its line when it has none, for messages."""
        return self.options.get("name", f"line {self.lineno}")

    @property
    def is_output(self):
        """True for blocks that show what the block before them prints."""
        return "output" in self.options.get("class", "").split()


def read_blocks(path):
    """Every code-block of an RST file, dedented, in order."""
    text = path.read_text()
    blocks = []
    for m in BLOCK.finditer(text):
        options = dict(OPTION.findall(m.group(2)))
        code = "\n".join(line[3:] for line in m.group(3).rstrip("\n").split("\n")) + "\n"
        blocks.append(Block(m.group(1), options, code, text.count("\n", 0, m.start()) + 1))
    return blocks


def output_matches(expected, got):
    """doctest's comparison: ``...`` matches anything, runs of whitespace are equal."""
    checker = doctest.OutputChecker()
    return checker.check_output(expected, got, doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)


def run_python(block, namespace, filename):
    """Execute a python block, or a pycon block as a doctest, in the shared namespace."""
    if block.lang == "python":
        exec(compile("\n" * block.lineno + block.code, str(filename), "exec"), namespace)  # noqa: S102
        return
    assert block.lang == "pycon", f"{block.name}: no runner for {block.lang}"
    test = doctest.DocTestParser().get_doctest(block.code, namespace, block.name, str(filename), block.lineno)
    report = []
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    result = runner.run(test, out=report.append, clear_globs=False)
    assert result.failed == 0, "".join(report)


def run_bash(blocks, substitutions, timeout=600):
    """Run bash blocks in one shell (replacing the code of named blocks); return {block name: its stdout}."""
    script = ["set -euo pipefail"]
    for i, block in enumerate(blocks):
        script += [f"echo '{MARKER.format(i)}'", substitutions.get(block.name, block.code)]
    done = subprocess.run(["bash", "-c", "\n".join(script)], capture_output=True, text=True, timeout=timeout)
    outputs, current = {}, None
    for line in done.stdout.splitlines(keepends=True):
        found = re.fullmatch(r"@@ block (\d+) @@\n", line)
        if found:
            current = blocks[int(found.group(1))].name
            outputs[current] = ""
        elif current is not None:
            outputs[current] += line
    assert done.returncode == 0, (
        f"the shell stopped in block {current} with status {done.returncode}:\n{done.stderr[-3000:]}\n"
        f"its output:\n{outputs.get(current, '')}"
    )
    return outputs
