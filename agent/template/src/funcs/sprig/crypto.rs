//! Sprig's crypto functions (`crypto.go`) that need no certificate
//! machinery: `bcrypt`, `htpasswd`, `derivePassword` (the Master Password
//! algorithm: scrypt then HMAC-SHA256, deterministic), `encryptAES` /
//! `decryptAES` (AES-256-CBC, PKCS#7 padding, random IV first, base64), and
//! the random `randBytes` and `uuidv4`, and `getHostByName` (a random one of
//! the addresses the agent resolves the name to; none is an error).

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit, block_padding::NoPadding};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::Mac as _;

use crate::funcs::{Call, Def, FResult, def, nargs, str_args, want_int, want_str};
use crate::limits::MAX_OUTPUT;
use crate::value::Value;

pub(super) const FUNCS: &[Def] = &[
    def("sprig_bcrypt", |c| {
        let a = str_args(c.name, &c.args, 1)?;
        Ok(Value::str(&bcrypt_hash(a[0])))
    }),
    def("sprig_htpasswd", |c| {
        let a = str_args(c.name, &c.args, 2)?;
        if a[0].contains(':') {
            return Ok(Value::str(&format!("invalid username: {}", a[0])));
        }
        Ok(Value::str(&format!("{}:{}", a[0], bcrypt_hash(a[1]))))
    }),
    def("sprig_derivePassword", derive_password),
    def("sprig_encryptAES", encrypt_aes),
    def("sprig_decryptAES", decrypt_aes),
    def("sprig_randBytes", |c| {
        nargs(c.name, &c.args, 1)?;
        let count = want_int(&c.args[0])?;
        if count < 0 {
            return Err("runtime error: makeslice: len out of range".into());
        }
        if count as usize > MAX_OUTPUT / 2 {
            return Err("result exceeds 64 MiB".into());
        }
        let mut buf = vec![0u8; count as usize];
        random(&mut buf)?;
        Ok(Value::str(&STANDARD.encode(buf)))
    }),
    def("sprig_getHostByName", |c| {
        let name = str_args(c.name, &c.args, 1)?[0];
        let addrs = c.host.environment().lookup_host(name);
        if addrs.is_empty() {
            return Err("invalid argument to Intn".into());
        }
        Ok(Value::str(&addrs[fastrand::usize(..addrs.len())]))
    }),
    def("sprig_uuidv4", |c| {
        nargs(c.name, &c.args, 0)?;
        let mut b = [0u8; 16];
        random(&mut b)?;
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
        Ok(Value::str(&format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        )))
    }),
];

fn random(buf: &mut [u8]) -> Result<(), String> {
    getrandom::fill(buf).map_err(|e| format!("reading random bytes: {e}"))
}

/// `bcrypt.GenerateFromPassword(input, DefaultCost)`: a `$2a$10$` hash, as
/// Go writes it; Sprig returns a failure as text.
fn bcrypt_hash(input: &str) -> String {
    match bcrypt::hash_with_result(input, GO_DEFAULT_COST) {
        Ok(h) => h.format_for_version(bcrypt::Version::TwoA),
        Err(e) => format!("failed to encrypt string with bcrypt: {e}"),
    }
}

/// `bcrypt.DefaultCost` in Go (the bcrypt crate defaults to 12).
const GO_DEFAULT_COST: u32 = 10;

const MASTER_PASSWORD_SEED: &[u8] = b"com.lyndir.masterpassword";

