//! Sprig's key and certificate generators (`crypto.go`): `genPrivateKey`,
//! `genCA*`, `genSelfSignedCert*`, `genSignedCert*` and `buildCustomCert`,
//! with rcgen (ring) doing the signing and the `rsa` crate only generating
//! RSA keys (ring cannot). Keys are written as Go writes them: RSA as
//! PKCS#1 (`RSA PRIVATE KEY`), ECDSA P-256 as SEC1 (`EC PRIVATE KEY`),
//! Ed25519 as PKCS#8. Keys given in PEM (`*WithKey`, the CA of
//! `genSignedCert`) may be RSA, EC (P-256) or PKCS#8 (RSA, P-256, P-384,
//! Ed25519). Difference from Sprig: `genPrivateKey "dsa"` (DSA, which Go
//! itself deprecates and ring cannot sign with) fails with a message.

use std::net::IpAddr;
use std::rc::Rc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber,
};

use crate::funcs::{Call, Def, FResult, def, nargs, str_args, want_int, want_list, want_str};
use crate::value::{Struct, Value};

pub(super) const FUNCS: &[Def] = &[
    def("sprig_genPrivateKey", |c| {
        let kind = str_args(c.name, &c.args, 1)?[0];
        gen_private_key(kind).map(|k| Value::str(&k))
    }),
    def("sprig_genCA", |c| {
        nargs(c.name, &c.args, 2)?;
        let (cn, days) = (want_str(&c.args[0])?, want_int(&c.args[1])?);
        ca(cn, days, new_rsa_key(2048)?)
    }),
    def("sprig_genCAWithKey", |c| {
        nargs(c.name, &c.args, 3)?;
        let (cn, days) = (want_str(&c.args[0])?, want_int(&c.args[1])?);
        let key =
            parse_key(want_str(&c.args[2])?).map_err(|e| format!("parsing private key: {e}"))?;
        ca(cn, days, key)
    }),
    def("sprig_genSelfSignedCert", |c| {
        nargs(c.name, &c.args, 4)?;
        let params = leaf_params(&c.args[..4])?;
        self_signed(params, new_rsa_key(2048)?)
    }),
    def("sprig_genSelfSignedCertWithKey", |c| {
        nargs(c.name, &c.args, 5)?;
        let params = leaf_params(&c.args[..4])?;
        let key =
            parse_key(want_str(&c.args[4])?).map_err(|e| format!("parsing private key: {e}"))?;
        self_signed(params, key)
    }),
    def("sprig_genSignedCert", |c| {
        nargs(c.name, &c.args, 5)?;
        let params = leaf_params(&c.args[..4])?;
        signed(params, &c.args[4], new_rsa_key(2048)?)
    }),
    def("sprig_genSignedCertWithKey", |c| {
        nargs(c.name, &c.args, 6)?;
        let params = leaf_params(&c.args[..4])?;
        let key =
            parse_key(want_str(&c.args[5])?).map_err(|e| format!("parsing private key: {e}"))?;
        signed(params, &c.args[4], key)
    }),
    def("sprig_buildCustomCert", build_custom_cert),
];

/// A key and the PEM Sprig would print for it.
struct Key {
    pair: KeyPair,
    pem: String,
}

/// Sprig's `certificate{Cert, Key}`.
fn certificate(cert: String, key: String) -> Value {
    Value::Struct(Rc::new(Struct {
        type_name: "sprig.certificate",
        fields: vec![("Cert", Value::str(&cert)), ("Key", Value::str(&key))],
    }))
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The first PEM block of `text`: its label and contents.
fn pem_decode(text: &str) -> Option<(String, Vec<u8>)> {
    let start = text.find("-----BEGIN ")?;
    let rest = &text[start + 11..];
    let label_end = rest.find("-----")?;
    let label = &rest[..label_end];
    let body = &rest[label_end + 5..];
    let end = body.find(&format!("-----END {label}-----"))?;
    let b64: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
    Some((label.to_string(), STANDARD.decode(b64).ok()?))
}

/// A DER TLV.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

const OID_EC_PUBLIC_KEY: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_RSA: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
];

/// PKCS#8 around a bare key of algorithm `alg` (an AlgorithmIdentifier body).
fn pkcs8(alg: &[u8], key: &[u8]) -> Vec<u8> {
    let mut body = vec![0x02, 0x01, 0x00];
    body.extend(der(0x30, alg));
    body.extend(der(0x04, key));
    der(0x30, &body)
}

/// A fresh ECDSA P-256 key, printed as Go's `x509.MarshalECPrivateKey` does.
fn new_ec_key() -> Result<Key, String> {
    let pair = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| e.to_string())?;
    // ring's PKCS#8 holds the SEC1 key without the curve; Go writes it in.
    let p8 = pair.serialize_der();
    let find = |pat: &[u8]| p8.windows(pat.len()).position(|w| w == pat);
    let secret_at = find(&[0x02, 0x01, 0x01, 0x04, 0x20]).ok_or("unexpected PKCS#8 layout")? + 5;
    let public_at = find(&[0x03, 0x42, 0x00]).ok_or("unexpected PKCS#8 layout")?;
    let mut sec1 = vec![0x02, 0x01, 0x01];
    sec1.extend(der(0x04, &p8[secret_at..secret_at + 32]));
    sec1.extend(der(0xa0, OID_P256));
    sec1.extend(der(0xa1, &p8[public_at..public_at + 68]));
    Ok(Key {
        pem: pem_encode("EC PRIVATE KEY", &der(0x30, &sec1)),
        pair,
    })
}

