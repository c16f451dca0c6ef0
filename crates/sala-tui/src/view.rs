//! Drawing the full-screen client: rooms on the left, the conversation in the middle, who
//! is online on the right (when the terminal is wide enough), then who is typing, the input
//! line and a status bar. Everything is recomputed from the state on every draw, so a
//! resize simply draws again.

use chrono::Local;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, List, ListItem, Paragraph};
use sala_proto::api::{Message, UserStatus};

use crate::app::{self, App};
use crate::wrap;

/// What the client must remember of a draw: the conversation pane's size, and the scroll
/// offset actually used (never past the oldest line loaded).
pub struct Drawn {
    pub pane: (u16, u16),
    pub scroll: usize,
}

pub fn draw(frame: &mut Frame, app: &App) -> Drawn {
    let [main, typing, input, status] = Layout::vertical([
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(3),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let wide = main.width >= 90;
    let rooms_width = if main.width >= 70 { 22 } else { 14 };
    let [rooms, conversation, members] = Layout::horizontal([
        Constraint::Length(rooms_width),
        Constraint::Min(20),
        Constraint::Length(if wide { 24 } else { 0 }),
    ])
    .areas(main);

    draw_rooms(frame, app, rooms);
    let drawn = draw_conversation(frame, app, conversation);
    if wide {
        draw_members(frame, app, members);
    }
    draw_typing(frame, app, typing);
    draw_input(frame, app, input);
    draw_status(frame, app, status);
    drawn
}

/// A stable colour per username, so a speaker is recognised at a glance. Green is kept for
/// the user's own name, yellow for mentions and red for busy.
fn name_color(name: &str) -> Color {
    const PALETTE: [Color; 7] = [
        Color::Cyan,
        Color::Magenta,
        Color::Blue,
        Color::LightCyan,
        Color::LightMagenta,
        Color::LightBlue,
        Color::LightRed,
    ];
    // FNV-1a: the same colour in every run and on every machine.
    let hash = name
        .to_lowercase()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
    PALETTE[usize::try_from(hash % PALETTE.len() as u64).unwrap_or(0)]
}

fn draw_rooms(frame: &mut Frame, app: &App, area: Rect) {
    let items: Vec<ListItem> = app
        .rooms
        .iter()
        .map(|(name, view)| {
            let current = app.active.as_deref() == Some(name.as_str());
            let mut spans = vec![Span::raw(app.shown_name(name))];
            if view.mentions > 0 {
                // Apart from plain activity: a mention is for me.
                spans.push(Span::styled(
                    format!(" @{}", view.mentions),
                    Style::new().fg(Color::Red).bold(),
                ));
            }
            if view.unread > 0 {
                // A quiet room's plain activity is there, but not called out.
                let style = if view.quiet {
                    Style::new().dim()
                } else {
                    Style::new().fg(Color::Yellow).bold()
                };
                spans.push(Span::styled(format!(" ({})", view.unread), style));
            }
            let style = if current {
                Style::new().reversed()
            } else {
                Style::new()
            };
            ListItem::new(Line::from(spans)).style(style)
        })
        .collect();
    frame.render_widget(
        List::new(items).block(Block::bordered().title(" Rooms ")),
        area,
    );
}

/// A line of the conversation as drawn, before it is wrapped into rows.
pub fn conversation_line<'a>(line: &'a app::Line, me: &str, server: &str) -> Line<'a> {
    match line {
        app::Line::Message(message) => message_line(message, me, server),
        app::Line::Note(text) => note_line(text),
    }
}

fn note_line(text: &str) -> Line<'static> {
    Line::styled(format!("* {text}"), Style::new().dim().italic())
}