/// The Master Password templates, by password type.
fn templates(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "maximum" => &["anoxxxxxxxxxxxxxxxxx", "axxxxxxxxxxxxxxxxxno"],
        "long" => &[
            "CvcvnoCvcvCvcv",
            "CvcvCvcvnoCvcv",
            "CvcvCvcvCvcvno",
            "CvccnoCvcvCvcv",
            "CvccCvcvnoCvcv",
            "CvccCvcvCvcvno",
            "CvcvnoCvccCvcv",
            "CvcvCvccnoCvcv",
            "CvcvCvccCvcvno",
            "CvcvnoCvcvCvcc",
            "CvcvCvcvnoCvcc",
            "CvcvCvcvCvccno",
            "CvccnoCvccCvcv",
            "CvccCvccnoCvcv",
            "CvccCvccCvcvno",
            "CvcvnoCvccCvcc",
            "CvcvCvccnoCvcc",
            "CvcvCvccCvccno",
            "CvccnoCvcvCvcc",
            "CvccCvcvnoCvcc",
            "CvccCvcvCvccno",
        ],
        "medium" => &["CvcnoCvc", "CvcCvcno"],
        "short" => &["Cvcn"],
        "basic" => &["aaanaaan", "aannaaan", "aaannaaa"],
        "pin" => &["nnnn"],
        _ => return None,
    })
}

fn template_characters(class: u8) -> &'static [u8] {
    match class {
        b'V' => b"AEIOU",
        b'C' => b"BCDFGHJKLMNPQRSTVWXYZ",
        b'v' => b"aeiou",
        b'c' => b"bcdfghjklmnpqrstvwxyz",
        b'A' => b"AEIOUBCDFGHJKLMNPQRSTVWXYZ",
        b'a' => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz",
        b'n' => b"0123456789",
        b'o' => b"@&%?,=[]_:-+*$#!'^~;()/.",
        _ => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789!@#$%^&*()",
    }
}

/// `derivePassword COUNTER TYPE PASSWORD USER SITE`.
fn derive_password(c: &mut Call<'_>) -> FResult {
    nargs(c.name, &c.args, 5)?;
    let counter = match &c.args[0] {
        Value::Int(n) if u32::try_from(*n).is_ok() => *n as u32,
        Value::Int(_) => return Err("number out of range for uint32".into()),
        Value::Nil => return Err("invalid value; expected uint32".into()),
        other => {
            return Err(format!(
                "wrong type for value; expected uint32; got {}",
                other.type_name()
            ));
        }
    };
    let kind = want_str(&c.args[1])?;
    let (password, user, site) = (
        want_str(&c.args[2])?,
        want_str(&c.args[3])?,
        want_str(&c.args[4])?,
    );
    let Some(templates) = templates(kind) else {
        return Ok(Value::str(&format!("cannot find password template {kind}")));
    };
    let mut salt = MASTER_PASSWORD_SEED.to_vec();
    salt.extend_from_slice(&(user.len() as u32).to_be_bytes());
    salt.extend_from_slice(user.as_bytes());
    let params = scrypt::Params::new(15, 8, 2, 64).map_err(|e| e.to_string())?;
    let mut key = [0u8; 64];
    scrypt::scrypt(password.as_bytes(), &salt, &params, &mut key).map_err(|e| e.to_string())?;
    let mut message = MASTER_PASSWORD_SEED.to_vec();
    message.extend_from_slice(&(site.len() as u32).to_be_bytes());
    message.extend_from_slice(site.as_bytes());
    message.extend_from_slice(&counter.to_be_bytes());
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
    mac.update(&message);
    let seed = mac.finalize().into_bytes();
    let template = templates[usize::from(seed[0]) % templates.len()];
    let out: String = template
        .bytes()
        .enumerate()
        .map(|(i, class)| {
            let chars = template_characters(class);
            chars[usize::from(seed[i + 1]) % chars.len()] as char
        })
        .collect();
    Ok(Value::str(&out))
}

type Encryptor = cbc::Encryptor<aes::Aes256>;
type Decryptor = cbc::Decryptor<aes::Aes256>;

/// Sprig's key: the password's bytes, cut or zero-padded to 32.
fn aes_key(password: &str) -> [u8; 32] {
    let mut key = [0u8; 32];
    let n = password.len().min(32);
    key[..n].copy_from_slice(&password.as_bytes()[..n]);
    key
}

