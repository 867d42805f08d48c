"""deploy/kubernetes/ as a user applies it: valid for Kubernetes, and run for real with `podman kube play`.

The pod is played from copies of the same parsed objects (harness/kube.py says
what differs and why), on a claim played once, published on 127.0.0.1.
"""

import os
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import kubernetes_validate
import pytest
import requests
import yaml

from harness import ROOT
from harness.image import app_version
from harness.kube import (
    CACHE_PATH,
    KUSTOMIZATION,
    MANIFESTS,
    Played,
    PlayedReplicated,
    find,
    ingress_nginx_site,
    kustomization,
    load,
    manifest_files,
    pod_infrastructure,
    pod_spec,
    podman_image,
    remove_pod_infrastructure,
)
from harness.podman import podman
from harness.proxy import NGINX_CACHE, nginx_main_conf
from testkit import runs
from testkit.objectstore import ObjectStore
from testkit.ports import free_port
from testkit.replica import ReplicatedSite
from testkit.samples import png, publish_with_photos
from testkit.site import Lab
from testkit.waiting import wait_for
from testkit.web import TIMEOUT, plain_session
from tests.deploy.kube_played import SUITE, PlayedSite, play, sweep

# The oldest Kubernetes the manifests promise to fit, and the newest the validator knows.
KUBERNETES_VERSIONS = ["1.28.0", kubernetes_validate.latest_version()]
# Not part of the kustomization: the controller's own settings, and the Secret
# (created once by hand, so `kubectl apply -k` never restores its placeholder).
APPLIED_APART = {"ingress-nginx-settings.yaml", "secret.yaml"}
MEBIBYTE = 1024 * 1024
# About a second of micro-cache, plus room for a busy machine.
CACHE_FRESH_TIMEOUT = 5.0
OWNER_MARKER = "Sign out"
MEDIA = re.compile(r"/media/[0-9a-f]{32}\.png")


@pytest.fixture(scope="module")
def podman_ready() -> Iterator[tuple[str, dict[str, str]]]:
    """Copy the image under test into Podman; return its name there and this run's labels. Remove what the run made."""
    run = runs.run_id()
    sweep()
    infrastructure = pod_infrastructure()
    image, copied = podman_image(os.environ.get("STARPUNK_IMAGE", f"starpunk:{app_version()}"))
    try:
        yield image, runs.labels(SUITE, run)
    finally:
        sweep(run)
        if copied:
            podman("rmi", image, check=False)
        remove_pod_infrastructure(infrastructure)


@pytest.fixture(scope="module")
def played(podman_ready: tuple[str, dict[str, str]], tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlayedSite]:
    """StarPunk played from the manifests, with a fresh value for each key secret.yaml holds."""
    fresh = {key: secrets.token_hex(32) for key in find("Secret")["stringData"]}
    with play(*podman_ready, tmp_path_factory.mktemp("kube"), fresh) as site:
        yield site


# The manifests as Kubernetes reads them.


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("path", manifest_files(), ids=lambda path: path.name)
def test_manifest_is_valid_kubernetes(path: Path, version: str) -> None:
    """Every object in every manifest passes the Kubernetes schemas offline, strictly (no unknown field)."""
    objects = load(path)
    assert objects, f"{path.name} holds no object"
    for obj in objects:
        kubernetes_validate.validate(obj, version, strict=True)


@pytest.mark.parametrize(
    "path, value",
    [
        (["spec", "replicas"], "one"),
        (["spec", "template", "spec", "containers", 0, "ports", 0, "containerPort"], "8000"),
        (["spec", "template", "spec", "containers", 0, "securityContext", "readOnlyRootFileSystem"], True),
    ],
    ids=["replicas-as-text", "port-as-text", "misspelt-field"],
)
def test_validation_refuses_a_broken_deployment(path: list, value: object) -> None:
    """The same check fails a Deployment with a text where a number belongs, or a misspelt field."""
    broken = find("Deployment")
    target = broken
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[-1], strict=True)


