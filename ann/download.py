"""Checksum-verified download of MNIST for users with internet access.

Nothing downloads at test time or implicitly: this runs only when asked
(``download = true`` in a config, or :func:`download_mnist`).
"""
from __future__ import annotations

import hashlib
import logging
import os
import urllib.request
from pathlib import Path

logger = logging.getLogger(__name__)

#: the four MNIST files and their MD5 sums (LeCun et al. 1998)
MNIST_FILES: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MNIST_MIRROR = "https://ossci-datasets.s3.amazonaws.com/mnist/"


class ChecksumError(ValueError):
    """A downloaded or existing file does not have the expected checksum."""


def md5sum(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def download_mnist(dest: str | os.PathLike, base_url: str | None = None,
                   checksums: dict[str, str] | None = None, timeout_s: float = 60.0) -> Path:
    """Download the MNIST IDX files into ``dest`` unless they are there already.

    ``base_url`` and ``checksums`` default to :data:`MNIST_MIRROR` and
    :data:`MNIST_FILES`. Every file is checked against its MD5 sum; a mismatch raises
    :class:`ChecksumError` and leaves no file behind. Files are written to a
    temporary name and renamed only once verified.
    """
    checksums = MNIST_FILES if checksums is None else checksums
    base_url = MNIST_MIRROR if base_url is None else base_url
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for name, expected in checksums.items():
        target = dest / name
        if target.is_file():
            if md5sum(target) != expected:
                raise ChecksumError(f"{target} exists but its MD5 is not {expected}; delete it to download again")
            continue
        url = base_url.rstrip("/") + "/" + name
        tmp = target.with_suffix(target.suffix + ".part")
        logger.info("downloading %s", url)
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as resp, open(tmp, "wb") as fh:
                while block := resp.read(1 << 20):
                    fh.write(block)
            got = md5sum(tmp)
            if got != expected:
                raise ChecksumError(f"checksum mismatch for {url}: MD5 {got}, expected {expected}")
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    return dest
