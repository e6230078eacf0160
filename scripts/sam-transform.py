#!/usr/bin/env python3
"""Print the SAM-transformed template.yaml as JSON: what `sam deploy` would hand CloudFormation.

Uses aws-sam-translator through cfn-lint's offline transform (no AWS call: cfn-lint ships the managed
policy map). Usage: scripts/sam-transform.py template.yaml [Stage=production ...] > transformed.json
Parameters given as Name=Value are passed to the transform (SAM resolves a few, e.g. AutoPublishAlias).
"""
import json
import sys

try:
    from cfnlint.decode import decode
    from cfnlint.template.transforms._sam import Transform
except ImportError:
    sys.stderr.write("sam-transform: cfn-lint is missing: pip install 'cfn-lint==1.51.0' 'aws-sam-translator==1.110.0'\n")
    sys.exit(3)


def main(argv):
    if len(argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    path = argv[1]
    template, matches = decode(path)
    if matches:
        for m in matches:
            sys.stderr.write(f"sam-transform: {m}\n")
        return 1
    params = dict(a.split("=", 1) for a in argv[2:])
    t = Transform(path, template, "us-east-1")
    t._parameters = params  # pylint: disable=protected-access
    errors = t.transform_template()
    if errors:
        for m in errors:
            sys.stderr.write(f"sam-transform: {m}\n")
        return 1
    json.dump(t.template(), sys.stdout, indent=1, sort_keys=True, default=str)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