def test_kustomization_renders_every_manifest() -> None:
    """`kubectl kustomize` renders exactly the objects of the listed files, valid, with the image of this release."""
    listed = kustomization()["resources"]
    assert sorted(listed) == sorted(path.name for path in manifest_files() if path.name not in APPLIED_APART)
    rendered = subprocess.run(["kubectl", "kustomize", str(MANIFESTS)], capture_output=True, text=True, check=False)
    assert rendered.returncode == 0, rendered.stderr
    objects = [obj for obj in yaml.safe_load_all(rendered.stdout) if obj]
    expected = {(obj["kind"], obj["metadata"]["name"]) for name in listed for obj in load(MANIFESTS / name)}
    assert {(obj["kind"], obj["metadata"]["name"]) for obj in objects} == expected
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSIONS[-1], strict=True)
    (deployment,) = [obj for obj in objects if obj["kind"] == "Deployment"]
    images = {container["image"] for container in pod_spec(deployment)["containers"]}
    assert images == {f"starpunk:{app_version()}"}, f"{KUSTOMIZATION.name} and deployment.yaml should name this release"


def test_settings_are_starpunks_and_enough_for_production() -> None:
    """The ConfigMap and Secret set every setting .env.example documents (but two), and production's as it requires."""
    documented = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if re.match(r"^[A-Z_]+=", line)
    }
    settings = find("ConfigMap", "starpunk-settings")["data"]
    secret = find("Secret")["stringData"]
    assert set(secret) == {"SESSION_SECRET"}, "the Secret holds the one secret setting"
    given = set(settings) | set(secret)
    # DEV_MODE is refused in production; the image sets VERSION.
    expected = documented - {"DEV_MODE", "VERSION"}
    assert given == expected, (
        f"configmap.yaml lacks {sorted(expected - given)} and has unknown {sorted(given - expected)}"
    )
    assert (
        settings["ENVIRONMENT"] == "production" and settings["SITE_URL"].startswith("https://") and settings["ADMIN_ME"]
    )
    assert settings["DATA_PATH"] == "/data" and settings["TRUSTED_PROXIES"] == "1"


def _changes(before: object, after: object, path: str = "") -> set[str]:
    """Return the paths (a.b.0.c) where two parsed YAML trees differ."""
    if isinstance(before, dict) and isinstance(after, dict):
        return {
            change
            for key in before.keys() | after.keys()
            for change in _changes(before.get(key), after.get(key), f"{path}.{key}")
        }
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return {
            change
            for index, pair in enumerate(zip(before, after, strict=True))
            for change in _changes(*pair, f"{path}.{index}")
        }
    return set() if before == after else {path.lstrip(".")}


def test_played_copy_differs_only_where_podman_needs() -> None:
    """The played Deployment and ConfigMap are the user's.

    They differ only in names, labels, the image, the published port and the refs.
    """
    plan = Played("starpunk-kube-check", "localhost/starpunk:test", 18000, {runs.LABEL: SUITE})
    settings, deployment = yaml.safe_load_all(plan.pod_yaml())
    assert _changes(find("ConfigMap", "starpunk-settings"), settings) == {
        "metadata.name",
        f"metadata.labels.{runs.LABEL}",
    }
    container = "spec.template.spec.containers.0"
    assert _changes(find("Deployment"), deployment) == {
        "metadata.name",
        f"metadata.labels.{runs.LABEL}",
        f"spec.template.metadata.labels.{runs.LABEL}",
        f"{container}.image",
        f"{container}.ports.0.hostIP",
        f"{container}.ports.0.hostPort",
        f"{container}.envFrom.0.configMapRef.name",
        f"{container}.envFrom.1.secretRef.name",
        f"{container}.volumeMounts.0.name",
        f"{container}.volumeMounts.1.name",
        "spec.template.spec.volumes.0.name",
        "spec.template.spec.volumes.0.persistentVolumeClaim.claimName",
        "spec.template.spec.volumes.1.name",
    }
    (claim,) = yaml.safe_load_all(plan.claim_yaml())
    assert _changes(find("PersistentVolumeClaim"), claim) == {"metadata.name", f"metadata.labels.{runs.LABEL}"}


# The pod Podman plays from them.


