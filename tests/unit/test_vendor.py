"""The front-end build has one place (scripts/vendor.sh, run as `npm run vendor`), and the production image
runs it: every vendored file a page loads is produced in the Dockerfile (issue 12 #12).

The image once copied Leaflet by hand and forgot Geoman, so the editor could not work in docker-compose.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from server.config import PROJECT_ROOT

WEB = PROJECT_ROOT / "server" / "web"
_VENDOR_REF = re.compile(r"vendor/([A-Za-z0-9_@./-]+\.(?:js|css|png|svg))")


def _referenced() -> set[str]:
    """Vendored files the templates and scripts load (paths under static/vendor/)."""
    found = set()
    for path in [*WEB.glob("templates/*.html"), *WEB.glob("static/js/*.js")]:
        found.update(_VENDOR_REF.findall(path.read_text(encoding="utf-8")))
    return found


def _dockerfile_steps() -> list[str]:
    text = (PROJECT_ROOT / "Dockerfile").read_text(encoding="utf-8")
    return [re.sub(r"\s+", " ", step).strip() for step in re.sub(r"\\\n", " ", text).splitlines()
            if step.strip() and not step.lstrip().startswith("#")]


def test_the_templates_load_leaflet_geoman_and_vectorgrid():
    referenced = _referenced()
    assert {"leaflet/leaflet.js", "leaflet/leaflet.css", "geoman/leaflet-geoman.min.js",
            "vectorgrid/Leaflet.VectorGrid.bundled.min.js"} <= referenced


def test_every_vendored_package_is_a_pinned_dependency():
    """What scripts/vendor.sh copies from node_modules is installed by `npm ci`, at one exact version."""
    script = (PROJECT_ROOT / "scripts" / "vendor.sh").read_text(encoding="utf-8")
    copied = set(re.findall(r"node_modules/((?:@[^/\s]+/)?[^/\s]+)/", script))
    assert {"leaflet", "@geoman-io/leaflet-geoman-free", "leaflet.vectorgrid"} <= copied
    dependencies = json.loads((PROJECT_ROOT / "package.json").read_text(encoding="utf-8"))["dependencies"]
    lock = json.loads((PROJECT_ROOT / "package-lock.json").read_text(encoding="utf-8"))["packages"]
    for package in copied:
        assert re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+", dependencies.get(package, "")), f"{package} is not pinned"
        assert lock[f"node_modules/{package}"]["version"] == dependencies[package], f"{package}: lock differs"


def test_one_build_called_by_npm_the_makefile_and_the_dockerfile():
    scripts = json.loads((PROJECT_ROOT / "package.json").read_text(encoding="utf-8"))["scripts"]
    assert "scripts/vendor.sh" in scripts["vendor"]
    makefile = (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")
    target = re.search(r"^vendor:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert target and re.search(r"npm run .*vendor", target.group(1)), "make vendor must run `npm run vendor`"
    assert "cp " not in target.group(1), "the Makefile must not keep its own copy list"
    steps = _dockerfile_steps()
    at = {name: next((i for i, s in enumerate(steps) if s.startswith(name)), -1)
          for name in ("RUN npm ci", "COPY server", "COPY scripts")}
    vendor = next((i for i, s in enumerate(steps) if s.startswith("RUN") and re.search(r"npm run .*vendor", s)), -1)
    assert vendor >= 0, "the Dockerfile must run `npm run vendor`"
    assert min(at.values()) >= 0 and vendor > max(at.values()), f"npm run vendor must come after {at}"


def test_the_build_produces_every_file_the_pages_load(tmp_path):
    """Run the one build into a folder: each file a page loads, and each file their CSS points at, is there."""
    env = {**os.environ, "VENDOR_DIR": str(tmp_path)}
    subprocess.run(["sh", str(PROJECT_ROOT / "scripts" / "vendor.sh")], check=True, env=env, capture_output=True)
    missing = sorted(f for f in _referenced() if not (tmp_path / f).is_file())
    assert not missing, f"vendored files the pages load but the build does not produce: {missing}"
    for css in tmp_path.rglob("*.css"):
        # Files the stylesheets point at (Leaflet's marker and layer icons); inline data: URLs need nothing.
        for url in re.findall(r"url\(['\"]?([A-Za-z0-9_./-]+\.(?:png|svg|gif|jpg|woff2?))['\"]?\)",
                              css.read_text(encoding="utf-8")):
            assert (css.parent / Path(url)).is_file(), f"{css.name} needs {url}"
