"""What a tool call does to the world: reads, writes or verifies a resource.

Pure functions over a tool's name and parsed arguments, asked once per step through
:class:`~.facts.StepFacts`. Used by the detectors that reason about resources
(re-reading an unchanged file, editing back and forth, ending without verifying): editor
tools (``view`` reads; ``str_replace``, ``insert``, ``create``,
``undo_edit`` write), tools named for reading or writing, arguments that name a
resource (``path``, ``file``, ``file_path``, ``filename``, ``url``, ``uri``), and shell
commands (``cat``, ``head``, ``tail``, ``nl``, ``sed -n``, ``grep`` read; ``sed -i``, output
redirection, ``apply_patch``, ``git apply``, ``patch`` write; test, build, lint and run
commands verify).

Shell command lines are read in linear time and only their first :data:`COMMAND_LIMIT`
characters (here-document bodies left out first): what a command does to which file is
said at its start, and a multi-megabyte command must not hold the agent's thread.
"""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Hashable, Mapping, MutableMapping
from typing import Any, NamedTuple

__all__ = ["ANY_RESOURCE", "APPENDED", "OTHER", "READ", "REMOVED", "SEARCH_PREFIX", "VERIFY",
           "WRITE", "Action", "CommandCache", "classify_action", "covers", "removed"]

READ, WRITE, VERIFY, OTHER = "read", "write", "verify", "other"
ANY_RESOURCE = "*"  # a write whose target is unknown (a patch): it may have changed anything
WHOLE = "whole"  # the range of a read that showed the whole resource
APPENDED = "appended"  # the scope of a write that only added to the end (``>>``)
SEARCH_PREFIX = "search:"  # resources that are search queries: "search:{tool}:{query}"
REMOVED = "removed"  # a write that deletes: its scope is ("removed", every path deleted)


class Action(NamedTuple):
    """``kind`` is read, write, verify or other; ``scope`` says which part was read.

    ``scope`` is ``"whole"``, a ``(first, last)`` line range (``last`` None for "to the
    end"), or another hashable token (a grep pattern, a ``sed`` address) that names what
    was shown; for a write that deletes, ``(REMOVED, path, ...)`` (see :func:`removed`);
    for a write that only appends (``>> file``), :data:`APPENDED`.
    """

    kind: str
    resource: str | None = None
    scope: Any = WHOLE
    # A write whose own command line verifies after it (``sed -i ... && pytest``).
    verified: bool = False


_NOTHING = Action(OTHER)
_VERIFY = Action(VERIFY)

_RESOURCE_KEYS = ("path", "file_path", "filename", "file", "url", "uri", "target_file")
_COMMAND_KEYS = ("command", "cmd", "script")
_EDITOR_READS = frozenset({"view", "read", "open"})
_EDITOR_WRITES = frozenset({"str_replace", "insert", "create", "undo_edit", "write", "edit",
                            "replace", "append", "delete"})
_READ_WORDS = ("read", "view", "open", "cat", "get_file", "fetch", "visit", "browse",
               "get_url", "load")
_WRITE_WORDS = ("write", "edit", "replace", "patch", "create_file", "save", "insert",
                "append", "delete_file", "update_file")
_VERIFY_WORDS = ("test", "lint", "check", "verify", "build", "compile", "validate")
_SHELL_TOOLS = ("bash", "shell", "terminal", "run_command", "execute_command", "exec_command",
                "cmd")

COMMAND_LIMIT = 2048
"""Characters of a shell command line read (after here-document bodies are left out)."""
# Separators only: surrounding whitespace is stripped from each segment afterwards (a
# pattern that also consumed it would rescan every run of spaces: quadratic time).
_SEGMENT_SPLIT = re.compile(r"&&|\|\||;|\n")
_REDIRECT = re.compile(r"(?<![0-9&<>])(>{1,2})\s*([^\s;&|<>]+)")
_REDIRECTION_WORD = re.compile(r"^\d*(?:>|<|&>)")
_HEREDOC = re.compile(r"<<-?\s*['\"]?(\w+)['\"]?")
_QUOTED = re.compile(r"'[^']*'|\"(?:\\.|[^\"\\])*\"")
_SED_RANGE = re.compile(r"^(\d+)(?:,(\d+|\$))?p$")
_VERIFY_COMMANDS = frozenset({
    "pytest", "py.test", "tox", "nox", "mypy", "ruff", "flake8", "pylint", "black", "isort",
    "make", "cmake", "ctest", "cargo", "go", "npm", "npx", "yarn", "pnpm", "node", "tsc",
    "jest", "mvn", "gradle", "javac", "java", "gcc", "g++", "clang", "dotnet", "rspec",
    "bundle", "rake", "phpunit", "deno", "bun",
})
_PYTHONS = frozenset({"python", "python3", "python2"})
_COMMAND_OR_RESOURCE_KEYS = frozenset({*_COMMAND_KEYS, *_RESOURCE_KEYS})
_ARGUMENT_KEYS = frozenset({*_COMMAND_OR_RESOURCE_KEYS, "query", "q"})
_VERIFY_NAME = re.compile("|".join(_VERIFY_WORDS))
_READ_NAME = re.compile("|".join(_READ_WORDS))
_WRITE_NAME = re.compile("|".join(_WRITE_WORDS))
_SHELL_NAME = re.compile("|".join(_SHELL_TOOLS))


