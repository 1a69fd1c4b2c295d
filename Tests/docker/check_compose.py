#!/usr/bin/env python3
"""Checks docker/ without a docker engine: docker/compose.yaml against the Compose Specification's JSON schema
(Tests/docker/compose-spec/compose-spec.json), then against the code it runs: pinned and supported image versions,
environment variables adworker reads, ports matching AD_HTTP_LISTEN / AD_METRICS_LISTEN and Prometheus's target, health
checks, the migrate -> roles -> worker order, what is published, secrets, the Dockerfile (stages, non-root USER, COPY
sources that exist and are not ignored), Grafana's provisioning files, and the Prometheus and Alertmanager configs
(promtool / amtool when installed).

  python3 Tests/docker/check_compose.py        (needs jsonschema and PyYAML: scripts/lib/api-venv.sh's python)

Prints one line per check ("ok: ..." or "FAIL: ...") and exits 1 when any failed. ComposeFileTests runs it.
"""
import glob
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

import jsonschema
import yaml

REPO = pathlib.Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
failures = []


def check(ok, what, detail=""):
    print(("ok: " if ok else "FAIL: ") + what + ("" if ok or not detail else f": {detail}"))
    if not ok:
        failures.append(what)
    return ok


def interpolate(value):
    """Compose's ${VAR:-default} / ${VAR-default} / ${VAR} with an empty environment, as `docker compose config` would
    resolve the file on a machine that sets none of them."""
    if isinstance(value, str):
        return re.sub(r"\$\{(\w+)(?::?-([^}]*))?\}", lambda m: m.group(2) or "", value)
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    return value


def environment(service):
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, None) for e in env)
    return {k: (None if v is None else str(v)) for k, v in env.items()}


def listen_port(value, name):
    m = re.fullmatch(r"(\[[^\]]+\]|[^:]+):(\d+)", value or "")
    check(m is not None, f"{name} is host:port", value)
    return (m.group(1), int(m.group(2))) if m else (None, None)


# ---- the schema ------------------------------------------------------------------------------------------------
raw = yaml.safe_load((DOCKER / "compose.yaml").read_text())
schema = json.loads((REPO / "Tests/docker/compose-spec/compose-spec.json").read_text())
errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(raw), key=lambda e: list(e.absolute_path))
check(not errors, "docker/compose.yaml is valid against the Compose Specification's schema",
      "; ".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors))
compose = interpolate(raw)
services = compose["services"]

# ---- images ------------------------------------------------------------------------------------------------------
dockerfile = (DOCKER / "Dockerfile").read_text()
adworker_services = [n for n, s in services.items() if (s.get("build") or {}).get("dockerfile") == "docker/Dockerfile"]
check(set(adworker_services) == {"migrate", "worker"}, "migrate and worker run the image docker/Dockerfile builds",
      adworker_services)
for name, s in services.items():
    image = s.get("image", "")
    m = re.fullmatch(r"[\w./-]+:([\w.-]+)", image)
    check(m is not None and m.group(1) != "latest", f"{name}: image {image} is pinned to a tag")

design = (REPO / "docs/design.md").read_text()
doctor = (REPO / "Sources/ADCore/Worker/Doctor.swift").read_text()
minimum = int(re.search(r"serverVersionNumber >= (\d+)0000", doctor).group(1))
for name in ("db", "roles"):
    m = re.fullmatch(r"timescale/timescaledb:(\d+)\.(\d+)\.(\d+)-pg(\d+)", services[name].get("image", ""))
    if check(m is not None, f"{name}: a timescale/timescaledb:X.Y.Z-pgN image", services[name].get("image")):
        line = f"TimescaleDB {m.group(1)}.{m.group(2)}"
        check(line in design, f"{name}: {line} is the line docs/design.md says the hypertable path is checked on")
        check(int(m.group(4)) >= minimum, f"{name}: PostgreSQL {m.group(4)} is at least the {minimum} adworker needs")
check(services["db"]["image"] == services["roles"]["image"], "roles runs psql from the database's own image")

swift = re.search(r"ARG SWIFT_VERSION=(\d+)\.(\d+)(?:\.(\d+))?", dockerfile)
tools = re.search(r"swift-tools-version:\s*(\d+)\.(\d+)", (REPO / "Package.swift").read_text())
if check(swift is not None, "Dockerfile pins ARG SWIFT_VERSION"):
    check((int(swift.group(1)), int(swift.group(2))) >= (int(tools.group(1)), int(tools.group(2))),
          f"Swift {swift.group(0).split('=')[1]} is at least Package.swift's tools version {tools.group(1)}.{tools.group(2)}")
    if shutil.which("swift"):
        local = re.search(r"Swift version (\d+)\.(\d+)", subprocess.run(["swift", "--version"], capture_output=True,
                                                                         text=True).stdout + "")
        if local:
            check(local.group(1, 2) == swift.group(1, 2),
                  f"the image's Swift {swift.group(1)}.{swift.group(2)} is the toolchain the tests build with",
                  f"{local.group(1)}.{local.group(2)}")
