"""CodeAct read back: the tool calls and shell commands inside code an agent ran.

A CodeAct agent (smolagents' ``CodeAgent``, OpenHands' IPython cell, a ``python_repl``
tool) acts by writing code. Where the runtime is instrumented, each tool the code calls
is a span of its own; where a trace holds only the code (an export, ``agentwatch
analyze``, another instrumentation's spans, a remote executor), the calls are read back
from the code here, so that the loop detectors see them as steps:

* a call of a name the code neither defines nor imports, nor a Python builtin, with
  literal arguments only (``lookup_order(order_id="A-1042")``): a call of a tool the
  runtime provides, as CodeAct runtimes provide them (as functions);
* a shell command the code runs with a literal command line (``subprocess.run``,
  ``check_output``, ``os.system``, ``os.popen`` and the like; IPython's ``!command``
  lines): a ``shell`` step with that command, which :mod:`..detectors.actions` reads as it
  reads any shell command (``cat`` reads, ``sed -i`` writes, ``pytest`` verifies).

Which names are tools also depends on the run (a helper defined by earlier code, a tool
that has spans of its own): :class:`CodeNames` remembers that per run.

Pure and bounded: only the first :data:`CODE_LIMIT` characters are parsed, code that
does not parse is read up to its first syntax error (exports cut long values short), and
nothing is ever executed or imported.
"""

from __future__ import annotations

import ast
import builtins
import functools
import re
import shlex
from collections.abc import Mapping
from typing import Any, NamedTuple

from .._bounded import BoundedDict

__all__ = ["CODE_LIMIT", "NAMES_LIMIT", "SHELL_TOOL", "CodeNames", "CodeReading", "code_of",
           "read_code", "runs_code"]

CODE_LIMIT = 16 * 1024
"""Characters of a code action read: enough for what agents write in one step, and a
bound on the parser's time whatever a span carries."""
SHELL_TOOL = "shell"
"""The tool name of the steps read from shell commands run by code."""
_REPARSES = 4  # attempts to read code cut short, each up to the previous syntax error
NAMES_LIMIT = 512
"""Names remembered per run, of each kind (traced, defined by code)."""

# Tools whose arguments are code to run: smolagents' python_interpreter, LangChain's
# Python_REPL, OpenHands' execute_ipython_cell, AutoGen's code executors, ...
_CODE_TOOL = re.compile(
    r"^python_?(?:interpreter|repl|exec|executor|run|runner|code)?_?(?:tool)?$|ipython|"
    r"jupyter|code_?(?:interpreter|exec|run)|(?:exec|execute|run)_?(?:code|python)",
    re.IGNORECASE)  # not any name with "python" in it: python_docs_search is a search
_CODE_KEYS = ("code", "source", "cell", "script", "query", "input")
_BUILTINS = frozenset(dir(builtins)) | {"display"}  # display: IPython's, always present
_SHELL_CALLS = {
    "subprocess": frozenset({"run", "call", "check_call", "check_output", "Popen",
                             "getoutput", "getstatusoutput"}),
    "os": frozenset({"system", "popen"}),
}
_SHELL_LINE = re.compile(r"^[ \t]*!(?!=)(.*)$", re.MULTILINE)  # IPython's "!ls -la"
_CELL_MAGIC = re.compile(r"^[ \t]*%%(?:bash|sh|script\s+\w+)[^\n]*\n", re.MULTILINE)
_LINE_MAGIC = re.compile(r"^[ \t]*%.*$", re.MULTILINE)


class CodeReading(NamedTuple):
    """What one piece of code does that the detectors understand.

    Attributes:
        calls: ``(name, arguments)`` of each call of a free name with literal arguments,
            in the order they are written; keyword arguments by name, positional ones as
            ``"args"``.
        commands: shell command lines the code runs, in the order they are written.
        defines: names the code binds (functions, classes, variables, imports): calls of
            them in later code of the run are the run's own helpers, not tools.
    """

    calls: tuple[tuple[str, dict[str, Any]], ...] = ()
    commands: tuple[str, ...] = ()
    defines: frozenset[str] = frozenset()


@functools.lru_cache(maxsize=256)
def runs_code(tool: str) -> bool:
    """Whether a tool runs the code it is given, as its name says (``python_interpreter``,
    ``execute_ipython_cell``, ``Python_REPL``, ``code_interpreter``, ...)."""
    return _CODE_TOOL.search(tool) is not None


def code_of(tool: str, args: Any) -> str | None:
    """The code a tool call runs, when the tool runs code (its name says so) and its
    arguments hold the code as text; None otherwise."""
    if not runs_code(tool):
        return None
    if isinstance(args, str):
        return args
    if isinstance(args, Mapping):
        for key in _CODE_KEYS:
            value = args.get(key)
            if isinstance(value, str):
                return value
    return None