fn message_line<'a>(message: &'a Message, me: &str, server: &str) -> Line<'a> {
    let time = message.ts.with_timezone(&Local).format("%H:%M").to_string();
    let name_style = if message.user == me {
        Style::new().fg(Color::Green).bold()
    } else {
        Style::new().fg(name_color(&message.user)).bold()
    };
    let mut spans = vec![Span::styled(time, Style::new().dim()), Span::raw(" ")];
    // `/me waves` arrives as `_waves_`: shown as an action.
    if let Some(action) = emote(&message.text) {
        spans.push(Span::styled("* ", Style::new().italic()));
        spans.push(Span::styled(message.user.clone(), name_style.italic()));
        spans.push(Span::styled(format!(" {action}"), Style::new().italic()));
        return Line::from(spans);
    }
    if message.reply_to.is_some() {
        spans.push(Span::styled("↳ ", Style::new().dim()));
    }
    spans.push(Span::styled(message.user.clone(), name_style));
    if message.assistant {
        spans.push(Span::styled(
            " [assistant]",
            Style::new().fg(Color::Magenta),
        ));
    }
    spans.push(Span::raw(": "));
    if message.deleted {
        spans.push(Span::styled(
            "(message deleted)",
            Style::new().dim().italic(),
        ));
        return Line::from(spans);
    }
    let mention = format!("@{}", me.to_lowercase());
    // Formatting, legibly and without changing a width (the wrap counts the text as it
    // is): **bold** runs are bold, `code` is cyan, links are underlined; the markers stay.
    let (mut bold, mut code) = (false, false);
    for (i, word) in message.text.split(' ').enumerate() {
        if i > 0 {
            spans.push(Span::raw(" "));
        }
        bold |= word.starts_with("**");
        code |= word.starts_with('`');
        let lower = word.to_lowercase();
        let mut style = if lower.starts_with(&mention) {
            Style::new().fg(Color::Black).bg(Color::Yellow)
        } else if word.starts_with('@') && word.len() > 1 {
            Style::new().fg(Color::Yellow)
        } else if lower.starts_with("https://") || lower.starts_with("http://") {
            Style::new().fg(Color::Blue).underlined()
        } else {
            Style::new()
        };
        if bold {
            style = style.bold();
        }
        if code {
            style = style.fg(Color::Cyan);
        }
        spans.push(Span::styled(word.to_owned(), style));
        if word.len() > 2 && word.ends_with("**") || word == "**" && bold {
            bold = false;
        }
        if word.len() > 1 && word.ends_with('`') || word == "`" && code {
            code = false;
        }
    }
    if message.edited_at.is_some() {
        spans.push(Span::styled(" (edited)", Style::new().dim()));
    }
    if message.replies > 0 {
        let replies = if message.replies == 1 {
            "reply"
        } else {
            "replies"
        };
        spans.push(Span::styled(
            format!(" [{} {replies}]", message.replies),
            Style::new().fg(Color::Cyan),
        ));
    }
    for reaction in &message.reactions {
        spans.push(Span::styled(
            format!(" {} {}", reaction.emoji, reaction.count),
            Style::new().fg(Color::Yellow),
        ));
    }
    // Files as name, size and link (a terminal shows no pictures; the link opens them in a
    // browser that has logged in, or with `curl -H 'Authorization: Bearer …'`).
    for file in &message.attachments {
        spans.push(Span::styled(
            format!(
                " [file: {}, {}, {}{}]",
                file.name,
                app::human_size(file.size),
                server.trim_end_matches('/'),
                file.url
            ),
            Style::new().fg(Color::Blue),
        ));
    }
    Line::from(spans)
}

/// The action of an emote (`_waves_`), if the text is one.
fn emote(text: &str) -> Option<&str> {
    let inner = text.strip_prefix('_')?.strip_suffix('_')?;
    (!inner.is_empty() && !inner.starts_with(' ') && !inner.contains('_')).then_some(inner)
}

/// Draws the conversation from the bottom up: the newest row on the pane's last row, or
/// `app.scroll` rows higher. Each line is wrapped into rows by [`wrap::rows`], and only
/// as many lines as fill the pane are wrapped.
fn draw_conversation(frame: &mut Frame, app: &App, area: Rect) -> Drawn {
    let mut title = match &app.active {
        Some(room) => format!(" {} ", app.shown_name(room)),
        None => " no room — /join ROOM ".to_owned(),
    };
    let block = Block::bordered();
    let inner = block.inner(area);
    let (width, height) = (inner.width.max(1), usize::from(inner.height));
    let wanted = height + app.scroll;
    let mut rows: Vec<Line> = Vec::new(); // newest first
    let mut reached_top = true;
    let lines: Vec<Line> = match app.active_room() {
        Some(view) => view
            .lines
            .iter()
            .map(|line| conversation_line(line, &app.me, &app.server))
            .collect(),
        None => app.notes.iter().map(|text| note_line(text)).collect(),
    };
    for line in lines.iter().rev() {
        if rows.len() >= wanted {
            reached_top = false;
            break;
        }
        let mut made = wrap::rows(line, width);
        made.reverse();
        rows.extend(made);
    }
    if reached_top && app.active_room().is_some_and(|view| view.more) {
        rows.push(Line::styled(
            "(PageUp for older messages)",
            Style::new().dim(),
        ));
    }
    // Past the top, the oldest row stays on the pane's first row.
    let scroll = app.scroll.min(rows.len().saturating_sub(height));
    let visible: Vec<Line> = rows.into_iter().skip(scroll).take(height).rev().collect();
    if scroll > 0 {
        title.push_str(&if app.unseen > 0 {
            format!("-MORE({})- ", app.unseen)
        } else {
            "-MORE- ".to_owned()
        });
    }
    let mut block = block.title(title);
    if scroll > 0 {
        block = block.title_bottom(" Esc: back to the newest ");
    }
    frame.render_widget(Paragraph::new(visible).block(block), area);
    Drawn {
        pane: (width, inner.height),
        scroll,
    }
}

