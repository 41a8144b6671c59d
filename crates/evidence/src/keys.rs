//! Ed25519 signer and verifier keys in the signed-note text forms:
//!
//! ```text
//! PRIVATE+KEY+<name>+<key id>+<base64(0x01 ‖ 32-byte seed)>   (the signer key, kept 0600)
//! <name>+<key id>+<base64(0x01 ‖ 32-byte public key)>          (the verifier key, published)
//! ```
//!
//! The key id is the first four bytes of SHA-256(name ‖ "\n" ‖ 0x01 ‖
//! public key), written as 8 hex digits: it names the key in signature
//! lines, and changes with the name, so that a key cannot be passed off
//! under another signer's name.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::{hex, EvidenceError};

/// The algorithm byte of an Ed25519 key in the note formats.
const ED25519: u8 = 0x01;

/// Where the ledger's own key is looked for first; then
/// `$XDG_CONFIG_HOME/theseus/ledger.key`, then `$HOME/.config/theseus/ledger.key`.
pub const LEDGER_KEY_VARIABLE: &str = "THESEUS_LEDGER_KEY_FILE";

/// The name the ledger signs receipts and heads under.
pub const LEDGER_KEY_NAME: &str = "theseus-ledger";

/// A key's id: four bytes, written as 8 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(pub [u8; 4]);

impl KeyId {
    /// The id of `public` under `name`.
    pub fn of(name: &str, public: &[u8; 32]) -> KeyId {
        let digest = Sha256::new()
            .chain_update(name.as_bytes())
            .chain_update(b"\n")
            .chain_update([ED25519])
            .chain_update(public)
            .finalize();
        KeyId([digest[0], digest[1], digest[2], digest[3]])
    }

    pub fn parse(text: &str) -> Option<KeyId> {
        crate::parse_hex::<4>(text).map(KeyId)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// Whether `name` may name a signer: not empty, no `+`, no white space.
pub fn check_name(name: &str) -> Result<(), EvidenceError> {
    if name.is_empty() || name.contains('+') || name.chars().any(char::is_whitespace) {
        return Err(EvidenceError::Key(format!(
            "{name:?} cannot name a key (not empty, no '+', no spaces)"
        )));
    }
    Ok(())
}

fn key_bytes(encoded: &str, what: &str) -> Result<[u8; 32], EvidenceError> {
    let bytes = STANDARD
        .decode(encoded)
        .map_err(|_| EvidenceError::Key(format!("the {what} is not base64")))?;
    match bytes.split_first() {
        Some((&ED25519, rest)) if rest.len() == 32 => {
            let mut out = [0u8; 32];
            out.copy_from_slice(rest);
            Ok(out)
        }
        _ => Err(EvidenceError::Key(format!(
            "the {what} is not an Ed25519 key (0x01 and 32 bytes)"
        ))),
    }
}

fn encoded(bytes: &[u8; 32]) -> String {
    let mut data = Vec::with_capacity(33);
    data.push(ED25519);
    data.extend_from_slice(bytes);
    STANDARD.encode(data)
}

/// A private signing key and the name it signs under. `Debug` hides the key.
#[derive(Clone)]
pub struct SignerKey {
    name: String,
    key: SigningKey,
}

impl fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignerKey")
            .field("name", &self.name)
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

impl SignerKey {
    /// A new key from the operating system's random source.
    pub fn generate(name: &str) -> Result<SignerKey, EvidenceError> {
        check_name(name)?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|error| EvidenceError::Random(error.to_string()))?;
        Ok(SignerKey::from_seed(name, seed))
    }

    /// The key of this seed (tests, and reading a key file).
    pub fn from_seed(name: &str, seed: [u8; 32]) -> SignerKey {
        SignerKey {
            name: name.to_owned(),
            key: SigningKey::from_bytes(&seed),
        }
    }

    /// Reads `PRIVATE+KEY+<name>+<id>+<key>`; the id must match.
    pub fn parse(text: &str) -> Result<SignerKey, EvidenceError> {
        let text = text.trim_end_matches(['\n', '\r']);
        let rest = text.strip_prefix("PRIVATE+KEY+").ok_or_else(|| {
            EvidenceError::Key("not a signer key (PRIVATE+KEY+NAME+ID+KEY)".into())
        })?;
        let parts: Vec<&str> = rest.splitn(3, '+').collect();
        let [name, id, key] = parts[..] else {
            return Err(EvidenceError::Key(
                "not a signer key (PRIVATE+KEY+NAME+ID+KEY)".into(),
            ));
        };
        check_name(name)?;
        let signer = SignerKey::from_seed(name, key_bytes(key, "private key")?);
        if KeyId::parse(id) != Some(signer.id()) {
            return Err(EvidenceError::Key(format!(
                "the signer key's id {id:?} is not its key's ({})",
                signer.id()
            )));
        }
        Ok(signer)
    }

    /// The text form, to keep in a private file.
    pub fn encode(&self) -> String {
        format!(
            "PRIVATE+KEY+{}+{}+{}",
            self.name,
            self.id(),
            encoded(&self.key.to_bytes())
        )
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn id(&self) -> KeyId {
        self.verifier().id()
    }

    /// The public half.
    pub fn verifier(&self) -> VerifierKey {
        VerifierKey::new(&self.name, self.key.verifying_key().to_bytes())
    }

    /// The signature of `message`.
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }
}

/// A public key and the name it verifies signatures of.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct VerifierKey {
    name: String,
    public: [u8; 32],
    id: KeyId,
}

