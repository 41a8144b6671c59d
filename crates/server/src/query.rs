//! Query strings, read strictly: every parameter known to its route, none
//! given twice, and no token anywhere in the URL.

use crate::ServerError;

/// Parameter names a client might put a token under.
const TOKEN_NAMES: &[&str] = &[
    "token",
    "access_token",
    "auth",
    "authorization",
    "bearer",
    "api_key",
    "apikey",
    "key",
];

/// Whether a query string carries something that looks like a token: a
/// parameter named like one, or a value (or name) that is one.
pub fn holds_token(query: &str) -> bool {
    form_urlencoded::parse(query.as_bytes()).any(|(name, value)| {
        let name = name.to_ascii_lowercase();
        TOKEN_NAMES.contains(&name.as_str())
            || name.starts_with(ledger::agencies::TOKEN_PREFIX)
            || value.starts_with(ledger::agencies::TOKEN_PREFIX)
            || value.to_ascii_lowercase().starts_with("bearer ")
    })
}

/// A route's parameters.
#[derive(Debug, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Reads `query` (absent: none), refusing parameters not in `allowed`
    /// and parameters given twice.
    pub fn parse(query: Option<&str>, allowed: &[&str]) -> Result<Query, ServerError> {
        Query::parse_repeatable(query, allowed, &[])
    }

    /// [`Query::parse`], where the parameters in `repeatable` may be given
    /// more than once (`country=RS&country=AL`, as `--country` is).
    pub fn parse_repeatable(
        query: Option<&str>,
        allowed: &[&str],
        repeatable: &[&str],
    ) -> Result<Query, ServerError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (name, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            if !allowed.contains(&name.as_ref()) {
                let expected = if allowed.is_empty() {
                    "this route takes no parameters".to_owned()
                } else {
                    format!("expected one of {}", allowed.join(", "))
                };
                return Err(ServerError::BadRequest {
                    field: name.into_owned(),
                    message: format!("unknown query parameter ({expected})"),
                });
            }
            if !repeatable.contains(&name.as_ref()) && pairs.iter().any(|(seen, _)| *seen == name) {
                return Err(ServerError::BadRequest {
                    field: name.into_owned(),
                    message: "given twice".into(),
                });
            }
            pairs.push((name.into_owned(), value.into_owned()));
        }
        Ok(Query { pairs })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Every value of a repeatable parameter, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// A parameter read with `parse`, its error naming the parameter.
    pub fn read<T>(
        &self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ServerError> {
        self.get(name)
            .map(|text| {
                parse(text).map_err(|message| ServerError::BadRequest {
                    field: name.to_owned(),
                    message,
                })
            })
            .transpose()
    }

    /// A boolean flag: `true`, `false`, `1`, `0`, or empty (true).
    pub fn flag(&self, name: &str) -> Result<bool, ServerError> {
        Ok(self
            .read(name, |text| match text {
                "" | "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                other => Err(format!("{other:?} is not true or false")),
            })?
            .unwrap_or(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_found_wherever_they_are_put() {
        for query in [
            "token=abc",
            "ACCESS_TOKEN=abc",
            "operation=theseus&key=1",
            "operation=ths_0123",
            "x=Bearer%20abc",
        ] {
            assert!(holds_token(query), "{query}");
        }
        assert!(!holds_token("operation=theseus&format=json"));
    }

    #[test]
    fn unknown_and_repeated_parameters_are_refused() {
        let field = |query: &str| match Query::parse(Some(query), &["after", "limit"]) {
            Err(ServerError::BadRequest { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field("after=1&colour=red"), "colour");
        assert_eq!(field("limit=1&limit=2"), "limit");
        let query = Query::parse(Some("after=5"), &["after", "limit"]).expect("valid");
        assert_eq!(query.get("after"), Some("5"));
        assert_eq!(query.get("limit"), None);
    }
}
