from kit.testbeds.docker.image import (
    context_hash,
    mirrors_in_sources,
    own_base_image_name,
    required_packages,
)


def test_mirror_from_deb822_sources():
    text = ("Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n\n"
            "Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n")
    assert mirrors_in_sources(text) == ["http://deb.debian.org/debian"]


def test_mirror_from_one_line_sources():
    text = ("deb [arch=amd64] http://mirror.example/debian/ bookworm main\n"
            "deb http://security.example/debian bookworm-security main\n"
            "deb https://packages.cloud.example/apt cloud-sdk main\n")
    assert mirrors_in_sources(text) == ["http://mirror.example/debian"]


def test_base_image_name_follows_the_package_list():
    packages = required_packages()
    assert "tcpdump" in packages and "iproute2" in packages
    assert own_base_image_name(packages) == own_base_image_name(list(reversed(packages)))
    assert own_base_image_name(packages) != own_base_image_name(packages + ["socat"])


def test_context_hash_changes_with_content_and_base(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM x\n")
    first = context_hash(tmp_path, "sha256:a")
    assert context_hash(tmp_path, "sha256:a") == first
    assert context_hash(tmp_path, "sha256:b") != first
    (tmp_path / "Dockerfile").write_text("FROM y\n")
    assert context_hash(tmp_path, "sha256:a") != first
