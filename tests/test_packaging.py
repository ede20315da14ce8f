"""The installed distribution puts nothing at the top level of site-packages but `dolma` (issue: a generic
`configs` or `taggers` package there collides with anything else installed)."""

import pathlib
import subprocess
import sys
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_wheel_installs_only_the_dolma_package(tmp_path: pathlib.Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"dolma"}
    # the repository's top-level folders are inside it, with their data files
    assert "dolma/taggers/gopher.py" in names
    assert "dolma/mixers/run.py" in names
    assert "dolma/taggers/resources/lid.176.ftz" in names
    assert "dolma/configs/mixes/olmo-mix-1124.yaml" in names
    bundled = {name.split("/", 2)[2] for name in names if name.startswith("dolma/configs/") and "." in name}
    shipped = {str(p.relative_to(ROOT / "configs")) for p in (ROOT / "configs").rglob("*") if p.is_file()}
    assert {name for name in shipped if "__pycache__" not in name} <= bundled  # every bundled config ships
    assert any(name.startswith("dolma/configs/sample/documents/") for name in names)
