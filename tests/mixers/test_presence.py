"""Attribute presence with allenai/dolma's semantics: an absent key is no match; a name no row holds is
reported (an error with --strict); a stale attribute file is an error."""

from __future__ import annotations

import json
import os

import yaml

from dolma.cli import main
from tests.helpers import make_docs, read_jsonl, write_docs


def sparse_corpus(root, flagged_in_first_file=False, per_file=1500):
    """Two files; ``exp__len`` in every row, ``exp__flag`` only on flagged documents (dolma's sparse
    convention): none of the first file's rows unless asked, every seventh of the second."""
    flagged = []
    for f in range(2):
        docs = make_docs(per_file, prefix=f"f{f}-")
        rows = []
        for i, doc in enumerate(docs):
            attrs = {"exp__len": [[0, len(doc["text"]), len(doc["text"].split())]]}
            if i % 7 == 0 and (f == 1 or flagged_in_first_file):
                attrs["exp__flag"] = [[0, len(doc["text"]), 1.0]]
                flagged.append(doc["id"])
            rows.append({"id": doc["id"], "attributes": attrs})
        write_docs(f"{root}/documents/{f:03d}.jsonl.gz", docs)
        write_docs(f"{root}/attributes/exp/{f:03d}.jsonl.gz", rows)
    return flagged


def run(root, exclude, *args):
    stream = {
        "name": "s",
        "documents": [f"{root}/documents/*.jsonl.gz"],
        "attributes": ["exp"],
        "filter": {"exclude": exclude},
        "output": {"path": f"{root}/out"},
    }
    path = os.path.join(root, "mix.yaml")
    with open(path, "w") as fh:
        yaml.safe_dump({"streams": [stream]}, fh)
    return main(["mix", "-c", path, "--processes", "1", *args])


def kept_ids(root):
    names = sorted(n for n in os.listdir(f"{root}/out") if n.startswith("s-"))
    return {doc["id"] for name in names for doc in read_jsonl(f"{root}/out/{name}")}


def manifest(root):
    with open(f"{root}/out.manifest.json") as fh:
        return json.load(fh)["streams"][0]


def test_a_sparse_key_absent_from_the_first_file_is_no_match_not_an_error(tmp_path, capsys):
    flagged = sparse_corpus(tmp_path)
    # dolma's own test filter-by-spans.json guards with `@.dummy && ...`; exp__flag appears after 1,500 rows
    assert run(tmp_path, ["$.attributes[?(@.exp__flag && @.exp__flag[0][2] >= 0.5)]"]) == 0
    kept = kept_ids(tmp_path)
    assert len(kept) == 3000 - len(flagged) and not kept & set(flagged)
    assert manifest(tmp_path)["unseen_attributes"] == []
    assert "note:" not in capsys.readouterr().err


def test_a_name_no_row_holds_is_reported_and_refused_with_strict(tmp_path, capsys):
    sparse_corpus(tmp_path)
    typo = ["$.attributes[?(@.dummy && @.exp__flg[0][2] >= 0.5)]"]
    assert run(tmp_path, typo) == 0
    assert len(kept_ids(tmp_path)) == 3000  # no row holds them: nothing matches, as in dolma
    assert manifest(tmp_path)["unseen_attributes"] == ["dummy", "exp__flg"]
    assert "note: no row of the stream's attribute files holds 'dummy', 'exp__flg'" in capsys.readouterr().err
    assert run(tmp_path, typo, "--strict", "--overwrite") == 2
    err = capsys.readouterr().err
    assert "streams[0]: no row of the stream's attribute files holds 'dummy', 'exp__flg'" in err and "--strict" in err


def test_a_stale_attribute_file_is_an_error_and_a_rerun_after_retagging_reads_it_again(tmp_path, capsys):
    sparse_corpus(tmp_path)
    docs = make_docs(1500, prefix="f0-")
    dense = [{"id": d["id"], "attributes": {"exp__len": [[0, 1, 1]], "exp__lang": [[0, 1, 0.9]]}} for d in docs]
    write_docs(f"{tmp_path}/attributes/exp/000.jsonl.gz", dense)
    other = make_docs(1500, prefix="f1-")
    stale = [{"id": d["id"], "attributes": {"exp__len": [[0, 1, 1]]}} for d in other]
    write_docs(f"{tmp_path}/attributes/exp/001.jsonl.gz", stale)
    assert run(tmp_path, ["$.attributes[?(@.exp__lang[0][2] < 0.5)]"]) == 2
    err = capsys.readouterr().err
    assert "streams[0].attributes[0]:" in err and "attributes/exp/001.jsonl.gz looks stale" in err
    assert "'exp__lang'" in err and "attributes/exp/000.jsonl.gz" in err
    assert not os.path.exists(f"{tmp_path}/out.manifest.json")
    retagged = [{"id": d["id"], "attributes": {"exp__len": [[0, 1, 1]], "exp__lang": [[0, 1, 0.1]]}} for d in other]
    write_docs(f"{tmp_path}/attributes/exp/001.jsonl.gz", retagged)
    assert run(tmp_path, ["$.attributes[?(@.exp__lang[0][2] < 0.5)]"]) == 0
    assert kept_ids(tmp_path) == {d["id"] for d in docs}


def test_keys_a_filter_does_not_read_are_not_judged(tmp_path):
    sparse_corpus(tmp_path)
    other = make_docs(1500, prefix="f1-")
    rows = [{"id": d["id"], "attributes": {"exp__len": [[0, 1, 1]], "exp__new": [[0, 1, 1]]}} for d in other]
    write_docs(f"{tmp_path}/attributes/exp/001.jsonl.gz", rows)
    assert run(tmp_path, ["$.attributes[?(@.exp__len[0][2] < 0)]"]) == 0
    assert len(kept_ids(tmp_path)) == 3000
