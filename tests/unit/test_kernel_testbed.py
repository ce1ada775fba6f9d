"""The kernel testbed (kit.testbeds.kernel): which kernels it boots, how the factory
names it, and the testbed file it writes for the SSH testbed from the VM's container."""

from __future__ import annotations

import io
import tarfile

import pytest
import yaml

from kit.core.errors import BadInput
from kit.testbeds.factory import KINDS, provider_for, provider_from_json
from kit.testbeds.kernel import vm
from kit.testbeds.kernel.provider import KernelProvider
from kit.testbeds.ssh.config import read_machines


def test_the_kernels_are_debians_own_by_suite():
    assert vm.KERNELS == {"5.10": "bullseye", "6.1": "bookworm", "6.12": "trixie"}
    with pytest.raises(BadInput, match=r"--kernel 4\.19: choose one of 5\.10, 6\.1, 6\.12"):
        KernelProvider("4.19")


def test_the_factory_names_the_kind_and_makes_it_again_from_json():
    provider = provider_for(kernel="6.12")
    assert isinstance(provider, KernelProvider) and "kernel" in KINDS
    assert provider.one_at_a_time and provider.where() == "Debian's kernel 6.12 under qemu"
    again = provider_from_json(provider.to_json())
    assert isinstance(again, KernelProvider) and again.kernel == "6.12"
    with pytest.raises(BadInput, match="give one of them"):
        provider_for("machines.yaml", kernel="6.1")


class Container:
    """The VM's container as docker-py shows it: an address, and files in its image."""

    attrs = {"NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.9"}}}}
    files = {f"{vm.VM_FILES}/key": b"-----BEGIN OPENSSH PRIVATE KEY-----\n",
             f"{vm.VM_FILES}/host_key.pub": b"ssh-ed25519 AAAAC3Nza root@vm\n"}

    def reload(self) -> None:
        pass

    def get_archive(self, path: str):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            info = tarfile.TarInfo(path.rsplit("/", 1)[-1])
            info.size = len(self.files[path])
            tar.addfile(info, io.BytesIO(self.files[path]))
        return [buffer.getvalue()], {}


def test_the_vms_two_machines_become_a_testbed_file_with_its_host_key(tmp_path):
    path = vm._testbed_file(Container(), tmp_path)
    machines = read_machines(path).machines
    assert machines["client"].ssh.port == 2201 and machines["server"].ssh.port == 2202
    assert {machines[role].ssh.host for role in machines} == {"172.17.0.9"}
    assert (machines["client"].address, machines["client"].interface) == \
        ("192.168.77.1", "lab0")
    assert (machines["server"].address, machines["server"].interface) == \
        ("192.168.77.2", "lab1")
    assert (tmp_path / "key").stat().st_mode & 0o777 == 0o600
    known = (tmp_path / "known_hosts").read_text().splitlines()
    assert known == ["[172.17.0.9]:2201 ssh-ed25519 AAAAC3Nza",
                     "[172.17.0.9]:2202 ssh-ed25519 AAAAC3Nza"]
    assert yaml.safe_load(path.read_text())["known_hosts"] == str(tmp_path / "known_hosts")
