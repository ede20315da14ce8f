"""allenai/dolma config keys that used to be refused: ``tag.profile`` and jq span replacement."""

from __future__ import annotations

import yaml

from dolma.cli import main
from tests.helpers import make_docs, read_jsonl, write_docs


def test_tag_profile_section_profiles_the_run(tmp_path, capsys):
    write_docs(f"{tmp_path}/documents/000.jsonl.gz", make_docs(20))
    config = {
        "documents": [f"{tmp_path}/documents/*.gz"],
        "taggers": ["gopher_v1"],
        "processes": 2,
        "profile": {"enable": True, "sort_key": "cumulative", "lines": 40, "output": str(tmp_path / "profile.txt")},
    }
    (tmp_path / "tag.yaml").write_text(yaml.safe_dump(config))
    assert main(["-c", str(tmp_path / "tag.yaml"), "tag"]) == 0
    profile = (tmp_path / "profile.txt").read_text()
    assert "Ordered by: cumulative time" in profile and "(run)" in profile
    assert len(read_jsonl(f"{tmp_path}/attributes/gopher_v1/000.jsonl.gz")) == 20
    config["profile"]["sort_key"] = "slowest"
    (tmp_path / "tag.yaml").write_text(yaml.safe_dump(config))
    assert main(["-c", str(tmp_path / "tag.yaml"), "tag", "--overwrite"]) == 2
    assert "profile.sort_key: 'slowest' is not a pstats sort key" in capsys.readouterr().err


def test_jq_span_replacement_runs_in_the_mixer(tmp_path):
    docs = [{"id": "a", "text": "mail a@b.co now"}, {"id": "b", "text": "nothing here"}]
    rows = [{"id": "a", "attributes": {"pii": {"email": [[5, 11, 0.7]]}}}, {"id": "b", "attributes": {}}]
    write_docs(f"{tmp_path}/documents/000.jsonl.gz", docs)
    write_docs(f"{tmp_path}/attributes/pii/000.jsonl.gz", rows)
    rule = {"span": ".attributes?.pii?.email?", "syntax": "jq", "min_score": 0.5, "max_score": 0.9}
    stream = {
        "name": "s",
        "documents": [f"{tmp_path}/documents/*.gz"],
        "attributes": ["pii"],
        "span_replacement": [{**rule, "replacement": "[B-EMAIL]{}[E-EMAIL]"}],
        "output": {"path": f"{tmp_path}/out", "max_size_in_bytes": 100000},
    }
    (tmp_path / "mix.yaml").write_text(yaml.safe_dump({"streams": [stream], "processes": 1}))
    assert main(["-c", str(tmp_path / "mix.yaml"), "mix"]) == 0
    texts = [d["text"] for d in read_jsonl(f"{tmp_path}/out/s-00000.jsonl.gz")]
    assert texts == ["mail [B-EMAIL]a@b.co[E-EMAIL] now", "nothing here"]


def test_dedupe_document_dir_names_the_directory_attributes_replace(tmp_path, capsys):
    """dolma's tests/config/filepath-good.json: documents under ``pathnotd0cumentz/``, attributes beside them
    under ``attributes/<name>/``; without the key (filepath-bad.json) the same paths are refused."""
    docs = [{"id": f"d{i}", "text": f"shared paragraph\nline {i % 3}"} for i in range(6)]
    write_docs(f"{tmp_path}/data/pathnotd0cumentz/sub/000.jsonl.gz", docs)
    config = {
        "documents": [f"{tmp_path}/data/pathnotd0cumentz/*/*.gz"],
        "dedupe": {"name": "dd", "document_dir": "pathnotd0cumentz", "paragraphs": {"attribute_name": "dup"}},
        "bloom_filter": {
            "file": str(tmp_path / "f.bin"),
            "estimated_doc_count": 100,
            "desired_false_positive_rate": 1e-4,
        },
    }
    (tmp_path / "good.yaml").write_text(yaml.safe_dump(config))
    assert main(["-c", str(tmp_path / "good.yaml"), "dedupe"]) == 0
    rows = read_jsonl(f"{tmp_path}/data/attributes/dd/sub/000.jsonl.gz")
    assert [r["id"] for r in rows] == [d["id"] for d in docs]
    assert [len(r["attributes"]["dup"]) for r in rows] == [0, 1, 1, 2, 2, 2]  # the shared paragraph, then line i % 3
    del config["dedupe"]["document_dir"]
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    assert main(["-c", str(tmp_path / "bad.yaml"), "dedupe", "--overwrite"]) == 2
    assert "must contain a 'documents/' directory" in capsys.readouterr().err


def test_a_filter_larger_than_the_free_disk_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    """AI2's doc_dedupe configs estimate 6e10 documents (dolma fails to allocate 256 GiB); ours would write
    the parts to disk: refused up front, naming the size and the free space (here a disk with 512 KiB free
    and dolma's minimum filter of 1 MiB)."""
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    write_docs(f"{tmp_path}/documents/000.jsonl.gz", make_docs(5))
    config = {
        "documents": [f"{tmp_path}/documents/*.gz"],
        "dedupe": {"name": "dd", "documents": {"attribute_name": "dup", "key": "$.id"}},
        "bloom_filter": {
            "file": str(tmp_path / "f.bin"),
            "estimated_doc_count": 1000,
            "desired_false_positive_rate": 1e-6,
        },
    }
    (tmp_path / "dedupe.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(1 << 40, 0, 512 << 10))
    assert main(["-c", str(tmp_path / "dedupe.yaml"), "dedupe"]) == 2
    assert "the filter needs 1.0 MiB on disk beside" in capsys.readouterr().err
    assert not (tmp_path / "f.bin").exists() and not (tmp_path / "attributes").exists()
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(1 << 40, 0, 2 << 20))
    assert main(["-c", str(tmp_path / "dedupe.yaml"), "dedupe"]) == 0
