//! A search as a user types it (issue 21): words and quoted phrases to find, and the
//! filters users know from other chats, `from:alice`, `in:#room` and `has:file`.
//!
//! Parsing never fails on what a user may type inside the text: `%`, `_`, `*`, `^`, `-`,
//! `NEAR`, `AND` are words like any other, and an unbalanced quote runs to the end. Each
//! backend quotes the terms for its own index, so no operator of SQLite's FTS5 or of
//! PostgreSQL's `tsquery` ever reaches it from a user. Refused are only an empty search,
//! one too long, and a filter naming something that cannot exist.

use super::{RoomName, Username, ValidationError};

/// Longest search, in characters: a quarter of the longest message.
pub const MAX_QUERY_CHARS: usize = 1_000;

/// Most words and phrases a search may have; the rest would only slow the index down.
pub const MAX_TERMS: usize = 32;

/// One thing to find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchTerm {
    /// A word, found wherever it occurs as a word (or, in text without spaces between
    /// words, as part of one).
    Word(String),
    /// Words in this order, side by side.
    Phrase(String),
}

impl SearchTerm {
    /// The text to find, whichever kind the term is.
    pub fn text(&self) -> &str {
        match self {
            Self::Word(text) | Self::Phrase(text) => text,
        }
    }
}

/// A parsed search: only [`SearchQuery::parse`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    terms: Vec<SearchTerm>,
    from: Option<Username>,
    room: Option<RoomName>,
    has_file: bool,
}

impl SearchQuery {
    /// Parses what the user typed.
    ///
    /// # Errors
    /// An empty search (nothing to find and no filter), one over [`MAX_QUERY_CHARS`] or
    /// [`MAX_TERMS`], `from:` without a valid username, `in:` without a valid room name,
    /// `has:` with anything but `file`, or a filter given twice.
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        if input.chars().count() > MAX_QUERY_CHARS {
            return Err(ValidationError::new("q", "must be at most 1000 characters"));
        }
        let mut query = Self {
            terms: Vec::new(),
            from: None,
            room: None,
            has_file: false,
        };
        for token in tokens(input) {
            match token {
                Token::Phrase(text) => query.push(SearchTerm::Phrase(text))?,
                Token::Bare(word) => match filter(&word) {
                    Some((Filter::From, value)) => {
                        let name = Username::parse(value.trim_start_matches('@'))
                            .map_err(|_| ValidationError::new("q", "from: takes a username"))?;
                        set_once(&mut query.from, name, "from:")?;
                    }
                    Some((Filter::In, value)) => {
                        let room = RoomName::parse(value.trim_start_matches('#'))
                            .map_err(|_| ValidationError::new("q", "in: takes a room name"))?;
                        set_once(&mut query.room, room, "in:")?;
                    }
                    Some((Filter::Has, value)) => {
                        if !value.eq_ignore_ascii_case("file") {
                            return Err(ValidationError::new("q", "has: takes file"));
                        }
                        query.has_file = true;
                    }
                    None => query.push(SearchTerm::Word(word))?,
                },
            }
        }
        if query.terms.is_empty() && query.from.is_none() && query.room.is_none() && !query.has_file
        {
            return Err(ValidationError::new(
                "q",
                "must have a word to find or a filter",
            ));
        }
        Ok(query)
    }

    fn push(&mut self, term: SearchTerm) -> Result<(), ValidationError> {
        if self.terms.len() == MAX_TERMS {
            return Err(ValidationError::new(
                "q",
                "must have at most 32 words and phrases",
            ));
        }
        self.terms.push(term);
        Ok(())
    }

    /// The words and phrases; every one must occur in a hit. Empty when only filters
    /// were given.
    pub fn terms(&self) -> &[SearchTerm] {
        &self.terms
    }

    /// `from:NAME`: only messages by this user.
    pub fn from(&self) -> Option<&Username> {
        self.from.as_ref()
    }

    /// `in:#ROOM`: only messages of this room.
    pub fn room(&self) -> Option<&RoomName> {
        self.room.as_ref()
    }

    /// `has:file`: only messages with an attachment.
    pub fn has_file(&self) -> bool {
        self.has_file
    }
}

fn set_once<T>(slot: &mut Option<T>, value: T, name: &'static str) -> Result<(), ValidationError> {
    if slot.is_some() {
        return Err(ValidationError::new(
            "q",
            match name {
                "from:" => "may have one from:",
                _ => "may have one in:",
            },
        ));
    }
    *slot = Some(value);
    Ok(())
}

enum Filter {
    From,
    In,
    Has,
}

