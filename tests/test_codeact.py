"""CodeAct read back: a trace that holds only the code an agent ran still shows the calls
that code made (normalize/codeact.py), and each is one step."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from otel_agentwatch import Config
from otel_agentwatch.normalize.codeact import CODE_LIMIT, CodeNames, code_of, read_code
from tests.conftest import Pipeline
from tests.dialects import GenAI

LOOKUP = 'order = lookup_order(order_id="A-1042")\nprint(order)'


def _code(pipeline: Pipeline, code: str, result: str = "shipped", tool="python_interpreter",
          inner: int = 0):
    """One code execution as a GenAI tool span; ``inner`` calls of lookup_order traced
    inside it (the runtime instrumented as well)."""
    tracer = pipeline.tracer
    with tracer.start_as_current_span(f"execute_tool {tool}", attributes={
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool,
            "gen_ai.tool.call.arguments": json.dumps({"code": code}),
            "gen_ai.tool.call.result": result}):
        for _ in range(inner):
            GenAI.tool(tracer, "lookup_order", {"order_id": "A-1042"}, result="shipped")


def _flags(pipeline: Pipeline, prefix: str = "execute_tool"):
    return [(s.name, s.attributes.get("agentwatch.severity"),
             tuple(s.attributes.get("agentwatch.detections", ())))
            for s in pipeline.spans(prefix)]


class TestReadCode:
    def test_calls_of_tools_with_literal_arguments_in_the_order_written(self):
        reading = read_code(
            'import json\n'
            'def fetch(q):\n    return web_search(q)\n'  # not literal: not read
            'a = lookup_order(order_id="A-1042")\n'
            'for _ in range(3):\n    b = lookup_order("A-7")\n'
            'print(json.dumps(a), len(b))\n'  # builtins and methods are not tools
            'fetch("x")\n'  # defined here: a helper
            'final_answer("done")\n')
        assert reading is not None
        assert reading.calls == (("lookup_order", {"order_id": "A-1042"}),
                                 ("lookup_order", {"args": ["A-7"]}),
                                 ("final_answer", {"args": ["done"]}))
        assert {"fetch", "a", "b", "json"} <= reading.defines

    def test_shell_commands_run_from_code_by_every_usual_route(self):
        reading = read_code(
            'import subprocess as sp\nfrom os import system\n'
            'sp.run(["sed", "-i", "s/a/b/", "app.py"])\n'
            '!cat app.py\n'
            'system("pytest -q")\n'
            'subprocess.check_output("ls -la", shell=True)\n'
            'sp.run(command_line)\n')  # not a literal: not read
        assert reading is not None
        assert reading.commands == ("sed -i s/a/b/ app.py", "cat app.py", "pytest -q", "ls -la")
        assert reading.calls == ()

    def test_a_shell_cell_is_all_commands(self):
        reading = read_code("%%bash\ncd src\npytest -q\n")
        assert reading is not None and reading.commands == ("cd src", "pytest -q")

    def test_code_cut_short_is_read_up_to_the_cut(self):
        """Exports cut long values: the complete lines before the cut are still read."""
        reading = read_code('lookup_order(order_id="A-1042")\nprint(order[:10]\n…[+812 chars]')
        assert reading is not None
        assert reading.calls == (("lookup_order", {"order_id": "A-1042"}),)

    def test_text_that_is_not_code_reads_as_nothing(self):
        assert read_code("Thought: I will look the order up.\nAnswer: 42 % of it") is None

    def test_which_tools_run_code(self):
        assert code_of("python_interpreter", {"code": "x = 1"}) == "x = 1"
        assert code_of("execute_ipython_cell", {"code": "!ls"}) == "!ls"
        assert code_of("Python_REPL", "print(1)") == "print(1)"
        assert code_of("lookup_order", {"code": "A-1"}) is None
        assert code_of("bash", {"command": "ls"}) is None
        # A name that mentions Python is not enough: this one searches.
        assert code_of("python_docs_search", {"query": "asyncio.run"}) is None

    def test_names_the_run_knows_are_not_tools(self):
        names = CodeNames()
        first = read_code("def lookup(q):\n    return q\n")
        assert first is not None and names.tool_calls(first) == []
        names.traced.add("search_agent")
        later = read_code('lookup("a")\nsearch_agent(task="find it")\nweb_search("b")')
        assert later is not None
        assert names.tool_calls(later) == [("web_search", {"args": ["b"]})]

    @settings(max_examples=300, deadline=None)
    @given(st.text(max_size=400))
    def test_never_raises_whatever_the_text(self, text):
        reading = read_code(text)
        assert reading is None or isinstance(reading.calls, tuple)

    @settings(max_examples=100, deadline=None)
    @given(st.lists(st.sampled_from(["(", ")", "[", "]", "f(", "x=", "!", "%%bash\n", "\n",
                                     '"', "lambda:", "1,", "import os\n", "os.system("]),
                    max_size=300))
    def test_never_raises_on_fragments_of_code(self, pieces):
        read_code("".join(pieces))

    def test_reads_a_bounded_prefix(self):
        code = 'lookup_order("A")\n' * (2 * CODE_LIMIT // 18)
        reading = read_code(code)
        assert reading is not None
        assert len(reading.calls) <= CODE_LIMIT // 18


class TestCodeStepsInTheProcessor:
    def test_a_call_repeated_across_code_blocks_is_flagged_on_the_code_spans(self, pipeline):
        with GenAI.agent(pipeline.tracer, "coder"):
            for _ in range(5):
                _code(pipeline, LOOKUP)
        assert [severity for _, severity, _ in _flags(pipeline)] == [
            None, None, "warning", "warning", "critical"]
        fifth = pipeline.spans("execute_tool")[-1]
        assert "loop.repeated_call" in fifth.attributes["agentwatch.detections"]
        message = next(e.attributes["agentwatch.message"] for e in fifth.events
                       if e.attributes.get("agentwatch.detector") == "loop.repeated_call")
        assert "lookup_order" in message

    def test_code_that_calls_no_tool_is_one_step_as_before(self, pipeline):
        with GenAI.agent(pipeline.tracer, "coder"):
            for code in ("rows = load_rows()", "print(len(rows))", "ids = {r.id for r in rows}",
                         "print(sorted(ids)[:5])", "total = sum(r.amount for r in rows)"):
                _code(pipeline, code, result="ok")
        assert all(severity is None for _, severity, _ in _flags(pipeline))

    def test_a_call_the_runtime_traced_inside_the_code_is_one_step(self, pipeline):
        """Instrumented runtime: the traced call inside the code span and the call read
        from the code are the same call, counted once: 5 calls, critical at the 5th."""
        with GenAI.agent(pipeline.tracer, "coder"):
            for _ in range(5):
                _code(pipeline, LOOKUP, inner=1)
        codes = pipeline.spans("execute_tool python_interpreter")
        assert [s.attributes.get("agentwatch.severity") for s in codes] == [
            None, None, "warning", "warning", "critical"]
        run = pipeline.spans("invoke_agent")[0]
        assert run.attributes["agentwatch.run.tool_calls"] == 5

    def test_a_call_traced_beside_the_code_is_not_read_again(self, pipeline):
        """Spans recorded apart from the code span (a step list, another instrumentation):
        the code's call of a tool that has spans of its own is that span's step."""
        with GenAI.agent(pipeline.tracer, "coder"):
            for _ in range(2):
                GenAI.tool(pipeline.tracer, "lookup_order", {"order_id": "A-1042"},
                           result="shipped")
                _code(pipeline, LOOKUP)
        # Read again, the lookups would be four identical calls in a row: a warning.
        assert all(severity is None for _, severity, _ in _flags(pipeline))

    def test_a_helper_defined_by_earlier_code_is_not_a_tool(self):
        # Code compared exactly: the blocks below differ, the helper's calls do not.
        pipeline = Pipeline(Config(settings={"AGENTWATCH_LOOP_CODE_SIMILARITY": 0}))
        with GenAI.agent(pipeline.tracer, "coder"):
            _code(pipeline, "def find(name):\n    return name in tree\n")
            for attempt in range(5):  # the code differs, the call in it does not
                _code(pipeline, f'print(find("jsonrep.py"))  # attempt {attempt}',
                      result="False")
        codes = pipeline.spans("execute_tool")
        assert all("loop.repeated_call" not in s.attributes.get("agentwatch.detections", ())
                   for s in codes)

    def test_shell_commands_in_code_are_reads_writes_and_verifications(self):
        """A file changed by a command the code ran and never tested: unverified; with
        the tests run by the next code block: nothing to report."""
        for tested, expected in ((False, True), (True, False)):
            pipeline = Pipeline(Config(detectors=("termination.unverified",)))
            with GenAI.agent(pipeline.tracer, "coder"):
                _code(pipeline, 'import subprocess\nsubprocess.run(["cat", "app.py"])')
                _code(pipeline, "import os\nos.system(\"sed -i 's/a/b/' app.py\")")
                if tested:
                    _code(pipeline, "!python -m pytest -q")
            run = pipeline.spans("invoke_agent")[0]
            detections = run.attributes.get("agentwatch.run.detections", ())
            assert ("termination.unverified" in detections) is expected
            pipeline.provider.shutdown()
