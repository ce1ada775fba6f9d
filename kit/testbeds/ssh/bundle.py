"""The kit's programs for machines that have none of them: the statically linked
builds the lab image carries (containers/src/Makefile, /usr/local/lib/netkit/static;
the delay line there with its libraries and their loader) and the observers' script,
taken out of the image once per image and kept in a cache."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

from kit.core.errors import EnvironmentProblem
from kit.testbeds.docker import labels
from kit.testbeds.docker.engine import client, translated
from kit.testbeds.docker.image import LabImage

STATIC_DIR = "/usr/local/lib/netkit/static"
SCRIPTS = ("/usr/local/bin/netkit-observe",)
PROGRAMS = ("graceserver", "graceclient", "netkit-probe", "netkit-ss", "netkit-observe",
            "netkit-delayline", "netkit-delayline.bin")
COMPLETE = ".complete"     # written last: a cache interrupted half-way is taken again


def cache_dir(image: LabImage) -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return root / "netkit" / "programs" / image.id.split(":")[-1][:16]


def kit_programs(image: LabImage) -> dict[str, bytes]:
    """Each program's name and contents (copied to a run's directory on each machine)."""
    cached = cache_dir(image)
    if (cached / COMPLETE).is_file():
        return {path.name: path.read_bytes() for path in sorted(cached.iterdir())
                if path.name != COMPLETE}
    found = _from_image(image)
    missing = [name for name in PROGRAMS if name not in found]
    if missing:
        raise EnvironmentProblem(f"the lab image {image.name} lacks {', '.join(missing)}: "
                          "rebuild it (invoke build --rebuild)")
    cached.mkdir(parents=True, exist_ok=True)
    for name, data in found.items():
        partial = cached / f".{name}.partial"
        partial.write_bytes(data)
        partial.replace(cached / name)
    (cached / COMPLETE).touch()
    return found


def _from_image(image: LabImage) -> dict[str, bytes]:
    with translated(f"take the kit's programs out of {image.name}"):
        container = client().containers.create(image.name, ["true"],
                                               labels={labels.MANAGED: "true"})
        try:
            found: dict[str, bytes] = {}
            for path in (STATIC_DIR, *SCRIPTS):
                stream, _ = container.get_archive(path)
                found.update(_files(b"".join(stream)))
            return found
        finally:
            container.remove(force=True)


def _files(archive: bytes) -> dict[str, bytes]:
    files = {}
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            extracted = tar.extractfile(member) if member.isfile() else None
            if extracted is not None:
                files[Path(member.name).name] = extracted.read()
    return files
