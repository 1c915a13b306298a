"""The kind end-to-end run's order, logs, diagnostics and tear-down, over stand-in scripts."""

from __future__ import annotations

from pathlib import Path

import pytest

from microshop_ci.cluster import flow

STEPS = (
    "kind-up",
    "install-cluster-addons",
    "build-images",
    "mesh-proxy-image",
    "supply-chain",
    "kind-deploy",
    "sigstore",
    "e2e",
    "kind-diagnostics",
    "kind-down",
)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository whose scripts record their name, arguments and registry, then succeed."""
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    for name in STEPS:
        script(root, name, "exit 0")
    reports = root / "reports" / "e2e"
    monkeypatch.setattr(flow, "REPO_ROOT", root)
    monkeypatch.setattr(flow, "REPORTS", reports)
    monkeypatch.setattr(flow, "IMAGES_FILE", reports / "images.json")
    monkeypatch.setattr(flow.kind, "network_gateway", lambda: "172.18.0.1")
    # `microshop sigstore` stands in as a script too
    monkeypatch.setattr(
        flow, "microshop", lambda name, *args: (str(root / "scripts" / name), *args)
    )
    return root


def script(root: Path, name: str, body: str) -> None:
    """scripts/NAME: append `NAME ARGS | registry` to calls.log, then run body."""
    path = root / "scripts" / name
    path.write_text(
        "#!/usr/bin/env bash\n"
        f'echo "{name} $* | $MICROSHOP_REGISTRY $MICROSHOP_REGISTRY_PLAIN_HTTP"'
        f" >> {root}/calls.log\n"
        f"{body}\n"
    )
    path.chmod(0o755)


def calls(root: Path) -> list[str]:
    return (root / "calls.log").read_text().splitlines()


def test_the_upstream_run_follows_the_workflows_order_and_tears_down(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert flow.run_e2e(local=False, keep=False, pytest_args=["-k", "shop"]) == 0
    reports = repo / "reports" / "e2e"
    images = reports / "images.json"
    tail = "| kind-registry:5000 true"
    assert calls(repo) == [
        f"kind-up --node-image upstream {tail}",
        f"install-cluster-addons  {tail}",
        f"build-images --base local --push --out {images} {tail}",
        f"mesh-proxy-image --images {images} {tail}",
        f"supply-chain --mode key --images {images} --out-dir {reports}/supply-chain {tail}",
        f"kind-deploy --images {images} {tail}",
        f"sigstore up {tail}",
        f"e2e --require-cluster --junitxml {reports}/junit.xml -k shop {tail}",
        f"sigstore down {tail}",
        f"kind-down  {tail}",  # no arguments: "$*" is empty
    ]
    assert sorted(p.name for p in reports.glob("*.log")) == [
        "01-kind-up.log",
        "02-install-cluster-addons.log",
        "03-build-images.log",
        "04-mesh-proxy-image.log",
        "05-supply-chain.log",
        "06-kind-deploy.log",
        "07-sigstore.log",
        "08-e2e.log",
        "09-sigstore.log",
        "10-kind-down.log",
    ]
    out = capsys.readouterr().out.splitlines()
    assert [line.rsplit(":", 1)[0] for line in out[:-1]] == [
        f"[cluster e2e] {name}" for name in (*STEPS[:8], "sigstore", "kind-down")
    ]
    assert out[-1].startswith("[cluster e2e] passed in ")
    assert out[-1].endswith(f" s (logs: {reports})")


def test_the_local_run_adds_the_ferretdb_image_and_component(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pushed: list[Path] = []
    monkeypatch.setattr(flow.database, "database_image", pushed.append)
    run = flow.Flow(local=True, keep=True)
    run.run()
    images = repo / "reports" / "e2e" / "images.json"
    assert pushed == [images]
    assert [name for name, _ in run.timings] == [
        "kind-up",
        "install-cluster-addons",
        "build-images",
        "mesh-proxy-image",
        "ferretdb image",
        "supply-chain",
        "kind-deploy",
        "sigstore",
        "e2e",
        "sigstore",
    ]
    assert calls(repo)[0].startswith("kind-up --node-image local |")
    assert calls(repo)[5].startswith(f"kind-deploy --images {images} --component ferretdb |")


def test_a_failed_step_prints_its_log_runs_diagnostics_and_tears_down(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script(repo, "install-cluster-addons", "echo 'kyverno: webhook not ready'; exit 3")
    script(repo, "kind-diagnostics", "exit 1")
    assert flow.run_e2e(local=False, keep=False, pytest_args=[]) == 1
    reports = repo / "reports" / "e2e"
    assert [line.split()[0] for line in calls(repo)] == [
        "kind-up",
        "install-cluster-addons",
        "kind-diagnostics",
        "kind-down",
    ]
    captured = capsys.readouterr()
    assert "    kyverno: webhook not ready\n" in captured.out
    assert captured.err == (
        f"[cluster e2e] scripts/kind-diagnostics failed (exit 1; log: "
        f"{reports}/03-kind-diagnostics.log)\n"
        f"[cluster e2e] FAILED: scripts/install-cluster-addons failed (exit 3; log: "
        f"{reports}/02-install-cluster-addons.log)\n"
    )


def test_the_sigstore_and_the_tests_see_the_kind_networks_gateway(repo: Path) -> None:
    """Kyverno's pods reach the local Rekor there; the tests sign against the same address."""
    for name in ("sigstore", "e2e"):
        script(repo, name, f'echo "{name} $MICROSHOP_SIGSTORE_HOST" >> {repo}/hosts.log')
    assert flow.run_e2e(local=False, keep=False, pytest_args=[]) == 0
    assert (repo / "hosts.log").read_text().splitlines() == [
        "sigstore 172.18.0.1",
        "e2e 172.18.0.1",
        "sigstore 172.18.0.1",
    ]


def test_a_failed_e2e_run_still_stops_the_sigstore(repo: Path) -> None:
    script(repo, "e2e", "exit 1")
    assert flow.run_e2e(local=False, keep=False, pytest_args=[]) == 1
    assert [line.split()[0:2] for line in calls(repo)][-4:] == [
        ["e2e", "--require-cluster"],
        ["sigstore", "down"],
        ["kind-diagnostics", str(repo / "reports" / "e2e" / "diagnostics")],
        ["kind-down", "|"],
    ]


def test_ctrl_c_tears_down_and_exits_130(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(self: flow.Flow) -> None:
        self.script("kind-up", "--node-image", "local")
        raise KeyboardInterrupt

    monkeypatch.setattr(flow.Flow, "steps", interrupted)
    assert flow.run_e2e(local=True, keep=False, pytest_args=[]) == 130
    assert [line.split()[0] for line in calls(repo)] == ["kind-up", "kind-diagnostics", "kind-down"]