def test_runtime_is_what_the_security_context_asks(played: PlayedSite) -> None:
    """The running container has the user, read-only root, capabilities, privileges and limits the manifest asks for."""
    spec = pod_spec(find("Deployment"))
    container = spec["containers"][0]
    asked = {**spec["securityContext"], **container["securityContext"]}
    attrs = played.inspect()
    host = attrs["HostConfig"]
    assert attrs["Config"]["User"] == f"{asked['runAsUser']}:{asked['runAsGroup']}"
    assert played.run("python3", "-c", "import os; print(os.getuid())").strip() == str(asked["runAsUser"])
    assert host["ReadonlyRootfs"] is asked["readOnlyRootFilesystem"] is True
    assert asked["capabilities"]["drop"] == ["ALL"]
    proc_status = played.run("python3", "-c", "print(open('/proc/1/status').read())")
    status = dict(line.split(":\t", 1) for line in proc_status.splitlines() if ":\t" in line)
    assert int(status["CapEff"], 16) == int(status["CapBnd"], 16) == 0, "every capability dropped"
    assert asked["allowPrivilegeEscalation"] is False and status["NoNewPrivs"] == "1"
    assert status["Seccomp"] == "2", "a seccomp filter applies"
    code, _, error = played.exec("python3", "-c", "open('/root-is-read-only', 'w')")
    assert code != 0 and "Read-only file system" in error
    played.run("python3", "-c", "open('/tmp/scratch', 'w'); open('/data/.written', 'w')")
    limits = container["resources"]["limits"]
    assert host["Memory"] == int(limits["memory"].removesuffix("Mi")) * MEBIBYTE
    assert host["NanoCpus"] == int(float(limits["cpu"]) * 1e9)
    assert host["MemoryReservation"] == int(container["resources"]["requests"]["memory"].removesuffix("Mi")) * MEBIBYTE
    bindings = [binding for mapped in attrs["NetworkSettings"]["Ports"].values() for binding in mapped or []]
    assert bindings == [{"HostIp": "127.0.0.1", "HostPort": str(played.port)}]


def test_probes_answer_where_they_point(played: PlayedSite) -> None:
    """Each probe's path and port answers 200 from the running pod (Podman itself does not run them)."""
    container = pod_spec(find("Deployment"))["containers"][0]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    probes = {name: container[name]["httpGet"] for name in ("startupProbe", "readinessProbe", "livenessProbe")}
    for name, probe in probes.items():
        assert ports.get(probe["port"], probe["port"]) == 8000, f"{name} should probe the app's port"
        reply = played.get(probe["path"])
        assert reply.status_code == 200 and reply.json()["status"] == "healthy", (
            f"{name}: {reply.status_code} {reply.text[:200]}"
        )


def test_what_podman_leaves_out(played: PlayedSite) -> None:
    """What the guide says Podman 4.3 does not apply.

    The grace period, the readiness and startup probes, and a usable liveness check.
    """
    spec = pod_spec(find("Deployment"))
    config = played.inspect()["Config"]
    assert config["StopTimeout"] != spec["terminationGracePeriodSeconds"], (
        "Podman now applies terminationGracePeriodSeconds: update the guide"
    )
    check = " ".join(config["Healthcheck"]["Test"])
    assert "curl" in check, f"Podman turned the livenessProbe into {check!r}: update the guide"
    places = "/bin/curl", "/usr/bin/curl", "/usr/local/bin/curl", "/opt/venv/bin/curl"
    found = played.run("python3", "-c", "import os, sys; print(*filter(os.path.lexists, sys.argv[1:]))", *places)
    assert found.strip() == "", "the image has no curl, so Podman's version of the livenessProbe cannot pass"


def test_note_survives_kube_down_and_play(played: PlayedSite) -> None:
    """A note published as the owner is still there after `podman kube down` and a new `kube play` on the same claim."""
    text = f"Kept by the claim {uuid.uuid4().hex[:8]}."
    slug = played.sign_in().publish(text)
    assert text in played.get(f"/note/{slug}").text
    played.down()
    volumes = podman("volume", "ls", "--format", "{{.Name}}").stdout.split()
    assert played.played.claim_name in volumes, "kube down must leave the claim's volume"
    played.start()
    assert text in played.get(f"/note/{slug}").text
    assert slug in played.sign_in().notes()


