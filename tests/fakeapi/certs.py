"""Per-run PKI: a CA, a server certificate (SANs DNS:localhost, IP:127.0.0.1) and an admin client certificate."""
import datetime
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


KEY_TYPE = "ec"


def _key():
    if KEY_TYPE == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _write(path, data, mode=0o600):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _pem_key(k):
    return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                           serialization.NoEncryption())


def _name(cn, org=None):
    attrs = []
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _cert(subject, pub, issuer, issuer_key, ca=False, server=False, client=False):
    now = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(pub)
         .serial_number(x509.random_serial_number()).not_valid_before(now)
         .not_valid_after(now + datetime.timedelta(days=365)))
    b = b.add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    if ca:
        b = b.add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                          data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                          crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
    else:
        b = b.add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                                          data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                          crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        ekus = []
        if server:
            ekus.append(ExtendedKeyUsageOID.SERVER_AUTH)
        if client:
            ekus.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        b = b.add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
    if server:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                         x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def ensure_pki(d, key_type="ec"):
    """Create (or reuse) ca.crt/ca.key, server.crt/server.key, client.crt/client.key in directory d."""
    global KEY_TYPE
    KEY_TYPE = key_type
    paths = {n: os.path.join(d, n) for n in ("ca.crt", "ca.key", "server.crt", "server.key", "client.crt", "client.key")}
    if all(os.path.exists(p) for p in paths.values()):
        return paths
    ca_key = _key()
    ca_name = _name("fakeapi-ca")
    ca = _cert(ca_name, ca_key.public_key(), ca_name, ca_key, ca=True)
    srv_key = _key()
    srv = _cert(_name("kube-apiserver"), srv_key.public_key(), ca_name, ca_key, server=True)
    cli_key = _key()
    cli = _cert(_name("admin", "system:masters"), cli_key.public_key(), ca_name, ca_key, client=True)
    _write(paths["ca.key"], _pem_key(ca_key))
    _write(paths["server.key"], _pem_key(srv_key))
    _write(paths["client.key"], _pem_key(cli_key))
    _write(paths["server.crt"], srv.public_bytes(serialization.Encoding.PEM), 0o644)
    _write(paths["client.crt"], cli.public_bytes(serialization.Encoding.PEM), 0o644)
    _write(paths["ca.crt"], ca.public_bytes(serialization.Encoding.PEM), 0o644)
    return paths


def sign_client_cert(d, cn, org=None):
    """Test helper: issue another client certificate from the run's CA. Returns (crt_path, key_path)."""
    with open(os.path.join(d, "ca.key"), "rb") as f:
        ca_key = serialization.load_pem_private_key(f.read(), None)
    k = _key()
    c = _cert(_name(cn, org), k.public_key(), _name("fakeapi-ca"), ca_key, client=True)
    crt, key = os.path.join(d, "client-%s.crt" % cn), os.path.join(d, "client-%s.key" % cn)
    _write(key, _pem_key(k))
    _write(crt, c.public_bytes(serialization.Encoding.PEM), 0o644)
    return crt, key
