"""A real two-node Ray cluster on this machine (every socket on 127.0.0.1) and an S3 API server holding the
corpus: tag (with a plugin from a temporary file) -> exact dedup -> MinHash -> mix with ``--executor ray``.
Tasks of every stage must run on both nodes, and every output must equal, byte for byte, a local run on
local files. The nodes are started by this test and stopped by it (never with ``ray stop``, which would
stop every Ray on the machine)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import yaml

from dolma import io
from tests.conftest import _free_port
from tests.helpers import write_docs

PLUGIN = '''
from dolma import Tagger, tagger


@tagger("vowels")
class Vowels(Tagger):
    """Fraction of letters that are vowels."""

    def predict(self, doc):
        letters = [c for c in doc.text.lower() if c.isalpha()]
        share = sum(c in "aeiou" for c in letters) / max(len(letters), 1)
        return {"share": [(0, len(doc.text), share)]}
'''

SECOND_NODE = """
import sys
import ray._private.services as services

# Ray 2.60 rewrites 127.0.0.1 to the machine's address; pin both lookups so this node stays on loopback.
services.resolve_ip_for_localhost = lambda address: address
services.get_node_ip_address = lambda *args, **kwargs: "127.0.0.1"
from ray.scripts.scripts import main

sys.argv = ["ray", "start", *sys.argv[1:]]
main()
"""

NODE_READY_SECONDS = 300
SLOW_MACHINE = {"RAY_agent_register_timeout_ms": "300000", "RAY_raylet_start_wait_time_s": "300"}
"""A shared 2-core machine under load starts a node's agents slowly: Ray's default waits (30 s and 60 s) then
abort the node."""


def _ray_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("RAY_")}
    env.update(RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled", **SLOW_MACHINE)
    return env


def _ahead_of_the_load() -> None:
    """Run the nodes ahead of whatever else loads this shared machine: a second node whose agents start
    slower than Ray's fixed wait for their port files (about 15 s) aborts."""
    try:
        os.nice(-5)
    except OSError:  # not root: keep the default priority
        pass


def _alive_nodes(address: str) -> int:
    probe = (
        f"import ray; ray.init(address={address!r}, log_to_driver=False); "
        "print(sum(1 for n in ray.nodes() if n['Alive']))"
    )
    env = {**_ray_env(), "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    return int(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 and out.stdout.strip() else 0


def _own_ports() -> list[str]:
    """Ports of a node's servers, free now: the defaults (e.g. 52365 for the agent) may be taken by another
    Ray on this machine."""
    names = ("node-manager", "object-manager", "dashboard-agent-listen", "metrics-export", "runtime-env-agent")
    low = _free_port()
    args = [arg for name in names for arg in (f"--{name}-port", str(_free_port()))]
    return (
        args
        + ["--dashboard-agent-grpc-port", str(_free_port()), "--min-worker-port", str(low)]
        + [
            "--max-worker-port",
            str(low + 200),
        ]
    )


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        args + ["--num-cpus", "1", "--block", "--disable-usage-stats"] + _own_ports(),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=_ahead_of_the_load,
    )


@dataclass(frozen=True)
class Cluster:
    address: str
    """The head node's GCS address."""
    node_local: str
    """A folder the head node sees on this machine's disk and the second node sees as its own empty tmpfs
    (a private mount namespace): a stand-in for a path on one node's local disk."""


