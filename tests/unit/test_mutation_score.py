"""invoke mutate's score, from mutmut's own results listing (lines as mutmut 3.8 prints)."""

from kit.cli.mutation import mutmut_command, score

RESULTS = """\
    kit.scenarios.ending.x__last__mutmut_1: killed
    kit.scenarios.ending.xǁShutRdScenarioǁplan__mutmut_43: no tests
    kit.scenarios.sigpipe.xǁSigpipeScenarioǁjudge__mutmut_1: killed
    kit.scenarios.reset.xǁResetScenarioǁplan__mutmut_9: survived
    kit.scenarios.base.xǁEvidenceǁsegments__mutmut_21: timeout
"""


def test_the_score_counts_timeouts_as_killed_and_says_what_the_tests_reach():
    text = score(RESULTS)
    assert "killed: 2" in text and "no tests: 1" in text and "survived: 1" in text
    assert text.splitlines()[-1] == ("killed 3 of 5 mutants (60.0%); of the 4 the tests "
                                     "reach, 75.0%")


def test_no_results_says_so():
    assert "no mutants" in score("")


def test_mutmut_runs_from_the_kits_environment():
    assert mutmut_command("results", "--all", "true").endswith("mutmut results --all true")
