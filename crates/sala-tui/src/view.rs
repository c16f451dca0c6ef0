//! Drawing the full-screen client: rooms on the left, the conversation in the middle, who
//! is online on the right (when the terminal is wide enough), then who is typing, the input
//! line and a status bar. Everything is recomputed from the state on every draw, so a
//! resize simply draws again.

use chrono::Local;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, List, ListItem, Paragraph, Wrap};
use sala_proto::api::{Message, UserStatus};

use crate::app::{self, App};

pub fn draw(frame: &mut Frame, app: &App) {
    let [main, typing, input, status] = Layout::vertical([
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(3),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    let wide = main.width >= 90;
    let [rooms, conversation, members] = Layout::horizontal([
        Constraint::Length(22),
        Constraint::Min(20),
        Constraint::Length(if wide { 22 } else { 0 }),
    ])
    .areas(main);

    draw_rooms(frame, app, rooms);
    draw_conversation(frame, app, conversation);
    if wide {
        draw_members(frame, app, members);
    }
    draw_typing(frame, app, typing);
    draw_input(frame, app, input);
    draw_status(frame, app, status);
}

fn draw_rooms(frame: &mut Frame, app: &App, area: Rect) {
    let items: Vec<ListItem> = app
        .rooms
        .iter()
        .map(|(name, view)| {
            let current = app.active.as_deref() == Some(name.as_str());
            let mut spans = vec![Span::raw(format!("#{name}"))];
            if view.unread > 0 {
                spans.push(Span::styled(
                    format!(" ({})", view.unread),
                    Style::new().fg(Color::Yellow).bold(),
                ));
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

fn message_line<'a>(message: &'a Message, me: &str) -> Line<'a> {
    let time = message.ts.with_timezone(&Local).format("%H:%M").to_string();
    let name_style = if message.user == me {
        Style::new().fg(Color::Green).bold()
    } else {
        Style::new().fg(Color::Cyan).bold()
    };
    let mut spans = vec![Span::styled(time, Style::new().dim()), Span::raw(" ")];
    spans.push(Span::styled(message.user.clone(), name_style));
    if message.assistant {
        spans.push(Span::styled(
            " [assistant]",
            Style::new().fg(Color::Magenta),
        ));
    }
    spans.push(Span::raw(": "));
    let mention = format!("@{}", me.to_lowercase());
    for (i, word) in message.text.split(' ').enumerate() {
        if i > 0 {
            spans.push(Span::raw(" "));
        }
        let lower = word.to_lowercase();
        if lower.starts_with(&mention) {
            spans.push(Span::styled(
                word.to_owned(),
                Style::new().fg(Color::Black).bg(Color::Yellow),
            ));
        } else if word.starts_with('@') && word.len() > 1 {
            spans.push(Span::styled(
                word.to_owned(),
                Style::new().fg(Color::Yellow),
            ));
        } else {
            spans.push(Span::raw(word.to_owned()));
        }
    }
    Line::from(spans)
}

fn draw_conversation(frame: &mut Frame, app: &App, area: Rect) {
    let title = match &app.active {
        Some(room) => format!(" #{room} "),
        None => " no room — /join ROOM ".to_owned(),
    };
    let note = |text: &str| Line::styled(format!("* {text}"), Style::new().dim().italic());
    let mut lines: Vec<Line> = Vec::new();
    match app.active_room() {
        Some(view) => {
            if view.more {
                lines.push(Line::styled(
                    "(PageUp for older messages)",
                    Style::new().dim(),
                ));
            }
            lines.extend(view.lines.iter().map(|line| match line {
                app::Line::Message(message) => message_line(message, &app.me),
                app::Line::Note(text) => note(text),
            }));
        }
        None => lines.extend(app.notes.iter().map(|text| note(text))),
    }
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    // Rows each line takes once wrapped, to keep the bottom in view.
    let width = usize::from(inner.width.max(1));
    let rows: usize = lines
        .iter()
        .map(|line| line.width().max(1).div_ceil(width))
        .sum();
    let height = usize::from(inner.height);
    let top = rows.saturating_sub(height).saturating_sub(app.scroll);
    let paragraph = Paragraph::new(lines)
        .block(block)
        .wrap(Wrap { trim: false })
        .scroll((u16::try_from(top).unwrap_or(u16::MAX), 0));
    frame.render_widget(paragraph, area);
}

fn draw_members(frame: &mut Frame, app: &App, area: Rect) {
    let items: Vec<ListItem> = app
        .active_room()
        .map(|view| {
            view.members
                .iter()
                .map(|name| {
                    let busy = matches!(app.statuses.get(name), Some((UserStatus::Busy, _)));
                    let dot = if busy {
                        Span::styled("● ", Style::new().fg(Color::Red))
                    } else {
                        Span::styled("● ", Style::new().fg(Color::Green))
                    };
                    ListItem::new(Line::from(vec![dot, Span::raw(name.clone())]))
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