def removed(action: Action) -> tuple[str, ...]:
    """The paths a write deletes (``rm``); empty for any other action."""
    scope = action.scope
    if action.kind == WRITE and isinstance(scope, tuple) and scope[:1] == (REMOVED,):
        return scope[1:]
    return ()


CommandCache = MutableMapping[Hashable, "Action"]
"""Shell command lines already parsed, and their actions: a looping agent runs the same
command again and again, and parsing one line once is enough. A line longer than
:data:`COMMAND_LIMIT` is kept by its length and hash, not its text, so the cache holds
at most that many characters per entry."""


def classify_action(tool: str, args: Any, commands: CommandCache | None = None) -> Action:
    """The action of one tool call, from its name and parsed arguments; ``commands``
    remembers the shell command lines parsed (bounded by its owner)."""
    name = tool.lower()
    if type(args) is dict or isinstance(args, Mapping):
        present = _ARGUMENT_KEYS.intersection(args)
        if not present:  # the common case for tools that touch no resource
            return _verify_by_name(name)
        if present.isdisjoint(_COMMAND_OR_RESOURCE_KEYS):  # a query alone: a search?
            return _query_action(name, args)
        command = next((args[k] for k in _COMMAND_KEYS
                        if k in present and isinstance(args[k], str)), None)
        resource = next((str(args[k]) for k in _RESOURCE_KEYS if k in present and args[k]),
                        None)
        editor = args["command"] if "command" in present else None
        editor = editor if isinstance(editor, str) else None
        if resource is not None and editor is not None:
            return _editor_action(editor, resource, args)
        if command is not None and (resource is None or _is_shell(name)):
            return _remembered(command, commands)
        if resource is not None:
            return _named_action(name, resource, args)
        return _query_action(name, args)
    if isinstance(args, str) and _is_shell(name):
        return _remembered(args, commands)
    return _verify_by_name(name)


def _remembered(command: str, commands: CommandCache | None) -> Action:
    if commands is None:
        return shell_action(command)
    key: Hashable = command if len(command) <= COMMAND_LIMIT else (len(command), hash(command))
    action = commands.get(key)
    if action is None:
        action = commands[key] = shell_action(command)
    return action


def _query_action(name: str, args: Mapping[str, Any]) -> Action:
    query = args.get("query") or args.get("q")
    if isinstance(query, str) and "search" in name:
        return Action(READ, f"{SEARCH_PREFIX}{name}:{query.strip().lower()}")
    return _verify_by_name(name)


def shell_action(command: str) -> Action:
    """The action of a shell command line; the most consequential segment wins.

    A write anywhere in the line makes it a write (the first one; ``verified`` when a
    verification follows the line's last write); else a verification; else the first
    read. ``cat > f <<EOF`` writes ``f``.
    """
    found = _NOTHING
    write: Action | None = None
    verified = False
    text = _without_heredoc_bodies(command)[:COMMAND_LIMIT]
    for segment in _SEGMENT_SPLIT.split(text):
        segment = segment.strip()
        if not segment:
            continue
        action = _segment_action(segment)
        if action.kind == WRITE:
            write = write or action
            verified = False
        elif action.kind == VERIFY:
            verified = True
            if write is None:
                found = action
        elif action.kind == READ and found.kind == OTHER and write is None:
            found = action
    if write is not None:
        return write._replace(verified=True) if verified else write
    return found


def _without_heredoc_bodies(command: str) -> str:
    """The command line with here-document bodies left out: their lines are data (a
    script being written), not commands."""
    if "<<" not in command:
        return command
    kept: list[str] = []
    terminator: str | None = None
    for line in command.split("\n"):
        if terminator is not None:
            if line.strip() == terminator:
                terminator = None
            continue
        kept.append(line)
        opened = _HEREDOC.search(line)
        if opened:
            terminator = opened.group(1)
    return "\n".join(kept)