/// Who is online, busy ones marked by a sign as well as a colour (a monochrome terminal,
/// a colour-blind reader), with their note on the line below.
fn draw_members(frame: &mut Frame, app: &App, area: Rect) {
    let items: Vec<ListItem> = app
        .active_room()
        .map(|view| {
            view.members
                .iter()
                .map(|name| {
                    let name_style = Style::new().fg(if *name == app.me {
                        Color::Green
                    } else {
                        name_color(name)
                    });
                    match app.statuses.get(name) {
                        Some((UserStatus::Busy, note)) => {
                            let mut lines = vec![Line::from(vec![
                                Span::styled("⊘ ", Style::new().fg(Color::Red)),
                                Span::styled(name.clone(), name_style),
                                Span::styled(" busy", Style::new().fg(Color::Red)),
                            ])];
                            if let Some(note) = note {
                                lines.push(Line::styled(format!("  {note}"), Style::new().dim()));
                            }
                            ListItem::new(lines)
                        }
                        _ => ListItem::new(Line::from(vec![
                            Span::styled("● ", Style::new().fg(Color::Green)),
                            Span::styled(name.clone(), name_style),
                        ])),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    frame.render_widget(
        List::new(items).block(Block::bordered().title(" Online ")),
        area,
    );
}

fn draw_typing(frame: &mut Frame, app: &App, area: Rect) {
    let who: Vec<&str> = app
        .active_room()
        .map(|view| view.typing.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let text = match who.as_slice() {
        [] => String::new(),
        [one] => format!(" {one} is typing…"),
        many => format!(" {} are typing…", many.join(", ")),
    };
    frame.render_widget(
        Paragraph::new(text).style(Style::new().dim().italic()),
        area,
    );
}

fn draw_input(frame: &mut Frame, app: &App, area: Rect) {
    let block = Block::new()
        .borders(Borders::ALL)
        .title(" Message (Enter to send, /help) ");
    let inner = block.inner(area);
    // Keep the cursor in view on long lines.
    let width = usize::from(inner.width.max(1));
    let skip = app.cursor.saturating_sub(width.saturating_sub(1));
    let visible: String = app.input.chars().skip(skip).collect();
    frame.render_widget(Paragraph::new(visible).block(block), area);
    let column = u16::try_from(app.cursor - skip).unwrap_or(0);
    frame.set_cursor_position(Position::new(inner.x + column, inner.y));
}

fn draw_status(frame: &mut Frame, app: &App, area: Rect) {
    let status = match &app.busy {
        Some(Some(note)) => format!("busy: {note}"),
        Some(None) => "busy".to_owned(),
        None => "available".to_owned(),
    };
    let line = Line::from(vec![
        Span::styled(
            format!(" {} ", app.me),
            Style::new().add_modifier(Modifier::BOLD).reversed(),
        ),
        Span::raw(format!(" {status} · {} · {}", app.connection, app.server)),
    ]);
    frame.render_widget(Paragraph::new(line), area);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_their_colour_and_speakers_differ() {
        assert_eq!(name_color("carl"), name_color("Carl"));
        let names = ["ann", "bob", "carl", "dee", "eve", "zed", "uma", "ivy"];
        let colours: std::collections::HashSet<String> = names
            .iter()
            .map(|name| format!("{:?}", name_color(name)))
            .collect();
        assert!(colours.len() >= 4, "eight names share {colours:?}");
        assert!(!colours.contains("Green"), "green is the user's own name");
    }

    #[test]
    fn an_emote_is_text_in_underscores() {
        assert_eq!(emote("_waves_"), Some("waves"));
        assert_eq!(emote("_waves at bob_"), Some("waves at bob"));
        assert_eq!(emote("snake_case_name"), None);
        assert_eq!(emote("__"), None);
        assert_eq!(emote("_ x_"), None);
    }
}
