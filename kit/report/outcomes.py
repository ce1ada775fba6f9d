"""How a check's outcome (pass, fail, not judged) is written, in every report."""

from __future__ import annotations

from kit.core.checks import FAILED, NOT_JUDGED, PASSED

MARKDOWN = {PASSED: "pass", FAILED: "**FAIL**", NOT_JUDGED: "not judged"}
# The console's short marks ("n/j": not judged), and the HTML pages' (CSS class, word).
MARK = {PASSED: "ok", FAILED: "FAIL", NOT_JUDGED: "n/j"}
HTML = {PASSED: ("pass", "pass"), FAILED: ("fail", "FAIL"), NOT_JUDGED: ("unjudged", "not judged")}