grafana = re.fullmatch(r"grafana/grafana(?:-oss)?:(\d+)\.\d+\.\d+", services["grafana"]["image"])
check(grafana is not None and int(grafana.group(1)) >= 11,
      "Grafana 11 or newer (its PostgreSQL data source is type grafana-postgresql-datasource)")

# ---- environment variables adworker reads -------------------------------------------------------------------------
sources = "\n".join(p.read_text() for p in (REPO / "Sources").rglob("*.swift"))
entrypoint = (DOCKER / "entrypoint.sh").read_text()
for name in adworker_services:
    for key in environment(services[name]):
        known = f'"{key}"' in sources or re.search(rf"\b{key}\b", entrypoint) is not None
        check(known, f"{name}: {key} is a variable adworker (Sources/) or its entry point reads")
        if "PASSWORD" in key:
            check(key.endswith("_FILE"), f"{name}: {key} names a secret file, not a password")
for name, s in services.items():
    for key, value in environment(s).items():
        if re.search(r"PASSWORD|SECRET|TOKEN", key):
            check(key.endswith("_FILE") and (value or "").startswith("/run/secrets/"),
                  f"{name}: {key} comes from a mounted secret", value)
        if value and re.search(r"://[^/@:]+:[^/@]+@", value):
            check(False, f"{name}: {key} carries a password in a URL", value)

# ---- ports and listeners ------------------------------------------------------------------------------------------
worker_env = environment(services["worker"])
http_host, http_port = listen_port(worker_env.get("AD_HTTP_LISTEN"), "AD_HTTP_LISTEN")
metrics_host, metrics_port = listen_port(worker_env.get("AD_METRICS_LISTEN"), "AD_METRICS_LISTEN")
check(http_host == "0.0.0.0" and metrics_host == "0.0.0.0", "the worker listens on every interface of its container")
check((metrics_host, metrics_port) == ("0.0.0.0", 9464), "AD_METRICS_LISTEN is 0.0.0.0:9464 (the plan's fixed port)")


def published(s):
    out = []
    for p in s.get("ports") or []:
        if isinstance(p, dict):
            out.append((p.get("host_ip", ""), str(p.get("published", "")), int(p["target"])))
        else:
            parts = str(p).rsplit(":", 2)
            if len(parts) == 3:
                out.append((parts[0], parts[1], int(parts[2])))
            else:
                check(False, "ports name the host address", p)
    return out


publishing = {n for n, s in services.items() if s.get("ports")}
check(publishing == {"grafana", "worker"}, "only Grafana and the worker's API and console publish ports",
      sorted(publishing))
check([t for _, _, t in published(services["worker"])] == [http_port],
      "the worker publishes exactly its AD_HTTP_LISTEN port", published(services["worker"]))
check([t for _, _, t in published(services["grafana"])] == [3000], "Grafana publishes its port 3000")
for name in publishing:
    for host, _, _ in published(services[name]):
        check(host == "127.0.0.1", f"{name} publishes on 127.0.0.1 unless AD_PUBLISH_ADDRESS says otherwise", host)
for name in services:
    check("expose" not in services[name] or name == "worker", f"{name} exposes nothing extra")

prometheus = yaml.safe_load((DOCKER / "prometheus/prometheus.yml").read_text())
jobs = {j["job_name"]: j for j in prometheus["scrape_configs"]}
targets = [t for sc in jobs.get("adworker", {}).get("static_configs", []) for t in sc["targets"]]
check(targets == [f"worker:{metrics_port}"], "Prometheus scrapes the worker's AD_METRICS_LISTEN port", targets)
check(jobs.get("adworker", {}).get("metrics_path", "/metrics") == "/metrics", "Prometheus scrapes /metrics")
health = " ".join(services["worker"].get("healthcheck", {}).get("test", []))
check(f"127.0.0.1:{metrics_port}/readyz" in health, "the worker's health check asks /readyz on the metrics port", health)

# ---- health checks, order, networks ---------------------------------------------------------------------------------
one_shot = {"migrate", "roles"}
for name, s in services.items():
    if name in one_shot:
        check(str(s.get("restart")) == "no", f"{name} runs once (restart: \"no\")")
    else:
        test = (s.get("healthcheck") or {}).get("test")
        check(bool(test) and test != ["NONE"], f"{name} has a health check")
        check(s.get("restart") == "unless-stopped", f"{name} restarts unless stopped")


def depends(a, b, condition):
    got = ((services[a].get("depends_on") or {}).get(b) or {}).get("condition")
    check(got == condition, f"{a} waits for {b} ({condition})", got)


