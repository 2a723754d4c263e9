"""Builds the Lambda package: the service core and its manylinux wheels, zipped for AWS Lambda.

    python deploy/build_lambda_package.py [--arch x86_64|arm64] [--python-version 3.12] [--out ZIP]

Only the core goes in: `tegridy_tokens/service/` without the local server (local.py, server.py),
under a `tegridy_tokens/__init__.py` of its own that imports nothing, so neither pyspark nor
aiohttp is needed. Standard library only; the wheels come from PyPI through pip.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SERVICE = REPO / "python" / "tegridy_tokens" / "service"
LOCAL_ONLY = {"local.py", "server.py", "auth.py"}  # the aiohttp server and its SigV4 check: not part of the deployed function
PLATFORMS = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}
# Lambda's limits for a function package (bytes).
MAX_ZIPPED = 50 * 1024 * 1024
MAX_UNZIPPED = 250 * 1024 * 1024
PACKAGE_INIT = '"""Tegridy Tokens, as deployed to AWS Lambda: only the service core (tegridy_tokens.service)."""\n'


def build(out: Path, arch: str = "x86_64", python_version: str = "3.12", work: Path | None = None) -> dict[str, int]:
    """Writes the zip at `out` and returns its sizes: {"zipped": bytes, "unzipped": bytes}."""
    work = work or REPO / "build" / "lambda" / f"{arch}-py{python_version}"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "--target", str(work), "--platform", PLATFORMS[arch], "--implementation", "cp",
                    "--python-version", python_version, "--only-binary=:all:",
                    "-r", str(REPO / "deploy" / "lambda-requirements.txt")], check=True)
    shutil.rmtree(work / "bin", ignore_errors=True)  # console scripts: of no use on Lambda
    package = work / "tegridy_tokens"
    package.mkdir()
    (package / "__init__.py").write_text(PACKAGE_INIT, encoding="utf-8")
    (package / "service").mkdir()
    for source in sorted(SERVICE.glob("*.py")):
        if source.name not in LOCAL_ONLY:
            shutil.copy2(source, package / "service" / source.name)
    out.parent.mkdir(parents=True, exist_ok=True)
    unzipped = 0
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in sorted(work.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(work).as_posix())
                unzipped += path.stat().st_size
    sizes = {"zipped": out.stat().st_size, "unzipped": unzipped}
    if sizes["zipped"] > MAX_ZIPPED or sizes["unzipped"] > MAX_UNZIPPED:
        raise SystemExit(f"the package is over Lambda's limits (50 MB zipped, 250 MB unzipped): {sizes}")
    return sizes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", choices=sorted(PLATFORMS), default=os.environ.get("LAMBDA_ARCH", "x86_64"))
    parser.add_argument("--python-version", default="3.12", help="the Lambda runtime's Python (default 3.12)")
    parser.add_argument("--out", type=Path, default=REPO / "dist" / "tegridy-tokens-lambda.zip")
    args = parser.parse_args()
    sizes = build(args.out, args.arch, args.python_version)
    print(f"{args.out}: {sizes['zipped'] / 1e6:.1f} MB zipped, {sizes['unzipped'] / 1e6:.1f} MB unzipped "
          f"(python {args.python_version}, {args.arch}; handler tegridy_tokens.service.handler.lambda_handler)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