/// A fresh RSA key of `bits`, as Go's `x509.MarshalPKCS1PrivateKey` writes it.
fn new_rsa_key(bits: usize) -> Result<Key, String> {
    use rsa::pkcs1::EncodeRsaPrivateKey as _;
    let key = rsa::RsaPrivateKey::new(&mut rand_core_06::OsRng, bits)
        .map_err(|e| format!("error generating rsa key: {e}"))?;
    let pkcs1 = key.to_pkcs1_der().map_err(|e| e.to_string())?;
    let pair = KeyPair::try_from(pkcs8(OID_RSA, pkcs1.as_bytes()).as_slice())
        .map_err(|e| e.to_string())?;
    Ok(Key {
        pem: pem_encode("RSA PRIVATE KEY", pkcs1.as_bytes()),
        pair,
    })
}

/// `genPrivateKey TYPE`.
fn gen_private_key(kind: &str) -> Result<String, String> {
    match kind {
        "rsa" => Ok(new_rsa_key(4096)?.pem),
        "ecdsa" => Ok(new_ec_key()?.pem),
        "ed25519" => {
            let pair = KeyPair::generate_for(&rcgen::PKCS_ED25519).map_err(|e| e.to_string())?;
            // Go writes PKCS#8 v1: the 32-byte seed only.
            let p8 = pair.serialize_der();
            let at = p8
                .windows(2)
                .position(|w| w == [0x04, 0x20])
                .ok_or("unexpected PKCS#8 layout")?
                + 2;
            let seed = der(0x04, &p8[at..at + 32]);
            Ok(pem_encode(
                "PRIVATE KEY",
                &pkcs8(&[0x06, 0x03, 0x2b, 0x65, 0x70], &seed),
            ))
        }
        "dsa" => Err("dsa keys cannot be generated by kagi (use rsa, ecdsa or ed25519)".into()),
        other => Ok(format!("Unknown type {other}")),
    }
}

/// Sprig's `parsePrivateKeyPEM`, for the key types ring can sign with.
fn parse_key(text: &str) -> Result<Key, String> {
    let (label, bytes) = pem_decode(text).ok_or("no PEM data in input")?;
    let p8 = match label.as_str() {
        "PRIVATE KEY" => bytes,
        "RSA PRIVATE KEY" => pkcs8(OID_RSA, &bytes),
        "EC PRIVATE KEY" => {
            let mut alg = OID_EC_PUBLIC_KEY.to_vec();
            alg.extend_from_slice(OID_P256);
            pkcs8(&alg, &bytes)
        }
        l if l.ends_with(" PRIVATE KEY") => return Err(format!("invalid private key type {l}")),
        l => return Err(format!("no private key data in PEM block of type {l}")),
    };
    let pair =
        KeyPair::try_from(p8.as_slice()).map_err(|e| format!("decoding PEM as PKCS#8: {e}"))?;
    Ok(Key {
        pair,
        pem: text.to_string(),
    })
}

