"""The lab image: a base image (pulled, or built here with debootstrap) plus the kit's programs.

Docker's own layer cache is not enough to make a warm run cheap (a no-op build still
sends the context and walks every step), so the lab image carries a hash of its
build context and is rebuilt only when that hash changes.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import docker.errors

from kit import __version__
from kit.core.command import command
from kit.core.defaults import DEFAULT_BASE_IMAGE
from kit.core.errors import BadInput, EnvironmentProblem, LabFailure
from kit.core.paths import PROJECT_ROOT
from kit.core.progress import say, step
from kit.core.units import image_name
from kit.testbeds.docker import labels
from kit.testbeds.docker.engine import client, image_exists

CONTAINERS_DIR = PROJECT_ROOT / "containers"
PACKAGES_FILE = CONTAINERS_DIR / "packages.txt"
LAB_IMAGE_REPOSITORY = "netkit/lab"
BASE_IMAGE_REPOSITORY = "netkit/base"
SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"


@dataclass(frozen=True)
class LabImage:
    name: str
    id: str
    base: str


def required_packages(packages_file: Path = PACKAGES_FILE) -> list[str]:
    lines = packages_file.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def own_base_image_name(packages: list[str]) -> str:
    """The tag of a base image built here; it changes when the package list does."""
    digest = hashlib.sha256("\n".join(sorted(packages)).encode()).hexdigest()[:10]
    return f"{BASE_IMAGE_REPOSITORY}:{SUITE}-{digest}"


def context_hash(context_dir: Path, base_image_id: str) -> str:
    """A hash of everything an image is built from (what .dockerignore leaves out aside)."""
    ignored = _dockerignored(context_dir)
    digest = hashlib.sha256(base_image_id.encode())
    for path in sorted(p for p in context_dir.rglob("*") if p.is_file()
                       and p.relative_to(context_dir).parts[0] not in ignored):
        digest.update(str(path.relative_to(context_dir)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _dockerignored(context_dir: Path) -> set[str]:
    """The top-level names a context's .dockerignore excludes (the kit uses no patterns)."""
    ignore = context_dir / ".dockerignore"
    if not ignore.exists():
        return set()
    return {line.strip().strip("/") for line in ignore.read_text().splitlines()
            if line.strip() and not line.startswith("#")}


def debian_mirror(sources_root: Path = Path("/etc/apt")) -> str:
    """The Debian mirror apt already uses here (NETKIT_DEBIAN_MIRROR overrides it)."""
    if os.environ.get("NETKIT_DEBIAN_MIRROR"):
        return os.environ["NETKIT_DEBIAN_MIRROR"]
    candidates: list[str] = []
    files = [sources_root / "sources.list"] + sorted((sources_root / "sources.list.d").glob("*"))
    for path in files:
        try:
            text = path.read_text()
        except OSError:
            continue
        candidates += mirrors_in_sources(text)
    return candidates[0] if candidates else DEFAULT_MIRROR