depends("migrate", "db", "service_healthy")
depends("roles", "migrate", "service_completed_successfully")
depends("worker", "roles", "service_completed_successfully")
depends("grafana", "roles", "service_completed_successfully")
check(services["migrate"].get("command") == ["migrate"] and services["worker"].get("command") == ["run"],
      "migrate runs `adworker migrate`, worker `adworker run`")
commands = (REPO / "Sources/ADWorker/ADWorker.swift").read_text()
for sub in ("Migrate", "Run"):
    check(f"{sub}Command.self" in commands, f"adworker has the subcommand {sub.lower()}")
check(compose["networks"]["backend"].get("internal") is True, "the network backend is internal (no way out)")
for name in ("db", "migrate", "roles", "prometheus", "alertmanager", "mailpit"):
    check(services[name].get("networks") == ["backend"], f"{name} is on the internal network only")

# ---- secrets and mounts -------------------------------------------------------------------------------------------------
defined = compose.get("secrets") or {}
for name, s in services.items():
    for secret in s.get("secrets") or []:
        ref = secret if isinstance(secret, str) else secret["source"]
        check(ref in defined, f"{name}: secret {ref} is defined")
    for mount in s.get("volumes") or []:
        if isinstance(mount, str) and mount.startswith("./"):
            check((DOCKER / mount.split(":")[0]).exists(), f"{name}: {mount.split(':')[0]} exists in docker/")
for name, d in defined.items():
    check(d.get("file", "").startswith("./secrets/"), f"secret {name} is a file in docker/secrets/")
ignore = (DOCKER / "secrets/.gitignore")
check(ignore.exists() and "*" in ignore.read_text().split(), "docker/secrets/ is git-ignored")
roles_sh = (DOCKER / "db/roles.sh").read_text()
for name, var in (("worker", "DATABASE_URL"), ("worker", "AD_HTTP_DATABASE_URL")):
    user = re.match(r"postgres://([^@:]+)@db:5432/", environment(services[name])[var])
    check(user is not None and f"('{user.group(1)}', " in roles_sh, f"{var}'s login is one docker/db/roles.sh creates")
db_name = environment(services["db"])["POSTGRES_DB"]
for var in ("DATABASE_URL", "AD_HTTP_DATABASE_URL"):
    check(f"@db:5432/{db_name}?" in worker_env[var], f"{var} names the database POSTGRES_DB creates")

# ---- the Dockerfile -----------------------------------------------------------------------------------------------------
stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\w+))?", dockerfile, re.M | re.I)
check(len(stages) >= 2 and stages[0][0].startswith("swift:"), "the Dockerfile builds in a Swift image", stages)
check(stages[-1][0].startswith(("debian:", "ubuntu:")) and "slim" in stages[-1][0] or "swift" in stages[-1][0],
      "its last stage is a slim runtime", stages[-1])
final = dockerfile[dockerfile.rfind("\nFROM "):]
user = re.findall(r"^USER\s+(\S+)", final, re.M)
check(bool(user) and user[-1].split(":")[0] not in ("root", "0"), "the runtime stage runs as a non-root USER", user)
ignored = [l.strip().rstrip("/") for l in (REPO / ".dockerignore").read_text().splitlines()
           if l.strip() and not l.startswith("#")]
for line in re.findall(r"^COPY\s+(?!--from)(.+)$", dockerfile, re.M):
    *srcs, _ = line.split()
    for src in srcs:
        check(bool(glob.glob(str(REPO / src))), f"COPY {src} exists in the repository")
        check(not any(src.rstrip("/") == i or src.startswith(i + "/") for i in ignored),
              f"COPY {src} is not excluded by .dockerignore")
# Every target folder the manifest names must be in the build stage before `swift build` (SwiftPM checks them all,
# test targets too, before it builds any product).
manifest = (REPO / "Package.swift").read_text()
build_stage = dockerfile[:dockerfile.find("RUN swift build")]
copied = [src.rstrip("/") for line in re.findall(r"^COPY\s+(?!--from)(.+)$", build_stage, re.M)
          for src in line.split()[:-1]]
folders = set()
decls = list(re.finditer(r'\.(target|executableTarget|testTarget)\(\s*name:\s*"([^"]+)"', manifest))
for d, after in zip(decls, decls[1:] + [None]):
    text = manifest[d.start():after.start() if after else len(manifest)]
    path = re.search(r'path:\s*"([^"]+)"', text)
    folders.add(path.group(1) if path else ("Tests/" if d.group(1) == "testTarget" else "Sources/") + d.group(2))
for folder in sorted(folders):
    check(any(folder == c or folder.startswith(c + "/") for c in copied),
          f"the build stage copies {folder} (a target of Package.swift) before swift build", copied)
