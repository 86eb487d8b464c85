//! The person's contacts and recent calls, kept on their machine (`contacts.json` in the OS
//! config directory, beside the settings): the server never holds a contact list.
//!
//! Pure data and its file; what rings and who is online is [`super::reach`].

use std::path::Path;

use serde::{Deserialize, Serialize};
use tincan_protocol::PersonalCode;

use crate::error::AppError;
use crate::json_file::{JsonFile, JsonFileError};

/// The most contacts kept (a pasted flood cannot grow the file without bound).
pub const MAX_CONTACTS: usize = 500;
/// Recent calls listed on the home screen, newest first.
pub const RECENT_CALLS: usize = 30;
/// A contact's name, in characters.
pub const NAME_CHARS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub code: PersonalCode,
    pub name: String,
}

/// How a call in the recent list went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallKind {
    /// I rang them.
    Outgoing,
    /// They rang and I answered.
    Incoming,
    /// They rang and nobody answered here (or Tincan answered "busy" for me).
    Missed,
    /// They rang and I declined (or the app refused: not a contact, do not disturb).
    Declined,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentCall {
    pub code: PersonalCode,
    /// The name they gave (or their contact name, when they are one).
    pub name: String,
    pub kind: CallKind,
    /// Milliseconds since 1970 (UTC).
    pub at_ms: u64,
    /// How a ring ended, in words, when it did not become a call ("declined", "no answer").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Book {
    pub contacts: Vec<Contact>,
    /// Newest first.
    pub recent: Vec<RecentCall>,
}

/// A name as kept: trimmed, control characters dropped, at most [`NAME_CHARS`].
pub fn clean_name(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .chars()
        .take(NAME_CHARS)
        .collect()
}

impl Book {
    pub fn contact(&self, code: PersonalCode) -> Option<&Contact> {
        self.contacts.iter().find(|c| c.code == code)
    }

    /// Adds `code` as `name`, or renames them if already a contact.
    pub fn add(&mut self, code: PersonalCode, name: &str) -> Result<(), AppError> {
        let name = clean_name(name);
        if name.is_empty() {
            return Err(AppError::People("give the contact a name".into()));
        }
        if let Some(known) = self.contacts.iter_mut().find(|c| c.code == code) {
            known.name = name;
            return Ok(());
        }
        if self.contacts.len() >= MAX_CONTACTS {
            return Err(AppError::People(format!(
                "you have {MAX_CONTACTS} contacts, the most Tincan keeps; remove one first"
            )));
        }
        self.contacts.push(Contact { code, name });
        self.contacts.sort_by_key(|c| c.name.to_lowercase());
        Ok(())
    }

    pub fn rename(&mut self, code: PersonalCode, name: &str) -> Result<(), AppError> {
        if self.contact(code).is_none() {
            return Err(AppError::People(format!(
                "{code} is not one of your contacts"
            )));
        }
        self.add(code, name)
    }

    pub fn remove(&mut self, code: PersonalCode) -> bool {
        let before = self.contacts.len();
        self.contacts.retain(|c| c.code != code);
        before != self.contacts.len()
    }

    /// Notes a call at the top of the recent list (dropping the oldest beyond
    /// [`RECENT_CALLS`]); a contact is listed under their contact name.
    pub fn note_call(&mut self, mut call: RecentCall) {
        if let Some(contact) = self.contact(call.code) {
            call.name = contact.name.clone();
        }
        call.name = clean_name(&call.name);
        self.recent.insert(0, call);
        self.recent.truncate(RECENT_CALLS);
    }

    /// Bounds what a hand-edited or damaged file may hold.
    fn bounded(mut self) -> Self {
        self.contacts.truncate(MAX_CONTACTS);
        for c in &mut self.contacts {
            c.name = clean_name(&c.name);
        }
        self.recent.truncate(RECENT_CALLS);
        self
    }
}

/// `contacts.json` in the app's config directory.
pub struct BookFile {
    file: JsonFile,
}

impl BookFile {
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            file: JsonFile::new(dir.join("contacts.json")),
        }
    }

    /// The saved book; an empty one when there is none yet.
    pub fn load(&self) -> Result<Book, AppError> {
        match self.file.load::<Book>() {
            Ok(book) => Ok(book.bounded()),
            Err(e @ JsonFileError::Damaged { .. }) => Err(AppError::People(format!(
                "your contacts cannot be read: {e}; Tincan starts with none and keeps the \
                 file until you add one"
            ))),
            Err(e) => Err(AppError::People(e.to_string())),
        }
    }

    /// Writes the book whole.
    pub fn save(&self, book: &Book) -> Result<(), AppError> {
        self.file
            .save(book)
            .map_err(|e| AppError::People(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(n: u8) -> PersonalCode {
        tincan_protocol::PersonalKey::from_seed([n; 32]).code()
    }

    fn call(n: u8, kind: CallKind) -> RecentCall {
        RecentCall {
            code: code(n),
            name: format!("caller {n}"),
            kind,
            at_ms: u64::from(n),
            outcome: None,
        }
    }

    #[test]
    fn contacts_are_added_renamed_and_removed_by_code() {
        let mut book = Book::default();
        book.add(code(1), "  Zed\n ").unwrap();
        book.add(code(2), "ada").unwrap();
        assert_eq!(book.contacts[0].name, "ada", "sorted by name");
        assert_eq!(book.contact(code(1)).unwrap().name, "Zed");
        book.add(code(1), "Zed Again").unwrap();
        assert_eq!(book.contacts.len(), 2, "adding a known code renames");
        book.rename(code(2), "Ada L").unwrap();
        assert_eq!(book.contact(code(2)).unwrap().name, "Ada L");
        assert!(book.rename(code(3), "x").is_err());
        assert!(book.add(code(3), "   ").is_err(), "a contact needs a name");
        assert!(book.remove(code(1)));
        assert!(!book.remove(code(1)));
        let long = "x".repeat(500);
        book.add(code(4), &long).unwrap();
        assert_eq!(
            book.contact(code(4)).unwrap().name.chars().count(),
            NAME_CHARS
        );
    }

    #[test]
    fn recent_calls_are_newest_first_bounded_and_named_as_contacts() {
        let mut book = Book::default();
        book.add(code(1), "Ada").unwrap();
        for n in 0..40 {
            book.note_call(call(n, CallKind::Missed));
        }
        assert_eq!(book.recent.len(), RECENT_CALLS);
        assert_eq!(book.recent[0].at_ms, 39);
        book.note_call(call(1, CallKind::Incoming));
        assert_eq!(book.recent[0].name, "Ada");
    }

    #[test]
    fn the_book_survives_its_file_and_a_damaged_file_says_so() {
        let dir = std::env::temp_dir().join(format!("tincan-book-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let file = BookFile::in_dir(&dir);
        assert_eq!(file.load().unwrap(), Book::default());
        let mut book = Book::default();
        book.add(code(1), "Ada").unwrap();
        book.note_call(call(1, CallKind::Outgoing));
        file.save(&book).unwrap();
        assert_eq!(file.load().unwrap(), book);
        std::fs::write(dir.join("contacts.json"), "{ not json").unwrap();
        let refused = file.load().unwrap_err().to_string();
        assert!(refused.contains("cannot be read"), "{refused}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
