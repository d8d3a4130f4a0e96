"""Security properties that need no broker: safe model loading, loopback defaults, credentials
rendering for librdkafka and faust."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from streamapp.config import Settings
from streamapp.logs import MASK
from streamapp.registry.registry import ModelRegistry
from streamapp.runtime.base import ModelLoadError
from streamapp.runtime.loader import load_model
from streamapp.settings.http import HttpSettings
from streamapp.settings.kafka import KafkaSettings
from tests.reliability import models as m

PACKAGE = Path(__file__).resolve().parents[2] / "streamapp"
SECRET = "s3cr3t-Pa55w0rd-for-tests"


def test_a_pickled_pt_artifact_is_rejected_without_unpickling(model_registry_dir: Path) -> None:
    version_dir, marker = m.make_pickled_pt(model_registry_dir, "7")
    version = ModelRegistry(model_registry_dir).get(m.NAME, "7")
    with pytest.raises(ModelLoadError, match="TorchScript"):
        load_model(version, "torch", "cpu")
    assert not marker.exists(), "loading the artifact executed a pickle"
    assert version_dir.joinpath("model.pt").read_bytes().startswith(b"\x80")  # really a pickle


def test_checksum_is_verified_before_the_artifact_is_opened(model_registry_dir: Path) -> None:
    version_dir, marker = m.make_pickled_pt(model_registry_dir, "8")
    m.only_artifact(version_dir, "torchscript", recompute=False)
    (version_dir / "model.pt").write_bytes((version_dir / "model.pt").read_bytes() + b" ")
    version = ModelRegistry(model_registry_dir).get(m.NAME, "8")
    with pytest.raises(ModelLoadError, match="checksum mismatch"):
        load_model(version, "torch", "cpu")
    assert not marker.exists()


def test_a_tampered_onnx_artifact_is_rejected(model_registry_dir: Path) -> None:
    m.tamper(m.copy_version(model_registry_dir, "9"))
    version = ModelRegistry(model_registry_dir).get(m.NAME, "9")
    with pytest.raises(ModelLoadError, match="checksum mismatch"):
        load_model(version, "onnx", "cpu")


def _calls(tree: ast.AST) -> list[tuple[str, ast.Call]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            out.append((ast.unparse(node.func), node))
    return out


def test_the_package_has_no_unpickling_loader() -> None:
    """No pickle/joblib/dill/torch.load without weights_only, no np.load with pickles.

    One exception: ``models register`` loads a user's pickle/joblib file only behind
    ``--allow-pickle-code-execution`` (tests/unit/registration checks the refusal).
    """
    offenders = []
    gated = PACKAGE / "registration" / "convert.py"
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names]
                module = getattr(node, "module", None) or ""
                bad = {"pickle", "dill", "joblib", "cloudpickle", "shelve"} & {module, *names}
                if bad and not (path == gated and bad == {"joblib"}):
                    offenders.append(f"{path.name}: imports {module or names}")
        for name, call in _calls(tree):
            kwargs = {k.arg: ast.unparse(k.value) for k in call.keywords}
            if name == "torch.load" and kwargs.get("weights_only") != "True":
                offenders.append(f"{path.name}: torch.load without weights_only=True")
            if name in ("np.load", "numpy.load") and kwargs.get("allow_pickle") != "False":
                offenders.append(f"{path.name}: np.load without allow_pickle=False")
    assert not offenders, offenders


def test_network_listeners_default_to_loopback() -> None:
    settings = Settings()
    assert HttpSettings().host == "127.0.0.1"
    assert settings.broker.host == "127.0.0.1"
    assert settings.monitoring.web_port is None  # faust's own web server is off by default


def test_sasl_and_tls_settings_render_to_librdkafka() -> None:
    kafka = KafkaSettings(
        bootstrap_servers="kafka-1:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="scorer",
        sasl_password=SECRET,
        ssl_ca_location=Path("/etc/ca.pem"),
        ssl_key_password="key-" + SECRET,
    )
    conf = kafka.librdkafka()
    assert conf["security.protocol"] == "SASL_SSL"
    assert conf["sasl.mechanism"] == "SCRAM-SHA-512"
    assert conf["sasl.username"] == "scorer" and conf["sasl.password"] == SECRET
    assert conf["ssl.ca.location"] == "/etc/ca.pem"
    assert conf["ssl.key.password"] == "key-" + SECRET
    assert conf["ssl.endpoint.identification.algorithm"] == "https"
    assert SECRET not in repr(kafka) and SECRET not in str(kafka.model_dump())


def test_faust_app_receives_sasl_and_tls_settings() -> None:
    from streamapp.monitoring.control.app import build_control

    settings = Settings(
        kafka=KafkaSettings(
            bootstrap_servers="kafka-1:9093",
            security_protocol="SASL_SSL",
            sasl_mechanism="PLAIN",
            sasl_username="monitor",
            sasl_password=SECRET,
        )
    )
    app = build_control(settings, "kafka-1:9093", CollectorRegistry()).app
    creds = app.conf.broker_credentials
    assert creds is not None, "faust app has no broker credentials"
    assert getattr(creds, "username", None) == "monitor"
    assert getattr(creds, "password", None) == SECRET


def test_faust_app_verifies_tls_with_the_configured_ca(tmp_path: Path) -> None:
    import ssl

    from streamapp.brokers.tls import make_tls_material
    from streamapp.monitoring.control.app import build_control

    cert = make_tls_material(tmp_path).ca_cert
    settings = Settings(
        kafka=KafkaSettings(
            bootstrap_servers="kafka-1:9093", security_protocol="SSL", ssl_ca_location=cert
        )
    )
    creds = build_control(settings, "kafka-1:9093", CollectorRegistry()).app.conf.broker_credentials
    context = getattr(creds, "context", None)
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.get_ca_certs(), "the configured CA is not loaded"


def test_oauthbearer_oidc_is_accepted_rendered_and_validated() -> None:
    kafka = KafkaSettings(
        bootstrap_servers="kafka-1:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="OAUTHBEARER",
        sasl_oauthbearer_method="oidc",
        sasl_oauthbearer_client_id="streamapp",
        sasl_oauthbearer_client_secret=SECRET,
        sasl_oauthbearer_token_endpoint_url="https://idp.example/oauth2/token",
        sasl_oauthbearer_scope="kafka",
    )
    conf = kafka.librdkafka()
    assert conf["sasl.mechanism"] == "OAUTHBEARER"
    assert conf["sasl.oauthbearer.method"] == "oidc"
    assert conf["sasl.oauthbearer.client.secret"] == SECRET
    assert conf["sasl.oauthbearer.token.endpoint.url"] == "https://idp.example/oauth2/token"
    assert "sasl.username" not in conf  # OAUTHBEARER needs no user name or password
    with pytest.raises(ValueError, match=r"kafka\.sasl_oauthbearer_client_secret"):
        KafkaSettings(security_protocol="SASL_SSL", sasl_mechanism="OAUTHBEARER",
                      sasl_oauthbearer_method="oidc", sasl_oauthbearer_client_id="x",
                      sasl_oauthbearer_token_endpoint_url="https://idp/token")
    with pytest.raises(ValueError, match="not an http"):
        KafkaSettings(security_protocol="SASL_SSL", sasl_mechanism="OAUTHBEARER",
                      sasl_oauthbearer_method="oidc", sasl_oauthbearer_client_id="x",
                      sasl_oauthbearer_client_secret="y",
                      sasl_oauthbearer_token_endpoint_url="idp/token")


def test_security_written_in_extra_is_validated_like_fields() -> None:
    with pytest.raises(ValueError, match=r'kafka.sasl_password'):
        KafkaSettings(extra={"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN",
                             "sasl.username": "u"})
    ok = KafkaSettings(extra={"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN",
                              "sasl.username": "u", "sasl.password": SECRET})
    assert ok.librdkafka("k:1")["sasl.password"] == SECRET


def test_config_show_masks_secret_extras_as_the_logs_do(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from streamapp.cli import app
    from streamapp.logs import Redactor

    extra = {
        "sasl.password": SECRET,
        "sasl.oauthbearer.client.secret": "oidc-" + SECRET,
        "sasl.jaas.config": f"org.Module required username=u password={SECRET};",
        "sasl.oauthbearer.token.endpoint.url": "https://idp.example/token",
        "client.dns.lookup": "use_all_dns_ips",
    }
    monkeypatch.setenv("STREAMAPP_KAFKA__EXTRA", json.dumps(extra))
    result = CliRunner().invoke(app, ["config", "show"])
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    shown = json.loads(result.output)["kafka"]["extra"]
    assert shown == {key: Redactor().field(key, value) for key, value in extra.items()}
    assert shown["sasl.password"] == MASK and shown["sasl.oauthbearer.client.secret"] == MASK
    assert shown["sasl.jaas.config"] == f"org.Module required username=u password={MASK};"
    assert shown["sasl.oauthbearer.token.endpoint.url"] == "https://idp.example/token"
    assert shown["client.dns.lookup"] == "use_all_dns_ips"


def test_faust_app_honours_security_settings_given_only_in_extra() -> None:
    from streamapp.monitoring.control.app import build_control

    extra = {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "SCRAM-SHA-256",
             "sasl.username": "monitor", "sasl.password": SECRET}
    settings = Settings(kafka=KafkaSettings(bootstrap_servers="kafka-1:9093", extra=extra))
    creds = build_control(settings, "kafka-1:9093", CollectorRegistry()).app.conf
    credentials = creds.broker_credentials
    assert getattr(credentials, "username", None) == "monitor"
    assert getattr(credentials, "password", None) == SECRET
    assert getattr(credentials, "mechanism", None).value == "SCRAM-SHA-256"


def test_faust_oidc_provider_fetches_and_caches_a_client_credentials_token() -> None:
    import asyncio
    import base64
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from streamapp.monitoring.control.credentials import faust_credentials

    requests: list[tuple[str | None, bytes]] = []

    class TokenEndpoint(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            requests.append((self.headers["Authorization"], body))
            payload = json.dumps({"access_token": "tok-1", "expires_in": 3600}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = HTTPServer(("127.0.0.1", 0), TokenEndpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/token"
        kafka = KafkaSettings(
            security_protocol="SASL_PLAINTEXT", sasl_mechanism="OAUTHBEARER",
            sasl_oauthbearer_method="oidc", sasl_oauthbearer_client_id="cid",
            sasl_oauthbearer_client_secret=SECRET, sasl_oauthbearer_token_endpoint_url=url,
            sasl_oauthbearer_scope="kafka",
        )
        credentials = faust_credentials(kafka.librdkafka("k:1"))
        provider = getattr(credentials, "oauth_cb", None)
        assert provider is not None

        async def twice() -> list[str]:
            return [await provider.token(), await provider.token()]

        assert asyncio.run(twice()) == ["tok-1", "tok-1"]
    finally:
        server.shutdown()
        server.server_close()
    assert len(requests) == 1  # cached until shortly before it expires
    auth, body = requests[0]
    assert auth == "Basic " + base64.b64encode(f"cid:{SECRET}".encode()).decode()
    assert body == b"grant_type=client_credentials&scope=kafka"
