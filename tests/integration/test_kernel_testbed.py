"""The lesson's experiment on Debian 12's own kernel, 6.1 (before 6.10: tcp_send_reset
traces full sockets only), booted under qemu: `invoke run --scenario close --kernel 6.1`
as a user types it. Both variants pass, the kernel each host ran is 6.1, the abrupt
close's RST is judged on the wire and the counters while the check says the tracer
could not see it, and the VM and its files go with the command."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from tests.integration.conftest import invoke


def test_the_lessons_close_on_debians_6_1_kernel(tmp_path, lab_image):
    scratch = set(Path(tempfile.gettempdir()).glob("netkit-kernel-*"))
    result = invoke("run", "--scenario", "close", "--kernel", "6.1", "--out", str(tmp_path),
                    timeout=1500)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    records = {json.loads(p.read_text())["variant"]: json.loads(p.read_text())
               for p in tmp_path.glob("*/run.json")}
    assert set(records) == {"graceful", "abrupt"}
    for record in records.values():
        assert record["verdict"] == "pass" and record["testbed"] == "kernel"
        assert all(record["hosts"][role]["kernel"].startswith("Linux 6.1.")
                   for role in ("client", "server"))
        assert record["environment"]["kernel_vm"]["suite"] == "bookworm"
    sent_rst = next(c for c in records["abrupt"]["checks"]
                    if c["name"] == "client-kernel-sent-rst")
    assert sent_rst["passed"] and "not traced" in sent_rst["observed"]
    assert "RST from client" in sent_rst["observed"]
    assert set(Path(tempfile.gettempdir()).glob("netkit-kernel-*")) == scratch
