#!/usr/bin/env python3
"""oras (the ORAS Python client) against a registry: pushes an artifact, then a second one whose
subject is the first, finds the second through the referrers API, pulls both back and checks
their files. Exits non-zero with the reason on any difference.

usage: oras_referrers.py HOST:PORT REPOSITORY WORKDIR
"""
import hashlib
import os
import sys

import oras.client
import oras.oci
import requests

host, repo, work = sys.argv[1], sys.argv[2], sys.argv[3]
client = oras.client.OrasClient(hostname=host, insecure=True)


def fail(why):
    print(f"oras_referrers: {why}", file=sys.stderr)
    sys.exit(1)


def write(name, data):
    path = os.path.join(work, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


base_bytes = os.urandom(300_000)
sig_bytes = b"signature of the artifact\n"
os.chdir(work)
client.push(files=[write("artifact.bin", base_bytes)], target=f"{host}/{repo}:v1")
base_manifest = client.get_manifest(f"{host}/{repo}:v1")
subject = oras.oci.Subject.from_manifest(base_manifest)
client.push(
    files=[write("artifact.sig", sig_bytes)],
    target=f"{host}/{repo}:sig",
    subject=subject,
    manifest_annotations={"org.example.kind": "signature"},
)
sig_manifest = client.get_manifest(f"{host}/{repo}:sig")
if sig_manifest.get("subject", {}).get("digest") != subject.digest:
    fail(f"the pushed manifest lost its subject: {sig_manifest}")

answer = requests.get(f"http://{host}/v2/{repo}/referrers/{subject.digest}", timeout=30)
if answer.status_code != 200:
    fail(f"referrers answered {answer.status_code}: {answer.text}")
if answer.headers.get("Content-Type") != "application/vnd.oci.image.index.v1+json":
    fail(f"referrers Content-Type {answer.headers.get('Content-Type')}")
index = answer.json()
found = [m for m in index["manifests"]]
if len(found) != 1:
    fail(f"expected one referrer, got {found}")
sig_digest = requests.head(
    f"http://{host}/v2/{repo}/manifests/sig",
    headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    timeout=30,
).headers["Docker-Content-Digest"]
if found[0]["digest"] != sig_digest:
    fail(f"the referrer is {found[0]['digest']}, the signature is {sig_digest}")
if found[0].get("annotations", {}).get("org.example.kind") != "signature":
    fail(f"the referrer's annotations are missing: {found[0]}")

for tag, name, data in [("v1", "artifact.bin", base_bytes), ("sig", "artifact.sig", sig_bytes)]:
    out = os.path.join(work, "pulled-" + tag)
    os.makedirs(out, exist_ok=True)
    paths = client.pull(target=f"{host}/{repo}:{tag}", outdir=out)
    got = open(os.path.join(out, name), "rb").read()
    if hashlib.sha256(got).digest() != hashlib.sha256(data).digest():
        fail(f"{tag}: pulled {name} differs ({len(got)} bytes, pushed {len(data)})")
print("ok")