/// `encryptAES PASSWORD PLAINTEXT`: base64 of IV and ciphertext.
fn encrypt_aes(c: &mut Call<'_>) -> FResult {
    let a = str_args(c.name, &c.args, 2)?;
    if a[1].is_empty() {
        return Ok(Value::str(""));
    }
    let mut content = a[1].as_bytes().to_vec();
    let pad = 16 - content.len() % 16;
    content.extend(std::iter::repeat_n(pad as u8, pad));
    let mut iv = [0u8; 16];
    random(&mut iv)?;
    let len = content.len();
    Encryptor::new(&aes_key(a[0]).into(), &iv.into())
        .encrypt_padded_mut::<NoPadding>(&mut content, len)
        .map_err(|e| e.to_string())?;
    let mut out = iv.to_vec();
    out.extend_from_slice(&content);
    Ok(Value::str(&STANDARD.encode(out)))
}

/// `decryptAES PASSWORD BASE64`: strips as many bytes as the last one says,
/// without checking the padding, as Sprig does.
fn decrypt_aes(c: &mut Call<'_>) -> FResult {
    let a = str_args(c.name, &c.args, 2)?;
    if a[1].is_empty() {
        return Ok(Value::str(""));
    }
    let crypt = STANDARD
        .decode(a[1])
        .map_err(|e| format!("illegal base64 data: {e}"))?;
    if crypt.len() < 16 {
        return Err(format!(
            "runtime error: slice bounds out of range [:16] with capacity {}",
            crypt.len()
        ));
    }
    let (iv, body) = crypt.split_at(16);
    if body.len() % 16 != 0 {
        return Err("crypto/cipher: input not full blocks".into());
    }
    if body.is_empty() {
        return Err("runtime error: index out of range [-1]".into());
    }
    let mut plain = body.to_vec();
    let iv: [u8; 16] = iv.try_into().map_err(|_| "bad IV".to_string())?;
    Decryptor::new(&aes_key(a[0]).into(), &iv.into())
        .decrypt_padded_mut::<NoPadding>(&mut plain)
        .map_err(|e| e.to_string())?;
    let pad = usize::from(plain[plain.len() - 1]);
    let Some(end) = plain.len().checked_sub(pad) else {
        return Err(format!(
            "runtime error: slice bounds out of range [:-{}]",
            pad - plain.len()
        ));
    };
    plain.truncate(end);
    String::from_utf8(plain)
        .map(|s| Value::str(&s))
        .map_err(|_| "the decrypted data is not UTF-8 text (wrong password?)".into())
}

#[cfg(test)]
mod tests {
    use crate::testing::render_text;

    #[test]
    fn aes_round_trips_and_decrypts_sprigs_format() {
        assert_eq!(
            render_text(r#"{{ sprig_encryptAES "k" "secret text" | sprig_decryptAES "k" }}|{{ sprig_encryptAES "k" "" }}"#).unwrap(),
            "secret text|"
        );
        // Made by bao agent 2.7.2: {{ sprig_encryptAES "kagi-password" "hello from bao" }}
        assert_eq!(
            render_text(r#"{{ sprig_decryptAES "kagi-password" "EGWEgogZ+OuhrSnTCRN0pSQxsEjxq4HK+sIUnzrNVCM=" }}"#).unwrap(),
            "hello from bao"
        );
    }

    #[test]
    fn bcrypt_verifies_and_uuid_has_the_v4_shape() {
        let out = render_text(r#"{{ sprig_htpasswd "user" "pw" }}"#).unwrap();
        let (user, hash) = out.split_once(':').unwrap();
        assert_eq!(user, "user");
        assert!(hash.starts_with("$2a$10$"), "{hash}");
        assert!(bcrypt::verify("pw", hash).unwrap());
        let id = render_text(r#"{{ sprig_uuidv4 }}"#).unwrap();
        let re = regex::Regex::new(
            "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
        )
        .unwrap();
        assert!(re.is_match(&id), "{id}");
        let b = render_text(r#"{{ sprig_randBytes 12 }}"#).unwrap();
        assert_eq!(b.len(), 16);
    }

    #[test]
    fn derive_password_is_master_password() {
        // Value printed by bao agent 2.7.2 for the same call.
        assert_eq!(
            render_text(r#"{{ sprig_derivePassword 1 "long" "password" "user" "example.com" }}"#)
                .unwrap(),
            "ZedaFaxcZaso9*"
        );
    }
}
