"""`dolma quickstart` (the README's first command) runs every step on the bundled sample and resumes."""

from __future__ import annotations

import json

from dolma import io
from dolma.cli import main


def test_quickstart_runs_the_whole_pipeline_and_a_rerun_resumes(tmp_path, capsys):
    out = tmp_path / "qs"
    assert main(["quickstart", "--output", str(out), "--processes", "2"]) == 0
    manifest = json.loads((out / "mixed" / "manifest.json").read_text())
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