def _own_mounts() -> list[str]:
    """``unshare -m`` and a tmpfs mount, for the second node's private view of ``node_local``."""
    check = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs tmpfs /mnt"], capture_output=True)
    if check.returncode != 0:
        pytest.fail(f"the second node needs a private mount namespace (unshare -m): {check.stderr.decode()[:200]}")
    return ["unshare", "-m", "sh", "-c", 'mount -t tmpfs tmpfs "$0" && exec "$@"']


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory) -> Iterator[Cluster]:
    """A head node and a second node, one CPU each, both on loopback. A second node that dies while
    starting (its agents were too slow for Ray's fixed waits) is started again."""
    root = tmp_path_factory.mktemp("ray")
    node_local = root / "node-local"
    node_local.mkdir()
    port = _free_port()
    address = f"127.0.0.1:{port}"
    ray_exe = os.path.join(os.path.dirname(sys.executable), "ray")
    head = _start(
        [ray_exe, "start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port)]
        + ["--include-dashboard", "false", "--temp-dir", str(root / "head")],
        {**_ray_env(), "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"},
    )
    nodes = [head]

    def second_node(attempt: int) -> subprocess.Popen:
        # a second node refuses to start with RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0: the lookups are pinned instead
        args = [sys.executable, "-c", SECOND_NODE, "--address", address, "--node-ip-address", "127.0.0.1"]
        mounts = _own_mounts() + [str(node_local)]
        return _start(mounts + args + ["--temp-dir", str(root / f"node2-{attempt}")], _ray_env())

    try:
        deadline = time.monotonic() + NODE_READY_SECONDS
        attempt = 0
        nodes.append(second_node(attempt))
        while _alive_nodes(address) < 2:
            if nodes[-1].poll() is not None and attempt < 3:
                attempt += 1
                nodes.append(second_node(attempt))
            if time.monotonic() > deadline or head.poll() is not None or nodes[-1].poll() is not None:
                pytest.fail("the two-node Ray cluster did not come up")
            time.sleep(2)
        yield Cluster(address, str(node_local))
    finally:
        for process in reversed(nodes):  # `ray start --block` stops its node's processes when it ends
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in reversed(nodes):
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def _corpus(root: str) -> None:
    """Six shards with repeated paragraphs (exact duplicates) and edited copies of documents (near ones)."""
    rng = random.Random(7)
    syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]
    words = sorted({"".join(rng.choice(syllables) for _ in range(rng.randint(1, 3))) for _ in range(600)})
    shared = [" ".join(rng.choice(words) for _ in range(12)) for _ in range(20)]
    originals = [" ".join(rng.choice(words) for _ in range(80)) for _ in range(30)]
    for shard in range(6):
        docs = []
        for i in range(40):
            if i % 4 == 0:
                base = originals[(shard * 7 + i) % len(originals)].split()
                base[rng.randrange(len(base))] = "edited"
                body = " ".join(base)
            else:
                body = " ".join(rng.choice(words) for _ in range(30 + i))
            text = f"{body}\n{shared[(shard + i) % len(shared)]}\n{rng.choice(shared)}"
            docs.append({"id": f"s{shard}-{i}", "text": text, "source": "web" if i % 2 else "news"})
        write_docs(f"{root}/documents/{shard:02d}.jsonl.gz", docs)


def _configs(root: str, work: str, plugin: str) -> list[tuple[str, dict]]:
    docs = [f"{root}/documents/*.jsonl.gz"]
    return [
        (
            "tag",
            {"documents": docs, "experiment": "q", "taggers": ["char_length", "vowels"], "tagger_modules": [plugin]},
        ),
        (
            "dedupe",
            {
                "documents": docs,
                "dedupe": {"name": "dup", "paragraphs": {"attribute_name": "dup_paragraphs"}},
                "bloom_filter": {"file": f"{root}/bloom.bin", "size_in_bytes": 1 << 20},
            },
        ),
        (
            "dedupe",
            {
                "documents": docs,
                "dedupe": {"name": "near"},
                "minhash": {"num_perm": 64, "threshold": 0.6, "work_dir": f"{root}/minhash-work"},
            },
        ),
        (
            "mix",
            {
                "streams": [
                    {
                        "name": "web",
                        "documents": docs,
                        "attributes": ["q", "dup", "near"],
                        "filter": {
                            "include": ["$.attributes[?(@.q__vowels__share[0][2] >= 0.3)]"],
                            "exclude": ["$.attributes[?(@.minhash_duplicate[0][2] == 1)]"],
                        },
                        "span_replacement": [{"span": "$.attributes.dup_paragraphs", "min_score": 0.5}],
                        "output": {"path": f"{root}/mix", "max_size_in_bytes": 3000},
                    }
                ]
            },
        ),
    ]


