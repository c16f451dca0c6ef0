//! The sign-in menu of the full-screen client: "1) login  2) register" (arrow keys or the
//! digit), then username and password, the password typed without echo. After a
//! registration it goes on to log in.

use std::io::Write as _;

use anyhow::Context;
use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crossterm::style::Stylize as _;
use crossterm::{cursor, execute, terminal};

use crate::account::{Accounts, Session};

enum Choice {
    Login,
    Register,
}

/// Asks until a login succeeds; `Ok(None)` if the user gives up (Esc or Ctrl-C).
///
/// # Errors
/// Only terminal failures; server errors are shown and asked again.
pub fn sign_in(accounts: &Accounts, user: Option<&str>) -> anyhow::Result<Option<Session>> {
    let runtime = tokio::runtime::Handle::current();
    println!("{} — {}", "Sala".bold(), accounts.base());
    loop {
        let Some(choice) = choose()? else {
            return Ok(None);
        };
        let username = match user {
            Some(user) => user.to_owned(),
            None => match ask("username: ", true)? {
                Some(username) => username,
                None => return Ok(None),
            },
        };
        let Some(password) = ask("password: ", false)? else {
            return Ok(None);
        };
        let outcome = tokio::task::block_in_place(|| {
            runtime.block_on(async {
                if let Choice::Register = choice {
                    accounts.register(&username, &password).await?;
                    println!("{}", "account created; logging in…".green());
                }
                accounts.login(&username, &password).await
            })
        });
        match outcome {
            Ok(session) => return Ok(Some(session)),
            Err(err) => println!("{} {err:#}", "error:".red().bold()),
        }
    }
}

/// The two-item menu.
fn choose() -> anyhow::Result<Option<Choice>> {
    let mut selected = 0usize;
    let items = ["1) login", "2) register"];
    in_raw_mode(|| {
        let mut out = std::io::stdout();
        loop {
            let line = items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    if i == selected {
                        format!("{}", item.reverse())
                    } else {
                        (*item).to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("   ");
            execute!(
                out,
                cursor::MoveToColumn(0),
                terminal::Clear(terminal::ClearType::CurrentLine)
            )?;
            write!(out, "{line}   (←/→ or 1/2, Enter)")?;
            out.flush()?;
            let Event::Key(KeyEvent {
                code,
                modifiers,
                kind: KeyEventKind::Press,
                ..
            }) = event::read()?
            else {
                continue;
            };
            match code {
                KeyCode::Char('1') => return Ok(Some(Choice::Login)),
                KeyCode::Char('2') => return Ok(Some(Choice::Register)),
                KeyCode::Left | KeyCode::Up | KeyCode::Right | KeyCode::Down | KeyCode::Tab => {
                    selected = 1 - selected
                }
                KeyCode::Enter => {
                    return Ok(Some(if selected == 0 {
                        Choice::Login
                    } else {
                        Choice::Register
                    }));
                }
                KeyCode::Esc => return Ok(None),
                KeyCode::Char('c') if modifiers.contains(KeyModifiers::CONTROL) => return Ok(None),
                _ => {}
            }
        }
    })
}

/// One line of input; with `echo` off the characters are not shown (passwords).
fn ask(prompt: &str, echo: bool) -> anyhow::Result<Option<String>> {
    let mut out = std::io::stdout();
    write!(out, "{prompt}")?;
    out.flush()?;
    in_raw_mode(|| {
        let mut text = String::new();
        loop {
            let Event::Key(KeyEvent {
                code,
                modifiers,
                kind: KeyEventKind::Press,
                ..
            }) = event::read()?
            else {
                continue;
            };
            match code {
                KeyCode::Enter if !text.is_empty() => return Ok(Some(text)),
                KeyCode::Esc => return Ok(None),
                KeyCode::Char('c') if modifiers.contains(KeyModifiers::CONTROL) => return Ok(None),
                KeyCode::Backspace if !text.is_empty() => {
                    text.pop();
                    if echo {
                        write!(out, "\u{8} \u{8}")?;
                    }
                }
                KeyCode::Char(c) => {
                    text.push(c);
                    if echo {
                        write!(out, "{c}")?;
                    }
                }
                _ => {}
            }
            out.flush()?;
        }
    })
}

/// Runs `read` with the terminal in raw mode (keys one by one, no echo), then restores it
/// and ends the line, whatever `read` returned.
fn in_raw_mode<T>(read: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<T> {
    terminal::enable_raw_mode().context("the terminal refused raw mode")?;
    let result = read();
    terminal::disable_raw_mode().context("the terminal refused to leave raw mode")?;
    println!();
    result
}
