#!/usr/bin/env python3
"""Writes an OCI image layout for the client tests: a two-platform index and its two images,
with real gzipped tar layers of pseudo-random files (deterministic for a given seed).

usage: make_image.py DIR [SEED] [SCALE]
Tags in DIR/index.json: `single` (the linux/amd64 image), `multi` (the index). Files are SCALE
times their usual size (default 1; the committed reference tree used 0.001).
"""
import gzip
import hashlib
import io
import json
import os
import random
import sys
import tarfile

out = sys.argv[1]
rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
scale = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0
blobs = os.path.join(out, "blobs", "sha256")
os.makedirs(blobs, exist_ok=True)


def put(data: bytes) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, digest), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + digest, "size": len(data)}


def layer(files: dict) -> tuple:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, size in files.items():
            info = tarfile.TarInfo(name)
            size = max(1, int(size * scale))
            info.size = size
            info.mtime = 0
            tar.addfile(info, io.BytesIO(rng.randbytes(size)))
    tar_bytes = raw.getvalue()
    gz = gzip.compress(tar_bytes, compresslevel=1, mtime=0)
    d = put(gz)
    d["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip"
    return d, "sha256:" + hashlib.sha256(tar_bytes).hexdigest()


def image(arch: str, layer_files: list) -> dict:
    layers, diff_ids = zip(*(layer(files) for files in layer_files))
    config = {
        "architecture": arch,
        "os": "linux",
        "config": {"Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
    }
    c = put(json.dumps(config).encode())
    c["mediaType"] = "application/vnd.oci.image.config.v1+json"
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": c,
        "layers": list(layers),
    }
    m = put(json.dumps(manifest).encode())
    m["mediaType"] = manifest["mediaType"]
    m["platform"] = {"architecture": arch, "os": "linux"}
    return m


amd64 = image("amd64", [{"bin/a": 3 << 20}, {"etc/b": 100_000, "etc/c": 10}, {"d": 1 << 20}])
arm64 = image("arm64", [{"bin/a": 2 << 20}, {"e": 5000}])
index = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [amd64, arm64],
}
i = put(json.dumps(index).encode())
i["mediaType"] = index["mediaType"]

single = dict(amd64)
del single["platform"]
single["annotations"] = {"org.opencontainers.image.ref.name": "single"}
i["annotations"] = {"org.opencontainers.image.ref.name": "multi"}
with open(os.path.join(out, "index.json"), "w") as f:
    json.dump({"schemaVersion": 2, "manifests": [single, i]}, f)
with open(os.path.join(out, "oci-layout"), "w") as f:
    json.dump({"imageLayoutVersion": "1.0.0"}, f)
print(json.dumps({"single": amd64["digest"], "multi": i["digest"]}))
