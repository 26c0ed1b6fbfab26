"""Point a kustomize overlay at an image: `python deploy/set_image.py OVERLAY IMAGE_REF`.

IMAGE_REF is `name@sha256:<64 hex>`: the digest the image workflow pushed (staging) or released
(production). A tag is refused: it can be moved to other content after review, a digest cannot. Only the
`images:` block of deploy/k8s/overlays/OVERLAY/kustomization.yaml is rewritten, by a
text edit, so every other line and comment stays as it was. A bad argument: one line, exit 2.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import NoReturn

import yaml

OVERLAYS = Path(__file__).resolve().parent / "k8s" / "overlays"
# The OCI distribution grammar, restricted to what a registry accepts: an optional host[:port]/, a
# lowercase repository path, then exactly one of :tag or @sha256:digest.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
REFERENCE = re.compile(
    rf"(?P<name>(?:[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})|@(?P<digest>sha256:[0-9a-f]{64}))"
)


def fail(message: str) -> NoReturn:
    print(f"set_image: {message}", file=sys.stderr)
    sys.exit(2)


def parse(reference: str) -> dict[str, str]:
    """`newName` and `digest`, as kustomize's `images:` entry spells them."""
    match = REFERENCE.fullmatch(reference)
    if match is None:
        fail(f"{reference!r} is not an image reference: use name@sha256:<64 hex digits>")
    if match["tag"] is not None:
        fail(f"{reference!r} names a tag, which can move: pin its digest, {match['name']}@sha256:<64 hex>")
    return {"newName": match["name"], "digest": match["digest"]}


def block_span(lines: list[str]) -> tuple[int, int]:
    """Line indexes [start, end) of the top-level `images:` block (trailing blank lines excluded)."""
    starts = [index for index, line in enumerate(lines) if re.match(r"images:\s*(#.*)?$", line)]
    if len(starts) != 1:
        fail("the overlay needs exactly one top-level block `images:` written in block style")
    start = end = starts[0]
    while end + 1 < len(lines) and (lines[end + 1][:1] in (" ", "\t", "-") or not lines[end + 1].strip()):
        end += 1
    while not lines[end].strip():
        end -= 1
    return start, end + 1


def set_image(path: Path, reference: str) -> str:
    """The new text of `path`, or a one-line failure; the caller writes it."""
    fields = parse(reference)
    text = path.read_text()
    data = yaml.safe_load(text)
    images = data.get("images") if isinstance(data, dict) else None
    if not (isinstance(images, list) and len(images) == 1 and isinstance(images[0], dict)):
        fail(f"{path}: `images:` must hold exactly one entry")
    entry = {"name": images[0].get("name") or fields["newName"], **fields}
    lines = text.splitlines(keepends=True)
    start, end = block_span(lines)
    item = next((line for line in lines[start + 1 : end] if line.lstrip().startswith("-")), "  -")
    indent = item[: len(item) - len(item.lstrip())]
    block = [f"{indent}- name: {entry['name']}\n"]
    block += [f"{indent}  {key}: {value}\n" for key, value in fields.items()]
    new_text = "".join([*lines[: start + 1], *block, *lines[end:]])
    # The edit must change `images:` and nothing else; anything odd in the file is refused, not mangled.
    if yaml.safe_load(new_text) != {**data, "images": [entry]}:
        fail(f"{path}: could not rewrite `images:` without touching other keys; edit it by hand")
    return new_text


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        fail("usage: python deploy/set_image.py OVERLAY IMAGE_REF")
    overlay, reference = argv
    known = sorted(path.name for path in OVERLAYS.iterdir() if (path / "kustomization.yaml").is_file())
    if overlay not in known:
        fail(f"unknown overlay {overlay!r}: use one of {', '.join(known)}")
    path = OVERLAYS / overlay / "kustomization.yaml"
    path.write_text(set_image(path, reference))
    print(f"{overlay}: {reference}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
