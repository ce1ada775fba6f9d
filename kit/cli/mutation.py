"""invoke mutate: mutmut's verdict on the unit tests, as a score."""

from __future__ import annotations

import shlex
import sys
from collections import Counter
from pathlib import Path


def mutmut_command(*args: str) -> str:
    """mutmut from the kit's own environment (it is one of the test extras)."""
    program = Path(sys.executable).with_name("mutmut")
    return shlex.join([str(program), *args])


def score(results: str) -> str:
    """'mutmut results --all true' (a line a mutant, ending in its fate) in numbers: the
    share killed, of the mutants the tests reach and of all."""
    fates = Counter(line.rsplit(": ", 1)[-1].strip() for line in results.splitlines()
                    if ": " in line and "__mutmut_" in line)
    total = sum(fates.values())
    killed = fates.get("killed", 0) + fates.get("timeout", 0)
    reached = total - fates.get("no tests", 0)
    lines = [f"{name}: {count}" for name, count in sorted(fates.items())]
    if total:
        lines.append(f"killed {killed} of {total} mutants ({100 * killed / total:.1f}%); "
                     f"of the {reached} the tests reach, {100 * killed / max(reached, 1):.1f}%")
    return "\n".join(lines) or "no mutants (run 'invoke mutate' again)"
