"""The images file: one shape, one reader and writer, errors that name the file and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from microshop_ci.core.images import (
    ImageRecord,
    ImageRef,
    ImagesFileError,
    read_images,
    write_images,
)

DIGEST = "sha256:" + "c" * 64
REF = f"127.0.0.1:5000/api-service@{DIGEST}"


def _file(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "images.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def test_the_writers_entry_is_read_back_with_its_measurements(tmp_path: Path) -> None:
    entry = {"ref": REF, "name": "127.0.0.1:5000/api-service", "digest": DIGEST, "size": 42}
    records = read_images(_file(tmp_path, {"api-service": entry}))
    record = records["api-service"]
    assert (record.name, record.digest, record.ref, record.size) == (
        "127.0.0.1:5000/api-service",
        DIGEST,
        REF,
        42,
    )
    assert record.image.registry == "127.0.0.1:5000"
    assert record.extra == {"size": 42}


def test_write_then_read_gives_the_same_records(tmp_path: Path) -> None:
    path = tmp_path / "out" / "images.json"
    records = {"api-service": ImageRecord(ImageRef.parse(REF), {"user": "65532:65532"})}
    write_images(path, records)
    assert json.loads(path.read_text()) == {
        "api-service": {
            "ref": REF,
            "name": "127.0.0.1:5000/api-service",
            "digest": DIGEST,
            "user": "65532:65532",
        }
    }
    assert path.read_text().endswith("}\n")
    assert read_images(path) == records


def test_a_tag_before_the_digest_is_dropped_and_a_port_kept() -> None:
    image = ImageRef.parse(f"kind-registry:5000/client-service:ci@{DIGEST}")
    assert (image.name, image.registry) == (
        "kind-registry:5000/client-service",
        "kind-registry:5000",
    )
    assert ImageRef.parse(f"api@{DIGEST}").name == "api"


@pytest.mark.parametrize(
    "ref", ["api-service:1.0", "api-service@sha256:abc", f"API@{DIGEST}", f"r/a@sha512:{'c' * 64}"]
)
def test_anything_but_a_reference_by_sha256_digest_is_refused(ref: str) -> None:
    with pytest.raises(ValueError, match=r"is not NAME@sha256:<64 hex digits>"):
        ImageRef.parse(ref)


@pytest.mark.parametrize(
    ("content", "require", "message"),
    [
        ("{", (), r"not JSON \(Expecting property name enclosed in double quotes at line 1\)"),
        ("[]", (), r"expected an object of service -> \{ref: \.\.\.\}"),
        ("{}", (), "lists no image"),
        (
            json.dumps({"api-service": {"ref": REF}}),
            ("client-service",),
            "client-service.ref is missing",
        ),
        (json.dumps({"api-service": REF}), (), "api-service.ref is missing"),
        (
            json.dumps({"api-service": {"ref": "r/api:1"}}),
            (),
            "api-service.ref: 'r/api:1' is not NAME",
        ),
    ],
)
def test_a_bad_file_is_refused_naming_the_file_and_the_field(
    tmp_path: Path, content: str, require: tuple[str, ...], message: str
) -> None:
    path = _file(tmp_path, content)
    with pytest.raises(ImagesFileError, match=message) as caught:
        read_images(path, require=require)
    assert str(caught.value).startswith(f"{path}: ")


def test_a_missing_file_says_it_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(ImagesFileError) as caught:
        read_images(tmp_path / "nope.json")
    assert str(caught.value) == (
        f"{tmp_path / 'nope.json'}: cannot read the images file (No such file or directory)"
    )
