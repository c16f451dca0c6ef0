//! Word wrap that the conversation both counts and draws with.
//!
//! The conversation is drawn from the bottom up: to know where its last row is, the client
//! must know how many rows every message takes. Counting with one rule and drawing with
//! another (ratatui's own word wrap) put the newest message below the pane whenever a long
//! word wrapped early. So the client breaks each line into rows itself, here, and draws
//! exactly those rows without further wrapping: the count is the drawing.
//!
//! Widths are those ratatui's buffer uses: per grapheme cluster, by `unicode-width`, so a
//! wide CJK character or an emoji takes two columns and a combining mark none.

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_segmentation::UnicodeSegmentation as _;
use unicode_width::UnicodeWidthStr as _;

/// One grapheme cluster as it will be drawn.
struct Cell<'a> {
    symbol: &'a str,
    style: Style,
    width: usize,
}

/// Breaks `line` into the rows it takes in `width` columns: between words where it can,
/// inside a word only when the word is wider than a row. A newline in the text starts a new
/// row; other control characters are dropped (ratatui would not draw them either). Spaces
/// where a row breaks are dropped. Every row is at most `width` columns wide, and there is
/// always at least one row.
pub fn rows(line: &Line<'_>, width: u16) -> Vec<Line<'static>> {
    let width = usize::from(width.max(1));
    let mut rows = Rows {
        width,
        done: Vec::new(),
        row: Vec::new(),
        used: 0,
    };
    let mut cells = Vec::new();
    for span in &line.spans {
        let style = line.style.patch(span.style);
        for symbol in span.content.graphemes(true) {
            if symbol == "\n" || symbol == "\r\n" {
                rows.place_word(&mut cells);
                rows.break_row();
            } else if symbol.contains(char::is_control) {
                continue;
            } else if symbol == " " {
                rows.place_word(&mut cells);
                rows.place_space(style);
            } else {
                cells.push(Cell {
                    symbol,
                    style,
                    width: symbol.width(),
                });
            }
        }
    }
    rows.place_word(&mut cells);
    rows.finish()
}

/// The rows made so far and the one being filled.
struct Rows<'a> {
    width: usize,
    done: Vec<Line<'static>>,
    row: Vec<Cell<'a>>,
    used: usize,
}

impl<'a> Rows<'a> {
    fn place_word(&mut self, word: &mut Vec<Cell<'a>>) {
        let word_width: usize = word.iter().map(|cell| cell.width).sum();
        if self.used + word_width > self.width && self.used > 0 && word_width <= self.width {
            self.break_row();
        }
        for cell in word.drain(..) {
            // A character wider than a whole row (a wide one in a one-column pane) gets a
            // row of its own rather than an empty row before it.
            if self.used > 0 && self.used + cell.width > self.width {
                self.break_row();
            }
            self.used += cell.width;
            self.row.push(cell);
        }
    }

    fn place_space(&mut self, style: Style) {
        if self.used + 1 > self.width {
            self.break_row(); // the space itself falls at the break
        } else {
            self.used += 1;
            self.row.push(Cell {
                symbol: " ",
                style,
                width: 1,
            });
        }
    }

    fn break_row(&mut self) {
        // Trailing spaces would only push the next word's row count off by nothing; drop
        // them so a row never ends in blanks that a narrower terminal would wrap.
        while self.row.last().is_some_and(|cell| cell.symbol == " ") {
            self.row.pop();
        }
        let row = std::mem::take(&mut self.row);
        self.done.push(join(row));
        self.used = 0;
    }

    fn finish(mut self) -> Vec<Line<'static>> {
        if !self.row.is_empty() || self.done.is_empty() {
            self.break_row();
        }
        self.done
    }
}

/// Joins a row's cells into spans, one per run of the same style.
fn join(cells: Vec<Cell<'_>>) -> Line<'static> {
    let mut spans: Vec<Span<'static>> = Vec::new();
    let mut text = String::new();
    let mut style = None;
    for cell in cells {
        if style.is_some_and(|current| current != cell.style) {
            spans.push(Span::styled(
                std::mem::take(&mut text),
                style.unwrap_or_default(),
            ));
        }
        style = Some(cell.style);
        text.push_str(cell.symbol);
    }
    if let Some(style) = style {
        spans.push(Span::styled(text, style));
    }
    Line::from(spans)
}

#[cfg(test)]
mod tests {
    use ratatui::style::Color;

    use super::*;

    fn texts(line: &Line<'_>, width: u16) -> Vec<String> {
        rows(line, width).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn words_move_to_the_next_row_whole() {
        let line = Line::from("one two three four five");
        assert_eq!(texts(&line, 9), ["one two", "three", "four five"]);
        // A word wider than a row starts where it is and continues on the next rows.
        let line = Line::from("see https://example.com/a/long/path now");
        assert_eq!(
            texts(&line, 20),
            ["see https://example.", "com/a/long/path now"]
        );
    }

    #[test]
    fn a_word_wider_than_a_row_is_cut_and_short_words_still_wrap() {
        assert_eq!(
            texts(&Line::from("abcdefghij xy"), 4),
            ["abcd", "efgh", "ij", "xy"]
        );
        assert_eq!(texts(&Line::from("ab cd"), 5), ["ab cd"]);
        assert_eq!(texts(&Line::from(""), 5), [""]);
    }

    #[test]
    fn wide_and_zero_width_characters_take_their_columns() {
        // Five CJK characters of two columns: two fit in a row of five.
        assert_eq!(texts(&Line::from("会議は午後"), 5), ["会議", "は午", "後"]);
        assert_eq!(texts(&Line::from("🎉🎉🎉"), 4), ["🎉🎉", "🎉"]);
        // A combining acute accent adds nothing: "e\u{301}" is one column.
        assert_eq!(texts(&Line::from("e\u{301}e\u{301}e\u{301}"), 3).len(), 1);
    }

    #[test]
    fn newlines_break_and_styles_survive() {
        let line = Line::from(vec![
            Span::styled("bob", Style::new().fg(Color::Cyan)),
            Span::raw(": one\ntwo"),
        ]);
        let made = rows(&line, 40);
        assert_eq!(made.len(), 2);
        assert_eq!(made[0].spans[0].style.fg, Some(Color::Cyan));
        assert_eq!(made[1].to_string(), "two");
    }

    #[test]
    fn no_row_is_wider_than_asked() {
        let line = Line::from("x 会議 🎉 https://github.com/example/project/pull/12345/files");
        for width in 2..30 {
            for row in rows(&line, width) {
                assert!(row.width() <= usize::from(width), "{row} in {width}");
            }
        }
    }
}
