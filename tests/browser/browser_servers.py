"""What the browser tests run against, and the stand-ins beside them (shared with conftest)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

import attrs

from adapters.auth import SessionTokens, sign_init_data
from live_server import call

BOT_TOKEN = "123456:studio-browser-tests-bot-token"
ADMIN_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "https://base.local/studio-admin"))
SUPABASE_SECRET = "studio-browser-tests-supabase-hs256-secret-0123456789"
SUPABASE_ANON_KEY = "studio-browser-tests-public-anon-key"

@attrs.frozen
class Demo:
    url: str  # the studio's address, as `base demo` prints it first


class SupabaseStub:
    """Supabase Auth on loopback: `POST /auth/v1/otp` (the magic link) and
    `POST /auth/v1/token?grant_type=refresh_token` (a new access token from `issue`), recorded."""

    def __init__(self) -> None:
        self.requests: list[dict[str, object]] = []
        self.issue: Callable[[], str] | None = None
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _cors(self) -> None:
                self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin", "*"))
                self.send_header("Access-Control-Allow-Headers", "apikey, authorization, content-type")
                self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")

            def do_OPTIONS(self) -> None:
                self.send_response(204)
                self._cors()
                self.end_headers()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                stub.requests.append({"path": self.path, "apikey": self.headers.get("apikey"),
                                      "body": json.loads(body or b"{}")})
                answer: dict[str, object] = {}
                if self.path.startswith("/auth/v1/token") and stub.issue is not None:
                    answer = {"access_token": stub.issue(), "refresh_token": "refresh-2",
                              "token_type": "bearer", "expires_in": 3600}
                self.send_response(200)
                self._cors()
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps(answer).encode())

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@attrs.frozen
class Served:
    url: str
    simulator_url: str
    sessions: SessionTokens
    supabase: SupabaseStub

    def supabase_token(self, user_id: str, email: str, lifetime: int = 3600) -> str:
        import jwt

        now = int(time.time())
        claims = {"sub": user_id, "aud": "authenticated", "role": "authenticated", "email": email,
                  "iss": f"{self.supabase.url}/auth/v1", "iat": now - 7200, "exp": now + lifetime}
        return jwt.encode(claims, SUPABASE_SECRET, algorithm="HS256")

    def init_data(self, telegram_id: int, username: str, first_name: str = "Ann") -> str:
        user = (f'{{"id":{telegram_id},"first_name":"{first_name}","username":"{username}",'
                '"language_code":"en"}')
        fields = {"auth_date": str(int(time.time())), "query_id": f"AAH{telegram_id}", "user": user}
        return sign_init_data(fields, BOT_TOKEN)

    def simulator(self, **settings: float) -> None:
        status, _ = call("PATCH", f"{self.simulator_url}/_sim/settings", settings)
        assert status == 200

    def fault(self, body: dict[str, object]) -> None:
        status, answer = call("POST", f"{self.simulator_url}/_sim/faults", body)
        assert status in (200, 201), answer


# What telegram-web-app.js leaves behind, enough for the studio: the WebApp object built
# from the launch parameters in the URL fragment, as Telegram's own script does.
TELEGRAM_SCRIPT_STAND_IN = b"""(function () {
  var launch = new URLSearchParams(location.hash.slice(1));
  window.Telegram = { WebApp: {
    initData: launch.get('tgWebAppData') || '',
    themeParams: JSON.parse(launch.get('tgWebAppThemeParams') || '{}'),
    colorScheme: 'light', platform: launch.get('tgWebAppPlatform') || 'unknown',
    ready: function () { window.__tgReady = true; },
    expand: function () {},
    openInvoice: function () {}
  } };
})();
"""


class TelegramOrgStandIn:
    """`https://telegram.org/js/telegram-web-app.js` served on loopback with a self-signed
    certificate; a browser started with `flags` resolves telegram.org to it."""

    def __init__(self, workdir) -> None:
        import ssl

        cert, key = _self_signed("telegram.org", workdir)
        self.requests: list[str] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                stand_in.requests.append(self.path)
                found = self.path.split("?")[0] == "/js/telegram-web-app.js"
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "text/javascript")
                self.end_headers()
                if found:
                    self.wfile.write(TELEGRAM_SCRIPT_STAND_IN)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        port = self.server.server_address[1]
        self.flags = (f"--host-resolver-rules=MAP telegram.org 127.0.0.1:{port}", "--ignore-certificate-errors")
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _self_signed(host: str, workdir) -> tuple[str, str]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = workdir / "cert.pem", workdir / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)