def test_the_replicated_pod_restores_the_bucket_before_it_serves(
    podman_ready: tuple[str, dict[str, str]],
    lab: Lab,
    objectstore: ObjectStore,
    sidecar_image: str,
    tmp_path: Path,
) -> None:
    """deploy/kubernetes-replication/ played on an empty claim: the restore init container brings back a site from
    the bucket (a note and its photo, written by a site whose volume is gone), the pod serves it and replicates on."""
    path = f"kube-{secrets.token_hex(4)}"
    lost = ReplicatedSite(lab, sidecar_image, objectstore, path).start()
    assert lost.site is not None
    content = f"Written before the machine was lost ({secrets.token_hex(3)})"
    photo = png(40, 30, (120, 60, 200))
    publish_with_photos(lost.site.sign_in(), content, [(photo, content)])
    lost.wait_replicated()
    lost.destroy()

    sidecar, copied = podman_image(sidecar_image)

    def replicated_plan(name: str, image: str, port: int, labels: dict[str, str]) -> Played:
        return PlayedReplicated(name, image, port, labels, sidecar, objectstore.litestream_env(path))

    fresh = {key: secrets.token_hex(32) for key in find("Secret")["stringData"]}
    try:
        with play(*podman_ready, tmp_path, fresh, plan_of=replicated_plan) as site:
            restore = site.podman("logs", f"{site.played.name}-pod-0-restore", check=False)
            said = site.logs()
            assert "restored this site from a copy of its database" in said, f"{said}\nrestore: {restore.stderr}"
            home = site.get("/").text
            assert content in home
            (media,) = set(MEDIA.findall(home))
            assert site.get(media).content == photo, "the restored photo's bytes differ"
            wait_for(
                lambda: site.get("/health").json().get("replication", {}).get("status"),
                "the played sidecar's replica ok",
                30,
                0.2,
                lambda status: status == "ok",
            )
    finally:
        if copied:
            podman("rmi", sidecar, check=False)