def mirrors_in_sources(text: str) -> list[str]:
    """Main-archive Debian URIs in an apt sources file (one-line or deb822 form)."""
    found = []
    for line in text.splitlines():
        line = line.strip()
        one_line = re.match(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
        deb822 = re.match(r"^URIs:\s*(.+)$", line)
        uris = []
        if one_line and not one_line.group(2).endswith("-security"):
            uris = [one_line.group(1)]
        elif deb822:
            uris = deb822.group(1).split()
        for uri in uris:
            if uri.rstrip("/").endswith("/debian"):
                found.append(uri.rstrip("/"))
    return found


def lab_image_named(name: str) -> LabImage:
    """The lab image ``name`` as it is (a lab that is up was made from it)."""
    try:
        image = client().images.get(name)
    except docker.errors.ImageNotFound:
        raise EnvironmentProblem(f"the lab image {name} is gone: '{command('build')}' makes it "
                                 "again") from None
    return LabImage(name=name, id=image.id, base=image.labels.get(labels.BASE, ""))


def ensure_lab_image(base_image: str = DEFAULT_BASE_IMAGE, rebuild: bool = False) -> LabImage:
    """The lab image, built if missing or out of date (and its base image, if needed)."""
    base = resolve_base_image(base_image)
    base_id = client().images.get(base).id
    wanted_hash = context_hash(CONTAINERS_DIR, base_id)
    name = f"{LAB_IMAGE_REPOSITORY}:{__version__}"
    if not rebuild:
        try:
            existing = client().images.get(name)
            if existing.labels.get(labels.CONTEXT_HASH) == wanted_hash:
                return LabImage(name=name, id=existing.id, base=base)
        except docker.errors.ImageNotFound:
            pass
    image_id = build_image(name, CONTAINERS_DIR, {"BASE_IMAGE": base}, "lab", wanted_hash,
                           f"building {name} from {base}")
    client().images.get(name).tag(LAB_IMAGE_REPOSITORY, "latest")
    return LabImage(name=name, id=image_id, base=base)


def resolve_base_image(requested: str) -> str:
    """A base image that exists locally: the requested one, pulled, or one built here."""
    image_name("--base-image", requested, DEFAULT_BASE_IMAGE)
    try:
        if image_exists(requested):
            return requested
    except docker.errors.APIError as error:
        if error.status_code == 400:   # the engine refuses the name itself
            raise BadInput(f"--base-image {requested!r} is not an image name Docker "
                           f"accepts ({error.explanation or error}): give one like "
                           f"{DEFAULT_BASE_IMAGE}") from None
        raise
    own = own_base_image_name(required_packages())
    if requested == DEFAULT_BASE_IMAGE and image_exists(own):
        return own
    repository, _, tag = requested.partition(":")
    try:
        with step(f"pulling {requested}"):
            client().images.pull(repository, tag=tag or "latest")
        return requested
    except docker.errors.APIError as error:
        reason = (error.explanation or str(error)).splitlines()[0]
    if requested != DEFAULT_BASE_IMAGE:
        raise EnvironmentProblem(
            f"base image {requested} is neither local nor pullable ({reason}); "
            f"load it with 'docker load', or use the default {DEFAULT_BASE_IMAGE}, "
            "which the kit can build itself")
    say(f"{requested} cannot be pulled ({reason}); building {own} with debootstrap")
    build_base_image(own, required_packages())
    return own


def build_base_image(name: str, packages: list[str]) -> None:
    """debootstrap a Debian tree with ``packages`` and import it as ``name``."""
    if os.geteuid() != 0:
        raise EnvironmentProblem(
            "building the base image needs root (debootstrap): run this command as root, "
            f"or make {DEFAULT_BASE_IMAGE} available (docker pull, or docker load)")
    if shutil.which("debootstrap") is None:
        raise EnvironmentProblem(
            "debootstrap is not installed and no registry has the base image: "
            "install it (apt-get install -y debootstrap) and run again")
    mirror = debian_mirror()
    tree = Path(tempfile.mkdtemp(prefix="netkit-base-", dir="/var/tmp"))
    try:
        _debootstrap(tree, packages, mirror)
        _trim_tree(tree)
        _import_tree(tree, name)
    finally:
        _remove_tree(tree)


def _debootstrap(tree: Path, packages: list[str], mirror: str) -> None:
    command = ["debootstrap", "--variant=minbase", f"--include={','.join(packages)}",
               SUITE, str(tree), mirror]
    last_lines: list[str] = []
    with step(f"debootstrap {SUITE} from {mirror}") as progress:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, bufsize=1)
        try:
            assert process.stdout is not None   # stdout=PIPE
            for line in process.stdout:
                line = line.rstrip()
                last_lines = (last_lines + [line])[-15:]
                if line.startswith(("I: ", "W: ")):
                    progress.update(line[3:])
            process.wait()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    if process.returncode != 0:
        raise EnvironmentProblem(
            f"debootstrap failed (exit {process.returncode}) with mirror {mirror}: "
            f"{' | '.join(last_lines[-3:])}; set NETKIT_DEBIAN_MIRROR to a reachable mirror")


def _trim_tree(tree: Path) -> None:
    """Drop what only the installer needed; the image is smaller and imports faster."""
    for pattern in ("var/cache/apt/archives/*.deb", "var/lib/apt/lists/*_*"):
        for path in glob.glob(str(tree / pattern)):
            os.remove(path)


class _CountingReader:
    """A file wrapper that reports how many bytes went through it."""

    def __init__(self, raw, on_progress):
        self._raw = raw
        self._on_progress = on_progress
        self.total = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._raw.read(size)
        self.total += len(chunk)
        self._on_progress(self.total)
        return chunk

    def __iter__(self):
        while chunk := self.read(1 << 20):
            yield chunk


