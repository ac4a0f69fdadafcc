"""Which tool calls read, write or verify which resource."""

from __future__ import annotations

import pytest

from otel_agentwatch.detectors.actions import (
    ANY_RESOURCE,
    REMOVED,
    WHOLE,
    Action,
    classify_action,
    covers,
)


@pytest.mark.parametrize(("command", "expected"), [
    ("cat src/app.py", Action("read", "src/app.py")),
    ("nl -ba src/app.py", Action("read", "src/app.py")),
    ("head -n 40 src/app.py", Action("read", "src/app.py", (1, 40))),
    ("tail -20 log.txt", Action("read", "log.txt", ("tail", "20"))),
    ("sed -n '10,30p' src/app.py", Action("read", "src/app.py", (10, 30))),
    ("sed -n '/def main/,/return/p' src/app.py",
     Action("read", "src/app.py", ("sed", "/def main/,/return/p"))),
    ("grep -n 'def main' src/app.py", Action("read", "src/app.py", ("grep", "def main"))),
    ("sed -i 's/a/b/' src/app.py", Action("write", "src/app.py")),
    ("cat <<'EOF' > test_x.py\nprint(1)\nEOF", Action("write", "test_x.py")),
    ("echo hi >> notes.md", Action("write", "notes.md", "appended")),
    ("git apply fix.patch", Action("write", ANY_RESOURCE)),
    ("patch -p1 < fix.diff", Action("write", ANY_RESOURCE)),
    ("python -m pytest tests/ -q", Action("verify", None)),
    ("PYTHONPATH=. pytest -x", Action("verify")),
    ("python reproduce.py", Action("verify", "reproduce.py")),
    ("cd repo && make test", Action("verify")),
    ("ls -la", Action("other")),
    ("grep -rn foo . 2>/dev/null | head", Action("read", ".", ("grep", "foo"))),
    ("echo 'unbalanced", Action("other")),
    # A '>' inside quotes redirects nothing.
    ('python3 -c "print(1 > 2)"', Action("verify", "print(1 > 2)")),
    # Deleting is a write that removes; a write verified on its own line says so.
    ("rm reproduce.py check.py", Action("write", "check.py", (REMOVED, "reproduce.py",
                                                                "check.py"))),
    ("bash check_edge_cases.sh", Action("verify", "check_edge_cases.sh")),
    ("sed -i 's/a/b/' x.py && python -m pytest -q", Action("write", "x.py", verified=True)),
    ("sed -i 's/a/b/' x.py && pytest && sed -i 's/b/c/' y.py", Action("write", "x.py")),
    # A here-document's lines are the file's content, not commands.
    ("cat <<'EOF' > test_y.py\nimport pytest\npytest.main()\nEOF", Action("write", "test_y.py")),
    ("cat <<'EOF' > y.py\nx = 1\nEOF\npython y.py", Action("write", "y.py", verified=True)),
])
def test_shell_commands(command, expected):
    assert classify_action("bash", {"command": command}) == expected


@pytest.mark.parametrize(("args", "expected"), [
    ({"command": "view", "path": "a.py"}, Action("read", "a.py")),
    ({"command": "view", "path": "a.py", "view_range": [5, 9]}, Action("read", "a.py", (5, 9))),
    ({"command": "view", "path": "a.py", "view_range": [5, -1]},
     Action("read", "a.py", (5, None))),
    ({"command": "str_replace", "path": "a.py", "old_str": "x", "new_str": "y"},
     Action("write", "a.py")),
    ({"command": "create", "path": "b.py", "file_text": ""}, Action("write", "b.py")),
    ({"command": "undo_edit", "path": "a.py"}, Action("write", "a.py")),
])
def test_editor_commands(args, expected):
    assert classify_action("str_replace_based_edit_tool", args) == expected


@pytest.mark.parametrize(("tool", "args", "expected"), [
    ("read_file", {"path": "a.py"}, Action("read", "a.py")),
    ("read_file", {"path": "a.py", "start_line": 3, "end_line": 8}, Action("read", "a.py", (3, 8))),
    ("write_file", {"path": "a.py", "content": "x"}, Action("write", "a.py")),
    ("visit_page", {"url": "https://x.org"}, Action("read", "https://x.org")),
    ("web_search", {"query": " Paris "}, Action("read", "search:web_search:paris")),
    ("run_tests", {}, Action("verify")),
    ("lookup_order", {"order_id": 1}, Action("other")),
    ("python_interpreter", {"code": "print(1)"}, Action("other")),
])
def test_named_tools(tool, args, expected):
    assert classify_action(tool, args) == expected


def test_plain_text_arguments_of_a_shell_tool():
    assert classify_action("run_shell_command", "cat a.py") == Action("read", "a.py")
    assert classify_action("lookup", "cat a.py") == Action("other")


@pytest.mark.parametrize(("seen", "wanted", "expected"), [
    (WHOLE, (10, 20), True),
    ((1, 100), (10, 20), True),
    ((1, None), (10, 20), True),
    ((10, 20), (1, 100), False),
    ((10, 20), WHOLE, False),
    (("grep", "x"), ("grep", "x"), True),
    (("grep", "x"), ("grep", "y"), False),
    ((10, 20), (15, None), False),
])
def test_coverage_of_read_scopes(seen, wanted, expected):
    assert covers(seen, wanted) is expected