def _segment_action(segment: str) -> Action:
    # A '>' inside quotes (python -c "print(a > b)") redirects nothing.
    redirect = _REDIRECT.search(_QUOTED.sub("''", segment))
    if redirect and redirect.group(2) not in ("/dev/null", "&1", "&2"):
        return Action(WRITE, redirect.group(2), APPENDED if redirect.group(1) == ">>" else WHOLE)
    words = [w for w in _split(segment.split("|", 1)[0]) if not _REDIRECTION_WORD.match(w)]
    while words and "=" in words[0] and not words[0].startswith("-"):
        words = words[1:]  # environment assignments: FOO=1 pytest
    if not words:
        return _NOTHING
    program = words[0].rsplit("/", 1)[-1]
    rest = words[1:]
    files = [w for w in rest if not w.startswith("-")]
    if program in ("cat", "nl", "less", "more", "bat") and files:
        return Action(READ, files[-1])
    if program in ("head", "tail") and files:
        return Action(READ, files[-1], _head_tail_scope(program, rest))
    if program == "sed":
        return _sed_action(rest)
    if program in ("grep", "egrep", "rg", "ag") and len(files) >= 2:
        return Action(READ, files[-1], ("grep", files[0]))
    if program in ("apply_patch", "patch") or (program == "git" and rest[:1] == ["apply"]):
        return Action(WRITE, ANY_RESOURCE)
    if program == "git" and rest[:1] == ["checkout"] and "--" in rest:
        return Action(WRITE, rest[-1])
    if program in ("cp", "mv") and len(files) >= 2:
        return Action(WRITE, files[-1])
    if program == "rm" and files:
        return Action(WRITE, files[-1], (REMOVED, *files))
    if program == "touch" and files:
        return Action(WRITE, files[-1])
    if program in ("bash", "sh", "zsh") and files and files[0].endswith(".sh"):
        return Action(VERIFY, files[0])  # running a script the agent wrote to check
    if program in _PYTHONS:  # python script.py runs a script; python -m tool, a module
        return Action(VERIFY, files[0] if files and rest[:1] != ["-m"] else None)
    if program in _VERIFY_COMMANDS or program.startswith("./") or "test" in program:
        return Action(VERIFY)
    return _NOTHING


def _split(text: str) -> list[str]:
    try:
        return shlex.split(text, comments=False)
    except ValueError:  # unbalanced quotes: fall back to whitespace
        return text.split()


def _head_tail_scope(program: str, rest: list[str]) -> Any:
    count = None
    for index, word in enumerate(rest):
        if word in ("-n", "--lines") and index + 1 < len(rest):
            count = rest[index + 1]
        elif word.startswith("-n") and len(word) > 2:
            count = word[2:]
        elif word.startswith("-") and word[1:].isdigit():
            count = word[1:]
    count = count if count is not None else "10"
    if program == "head" and count.isdigit():
        return (1, int(count))
    return (program, count)


def _sed_action(rest: list[str]) -> Action:
    files = [w for w in rest if not w.startswith("-")]
    if any(w == "-i" or w.startswith(("-i", "--in-place")) for w in rest):
        return Action(WRITE, files[-1] if len(files) >= 2 else ANY_RESOURCE)
    if "-n" in rest and len(files) >= 2:
        script = files[0]
        lines = _SED_RANGE.match(script)
        if lines:
            first = int(lines.group(1))
            last = lines.group(2)
            end = first if last is None else (None if last == "$" else int(last))
            return Action(READ, files[-1], (first, end))
        return Action(READ, files[-1], ("sed", script))
    return _NOTHING


def _editor_action(command: str, resource: str, args: Mapping[str, Any]) -> Action:
    command = command.lower()
    if command in _EDITOR_READS:
        view_range = args.get("view_range")
        if isinstance(view_range, (list, tuple)) and len(view_range) == 2:
            first, last = view_range
            if isinstance(first, int) and isinstance(last, int):
                return Action(READ, resource, (first, None if last < 0 else last))
        return Action(READ, resource)
    if command in _EDITOR_WRITES:
        return Action(WRITE, resource)
    return Action(OTHER, resource)


def _named_action(name: str, resource: str, args: Mapping[str, Any]) -> Action:
    if _WRITE_NAME.search(name) or "content" in args or "new_str" in args:
        return Action(WRITE, resource)
    if _READ_NAME.search(name):
        start, end = args.get("start_line"), args.get("end_line")
        if isinstance(start, int):
            return Action(READ, resource, (start, end if isinstance(end, int) else None))
        return Action(READ, resource)
    if _VERIFY_NAME.search(name):
        return Action(VERIFY, resource)
    return Action(OTHER, resource)


@functools.lru_cache(maxsize=512)  # a run's tools are few, and asked about at every call
def _verify_by_name(name: str) -> Action:
    return _VERIFY if _VERIFY_NAME.search(name) else _NOTHING


def _is_shell(name: str) -> bool:
    return _SHELL_NAME.search(name) is not None


def covers(seen: Any, wanted: Any) -> bool:
    """Whether a read of scope ``seen`` already showed what a read of ``wanted`` shows."""
    if seen in (wanted, WHOLE):
        return True
    if isinstance(seen, tuple) and isinstance(wanted, tuple) and len(seen) == len(wanted) == 2:
        first, last = seen
        want_first, want_last = wanted
        if all(isinstance(v, int) or v is None for v in (*seen, *wanted)) and \
                isinstance(first, int) and isinstance(want_first, int):
            return first <= want_first and (
                last is None or (want_last is not None and want_last <= last))
    return False