def read_code(code: str) -> CodeReading | None:
    """What ``code`` does, read without running it; None when it is not Python (not even
    up to its first syntax error)."""
    code = code[:CODE_LIMIT]
    magic_commands: list[str] = []
    magic = _CELL_MAGIC.search(code)
    if magic is not None:  # the rest of an IPython cell is run by a shell
        magic_commands = [line.strip() for line in code[magic.end():].splitlines()
                          if line.strip()]
        code = code[:magic.start()]
    # IPython's "!command" lines, by line number (blanked below, so numbers hold).
    found_commands = [(code.count("\n", 0, match.start()) + 1, 0, match.group(1).strip())
                      for match in _SHELL_LINE.finditer(code) if match.group(1).strip()]
    tree = _parse(_LINE_MAGIC.sub("", _SHELL_LINE.sub("", code)))
    if tree is None:
        commands = [command for _, _, command in found_commands] + magic_commands
        return CodeReading(commands=tuple(commands)) if commands else None
    defines = _bound_names(tree)
    modules = _module_aliases(tree)
    # ast.walk goes breadth first: the calls are put back in the order they are written.
    found_calls: list[tuple[int, int, str, dict[str, Any]]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        command = _shell_command(node, modules)
        if command is not None:
            found_commands.append((node.lineno, node.col_offset, command))
            continue
        function = node.func
        if isinstance(function, ast.Name) and function.id not in defines \
                and function.id not in _BUILTINS:
            arguments = _literal_arguments(node)
            if arguments is not None:
                found_calls.append((node.lineno, node.col_offset, function.id, arguments))
    found_calls.sort(key=lambda found: found[:2])
    found_commands.sort()
    commands = [command for _, _, command in found_commands] + magic_commands
    return CodeReading(tuple((name, arguments) for _, _, name, arguments in found_calls),
                       tuple(commands), frozenset(defines))


class CodeNames:
    """Per run: the names that are not tools when the run's code calls them: those an
    earlier piece of the run's code defined (its helpers), and those the run has spans of
    its own for (a tool or agent traced where it runs: the code's call of it is that
    span's step), which the processor notes in :attr:`traced` as their spans end.

    Attributes:
        traced: names of the tools and agents with spans in the run, at most
            :data:`NAMES_LIMIT` (added to directly: it is filled on every tool step).
    """

    __slots__ = ("_defined", "traced")

    def __init__(self) -> None:
        self.traced: set[str] = set()
        self._defined: BoundedDict[str, None] | None = None  # made with the first code

    def tool_calls(self, reading: CodeReading) -> list[tuple[str, dict[str, Any]]]:
        """The calls of ``reading`` that are tool calls, given what the run has seen;
        the names ``reading`` defines are remembered for the run's later code."""
        defined = self._defined
        if defined is None:
            defined = self._defined = BoundedDict(NAMES_LIMIT)
        traced = self.traced
        calls = [(name, arguments) for name, arguments in reading.calls
                 if name not in traced and name not in defined]
        for name in reading.defines:
            defined.refresh(name, None)
        return calls


def _parse(code: str) -> ast.Module | None:
    for _ in range(_REPARSES):
        try:
            return ast.parse(code)
        except SyntaxError as error:
            # Cut short (an export's limit) or not quite Python: read what comes before
            # the line that fails.
            line = (error.lineno or 1) - 1
            if line < 1:
                return None
            code = "\n".join(code.splitlines()[:line])
        except (ValueError, RecursionError, MemoryError):  # NUL bytes, absurd nesting
            return None
    return None


def _bound_names(tree: ast.Module) -> set[str]:
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            bound.update(node.names)
    return bound


def _module_aliases(tree: ast.Module) -> dict[str, str]:
    """Local name -> what it stands for among the shell-running modules and functions:
    ``{"sp": "subprocess", "run": "subprocess.run"}``."""
    aliases = {module: module for module in _SHELL_CALLS}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in _SHELL_CALLS:
                    aliases[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module in _SHELL_CALLS:
            for alias in node.names:
                if alias.name in _SHELL_CALLS[node.module]:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def _shell_command(call: ast.Call, aliases: Mapping[str, str]) -> str | None:
    function = call.func
    if isinstance(function, ast.Attribute) and isinstance(function.value, ast.Name):
        module = aliases.get(function.value.id)
        if module not in _SHELL_CALLS or function.attr not in _SHELL_CALLS[module]:
            return None
    elif isinstance(function, ast.Name):
        if "." not in aliases.get(function.id, ""):
            return None
    else:
        return None
    argument: ast.expr | None = call.args[0] if call.args else next(
        (keyword.value for keyword in call.keywords if keyword.arg in ("args", "cmd",
                                                                       "command")), None)
    value = _literal(argument) if argument is not None else None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return shlex.join(value)
    return None


_NOT_LITERAL = object()


def _literal(node: ast.expr) -> Any:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _NOT_LITERAL


def _literal_arguments(call: ast.Call) -> dict[str, Any] | None:
    arguments: dict[str, Any] = {}
    positional = []
    for node in call.args:
        value = _literal(node)
        if value is _NOT_LITERAL or isinstance(node, ast.Starred):
            return None
        positional.append(value)
    for keyword in call.keywords:
        if keyword.arg is None:  # **kwargs
            return None
        value = _literal(keyword.value)
        if value is _NOT_LITERAL:
            return None
        arguments[keyword.arg] = value
    if positional:
        arguments["args"] = positional
    return arguments
