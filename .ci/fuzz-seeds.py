#!/usr/bin/env python3
"""Seeds for the fuzz targets, derived at run time from the conformance vectors beside the
checkout (../shared/vectors), which must not be copied into the repository.

Usage: fuzz-seeds.py <vectors dir> <out dir>   (writes <out>/<target>/<sha1>)
"""
import base64, hashlib, json, os, sys

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def write(out, target, data):
    os.makedirs(os.path.join(out, target), exist_ok=True)
    with open(os.path.join(out, target, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def main(vectors, out):
    count = 0
    for name in ("json_web_signature_test.json", "json_web_key_test.json"):
        path = os.path.join(vectors, "wycheproof", name)
        if not os.path.exists(path):
            continue
        for group in json.load(open(path)).get("testGroups", []):
            key = group.get("private")
            if isinstance(key, dict):
                public = {k: v for k, v in key.items() if k not in PRIVATE_MEMBERS}
                write(out, "jwks_document", json.dumps({"keys": [public]}).encode())
                count += 1
            for test in group.get("tests", []):
                jws = test.get("jws")
                if not isinstance(jws, str):
                    continue
                write(out, "jws_compact", jws.encode())
                count += 1
                for segment in jws.split(".")[:2]:
                    try:
                        write(out, "json_members", b64url_decode(segment))
                        count += 1
                    except ValueError:
                        pass
    print(f"fuzz seeds: {count} derived from {vectors}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