/// Sprig's `getBaseCertTemplate`.
fn base_params(
    cn: &str,
    ips: &[Value],
    dns: &[Value],
    days: i64,
) -> Result<CertificateParams, String> {
    let mut params = CertificateParams::default();
    params.distinguished_name.push(DnType::CommonName, cn);
    // Go writes DNS names before IP addresses.
    for name in dns {
        let Value::Str(s) = name else {
            let mut shown = String::new();
            crate::value::fmt_v(name, &mut shown, true);
            return Err(format!(
                "error processing alternate dns name: {shown} is not a string"
            ));
        };
        let name = s
            .to_string()
            .try_into()
            .map_err(|e: rcgen::Error| e.to_string())?;
        params.subject_alt_names.push(SanType::DnsName(name));
    }
    for ip in ips {
        let Value::Str(s) = ip else {
            let mut shown = String::new();
            crate::value::fmt_v(ip, &mut shown, true);
            return Err(format!("error parsing ip: {shown} is not a string"));
        };
        let addr: IpAddr = s.parse().map_err(|_| format!("error parsing ip: {s}"))?;
        params.subject_alt_names.push(SanType::IpAddress(addr));
    }
    let mut serial = [0u8; 16];
    getrandom::fill(&mut serial).map_err(|e| e.to_string())?;
    serial[0] &= 0x7f;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now;
    params.not_after = now
        .checked_add(time::Duration::days(days))
        .ok_or("validity out of range")?;
    params.key_usages = vec![
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    params.is_ca = IsCa::ExplicitNoCa;
    Ok(params)
}

/// `CN IPS DNS DAYS` of the leaf generators.
fn leaf_params(args: &[Value]) -> Result<CertificateParams, String> {
    let cn = want_str(&args[0])?;
    let ips = want_list(&args[1])?;
    let dns = want_list(&args[2])?;
    let days = want_int(&args[3])?;
    base_params(cn, &ips, &dns, days)
}

fn ca(cn: &str, days: i64, key: Key) -> FResult {
    let mut params = base_params(cn, &[], &[], days)?;
    params.key_usages.push(KeyUsagePurpose::KeyCertSign);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    self_signed(params, key)
}

fn self_signed(params: CertificateParams, key: Key) -> FResult {
    let cert = params.self_signed(&key.pair).map_err(|e| e.to_string())?;
    Ok(certificate(cert.pem(), key.pem))
}

/// Signs `params` for `key` with the CA given as a `certificate`.
fn signed(params: CertificateParams, ca: &Value, key: Key) -> FResult {
    let Value::Struct(s) = ca else {
        return Err(format!(
            "wrong type for value; expected sprig.certificate; got {}",
            ca.type_name()
        ));
    };
    let field = |name: &str| match s.field(name) {
        Some(Value::Str(v)) if s.type_name == "sprig.certificate" => Ok(v.to_string()),
        _ => Err(format!(
            "wrong type for value; expected sprig.certificate; got {}",
            s.type_name
        )),
    };
    let (ca_cert, ca_key) = (field("Cert")?, field("Key")?);
    let ca_der = pem_decode(&ca_cert)
        .filter(|(label, _)| label == "CERTIFICATE")
        .ok_or("unable to decode certificate")?
        .1;
    let signer = parse_key(&ca_key).map_err(|e| format!("error parsing private key: {e}"))?;
    let issuer = Issuer::from_ca_cert_der(&ca_der.into(), signer.pair)
        .map_err(|e| format!("error parsing certificate: decodedSignerCert.Bytes: {e}"))?;
    let cert = params
        .signed_by(&key.pair, &issuer)
        .map_err(|e| e.to_string())?;
    Ok(certificate(cert.pem(), key.pem))
}

/// `buildCustomCert B64CERT B64KEY`: the PEM pair, checked.
fn build_custom_cert(c: &mut Call<'_>) -> FResult {
    let a = str_args(c.name, &c.args, 2)?;
    let cert = STANDARD
        .decode(a[0])
        .map_err(|_| "unable to decode base64 certificate".to_string())?;
    let key = STANDARD
        .decode(a[1])
        .map_err(|_| "unable to decode base64 private key".to_string())?;
    let cert = String::from_utf8(cert).map_err(|_| "unable to decode certificate".to_string())?;
    let key = String::from_utf8(key).map_err(|_| "no PEM data in input".to_string())?;
    let (_, der) = pem_decode(&cert).ok_or("unable to decode certificate")?;
    x509_parser::parse_x509_certificate(&der)
        .map_err(|e| format!("error parsing certificate: decodedCert.Bytes: {e}"))?;
    parse_key(&key).map_err(|e| format!("error parsing private key: {e}"))?;
    Ok(certificate(cert, key))
}

#[cfg(test)]
mod tests {
    use crate::testing::render_text;

    #[test]
    fn a_signed_certificate_chains_to_its_ca() {
        let out = render_text(
            r#"{{ $ca := sprig_genCA "kagi-ca" 30 }}{{ $c := sprig_genSignedCert "leaf" (sprig_list "10.0.0.1") (sprig_list "leaf.example.com") 7 $ca }}{{ $ca.Cert }}@@{{ $c.Cert }}@@{{ $c.Key }}"#,
        )
        .unwrap();
        let parts: Vec<&str> = out.split("@@").collect();
        let ca_der = super::pem_decode(parts[0]).unwrap().1;
        let leaf_der = super::pem_decode(parts[1]).unwrap().1;
        let (_, ca) = x509_parser::parse_x509_certificate(&ca_der).unwrap();
        let (_, leaf) = x509_parser::parse_x509_certificate(&leaf_der).unwrap();
        assert!(ca.is_ca());
        assert_eq!(leaf.issuer(), ca.subject());
        assert!(leaf.verify_signature(Some(ca.public_key())).is_ok());
        assert!(parts[2].starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
    }

    #[test]
    fn keys_are_read_back_in_every_format_sprig_writes() {
        for kind in ["rsa", "ecdsa", "ed25519"] {
            let out = render_text(&format!(
                r#"{{{{ $k := sprig_genPrivateKey "{kind}" }}}}{{{{ (sprig_genSelfSignedCertWithKey "x" nil nil 1 $k).Key | eq $k }}}}"#
            ))
            .unwrap();
            assert_eq!(out, "true", "{kind}");
        }
        let err = render_text(r#"{{ sprig_genPrivateKey "dsa" }}"#).unwrap_err();
        assert!(err.contains("cannot be generated"), "{err}");
    }
}
