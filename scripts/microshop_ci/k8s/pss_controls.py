"""Pod Security Standards controls, the pod-security policy and rules enforcing each, the cases.

One compliant pod is the base; every case changes it in exactly one way (`change`), so a case
proves the one rule it names. `live` adds what a real API server needs before it will accept the
object as valid at all (validation runs before Kyverno's validating webhook): for example a
privileged container must not also say `allowPrivilegeEscalation: false`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Pod = dict[str, Any]
Change = Callable[[Pod], None]

CATEGORY = "pod-security"
PSS_POLICY = "require-pod-security-standards"
PSS_RULE = "require-restricted-profile"


@dataclass(frozen=True)
class Case:
    """One resource: the compliant pod with one change, and the rules it must fail."""

    name: str
    change: Change
    fails: tuple[str, ...] = ()  # rules of its policy it fails; () means it must pass them all
    pss: bool = False  # the restricted profile itself (podSecurity) refuses it
    live: Change | None = None  # extra change a real API server needs to accept it as valid
    also: tuple[str, ...] = ()  # "policy/rule" of another control the change breaks by nature
    misses: tuple[str, ...] = ()  # kinds on which its rules cannot see the change
    pss_misses: tuple[str, ...] = ()  # kinds on which Kyverno's podSecurity cannot see it


@dataclass(frozen=True)
class Suite:
    """A pod-security policy, the Pod Security Standards controls it enforces, and its cases."""

    policy: str
    rules: tuple[str, ...]
    controls: tuple[str, ...]  # "profile: control"; () for a MicroShop rule beyond the standard
    cases: tuple[Case, ...]


def _app(pod: Pod) -> dict[str, Any]:
    container: dict[str, Any] = pod["spec"]["containers"][0]
    return container


def _ctx(pod: Pod) -> dict[str, Any]:
    context: dict[str, Any] = _app(pod)["securityContext"]
    return context


def _pod_ctx(pod: Pod) -> dict[str, Any]:
    context: dict[str, Any] = pod["spec"]["securityContext"]
    return context


def _set(target: Callable[[Pod], dict[str, Any]], **values: Any) -> Change:
    return lambda pod: target(pod).update(values)


def _spec(**values: Any) -> Change:
    return lambda pod: pod["spec"].update(values)


def _drop(target: Callable[[Pod], dict[str, Any]], key: str) -> Change:
    return lambda pod: target(pod).pop(key)


def _volume(volume: dict[str, Any]) -> Change:
    def change(pod: Pod) -> None:
        pod["spec"].setdefault("volumes", []).append({"name": "data", **volume})
        _app(pod).setdefault("volumeMounts", []).append({"name": "data", "mountPath": "/data"})

    return change


def _annotate(key: str, value: str) -> Change:
    return lambda pod: pod["metadata"].setdefault("annotations", {}).update({key: value})


def _init_rw_rootfs(pod: Pod) -> None:
    skip = ("ports", "readinessProbe", "livenessProbe", "startupProbe")  # not on init containers
    init = {k: v for k, v in _app(pod).items() if k not in skip} | {"name": "init"}
    init["securityContext"] = {**_ctx(pod), "readOnlyRootFilesystem": False}
    pod["spec"]["initContainers"] = [init]


def _both(*changes: Change) -> Change:
    def change(pod: Pod) -> None:
        for each in changes:
            each(pod)

    return change


_HOST = "169.254.169.254"  # the cloud metadata service: what a host probe would reach for
_NO_ESCALATION_FLAG = _drop(_ctx, "allowPrivilegeEscalation")

SUITES: tuple[Suite, ...] = (
    Suite("disallow-host-process", ("disallow-host-process",), ("baseline: HostProcess",), (
        Case("good-host-process-false",
             _set(_pod_ctx, windowsOptions={"hostProcess": False})),
        Case("bad-host-process", _set(_pod_ctx, windowsOptions={"hostProcess": True}),
             ("disallow-host-process",), pss=True, live=_spec(hostNetwork=True)),
    )),
    Suite("disallow-host-namespaces", ("disallow-host-namespaces",),
          ("baseline: Host Namespaces",), (
        Case("good-host-network-false", _spec(hostNetwork=False)),
        Case("bad-host-network", _spec(hostNetwork=True), ("disallow-host-namespaces",), True),
        Case("bad-host-pid", _spec(hostPID=True), ("disallow-host-namespaces",), True),
        Case("bad-host-ipc", _spec(hostIPC=True), ("disallow-host-namespaces",), True),
    )),
    Suite("disallow-privileged-containers", ("disallow-privileged-containers",),
          ("baseline: Privileged Containers",), (
        Case("good-privileged-false", _set(_ctx, privileged=False)),
        Case("bad-privileged", _set(_ctx, privileged=True), ("disallow-privileged-containers",),
             pss=True, live=_NO_ESCALATION_FLAG),
    )),
    Suite("require-drop-all", ("require-drop-all-capabilities", "restrict-added-capabilities"),
          ("baseline: Capabilities", "restricted: Capabilities"), (
        Case("good-add-net-bind-service",
             _set(_ctx, capabilities={"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]})),
        Case("bad-no-capabilities", _drop(_ctx, "capabilities"),
             ("require-drop-all-capabilities",), True),
        Case("bad-drop-net-raw-only", _set(_ctx, capabilities={"drop": ["NET_RAW"]}),
             ("require-drop-all-capabilities",), True),
        Case("bad-add-sys-admin", _set(_ctx, capabilities={"drop": ["ALL"], "add": ["SYS_ADMIN"]}),
             ("restrict-added-capabilities",), True),
        Case("bad-add-chown", _set(_ctx, capabilities={"drop": ["ALL"], "add": ["CHOWN"]}),
             ("restrict-added-capabilities",), True),
    )),
    Suite("disallow-host-path", ("disallow-host-path",), ("baseline: HostPath Volumes",), (
        Case("good-emptydir", _volume({"emptyDir": {}})),
        # A hostPath volume is also a volume type the restricted profile forbids.
        Case("bad-host-path", _volume({"hostPath": {"path": "/var/run"}}),
             ("disallow-host-path",), True, also=("restrict-volume-types/restrict-volume-types",)),
    )),
    Suite("disallow-host-ports", ("disallow-host-ports",), ("baseline: Host Ports",), (
        Case("good-host-port-zero",
             lambda pod: _app(pod)["ports"][0].update(hostPort=0)),
        Case("bad-host-port", lambda pod: _app(pod)["ports"][0].update(hostPort=8000),
             ("disallow-host-ports",), True),
    )),
    Suite("restrict-apparmor-profiles",
          ("restrict-apparmor-profile-type", "restrict-apparmor-annotations"),
          ("baseline: AppArmor",), (
        Case("good-apparmor-runtime-default",
             _set(_pod_ctx, appArmorProfile={"type": "RuntimeDefault"})),
        Case("bad-apparmor-unconfined", _set(_ctx, appArmorProfile={"type": "Unconfined"}),
             ("restrict-apparmor-profile-type",), True),
        # Kyverno v1.19's podSecurity reads a CronJob's jobTemplate metadata, not its pod
        # template's, so it misses this annotation there; the named rule does not.
        Case("bad-apparmor-annotation",
             _annotate("container.apparmor.security.beta.kubernetes.io/app", "unconfined"),
             ("restrict-apparmor-annotations",), True, pss_misses=("CronJob",)),
    )),
    Suite("restrict-selinux-options", ("restrict-selinux-options",), ("baseline: SELinux",), (
        Case("good-selinux-container-type",
             _set(_ctx, seLinuxOptions={"type": "container_t", "level": "s0:c123,c456"})),
        Case("bad-selinux-type", _set(_ctx, seLinuxOptions={"type": "spc_t"}),
             ("restrict-selinux-options",), True),
        Case("bad-selinux-user", _set(_ctx, seLinuxOptions={"user": "system_u"}),
             ("restrict-selinux-options",), True),
        Case("bad-selinux-role", _set(_pod_ctx, seLinuxOptions={"role": "system_r"}),
             ("restrict-selinux-options",), True),
    )),
    Suite("require-default-proc-mount", ("require-default-proc-mount",),
          ("baseline: /proc Mount Type", "restricted: /proc Mount Type"), (
        Case("good-proc-mount-default", _set(_ctx, procMount="Default")),
        Case("bad-proc-mount-unmasked", _set(_ctx, procMount="Unmasked"),
             ("require-default-proc-mount",), pss=True, live=_spec(hostUsers=False)),
    )),
    Suite("require-seccomp-runtimedefault", ("require-seccomp-runtimedefault",),
          ("baseline: Seccomp", "restricted: Seccomp"), (
        Case("good-container-seccomp", _both(
            _drop(_pod_ctx, "seccompProfile"),
            _set(_ctx, seccompProfile={"type": "RuntimeDefault"}))),
        Case("bad-no-seccomp", _drop(_pod_ctx, "seccompProfile"),
             ("require-seccomp-runtimedefault",), True),
        Case("bad-unconfined", _set(_ctx, seccompProfile={"type": "Unconfined"}),
             ("require-seccomp-runtimedefault",), True),
        # The standard allows Localhost; MicroShop installs no profiles on nodes, so it does not.
        Case("bad-seccomp-localhost",
             _set(_ctx, seccompProfile={"type": "Localhost", "localhostProfile": "audit.json"}),
             ("require-seccomp-runtimedefault",), pss=False),
    )),
    Suite("restrict-sysctls", ("restrict-sysctls",), ("baseline: Sysctls",), (
        Case("good-safe-sysctls", _set(_pod_ctx, sysctls=[
            {"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"},
            {"name": "net.ipv4.tcp_keepalive_time", "value": "600"}])),
        Case("bad-unsafe-sysctl", _set(_pod_ctx, sysctls=[{"name": "kernel.msgmax", "value": "1"}]),
             ("restrict-sysctls",), True),
    )),
    Suite("disallow-host-probes", ("disallow-probe-and-hook-hosts",),
          ("baseline: Host Probes / Lifecycle Hooks",), (
        Case("good-probe-without-host",
             lambda pod: _app(pod).update(livenessProbe={"tcpSocket": {"port": 8000}})),
        Case("bad-probe-host",
             lambda pod: _app(pod)["readinessProbe"]["httpGet"].update(host=_HOST),
             ("disallow-probe-and-hook-hosts",), True),
        Case("bad-lifecycle-host", lambda pod: _app(pod).update(lifecycle={
            "preStop": {"httpGet": {"host": _HOST, "path": "/", "port": 80}}}),
             ("disallow-probe-and-hook-hosts",), True),
    )),
    Suite("restrict-volume-types", ("restrict-volume-types",), ("restricted: Volume Types",), (
        Case("good-core-volumes", _both(
            _volume({"persistentVolumeClaim": {"claimName": "data"}}),
            lambda pod: pod["spec"]["volumes"].extend([
                {"name": "tmp", "emptyDir": {}},
                {"name": "config", "configMap": {"name": "config"}},
                {"name": "token", "projected": {"sources": [
                    {"serviceAccountToken": {"path": "token", "audience": "microshop"}}]}},
            ]))),
        Case("bad-nfs-volume", _volume({"nfs": {"server": "nfs.example.invalid", "path": "/"}}),
             ("restrict-volume-types",), True),
    )),
    Suite("disallow-privilege-escalation", ("disallow-privilege-escalation",),
          ("restricted: Privilege Escalation",), (
        Case("bad-escalation-true", _set(_ctx, allowPrivilegeEscalation=True),
             ("disallow-privilege-escalation",), True),
        Case("bad-escalation-unset", _NO_ESCALATION_FLAG,
             ("disallow-privilege-escalation",), True),
    )),
    Suite("require-run-as-nonroot", ("require-run-as-nonroot", "disallow-root-user"),
          ("restricted: Running as Non-root", "restricted: Running as Non-root user"), (
        Case("good-container-level-nonroot", _drop(_pod_ctx, "runAsNonRoot")),
        Case("bad-no-runasnonroot", _both(_drop(_pod_ctx, "runAsNonRoot"),
                                          _drop(_ctx, "runAsNonRoot")),
             ("require-run-as-nonroot",), True),
        Case("bad-runasnonroot-false", _set(_ctx, runAsNonRoot=False),
             ("require-run-as-nonroot",), True),
        Case("bad-runasuser-zero", _set(_ctx, runAsUser=0), ("disallow-root-user",), True),
        Case("bad-pod-runasuser-zero", _both(_set(_pod_ctx, runAsUser=0),
                                             _drop(_ctx, "runAsUser")),
             ("disallow-root-user",), True),
    )),
    Suite("require-ro-rootfs", ("require-ro-rootfs",), (), (
        Case("bad-rw-rootfs", _set(_ctx, readOnlyRootFilesystem=False), ("require-ro-rootfs",)),
        Case("bad-init-rw-rootfs", _init_rw_rootfs, ("require-ro-rootfs",)),
    )),
    Suite("require-requests-limits", ("require-requests-limits",), (), (
        Case("bad-no-limits", lambda pod: _app(pod)["resources"].pop("limits"),
             ("require-requests-limits",)),
        Case("bad-no-resources", lambda pod: _app(pod).pop("resources"),
             ("require-requests-limits",)),
    )),
)  # fmt: skip
