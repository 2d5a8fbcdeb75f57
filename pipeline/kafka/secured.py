"""The embedded broker's secured listeners (SASL_SSL and mutual TLS), for tests of secured clients."""

from __future__ import annotations

import dataclasses
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class Secured:
    """Secured listeners beside the broker's PLAINTEXT one (which stays for its own traffic): SASL_SSL with
    SCRAM-SHA-512 and PLAIN users, and SSL that requires a client certificate (mutual TLS). The PEM files
    (a CA, and the broker's key and certificate chain in one file) are the caller's, e.g. a test's."""

    ca_file: Path
    keystore_file: Path  # the broker's private key (PKCS#8, unencrypted) followed by its certificate chain
    sasl_ssl_port: int
    ssl_port: int
    users: tuple[tuple[str, str], ...]  # (name, password): SCRAM-SHA-512 credentials and PLAIN users

    def properties(self) -> dict[str, str]:
        plain_users = " ".join(f'user_{name}="{password}"' for name, password in self.users)
        return {
            "sasl.enabled.mechanisms": "SCRAM-SHA-512,PLAIN",
            "listener.name.sasl_ssl.plain.sasl.jaas.config":
                f"org.apache.kafka.common.security.plain.PlainLoginModule required {plain_users};",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config":
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.keystore_file),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.ca_file),
            "listener.name.ssl.ssl.client.auth": "required",
        }

    def format_args(self) -> list[str]:
        """SCRAM credentials are written into the KRaft metadata when the storage is formatted."""
        return [arg for name, password in self.users
                for arg in ("--add-scram", f"SCRAM-SHA-512=[name={name},password={password}]")]
