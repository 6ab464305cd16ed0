//! The staff roster: who an account belongs to.
//!
//! Why a module of its own: Windows spells one account many ways (`jsmith`, `HOSPITAL\jsmith`,
//! `jsmith@hospital.local`) and mail names it by address; all must find the same person.

use std::collections::HashMap;

use super::{ContextError, Format, first_error, format_of, parse_all, required};

/// One roster row: who an account belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// sAMAccountName, lowercased.
    pub user: String,
    pub name: String,
    pub email: Option<String>,
    pub department: Option<String>,
    pub role: Option<String>,
    pub privileged: bool,
    pub manager: Option<String>,
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "1" | "x" => Some(true),
        "false" | "no" | "n" | "0" | "" => Some(false),
        _ => None,
    }
}

/// The account part of `DOMAIN\user` or `user@domain`, lowercased.
pub fn account_name(user: &str) -> String {
    let user = user.trim();
    let user = user.rsplit('\\').next().unwrap_or(user);
    let user = user.split('@').next().unwrap_or(user);
    user.to_lowercase()
}

/// The staff roster: who the accounts belong to.
#[derive(Debug, Clone, Default)]
pub struct Roster {
    people: Vec<Person>,
    by_user: HashMap<String, usize>,
    by_email: HashMap<String, usize>,
}

impl Roster {
    /// A roster of `people`; on duplicate users or e-mails the first row wins.
    pub fn new(people: Vec<Person>) -> Self {
        let mut r = Roster {
            people,
            ..Default::default()
        };
        for (i, p) in r.people.iter().enumerate() {
            r.by_user.entry(p.user.to_lowercase()).or_insert(i);
            if let Some(e) = &p.email {
                r.by_email.entry(e.to_lowercase()).or_insert(i);
            }
        }
        r
    }

    /// Parse CSV text with a header row (`user,name,email,department,role,privileged,manager`).
    pub fn from_csv(text: &str) -> Result<Self, ContextError> {
        first_error(Self::parse("<roster csv>", text, Format::Csv))
    }

    /// Parse a YAML list of rows with the same fields as the CSV columns.
    pub fn from_yaml(text: &str) -> Result<Self, ContextError> {
        first_error(Self::parse("<roster yaml>", text, Format::Yaml))
    }

    /// Parse `text` as CSV or YAML by the extension of `path_name`; the first problem is an error.
    pub fn load(path_name: &str, text: &str) -> Result<Self, ContextError> {
        first_error(Self::load_partial(path_name, text))
    }

    /// Parse `text` by the extension of `path_name`, keeping every good row and reporting
    /// every bad one.
    pub fn load_partial(path_name: &str, text: &str) -> (Self, Vec<ContextError>) {
        match format_of(path_name) {
            Ok(f) => Self::parse(path_name, text, f),
            Err(e) => (Self::default(), vec![e]),
        }
    }

    fn parse(file: &str, text: &str, format: Format) -> (Self, Vec<ContextError>) {
        let (people, errors) = parse_all(file, text, format, |file, at, map| {
            let bad = |column, value: &str, hint| ContextError::BadValue {
                file: file.to_string(),
                at: at.clone(),
                column,
                value: value.to_string(),
                hint,
            };
            let user = required(file, &at, map, "user")?;
            if user.contains(char::is_whitespace) {
                return Err(bad("user", user, "expected an account name without spaces"));
            }
            let email = map.get("email").cloned();
            if let Some(e) = &email
                && !e.contains('@')
            {
                return Err(bad(
                    "email",
                    e,
                    "expected an address like name@hospital.example",
                ));
            }
            let privileged = match map.get("privileged") {
                None => false,
                Some(p) => {
                    parse_bool(p).ok_or_else(|| bad("privileged", p, "expected true or false"))?
                }
            };
            let name = map
                .get("name")
                .or_else(|| map.get("display_name"))
                .cloned()
                .unwrap_or_else(|| user.to_string());
            Ok(Person {
                user: account_name(user),
                name,
                email,
                department: map.get("department").cloned(),
                role: map.get("role").cloned(),
                privileged,
                manager: map.get("manager").cloned(),
            })
        });
        (Roster::new(people), errors)
    }

    /// Every row, in file order.
    pub fn people(&self) -> &[Person] {
        &self.people
    }

    /// The person with account `user` (also `DOMAIN\user`, `user@domain`) or e-mail address
    /// `user`, case-insensitively.
    pub fn person(&self, user: &str) -> Option<&Person> {
        let lower = user.trim().to_lowercase();
        if lower.contains('@')
            && let Some(&i) = self.by_email.get(&lower)
        {
            return Some(&self.people[i]);
        }
        self.by_user
            .get(&account_name(&lower))
            .map(|&i| &self.people[i])
    }
}
