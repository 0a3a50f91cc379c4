"""The e2e workflow's answers for this runner: tests/data/e2e-answers.yaml with the runner's own
address, and the registry credentials from the environment (REGISTRY_USER, REGISTRY_PASSWORD,
REGISTRY_OWNER). Written as YAML from data (the wizard's yamlio), mode 0600: it holds a token.

    python .github/e2e/answers.py TEMPLATE ADDRESS OUTPUT
"""

from __future__ import annotations

import os
import sys

from wizard import yamlio


def answers(template: str, address: str, environ: dict[str, str]) -> dict:
    with open(template, encoding="utf-8") as stream:
        raw = yamlio.loads(stream.read())
    owner = environ["REGISTRY_OWNER"].lower()  # image names are lower case; GitHub owners need not be
    raw["network"]["public_ip"] = address
    raw["registry"].update(username=environ["REGISTRY_USER"], password=environ["REGISTRY_PASSWORD"],
                           image_prefix=f"ghcr.io/{owner}/binderhub-wizard-e2e-")
    return raw


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    template, address, output = argv
    text = yamlio.dumps(answers(template, address, dict(os.environ)))
    descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        stream.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