def _run(root: str, work: str, plugin: str, extra: list[str], logs: list[dict]) -> None:
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
    for step, (command, config) in enumerate(_configs(root, work, plugin)):
        path = os.path.join(work, f"{step}-{command}.yaml")
        with open(path, "w") as fh:
            yaml.safe_dump(config, fh)
        args = [sys.executable, "-m", "dolma.cli", command, "-c", path, "--log-format", "json", *extra]
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"dolma {command} failed:\n{done.stderr[-3000:]}"
        logs.append(json.loads(done.stderr.strip().splitlines()[-1]))


def _outputs(root: str) -> dict[str, bytes]:
    names = [p for p in io.list_files(root) if ("/attributes/" in p or "/mix/" in p) and "/." not in p]
    return {p[len(root) :]: io.read_bytes(p) for p in names if not p.endswith("manifest.json")}


def test_pipeline_on_two_nodes_over_s3_matches_a_local_run(tmp_path, two_nodes, s3_bucket):
    plugin = str(tmp_path / "vowels_plugin.py")
    with open(plugin, "w") as fh:
        fh.write(PLUGIN)
    local_root = str(tmp_path / "local")
    _corpus(local_root)
    (tmp_path / "work-local").mkdir()
    _run(local_root, str(tmp_path / "work-local"), plugin, ["--processes", "2"], [])

    remote_root = f"{s3_bucket}/corpus"
    for path in io.glob(f"{local_root}/documents/*.jsonl.gz"):
        io.write_stored(remote_root + path[len(local_root) :], open(path, "rb").read())
    (tmp_path / "work-ray").mkdir()
    logs: list[dict] = []
    on_ray = ["--executor", "ray", "--ray-address", two_nodes.address]
    _run(remote_root, str(tmp_path / "work-ray"), plugin, on_ray, logs)

    local, remote = _outputs(local_root), _outputs(remote_root)
    assert sum("/mix/" in name for name in local) > 1 and sorted(local) == sorted(remote)
    near = [row for name in local if "/near/" in name for row in map(json.loads, local[name].splitlines())]
    clusters = {row["attributes"]["minhash_cluster_id"][0][2] for row in near}
    assert 0 < sum(row["attributes"]["minhash_duplicate"][0][2] for row in near) < 60 and len(clusters) > 150
    assert all(local[name] == remote[name] for name in local), [n for n in local if local[n] != remote[n]]
    for log in logs:
        for stage in log["stages"]:
            if stage["tasks_run"] >= 2:
                assert len(stage["nodes"]) == 2, (log["command"], stage)
    ran = [stage["stage"] for log in logs for stage in log["stages"] if stage["tasks_run"]]
    for expected in ("tag", "mix", "mix: pack"):
        assert expected in ran


def test_an_output_on_one_nodes_local_disk_is_refused(two_nodes):
    """Outputs the second node cannot see (its own disk at that path) are refused before any task runs,
    with one line naming the folder; otherwise its workers would write where nobody finds the files."""
    root = os.path.join(two_nodes.node_local, "corpus")
    write_docs(os.path.join(root, "documents", "0.jsonl.gz"), [{"id": str(i), "text": "some words"} for i in range(8)])
    write_docs(os.path.join(root, "documents", "1.jsonl.gz"), [{"id": str(i), "text": "more words"} for i in range(8)])
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
    args = [sys.executable, "-m", "dolma.cli", "tag", "--documents", f"{root}/documents/*.jsonl.gz"]
    args += ["--experiment", "e", "--taggers", '["char_length"]']
    args += ["--executor", "ray", "--ray-address", two_nodes.address]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode != 0
    message = done.stderr.strip().splitlines()[-1]
    assert "Traceback" not in done.stderr and root in message, done.stderr[-2000:]
    assert "not visible from Ray node" in message and "shared storage or s3://" in message
    assert not os.path.exists(os.path.join(root, "attributes", "e", "0.jsonl.gz"))
