"""Find the code blocks of an RST page and run them: Python in-process, pycon as doctests, bash in one shell."""

import dataclasses
import doctest
import re
import subprocess

# A code-block directive at any indentation (README.rst has them inside a list), its options and its body.
BLOCK = re.compile(
    r"^(?P<indent> *)\.\. code-block:: *(?P<lang>\S+)\n(?P<opts>(?:(?P=indent)   :\S+:.*\n)*)\n"
    r"(?P<body>(?:(?:(?P=indent)   .*)?\n)+)",
    re.M,
)
# A plain literal block: a paragraph ending in "::" (not a directive), a blank line, an indented body.
LITERAL = re.compile(r"^(?P<indent> *)(?!\.\. )\S.*::\n\n(?P<body>(?:(?:(?P=indent)   .*)?\n)+)", re.M)
OPTION = re.compile(r"^ *:(\S+): *(.*)$", re.M)
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


def _dedent(body, width):
    """The body of a block without its indentation and trailing blank lines."""
    return "\n".join(line[width:] for line in body.rstrip("\n").split("\n")) + "\n"


def read_blocks(path):
    """Every code-block and ``::`` literal block of an RST file, dedented, in order (literal blocks as 'literal')."""
    text = path.read_text()
    found = []
    for m in BLOCK.finditer(text):
        options = dict(OPTION.findall(m.group("opts")))
        code = _dedent(m.group("body"), len(m.group("indent")) + 3)
        found.append((m.start(), Block(m.group("lang"), options, code, text.count("\n", 0, m.start()) + 1)))
    for m in LITERAL.finditer(text):
        code = _dedent(m.group("body"), len(m.group("indent")) + 3)
        found.append((m.start(), Block("literal", {}, code, text.count("\n", 0, m.start()) + 1)))
    return [block for _, block in sorted(found, key=lambda pair: pair[0])]


def output_matches(expected, got):
    """doctest's comparison: ``...`` matches anything, runs of whitespace are equal."""
    checker = doctest.OutputChecker()
    return checker.check_output(expected, got, doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)


def run_pycon(block, namespace, filename):
    """Run a pycon block as a doctest in the shared namespace; fail with doctest's report."""
    assert block.lang == "pycon", f"{block.name}: no runner for {block.lang}"
    test = doctest.DocTestParser().get_doctest(block.code, namespace, block.name, str(filename), block.lineno)
    report = []
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    result = runner.run(test, out=report.append, clear_globs=False)
    assert result.failed == 0, "".join(report)


def run_bash(blocks, *, cwd, env, stdin="", timeout=600):
    """Run bash blocks as printed, in one shell, in order; return {block name: its stdout}.

    ``stdin`` is what the reader types (a password a block ``read``s). The shell stops at the first failing
    command (``set -euo pipefail``), and the assertion names the block and shows its output and stderr.
    """
    script = ["set -euo pipefail"]
    for i, block in enumerate(blocks):
        script += [f"echo '{MARKER.format(i)}'", block.code]
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)], input=stdin, capture_output=True, text=True, timeout=timeout, cwd=cwd,
        env=env,
    )  # fmt: skip
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


def compare_outputs(blocks, outputs):
    """Mismatches between each ``:class: output`` text block and what the bash block before it printed."""
    previous, mismatches = None, []
    for block in blocks:
        if block.lang == "bash":
            previous = block
        elif block.is_output:
            assert previous is not None, f"output block at line {block.lineno} follows no bash block"
            got = outputs.get(previous.name, "")
            if not output_matches(block.code, got):
                mismatches.append(f"{previous.name}: the docs show\n{block.code}but the shell printed\n{got}")
    return mismatches