def _import_tree(tree: Path, name: str) -> None:
    repository, _, tag = name.partition(":")
    size = int(subprocess.run(["du", "-sb", str(tree)], capture_output=True, text=True,
                              check=True).stdout.split()[0])
    changes = [f"LABEL {labels.IMAGE}=base", 'CMD ["bash"]']
    with step(f"importing the tree as {name}") as progress:
        tar = subprocess.Popen(["tar", "-C", str(tree), "--numeric-owner", "-c", "."],
                               stdout=subprocess.PIPE)
        reader = _CountingReader(
            tar.stdout, lambda done: progress.update(f"{done >> 20} of {size >> 20} MiB"))
        try:
            client().api.import_image_from_stream(reader, repository=repository, tag=tag,
                                                  changes=changes)
        finally:
            if tar.stdout is not None:
                tar.stdout.close()
            tar.wait()
    if tar.returncode != 0 or not image_exists(name):
        raise LabFailure(f"importing the debootstrap tree as {name} failed (tar exit "
                         f"{tar.returncode}); see the Docker engine's log")


def _remove_tree(tree: Path) -> None:
    # An interrupted debootstrap can leave /proc or /sys mounted inside the tree:
    # unmount those first so removing the tree never reaches the host's own.
    with open("/proc/mounts") as mounts:
        inside = [line.split()[1] for line in mounts if line.split()[1].startswith(str(tree))]
    for mount_point in sorted(inside, reverse=True):
        subprocess.run(["umount", "-l", mount_point], check=False)
    shutil.rmtree(tree, ignore_errors=True)


def build_image(name: str, context: Path, buildargs: dict, kind: str, wanted_hash: str,
                title: str) -> str:
    """Build ``name`` from ``context``, showing each step; return its id. The image is
    labelled as the kit's (``kind``) with the hash of what it was built from."""
    try:
        previous = client().images.get(name).id
    except docker.errors.ImageNotFound:
        previous = None
    image_id = None
    log: list[str] = []
    with step(title) as progress:
        try:
            stream = client().api.build(
                path=str(context), tag=name, buildargs=buildargs,
                labels={labels.IMAGE: kind, labels.CONTEXT_HASH: wanted_hash,
                        labels.BASE: buildargs.get("BASE_IMAGE", "")},
                rm=True, forcerm=True, pull=False, decode=True)
            for chunk in stream:
                if "error" in chunk:
                    tail = " | ".join(line for line in log[-4:] if line)
                    raise LabFailure(f"building {name} failed: {chunk['error'].strip()} "
                                     f"(last output: {tail})")
                text = chunk.get("stream", "").strip()
                if text:
                    log.append(text)
                    if text.startswith("Step "):
                        progress.update(text)
                if "aux" in chunk and "ID" in chunk["aux"]:
                    image_id = chunk["aux"]["ID"]
        except docker.errors.APIError as error:
            raise LabFailure(f"building {name} failed: {error.explanation or error}") from None
    image = client().images.get(name)
    if previous and previous != image.id:
        _remove_if_untagged(previous)
    return image_id or image.id


def ensure_built(name: str, context: Path, buildargs: dict, kind: str, wanted_hash: str,
                 title: str, replaces: str) -> str:
    """``name``, built from ``context`` unless the engine has it. Once it is built, the
    images it replaces go (tags starting with ``replaces``: a VM image is over a
    gigabyte); one in use stays for 'invoke clean --images'."""
    try:
        client().images.get(name)
        return name
    except docker.errors.ImageNotFound:
        pass
    build_image(name, context, buildargs, kind, wanted_hash, title)
    for old in client().images.list(name=replaces.split(":")[0]):
        if name not in old.tags and all(tag.startswith(replaces) for tag in old.tags):
            try:
                client().images.remove(old.id, force=True)
            except docker.errors.APIError:
                pass
    return name


def _remove_if_untagged(image_id: str) -> None:
    """Drop the lab image a rebuild replaced, unless something still uses it."""
    try:
        if not client().images.get(image_id).tags:
            client().images.remove(image_id)
    except docker.errors.APIError:
        pass   # still used by a container, or already gone: leave it