impl VerifierKey {
    pub fn new(name: &str, public: [u8; 32]) -> VerifierKey {
        VerifierKey {
            name: name.to_owned(),
            id: KeyId::of(name, &public),
            public,
        }
    }

    /// Reads `<name>+<id>+<key>`; the id must match.
    pub fn parse(text: &str) -> Result<VerifierKey, EvidenceError> {
        let text = text.trim_end_matches(['\n', '\r']);
        let parts: Vec<&str> = text.splitn(3, '+').collect();
        let [name, id, key] = parts[..] else {
            return Err(EvidenceError::Key(
                "not a verifier key (NAME+ID+KEY)".into(),
            ));
        };
        check_name(name)?;
        let verifier = VerifierKey::new(name, key_bytes(key, "public key")?);
        if KeyId::parse(id) != Some(verifier.id) {
            return Err(EvidenceError::Key(format!(
                "the verifier key's id {id:?} is not its key's ({})",
                verifier.id
            )));
        }
        Ok(verifier)
    }

    pub fn encode(&self) -> String {
        format!("{}+{}+{}", self.name, self.id, encoded(&self.public))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn id(&self) -> KeyId {
        self.id
    }

    pub fn public(&self) -> &[u8; 32] {
        &self.public
    }

    /// Whether `signature` is this key's over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let Ok(key) = VerifyingKey::from_bytes(&self.public) else {
            return false;
        };
        key.verify(message, &Signature::from_bytes(signature))
            .is_ok()
    }
}

/// The ledger's key file: [`LEDGER_KEY_VARIABLE`], else the user's
/// configuration directory (never the store's directory or tables: whoever
/// can write the store must not be able to sign as the ledger).
pub fn ledger_key_path() -> Result<PathBuf, EvidenceError> {
    if let Some(path) = std::env::var_os(LEDGER_KEY_VARIABLE).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    if let Some(config) = std::env::var_os("XDG_CONFIG_HOME").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(config).join("theseus").join("ledger.key"));
    }
    if let Some(home) = std::env::var_os("HOME").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(home)
            .join(".config")
            .join("theseus")
            .join("ledger.key"));
    }
    Err(EvidenceError::NoLocation(LEDGER_KEY_VARIABLE))
}

/// Reads a signer key file.
pub fn read_signer(path: &Path) -> Result<SignerKey, EvidenceError> {
    let text = std::fs::read_to_string(path).map_err(|source| EvidenceError::Io {
        path: path.to_owned(),
        source,
    })?;
    SignerKey::parse(&text)
        .map_err(|error| EvidenceError::Key(format!("{}: {error}", path.display())))
}

/// Writes a new private file (0600), refusing to replace one.
pub fn write_private(path: &Path, text: &str) -> Result<(), EvidenceError> {
    let io = |source| EvidenceError::Io {
        path: path.to_owned(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    file.write_all(b"\n").map_err(io)?;
    file.sync_all().map_err(io)
}

/// The ledger's key from `path`, created there (0600, its folder 0700) if
/// the file does not exist yet.
pub fn load_or_create_ledger_key(path: &Path) -> Result<SignerKey, EvidenceError> {
    match read_signer(path) {
        Err(EvidenceError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
        other => return other,
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(parent).map_err(|source| EvidenceError::Io {
            path: parent.to_owned(),
            source,
        })?;
    }
    let key = SignerKey::generate(LEDGER_KEY_NAME)?;
    match write_private(path, &key.encode()) {
        // Another process created it first: use theirs.
        Err(EvidenceError::Io { source, .. })
            if source.kind() == std::io::ErrorKind::AlreadyExists =>
        {
            read_signer(path)
        }
        Err(error) => Err(error),
        Ok(()) => Ok(key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_their_text_and_ids_depend_on_the_name() {
        let signer = SignerKey::from_seed("rs-police", [7; 32]);
        let read = SignerKey::parse(&signer.encode()).expect("signer");
        assert_eq!(read.verifier(), signer.verifier());
        let verifier = VerifierKey::parse(&signer.verifier().encode()).expect("verifier");
        assert_eq!(verifier, signer.verifier());
        let other = SignerKey::from_seed("al-police", [7; 32]);
        assert_ne!(other.id(), signer.id());
        // A key passed off under another name does not read.
        let renamed = signer
            .verifier()
            .encode()
            .replacen("rs-police", "al-police", 1);
        assert!(VerifierKey::parse(&renamed).is_err());
        assert!(SignerKey::parse("rs-police+00000000+AAAA").is_err());
        assert!(!format!("{signer:?}").contains(&signer.encode()[20..]));
    }

    #[test]
    fn a_signature_verifies_under_its_key_only() {
        let signer = SignerKey::from_seed("rs-police", [1; 32]);
        let signature = signer.sign(b"statement");
        assert!(signer.verifier().verify(b"statement", &signature));
        assert!(!signer.verifier().verify(b"statemenT", &signature));
        let other = SignerKey::from_seed("rs-police", [2; 32]);
        assert!(!other.verifier().verify(b"statement", &signature));
    }

    #[test]
    fn the_ledger_key_is_created_once_private_and_read_back() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("config").join("ledger.key");
        let first = load_or_create_ledger_key(&path).expect("create");
        let again = load_or_create_ledger_key(&path).expect("read");
        assert_eq!(first.verifier(), again.verifier());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(write_private(&path, "x").is_err(), "never replaced");
    }
}