def test_the_secret_placeholder_is_refused(podman_ready: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    """Played with secret.yaml's placeholder as it is, the app stops with the line the guide quotes."""
    placeholder = find("Secret")["stringData"]
    with play(*podman_ready, tmp_path, placeholder, wait=False) as site:
        site.wait_for_log("SESSION_SECRET must be set to at least 32 characters in production")
        # The Deployment's restartPolicy is Always: Podman starts it again, as a cluster would (CrashLoopBackOff).
        site.wait_state("Podman to restart the app after it stopped", lambda state: state["RestartCount"] >= 1)


# The example Ingress's rules, in nginx, in front of the played pod.


@pytest.fixture(scope="module")
def ingress(played: PlayedSite) -> Iterator[str]:
    """Run Debian's nginx on 127.0.0.1 with ingress.yaml's locations and annotations; return its base URL."""
    # Not under pytest's 0700 folders: nginx's workers (nobody) must reach the cache.
    workdir = Path(tempfile.mkdtemp(prefix="starpunk-kube-nginx-"))
    workdir.chmod(0o755)
    (workdir / "tmp").mkdir()
    port = free_port()
    site = workdir / "starpunk.conf"
    site.write_text(
        ingress_nginx_site(
            load(MANIFESTS / "ingress.yaml"),
            find("ConfigMap", "ingress-nginx-controller"),
            f"127.0.0.1:{played.port}",
            port,
            workdir,
        )
    )
    config = workdir / "nginx.conf"
    config.write_text(nginx_main_conf(site, workdir))
    command = ["nginx", "-c", str(config), "-p", f"{workdir}/", "-e", str(workdir / "error.log")]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, f"nginx refuses the Ingress rules:\n{checked.stderr}\n{site.read_text()}"
    server = subprocess.Popen([*command, "-g", "daemon off;"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: _get(base_url, "/health").status_code,
            "nginx to answer /health",
            30,
            until=lambda code: code == 200,
            ignore=(requests.RequestException,),
        )
        yield base_url
    finally:
        server.send_signal(signal.SIGQUIT)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def _get(base_url: str, path: str, **headers: str) -> requests.Response:
    return plain_session().get(base_url + path, headers=headers, allow_redirects=False, timeout=TIMEOUT)


def _cache_status(base_url: str, path: str, **headers: str) -> str:
    return _get(base_url, path, **headers).headers.get("X-Cache-Status", "(none)")


def test_anonymous_reads_come_from_the_cache(played: PlayedSite, ingress: str) -> None:
    """Pages, feeds and static files read without a session are served from the micro-cache."""
    slug = played.sign_in().publish("A note for the cache.")
    stylesheet = next(
        line.split('href="')[1].split('"')[0]
        for line in _get(ingress, "/").text.splitlines()
        if 'rel="stylesheet"' in line
    )
    for path in ("/", f"/note/{slug}", "/feed.xml", "/feed.json", stylesheet):
        wait_for(
            lambda path=path: _cache_status(ingress, path),
            f"{path} from the cache",
            CACHE_FRESH_TIMEOUT,
            until=lambda status: status == "HIT",
        )


def test_a_new_note_shows_through_the_cache_within_seconds(played: PlayedSite, ingress: str) -> None:
    """A note published through the Ingress shows on the cached home page and feed once the copy expires."""
    wait_for(
        lambda: _cache_status(ingress, "/"),
        "the home page in the cache",
        CACHE_FRESH_TIMEOUT,
        until=lambda status: status == "HIT",
    )
    text = f"Fresh through the cache {uuid.uuid4().hex[:8]}."
    played.sign_in(ingress).publish(text)
    for path in ("/", "/feed.xml"):
        wait_for(
            lambda path=path: _get(ingress, path).text,
            f"the new note on {path}",
            CACHE_FRESH_TIMEOUT,
            until=lambda body: text in body,
        )


def test_the_owner_is_never_cached(played: PlayedSite, ingress: str) -> None:
    """With the session cookie the app answers itself, and what it answers the owner is never given to a reader."""
    owner = played.sign_in(ingress)
    for _ in range(3):
        reply = owner.get("/")
        assert reply.headers.get("X-Cache-Status") == "BYPASS" and OWNER_MARKER in reply.text
    assert OWNER_MARKER not in _get(ingress, "/").text
    assert _cache_status(ingress, "/", Authorization="Bearer not-a-token") == "BYPASS"


@pytest.mark.parametrize("path", ["/admin", "/admin/new", "/auth/login", "/micropub"])
def test_private_paths_skip_the_cache(ingress: str, path: str) -> None:
    """/admin, /auth and /micropub go to the app every time: the cache neither answers nor stores them."""
    assert [_cache_status(ingress, path) for _ in range(3)] == ["(none)"] * 3


@pytest.mark.parametrize("path", ["/health", "/indieauth/authorize", "/.well-known/oauth-authorization-server"])
def test_health_and_indieauth_bypass_the_cache(ingress: str, path: str) -> None:
    """/health and the IndieAuth endpoints, under the cached Ingress, go to the app every time."""
    assert [_cache_status(ingress, path) for _ in range(3)] == ["BYPASS"] * 3


def test_what_the_app_marks_no_cache_is_not_stored(ingress: str) -> None:
    """The unversioned stylesheet (the app says no-cache) is fetched from the app every time, never a HIT."""
    stylesheet = next(
        line.split('href="')[1].split('"')[0].split("?")[0]
        for line in _get(ingress, "/").text.splitlines()
        if 'rel="stylesheet"' in line
    )
    assert [_cache_status(ingress, stylesheet) for _ in range(3)] == ["MISS"] * 3


def _normalized(text: str) -> str:
    return " ".join(text.replace(NGINX_CACHE, CACHE_PATH).split())


CACHE_DIRECTIVES = re.compile(
    r"^\s*((?:proxy_cache(?!_path)\w*|proxy_no_cache|proxy_ignore_headers|add_header X-Cache-Status)\b[^\n]*;)", re.M
)
CACHE_MAPS = re.compile(r"^\s*(proxy_cache_path [^\n]*;|map [^{]*\{[^}]*\})", re.M)


def test_the_ingress_caches_by_the_rules_of_the_nginx_example() -> None:
    """The controller's cache zone and maps, and the snippet's cache directives, are nginx.conf.example's."""
    example = (ROOT / "nginx.conf.example").read_text()
    snippet = load(MANIFESTS / "ingress.yaml")[0]["metadata"]["annotations"][
        "nginx.ingress.kubernetes.io/configuration-snippet"
    ]
    http_snippet = find("ConfigMap", "ingress-nginx-controller")["data"]["http-snippet"]
    assert set(CACHE_DIRECTIVES.findall(snippet)) == {line for line in CACHE_DIRECTIVES.findall(example)}
    assert [_normalized(block) for block in CACHE_MAPS.findall(http_snippet)] == [
        _normalized(block) for block in CACHE_MAPS.findall(example)
    ]


def test_only_gets_are_cached(ingress: str) -> None:
    """A POST to a cached path goes to the app each time (no cache status at all)."""
    http = plain_session()
    statuses = [
        http.post(ingress + "/", data={"x": "1"}, allow_redirects=False, timeout=TIMEOUT).headers.get("X-Cache-Status")
        for _ in range(3)
    ]
    assert statuses == [None] * 3