/// `from:x`, `in:x`, `has:x` (any case), with what follows the colon; `None` for any
/// other word, including a filter name with nothing after it (a word like `from:`).
fn filter(word: &str) -> Option<(Filter, &str)> {
    let (name, value) = word.split_once(':')?;
    if value.is_empty() {
        return None;
    }
    let filter = match name.to_ascii_lowercase().as_str() {
        "from" => Filter::From,
        "in" => Filter::In,
        "has" => Filter::Has,
        _ => return None,
    };
    Some((filter, value))
}

enum Token {
    Bare(String),
    Phrase(String),
}

/// Splits at whitespace outside quotes. A `"` opens a phrase that the next `"` closes, or
/// the end of the input; an empty phrase is dropped. Control characters count as spaces.
fn tokens(input: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut in_phrase = false;
    let flush = |current: &mut String, phrase: bool, tokens: &mut Vec<Token>| {
        let text = current.split_whitespace().collect::<Vec<_>>().join(" ");
        current.clear();
        if !text.is_empty() {
            tokens.push(if phrase {
                Token::Phrase(text)
            } else {
                Token::Bare(text)
            });
        }
    };
    for c in input.chars() {
        let c = if c.is_control() { ' ' } else { c };
        match c {
            '"' => {
                flush(&mut current, in_phrase, &mut tokens);
                in_phrase = !in_phrase;
            }
            c if c.is_whitespace() && !in_phrase => flush(&mut current, false, &mut tokens),
            c => current.push(c),
        }
    }
    flush(&mut current, in_phrase, &mut tokens);
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(query: &SearchQuery) -> Vec<&str> {
        query.terms().iter().map(SearchTerm::text).collect()
    }

    #[test]
    fn words_phrases_and_filters_are_told_apart() {
        let query =
            SearchQuery::parse(r#"deploy "release notes" from:Alice in:#ops has:file"#).unwrap();
        assert_eq!(
            query.terms(),
            [
                SearchTerm::Word("deploy".into()),
                SearchTerm::Phrase("release notes".into())
            ]
        );
        assert_eq!(query.from().unwrap().as_ref(), "Alice");
        assert_eq!(query.room().unwrap().as_ref(), "ops");
        assert!(query.has_file());
    }

    #[test]
    fn operators_and_wildcards_are_plain_words() {
        let query = SearchQuery::parse("% _ * ^x -y a NEAR b AND c OR d").unwrap();
        assert_eq!(
            words(&query),
            [
                "%", "_", "*", "^x", "-y", "a", "NEAR", "b", "AND", "c", "OR", "d"
            ]
        );
    }

    #[test]
    fn an_unbalanced_quote_runs_to_the_end() {
        let query = SearchQuery::parse(r#"fix "the  build"#).unwrap();
        assert_eq!(
            query.terms(),
            [
                SearchTerm::Word("fix".into()),
                SearchTerm::Phrase("the build".into())
            ]
        );
        // A lone quote is nothing to find.
        assert!(SearchQuery::parse("\"").is_err());
    }

    #[test]
    fn text_without_spaces_is_one_word() {
        let query = SearchQuery::parse("東京タワー").unwrap();
        assert_eq!(words(&query), ["東京タワー"]);
    }

    #[test]
    fn a_filter_alone_is_a_search_and_nothing_at_all_is_not() {
        assert!(SearchQuery::parse("from:alice").is_ok());
        assert!(SearchQuery::parse("in:general").is_ok());
        for empty in ["", "   ", "\"\"", "\t\n", "\u{0}"] {
            assert!(SearchQuery::parse(empty).is_err(), "{empty:?}");
        }
        assert!(SearchQuery::parse("has:file").is_ok());
    }

    #[test]
    fn bad_filters_are_refused_and_bare_names_are_words() {
        for bad in [
            "from:a",
            "from:no/slash",
            "in:#bad/name",
            "has:image",
            "from:bob from:carol",
        ] {
            assert!(SearchQuery::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            words(&SearchQuery::parse("from: to:x").unwrap()),
            ["from:", "to:x"]
        );
    }

    #[test]
    fn length_and_term_count_are_bounded() {
        let long = "a".repeat(MAX_QUERY_CHARS);
        assert!(SearchQuery::parse(&long).is_ok());
        assert!(SearchQuery::parse(&format!("{long}b")).is_err());
        let many = vec!["w"; MAX_TERMS + 1].join(" ");
        assert!(SearchQuery::parse(&many).is_err());
        assert!(SearchQuery::parse(&many[2..]).is_ok());
    }
}
