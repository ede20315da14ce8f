"""`dolma quickstart` (the README's first command) runs every step on the bundled sample, resumes, ends with a
one-screen summary naming the HTML report, and that report renders in a real browser with every plot."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from dolma import io
from dolma.cli import main

CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser") if shutil.which(name)), None)
CHECK_IMAGES = """
<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const failed = images.filter((img) => !(img.complete && img.naturalWidth > 0)).map((img) => img.alt);
  const out = document.createElement("pre");
  out.id = "image-check";
  out.textContent = JSON.stringify({ total: images.length, failed: failed });
  document.body.appendChild(out);
});
</script>
"""


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("quickstart") / "qs"
    import contextlib
    import io as pyio

    printed = pyio.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["quickstart", "--output", str(out), "--processes", "2"]) == 0
    return out, printed.getvalue()


def test_quickstart_runs_the_whole_pipeline_and_a_rerun_resumes(quickstart, capsys):
    out, printed = quickstart
    manifest = json.loads((out / "mixed.manifest.json").read_text())
    shards = io.glob(f"{out}/mixed/quickstart-*.jsonl.gz")
    assert shards
    kept = sum(1 for path in shards for line in io.read_bytes(path).splitlines() if line.strip())
    stat = json.loads((out / "stat.json").read_text())
    total = sum(source["documents"] for source in stat["sources"].values())
    assert total == 818
    assert 0 < kept < total
    (counts,) = [stream["counts"] for stream in manifest["streams"]]
    assert counts["in"]["documents"] == total
    assert counts["written"]["documents"] == counts["kept"]["documents"] == kept
    assert kept + sum(d["documents"] for d in counts["dropped"].values()) == total
    mixed_before = {p: open(p, "rb").read() for p in shards}
    capsys.readouterr()
    assert main(["quickstart", "--output", str(out), "--processes", "2"]) == 0
    assert "0 shard(s) done, 3 skipped" in capsys.readouterr().err
    assert {p: open(p, "rb").read() for p in io.glob(f"{out}/mixed/quickstart-*.jsonl.gz")} == mixed_before


def test_quickstart_ends_with_a_one_screen_summary_naming_the_report(quickstart):
    out, printed = quickstart
    tail = printed[printed.index("quickstart done:") :].rstrip().splitlines()
    assert len(tail) <= 24 and all(len(line.replace(str(out), "<out>")) <= 100 for line in tail), tail
    assert tail[-1].endswith(f"{out}/report.html") and (out / "report.html").exists()
    assert any(re.search(r"mix quickstart: kept [\d,]+ of 818 documents", line) for line in tail)
    preview = json.loads((out / "stat.json").read_text())["preview"]
    assert [rule["rule"] for rule in preview["streams"][0]["rules"]][:4] == [f"filter.exclude[{i}]" for i in range(4)]


def _loaded_images(page: Path, tmp_path: Path) -> dict:
    """Open ``page`` in headless Chromium with a script of ours that reports which images loaded."""
    checked = tmp_path / f"checked-{page.name}"
    checked.write_text(page.read_text().replace("</body>", CHECK_IMAGES + "</body>"))
    dom = _chromium(tmp_path, "--dump-dom", "--virtual-time-budget=10000", checked.as_uri())
    found = re.search(r'<pre id="image-check">(.*?)</pre>', dom)
    assert found, dom[-500:]
    return json.loads(found.group(1).replace("&quot;", '"'))


def _chromium(tmp_path: Path, *args: str) -> str:
    assert CHROMIUM is not None
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'chromium-profile'}"]  # fmt: skip
    run = subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install chromium)")
def test_the_quickstart_report_renders_every_plot_in_chromium(quickstart, tmp_path):
    out, _ = quickstart
    report = out / "report.html"
    result = _loaded_images(report, tmp_path)
    stat = json.loads((out / "stat.json").read_text())
    distributions = [s["tokens_per_document"] for s in stat["sources"].values()] + list(stat["attributes"].values())
    expected = sum(bool(d.get("histogram")) for d in distributions) + len(stat["preview"]["streams"])
    assert expected > 30  # an attribute no document has (e.g. credit_card on the sample) has nothing to plot
    assert result == {"total": expected, "failed": []}
    screenshot = tmp_path / "report.png"
    _chromium(tmp_path, f"--screenshot={screenshot}", "--window-size=1280,2400", report.as_uri())
    data = screenshot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 50_000
    if os.environ.get("DOLMA_SAVE_SCREENSHOT"):  # how docs/quickstart-report.png is made
        shutil.copy(screenshot, os.environ["DOLMA_SAVE_SCREENSHOT"])


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install chromium)")
def test_the_image_check_sees_a_broken_plot(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text(
        '<html><body><img alt="good" src="data:image/svg+xml;base64,'
        'PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIHdpZHRoPSIxMCIgaGVpZ2h0PSIxMCIvPg==">'
        '<img alt="broken" src="data:image/svg+xml;base64,PHN2Zw"></body></html>'
    )
    assert _loaded_images(page, tmp_path) == {"total": 2, "failed": ["broken"]}
