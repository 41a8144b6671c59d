//! Who recorded it: the checks of `--recorded-by`, and its default, the OS
//! account the process runs as.
//!
//! `--recorded-by` is checked by the very function that checks an input
//! line's `recorded_by` field (`domain::Text`, which the line reader uses
//! for it), so that nothing reaches the log through the option that a line
//! could not carry: no empty or invisible-only name, no control character
//! (a newline, an escape sequence), no bidirectional control, at most
//! `domain::MAX_TEXT_CHARS` characters.
//!
//! The default is the name of the account of the process's real uid, read
//! through the system's user database (`getpwuid_r`, so NSS: LDAP and SSSD
//! accounts are found as well as `/etc/passwd` ones). `$USER` and `$LOGNAME`
//! are not consulted: anyone can set them to any name, while the uid is what
//! the OS vouches for. Whoever records on behalf of someone else says so with
//! `--recorded-by`.

use domain::Text;

use crate::exit::Failure;

/// `--recorded-by` if given (checked as a line's `recorded_by`), else the
/// OS account's name. A refused value is a usage error (exit 2) naming the
/// option; the value itself is not echoed, since it may hold the very
/// control characters (an escape sequence) it is refused for.
pub fn recorded_by(given: Option<&str>) -> Result<String, Failure> {
    match given {
        Some(text) => Text::new(text)
            .map(|text| text.as_str().to_owned())
            .map_err(|error| {
                Failure::Usage(format!(
                    "invalid value for --recorded-by: {} (it is checked as an input line's recorded_by)",
                    error.message
                ))
            }),
        None => account_name(),
    }
}

/// The name of the account the process runs as, checked like a line's
/// `recorded_by`; an error asking for `--recorded-by` if there is no such
/// account or its name would not pass.
pub fn account_name() -> Result<String, Failure> {
    let uid = nix::unistd::getuid();
    let user = nix::unistd::User::from_uid(uid).map_err(|error| {
        Failure::Refused(format!(
            "cannot look up the account of uid {uid} in the user database ({error}): name who records with --recorded-by NAME"
        ))
    })?;
    let Some(user) = user else {
        return Err(Failure::Refused(format!(
            "uid {uid} has no account in the user database: name who records with --recorded-by NAME"
        )));
    };
    Text::new(&user.name)
        .map(|text| text.as_str().to_owned())
        .map_err(|error| {
            Failure::Refused(format!(
                "the account name {:?} (uid {uid}) cannot be recorded_by: it {}; name who records with --recorded-by NAME",
                user.name, error.message
            ))
        })
}