check("extension/anomaly_detection.control" in dockerfile and "/usr/share/anomaly_detection/extension" in dockerfile,
      "the image carries the extension's files")
check(re.search(r"apt-get install[^\n]*\bcurl\b", final) is not None, "the runtime has curl for health checks")
check('ENTRYPOINT ["/usr/local/bin/adworker-entrypoint"]' in final, "the entry point is docker/entrypoint.sh")

# ---- Grafana provisioning ------------------------------------------------------------------------------------------------
ds = yaml.safe_load((DOCKER / "grafana/provisioning/datasources/anomaly-detection.yaml").read_text())
check(ds.get("apiVersion") == 1, "the data source provisioning file is apiVersion 1")
by_type = {d["type"]: d for d in ds["datasources"]}
pg = by_type.get("grafana-postgresql-datasource")
if check(pg is not None, "a grafana-postgresql-datasource data source is provisioned"):
    check(pg["url"] == "db:5432", "it connects to the db service")
    check(pg["jsonData"]["database"] == db_name, "it reads the database POSTGRES_DB creates")
    check(pg["user"] == "grafana" and "('grafana', 'ad_reader')" in roles_sh,
          "it logs in as grafana, a member of ad_reader (docker/db/roles.sh)")
    secret = re.fullmatch(r"\$__file\{/run/secrets/(\w+)\}", pg["secureJsonData"]["password"])
    check(secret is not None and secret.group(1) in services["grafana"].get("secrets", []),
          "its password is a secret mounted into Grafana", pg["secureJsonData"]["password"])
    check(pg["jsonData"].get("timescaledb") is False,
          "timescaledb: false, so $__timeGroup needs no TimescaleDB function (the panel test expands it so)")
prom = by_type.get("prometheus")
check(prom is not None and prom["url"] == "http://prometheus:9090", "a Prometheus data source points at the service")
providers = yaml.safe_load((DOCKER / "grafana/provisioning/dashboards/anomaly-detection.yaml").read_text())
check(providers.get("apiVersion") == 1, "the dashboard provisioning file is apiVersion 1")
mounts = dict(m.split(":")[:2] for m in services["grafana"]["volumes"] if m.startswith("./"))
check([p["options"]["path"] for p in providers["providers"]] == [mounts.get("./grafana/dashboards")],
      "the dashboard provider reads the folder compose mounts the dashboards at", mounts)
check(mounts.get("./grafana/provisioning") == "/etc/grafana/provisioning", "provisioning is mounted where Grafana reads it")
home = environment(services["grafana"]).get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH", "")
check(home.startswith(mounts.get("./grafana/dashboards", "?") + "/")
      and (DOCKER / "grafana/dashboards" / os.path.basename(home)).exists(), "Grafana's home dashboard exists", home)

# ---- Prometheus and Alertmanager configs -------------------------------------------------------------------------------
mount = dict(m.split(":")[:2] for m in services["prometheus"]["volumes"] if m.startswith("./"))
prom_dir = mount.get("./prometheus")
for rule in prometheus.get("rule_files", []):
    check(rule.startswith(prom_dir + "/"), f"rule file {rule} is in the mounted docker/prometheus", prom_dir)
check(prometheus["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"],
      "Prometheus sends to the stack's Alertmanager")
check((DOCKER / "prometheus/alerts.yml").exists(), "docker/prometheus/alerts.yml (the worker's alerting rules) exists")
if shutil.which("promtool"):
    with tempfile.TemporaryDirectory() as tmp:
        # The file as Prometheus sees it in the container: /etc/prometheus/ is docker/prometheus/.
        shutil.copytree(DOCKER / "prometheus", tmp, dirs_exist_ok=True)
        text = (DOCKER / "prometheus/prometheus.yml").read_text().replace(prom_dir + "/", tmp + "/")
        pathlib.Path(tmp, "prometheus.yml").write_text(text)
        r = subprocess.run(["promtool", "check", "config", str(pathlib.Path(tmp, "prometheus.yml"))],
                           capture_output=True, text=True)
        check(r.returncode == 0, "promtool check config passes", r.stdout + r.stderr)
else:
    print("skipped: promtool check config (promtool is not installed)")
if shutil.which("amtool"):
    r = subprocess.run(["amtool", "check-config", str(DOCKER / "alertmanager/alertmanager.yml")],
                       capture_output=True, text=True)
    check(r.returncode == 0, "amtool check-config passes", r.stdout + r.stderr)
else:
    print("skipped: amtool check-config (amtool is not installed)")
am = yaml.safe_load((DOCKER / "alertmanager/alertmanager.yml").read_text())
check(am["global"]["smtp_smarthost"] == "mailpit:1025", "Alertmanager mails through the stack's mail catcher")

print(f"{len(failures)} failed" if failures else "all checks passed")
sys.exit(1 if failures else 0)
